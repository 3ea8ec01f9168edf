//! The registry store of record: cases, photos, faces, sightings, matches
//! and an append-only audit log in SQLite, with photo files stored by
//! content hash beside the database.
//!
//! ```text
//! <dir>/registry.sqlite     SQLite, WAL, user_version = schema version
//! <dir>/photos/ab/cdef…     photo bytes, named by their SHA-256 (hex)
//! <dir>/index/              face index snapshot (derived, rebuildable)
//! <dir>/tmp/                files being written (cleared at open)
//! ```
//!
//! Crash safety: a photo file is written to `tmp/`, fsynced and renamed into
//! place before the database transaction that refers to it commits, so no
//! row ever names a missing file. A file without a row (a crash between the
//! two steps, or during an erasure) is removed by the recovery pass at open.
//! See `docs/adr-store.md`.

mod account_store;
mod accounts;
#[cfg(feature = "contract-suite")]
#[doc(hidden)]
pub mod accounts_suite;
mod codec;
mod contract;
#[cfg(feature = "contract-suite")]
#[doc(hidden)]
pub mod contract_suite;
mod error;
mod files;
mod journal;
mod match_store;
mod matching;
pub mod model_checks;
mod model_index;
mod model_snapshot;
mod notes;
mod outbox;
mod read_store;
mod reads;
mod registry;
mod schema;
mod scores;
mod types;
mod vectors;

pub use account_store::{secret_digest, AccountStore};
pub use accounts::{
    AccessEntry, Accounts, Receipt, Role, RoleError, TokenInfo, User, ACCOUNTS_APPLICATION_ID,
    ACCOUNTS_SCHEMA_VERSION,
};
pub use codec::check_faces;
pub use contract::Store;
pub use error::StoreError;
pub use files::{sha256, PhotoFiles};
pub use journal::{
    check_event_text, check_person_name, event_kind, CaseEvent, CaseEventId, CaseEventKind,
};
pub use match_store::{MatchStore, Refreshed};
pub use matching::{
    enrolled_from, BatchItem, GalleryRow, MatchOrigin, MatchRow, NewMatch, SightingExtras,
    SightingHashes, StoredSighting,
};
pub use model_index::ModelIndexes;
pub use model_snapshot::model_snapshot_dir;
pub use outbox::{Outbox, OwedMatch, OwedQuery, SqliteOutbox};
pub use read_store::ReadStore;
pub use reads::{
    BatchStatus, CasePhoto, CaseSummary, PhotoDistance, QueueEntry, Reader, Reads, ReviewItem,
    SightingSummary,
};
pub use registry::{IndexOrigin, Registry};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use scores::{
    ScoreBand, ScoresError, StoredPair, StoredPrior, StoredScores, StoredWhy, SCORES_VERSION,
};
pub use types::{
    AuditEntry, Case, CaseId, CaseStatus, FaceId, FaceRecord, MatchId, MatchState, ModelVector,
    NewCase, NewSighting, PhotoHit, PhotoId, PhotoMeta, SearchHit, Sex, SightingId,
    EXPORT_FORMAT_VERSION,
};
pub use vectors::{FaceTable, Metric, ModelSpec, ModelStatus, PendingFace};
