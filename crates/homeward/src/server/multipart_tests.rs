//! The form reader (`multipart.rs`) answers malformed bodies exactly as
//! axum's `Multipart` extractor, which the handlers used before, did: the
//! same status and text for every parser refusal in the fuzz seed corpus,
//! but for the header block limit, which axum did not have. And that limit:
//! a part whose headers never end is refused after the limit and one chunk
//! of its body, in both readers and in the drain after a refusal, while
//! photo bytes, however chunked, are never counted against it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;

use super::api::multipart_body;
use super::error::ApiError;

/// The seed corpus's requests: (Content-Type, body).
fn seeds() -> Vec<(String, Vec<u8>, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/multipart");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("corpus") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("seed");
        let cut = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let ct = String::from_utf8_lossy(&bytes[..cut]).into_owned();
        let body = bytes.get(cut + 1..).unwrap_or_default().to_vec();
        out.push((ct, body, p.display().to_string()));
    }
    assert!(out.len() >= 10, "seeds in {}", dir.display());
    out
}

fn request(ct: &str, body: &[u8]) -> Request {
    Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", ct)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request")
}

/// Every part read to its end with axum's extractor; the first refusal as
/// the handlers sent it.
async fn with_axum(ct: &str, body: &[u8]) -> Result<usize, ApiError> {
    let mut mp = Multipart::from_request(request(ct, body), &())
        .await
        .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    let err = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, e.body_text())
    };
    let mut n = 0;
    while let Some(field) = mp.next_field().await.map_err(err)? {
        field.bytes().await.map_err(err)?;
        n += 1;
    }
    Ok(n)
}

/// The same with the parser the handlers now build and `FormError`.
async fn with_reader(ct: &str, body: &[u8]) -> Result<usize, ApiError> {
    let mut mp = multipart_body(request(ct, body), None)?;
    let err = |e| ApiError::from(super::multipart::FormError::from(e));
    let mut n = 0;
    while let Some(field) = mp.next_field().await.map_err(err)? {
        field.bytes().await.map_err(err)?;
        n += 1;
    }
    Ok(n)
}

#[tokio::test]
async fn parser_refusals_are_the_ones_axum_sent() {
    let (mut read, mut refused) = (0, 0);
    for (ct, body, name) in seeds() {
        if !ct.starts_with("multipart/form-data") {
            continue; // the handlers' 415, before any parsing
        }
        let before = with_axum(&ct, &body).await;
        let now = with_reader(&ct, &body).await;
        if name.ends_with("bad_endless_part_header") {
            // axum kept the endless headers to the body's end (400, an
            // incomplete stream); now they are refused at the limit.
            let want = ApiError::from(super::multipart::FormError::HeadersTooLong);
            assert_eq!(want.status, StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(now, Err(want), "{name}");
            let before = before.expect_err(&name);
            assert_eq!(before.status, StatusCode::BAD_REQUEST, "{name}: {before:?}");
            refused += 1;
            continue;
        }
        assert_eq!(now, before, "{name}");
        match now {
            Ok(_) => read += 1,
            Err(_) => refused += 1,
        }
    }
    // The corpus has both: parser refusals (no boundary, truncated, a bad
    // header line, no closing delimiter) and bodies that parse.
    assert!(read >= 10 && refused >= 4, "{read} read, {refused} refused");
}

#[tokio::test]
async fn a_body_over_the_limit_is_the_413_axum_sent() {
    let (ct, body) = (
        "multipart/form-data; boundary=b",
        b"--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n0123456789\r\n--b--\r\n",
    );
    let mut mp = multipart_body(request(ct, body), Some(40)).expect("parser");
    let got = super::multipart::read_upload(&mut mp, 4096)
        .await
        .map_err(ApiError::from);
    let want = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "Request payload is too large",
    );
    assert_eq!(got.err(), Some(want));
    // Within the limit the same body reads.
    let mut mp = multipart_body(request(ct, body), Some(body.len())).expect("parser");
    let up = super::multipart::read_upload(&mut mp, 4096)
        .await
        .expect("read");
    assert_eq!(up.photo.as_deref(), Some(&b"0123456789"[..]));
}

// ---------- the header block limit ----------

use super::multipart::{
    drain_form, parser, read_form, read_upload, FormError, FormLimits, PhotoSink, MAX_HEADER_BYTES,
};

/// The size of the chunks the source streams below deliver.
const CHUNK: usize = 4096;

/// A source stream of `body` in `chunk`-byte chunks (the first chunk
/// `first`, if given), counting the bytes pulled from it. As a connection
/// does, it has a chunk ready only every other poll, so the reader parses
/// what came before the next chunk arrives.
fn counted(first: Option<&[u8]>, body: &[u8], chunk: usize) -> (Trickle, Arc<AtomicUsize>) {
    let mut chunks: std::collections::VecDeque<bytes::Bytes> = first
        .map(bytes::Bytes::copy_from_slice)
        .into_iter()
        .collect();
    chunks.extend(body.chunks(chunk.max(1)).map(bytes::Bytes::copy_from_slice));
    let pulled = Arc::new(AtomicUsize::new(0));
    let stream = Trickle {
        chunks,
        ready: false,
        pulled: pulled.clone(),
    };
    (stream, pulled)
}

struct Trickle {
    chunks: std::collections::VecDeque<bytes::Bytes>,
    ready: bool,
    pulled: Arc<AtomicUsize>,
}

impl futures_util::Stream for Trickle {
    type Item = Result<bytes::Bytes, std::convert::Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.ready = !self.ready;
        if !self.ready {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let next = self.chunks.pop_front();
        if let Some(c) = &next {
            self.pulled.fetch_add(c.len(), Ordering::Relaxed);
        }
        std::task::Poll::Ready(next.map(Ok))
    }
}

/// An archive's photos in memory.
#[derive(Default)]
struct Photos(Vec<Vec<u8>>);

impl PhotoSink for Photos {
    type Error = FormError;
    fn start(&mut self, _file: &str) -> Result<(), FormError> {
        self.0.push(Vec::new());
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> Result<(), FormError> {
        if let Some(p) = self.0.last_mut() {
            p.extend_from_slice(chunk);
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), FormError> {
        Ok(())
    }
}

const LIMITS: FormLimits = FormLimits {
    max_file: 8 << 20,
    max_total: 64 << 20,
    max_items: 10,
    max_text: 4096,
    max_manifest: 4096,
};

/// A photo part (its header block and content, no delimiter after it).
fn photo_part(name: &str, content: &[u8]) -> Vec<u8> {
    let mut p = format!(
        "--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    p.extend_from_slice(content);
    p.extend_from_slice(b"\r\n");
    p
}

/// A part's boundary line and header lines that never end (1 MiB of
/// `X-Pad` lines, no blank line).
fn endless_headers() -> Vec<u8> {
    let mut p =
        b"--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n".to_vec();
    let line = format!("X-Pad: {}\r\n", "a".repeat(90));
    while p.len() < 1 << 20 {
        p.extend_from_slice(line.as_bytes());
    }
    p
}

#[tokio::test]
async fn endless_part_headers_are_refused_after_the_limit_and_one_chunk() {
    let endless = endless_headers();
    // What comes before the endless part: nothing, a text field, an
    // unknown field the archive reader reads and drops, a photo; and a
    // body without any boundary (its preamble never ends).
    let mut note =
        b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".to_vec();
    note.extend_from_slice(&endless);
    let mut photo = photo_part("a.jpg", &[0xff; 10_000]);
    photo.extend_from_slice(&endless);
    // (what, the source's first chunk if apart, the rest of the body)
    type Case<'a> = (&'a str, Option<&'a [u8]>, Vec<u8>);
    let cases: [Case; 4] = [
        (
            "boundary then headers",
            Some(b"--b\r\n"),
            endless[5..].to_vec(),
        ),
        ("after a field", None, note),
        ("after a photo", None, photo),
        ("no boundary", None, vec![b'x'; 1 << 20]),
    ];
    for (what, first, body) in cases {
        let most = first.map_or(0, <[u8]>::len) + body.len() - endless.len().min(body.len());
        // Before the endless part, the bytes of the parts before it; then
        // at most the limit and the chunk that goes over it.
        let bound = most + MAX_HEADER_BYTES + CHUNK;

        let (src, pulled) = counted(first, &body, CHUNK);
        let mut mp = parser(src, "b", Some(8 << 20));
        let got = read_upload(&mut mp, 4096).await;
        assert!(
            matches!(got, Err(FormError::HeadersTooLong)),
            "{what}: {got:?}"
        );
        let n = pulled.load(Ordering::Relaxed);
        assert!(n <= bound, "{what}: the photo form pulled {n} bytes");

        let (src, pulled) = counted(first, &body, CHUNK);
        let mut mp = parser(src, "b", None);
        let got = read_form(&mut mp, &mut Photos::default(), &LIMITS).await;
        let e = got.expect_err(what);
        assert!(matches!(e, FormError::HeadersTooLong), "{what}: {e:?}");
        assert_eq!(e.status(), 413);
        assert_eq!(e.code(), "too_large");
        assert!(e.to_string().contains("16384 bytes"), "{e}");
        // The drain after the refusal reads no further.
        drain_form(&mut mp, usize::MAX).await;
        let n = pulled.load(Ordering::Relaxed);
        assert!(n <= bound, "{what}: the archive form pulled {n} bytes");
    }
}

#[tokio::test]
async fn the_drain_after_another_refusal_stops_at_endless_headers() {
    // A photo refused by its name; the drain that follows meets a part
    // whose headers never end.
    let mut body = photo_part("../a.jpg", b"jpeg");
    let before = body.len();
    body.extend_from_slice(&endless_headers());
    let (src, pulled) = counted(None, &body, CHUNK);
    let mut mp = parser(src, "b", None);
    let got = read_form(&mut mp, &mut Photos::default(), &LIMITS).await;
    assert!(matches!(got, Err(FormError::ItemName { .. })), "{got:?}");
    drain_form(&mut mp, usize::MAX).await;
    let n = pulled.load(Ordering::Relaxed);
    assert!(
        n <= before + MAX_HEADER_BYTES + CHUNK,
        "the drain pulled {n} bytes"
    );
}

/// A photo form whose one header block is `len` bytes (from after `--b`
/// to the end of its blank line), and a second, ordinary part.
fn form_with_header_block(len: usize) -> Vec<u8> {
    let start = "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nX-Pad: ";
    let pad = len - start.len() - "\r\n\r\n".len();
    let mut b = format!("--b{start}{}\r\n\r\n", "p".repeat(pad)).into_bytes();
    assert_eq!(b.len(), 3 + len);
    b.extend_from_slice(b"jpeg\r\n");
    b.extend_from_slice(&photo_part("b.jpg", b"jpeg2")[..]);
    b.extend_from_slice(b"--b--\r\n");
    b
}

#[tokio::test]
async fn a_header_block_of_the_limit_reads_and_one_byte_more_is_refused() {
    for chunk in [1, 7, CHUNK, 1 << 20] {
        let body = form_with_header_block(MAX_HEADER_BYTES);
        let (src, _) = counted(None, &body, chunk);
        let mut photos = Photos::default();
        let form = read_form(&mut parser(src, "b", None), &mut photos, &LIMITS)
            .await
            .expect("a header block of the limit");
        assert_eq!(form.photos.len(), 2, "chunks of {chunk}");
        assert_eq!(photos.0, [b"jpeg".to_vec(), b"jpeg2".to_vec()]);
        let (src, _) = counted(None, &body, chunk);
        let up = read_upload(&mut parser(src, "b", Some(1 << 20)), 4096).await;
        assert_eq!(up.expect("upload").photo.as_deref(), Some(&b"jpeg2"[..]));

        let body = form_with_header_block(MAX_HEADER_BYTES + 1);
        let (src, _) = counted(None, &body, chunk);
        let got = read_form(&mut parser(src, "b", None), &mut Photos::default(), &LIMITS).await;
        assert!(matches!(got, Err(FormError::HeadersTooLong)), "{got:?}");
        let (src, _) = counted(None, &body, chunk);
        let got = read_upload(&mut parser(src, "b", Some(1 << 20)), 4096).await;
        assert!(matches!(got, Err(FormError::HeadersTooLong)), "{got:?}");
    }
}

#[tokio::test]
async fn photo_bytes_are_never_counted_however_chunked() {
    // 3 MiB of photo bytes with near-delimiters and blank lines in them,
    // read in one chunk (headers, photo and the next part's headers
    // arrive together) and in chunks of many sizes.
    let mut content = Vec::with_capacity(3 << 20);
    let mut x = 0x2545_f491_u32;
    while content.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        match x % 5000 {
            0 => content.extend_from_slice(b"\r\n--a"),
            1 => content.extend_from_slice(b"\r\n\r\n--x"),
            2 => content.extend_from_slice(b"\r\r\n-\r\n--c"),
            _ => content.push((x >> 8) as u8),
        }
    }
    let mut body = b"preamble text\r\n".to_vec();
    body.extend_from_slice(&photo_part("a.jpg", &content));
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nSpring\r\n",
    );
    body.extend_from_slice(&photo_part("b.jpg", &content[..100_000]));
    body.extend_from_slice(b"--b--\r\nepilogue");
    for chunk in [body.len(), 1 << 20, 65_536, 4099, 13] {
        let (src, _) = counted(None, &body, chunk);
        let mut photos = Photos::default();
        let form = read_form(&mut parser(src, "b", None), &mut photos, &LIMITS)
            .await
            .unwrap_or_else(|e| panic!("chunks of {chunk}: {e}"));
        assert_eq!(form.name.as_deref(), Some("Spring"));
        assert_eq!(photos.0.len(), 2);
        assert!(
            photos.0[0] == content,
            "chunks of {chunk}: the photo differs"
        );
        assert!(photos.0[1] == content[..100_000]);

        let (src, _) = counted(None, &body, chunk);
        let up = read_upload(&mut parser(src, "b", Some(8 << 20)), 4096)
            .await
            .unwrap_or_else(|e| panic!("chunks of {chunk}: {e}"));
        assert_eq!(up.text("name"), Some("Spring"));
        assert!(up.photo.as_deref() == Some(&content[..100_000]));
    }
}

#[tokio::test]
async fn the_drain_after_a_refused_upload_reads_the_rest_of_the_form() {
    // 65 text parts (one over the limit), then a photo of 1 MiB: the
    // refusal comes at the 65th part, and the drain reads on to the end.
    let mut body = Vec::new();
    for _ in 0..=super::multipart::MAX_UPLOAD_PARTS {
        body.extend_from_slice(
            b"--b\r\nContent-Disposition: form-data; name=\"place\"\r\n\r\nx\r\n",
        );
    }
    body.extend_from_slice(&photo_part("a.jpg", &vec![0x5a; 1 << 20]));
    body.extend_from_slice(b"--b--\r\n");
    let (src, pulled) = counted(None, &body, CHUNK);
    let mut mp = parser(src, "b", Some(8 << 20));
    let got = read_upload(&mut mp, 4096).await;
    assert!(
        matches!(got, Err(FormError::TooManyParts { .. })),
        "{got:?}"
    );
    assert!(pulled.load(Ordering::Relaxed) < body.len());
    drain_form(&mut mp, usize::MAX).await;
    assert_eq!(pulled.load(Ordering::Relaxed), body.len());
}
