//! Reading multipart/form-data bodies into the upload forms, with their
//! limits and refusals: a photo upload (`Upload`: the `photo` file and
//! text fields) and an archive upload (`Form`: name, manifest, CSRF token
//! and photos streamed to a [`PhotoSink`]).
//!
//! This module depends only on `multer` (the parser axum's `Multipart` is
//! built on), `thiserror`, `bytes` and `futures-util` (the stream trait),
//! never on the rest of the server, so the
//! `multipart` fuzz target and its corpus replay
//! (`crates/homeward/tests/fuzz_corpus.rs`) include this very file by
//! `#[path]` (`docs/fuzzing.md`). The handlers (`api.rs`, `archive.rs`)
//! build the [`multer::Multipart`] with [`parser`] from the request's body
//! and turn a [`FormError`] into the API error with the same status and
//! message.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::Stream;

/// Longest text field accepted in a photo upload form, bytes.
pub const MAX_FIELD_BYTES: usize = 4096;
/// Longest item name (a photo's file name or manifest path), bytes.
pub const MAX_ITEM_BYTES: usize = 255;
/// Longest part (field) name, bytes. The forms' longest is 14
/// (`share_location`, `missing_place`): four times that leaves room for
/// new fields, and a name is never kept or echoed beyond it.
pub const MAX_NAME_BYTES: usize = 64;
/// Most parts in a photo upload form. The largest one the pages send, the
/// sighting form, has 11 (the camera and the gallery `photo` inputs, the
/// CSRF token and eight text fields), and the API's photo routes read
/// fewer than 20 named fields: 64 leaves room for more. Without a count only the body limit bounds the parts, and a
/// body of a million empty parts costs a parse and a map entry each.
pub const MAX_UPLOAD_PARTS: usize = 64;
/// Parts an archive form may hold beside its photos (so at most
/// `max_items` + this many in all). The archive page sends three, `name`,
/// `manifest` and `csrf`; the rest is room for a client's extra fields,
/// which are read and dropped. The archive route has no body limit, so
/// without a count a form of empty parts would be read for as long as it
/// is sent.
pub const MAX_ARCHIVE_TEXT_PARTS: usize = 32;
/// Most bytes a form may send while the reader waits for a part's
/// content: a part's header block (from its boundary to the blank line
/// that ends it) and what precedes the first boundary. multer keeps all of
/// them in memory and searches them again on every chunk, with no limit of
/// its own, so without this a part whose headers never end costs memory
/// for as long as it is sent (an archive form, which has no body limit).
/// The forms' real part headers are under 300 bytes (a Content-Disposition
/// with a 255-byte file name and a Content-Type): 16 KiB is fifty times
/// that.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A refused form. Each says what to do; [`FormError::status`] is the
/// HTTP status it is sent with.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The Content-Type has no usable `boundary` (the text axum's
    /// `Multipart` extractor sent).
    #[error("Invalid `boundary` for `multipart/form-data` request")]
    Boundary,
    /// The body is not well-formed multipart, or is over the body limit
    /// (the texts and statuses axum's `MultipartError` sent).
    #[error("{}", multer_text(.0))]
    Multipart(#[source] multer::Error),
    /// A photo upload without a (non-empty) `photo` part.
    #[error("no photo: send the image file in the multipart field `photo`")]
    NoPhoto,
    /// A known text field over its limit.
    #[error("field `{field}` is over {limit} bytes; shorten it")]
    FieldTooLong { field: String, limit: usize },
    /// An archive form's unknown field over the text limit.
    #[error(
        "field `{field}` is over {limit} bytes; this form takes `name`, `photo` and `manifest`"
    )]
    UnknownFieldTooLong { field: String, limit: usize },
    /// A text field that is not UTF-8.
    #[error("field `{field}` is not UTF-8 text")]
    NotText { field: String },
    /// An archive photo part without a file name.
    #[error("a `photo` part has no file name; send each photo as a file part")]
    NoFileName,
    /// An archive photo whose file name is not a plain relative path.
    #[error(
        "photo file name {why}; send each photo with its file name (a relative path of at \
         most {MAX_ITEM_BYTES} bytes)"
    )]
    ItemName { why: &'static str },
    /// More archive photos than one upload takes.
    #[error(
        "more than {max} photos in one upload; send the archive in parts under the same batch name"
    )]
    TooManyPhotos { max: usize },
    /// An archive photo over the server's file limit.
    #[error("photo `{item}` is over this server's limit of {max} bytes; send a smaller copy")]
    PhotoTooLarge { item: String, max: u64 },
    /// An archive upload whose photos together are over the limit.
    #[error(
        "the upload is over {} MiB; send the archive in parts under the same batch name",
        .max >> 20
    )]
    UploadTooLarge { max: u64 },
    /// An archive photo part with no bytes.
    #[error("photo `{item}` is empty; choose the file again")]
    EmptyPhoto { item: String },
    /// More parts than the form takes.
    #[error("the form has more than {max} parts; {hint}")]
    TooManyParts { max: usize, hint: &'static str },
    /// A part name over [`MAX_NAME_BYTES`] (the name is not echoed).
    #[error(
        "a field name is over {MAX_NAME_BYTES} bytes; send the form's fields by their own names"
    )]
    NameTooLong,
    /// A part's header block (or what precedes the first boundary) over
    /// [`MAX_HEADER_BYTES`] without the blank line that ends it.
    #[error(
        "a part's headers are over {MAX_HEADER_BYTES} bytes without the blank line that ends \
         them; send each part as a boundary line, its Content-Disposition header, a blank line \
         and its content"
    )]
    HeadersTooLong,
}

impl From<multer::Error> for FormError {
    /// A parser error; the header block limit ([`parser`]'s stream)
    /// reaches multer as a failed read and comes back as its own refusal.
    fn from(e: multer::Error) -> Self {
        if is_header_limit(&e) {
            FormError::HeadersTooLong
        } else {
            FormError::Multipart(e)
        }
    }
}

impl FormError {
    /// The HTTP status: 400, 413 or 422 (500 only for a body that could
    /// not be read from the connection, as before).
    pub fn status(&self) -> u16 {
        match self {
            FormError::Multipart(e) => multer_status(e),
            FormError::Boundary
            | FormError::NoPhoto
            | FormError::NotText { .. }
            | FormError::NoFileName => 400,
            FormError::FieldTooLong { .. }
            | FormError::UnknownFieldTooLong { .. }
            | FormError::TooManyPhotos { .. }
            | FormError::PhotoTooLarge { .. }
            | FormError::UploadTooLarge { .. }
            | FormError::TooManyParts { .. }
            | FormError::NameTooLong
            | FormError::HeadersTooLong => 413,
            FormError::ItemName { .. } | FormError::EmptyPhoto { .. } => 422,
        }
    }

    /// The API's stable error code for it.
    pub fn code(&self) -> &'static str {
        match self.status() {
            413 => "too_large",
            422 => "unprocessable",
            _ => "bad_request",
        }
    }
}

/// The status axum's `MultipartError` gave a parser error (413 for the
/// header block limit, which axum did not have).
fn multer_status(e: &multer::Error) -> u16 {
    use multer::Error as E;
    if is_header_limit(e) {
        return 413;
    }
    match e {
        E::UnknownField { .. }
        | E::IncompleteFieldData { .. }
        | E::IncompleteHeaders
        | E::ReadHeaderFailed(..)
        | E::DecodeHeaderName { .. }
        | E::DecodeContentType(..)
        | E::NoBoundary
        | E::DecodeHeaderValue { .. }
        | E::NoMultipart
        | E::IncompleteStream => 400,
        E::FieldSizeExceeded { .. } | E::StreamSizeExceeded { .. } => 413,
        E::StreamReadFailed(inner) => inner
            .downcast_ref::<multer::Error>()
            .map_or(500, multer_status),
        _ => 500,
    }
}

/// The text axum's `MultipartError` sent for a parser error.
fn multer_text(e: &multer::Error) -> String {
    if multer_status(e) == 413 {
        "Request payload is too large".to_owned()
    } else {
        e.to_string()
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    multer::parse_boundary(content_type).map_err(|_| FormError::Boundary)
}

/// The parser's limits: the whole body within `body_limit` bytes, if any
/// (over it: 413 "Request payload is too large").
pub fn constraints(body_limit: Option<u64>) -> multer::Constraints {
    let size = multer::SizeLimit::new();
    multer::Constraints::new().size_limit(match body_limit {
        Some(max) => size.whole_stream(max),
        None => size,
    })
}

/// The parser the readers take: multer over `body`, the whole body within
/// `body_limit` bytes if any, and every part's header block (and what
/// precedes the first boundary) within [`MAX_HEADER_BYTES`] ([`Guarded`]).
pub fn parser<'r, S, O, E>(
    body: S,
    boundary: impl Into<String>,
    body_limit: Option<u64>,
) -> multer::Multipart<'r>
where
    S: Stream<Item = Result<O, E>> + Send + 'r,
    O: Into<Bytes>,
    E: Into<BoxError>,
{
    let boundary = boundary.into();
    let body = Guarded::new(body, &boundary);
    multer::Multipart::with_constraints(body, boundary, constraints(body_limit))
}

fn parse_err(e: multer::Error) -> FormError {
    FormError::from(e)
}

/// A body stream's failure, as multer takes it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The failed read [`Guarded`] hands multer when a header block is over
/// [`MAX_HEADER_BYTES`]; [`FormError::from`] makes it
/// [`FormError::HeadersTooLong`].
#[derive(Debug, thiserror::Error)]
#[error("a part's headers are over {MAX_HEADER_BYTES} bytes")]
struct HeaderLimit;

/// Whether multer stopped on [`Guarded`]'s header block limit.
fn is_header_limit(e: &multer::Error) -> bool {
    matches!(e, multer::Error::StreamReadFailed(inner) if inner.is::<HeaderLimit>())
}

/// A form's body on its way to multer, with the bytes that may arrive
/// while multer waits for a part's content bounded.
///
/// multer (3.1) buffers a part's header block until it finds the blank
/// line (`\r\n\r\n`) that ends it, and what precedes the first boundary
/// until it finds that boundary, with no limit, searching the whole buffer
/// again on every chunk. [`Scan`] follows the body as multer parses it,
/// byte by byte and whatever the chunks, and counts those bytes; the chunk
/// that takes a count over [`MAX_HEADER_BYTES`] is not handed on: multer
/// gets a failed read instead (and again on every later poll), so at most
/// the limit plus one chunk is read. It does not depend on how the reader
/// uses the fields (read, dropped half-read or skipped), only on the bytes.
pub struct Guarded<S> {
    body: Pin<Box<S>>,
    scan: Scan,
    refused: bool,
}

impl<S> Guarded<S> {
    /// Guards `body`, a form with this boundary.
    pub fn new(body: S, boundary: &str) -> Self {
        Guarded {
            body: Box::pin(body),
            scan: Scan::new(boundary),
            refused: false,
        }
    }
}

impl<S, O, E> Stream for Guarded<S>
where
    S: Stream<Item = Result<O, E>>,
    O: Into<Bytes>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.refused {
            return Poll::Ready(Some(Err(Box::new(HeaderLimit))));
        }
        match this.body.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let chunk: Bytes = chunk.into();
                if this.scan.feed(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    this.refused = true;
                    Poll::Ready(Some(Err(Box::new(HeaderLimit))))
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Where multer is in a form, as [`Scan`] follows it (multer 3.1's
/// `StreamingStage`s, `multipart.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary` (found anywhere, as multer does).
    Preamble,
    /// Just after a `--boundary`: `--` ends the form.
    Delimiter,
    /// After `--boundary-`.
    Dash,
    /// Spaces and tabs after the boundary, then its CRLF.
    Padding,
    /// After the CR of the boundary line's CRLF.
    Cr,
    /// The header block, up to and including `\r\n\r\n`.
    Headers,
    /// A part's content, up to the next `\r\n--boundary`.
    Content,
    /// After the closing `--boundary--`: multer reads no further.
    Epilogue,
}

/// Follows a form's bytes as multer parses them and counts those read
/// while multer waits for a part's content (the [`Stage`]s but `Content`
/// and `Epilogue`): from the start of the body to the first boundary, and
/// from each boundary to the end of the header block. Where multer would
/// refuse the form (a boundary line not ended by CRLF), it goes on
/// counting as if in a header block, so it never counts less than multer
/// keeps.
#[derive(Debug)]
struct Scan {
    stage: Stage,
    /// Bytes since the body's start or the last boundary.
    waiting: usize,
    /// `--boundary`, found in the preamble.
    first: Find,
    /// `\r\n--boundary`, found in a part's content.
    next: Find,
    /// `\r\n\r\n`, the end of a header block.
    blank: Find,
}

impl Scan {
    fn new(boundary: &str) -> Self {
        Scan {
            stage: Stage::Preamble,
            waiting: 0,
            first: Find::new(format!("--{boundary}").into_bytes()),
            next: Find::new(format!("\r\n--{boundary}").into_bytes()),
            blank: Find::new(b"\r\n\r\n".to_vec()),
        }
    }

    /// Follows the next chunk; `false` once the bytes waited for are over
    /// [`MAX_HEADER_BYTES`].
    fn feed(&mut self, mut data: &[u8]) -> bool {
        while let Some((&b, rest)) = data.split_first() {
            match self.stage {
                Stage::Epilogue => return true,
                Stage::Content => {
                    // Photo bytes: skip to the next CR (where a delimiter
                    // may start) unless one is under way.
                    if self.next.matched == 0 && b != b'\r' {
                        match data.iter().position(|&c| c == b'\r') {
                            Some(i) => data = &data[i..],
                            None => return true,
                        }
                        continue;
                    }
                    data = rest;
                    if self.next.step(b) {
                        self.stage = Stage::Delimiter;
                        self.waiting = 0;
                    }
                    continue;
                }
                _ => {}
            }
            data = rest;
            self.waiting += 1;
            if self.waiting > MAX_HEADER_BYTES {
                return false;
            }
            match self.stage {
                Stage::Preamble => {
                    if self.first.step(b) {
                        self.stage = Stage::Delimiter;
                        self.waiting = 0;
                    }
                }
                Stage::Delimiter if b == b'-' => self.stage = Stage::Dash,
                Stage::Delimiter | Stage::Padding => match b {
                    b' ' | b'\t' => self.stage = Stage::Padding,
                    b'\r' => self.stage = Stage::Cr,
                    // multer refuses the form; count on as headers.
                    _ => self.headers(Some(b)),
                },
                Stage::Dash if b == b'-' => self.stage = Stage::Epilogue,
                Stage::Cr if b == b'\n' => self.headers(None),
                Stage::Dash | Stage::Cr => self.headers(Some(b)),
                Stage::Headers => {
                    if self.blank.step(b) {
                        self.stage = Stage::Content;
                        self.next.matched = 0;
                    }
                }
                Stage::Content | Stage::Epilogue => {}
            }
        }
        true
    }

    /// Starts a header block (with its first byte, if read).
    fn headers(&mut self, first: Option<u8>) {
        self.stage = Stage::Headers;
        self.blank.matched = 0;
        if let Some(b) = first {
            // One byte cannot complete `\r\n\r\n`.
            self.blank.step(b);
        }
    }
}

/// A streaming search for one pattern (Knuth–Morris–Pratt: linear in the
/// bytes whatever the pattern, the state carried across chunks).
#[derive(Debug)]
struct Find {
    pattern: Vec<u8>,
    /// For each prefix length, the longest proper prefix that is also a
    /// suffix of it.
    back: Vec<usize>,
    /// Bytes of the pattern matched so far.
    matched: usize,
}

impl Find {
    fn new(pattern: Vec<u8>) -> Self {
        let mut back = vec![0; pattern.len() + 1];
        let mut k = 0;
        for i in 1..pattern.len() {
            while k > 0 && pattern[i] != pattern[k] {
                k = back[k];
            }
            if pattern[i] == pattern[k] {
                k += 1;
            }
            back[i + 1] = k;
        }
        Find {
            pattern,
            back,
            matched: 0,
        }
    }

    /// Takes the next byte; `true` when it completes the pattern (the
    /// search then starts afresh).
    fn step(&mut self, b: u8) -> bool {
        while self.matched > 0 && self.pattern.get(self.matched) != Some(&b) {
            self.matched = self.back[self.matched];
        }
        if self.pattern.get(self.matched) == Some(&b) {
            self.matched += 1;
        }
        if self.matched == self.pattern.len() {
            self.matched = 0;
            return true;
        }
        false
    }
}

/// The part's name, refused if longer than [`MAX_NAME_BYTES`].
fn part_name(field: &multer::Field<'_>) -> Result<String, FormError> {
    let name = field.name().unwrap_or("");
    if name.len() > MAX_NAME_BYTES {
        return Err(FormError::NameTooLong);
    }
    Ok(name.to_string())
}

// ---------- photo uploads ----------

/// A multipart upload: the `photo` file and the text fields.
#[derive(Debug, Default)]
pub struct Upload {
    pub photo: Option<Vec<u8>>,
    pub fields: HashMap<String, String>,
}

impl Upload {
    /// A text field, trimmed; `None` if missing or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
    /// The photo's bytes (once); refused if none or empty.
    pub fn take_photo(&mut self) -> Result<Vec<u8>, FormError> {
        self.photo
            .take()
            .filter(|p| !p.is_empty())
            .ok_or(FormError::NoPhoto)
    }
}

/// Reads a photo upload into memory (within the parser's body limit):
/// the `photo` part, and every other part as a text field of at most
/// `max_field` bytes (a later one of the same name replaces it); at most
/// [`MAX_UPLOAD_PARTS`] parts, each named within [`MAX_NAME_BYTES`], each
/// header block within [`MAX_HEADER_BYTES`] (if `mp` is from [`parser`]).
pub async fn read_upload(
    mp: &mut multer::Multipart<'_>,
    max_field: usize,
) -> Result<Upload, FormError> {
    let mut up = Upload::default();
    let mut parts = 0usize;
    while let Some(field) = mp.next_field().await.map_err(parse_err)? {
        parts += 1;
        if parts > MAX_UPLOAD_PARTS {
            return Err(FormError::TooManyParts {
                max: MAX_UPLOAD_PARTS,
                hint: "send the photo and each text field once",
            });
        }
        let name = part_name(&field)?;
        if name == "photo" {
            let bytes = field.bytes().await.map_err(parse_err)?;
            // The page offers a camera and a gallery input, both named
            // `photo`: the one left empty does not replace the chosen one.
            if !bytes.is_empty() || up.photo.is_none() {
                up.photo = Some(bytes.to_vec());
            }
        } else {
            let bytes = field.bytes().await.map_err(parse_err)?;
            if bytes.len() > max_field {
                return Err(FormError::FieldTooLong {
                    field: name,
                    limit: max_field,
                });
            }
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| FormError::NotText {
                field: name.clone(),
            })?;
            up.fields.insert(name, text);
        }
    }
    Ok(up)
}

// ---------- archive uploads ----------

/// An archive form's limits.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// Largest photo, bytes (the server's `--max-bytes`).
    pub max_file: u64,
    /// Most bytes of all photos together.
    pub max_total: u64,
    /// Most photos.
    pub max_items: usize,
    /// Longest `name`, `csrf` or unknown field, bytes.
    pub max_text: usize,
    /// Longest `manifest`, bytes.
    pub max_manifest: usize,
}

/// What an archive form held: the name (trimmed), the manifest text, the
/// page's CSRF token, and each photo's name and the file name its sink
/// was given (`0`, `1`, … in order).
#[derive(Debug, Default)]
pub struct Form {
    pub name: Option<String>,
    pub manifest: Option<String>,
    /// The page's CSRF token.
    pub csrf: Option<String>,
    pub photos: Vec<(String, String)>,
}

/// Where an archive's photos go as they stream in (the server: files in
/// the staging folder).
pub trait PhotoSink {
    /// The sink's own failure; a [`FormError`] must convert into it.
    type Error: From<FormError>;
    /// Starts the photo to be kept as `file`.
    fn start(&mut self, file: &str) -> Result<(), Self::Error>;
    /// Appends a chunk to the photo started last.
    fn write(&mut self, chunk: &[u8]) -> Result<(), Self::Error>;
    /// The photo started last is complete (not called for a refused one).
    fn finish(&mut self) -> Result<(), Self::Error>;
}

/// Streams an archive form's photos to `sink` (bounded memory), within
/// `limits`; keeps `name`, `manifest` and `csrf`, and reads and drops any
/// other field within the text limit. At most `max_items` +
/// [`MAX_ARCHIVE_TEXT_PARTS`] parts, each named within [`MAX_NAME_BYTES`],
/// each header block within [`MAX_HEADER_BYTES`] (if `mp` is from
/// [`parser`]).
pub async fn read_form<K: PhotoSink>(
    mp: &mut multer::Multipart<'_>,
    sink: &mut K,
    limits: &FormLimits,
) -> Result<Form, K::Error> {
    let err = |e: multer::Error| K::Error::from(FormError::from(e));
    let mut form = Form::default();
    let mut total = 0u64;
    let max_parts = limits.max_items.saturating_add(MAX_ARCHIVE_TEXT_PARTS);
    let mut parts = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(err)? {
        parts += 1;
        if parts > max_parts {
            return Err(FormError::TooManyParts {
                max: max_parts,
                hint: "send each photo once and the archive in parts under the same batch name",
            }
            .into());
        }
        let fname = part_name(&field)?;
        match fname.as_str() {
            "photo" => {
                let Some(item) = field.file_name().map(str::to_string) else {
                    return Err(FormError::NoFileName.into());
                };
                check_item(&item)?;
                if form.photos.len() >= limits.max_items {
                    return Err(FormError::TooManyPhotos {
                        max: limits.max_items,
                    }
                    .into());
                }
                let file = form.photos.len().to_string();
                sink.start(&file)?;
                let mut size = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(err)? {
                    size += chunk.len() as u64;
                    total += chunk.len() as u64;
                    if size > limits.max_file {
                        return Err(FormError::PhotoTooLarge {
                            item,
                            max: limits.max_file,
                        }
                        .into());
                    }
                    if total > limits.max_total {
                        return Err(FormError::UploadTooLarge {
                            max: limits.max_total,
                        }
                        .into());
                    }
                    sink.write(&chunk)?;
                }
                if size == 0 {
                    return Err(FormError::EmptyPhoto { item }.into());
                }
                sink.finish()?;
                form.photos.push((item, file));
            }
            "name" | "manifest" | "csrf" => {
                let limit = if fname != "manifest" {
                    limits.max_text
                } else {
                    limits.max_manifest
                };
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(err)? {
                    if buf.len() + chunk.len() > limit {
                        return Err(FormError::FieldTooLong {
                            field: fname,
                            limit,
                        }
                        .into());
                    }
                    buf.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(buf).map_err(|_| FormError::NotText {
                    field: fname.clone(),
                })?;
                match fname.as_str() {
                    "name" => form.name = Some(text.trim().to_string()),
                    "csrf" => form.csrf = Some(text),
                    _ => form.manifest = Some(text),
                }
            }
            _ => {
                // Unknown text fields are read and dropped, within the
                // text limit.
                let mut seen = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(err)? {
                    seen += chunk.len();
                    if seen > limits.max_text {
                        return Err(FormError::UnknownFieldTooLong {
                            field: fname,
                            limit: limits.max_text,
                        }
                        .into());
                    }
                }
            }
        }
    }
    Ok(form)
}

/// Reads and discards what is left of a refused form (at most `max`
/// bytes), so that a client that sends its whole upload before reading
/// the answer sees the refusal instead of a reset connection.
pub async fn drain_form(mp: &mut multer::Multipart<'_>, max: usize) {
    let mut left = max;
    while let Ok(Some(mut field)) = mp.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = match left.checked_sub(chunk.len()) {
                Some(l) => l,
                None => return,
            };
        }
    }
}

/// An item name: a relative path of plain components (`a.jpg`,
/// `day1/a.jpg`), as the CLI's item keys are.
pub fn check_item(name: &str) -> Result<(), FormError> {
    let bad = |why: &'static str| Err(FormError::ItemName { why });
    if name.is_empty() {
        return bad("missing");
    }
    if name.len() > MAX_ITEM_BYTES {
        return bad("too long");
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return bad("has control characters or a backslash");
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("is not a plain relative path (empty, `.` or `..` parts)");
    }
    Ok(())
}
