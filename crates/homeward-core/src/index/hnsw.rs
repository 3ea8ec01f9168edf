//! Approximate search on our HNSW graph (`graph.rs`), with tombstones and
//! filtering inside the graph walk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::graph::{Graph, ReadError};
use super::{
    check_dim_supported, check_finite, check_len, Hit, IdFilter, IndexError, VectorIndex, DIM,
    DLIB_MODEL,
};

/// Largest id accepted: ids index a dense table, and registry row ids are dense.
pub(crate) const MAX_ID: u64 = (1 << 32) - 1;

/// Graph parameters. With the defaults (M = 32), recall@10 is 0.9925 at 1M
/// clustered face-like vectors (0.95 with M = 16) and ≥ 0.99 on real LFW
/// embeddings under filters; see `benches/hnsw.rs` and `docs/adr-index.md`.
/// A snapshot keeps the parameters it was built with.
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
            m: 32,
            ef_construction: 200,
            ef_search: 384,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Slot {
    Absent = 0,
    Live = 1,
    Tombstone = 2,
}

/// An HNSW graph over face embeddings.
///
/// Vectors live in one contiguous table and neighbour lists in fixed-width
/// `u32` arrays, so a snapshot loads with one read per file. Removal leaves a
/// tombstone that every search filters out inside the graph walk;
/// [`HnswIndex::compact`] rebuilds without them.
///
/// ```
/// use homeward_core::index::{HnswIndex, HnswParams, VectorIndex};
/// let mut idx = HnswIndex::new(HnswParams::default(), 10);
/// idx.insert(1, &[0.0; 128]).unwrap();
/// idx.insert(2, &[0.5; 128]).unwrap();
/// idx.remove(1);
/// assert_eq!(idx.search(&[0.0; 128], 5, None).unwrap()[0].id, 2);
/// // Any other dimension is its own model's index, checked on every call.
/// let mut wide = HnswIndex::for_model("wide", 512, HnswParams::default()).unwrap();
/// wide.insert(1, &[0.25; 512]).unwrap();
/// assert!(wide.insert(2, &[0.25; 128]).is_err());
/// assert!(wide.search(&[0.0; 128], 1, None).is_err());
/// ```
pub struct HnswIndex {
    /// The model whose vectors these are (named in errors).
    model: String,
    graph: Graph,
    params: HnswParams,
    slots: Vec<Slot>,
    n_live: usize,
    n_tomb: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("model", &self.model)
            .field("dim", &self.graph.dim())
            .field("params", &self.params)
            .field("live", &self.n_live)
            .field("tombstones", &self.n_tomb)
            .finish()
    }
}

/// Bytes-and-CRC counting wrapper used for snapshot files.
pub(crate) struct Crc<T> {
    inner: T,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl<T> Crc<T> {
    pub(crate) fn new(inner: T) -> Self {
        Crc {
            inner,
            hasher: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    /// (bytes seen, CRC-32 of them)
    pub(crate) fn finish(self) -> (u64, u32, T) {
        (self.len, self.hasher.finalize(), self.inner)
    }
}

impl<T: Write> Write for Crc<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Crc<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Length and CRC-32 of one written or expected snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileSum {
    pub(crate) len: u64,
    pub(crate) crc: u32,
}

impl HnswIndex {
    /// An empty graph of dlib's 128-d vectors sized for about `capacity`
    /// vectors.
    pub fn new(params: HnswParams, capacity: usize) -> Self {
        let _ = capacity; // arrays grow in batches; kept for API stability
        Self::empty(DLIB_MODEL, DIM, params)
    }

    /// An empty graph of `model`'s `dim`-long vectors
    /// (1..=[`super::MAX_DIM`]).
    pub fn for_model(model: &str, dim: usize, params: HnswParams) -> Result<Self, IndexError> {
        check_dim_supported(model, dim)?;
        Ok(Self::empty(model, dim, params))
    }

    fn empty(model: &str, dim: usize, params: HnswParams) -> Self {
        HnswIndex {
            model: model.to_string(),
            graph: Graph::new(params.m, params.ef_construction, dim),
            params,
            slots: Vec::new(),
            n_live: 0,
            n_tomb: 0,
        }
    }

    /// The length of every vector held (the model's dimension).
    pub fn dim(&self) -> usize {
        self.graph.dim()
    }

    /// The model whose vectors these are.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Refuses a vector of another length than this index's.
    #[inline]
    fn check_len(&self, v: &[f32]) -> Result<(), IndexError> {
        check_len(&self.model, self.graph.dim(), v)
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

    /// Approximate heap memory held by the graph and its tables, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.graph.heap_bytes() + self.slots.capacity()
    }

    fn slot(&self, id: u64) -> Slot {
        self.slots.get(id as usize).copied().unwrap_or(Slot::Absent)
    }

    fn check_new(&self, id: u64, v: &[f32]) -> Result<(), IndexError> {
        self.check_len(v)?;
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

    /// Inserts many vectors at once, linking them on all rayon threads.
    /// All are checked first; on error nothing is inserted.
    pub fn insert_batch<V: AsRef<[f32]>>(&mut self, items: &[(u64, V)]) -> Result<(), IndexError> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (id, v) in items {
            self.check_new(*id, v.as_ref())?;
            if !seen.insert(*id) {
                return Err(IndexError::DuplicateId { id: *id });
            }
        }
        // Checked above: every id fits in u32.
        let batch: Vec<(u32, &[f32])> = items
            .iter()
            .map(|(id, v)| (*id as u32, v.as_ref()))
            .collect();
        self.graph.add(&batch, true);
        if let Some(max) = items.iter().map(|(id, _)| *id).max() {
            if self.slots.len() <= max as usize {
                self.slots.resize(max as usize + 1, Slot::Absent);
            }
        }
        for (id, _) in items {
            self.mark_live(*id);
        }
        Ok(())
    }

    fn to_hits(&self, found: Vec<super::graph::Cand>) -> Vec<Hit> {
        found
            .into_iter()
            .map(|c| Hit {
                id: u64::from(self.graph.label(c.node)),
                distance: c.d.sqrt(),
            })
            .collect()
    }

    /// Search with an explicit candidate width `ef`. Fails on a query of
    /// another dimension.
    pub fn search_ef(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Hit>, IndexError> {
        self.check_len(query)?;
        if k == 0 || self.n_live == 0 {
            return Ok(Vec::new());
        }
        let found = if self.n_tomb == 0 && filter.is_none() {
            self.graph.search(query, k, ef, None)
        } else {
            let accept = |node: u32| {
                let id = self.graph.label(node);
                self.slots.get(id as usize) == Some(&Slot::Live)
                    && filter.is_none_or(|f| f(u64::from(id)))
            };
            self.graph.search(query, k, ef, Some(&accept))
        };
        let mut hits = self.to_hits(found);
        super::sort_hits(&mut hits);
        Ok(hits)
    }

    /// Exact scan over the vectors held in the graph (live and accepted
    /// only). Fails on a query of another dimension.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Hit>, IndexError> {
        self.check_len(query)?;
        let accept = |node: u32| {
            let id = self.graph.label(node);
            self.slots.get(id as usize) == Some(&Slot::Live)
                && filter.is_none_or(|f| f(u64::from(id)))
        };
        let mut hits = self.to_hits(self.graph.scan(query, k, &accept));
        super::sort_hits(&mut hits);
        Ok(hits)
    }

    /// Calls `f(id, vector)` for every live vector.
    pub fn for_each_live(&self, mut f: impl FnMut(u64, &[f32])) {
        for (v, &id) in self.graph.vectors().zip(self.graph.labels()) {
            let id = u64::from(id);
            if self.slot(id) == Slot::Live {
                f(id, v);
            }
        }
    }

    /// Rebuilds the graph from the live vectors only, dropping tombstoned
    /// vectors from memory.
    pub fn compact(&mut self) {
        let mut live: Vec<(u32, &[f32])> = self
            .graph
            .vectors()
            .zip(self.graph.labels())
            .filter(|(_, id)| self.slots.get(**id as usize) == Some(&Slot::Live))
            .map(|(v, id)| (*id, v))
            .collect();
        live.sort_by_key(|(id, _)| *id);
        let mut graph = Graph::new(self.params.m, self.params.ef_construction, self.dim());
        graph.add(&live, true);
        let mut slots = self.slots.clone();
        for s in slots.iter_mut() {
            if *s == Slot::Tombstone {
                *s = Slot::Absent;
            }
        }
        self.graph = graph;
        self.slots = slots;
        self.n_tomb = 0;
    }

    /// Writes `<basename>.hnsw.graph` (links, levels) and `.hnsw.data`
    /// (vectors, ids) into `dir`. Returns the two files' sums.
    pub(crate) fn dump(
        &self,
        dir: &Path,
        basename: &str,
    ) -> Result<(FileSum, FileSum), IndexError> {
        let (gp, dp) = dump_paths(dir, basename);
        let write = |p: &Path, f: &dyn Fn(&mut Crc<BufWriter<File>>) -> std::io::Result<()>| {
            let file = File::create(p).map_err(|e| IndexError::io(p, e))?;
            let mut w = Crc::new(BufWriter::with_capacity(1 << 20, file));
            f(&mut w).map_err(|e| IndexError::io(p, e))?;
            w.flush().map_err(|e| IndexError::io(p, e))?;
            let (len, crc, inner) = w.finish();
            let file = inner
                .into_inner()
                .map_err(|e| IndexError::io(p, e.into_error()))?;
            file.sync_all().map_err(|e| IndexError::io(p, e))?;
            Ok::<_, IndexError>(FileSum { len, crc })
        };
        let g = write(&gp, &|w| self.graph.write_graph(w))?;
        let d = write(&dp, &|w| self.graph.write_vectors(w))?;
        Ok((g, d))
    }

    /// Reads a dump of `model`'s `dim`-long vectors written by
    /// [`HnswIndex::dump`] in one pass per file, checking each file's length
    /// and CRC against `sums` before trusting it, then every link.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        dir: &Path,
        basename: &str,
        model: &str,
        dim: usize,
        params: HnswParams,
        sums: (FileSum, FileSum),
        store_max_id: Option<u64>,
    ) -> Result<Self, IndexError> {
        let (gp, dp) = dump_paths(dir, basename);
        let open = |p: &Path| -> Result<(Crc<BufReader<File>>, u64), IndexError> {
            let f = File::open(p).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => IndexError::Corrupt {
                    path: p.to_path_buf(),
                    what: "file missing".into(),
                },
                _ => IndexError::io(p, e),
            })?;
            let len = f.metadata().map_err(|e| IndexError::io(p, e))?.len();
            Ok((Crc::new(BufReader::with_capacity(1 << 16, f)), len))
        };
        let (mut gr, glen) = open(&gp)?;
        let (mut dr, dlen) = open(&dp)?;
        for (p, len, want) in [(&gp, glen, sums.0), (&dp, dlen, sums.1)] {
            if len != want.len {
                return Err(IndexError::Corrupt {
                    path: p.clone(),
                    what: format!("length {len}, header says {}", want.len),
                });
            }
        }
        let read = Graph::read(&mut gr, glen, &mut dr, dlen, params.ef_construction, dim);
        // Checksums first: a damaged file is reported as such, whatever
        // the parser made of it.
        let mut rest = [0u8; 1];
        for (r, p, want) in [(&mut gr, &gp, sums.0), (&mut dr, &dp, sums.1)] {
            if read.is_ok() && r.read(&mut rest).map_err(|e| IndexError::io(p, e))? != 0 {
                return Err(IndexError::Corrupt {
                    path: p.clone(),
                    what: "trailing bytes".into(),
                });
            }
            let (len, crc) = (r.len, r.hasher.clone().finalize());
            if read.is_ok() && (len != want.len || crc != want.crc) {
                return Err(IndexError::Corrupt {
                    path: p.clone(),
                    what: format!(
                        "length {len} / CRC {crc:08x}, header says {} / {:08x}",
                        want.len, want.crc
                    ),
                });
            }
        }
        let graph = read.map_err(|e| match e {
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                IndexError::Corrupt {
                    path: gp.clone(),
                    what: "truncated".into(),
                }
            }
            ReadError::Io(e) => IndexError::io(&gp, e),
            ReadError::Bad(what) => IndexError::Corrupt {
                path: gp.clone(),
                what,
            },
        })?;
        let mut idx = HnswIndex {
            model: model.to_string(),
            graph,
            params,
            slots: Vec::new(),
            n_live: 0,
            n_tomb: 0,
        };
        if let Some(&max) = idx.graph.labels().iter().max() {
            // The id table is dense up to the largest id: an id the store
            // does not have is refused before it sizes the table.
            if store_max_id.is_none_or(|store| u64::from(max) > store) {
                return Err(IndexError::Stale {
                    what: format!("the snapshot holds face {max}, which the store does not have"),
                });
            }
            idx.slots = vec![Slot::Absent; max as usize + 1];
        }
        for i in 0..idx.graph.len() {
            let id = u64::from(idx.graph.label(i as u32));
            if idx.slot(id) != Slot::Absent {
                return Err(IndexError::Corrupt {
                    path: dp.clone(),
                    what: format!("id {id} appears twice"),
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

fn dump_paths(dir: &Path, basename: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        dir.join(format!("{basename}.hnsw.graph")),
        dir.join(format!("{basename}.hnsw.data")),
    )
}

impl VectorIndex for HnswIndex {
    fn insert(&mut self, id: u64, v: &[f32]) -> Result<(), IndexError> {
        self.check_new(id, v)?;
        self.graph.add(&[(id as u32, v)], false);
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

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Hit>, IndexError> {
        self.search_ef(query, k, self.params.ef_search, filter)
    }

    fn len(&self) -> usize {
        self.n_live
    }

    fn dim(&self) -> usize {
        self.graph.dim()
    }
}
