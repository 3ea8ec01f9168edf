//! Duplicates first: is a new sighting photo a repost of a registered case
//! photo (the family's own poster going round), or a repeat of an earlier
//! sighting? Whole-photo PDQ (under all 8 rotations/mirrorings) catches
//! re-encodes, resizes and screenshots; face-chip hashes (and their mirrors)
//! catch crops, rotations and collages of the same face picture.
//!
//! Chip hashes alone call a repost at up to [`CHIP_MATCH_THRESHOLD`] bits.
//! A copy rotated by 15° and rescaled, or cropped through the face, moves
//! the chip hash further (58 and 66 bits on the fixtures, while different
//! pictures, even of the same person, sit at 104 bits or more); such a copy
//! is called a repost when its chip hash is within [`CHIP_LOOSE`] bits *and*
//! its embedding within [`SAME_PICTURE_DISTANCE`] (same picture: 0.09–0.24
//! on the fixtures; different pictures of one person: 0.32 and more).

use std::collections::HashMap;

use homeward_core::hash::{
    HammingIndex, Hash256, HashKind, CHIP_MATCH_THRESHOLD, PDQ_MATCH_THRESHOLD,
};
use homeward_core::index::{l2, Embedding};
use homeward_core::store::{CaseId, FaceId, PhotoId, Registry, SightingId, StoreError};

/// Chip-hash radius within which a face is checked for being the same
/// picture by its embedding.
pub const CHIP_LOOSE: u32 = 80;
/// Embedding distance under which two faces with near chip hashes are
/// taken as the same picture.
pub const SAME_PICTURE_DISTANCE: f32 = 0.3;
use serde::Serialize;

use super::analyze::{hash_from_bytes, Analyzed};

/// What the hashes say about a new photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Repeat {
    /// A repost of a registered case photo.
    PosterRepost {
        case_id: CaseId,
        photo_id: PhotoId,
        /// `pdq` or `face_chip`.
        by: &'static str,
        /// Hamming distance of the hashes.
        bits: u32,
    },
    /// A repeat of an earlier sighting.
    Duplicate {
        /// The group (its first sighting).
        group: SightingId,
        /// The sighting it repeats.
        of: SightingId,
        by: &'static str,
        bits: u32,
    },
}

/// In-memory hash indexes over the registry, kept up to date as sightings
/// are added (so a batch loads them once).
pub struct DupIndex {
    photo_pdq: HammingIndex,
    photo_case: HashMap<PhotoId, CaseId>,
    photo_chip: HammingIndex,
    chip_photo: HashMap<FaceId, (PhotoId, CaseId, Embedding)>,
    sighting_pdq: HammingIndex,
    sighting_group: HashMap<SightingId, SightingId>,
    sighting_chip: HammingIndex,
    chip_sighting: HashMap<FaceId, (SightingId, Embedding)>,
}

impl DupIndex {
    /// Loads every stored hash.
    pub fn load(reg: &Registry) -> Result<DupIndex, StoreError> {
        let mut d = DupIndex {
            photo_pdq: HammingIndex::new(HashKind::Pdq),
            photo_case: HashMap::new(),
            photo_chip: HammingIndex::new(HashKind::Chip),
            chip_photo: HashMap::new(),
            sighting_pdq: HammingIndex::new(HashKind::Pdq),
            sighting_group: HashMap::new(),
            sighting_chip: HammingIndex::new(HashKind::Chip),
            chip_sighting: HashMap::new(),
        };
        for (p, c, h) in reg.photo_hashes()? {
            let _ = d.photo_pdq.add(p, hash_from_bytes(&h));
            d.photo_case.insert(p, c);
        }
        for (f, p, c, h, e) in reg.case_chip_hashes()? {
            let _ = d.photo_chip.add(f, hash_from_bytes(&h));
            d.chip_photo.insert(f, (p, c, e));
        }
        for (s, g, h) in reg.sighting_hashes()? {
            let _ = d.sighting_pdq.add(s, hash_from_bytes(&h));
            d.sighting_group.insert(s, g);
        }
        for (f, s, g, h, e) in reg.sighting_chip_hashes()? {
            let _ = d.sighting_chip.add(f, hash_from_bytes(&h));
            d.chip_sighting.insert(f, (s, e));
            d.sighting_group.insert(s, g);
        }
        Ok(d)
    }

    /// The nearest hit of any query hash in `index`.
    fn nearest(index: &HammingIndex, queries: &[Hash256], radius: u32) -> Option<(u64, u32)> {
        queries
            .iter()
            .flat_map(|q| index.query(q, radius))
            .min_by_key(|&(id, bits)| (bits, id))
    }

    /// Chip hashes of the new photo's faces (and their mirrors), each with
    /// the face's embedding.
    fn chip_queries(a: &Analyzed) -> Vec<(Hash256, Embedding)> {
        let mut out = Vec::new();
        for (f, m) in a.faces.iter().zip(&a.mirrored_chips) {
            for h in f.chip_hash.iter().chain(m.iter()) {
                out.push((hash_from_bytes(h), f.embedding));
            }
        }
        out
    }

    /// The nearest stored face whose chip hash is within
    /// [`CHIP_MATCH_THRESHOLD`], or within [`CHIP_LOOSE`] with an embedding
    /// within [`SAME_PICTURE_DISTANCE`].
    fn same_face_picture(
        index: &HammingIndex,
        queries: &[(Hash256, Embedding)],
        embedding_of: impl Fn(FaceId) -> Option<Embedding>,
    ) -> Option<(FaceId, u32)> {
        queries
            .iter()
            .flat_map(|(q, e)| {
                index.query(q, CHIP_LOOSE).into_iter().filter(|&(f, bits)| {
                    bits <= CHIP_MATCH_THRESHOLD
                        || embedding_of(f).is_some_and(|s| l2(e, &s) <= SAME_PICTURE_DISTANCE)
                })
            })
            .min_by_key(|&(f, bits)| (bits, f))
    }

    /// Checks a new sighting photo: poster reposts first (a repost of the
    /// family's poster is never a sighting of the child), then earlier
    /// sightings.
    pub fn check(&self, a: &Analyzed) -> Option<Repeat> {
        let pdq: Vec<_> = a.pdq.map(|p| p.hashes.to_vec()).unwrap_or_default();
        let chips = Self::chip_queries(a);
        if let Some((p, bits)) = Self::nearest(&self.photo_pdq, &pdq, PDQ_MATCH_THRESHOLD) {
            if let Some(&c) = self.photo_case.get(&p) {
                return Some(Repeat::PosterRepost {
                    case_id: c,
                    photo_id: p,
                    by: "pdq",
                    bits,
                });
            }
        }
        let case_emb = |f| self.chip_photo.get(&f).map(|x| x.2);
        if let Some((f, bits)) = Self::same_face_picture(&self.photo_chip, &chips, case_emb) {
            if let Some(&(p, c, _)) = self.chip_photo.get(&f) {
                return Some(Repeat::PosterRepost {
                    case_id: c,
                    photo_id: p,
                    by: "face_chip",
                    bits,
                });
            }
        }
        let dup = |s: SightingId, by, bits| {
            let group = self.sighting_group.get(&s).copied().unwrap_or(s);
            Repeat::Duplicate {
                group,
                of: s,
                by,
                bits,
            }
        };
        if let Some((s, bits)) = Self::nearest(&self.sighting_pdq, &pdq, PDQ_MATCH_THRESHOLD) {
            return Some(dup(s, "pdq", bits));
        }
        let sighting_emb = |f| self.chip_sighting.get(&f).map(|x| x.1);
        if let Some((f, bits)) = Self::same_face_picture(&self.sighting_chip, &chips, sighting_emb)
        {
            if let Some(&(s, _)) = self.chip_sighting.get(&f) {
                return Some(dup(s, "face_chip", bits));
            }
        }
        None
    }

    /// Adds a registered case photo: its PDQ hash and its enrolled faces'
    /// chip hashes, so that reposts of it are caught from now on.
    pub fn add_case_photo(
        &mut self,
        photo: PhotoId,
        case: CaseId,
        face_ids: &[FaceId],
        faces: &[homeward_core::store::FaceRecord],
        pdq: Option<Hash256>,
    ) {
        if let Some(h) = pdq {
            let _ = self.photo_pdq.add(photo, h);
            self.photo_case.insert(photo, case);
        }
        for (f, rec) in face_ids.iter().zip(faces) {
            if let Some(h) = rec.chip_hash {
                let _ = self.photo_chip.add(*f, hash_from_bytes(&h));
                self.chip_photo.insert(*f, (photo, case, rec.embedding));
            }
        }
    }

    /// Adds a recorded sighting.
    pub fn add_sighting(
        &mut self,
        id: SightingId,
        group: SightingId,
        face_ids: &[FaceId],
        a: &Analyzed,
    ) {
        self.sighting_group.insert(id, group);
        if let Some(p) = a.pdq {
            let _ = self.sighting_pdq.add(id, p.hashes[0]);
        }
        for (f, rec) in face_ids.iter().zip(&a.faces) {
            if let Some(h) = rec.chip_hash {
                let _ = self.sighting_chip.add(*f, hash_from_bytes(&h));
                self.chip_sighting.insert(*f, (id, rec.embedding));
            }
        }
    }
}
