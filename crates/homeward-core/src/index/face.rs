//! Face-level index used by the registry: case attributes per face,
//! filters evaluated inside the graph walk, per-case grouping, snapshots.

use std::collections::HashMap;
use std::path::Path;

use super::snapshot::{self, SnapshotInfo};
use super::{Hit, HnswIndex, HnswParams, IndexError, VectorIndex, DIM, DLIB_MODEL};
use crate::rules::{CaseStatus, Sex};

/// Share of tombstones above which [`FaceIndex::remove`] rebuilds the graph.
pub const COMPACT_RATIO: f64 = 0.2;

/// Below this estimated share of accepted faces, search scans exactly.
const EXACT_FRACTION: f64 = 0.03;
/// Below this estimated number of accepted faces, search scans exactly.
const EXACT_COUNT: f64 = 2_000.0;
/// Number of faces sampled to estimate a filter's selectivity.
const SAMPLE: usize = 4_096;

/// Case attributes copied next to each face so filters run in the graph walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceMeta {
    /// The case the face belongs to.
    pub case_id: u64,
    /// The child's sex as recorded.
    pub sex: Sex,
    /// Birth year, if known.
    pub birth_year: Option<i32>,
    /// Where the child went missing (latitude, longitude), if known.
    pub location: Option<(f64, f64)>,
    /// Case status.
    pub status: CaseStatus,
}

/// A circle on the globe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoRadius {
    /// Centre latitude in degrees.
    pub lat: f64,
    /// Centre longitude in degrees.
    pub lon: f64,
    /// Radius in kilometres.
    pub km: f64,
}

impl GeoRadius {
    fn contains(&self, lat: f64, lon: f64) -> bool {
        // Haversine on a 6371 km sphere: ample for a region filter.
        let (p1, p2) = (self.lat.to_radians(), lat.to_radians());
        let dp = p2 - p1;
        let dl = (lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * 6371.0 * a.sqrt().min(1.0).asin() <= self.km
    }
}

/// Restricts a search. Every criterion left empty accepts everything.
///
/// A record whose attribute is *unknown* (sex unknown, no birth year, no
/// coordinates) is accepted: a child must never be hidden because a field
/// was left blank.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    /// Only this sex (unknown-sex cases always pass).
    pub sex: Option<Sex>,
    /// Only children born in this inclusive year range.
    pub born_between: Option<(i32, i32)>,
    /// Only cases that went missing inside this circle.
    pub near: Option<GeoRadius>,
    /// Only cases in one of these states (empty: any).
    pub statuses: Vec<CaseStatus>,
}

impl SearchFilter {
    /// Whether no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.sex.is_none()
            && self.born_between.is_none()
            && self.near.is_none()
            && self.statuses.is_empty()
    }

    /// Whether a face with these attributes passes.
    pub fn accepts(&self, m: &FaceMeta) -> bool {
        if let Some(s) = self.sex {
            if m.sex != Sex::Unknown && s != Sex::Unknown && m.sex != s {
                return false;
            }
        }
        if let (Some((lo, hi)), Some(y)) = (self.born_between, m.birth_year) {
            if y < lo || y > hi {
                return false;
            }
        }
        if let (Some(r), Some((lat, lon))) = (self.near, m.location) {
            if !r.contains(lat, lon) {
                return false;
            }
        }
        self.statuses.is_empty() || self.statuses.contains(&m.status)
    }
}

/// One case in a grouped search: its best faces, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseHit {
    /// The case.
    pub case_id: u64,
    /// Distance of its nearest face.
    pub distance: f32,
    /// Its nearest faces found (at most `per_case`), nearest first.
    pub faces: Vec<Hit>,
}

/// The registry's face index. See the module docs.
///
/// ```
/// use homeward_core::index::{FaceIndex, FaceMeta, HnswParams, SearchFilter};
/// use homeward_core::store::{CaseStatus, Sex};
/// let meta = |case_id| FaceMeta { case_id, sex: Sex::Female, birth_year: Some(2015),
///     location: None, status: CaseStatus::Searching };
/// let mut idx = FaceIndex::new(HnswParams::default());
/// idx.insert(1, &[0.0; 128], meta(10)).unwrap();
/// idx.insert(2, &[0.1; 128], meta(10)).unwrap();
/// idx.insert(3, &[0.2; 128], meta(11)).unwrap();
/// let cases = idx.search_cases(&[0.0; 128], &SearchFilter::default(), 2, 2).unwrap();
/// assert_eq!(cases[0].case_id, 10);
/// assert_eq!(cases[0].faces.len(), 2);
/// assert_eq!(cases[1].case_id, 11);
/// // Another model's index holds its own dimension and refuses any other.
/// let mut wide = FaceIndex::for_model("wide", 512, HnswParams::default()).unwrap();
/// wide.insert(1, &[0.5; 512], meta(10)).unwrap();
/// let err = wide.search(&[0.5; 128], &SearchFilter::default(), 1).unwrap_err();
/// assert!(err.to_string().contains("wide index holds 512-d vectors"));
/// ```
#[derive(Debug)]
pub struct FaceIndex {
    hnsw: HnswIndex,
    meta: Vec<Option<FaceMeta>>,
}

impl FaceIndex {
    /// An empty index of dlib's 128-d vectors.
    pub fn new(params: HnswParams) -> Self {
        FaceIndex {
            hnsw: HnswIndex::new(params, 1024),
            meta: Vec::new(),
        }
    }

    /// An empty index of `model`'s `dim`-long vectors (the dimension its
    /// `Embedder` declares, 1..=[`super::MAX_DIM`]).
    pub fn for_model(model: &str, dim: usize, params: HnswParams) -> Result<Self, IndexError> {
        Ok(FaceIndex {
            hnsw: HnswIndex::for_model(model, dim, params)?,
            meta: Vec::new(),
        })
    }

    /// The length of every vector held (the model's dimension).
    pub fn dim(&self) -> usize {
        self.hnsw.dim()
    }

    /// The model whose vectors these are.
    pub fn model(&self) -> &str {
        self.hnsw.model()
    }

    /// The underlying graph (for benchmarks and diagnostics).
    pub fn graph(&self) -> &HnswIndex {
        &self.hnsw
    }

    /// Mutable access to the graph, e.g. to tune `ef_search`.
    pub fn graph_mut(&mut self) -> &mut HnswIndex {
        &mut self.hnsw
    }

    /// Number of live faces.
    pub fn len(&self) -> usize {
        self.hnsw.len()
    }

    /// Whether no live face is held.
    pub fn is_empty(&self) -> bool {
        self.hnsw.is_empty()
    }

    /// Attributes of a live face.
    pub fn meta(&self, id: u64) -> Option<&FaceMeta> {
        self.meta.get(id as usize).and_then(|m| m.as_ref())
    }

    fn set_meta(&mut self, id: u64, m: FaceMeta) {
        let i = id as usize;
        if self.meta.len() <= i {
            self.meta.resize(i + 1, None);
        }
        self.meta[i] = Some(m);
    }

    /// Adds one face.
    pub fn insert(&mut self, id: u64, v: &[f32], meta: FaceMeta) -> Result<(), IndexError> {
        self.hnsw.insert(id, v)?;
        self.set_meta(id, meta);
        Ok(())
    }

    /// Adds many faces in parallel; on error (a duplicate, a non-finite
    /// value, a vector of another dimension) none is added.
    pub fn insert_batch<V: AsRef<[f32]>>(
        &mut self,
        items: &[(u64, V, FaceMeta)],
    ) -> Result<(), IndexError> {
        let refs: Vec<(u64, &[f32])> = items.iter().map(|(id, v, _)| (*id, v.as_ref())).collect();
        self.hnsw.insert_batch(&refs)?;
        for (id, _, m) in items {
            self.set_meta(*id, *m);
        }
        Ok(())
    }

    /// Tombstones a face; rebuilds the graph once tombstones pass
    /// [`COMPACT_RATIO`]. Returns whether it was live.
    pub fn remove(&mut self, id: u64) -> bool {
        let was = self.hnsw.remove(id);
        if was {
            self.meta[id as usize] = None;
            if self.hnsw.tombstone_ratio() > COMPACT_RATIO {
                self.hnsw.compact();
            }
        }
        was
    }

    /// Rebuilds the graph without tombstones, so removed vectors leave memory.
    pub fn compact(&mut self) {
        if self.hnsw.tombstones() > 0 {
            self.hnsw.compact();
        }
    }

    /// Applies `update` to the attributes of every face of `case_id`
    /// (e.g. a status change). No graph change is needed.
    pub fn update_case(&mut self, case_id: u64, update: impl Fn(&mut FaceMeta)) {
        for m in self.meta.iter_mut().flatten() {
            if m.case_id == case_id {
                update(m);
            }
        }
    }

    /// Estimated share of live faces that `filter` accepts.
    fn selectivity(&self, filter: &SearchFilter) -> f64 {
        if filter.is_empty() {
            return 1.0;
        }
        let stride = (self.meta.len() / SAMPLE).max(1);
        let (mut seen, mut pass) = (0usize, 0usize);
        for m in self.meta.iter().step_by(stride).flatten() {
            seen += 1;
            pass += usize::from(filter.accepts(m));
        }
        if seen == 0 {
            0.0
        } else {
            pass as f64 / seen as f64
        }
    }

    /// The `k` nearest faces accepted by `filter`, nearest first.
    ///
    /// Returns `min(k, accepted faces)` hits: when the graph walk cannot fill
    /// the list (a very selective filter) it scans exactly instead. Fails
    /// on a query of another dimension than the index's.
    pub fn search(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::WrongDimension {
                model: self.model().to_string(),
                expected: self.dim(),
                found: query.len(),
            });
        }
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let frac = self.selectivity(filter);
        let accept = |id: u64| self.meta(id).is_some_and(|m| filter.accepts(m));
        let n = self.len() as f64;
        if frac < EXACT_FRACTION || frac * n < EXACT_COUNT {
            return self.hnsw.search_exact(query, k, Some(&accept));
        }
        // The walk passes through rejected faces and fills its list with
        // accepted ones only, so the width needs no scaling by selectivity.
        let ef = self.hnsw.params().ef_search.max(k);
        let hits = if filter.is_empty() {
            self.hnsw.search_ef(query, k, ef, None)?
        } else {
            self.hnsw.search_ef(query, k, ef, Some(&accept))?
        };
        if hits.len() < k && hits.len() < self.len() {
            return self.hnsw.search_exact(query, k, Some(&accept));
        }
        Ok(hits)
    }

    /// The `k_cases` nearest cases (by their nearest accepted face), each
    /// with up to `per_case` of its nearest faces. Fails on a query of
    /// another dimension than the index's.
    pub fn search_cases(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        k_cases: usize,
        per_case: usize,
    ) -> Result<Vec<CaseHit>, IndexError> {
        if k_cases == 0 {
            return self.search(query, filter, 0).map(|_| Vec::new());
        }
        let per_case = per_case.max(1);
        let mut fetch = (k_cases * per_case * 2).max(32);
        loop {
            let hits = self.search(query, filter, fetch)?;
            let exhausted = hits.len() < fetch;
            let mut order: Vec<u64> = Vec::new();
            let mut groups: HashMap<u64, Vec<Hit>> = HashMap::new();
            for h in &hits {
                let Some(m) = self.meta(h.id) else { continue };
                let g = groups.entry(m.case_id).or_insert_with(|| {
                    order.push(m.case_id);
                    Vec::new()
                });
                if g.len() < per_case {
                    g.push(*h);
                }
            }
            if order.len() >= k_cases || exhausted || fetch >= self.len() {
                return Ok(order
                    .into_iter()
                    .take(k_cases)
                    .filter_map(|c| {
                        let faces = groups.remove(&c)?;
                        Some(CaseHit {
                            case_id: c,
                            distance: faces.first().map_or(f32::INFINITY, |h| h.distance),
                            faces,
                        })
                    })
                    .collect());
            }
            fetch = fetch.saturating_mul(4).min(self.len());
        }
    }

    /// Writes a snapshot under `root` (compacting first so that no removed
    /// vector is written). See the `snapshot` module for the layout.
    pub fn save(&mut self, root: &Path, erase_generation: u64) -> Result<SnapshotInfo, IndexError> {
        self.compact();
        snapshot::save(&self.hnsw, root, erase_generation)
    }

    /// Loads the snapshot of dlib's index under `root`. `metas` are the
    /// store's faces; every face in the snapshot must be among them, and
    /// every face with an id up to the snapshot's largest must be in the
    /// snapshot. Returns the index and the ids in `metas` newer than the
    /// snapshot, which the caller adds.
    pub fn load(
        root: &Path,
        erase_generation: u64,
        metas: Vec<(u64, FaceMeta)>,
    ) -> Result<(FaceIndex, Vec<u64>), IndexError> {
        Self::load_model(root, DLIB_MODEL, DIM, erase_generation, metas)
    }

    /// [`FaceIndex::load`] for `model`'s index of `dim`-long vectors: a
    /// snapshot of another dimension is [`IndexError::SnapshotDimension`]
    /// (refused before anything is read from its files).
    pub fn load_model(
        root: &Path,
        model: &str,
        dim: usize,
        erase_generation: u64,
        metas: Vec<(u64, FaceMeta)>,
    ) -> Result<(FaceIndex, Vec<u64>), IndexError> {
        let store_max_id = metas.iter().map(|(id, _)| *id).max();
        let (hnsw, info) = snapshot::load(root, model, dim, erase_generation, store_max_id)?;
        let mut idx = FaceIndex {
            hnsw,
            meta: Vec::new(),
        };
        let mut newer = Vec::new();
        let mut matched = 0u64;
        for (id, m) in metas {
            if id > info.max_id {
                newer.push(id);
                continue;
            }
            if !idx.hnsw.contains(id) {
                return Err(IndexError::Stale {
                    what: format!("store face {id} is missing from the snapshot"),
                });
            }
            idx.set_meta(id, m);
            matched += 1;
        }
        if matched != info.count {
            return Err(IndexError::Stale {
                what: format!(
                    "snapshot holds {} faces, the store {matched} of them",
                    info.count
                ),
            });
        }
        Ok((idx, newer))
    }

    /// Loads the snapshot under `root` as it was saved, for a store that
    /// brings it up to date itself (PostgreSQL's change log), where
    /// [`FaceIndex::load`] would refuse a snapshot the store has moved past.
    /// `generation` must be the one it was saved with; `store_max_id` is the
    /// largest id the store has given (a larger one is refused before it
    /// sizes any table). `meta_of` gives each saved face's case facts; a face
    /// it has none for (gone from the store) is left out and its vector
    /// dropped from memory. Returns the index and how many were left out.
    pub fn load_saved(
        root: &Path,
        generation: u64,
        store_max_id: Option<u64>,
        meta_of: impl FnMut(u64) -> Option<FaceMeta>,
    ) -> Result<(FaceIndex, usize), IndexError> {
        Self::load_saved_model(root, DLIB_MODEL, DIM, generation, store_max_id, meta_of)
    }

    /// [`FaceIndex::load_saved`] for `model`'s index of `dim`-long vectors
    /// (a snapshot of another dimension is refused, as in
    /// [`FaceIndex::load_model`]).
    pub fn load_saved_model(
        root: &Path,
        model: &str,
        dim: usize,
        generation: u64,
        store_max_id: Option<u64>,
        mut meta_of: impl FnMut(u64) -> Option<FaceMeta>,
    ) -> Result<(FaceIndex, usize), IndexError> {
        let (hnsw, _) = snapshot::load(root, model, dim, generation, store_max_id)?;
        let mut idx = FaceIndex {
            hnsw,
            meta: Vec::new(),
        };
        let mut gone = 0;
        for id in idx.hnsw.live_ids() {
            match meta_of(id) {
                Some(m) => idx.set_meta(id, m),
                None => {
                    idx.hnsw.remove(id);
                    gone += 1;
                }
            }
        }
        idx.compact();
        Ok((idx, gone))
    }

    /// Deletes the snapshot under `root`.
    pub fn delete_snapshot(root: &Path) -> Result<(), IndexError> {
        snapshot::delete(root)
    }
}
