//! The `multipart` target's run and checks, shared by the fuzz target and
//! its corpus replay (`crates/homeward/tests/fuzz_corpus.rs`). Both include
//! the server's form reader (`crates/homeward/src/server/multipart.rs`) as
//! the sibling module `multipart`.
//!
//! An input is a request: its first line is the Content-Type header (as the
//! server reads it), the rest is the body. A body of a `multipart/form-data`
//! type with a boundary is read by both readers, with small limits: as a
//! photo upload (`read_upload`, the whole body within [`BODY_LIMIT`], then
//! `take_photo`, or `drain_form` after a refusal) and as an archive form (`read_form` into memory, then
//! `drain_form` after a refusal). Each reader runs twice, on the body in
//! one chunk and in small chunks, as a connection may deliver it.
//!
//! Checks: nothing panics or stalls; every refusal is a typed error sent as
//! 400, 413 or 422 with its code and a message; what is accepted is within
//! the limits (photo, total, count, text fields, item names, part count
//! and part name length) and holds no more parts than the body has
//! boundary delimiters; a header block is refused as over
//! `MAX_HEADER_BYTES` only in a body longer than that; and the answer does
//! not depend on how the body was cut into chunks.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::multipart::{
    boundary, check_item, drain_form, read_form, read_upload, Form, FormError, FormLimits,
    PhotoSink, Upload, MAX_ARCHIVE_TEXT_PARTS, MAX_HEADER_BYTES, MAX_ITEM_BYTES, MAX_NAME_BYTES,
    MAX_UPLOAD_PARTS,
};

/// The photo upload's whole-body limit, bytes (the server's is
/// `--max-bytes` + 256 KiB).
pub const BODY_LIMIT: usize = 2048;
/// The photo upload's text field limit, bytes (the server's is 4096).
pub const MAX_FIELD: usize = 64;
/// The archive form's limits (the server's: `--max-bytes`, 1 GiB, 1000
/// photos, 4096 and 4 MiB).
pub const LIMITS: FormLimits = FormLimits {
    max_file: 300,
    max_total: 600,
    max_items: 4,
    max_text: 64,
    max_manifest: 256,
};
/// At most this much of a refused archive form is drained.
const DRAIN: usize = 1024;

/// What one input came to.
#[derive(Debug)]
pub enum Outcome {
    /// The Content-Type is not `multipart/form-data` (the server's 415,
    /// before any reading).
    NotMultipart,
    /// Read by both readers (the whole-body runs).
    Read {
        upload: Result<Upload, FormError>,
        form: Result<(Form, Vec<Vec<u8>>), FormError>,
    },
}

/// Runs both readers on `data` and checks what they return.
pub fn run(data: &[u8]) -> Outcome {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    // `HeaderValue::to_str`: visible ASCII, space and tab, else unreadable.
    let ct = std::str::from_utf8(head)
        .ok()
        .filter(|s| s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .unwrap_or("");
    if !ct.starts_with("multipart/form-data") {
        return Outcome::NotMultipart;
    }
    let boundary = match boundary(ct) {
        Ok(b) => b,
        Err(e) => {
            check_error(&e);
            return Outcome::Read {
                upload: Err(e),
                form: Err(FormError::Boundary),
            };
        }
    };
    let delimiters = count(body, format!("--{boundary}").as_bytes());
    // Chunk sizes for the second run, chosen by the input's length.
    let step = [1usize, 2, 3, 5, 8, 13, 64][data.len() % 7];

    let upload = as_upload(body, &boundary, None);
    let pieces = as_upload(body, &boundary, Some(step));
    if body.len() <= BODY_LIMIT {
        // Over the limit, where the cut falls decides which refusal comes
        // first; within it, the answer is the body's.
        same_upload(&upload, &pieces);
    }
    if let Ok(up) = &upload {
        check_upload(up, body, delimiters);
    }

    let form = as_form(body, &boundary, None);
    let pieces = as_form(body, &boundary, Some(step));
    same_form(&form, &pieces);
    if let Ok((f, photos)) = &form {
        check_form(f, photos, delimiters);
    }
    // A header block can be over its limit only in a body longer than it.
    for refused in [upload.as_ref().err(), form.as_ref().err()] {
        if let Some(FormError::HeadersTooLong) = refused {
            assert!(body.len() > MAX_HEADER_BYTES, "{} bytes", body.len());
        }
    }
    Outcome::Read { upload, form }
}

/// Reads `body` as a photo upload (then takes its photo), in one chunk or
/// in chunks of `step` bytes.
fn as_upload(body: &[u8], boundary: &str, step: Option<usize>) -> Result<Upload, FormError> {
    let mut mp = parser(body, boundary, Some(BODY_LIMIT as u64), step);
    let read = block_on(read_upload(&mut mp, MAX_FIELD));
    match read {
        Ok(mut up) => {
            let photo = up.photo.clone();
            match up.take_photo() {
                Ok(p) => assert_eq!(Some(&p), photo.as_ref()),
                Err(e) => {
                    assert!(matches!(e, FormError::NoPhoto), "{e:?}");
                    assert!(photo.as_ref().is_none_or(|p| p.is_empty()));
                    check_error(&e);
                }
            }
            up.photo = photo;
            Ok(up)
        }
        Err(e) => {
            check_error(&e);
            // The server drains a refused upload within its body limit.
            block_on(drain_form(&mut mp, BODY_LIMIT));
            Err(e)
        }
    }
}

/// Reads `body` as an archive form into memory, as [`as_upload`] does.
fn as_form(
    body: &[u8],
    boundary: &str,
    step: Option<usize>,
) -> Result<(Form, Vec<Vec<u8>>), FormError> {
    // The archive route has no body limit: the form's own limits apply.
    let mut mp = parser(body, boundary, None, step);
    let mut sink = Memory::default();
    let read = block_on(read_form(&mut mp, &mut sink, &LIMITS));
    match read {
        Ok(form) => {
            assert!(sink.open.is_none(), "a photo left unfinished");
            Ok((form, sink.photos))
        }
        Err(e) => {
            check_error(&e);
            block_on(drain_form(&mut mp, DRAIN));
            Err(e)
        }
    }
}

fn parser(
    body: &[u8],
    boundary: &str,
    limit: Option<u64>,
    step: Option<usize>,
) -> multer::Multipart<'static> {
    let step = step.unwrap_or(body.len()).max(1);
    let chunks: Vec<bytes::Bytes> = body
        .chunks(step)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    super::multipart::parser(stream, boundary, limit)
}

/// A refusal is typed, sent as 400, 413 or 422 with the code of its
/// status, and says something.
fn check_error(e: &FormError) {
    let status = e.status();
    let code = match status {
        400 => "bad_request",
        413 => "too_large",
        422 => "unprocessable",
        _ => panic!("status {status} for {e:?}"),
    };
    assert_eq!(e.code(), code, "{e:?}");
    assert!(!e.to_string().trim().is_empty(), "{e:?}");
}

fn check_upload(up: &Upload, body: &[u8], delimiters: usize) {
    let parts = up.fields.len() + usize::from(up.photo.is_some());
    assert!(
        parts < delimiters.max(1),
        "{parts} parts, {delimiters} delimiters"
    );
    assert!(parts <= MAX_UPLOAD_PARTS, "{parts} parts kept");
    if let Some(p) = &up.photo {
        assert!(
            p.len() <= body.len() && p.len() <= BODY_LIMIT,
            "photo of {}",
            p.len()
        );
    }
    for (name, text) in &up.fields {
        assert_ne!(name, "photo");
        assert!(name.len() <= MAX_NAME_BYTES, "a name of {}", name.len());
        assert!(text.len() <= MAX_FIELD, "field {name:?} of {}", text.len());
    }
}

fn check_form(form: &Form, photos: &[Vec<u8>], delimiters: usize) {
    let kept = photos.len();
    assert_eq!(kept, form.photos.len(), "every kept photo finished");
    assert!(kept <= LIMITS.max_items);
    assert!(kept + usize::from(form.name.is_some()) <= LIMITS.max_items + MAX_ARCHIVE_TEXT_PARTS);
    assert!(
        kept < delimiters.max(1),
        "{kept} photos, {delimiters} delimiters"
    );
    let mut total = 0u64;
    for (i, ((item, file), bytes)) in form.photos.iter().zip(photos).enumerate() {
        assert_eq!(file, &i.to_string());
        assert!(
            item.len() <= MAX_ITEM_BYTES && check_item(item).is_ok(),
            "{item:?}"
        );
        assert!(!bytes.is_empty() && bytes.len() as u64 <= LIMITS.max_file);
        total += bytes.len() as u64;
    }
    assert!(total <= LIMITS.max_total, "{total} bytes of photos");
    for t in [&form.name, &form.csrf].into_iter().flatten() {
        assert!(t.len() <= LIMITS.max_text);
    }
    if let Some(m) = &form.manifest {
        assert!(m.len() <= LIMITS.max_manifest);
    }
}

fn same_upload(a: &Result<Upload, FormError>, b: &Result<Upload, FormError>) {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.photo, b.photo, "photo differs by chunking");
            assert_eq!(a.fields, b.fields, "fields differ by chunking");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "refusal differs by chunking"),
        (a, b) => panic!("chunking changed the answer: {a:?} / {b:?}"),
    }
}

type Read = Result<(Form, Vec<Vec<u8>>), FormError>;

fn same_form(a: &Read, b: &Read) {
    match (a, b) {
        (Ok((a, pa)), Ok((b, pb))) => {
            assert_eq!(
                (&a.name, &a.manifest, &a.csrf, &a.photos, pa),
                (&b.name, &b.manifest, &b.csrf, &b.photos, pb),
                "form differs by chunking"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "refusal differs by chunking"),
        (a, b) => panic!("chunking changed the answer: {a:?} / {b:?}"),
    }
}

/// Non-overlapping occurrences of `needle` in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i + needle.len() <= hay.len() {
        if hay[i..].starts_with(needle) {
            n += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    n
}

/// The archive's photos in memory, checked to be written in order.
#[derive(Default)]
struct Memory {
    photos: Vec<Vec<u8>>,
    open: Option<Vec<u8>>,
}

impl PhotoSink for Memory {
    type Error = FormError;
    fn start(&mut self, file: &str) -> Result<(), FormError> {
        assert_eq!(file, self.photos.len().to_string(), "photo files in order");
        self.open = Some(Vec::new());
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> Result<(), FormError> {
        let open = self.open.as_mut().expect("a write after start");
        open.extend_from_slice(chunk);
        assert!(
            open.len() as u64 <= LIMITS.max_file,
            "written past the file limit"
        );
        Ok(())
    }
    fn finish(&mut self) -> Result<(), FormError> {
        let done = self.open.take().expect("finish after start");
        self.photos.push(done);
        Ok(())
    }
}

/// Runs a future whose body is all in memory: it never waits, so a
/// `Pending` that does not resolve within many polls is a stall.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the reader stalled on an in-memory body");
}
