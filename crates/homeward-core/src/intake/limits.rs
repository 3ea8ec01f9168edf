//! Size limits for untrusted photos, checked before any pixel is decoded.

use super::budget::AnalysisCost;
use super::error::{DecodeError, Origin};
use crate::faces::DetectOptions;

/// Memory a decoder may use on top of the output image, at least.
/// Covers metadata, Huffman tables, strip and row buffers.
const DECODER_SCRATCH_BYTES: u64 = 64 * 1024 * 1024;

/// The largest bytes-per-pixel among the colour types intake accepts
/// (16-bit RGBA; float TIFFs are refused by the pixel budget below).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// Default memory budget of one analysis (decode, detection, faces): 2 GiB.
/// A 12-megapixel phone photo is estimated at 1.9 GiB (measured 1.7 GiB);
/// a 16-megapixel one, or anything the detector scales down to its
/// 16-megapixel working size, at 2.4 GiB or more (measured 2.3 GiB), so it
/// is refused. See `docs/adr-hostile-input.md` for the measurements.
pub const DEFAULT_MAX_ANALYSIS_BYTES: u64 = 2 << 30;

/// How big a photo may be, in bytes on disk and in decoded pixels, what
/// shape it may have, and how much memory its analysis may need.
///
/// All are checked before decoding: the byte size from the file metadata (or
/// the slice length), the dimensions and the memory estimate
/// ([`AnalysisCost`]) from the image header. The decoder's own memory limit
/// is then derived from the dimensions as a second line of defence.
///
/// ```
/// use homeward_core::intake::Limits;
/// let limits = Limits::default();
/// assert_eq!(limits.max_file_bytes, 50_000_000);
/// let strict = Limits { max_file_bytes: 5_000_000, max_pixels: 12_000_000, ..Limits::default() };
/// assert!(strict.max_pixels < limits.max_pixels);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes. Default 50 MB (50,000,000 bytes).
    pub max_file_bytes: u64,
    /// Largest accepted width × height, in pixels. Default 50 megapixels.
    pub max_pixels: u64,
    /// Shortest accepted side, in pixels. Default 32: a smaller image cannot
    /// hold a face the detector finds (its window is 80 px at 1× and 40 px
    /// upsampled).
    pub min_side: u32,
    /// Largest accepted ratio of the long side to the short side. Default
    /// 20 (panoramas are about 4:1); the detector pads every side, so a
    /// strip costs memory in proportion to its long side, not its pixels.
    pub max_aspect_ratio: u32,
    /// Largest estimated peak memory of analysing the photo
    /// ([`AnalysisCost::peak_bytes`]), in bytes. Default
    /// [`DEFAULT_MAX_ANALYSIS_BYTES`].
    pub max_analysis_bytes: u64,
    /// The detection the photo will go through, for the estimate; keep it
    /// equal to the `FaceOptions::detect` the caller analyses with.
    pub detect: DetectOptions,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 50_000_000,
            max_pixels: 50_000_000,
            min_side: 32,
            max_aspect_ratio: 20,
            max_analysis_bytes: DEFAULT_MAX_ANALYSIS_BYTES,
            detect: DetectOptions::default(),
        }
    }
}

impl Limits {
    /// Refuses inputs that are empty or over `max_file_bytes`.
    pub(super) fn check_bytes(&self, origin: &Origin, bytes: u64) -> Result<(), DecodeError> {
        if bytes == 0 {
            return Err(DecodeError::Empty {
                origin: origin.clone(),
            });
        }
        if bytes > self.max_file_bytes {
            return Err(DecodeError::TooLarge {
                origin: origin.clone(),
                bytes,
                limit: self.max_file_bytes,
            });
        }
        Ok(())
    }

    /// Refuses declared dimensions that are empty or over `max_pixels`.
    pub(super) fn check_dimensions(
        &self,
        origin: &Origin,
        width: u32,
        height: u32,
    ) -> Result<(), DecodeError> {
        if width == 0 || height == 0 {
            return Err(DecodeError::ZeroSize {
                origin: origin.clone(),
                width,
                height,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::TooManyPixels {
                origin: origin.clone(),
                width,
                height,
                limit: self.max_pixels,
            });
        }
        if width.min(height) < self.min_side {
            return Err(DecodeError::TooSmall {
                origin: origin.clone(),
                width,
                height,
                min_side: self.min_side,
            });
        }
        let (long, short) = (width.max(height), width.min(height));
        if u64::from(long) > u64::from(short) * u64::from(self.max_aspect_ratio.max(1)) {
            return Err(DecodeError::AspectRatio {
                origin: origin.clone(),
                width,
                height,
                limit: self.max_aspect_ratio.max(1),
            });
        }
        Ok(())
    }

    /// Refuses a photo whose analysis would need more memory than
    /// `max_analysis_bytes` (`cost` is `None` when the estimate overflowed).
    pub(super) fn check_budget(
        &self,
        origin: &Origin,
        width: u32,
        height: u32,
        cost: Option<AnalysisCost>,
    ) -> Result<AnalysisCost, DecodeError> {
        match cost {
            Some(c) if c.peak_bytes <= self.max_analysis_bytes => Ok(c),
            other => Err(DecodeError::OverBudget {
                origin: origin.clone(),
                width,
                height,
                needed_mib: other.map_or(u64::MAX, |c| c.peak_bytes.div_ceil(1 << 20)),
                limit_mib: self.max_analysis_bytes >> 20,
            }),
        }
    }

    /// Limits handed to the decoder while it reads the header: allocations
    /// stay within what the largest allowed image could need. No side limit
    /// here, so that an oversized image is reported by
    /// [`check_dimensions`](Self::check_dimensions) with its dimensions.
    pub(super) fn header_decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::no_limits();
        limits.max_alloc = Some(
            self.max_pixels
                .saturating_mul(MAX_BYTES_PER_PIXEL)
                .saturating_add(DECODER_SCRATCH_BYTES),
        );
        limits
    }

    /// Limits for the decoder once the header has passed
    /// [`check_dimensions`](Self::check_dimensions), for an output buffer of
    /// `output_bytes`. Decoders count differently (TIFF counts the output
    /// buffer and its strip buffers, GIF keeps a second canvas), so the
    /// budget is twice the output plus [`DECODER_SCRATCH_BYTES`]: enough for
    /// any honest file, and still bounded by the pixel limit.
    pub(super) fn pixel_decoder_limits(
        &self,
        width: u32,
        height: u32,
        output_bytes: u64,
    ) -> image::Limits {
        let mut limits = image::Limits::no_limits();
        limits.max_image_width = Some(width);
        limits.max_image_height = Some(height);
        limits.max_alloc = Some(
            output_bytes
                .saturating_mul(2)
                .saturating_add(DECODER_SCRATCH_BYTES),
        );
        limits
    }
}
