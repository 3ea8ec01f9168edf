//! Form bodies: `multipart/form-data` with files, and
//! `application/x-www-form-urlencoded`.

const BOUNDARY: &str = "homewardtestboundary7d1c";

/// A multipart body of text fields, then files as (part name, file name,
/// bytes); its `Content-Type` and bytes.
pub fn multipart<V: AsRef<str>>(
    fields: &[(&str, V)],
    files: &[(&str, &str, &[u8])],
) -> (String, Vec<u8>) {
    let mut b = Vec::new();
    for (k, v) in fields {
        let v = v.as_ref();
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (part, file, bytes) in files {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{part}\"; \
                 filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), b)
}

/// A multipart body of text fields and, if given, a photo (the part
/// `photo`, file `p.jpg`).
pub fn with_photo<V: AsRef<str>>(fields: &[(&str, V)], photo: Option<&[u8]>) -> (String, Vec<u8>) {
    match photo {
        Some(p) => multipart(fields, &[("photo", "p.jpg", p)]),
        None => multipart(fields, &[]),
    }
}

/// An url-encoded body of these fields, their values sent as they are.
pub fn urlencoded(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `application/x-www-form-urlencoded` value encoding.
pub fn form_encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
