//! [`MatchStore`]: what the matching library reads and writes beyond the
//! [`Store`] contract (sightings' faces and hashes, candidate matches,
//! batch items). [`Registry`] (SQLite) and `homeward-pg`'s store implement
//! it; the conformance suite runs against both.

use super::matching::{BatchItem, GalleryRow, MatchRow, NewMatch, SightingHashes, StoredSighting};
use super::registry::Registry;
use super::types::{CaseId, FaceId, FaceRecord, MatchId, PhotoId, SightingId};
use super::{Store, StoreError};
use crate::index::{Embedding, FaceIndex};
use std::collections::HashMap;
use std::path::PathBuf;

/// What [`MatchStore::refresh`] applied of other processes' writes, for
/// the caller's own in-memory state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Case photos, their faces or their hashes changed elsewhere, or the
    /// indexes were rebuilt: whatever was derived from case photos must be
    /// read again.
    pub case_photos: bool,
    /// Sightings recorded since the last refresh (by any process, this one
    /// included), in commit order: add those not yet known.
    pub sightings: Vec<SightingId>,
}

/// The rows the matching library ranks and deduplicates with, on any
/// store. Writes are atomic with their audit entry, as for [`Store`].
pub trait MatchStore: Store {
    /// Every face of a case's photos with the photo's facts, by face id.
    fn case_gallery(&self, case: CaseId) -> Result<Vec<GalleryRow>, StoreError>;
    /// A photo's case and content hash.
    fn photo(&self, id: PhotoId) -> Result<(CaseId, [u8; 32]), StoreError>;
    /// A sighting.
    fn sighting(&self, id: SightingId) -> Result<StoredSighting, StoreError>;
    /// Number of sightings.
    fn sighting_count(&self) -> Result<u64, StoreError>;
    /// The faces of a sighting, by id.
    fn sighting_faces(&self, sighting: SightingId)
        -> Result<Vec<(FaceId, FaceRecord)>, StoreError>;
    /// Faces of the sightings a new case is matched against: one sighting
    /// per duplicate group (its first), never poster reposts; by face id.
    fn matchable_sighting_faces(&self) -> Result<Vec<(FaceId, SightingId, Embedding)>, StoreError>;
    /// PDQ hashes of case photos (not of photos enrolled from sightings):
    /// `(photo, case, hash)`, in the order they were stored.
    fn photo_hashes(&self) -> Result<Vec<(PhotoId, CaseId, [u8; 32])>, StoreError>;
    /// PDQ hashes of sightings: `(sighting, group, hash)`, the group being
    /// the sighting's duplicate group or itself; in the order stored.
    fn sighting_hashes(&self) -> Result<Vec<(SightingId, SightingId, [u8; 32])>, StoreError>;
    /// Face-chip hashes of case photos not enrolled from sightings:
    /// `(face, photo, case, hash, embedding)`, by face id.
    #[allow(clippy::type_complexity)]
    fn case_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, PhotoId, CaseId, [u8; 32], Embedding)>, StoreError>;
    /// Face-chip hashes of sightings: `(face, sighting, group, hash,
    /// embedding)`, by face id.
    #[allow(clippy::type_complexity)]
    fn sighting_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, SightingId, SightingId, [u8; 32], Embedding)>, StoreError>;
    /// [`MatchStore::sighting_hashes`] and
    /// [`MatchStore::sighting_chip_hashes`] of these sightings only (those
    /// [`MatchStore::refresh`] reported), in the same orders.
    fn hashes_of_sightings(&self, ids: &[SightingId]) -> Result<SightingHashes, StoreError>;
    /// Stores the PDQ hash (and its quality) of a case photo.
    fn set_photo_hash(
        &mut self,
        actor: &str,
        photo: PhotoId,
        pdq: [u8; 32],
        quality: u8,
    ) -> Result<(), StoreError>;
    /// Records a candidate match between an existing sighting face and a
    /// case, unless that sighting and case already have a match (in any
    /// state). Returns the new match id, or `None` when one existed.
    fn add_candidate(
        &mut self,
        actor: &str,
        sighting: SightingId,
        m: &NewMatch,
    ) -> Result<Option<MatchId>, StoreError>;
    /// Matches of one sighting, in queue order (`rank_key`, then id).
    fn matches_of_sighting(&self, sighting: SightingId) -> Result<Vec<MatchRow>, StoreError>;
    /// Items of a batch, in item order.
    fn batch_items(&self, batch: &str) -> Result<Vec<BatchItem>, StoreError>;
    /// Items of a batch already recorded with a sighting.
    fn batch_done(&self, batch: &str) -> Result<HashMap<String, SightingId>, StoreError> {
        Ok(self
            .batch_items(batch)?
            .into_iter()
            .filter_map(|b| Some((b.item, b.sighting_id?)))
            .collect())
    }
    /// The sighting one batch item was recorded with, if it is done (one
    /// row's lookup, where [`MatchStore::batch_done`] reads the whole batch).
    fn batch_item_sighting(
        &self,
        batch: &str,
        item: &str,
    ) -> Result<Option<SightingId>, StoreError>;
    /// The in-memory index of case faces (dlib's embeddings).
    fn index(&self) -> &FaceIndex;
    /// Where the bytes of the photo with this content hash are stored.
    fn photo_path(&self, sha256: &[u8; 32]) -> PathBuf;
    /// Brings the in-memory indexes up to date with what other processes
    /// committed, and says what the caller's own in-memory state (the
    /// duplicate index) must learn ([`Refreshed::default`] for a store only
    /// this process writes).
    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        Ok(Refreshed::default())
    }
    /// Where the registry is, for messages: a directory, or a database
    /// address without its password.
    fn location(&self) -> String;
    /// The SQLite registry behind this store, if that is what it is (for
    /// SQLite-only features such as pooled read connections).
    fn as_sqlite(&self) -> Option<&Registry> {
        None
    }
    /// Closes the store cleanly (SQLite saves its index snapshot).
    fn close(self: Box<Self>) -> Result<(), StoreError>;
}

impl MatchStore for Registry {
    fn case_gallery(&self, case: CaseId) -> Result<Vec<GalleryRow>, StoreError> {
        Registry::case_gallery(self, case)
    }
    fn photo(&self, id: PhotoId) -> Result<(CaseId, [u8; 32]), StoreError> {
        Registry::photo(self, id)
    }
    fn sighting(&self, id: SightingId) -> Result<StoredSighting, StoreError> {
        Registry::sighting(self, id)
    }
    fn sighting_count(&self) -> Result<u64, StoreError> {
        Registry::sighting_count(self)
    }
    fn sighting_faces(
        &self,
        sighting: SightingId,
    ) -> Result<Vec<(FaceId, FaceRecord)>, StoreError> {
        Registry::sighting_faces(self, sighting)
    }
    fn matchable_sighting_faces(&self) -> Result<Vec<(FaceId, SightingId, Embedding)>, StoreError> {
        Registry::matchable_sighting_faces(self)
    }
    fn photo_hashes(&self) -> Result<Vec<(PhotoId, CaseId, [u8; 32])>, StoreError> {
        Registry::photo_hashes(self)
    }
    fn sighting_hashes(&self) -> Result<Vec<(SightingId, SightingId, [u8; 32])>, StoreError> {
        Registry::sighting_hashes(self)
    }
    fn case_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, PhotoId, CaseId, [u8; 32], Embedding)>, StoreError> {
        Registry::case_chip_hashes(self)
    }
    fn sighting_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, SightingId, SightingId, [u8; 32], Embedding)>, StoreError> {
        Registry::sighting_chip_hashes(self)
    }
    fn hashes_of_sightings(&self, ids: &[SightingId]) -> Result<SightingHashes, StoreError> {
        Registry::hashes_of_sightings(self, ids)
    }
    fn set_photo_hash(
        &mut self,
        actor: &str,
        photo: PhotoId,
        pdq: [u8; 32],
        quality: u8,
    ) -> Result<(), StoreError> {
        Registry::set_photo_hash(self, actor, photo, pdq, quality)
    }
    fn add_candidate(
        &mut self,
        actor: &str,
        sighting: SightingId,
        m: &NewMatch,
    ) -> Result<Option<MatchId>, StoreError> {
        Registry::add_candidate(self, actor, sighting, m)
    }
    fn matches_of_sighting(&self, sighting: SightingId) -> Result<Vec<MatchRow>, StoreError> {
        Registry::matches_of_sighting(self, sighting)
    }
    fn batch_items(&self, batch: &str) -> Result<Vec<BatchItem>, StoreError> {
        Registry::batch_items(self, batch)
    }
    fn batch_done(&self, batch: &str) -> Result<HashMap<String, SightingId>, StoreError> {
        Registry::batch_done(self, batch)
    }
    fn batch_item_sighting(
        &self,
        batch: &str,
        item: &str,
    ) -> Result<Option<SightingId>, StoreError> {
        Registry::batch_item_sighting(self, batch, item)
    }
    fn index(&self) -> &FaceIndex {
        Registry::index(self)
    }
    fn photo_path(&self, sha256: &[u8; 32]) -> PathBuf {
        Registry::photo_path(self, sha256)
    }
    fn location(&self) -> String {
        self.dir().display().to_string()
    }
    fn as_sqlite(&self) -> Option<&Registry> {
        Some(self)
    }
    fn close(self: Box<Self>) -> Result<(), StoreError> {
        Registry::close(*self)
    }
}
