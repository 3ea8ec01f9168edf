//! Duplicates first: is a new sighting photo a repost of a registered case
//! photo (the family's own poster going round), or a repeat of an earlier
//! sighting? Whole-photo PDQ (under all 8 rotations/mirrorings) catches
//! re-encodes, resizes and screenshots; face-chip hashes (and their mirrors)
//! catch crops, rotations and collages of the same face picture.
//!
//! The rule is [`SamePhotoRule`] (`crate::policy`), the same one that groups
//! a folder of photos: a wrong "duplicate" would hide a sighting from
//! ranking, so a hash match alone never decides when both photos have faces;
//! some face of each must also be within the same-picture embedding
//! distance. Photos without a face are judged by PDQ alone: they create no
//! match, so grouping them hides nothing.

use std::collections::HashMap;

use homeward_core::hash::{HammingIndex, Hash256, HashKind};
use homeward_core::index::{l2, Embedding};
use homeward_core::store::{
    CaseId, FaceId, MatchStore, PhotoId, SightingHashes, SightingId, StoreError,
};
use serde::Serialize;

use crate::policy::SamePhotoRule;

use super::analyze::{hash_from_bytes, Analyzed};

/// What the hashes say about a new photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Repeat {
    /// A repost of a registered case photo.
    PosterRepost {
        /// The case.
        case_id: CaseId,
        /// Its photo.
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
        /// `pdq` or `face_chip`.
        by: &'static str,
        /// Hamming distance of the hashes.
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
    /// Face embeddings of each case photo and sighting, for the same-picture check.
    photo_faces: HashMap<PhotoId, Vec<Embedding>>,
    sighting_faces: HashMap<SightingId, Vec<Embedding>>,
    rule: SamePhotoRule,
}

impl DupIndex {
    /// An index holding nothing.
    fn empty() -> DupIndex {
        DupIndex {
            photo_pdq: HammingIndex::new(HashKind::Pdq),
            photo_case: HashMap::new(),
            photo_chip: HammingIndex::new(HashKind::Chip),
            chip_photo: HashMap::new(),
            sighting_pdq: HammingIndex::new(HashKind::Pdq),
            sighting_group: HashMap::new(),
            sighting_chip: HammingIndex::new(HashKind::Chip),
            chip_sighting: HashMap::new(),
            photo_faces: HashMap::new(),
            sighting_faces: HashMap::new(),
            rule: SamePhotoRule::default(),
        }
    }

    /// Loads every stored hash.
    pub fn load(reg: &dyn MatchStore) -> Result<DupIndex, StoreError> {
        let mut d = DupIndex::empty();
        for (p, c, h) in reg.photo_hashes()? {
            let _ = d.photo_pdq.add(p, hash_from_bytes(&h));
            d.photo_case.insert(p, c);
        }
        for (f, p, c, h, e) in reg.case_chip_hashes()? {
            let _ = d.photo_chip.add(f, hash_from_bytes(&h));
            d.chip_photo.insert(f, (p, c, e));
            d.photo_faces.entry(p).or_default().push(e);
        }
        d.add_sighting_rows(SightingHashes {
            pdq: reg.sighting_hashes()?,
            chips: reg.sighting_chip_hashes()?,
        });
        Ok(d)
    }

    /// Adds the stored hashes of sightings another process recorded (as
    /// [`MatchStore::refresh`] reports them); sightings this index holds
    /// already are skipped, so a process's own sightings are not added
    /// twice.
    pub fn add_stored_sightings(
        &mut self,
        reg: &dyn MatchStore,
        ids: &[SightingId],
    ) -> Result<(), StoreError> {
        let new: Vec<SightingId> = ids
            .iter()
            .copied()
            .filter(|s| !self.sighting_group.contains_key(s))
            .collect();
        if !new.is_empty() {
            self.add_sighting_rows(reg.hashes_of_sightings(&new)?);
        }
        Ok(())
    }

    fn add_sighting_rows(&mut self, rows: SightingHashes) {
        for (s, g, h) in rows.pdq {
            let _ = self.sighting_pdq.add(s, hash_from_bytes(&h));
            self.sighting_group.insert(s, g);
        }
        for (f, s, g, h, e) in rows.chips {
            let _ = self.sighting_chip.add(f, hash_from_bytes(&h));
            self.chip_sighting.insert(f, (s, e));
            self.sighting_group.insert(s, g);
            self.sighting_faces.entry(s).or_default().push(e);
        }
    }

    /// The nearest PDQ hit of any query hash in `index` that the rule
    /// links, given `agree` (see [`DupIndex::faces_agree`]).
    fn nearest(
        &self,
        index: &HammingIndex,
        queries: &[Hash256],
        agree: impl Fn(u64) -> Option<bool>,
    ) -> Option<(u64, u32)> {
        queries
            .iter()
            .flat_map(|q| index.query(q, self.rule.pdq_bits))
            .filter(|&(id, bits)| self.rule.pdq_links(bits, agree(id)))
            .min_by_key(|&(id, bits)| (bits, id))
    }

    /// Whether the new photo's faces and a stored photo's faces can be the
    /// same picture: `None` when either side has none, else whether some
    /// pair is within the rule's same-picture distance.
    fn faces_agree(&self, a: &Analyzed, stored: Option<&Vec<Embedding>>) -> Option<bool> {
        match stored {
            Some(st) if !a.faces.is_empty() && !st.is_empty() => Some(a.faces.iter().any(|f| {
                st.iter()
                    .any(|e| l2(&f.embedding, e) <= self.rule.same_picture_distance)
            })),
            _ => None,
        }
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

    /// The nearest stored face whose chip hash and embedding the rule
    /// links to a face of the new photo.
    fn same_face_picture(
        &self,
        index: &HammingIndex,
        queries: &[(Hash256, Embedding)],
        embedding_of: impl Fn(FaceId) -> Option<Embedding>,
    ) -> Option<(FaceId, u32)> {
        queries
            .iter()
            .flat_map(|(q, e)| {
                index
                    .query(q, self.rule.chip_radius())
                    .into_iter()
                    .filter(|&(f, bits)| {
                        embedding_of(f).is_some_and(|s| self.rule.chip_links(bits, Some(l2(e, &s))))
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
        let photo_agrees = |p: u64| self.faces_agree(a, self.photo_faces.get(&p));
        if let Some((p, bits)) = self.nearest(&self.photo_pdq, &pdq, photo_agrees) {
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
        if let Some((f, bits)) = self.same_face_picture(&self.photo_chip, &chips, case_emb) {
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
        let sighting_agrees = |s: u64| self.faces_agree(a, self.sighting_faces.get(&s));
        if let Some((s, bits)) = self.nearest(&self.sighting_pdq, &pdq, sighting_agrees) {
            return Some(dup(s, "pdq", bits));
        }
        let sighting_emb = |f| self.chip_sighting.get(&f).map(|x| x.1);
        if let Some((f, bits)) = self.same_face_picture(&self.sighting_chip, &chips, sighting_emb) {
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
                self.photo_faces
                    .entry(photo)
                    .or_default()
                    .push(rec.embedding);
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
                self.sighting_faces
                    .entry(id)
                    .or_default()
                    .push(rec.embedding);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeward_core::hash::PdqDihedral;
    use homeward_core::store::FaceRecord;

    fn photo(pdq_word: u64, chip_word: Option<u64>, emb0: f32) -> Analyzed {
        let mut embedding = [0.0; 128];
        embedding[0] = emb0;
        let chip = chip_word.map(|w| super::super::hash_bytes(&Hash256([w, 0, 0, 0])));
        Analyzed {
            bytes: Vec::new(),
            image: image::RgbImage::new(1, 1),
            faces: vec![FaceRecord {
                bbox: [0.0; 4],
                landmarks: [[0.0; 2]; 5],
                embedding,
                chip_hash: chip,
                model: "test".into(),
                vectors: Vec::new(),
            }],
            mirrored_chips: vec![None],
            pdq: Some(PdqDihedral {
                hashes: [Hash256([pdq_word, 0, 0, 0]); 8],
                quality: 100,
            }),
        }
    }

    fn index_with_sighting(stored: &Analyzed) -> DupIndex {
        let mut d = DupIndex::empty();
        d.add_sighting(7, 7, &[70], stored);
        d
    }

    #[test]
    fn a_hash_match_with_a_different_face_is_not_a_duplicate() {
        let stored = photo(0xFF, Some(0xF0F0), 0.0);
        let d = index_with_sighting(&stored);
        // Same photo hashes, same face: a duplicate of sighting 7.
        let same = photo(0xFF, Some(0xF0F0), 0.1);
        assert!(matches!(
            d.check(&same),
            Some(Repeat::Duplicate { group: 7, .. })
        ));
        // Same PDQ and chip hashes, but a face 0.5 away: another child, so
        // it must be ranked, not grouped.
        let other = photo(0xFF, Some(0xF0F0), 0.5);
        assert_eq!(d.check(&other), None);
        // Without faces on the new photo, PDQ alone decides.
        let mut no_face = photo(0xFF, None, 0.0);
        no_face.faces.clear();
        no_face.mirrored_chips.clear();
        assert!(matches!(
            d.check(&no_face),
            Some(Repeat::Duplicate { by: "pdq", .. })
        ));
    }
}
