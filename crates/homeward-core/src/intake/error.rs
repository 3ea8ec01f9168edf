//! The one error type of intake: why a photo was refused, and what to do about it.

use std::fmt;
use std::path::PathBuf;

use super::Format;

/// Where the refused image came from, for error messages.
///
/// Only the path is ever shown; image bytes are never part of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Bytes handed to [`load_bytes`](super::load_bytes), such as an upload.
    Bytes,
    /// A file read by [`load_path`](super::load_path).
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Bytes => f.write_str("the image data"),
            Origin::File(path) => write!(f, "`{}`", path.display()),
        }
    }
}

/// Why a photo could not be turned into an upright RGB image.
///
/// Every variant says where the input came from ([`Origin`] or a path) and,
/// where a limit was hit, the value and the limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file could not be opened, inspected or read.
    #[error("cannot read `{}`: {source}; check that the file exists and that Homeward may read it", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A directory was given where a photo file was expected.
    #[error("`{}` is a directory, not a photo; pass the path of an image file (JPEG, PNG, WebP, BMP, TIFF or GIF)", path.display())]
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },

    /// The path names something other than a regular file (a device, a pipe, a socket).
    #[error("`{}` is not a regular file; pass the path of an image file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },

    /// The input has no bytes at all.
    #[error(
        "{origin} is empty (0 bytes); the upload or copy probably failed, send the photo again"
    )]
    Empty {
        /// Where the input came from.
        origin: Origin,
    },

    /// The input is bigger than [`Limits::max_file_bytes`](super::Limits::max_file_bytes).
    #[error("{origin} is {bytes} bytes, over the limit of {limit} bytes; send a smaller or more compressed copy of the photo, or raise `max_file_bytes`")]
    TooLarge {
        /// Where the input came from.
        origin: Origin,
        /// Size of the input in bytes.
        bytes: u64,
        /// The configured limit in bytes.
        limit: u64,
    },

    /// The image header declares more pixels than [`Limits::max_pixels`](super::Limits::max_pixels).
    /// Nothing has been decoded or allocated for the pixels when this is returned.
    #[error("{origin} declares {width}x{height} pixels, over the limit of {limit} pixels; send a downscaled copy of the photo, or raise `max_pixels`")]
    TooManyPixels {
        /// Where the input came from.
        origin: Origin,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured limit in pixels.
        limit: u64,
    },

    /// A side is shorter than [`Limits::min_side`](super::Limits::min_side).
    #[error("{origin} is {width}x{height} pixels, with a side under the minimum of {min_side} pixels; no face can be found in it, send the original photo")]
    TooSmall {
        /// Where the input came from.
        origin: Origin,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured minimum side in pixels.
        min_side: u32,
    },

    /// The long side is more than [`Limits::max_aspect_ratio`](super::Limits::max_aspect_ratio)
    /// times the short side.
    #[error("{origin} is {width}x{height} pixels, longer than {limit}:1; crop the photo to the part that shows the child")]
    AspectRatio {
        /// Where the input came from.
        origin: Origin,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured largest ratio (long side : short side).
        limit: u32,
    },

    /// Analysing the image would need more memory than
    /// [`Limits::max_analysis_bytes`](super::Limits::max_analysis_bytes),
    /// estimated from its header. Nothing has been decoded.
    #[error("analysing {origin} ({width}x{height} pixels) would need about {needed_mib} MiB of memory, over the limit of {limit_mib} MiB per photo; send a downscaled copy (12 megapixels or less), or raise `max_analysis_bytes` (`--max-analysis-mib`)")]
    OverBudget {
        /// Where the input came from.
        origin: Origin,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The estimated peak, in MiB (`u64::MAX` when it overflowed).
        needed_mib: u64,
        /// The configured budget, in MiB.
        limit_mib: u64,
    },

    /// The image header declares a width or height of zero.
    #[error("{origin} declares a {width}x{height} image, which has no pixels; the file is malformed, send the original photo again")]
    ZeroSize {
        /// Where the input came from.
        origin: Origin,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },

    /// The bytes are not in a format intake decodes.
    #[error("{origin} is not a supported image{}; convert it to JPEG or PNG (supported: JPEG, PNG, WebP, BMP, TIFF, GIF)", detected_note(.detected))]
    UnsupportedFormat {
        /// Where the input came from.
        origin: Origin,
        /// The format recognised from the first bytes, if any (for example `HEIC`).
        detected: Option<String>,
    },

    /// The format is supported but this file uses a variant the decoder does not
    /// implement (for example an unusual TIFF compression).
    #[error("{origin} is a {format} file using a feature Homeward cannot decode ({detail}); re-save it as an ordinary JPEG or PNG")]
    UnsupportedFeature {
        /// Where the input came from.
        origin: Origin,
        /// The container format.
        format: Format,
        /// What the decoder said.
        detail: String,
    },

    /// The data is truncated or malformed.
    #[error("{origin} looks like {format} but is damaged or truncated ({detail}); send the original photo again")]
    Corrupt {
        /// Where the input came from.
        origin: Origin,
        /// The format recognised from the first bytes.
        format: Format,
        /// What was wrong, as reported by the decoder.
        detail: String,
    },

    /// The decoder's own memory limit refused the image: it would need more
    /// memory than the pixel limit allows for, a sign of a decompression bomb.
    #[error("decoding {origin} ({format}) would use more memory than allowed ({detail}); send a smaller copy of the photo, or raise `max_pixels`")]
    DecoderLimit {
        /// Where the input came from.
        origin: Origin,
        /// The container format.
        format: Format,
        /// What the decoder said.
        detail: String,
    },
}

fn detected_note(detected: &Option<String>) -> String {
    match detected {
        Some(name) => format!(" (it looks like {name})"),
        None => String::new(),
    }
}

impl DecodeError {
    /// Converts an error from the `image` crate, once the format is known.
    pub(super) fn from_image(origin: &Origin, format: Format, err: image::ImageError) -> Self {
        use image::error::ImageError as E;
        let origin = origin.clone();
        match err {
            E::Limits(limit) => DecodeError::DecoderLimit {
                origin,
                format,
                detail: limit.to_string(),
            },
            E::Unsupported(e) => DecodeError::UnsupportedFeature {
                origin,
                format,
                detail: e.to_string(),
            },
            // An IO error while reading from memory means the data ran out.
            E::IoError(e) => DecodeError::Corrupt {
                origin,
                format,
                detail: e.to_string(),
            },
            other => DecodeError::Corrupt {
                origin,
                format,
                detail: other.to_string(),
            },
        }
    }
}
