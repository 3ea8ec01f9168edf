//! Errors of the face index.

use std::path::PathBuf;

/// What can go wrong in the face index. Every snapshot error means "rebuild
/// from the store": the index is derived data.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An id was inserted twice.
    #[error("vector id {id} is already in the index; remove it first or use a new id")]
    DuplicateId {
        /// The id.
        id: u64,
    },
    /// An embedding holds NaN or infinity.
    #[error("embedding for id {id} has a non-finite value at position {position}; check the face pipeline output")]
    NonFinite {
        /// The id.
        id: u64,
        /// Index of the first bad value.
        position: usize,
    },
    /// A vector's length is not the dimension of the index it was given to.
    #[error(
        "{model} index holds {expected}-d vectors, but a {found}-d vector was given; \
         give this index vectors of {model} only (a vector from another model, or a \
         model version with another dimension, needs its own index)"
    )]
    WrongDimension {
        /// The model whose index it is.
        model: String,
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A model declares a dimension no index can hold.
    #[error(
        "{model} declares {dim}-d vectors; an index holds 1 to {max} numbers per vector, \
         so check the model's declared dimension"
    )]
    UnsupportedDimension {
        /// The model.
        model: String,
        /// Its declared dimension.
        dim: usize,
        /// The largest supported.
        max: usize,
    },
    /// A snapshot was written for vectors of another dimension than its
    /// model's index holds.
    #[error(
        "index snapshot {path} holds {found}-d vectors, but {model} gives {expected}-d \
         vectors; it will be deleted and rebuilt from the store's vectors"
    )]
    SnapshotDimension {
        /// The snapshot header.
        path: PathBuf,
        /// The model the snapshot was loaded for.
        model: String,
        /// The model's dimension.
        expected: usize,
        /// The dimension in the header.
        found: usize,
    },
    /// An id is too large for the dense id table.
    #[error("vector id {id} exceeds the supported maximum {max}; ids must be dense row ids")]
    IdTooLarge {
        /// The id.
        id: u64,
        /// The largest accepted id.
        max: u64,
    },
    /// Reading or writing a snapshot file failed.
    #[error("snapshot I/O on {path}: {source}; check permissions and free space, or delete the snapshot to rebuild")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No snapshot exists.
    #[error("no index snapshot at {path}; the index will be rebuilt from the store")]
    NoSnapshot {
        /// The snapshot header path.
        path: PathBuf,
    },
    /// The file is not a Homeward index snapshot.
    #[error(
        "{path} is not a Homeward index snapshot (bad magic); delete it to rebuild from the store"
    )]
    NotASnapshot {
        /// The file.
        path: PathBuf,
    },
    /// The snapshot's format version is not readable by this build.
    #[error("{path} has snapshot format {found}, this build reads {oldest}..={current}; rebuild the index from the store")]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Oldest readable version.
        oldest: u32,
        /// Current version.
        current: u32,
    },
    /// The snapshot is damaged (checksum, length or layout mismatch).
    #[error("index snapshot {path} is corrupt ({what}); it will be rebuilt from the store")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What did not match.
        what: String,
    },
    /// The snapshot is intact but does not describe the store's current faces.
    #[error("index snapshot is stale ({what}); it will be rebuilt from the store")]
    Stale {
        /// What did not match.
        what: String,
    },
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }
}
