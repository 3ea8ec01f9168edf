//! The soak's hostile requests: every finding of the hostile-input review
//! (issue 13), sent again and again beside the ordinary load. Each has the
//! answers the server is meant to give; anything else is an error.

use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One kind of hostile request, built once and sent repeatedly.
pub struct Hostile {
    /// Short name for the report.
    pub kind: &'static str,
    pub path: &'static str,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Whether it carries the volunteer's token (uploads) or none (sign-in).
    pub signed_in: bool,
    /// The answers that mean the server held: anything else is an error.
    pub intended: &'static [u16],
}

/// A grey PNG of `w`×`h` pixels, all one shade: tiny on disk, large decoded.
fn flat_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([0u8]));
    let mut out = Cursor::new(Vec::new());
    if let Err(e) = img.write_to(&mut out, image::ImageFormat::Png) {
        eprintln!("load: cannot build a {w}x{h} PNG: {e}");
        std::process::exit(2);
    }
    out.into_inner()
}

/// The hostile requests. `multipart` builds an upload body around a photo.
pub fn requests(multipart: impl Fn(&[(&str, &str)], &[u8]) -> (String, Vec<u8>)) -> Vec<Hostile> {
    let upload = |kind, photo: Vec<u8>, intended| {
        let (content_type, body) = multipart(&[("place", "soak")], &photo);
        Hostile {
            kind,
            path: "/api/sightings",
            content_type,
            body,
            signed_in: true,
            intended,
        }
    };
    // Refused from the header: a side under 32 px or longer than 20:1.
    const REFUSED: &[u16] = &[413, 422];
    let mut out = vec![
        upload("h-wide", flat_png(3_000_000, 1), REFUSED),
        upload("h-strip", flat_png(1_000_000, 4), REFUSED),
        // Fits the pixel limits: analysed when admitted, 503 when the queue is
        // full, 413 when a budget this small can never hold it.
        upload("h-black", flat_png(7000, 7000), &[200, 201, 413, 503]),
    ];
    // A 30 MB user name: refused by the sign-in body limit before parsing.
    let name = "n".repeat(30 << 20);
    out.push(Hostile {
        kind: "h-bigname",
        path: "/api/session",
        content_type: "application/json".into(),
        body: format!("{{\"username\":\"{name}\",\"password\":\"x\"}}").into_bytes(),
        signed_in: false,
        intended: &[413],
    });
    // Password spraying: wrong passwords over changing names (the body is
    // rewritten per send, see `spray_body`).
    out.push(Hostile {
        kind: "h-spray",
        path: "/api/session",
        content_type: "application/json".into(),
        body: Vec::new(),
        signed_in: false,
        intended: &[401, 429],
    });
    // Not multipart, and a multipart body cut short.
    out.push(Hostile {
        kind: "h-notform",
        path: "/api/sightings",
        content_type: "application/json".into(),
        body: b"{\"photo\":\"no\"}".to_vec(),
        signed_in: true,
        intended: &[415],
    });
    let (content_type, mut body) = multipart(&[("place", "soak")], b"not a photo");
    body.truncate(body.len() / 2);
    out.push(Hostile {
        kind: "h-cut",
        path: "/api/sightings",
        content_type,
        body,
        signed_in: true,
        intended: &[400],
    });
    // A million empty parts (14 MB, within the body limit): refused at the
    // 65th part, not read to the end.
    let mut body = Vec::with_capacity(14_000_010);
    for _ in 0..1_000_000 {
        body.extend_from_slice(b"--b\r\na:b\r\n\r\n\r\n");
    }
    body.extend_from_slice(b"--b--\r\n");
    out.push(Hostile {
        kind: "h-parts",
        path: "/api/sightings",
        content_type: "multipart/form-data; boundary=b".into(),
        body,
        signed_in: true,
        intended: &[413],
    });
    out
}

/// A spraying attempt's body: user `n` of many, always the wrong password.
pub fn spray_body(n: u64) -> Vec<u8> {
    format!(
        "{{\"username\":\"spray{}\",\"password\":\"wrong\"}}",
        n % 50
    )
    .into_bytes()
}

/// The server's resident memory now and at its peak, MiB, from /proc.
pub fn rss_mib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Posts `body` over a plain connection and returns the answer's status
/// (0 when none came). The body is written from another thread, so an
/// answer sent before the body ends (a 413 after the first bytes) is still
/// read, as a browser would, instead of failing on the closed socket.
pub fn post_status(
    base: &str,
    path: &str,
    content_type: &str,
    token: Option<&str>,
    body: &[u8],
) -> u16 {
    let Some(addr) = base.strip_prefix("http://") else {
        return 0;
    };
    let Ok(stream) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let Ok(mut writer) = stream.try_clone() else {
        return 0;
    };
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut status = 0;
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    // Skip interim answers (100 Continue) to the final status line.
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        let code = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(c) if c >= 200 => {
                status = c;
                break;
            }
            _ => line.clear(),
        }
    }
    drop(reader);
    let _ = sender.join();
    status
}
