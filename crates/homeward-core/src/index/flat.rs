//! Exact brute-force index: every live vector is compared with the query.

use std::collections::HashMap;

use super::{
    check_dim_supported, check_finite, check_len, l2, sort_hits, Hit, IdFilter, IndexError,
    VectorIndex, DIM, DLIB_MODEL,
};

/// Exact nearest-neighbour search over a contiguous vector table.
///
/// Removal swaps the last vector into the freed row, so memory stays dense.
///
/// ```
/// use homeward_core::index::{FlatIndex, VectorIndex};
/// let mut idx = FlatIndex::new();
/// idx.insert(7, &[0.0; 128]).unwrap();
/// idx.insert(9, &[1.0; 128]).unwrap();
/// let hits = idx.search(&[0.1; 128], 1, None).unwrap();
/// assert_eq!(hits[0].id, 7);
/// // A query of another dimension is an error, not a panic.
/// assert!(idx.search(&[0.1; 512], 1, None).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FlatIndex {
    model: String,
    dim: usize,
    data: Vec<f32>,
    ids: Vec<u64>,
    row_of: HashMap<u64, usize>,
}

impl Default for FlatIndex {
    fn default() -> Self {
        FlatIndex {
            model: DLIB_MODEL.to_string(),
            dim: DIM,
            data: Vec::new(),
            ids: Vec::new(),
            row_of: HashMap::new(),
        }
    }
}

impl FlatIndex {
    /// An empty index of dlib's 128-d vectors.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index of `model`'s `dim`-long vectors (1..=[`super::MAX_DIM`]).
    pub fn for_model(model: &str, dim: usize) -> Result<Self, IndexError> {
        check_dim_supported(model, dim)?;
        Ok(FlatIndex {
            model: model.to_string(),
            dim,
            ..Self::default()
        })
    }

    /// The vector stored under `id`, if live.
    pub fn get(&self, id: u64) -> Option<&[f32]> {
        let d = self.dim;
        self.row_of
            .get(&id)
            .map(|&r| &self.data[r * d..(r + 1) * d])
    }
}

impl VectorIndex for FlatIndex {
    fn insert(&mut self, id: u64, v: &[f32]) -> Result<(), IndexError> {
        check_len(&self.model, self.dim, v)?;
        check_finite(id, v)?;
        if self.row_of.contains_key(&id) {
            return Err(IndexError::DuplicateId { id });
        }
        self.row_of.insert(id, self.ids.len());
        self.ids.push(id);
        self.data.extend_from_slice(v);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(row) = self.row_of.remove(&id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        let d = self.dim;
        if row != last {
            self.data.copy_within(last * d..(last + 1) * d, row * d);
            let moved = self.ids[last];
            self.ids[row] = moved;
            self.row_of.insert(moved, row);
        }
        self.ids.truncate(last);
        self.data.truncate(last * d);
        true
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Hit>, IndexError> {
        check_len(&self.model, self.dim, query)?;
        let d = self.dim;
        let items = self
            .ids
            .iter()
            .enumerate()
            .filter(|&(_, &id)| filter.is_none_or(|f| f(id)))
            .map(|(row, &id)| (id, &self.data[row * d..(row + 1) * d]));
        Ok(exact_top_k(query, k, items))
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

/// Max-heap wrapper: the farthest hit is on top.
struct HeapHit(Hit);

impl PartialEq for HeapHit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for HeapHit {}
impl PartialOrd for HeapHit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapHit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .distance
            .total_cmp(&other.0.distance)
            .then(self.0.id.cmp(&other.0.id))
    }
}

/// Bounded selection of the `k` nearest hits.
pub(crate) struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<HeapHit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
        }
    }

    pub(crate) fn push(&mut self, id: u64, distance: f32) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(HeapHit(Hit { id, distance }));
        } else if let Some(top) = self.heap.peek() {
            if distance < top.0.distance || (distance == top.0.distance && id < top.0.id) {
                self.heap.pop();
                self.heap.push(HeapHit(Hit { id, distance }));
            }
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self.heap.into_iter().map(|h| h.0).collect();
        sort_hits(&mut hits);
        hits
    }
}

/// Exact top-`k` over an iterator of `(id, vector)`.
pub(crate) fn exact_top_k<'a>(
    query: &[f32],
    k: usize,
    items: impl Iterator<Item = (u64, &'a [f32])>,
) -> Vec<Hit> {
    let mut top = TopK::new(k);
    for (id, v) in items {
        top.push(id, l2(query, v));
    }
    top.into_sorted()
}
