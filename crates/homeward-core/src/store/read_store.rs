//! [`ReadStore`]: the typed reads of the pages, the API and the CLI as a
//! trait, so a front can hold any store's read connection
//! (`Box<dyn ReadStore + Send>`): SQLite's [`Reader`] (or [`Reads`] on the
//! registry's own connection) and PostgreSQL's `homeward_pg::PgReader`.
//!
//! Every implementation has SQLite's semantics, checked by the store
//! conformance suite: the same orders, the same counts, the same
//! [`StoreError::NotFound`] for an unknown id, and nothing of an erased
//! case.

use super::reads::{
    BatchStatus, CasePhoto, CaseSummary, PhotoDistance, QueueEntry, Reader, Reads, ReviewItem,
    SightingSummary,
};
use super::types::{CaseId, MatchId, PhotoId, SightingId};
use super::StoreError;
use crate::index::Embedding;

/// The typed reads (see the module docs). Object safe; every method reads
/// and changes nothing.
pub trait ReadStore {
    /// Whether this connection can no longer read (the database ended it),
    /// so a pool drops it and opens another. `false` for SQLite's readers.
    fn is_lost(&self) -> bool {
        false
    }
    /// Every case, newest first.
    fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError>;
    /// One case in list form ([`StoreError::NotFound`] for no such case).
    fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError>;
    /// A case's photos, youngest age first, photos of unknown age last
    /// (empty for no such case).
    fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError>;
    /// The child's age in a photo, in months (`None` when unknown;
    /// [`StoreError::NotFound`] for no such photo).
    fn photo_age_months(&self, photo: PhotoId) -> Result<Option<u32>, StoreError>;
    /// A case's photos with their smallest distance to any of `query`,
    /// nearest first (ties by photo id).
    fn case_photo_distances(
        &self,
        case: CaseId,
        query: &[Embedding],
    ) -> Result<Vec<PhotoDistance>, StoreError>;
    /// The newest `limit` sightings, newest first.
    fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError>;
    /// One sighting ([`StoreError::NotFound`] for no such sighting).
    fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError>;
    /// Content hash of a sighting's photo ([`StoreError::NotFound`] for no
    /// such sighting).
    fn sighting_photo_hash(&self, id: SightingId) -> Result<[u8; 32], StoreError>;
    /// Embeddings of a sighting's faces, in face order (empty for no such
    /// sighting).
    fn sighting_embeddings(&self, id: SightingId) -> Result<Vec<Embedding>, StoreError>;
    /// The review queue: pending matches (every match with `all`), lowest
    /// rank key first, matches without one last, then by id.
    fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError>;
    /// One match with its sighting, its case and the case's photos nearest
    /// the sighting's faces ([`StoreError::NotFound`] for no such match).
    fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError>;
    /// Every batch run against this registry, most recently active first
    /// (ties by name, bytewise).
    fn batches(&self) -> Result<Vec<BatchStatus>, StoreError>;
    /// One batch's progress (`None` for no such batch).
    fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError>;
}

/// Calls the inherent method of the same name on the [`Reads`] that
/// `$reads(self)` returns.
macro_rules! delegate {
    ($reads:path) => {
        fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError> {
            Reads::case_summaries(&$reads(self))
        }
        fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError> {
            Reads::case_summary(&$reads(self), id)
        }
        fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError> {
            Reads::case_photos(&$reads(self), case)
        }
        fn photo_age_months(&self, photo: PhotoId) -> Result<Option<u32>, StoreError> {
            Reads::photo_age_months(&$reads(self), photo)
        }
        fn case_photo_distances(
            &self,
            case: CaseId,
            query: &[Embedding],
        ) -> Result<Vec<PhotoDistance>, StoreError> {
            Reads::case_photo_distances(&$reads(self), case, query)
        }
        fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError> {
            Reads::sighting_summaries(&$reads(self), limit)
        }
        fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError> {
            Reads::sighting_summary(&$reads(self), id)
        }
        fn sighting_photo_hash(&self, id: SightingId) -> Result<[u8; 32], StoreError> {
            Reads::sighting_photo_hash(&$reads(self), id)
        }
        fn sighting_embeddings(&self, id: SightingId) -> Result<Vec<Embedding>, StoreError> {
            Reads::sighting_embeddings(&$reads(self), id)
        }
        fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError> {
            Reads::review_queue(&$reads(self), all)
        }
        fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError> {
            Reads::review_item(&$reads(self), id)
        }
        fn batches(&self) -> Result<Vec<BatchStatus>, StoreError> {
            Reads::batches(&$reads(self))
        }
        fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError> {
            Reads::batch_status(&$reads(self), name)
        }
    };
}

fn same<'a>(r: &Reads<'a>) -> Reads<'a> {
    *r
}

impl ReadStore for Reads<'_> {
    delegate!(same);
}

impl ReadStore for Reader {
    delegate!(Reader::reads);
}

#[allow(dead_code)]
fn _assert_object_safe_and_send() {
    fn send<T: Send>() {}
    send::<Reader>();
    send::<Box<dyn ReadStore + Send>>();
    fn boxed(r: Reader) -> Box<dyn ReadStore + Send> {
        Box::new(r)
    }
}
