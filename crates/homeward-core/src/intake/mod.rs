//! Image intake: turns untrusted photo bytes into an upright 8-bit RGB image,
//! refusing oversized, malformed and unsupported inputs with a typed error.
//!
//! Accepted: JPEG (including CMYK), PNG, WebP, BMP, TIFF and GIF (first frame),
//! in any bit depth and with or without alpha. The pipeline is:
//!
//! 1. size check (file metadata or slice length) against [`Limits::max_file_bytes`];
//! 2. format sniffed from the first bytes (never from the extension);
//! 3. header read, declared dimensions checked against [`Limits::max_pixels`],
//!    [`Limits::min_side`] and [`Limits::max_aspect_ratio`], and the analysis
//!    memory estimated ([`AnalysisCost`]) and checked against
//!    [`Limits::max_analysis_bytes`], before any pixel buffer exists
//!    ([`inspect_bytes`] stops here); the decoder also gets its own memory limit;
//! 4. decode, convert to RGB8 (alpha dropped, as PIL's `convert('RGB')`);
//! 5. EXIF orientation applied so the result is upright.
//!
//! See `docs/adr-intake.md` for the decisions behind this.

mod budget;
mod decode;
mod error;
mod format;
mod jpeg;
mod limits;
mod orientation;

pub use budget::AnalysisCost;
pub use decode::{inspect_bytes, load_bytes, load_path, load_path_with_bytes, Header, Photo};
pub use error::{DecodeError, Origin};
pub use format::Format;
pub use limits::{Limits, DEFAULT_MAX_ANALYSIS_BYTES};
