//! The memory an analysis of a photo will need, known from its header before
//! any pixel is decoded.

use crate::faces::{DetectOptions, Detector};

/// Landmarks, chips and embeddings of the faces found: the embedding network
/// runs in fixed-size batches, so this does not grow with the photo.
pub(super) const FACES_ALLOWANCE_BYTES: u64 = 128 * 1024 * 1024;

/// Fixed decoder overhead (tables, row buffers) beyond the pixel buffers.
const DECODER_OVERHEAD_BYTES: u64 = 16 * 1024 * 1024;

/// The estimated peak memory of analysing one photo, from its dimensions.
///
/// `peak_bytes` is what admission control charges for the analysis and what
/// [`Limits::max_analysis_bytes`](super::Limits::max_analysis_bytes) bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisCost {
    /// Decoding: the decoder's output, its RGB conversion and, for rotated
    /// photos, the upright copy.
    pub decode_bytes: u64,
    /// Detection (beyond the photo): resized copies, the tiled pyramid and
    /// the worst network layer.
    pub detect_bytes: u64,
    /// The whole analysis at its peak: the upload's bytes, plus the larger of
    /// decoding and (the photo + detection + faces + photo hash).
    pub peak_bytes: u64,
}

impl AnalysisCost {
    /// Estimates the cost of analysing a `width × height` photo (upright
    /// dimensions) whose decoder produces `decoder_output_bytes`, read from
    /// `file_bytes` bytes, with detection run under `detect`. `None` when the
    /// figure overflows `u64` (no budget fits it).
    pub fn estimate(
        width: u32,
        height: u32,
        file_bytes: u64,
        decoder_output_bytes: u64,
        rotated: bool,
        detect: &DetectOptions,
    ) -> Option<AnalysisCost> {
        let pixels = u64::from(width).checked_mul(u64::from(height))?;
        let rgb = pixels.checked_mul(3)?;
        let decode_bytes = decoder_output_bytes
            .checked_add(rgb)?
            .checked_add(if rotated { rgb } else { 0 })?
            .checked_add(DECODER_OVERHEAD_BYTES)?;
        let detect_bytes = Detector::peak_bytes(width, height, detect)?;
        // The whole-photo PDQ hash: luma and one scratch plane, f32.
        let photo_hash = pixels.checked_mul(8)?;
        let analysis = rgb
            .checked_add(detect_bytes.max(photo_hash))?
            .checked_add(FACES_ALLOWANCE_BYTES)?;
        let peak_bytes = file_bytes.checked_add(decode_bytes.max(analysis))?;
        Some(AnalysisCost {
            decode_bytes,
            detect_bytes,
            peak_bytes,
        })
    }
}
