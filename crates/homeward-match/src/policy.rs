//! Matching policy: every threshold that decides what a person is shown, in
//! one place. The core computes hashes, embeddings and distances; this module
//! says which distances count.

/// Largest PDQ Hamming distance (of 256 bits) at which two photos are taken
/// as the same picture (re-encoded, resized, brightened). Measured in
/// `docs/adr-dupes.md`: at most 0.005% false-positive pairs.
pub const PDQ_MATCH_THRESHOLD: u32 = 63;

/// Largest face-chip Hamming distance (of 256 bits) at which two face crops
/// are taken as the same picture by the hash alone, when no embedding is at
/// hand to confirm it (`homeward dupes`, `eval dupes`).
pub const CHIP_MATCH_THRESHOLD: u32 = 64;

/// Face-chip radius within which a face is checked for being the same
/// picture by its embedding (the registry's duplicate check).
pub const CHIP_LOOSE: u32 = 80;

/// Embedding distance under which two faces of hash-matched photos are taken
/// as the same picture (the same picture edited: 0.09–0.24 on the fixtures;
/// different pictures of one person: 0.32 and more).
pub const SAME_PICTURE_DISTANCE: f32 = 0.3;

/// PDQ quality (0–100) under which a photo is too flat to match on: the hash
/// of a dark, blank or blown-out photo matches unrelated photos.
pub const PDQ_MIN_QUALITY: u8 = 50;

/// Nearest photos kept per case when ranking a shortlist.
pub const PER_CASE_PHOTOS: usize = 3;

/// Whether a photo's PDQ hash, of this quality, may take part in matching.
/// The one "too flat" rule: [`crate::Analyzed`], `homeward hash`,
/// `homeward dupes` and `eval dupes` all ask it.
///
/// ```
/// use homeward_match::policy::{pdq_usable, PDQ_MIN_QUALITY};
/// assert!(pdq_usable(PDQ_MIN_QUALITY));
/// assert!(!pdq_usable(PDQ_MIN_QUALITY - 1));
/// ```
pub fn pdq_usable(quality: u8) -> bool {
    quality >= PDQ_MIN_QUALITY
}

/// "Is this the same photo?": one rule set for the registry's duplicate
/// check and for grouping a folder of photos.
///
/// A PDQ match within [`pdq_bits`](Self::pdq_bits) links two photos unless
/// both have faces and none of them agree (a wrong "duplicate" would hide a
/// sighting from ranking). A face-chip match links them when the two faces'
/// embeddings are known and within [`same_picture_distance`](Self::same_picture_distance)
/// with the chips within [`chip_loose_bits`](Self::chip_loose_bits), or, when
/// no embedding is at hand, with the chips within [`chip_bits`](Self::chip_bits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamePhotoRule {
    /// Largest PDQ distance linking two photos.
    pub pdq_bits: u32,
    /// Largest chip distance linking two faces on the hash alone.
    pub chip_bits: u32,
    /// Largest chip distance linking two faces whose embeddings agree.
    pub chip_loose_bits: u32,
    /// Largest embedding distance at which two faces are the same picture.
    pub same_picture_distance: f32,
}

impl Default for SamePhotoRule {
    fn default() -> Self {
        SamePhotoRule {
            pdq_bits: PDQ_MATCH_THRESHOLD,
            chip_bits: CHIP_MATCH_THRESHOLD,
            chip_loose_bits: CHIP_LOOSE,
            same_picture_distance: SAME_PICTURE_DISTANCE,
        }
    }
}

impl SamePhotoRule {
    /// Whether a PDQ match `bits` apart links two photos; `faces_agree` is
    /// `None` when either photo has no face (PDQ alone decides), else whether
    /// some pair of their faces is within the same-picture distance.
    pub fn pdq_links(&self, bits: u32, faces_agree: Option<bool>) -> bool {
        bits <= self.pdq_bits && faces_agree.unwrap_or(true)
    }

    /// Whether two face chips `bits` apart are the same picture;
    /// `embedding_distance` is the two faces' distance when known.
    pub fn chip_links(&self, bits: u32, embedding_distance: Option<f32>) -> bool {
        match embedding_distance {
            Some(d) => bits <= self.chip_loose_bits && d <= self.same_picture_distance,
            None => bits <= self.chip_bits,
        }
    }

    /// The radius a chip-hash index must be searched within so that no link
    /// is missed (with or without embeddings).
    pub fn chip_radius(&self) -> u32 {
        self.chip_bits.max(self.chip_loose_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_agrees_with_the_measured_core_defaults() {
        // The values were measured with the core's hashes (docs/adr-dupes.md).
        assert_eq!(PDQ_MIN_QUALITY, homeward_core::hash::PDQ_MIN_QUALITY);
    }

    #[test]
    fn one_rule_with_and_without_embeddings() {
        let r = SamePhotoRule::default();
        assert!(r.pdq_links(PDQ_MATCH_THRESHOLD, None));
        assert!(!r.pdq_links(PDQ_MATCH_THRESHOLD, Some(false)));
        assert!(!r.pdq_links(PDQ_MATCH_THRESHOLD + 1, None));
        assert!(r.chip_links(CHIP_LOOSE, Some(0.1)));
        assert!(!r.chip_links(CHIP_LOOSE, Some(0.5)));
        assert!(!r.chip_links(CHIP_LOOSE, None));
        assert!(r.chip_links(CHIP_MATCH_THRESHOLD, None));
        assert_eq!(r.chip_radius(), CHIP_LOOSE);
    }
}
