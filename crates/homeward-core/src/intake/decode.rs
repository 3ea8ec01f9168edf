//! The decoding pipeline: sniff, check limits, read the header, decode,
//! convert to 8-bit RGB, turn upright.

use std::fmt;
use std::fs::{self, File};
use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::budget::AnalysisCost;
use super::error::{DecodeError, Origin};
use super::{jpeg, orientation, Format, Limits};

/// A decoded photo, upright and in 8-bit RGB.
///
/// Its `Debug` output shows the dimensions, never the pixels.
#[derive(Clone)]
pub struct Photo {
    /// The pixels, with EXIF orientation already applied.
    pub image: RgbImage,
    /// The container format the bytes were in.
    pub format: Format,
    /// The EXIF orientation (1..=8) found and applied; 1 when there was none.
    pub orientation_applied: u8,
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Photo")
            .field("dimensions", &self.image.dimensions())
            .field("format", &self.format)
            .field("orientation_applied", &self.orientation_applied)
            .finish_non_exhaustive()
    }
}

/// Loads a photo file into an upright RGB image.
///
/// The file's size is checked from its metadata before it is read, and the
/// image header before any pixel is decoded. The format is recognised from
/// the content, not the extension.
///
/// ```
/// use homeward_core::intake::{load_path, Limits};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/obama.jpg");
/// let photo = load_path(path.as_ref(), &Limits::default())?;
/// assert_eq!(photo.image.dimensions(), (910, 1137));
/// # Ok::<(), homeward_core::intake::DecodeError>(())
/// ```
pub fn load_path(path: &Path, limits: &Limits) -> Result<Photo, DecodeError> {
    load_path_with_bytes(path, limits).map(|(photo, _)| photo)
}

/// [`load_path`], also returning the file's bytes as read (for callers that
/// store or hash the original), so the file is read once.
pub fn load_path_with_bytes(path: &Path, limits: &Limits) -> Result<(Photo, Vec<u8>), DecodeError> {
    let io_err = |source| DecodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let origin = Origin::File(path.to_path_buf());
    let meta = fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(DecodeError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        return Err(DecodeError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    limits.check_bytes(&origin, meta.len())?;

    // The file may grow between the metadata call and the read: never read
    // more than one byte past the limit.
    let file = File::open(path).map_err(io_err)?;
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    let photo = decode(&bytes, &origin, limits)?;
    Ok((photo, bytes))
}

/// Decodes photo bytes (an upload, an archive member) into an upright RGB image.
///
/// ```
/// use homeward_core::intake::{load_bytes, DecodeError, Limits};
/// let err = load_bytes(b"not a photo", &Limits::default()).unwrap_err();
/// assert!(matches!(err, DecodeError::UnsupportedFormat { .. }));
/// ```
pub fn load_bytes(bytes: &[u8], limits: &Limits) -> Result<Photo, DecodeError> {
    decode(bytes, &Origin::Bytes, limits)
}

/// What intake learns from a photo's header, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Width once EXIF orientation is applied.
    pub width: u32,
    /// Height once EXIF orientation is applied.
    pub height: u32,
    /// The container format.
    pub format: Format,
    /// The EXIF orientation (1..=8) that decoding will apply.
    pub orientation: u8,
    /// The estimated memory of analysing the photo (within the limits).
    pub cost: AnalysisCost,
}

/// Checks photo bytes against every limit without decoding them: size,
/// format, dimensions, shape and the analysis memory budget. Returns what
/// the header says, including the [`AnalysisCost`] to admit the analysis by.
///
/// ```
/// use homeward_core::intake::{inspect_bytes, Limits};
/// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/obama.jpg"))?;
/// let header = inspect_bytes(&bytes, &Limits::default())?;
/// assert_eq!((header.width, header.height), (910, 1137));
/// assert!(header.cost.peak_bytes < Limits::default().max_analysis_bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn inspect_bytes(bytes: &[u8], limits: &Limits) -> Result<Header, DecodeError> {
    open(bytes, &Origin::Bytes, limits).map(|(_, header)| header)
}

/// Sniffs, reads the header and checks every limit; returns the decoder,
/// ready to decode, and the header.
fn open<'a>(
    bytes: &'a [u8],
    origin: &Origin,
    limits: &Limits,
) -> Result<(impl ImageDecoder + 'a, Header), DecodeError> {
    let file_bytes = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    limits.check_bytes(origin, file_bytes)?;
    let format = Format::sniff(bytes).map_err(|detected| DecodeError::UnsupportedFormat {
        origin: origin.clone(),
        detected,
    })?;
    let image_err = |e| DecodeError::from_image(origin, format, e);

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image());
    reader.limits(limits.header_decoder_limits());
    let mut decoder = reader.into_decoder().map_err(image_err)?;

    let (width, height) = decoder.dimensions();
    limits.check_dimensions(origin, width, height)?;
    if format == Format::Jpeg {
        jpeg::check_complete(bytes).map_err(|detail| DecodeError::Corrupt {
            origin: origin.clone(),
            format,
            detail,
        })?;
    }
    let orientation = if format == Format::WebP && !orientation::webp_chunks_fit(bytes) {
        1
    } else {
        orientation::read(&mut decoder)
    };
    let rotated = orientation >= 5;
    let (upright_w, upright_h) = if rotated {
        (height, width)
    } else {
        (width, height)
    };
    let output_bytes = decoder.total_bytes();
    let cost = AnalysisCost::estimate(
        upright_w,
        upright_h,
        file_bytes,
        output_bytes,
        rotated,
        &limits.detect,
    );
    let cost = limits.check_budget(origin, upright_w, upright_h, cost)?;
    decoder
        .set_limits(limits.pixel_decoder_limits(width, height, output_bytes))
        .map_err(image_err)?;
    let header = Header {
        width: upright_w,
        height: upright_h,
        format,
        orientation,
        cost,
    };
    Ok((decoder, header))
}

fn decode(bytes: &[u8], origin: &Origin, limits: &Limits) -> Result<Photo, DecodeError> {
    let (decoder, header) = open(bytes, origin, limits)?;
    let image_err = |e| DecodeError::from_image(origin, header.format, e);
    let decoded = DynamicImage::from_decoder(decoder).map_err(image_err)?;
    let rgb = to_rgb8(decoded);
    Ok(Photo {
        image: orientation::apply(rgb, header.orientation),
        format: header.format,
        orientation_applied: header.orientation,
    })
}

/// Converts any decoded colour type to 8-bit RGB the way PIL's
/// `convert('RGB')` does for the common cases: grey is replicated, alpha is
/// dropped (not composited), 16-bit samples are scaled to 8 bits.
fn to_rgb8(image: DynamicImage) -> RgbImage {
    image.into_rgb8()
}
