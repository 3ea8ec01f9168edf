//! [`ModelIndexes`]: the models a store has enabled beside dlib's and one
//! face index of case faces per model, kept in step with the rows. Both
//! stores (SQLite here, PostgreSQL in `homeward-pg`) hold one; the rows and
//! their transactions stay each store's own.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::types::{CaseId, FaceId, FaceRecord};
use super::vectors::ModelSpec;
use crate::index::{FaceIndex, FaceMeta, HnswParams, IndexError, SearchFilter};

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

    /// An empty index for `spec`'s vectors: its name, and the dimension its
    /// `Embedder` declares.
    pub fn empty_index(spec: &ModelSpec, params: HnswParams) -> Result<FaceIndex, IndexError> {
        FaceIndex::for_model(&spec.name, spec.dim as usize, params)
    }

    /// Enables `spec` with `index` (empty for a new model, or built from the
    /// stored vectors at open). An index of another dimension than the
    /// model's is refused.
    pub fn add(&mut self, spec: ModelSpec, index: FaceIndex) -> Result<(), IndexError> {
        if index.dim() != spec.dim as usize {
            return Err(IndexError::WrongDimension {
                model: spec.name.clone(),
                expected: spec.dim as usize,
                found: index.dim(),
            });
        }
        self.indexes.insert(spec.name.clone(), index);
        self.specs.push(spec);
        Ok(())
    }

    /// Indexes a new case face's vectors of enabled models (checked before
    /// its rows committed, dimension included; the id is new).
    pub fn insert(&mut self, id: FaceId, face: &FaceRecord, meta: FaceMeta) {
        for v in &face.vectors {
            if let Some(idx) = self.indexes.get_mut(&v.model) {
                let _ = idx.insert(id, &v.vector, meta);
            }
        }
    }

    /// Indexes stored vectors of `model` for case faces, replacing any the
    /// faces had: a replaced vector leaves the graph before its new one
    /// enters (a compaction: the whole graph is built again). A face whose
    /// indexed vector is the same already (a process's own write read back
    /// from a change log) is left as it is.
    pub fn replace<V: AsRef<[f32]>>(
        &mut self,
        model: &str,
        items: &[(FaceId, V, FaceMeta)],
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
        let dim = idx.dim();
        if let Some((_, e, _)) = items.iter().find(|(_, e, _)| e.as_ref().len() != dim) {
            // Checked before anything leaves the graph.
            return Err(IndexError::WrongDimension {
                model: model.to_string(),
                expected: dim,
                found: e.as_ref().len(),
            });
        }
        let items: Vec<&(FaceId, V, FaceMeta)> = items
            .iter()
            .filter(|(id, e, _)| current.get(id).is_none_or(|v| v.as_slice() != e.as_ref()))
            .collect();
        let mut replaced = false;
        for (id, _, _) in &items {
            replaced |= idx.remove(*id);
        }
        if replaced {
            idx.compact();
        }
        for (id, e, meta) in items {
            idx.insert(*id, e.as_ref(), *meta)?;
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
    /// (empty for a model not enabled). A vector of another dimension than
    /// the model's is [`IndexError::WrongDimension`].
    pub fn search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(CaseId, f32)>, IndexError> {
        let Some(idx) = self.indexes.get(model) else {
            return Ok(Vec::new());
        };
        Ok(idx
            .search_cases(vector, filter, k, 1)?
            .into_iter()
            .map(|c| (c.case_id, c.distance))
            .collect())
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

    fn unit(k: usize) -> [f32; 128] {
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
        m.add(spec, FaceIndex::new(HnswParams::default())).unwrap();
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
        let hits = m.indexes["second"]
            .search(&unit(50), &SearchFilter::default(), 1)
            .unwrap();
        assert_eq!(hits.first().map(|h| h.id), Some(3));
    }

    #[test]
    fn each_model_keeps_its_own_dimension_and_refuses_any_other() {
        let spec = |name: &str, dim| ModelSpec {
            name: name.into(),
            version: "v1".into(),
            dim,
            metric: Metric::Cosine,
        };
        let params = HnswParams::default();
        let mut m = ModelIndexes::default();
        let wide = spec("wide", 512);
        // An index of another dimension than the model's is refused.
        assert!(m
            .add(wide.clone(), FaceIndex::new(params))
            .unwrap_err()
            .to_string()
            .contains("wide index holds 512-d"));
        m.add(
            wide.clone(),
            ModelIndexes::empty_index(&wide, params).unwrap(),
        )
        .unwrap();
        let narrow = spec("narrow", 128);
        m.add(
            narrow.clone(),
            ModelIndexes::empty_index(&narrow, params).unwrap(),
        )
        .unwrap();
        let v512 = |k: usize| {
            let mut e = vec![0.0; 512];
            e[k] = 1.0;
            e
        };
        let items: Vec<_> = (1..=8u64)
            .map(|i| (i, v512(i as usize * 60), meta(i)))
            .collect();
        m.replace("wide", &items).unwrap();
        m.replace("narrow", &[(1, unit(1), meta(1))]).unwrap();
        let f = SearchFilter::default();
        assert_eq!(m.search("wide", &v512(300), &f, 1).unwrap()[0].0, 5);
        assert_eq!(m.search("narrow", &unit(1), &f, 1).unwrap()[0].0, 1);
        // A 128-d vector for the 512-d model (and the reverse): typed errors.
        let err = m.search("wide", &unit(1), &f, 1).unwrap_err();
        assert!(
            matches!(&err, IndexError::WrongDimension { model, expected: 512, found: 128 }
                if model == "wide"),
            "{err}"
        );
        assert!(m.replace("narrow", &[(2, v512(1), meta(2))]).is_err());
        assert!(m.replace("wide", &[(9, unit(1), meta(9))]).is_err());
        // A refused replacement took nothing out of the graph.
        assert_eq!(m.indexes["wide"].len(), 8);
    }
}
