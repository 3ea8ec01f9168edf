//! [`ModelIndexes`]: the models a store has enabled beside dlib's and one
//! face index of case faces per model, kept in step with the rows. Both
//! stores (SQLite here, PostgreSQL in `homeward-pg`) hold one; the rows and
//! their transactions stay each store's own.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::types::{CaseId, FaceId, FaceRecord};
use super::vectors::ModelSpec;
use crate::index::{Embedding, FaceIndex, FaceMeta, IndexError, SearchFilter};

/// The enabled models, in the order they were enabled, each with its index.
#[derive(Debug, Default)]
pub struct ModelIndexes {
    specs: Vec<ModelSpec>,
    indexes: BTreeMap<String, FaceIndex>,
}

impl ModelIndexes {
    /// The enabled models.
    pub fn specs(&self) -> &[ModelSpec] {
        &self.specs
    }

    /// Enables `spec` with `index` (empty for a new model, or built from the
    /// stored vectors at open).
    pub fn add(&mut self, spec: ModelSpec, index: FaceIndex) {
        self.indexes.insert(spec.name.clone(), index);
        self.specs.push(spec);
    }

    /// Indexes a new case face's vectors of enabled models (checked before
    /// its rows committed; the id is new).
    pub fn insert(&mut self, id: FaceId, face: &FaceRecord, meta: FaceMeta) {
        for v in &face.vectors {
            if let (Some(idx), Ok(e)) = (
                self.indexes.get_mut(&v.model),
                <Embedding>::try_from(v.vector.as_slice()),
            ) {
                let _ = idx.insert(id, &e, meta);
            }
        }
    }

    /// Indexes stored vectors of `model` for case faces, replacing any the
    /// faces had: a replaced vector leaves the graph before its new one
    /// enters (a compaction: the whole graph is built again). A face whose
    /// indexed vector is the same already (a process's own write read back
    /// from a change log) is left as it is.
    pub fn replace(
        &mut self,
        model: &str,
        items: &[(FaceId, Embedding, FaceMeta)],
    ) -> Result<(), IndexError> {
        let Some(idx) = self.indexes.get_mut(model) else {
            return Ok(());
        };
        let present: HashSet<FaceId> = items
            .iter()
            .map(|(id, _, _)| *id)
            .filter(|id| idx.graph().contains(*id))
            .collect();
        let mut current: HashMap<FaceId, Vec<f32>> = HashMap::new();
        if !present.is_empty() {
            idx.graph().for_each_live(|id, v| {
                if present.contains(&id) {
                    current.insert(id, v.to_vec());
                }
            });
        }
        let items: Vec<&(FaceId, Embedding, FaceMeta)> = items
            .iter()
            .filter(|(id, e, _)| current.get(id).is_none_or(|v| v.as_slice() != e.as_slice()))
            .collect();
        let mut replaced = false;
        for (id, _, _) in &items {
            replaced |= idx.remove(*id);
        }
        if replaced {
            idx.compact();
        }
        for (id, e, meta) in items {
            idx.insert(*id, e, *meta)?;
        }
        Ok(())
    }

    /// Drops a case face from every index.
    pub fn remove(&mut self, id: FaceId) {
        for idx in self.indexes.values_mut() {
            idx.remove(id);
        }
    }

    /// Applies `update` to every face of a case, in every index.
    pub fn update_case(&mut self, case: CaseId, update: impl Fn(&mut FaceMeta)) {
        for idx in self.indexes.values_mut() {
            idx.update_case(case, &update);
        }
    }

    /// Each enabled model's name and index, to snapshot them.
    pub fn indexes_mut(&mut self) -> impl Iterator<Item = (&str, &mut FaceIndex)> {
        self.indexes.iter_mut().map(|(n, i)| (n.as_str(), i))
    }

    /// Reclaims removed entries.
    pub fn compact(&mut self) {
        for idx in self.indexes.values_mut() {
            idx.compact();
        }
    }

    /// The `k` nearest cases to `vector` in `model`'s index among those
    /// `filter` accepts, with the distance of each one's nearest face
    /// (empty for a model not enabled).
    pub fn search(
        &self,
        model: &str,
        vector: &Embedding,
        filter: &SearchFilter,
        k: usize,
    ) -> Vec<(CaseId, f32)> {
        self.indexes
            .get(model)
            .map(|idx| {
                idx.search_cases(vector, filter, k, 1)
                    .into_iter()
                    .map(|c| (c.case_id, c.distance))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::HnswParams;
    use crate::rules::{CaseStatus, Sex};
    use crate::store::Metric;

    fn meta(case_id: u64) -> FaceMeta {
        FaceMeta {
            case_id,
            sex: Sex::Female,
            birth_year: None,
            location: None,
            status: CaseStatus::Searching,
        }
    }

    fn unit(k: usize) -> Embedding {
        let mut e = [0.0; 128];
        e[k] = 1.0;
        e
    }

    #[test]
    fn replacing_a_vector_with_itself_rebuilds_nothing() {
        let mut m = ModelIndexes::default();
        let spec = ModelSpec {
            name: "second".into(),
            version: "v1".into(),
            dim: 128,
            metric: Metric::Cosine,
        };
        m.add(spec, FaceIndex::new(HnswParams::default()));
        let items: Vec<_> = (1..=20u64)
            .map(|i| (i, unit(i as usize), meta(i)))
            .collect();
        m.replace("second", &items).unwrap();
        // One removed face, not yet reclaimed: a compaction would reclaim it.
        let idx = |m: &ModelIndexes| m.indexes["second"].graph().tombstones();
        m.remove(20);
        assert_eq!(idx(&m), 1);
        // Read back unchanged (a process's own write from the log): no
        // compaction, the tombstone stays.
        m.replace("second", &items[..5]).unwrap();
        assert_eq!(idx(&m), 1);
        assert_eq!(m.indexes["second"].len(), 19);
        // A vector that did change is replaced (the graph is compacted).
        m.replace("second", &[(3, unit(50), meta(3))]).unwrap();
        assert_eq!(idx(&m), 0);
        let hits = m.indexes["second"].search(&unit(50), &SearchFilter::default(), 1);
        assert_eq!(hits.first().map(|h| h.id), Some(3));
    }
}
