//! The face vector index: which stored faces are nearest to a query embedding.
//!
//! The index is *derived* data. The registry store ([`crate::store`]) is the
//! record; every index here can be rebuilt from it at any time, and a snapshot
//! that is stale, corrupt or of a foreign format is refused so that the caller
//! rebuilds instead of trusting it.
//!
//! - [`FlatIndex`]: exact brute force. Ground truth for tests, and the fallback
//!   for very selective filters.
//! - [`HnswIndex`]: approximate search on our own HNSW graph (`graph.rs`,
//!   flat arrays; `docs/adr-index.md`), with tombstones and filtering inside
//!   the graph walk.
//! - [`FaceIndex`]: what the registry uses. Adds per-face case attributes,
//!   [`SearchFilter`]s, per-case grouping and versioned snapshots.
//!
//! Distances are Euclidean (L2) on raw, un-normalised dlib embeddings, so the
//! usual dlib threshold of 0.6 keeps its meaning. See `docs/adr-index.md`.
//!
//! Every index has one dimension, its model's (dlib's 128 by default; any
//! other from 1 to [`MAX_DIM`] for another model's index), checked on every
//! insert and search: a vector of another length is a typed error naming
//! the model, never a panic. 128 keeps its own distance kernel.

mod distance;
mod error;
mod face;
mod flat;
mod graph;
mod hnsw;
mod snapshot;

pub use distance::l2;
pub use error::IndexError;
pub use face::{CaseHit, FaceIndex, FaceMeta, GeoRadius, SearchFilter, COMPACT_RATIO};
pub use flat::FlatIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use snapshot::{SnapshotInfo, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_OLDEST_READABLE};

/// Dimension of a dlib face embedding: the primary model's, and the
/// dimension of an index made with `new` (every other model's index takes
/// its model's dimension: [`FaceIndex::for_model`]).
pub const DIM: usize = 128;

/// Widest vector an index holds. Face models give 128 to 512 numbers; the
/// bound keeps a damaged model record or snapshot header from sizing
/// anything absurd.
pub const MAX_DIM: usize = 4096;

/// The model name of an index made with `new` (dlib's ResNet).
pub const DLIB_MODEL: &str = "dlib";

/// One dlib face embedding.
pub type Embedding = [f32; DIM];

/// One search result: a vector id and its Euclidean distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The id given at insertion (the registry uses face row ids).
    pub id: u64,
    /// Euclidean distance to the query.
    pub distance: f32,
}

/// A predicate on vector ids, evaluated during the search.
pub type IdFilter<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// What every vector index backend offers. The same test suite runs against
/// each implementation through `&mut dyn VectorIndex`. Every vector given
/// must have the index's dimension ([`VectorIndex::dim`]); another length
/// is [`IndexError::WrongDimension`], never a panic.
pub trait VectorIndex {
    /// Adds `v` under `id`. Fails on a duplicate id, a non-finite value or
    /// a vector of another dimension.
    fn insert(&mut self, id: u64, v: &[f32]) -> Result<(), IndexError>;
    /// Removes `id`; it is never returned again. Returns whether it was live.
    fn remove(&mut self, id: u64) -> bool;
    /// The `k` nearest live vectors accepted by `filter`, nearest first.
    /// Fails on a query of another dimension.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Hit>, IndexError>;
    /// Number of live vectors.
    fn len(&self) -> usize;
    /// Whether no live vector is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The length of every vector held.
    fn dim(&self) -> usize;
}

/// Refuses a dimension an index cannot hold (0, or above [`MAX_DIM`]).
fn check_dim_supported(model: &str, dim: usize) -> Result<(), IndexError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(IndexError::UnsupportedDimension {
            model: model.to_string(),
            dim,
            max: MAX_DIM,
        });
    }
    Ok(())
}

/// Refuses a vector of `model`'s index whose length is not `dim`.
#[inline]
fn check_len(model: &str, dim: usize, v: &[f32]) -> Result<(), IndexError> {
    if v.len() != dim {
        return Err(IndexError::WrongDimension {
            model: model.to_string(),
            expected: dim,
            found: v.len(),
        });
    }
    Ok(())
}

/// Checks that every value is finite; NaN would poison graph ordering.
fn check_finite(id: u64, v: &[f32]) -> Result<(), IndexError> {
    if let Some(pos) = v.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite { id, position: pos });
    }
    Ok(())
}

/// Sorts hits nearest first, ties by id so results are deterministic.
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
}
