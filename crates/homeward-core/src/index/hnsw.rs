//! Approximate search on an `hnsw_rs` graph, with tombstones and filtering
//! inside the graph walk.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use hnsw_rs::prelude::{AnnT, Hnsw, HnswIo, ReloadOptions};

use super::flat::TopK;
use super::{check_finite, sort_hits, Embedding, FaceL2, Hit, IdFilter, IndexError, VectorIndex};

/// Largest id accepted: ids index a dense table, and registry row ids are dense.
pub(crate) const MAX_ID: u64 = (1 << 32) - 1;

/// Graph parameters. The defaults reach recall@10 ≈ 0.99 on synthetic face-like data
/// (see `benches/hnsw.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper layers (layer 0 keeps twice as many).
    pub m: usize,
    /// Candidate list width while inserting.
    pub ef_construction: usize,
    /// Candidate list width while searching (raised to `k` when smaller).
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 384,
        }
    }
}

const MAX_LAYER: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Slot {
    Absent = 0,
    Live = 1,
    Tombstone = 2,
}

/// An HNSW graph over face embeddings.
///
/// Removal leaves a tombstone that every search filters out inside the graph
/// walk; [`HnswIndex::compact`] rebuilds without them.
///
/// ```
/// use homeward_core::index::{HnswIndex, HnswParams, VectorIndex};
/// let mut idx = HnswIndex::new(HnswParams::default(), 10);
/// idx.insert(1, &[0.0; 128]).unwrap();
/// idx.insert(2, &[0.5; 128]).unwrap();
/// idx.remove(1);
/// assert_eq!(idx.search(&[0.0; 128], 5, None)[0].id, 2);
/// ```
pub struct HnswIndex {
    // Field order is drop order: `graph` may borrow the memory map owned by
    // `io` (after a reload), so it must be dropped first.
    graph: Hnsw<'static, f32, FaceL2>,
    io: Option<Box<HnswIo>>,
    params: HnswParams,
    slots: Vec<Slot>,
    n_live: usize,
    n_tomb: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("params", &self.params)
            .field("live", &self.n_live)
            .field("tombstones", &self.n_tomb)
            .field("mmapped", &self.io.is_some())
            .finish()
    }
}

impl HnswIndex {
    /// An empty graph sized for about `capacity` vectors.
    pub fn new(params: HnswParams, capacity: usize) -> Self {
        let graph = Hnsw::new(
            params.m,
            capacity.max(16),
            MAX_LAYER,
            params.ef_construction,
            FaceL2,
        );
        HnswIndex {
            graph,
            io: None,
            params,
            slots: Vec::new(),
            n_live: 0,
            n_tomb: 0,
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search width (takes effect on the next search).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// Number of tombstoned (removed but still linked) vectors.
    pub fn tombstones(&self) -> usize {
        self.n_tomb
    }

    /// Tombstones over all vectors in the graph.
    pub fn tombstone_ratio(&self) -> f64 {
        let total = self.n_live + self.n_tomb;
        if total == 0 {
            0.0
        } else {
            self.n_tomb as f64 / total as f64
        }
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.slot(id) == Slot::Live
    }

    fn slot(&self, id: u64) -> Slot {
        self.slots.get(id as usize).copied().unwrap_or(Slot::Absent)
    }

    fn check_new(&self, id: u64, v: &Embedding) -> Result<(), IndexError> {
        check_finite(id, v)?;
        if id > MAX_ID {
            return Err(IndexError::IdTooLarge { id, max: MAX_ID });
        }
        if self.slot(id) != Slot::Absent {
            return Err(IndexError::DuplicateId { id });
        }
        Ok(())
    }

    fn mark_live(&mut self, id: u64) {
        let i = id as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, Slot::Absent);
        }
        self.slots[i] = Slot::Live;
        self.n_live += 1;
    }

    /// Inserts many vectors at once, in parallel. All are checked first;
    /// on error nothing is inserted.
    pub fn insert_batch(&mut self, items: &[(u64, &Embedding)]) -> Result<(), IndexError> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (id, v) in items {
            self.check_new(*id, v)?;
            if !seen.insert(*id) {
                return Err(IndexError::DuplicateId { id: *id });
            }
        }
        let batch: Vec<(&[f32], usize)> =
            items.iter().map(|(id, v)| (&v[..], *id as usize)).collect();
        self.graph.parallel_insert_slice(&batch);
        for (id, _) in items {
            self.mark_live(*id);
        }
        Ok(())
    }

    /// Search with an explicit candidate width `ef`.
    pub fn search_ef(
        &self,
        query: &Embedding,
        k: usize,
        ef: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<Hit> {
        if k == 0 || self.n_live == 0 {
            return Vec::new();
        }
        let ef = ef.max(k);
        let raw = if self.n_tomb == 0 && filter.is_none() {
            self.graph.search(query, k, ef)
        } else {
            let slots = &self.slots;
            let accept = move |id: &usize| {
                slots.get(*id).copied() == Some(Slot::Live) && filter.is_none_or(|f| f(*id as u64))
            };
            // Ask for all `ef` candidates: hnsw_rs filters after truncating to
            // the requested count, which would otherwise lose accepted hits.
            self.graph.search_filter(query, ef, ef, Some(&accept))
        };
        let mut hits: Vec<Hit> = raw
            .into_iter()
            .map(|n| Hit {
                id: n.d_id as u64,
                distance: n.distance,
            })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// Exact scan over the vectors held in the graph (live and accepted only).
    pub fn search_exact(
        &self,
        query: &Embedding,
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<Hit> {
        let mut top = TopK::new(k);
        for p in self.graph.get_point_indexation() {
            let id = p.get_origin_id() as u64;
            if self.slot(id) == Slot::Live && filter.is_none_or(|f| f(id)) {
                top.push(id, super::l2(query, p.get_v()));
            }
        }
        top.into_sorted()
    }

    /// Calls `f(id, vector)` for every live vector.
    pub fn for_each_live(&self, mut f: impl FnMut(u64, &[f32])) {
        for p in self.graph.get_point_indexation() {
            let id = p.get_origin_id() as u64;
            if self.slot(id) == Slot::Live {
                f(id, p.get_v());
            }
        }
    }

    /// Rebuilds the graph from the live vectors only, dropping tombstoned
    /// vectors from memory.
    pub fn compact(&mut self) {
        let mut live: Vec<(u64, Embedding)> = Vec::with_capacity(self.n_live);
        self.for_each_live(|id, v| {
            let mut e = [0f32; super::DIM];
            e.copy_from_slice(&v[..super::DIM.min(v.len())]);
            live.push((id, e));
        });
        live.sort_by_key(|(id, _)| *id);
        let mut fresh = HnswIndex::new(self.params, live.len());
        let refs: Vec<(u64, &Embedding)> = live.iter().map(|(id, v)| (*id, v)).collect();
        // The vectors came out of this index, so they are finite and unique.
        if fresh.insert_batch(&refs).is_ok() {
            *self = fresh;
        }
    }

    /// Writes the hnsw_rs dump (`<basename>.hnsw.graph`, `.hnsw.data`) into
    /// `dir`, which must exist and be empty. Returns the basename used.
    pub(crate) fn dump(&self, dir: &Path, basename: &str) -> Result<String, IndexError> {
        let res = catch_unwind(AssertUnwindSafe(|| self.graph.file_dump(dir, basename)));
        match res {
            Ok(Ok(name)) => Ok(name),
            Ok(Err(e)) => Err(IndexError::Hnsw {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }),
            Err(_) => Err(IndexError::Hnsw {
                path: dir.to_path_buf(),
                message: "dump panicked".into(),
            }),
        }
    }

    /// Reloads a dump written by [`HnswIndex::dump`], memory-mapping the
    /// vector data. The caller must have verified the files' checksums.
    pub(crate) fn load(dir: &Path, basename: &str, params: HnswParams) -> Result<Self, IndexError> {
        let options = ReloadOptions::default().set_mmap(true);
        let io = Box::into_raw(Box::new(HnswIo::new_with_options(dir, basename, options)));
        // SAFETY: `io` is a fresh heap allocation that nothing else refers to.
        // The loaded graph borrows it (and the memory map it owns) for
        // `'static`; that is sound because the allocation is owned by the
        // returned `HnswIndex` in `io`, never moved out or touched again, and
        // dropped only after `graph` (field order). On failure it is freed
        // below once the borrow is gone.
        let loaded = catch_unwind(AssertUnwindSafe(|| unsafe {
            (*io).load_hnsw::<f32, FaceL2>()
        }));
        // SAFETY: `io` came from `Box::into_raw` above and is reclaimed once.
        let io = unsafe { Box::from_raw(io) };
        let graph = match loaded {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                drop(io);
                return Err(IndexError::Hnsw {
                    path: dir.to_path_buf(),
                    message: e.to_string(),
                });
            }
            Err(_) => {
                drop(io);
                return Err(IndexError::Hnsw {
                    path: dir.to_path_buf(),
                    message: "reload panicked (inconsistent dump)".into(),
                });
            }
        };
        let mut idx = HnswIndex {
            graph,
            io: Some(io),
            params,
            slots: Vec::new(),
            n_live: 0,
            n_tomb: 0,
        };
        let mut ids = Vec::with_capacity(idx.graph.get_nb_point());
        for p in idx.graph.get_point_indexation() {
            ids.push((p.get_origin_id() as u64, p.get_v().len()));
        }
        for (id, dim) in ids {
            if dim != super::DIM || id > MAX_ID || idx.slot(id) != Slot::Absent {
                return Err(IndexError::Corrupt {
                    path: dir.to_path_buf(),
                    what: format!("point {id} has dimension {dim} or is duplicated"),
                });
            }
            idx.mark_live(id);
        }
        Ok(idx)
    }

    /// Ids of all live vectors, ascending.
    pub fn live_ids(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == Slot::Live)
            .map(|(i, _)| i as u64)
            .collect()
    }
}

impl VectorIndex for HnswIndex {
    fn insert(&mut self, id: u64, v: &Embedding) -> Result<(), IndexError> {
        self.check_new(id, v)?;
        self.graph.insert_slice((&v[..], id as usize));
        self.mark_live(id);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> bool {
        if self.slot(id) != Slot::Live {
            return false;
        }
        self.slots[id as usize] = Slot::Tombstone;
        self.n_live -= 1;
        self.n_tomb += 1;
        true
    }

    fn search(&self, query: &Embedding, k: usize, filter: Option<IdFilter<'_>>) -> Vec<Hit> {
        self.search_ef(query, k, self.params.ef_search, filter)
    }

    fn len(&self) -> usize {
        self.n_live
    }
}
