//! Snapshots of the second models' face indexes, so that opening a large
//! registry does not rebuild every model's graph (as dlib's index, in
//! `registry.rs`).
//!
//! Each enabled model's index is saved under `index/model-<hex of its
//! name>/` in the index snapshot format, tagged with a generation that
//! changes whenever a snapshot may have gone stale: the registry's erase
//! generation plus its vector generation (bumped in the transaction that
//! replaces a case face's stored vector). Both only grow, so their sum
//! changes whenever either does. A snapshot with another generation, or one
//! that does not hold exactly the model's stored faces up to its newest, is
//! deleted and the index rebuilt from the stored vectors; faces newer than
//! the snapshot are added to it.

use std::path::PathBuf;

use rusqlite::OptionalExtension;

use super::codec::blob_to_vector;
use super::registry::{IndexOrigin, Registry};
use super::vectors::ModelSpec;
use super::StoreError;
use crate::index::{FaceIndex, FaceMeta};

/// `registry_meta` key of the vector generation.
pub(super) const VECTORS_GENERATION: &str = "vectors_generation";

/// The directory name of `model`'s index snapshot, `model-<hex of its
/// name>` (so any name is a safe directory name); PostgreSQL's snapshots
/// use it too.
pub fn model_snapshot_dir(model: &str) -> String {
    let hex: String = model.bytes().map(|b| format!("{b:02x}")).collect();
    format!("model-{hex}")
}

impl Registry {
    /// Where `model`'s index snapshot lives (its name hex-encoded, so any
    /// name is a safe directory name).
    fn model_snapshot_root(&self, model: &str) -> PathBuf {
        self.dir.join("index").join(model_snapshot_dir(model))
    }

    /// The generation a model snapshot must carry to be used.
    fn model_generation(&self) -> Result<u64, StoreError> {
        let read = |key: &str| {
            self.conn
                .query_row(
                    "SELECT value FROM registry_meta WHERE key = ?1",
                    [key],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map(|v| v.unwrap_or(0) as u64)
                .map_err(self.sql())
        };
        Ok(read("erase_generation")?.wrapping_add(read(VECTORS_GENERATION)?))
    }

    /// Bumps the vector generation (inside the caller's transaction).
    pub(super) fn bump_vectors_generation(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO registry_meta (key, value) VALUES (?1, 1)
             ON CONFLICT (key) DO UPDATE SET value = value + 1",
            [VECTORS_GENERATION],
        )
        .map(|_| ())
    }

    /// `model`'s index: its snapshot plus newer faces when the snapshot is
    /// sound, else rebuilt from the stored vectors. Needs dlib's index open
    /// (it has the faces' case facts).
    pub(super) fn load_model_index(
        &self,
        spec: &ModelSpec,
    ) -> Result<(FaceIndex, IndexOrigin), StoreError> {
        let root = self.model_snapshot_root(&spec.name);
        if !root.exists() {
            let idx = self.build_model_index(spec, self.params)?;
            return Ok((
                idx,
                IndexOrigin::Rebuilt {
                    reason: "no snapshot".into(),
                },
            ));
        }
        let generation = self.model_generation()?;
        let metas = self.model_face_metas(spec)?;
        let dim = spec.dim as usize;
        match FaceIndex::load_model(&root, &spec.name, dim, generation, metas) {
            Ok((mut idx, newer)) => {
                let vectors =
                    self.read_model_vectors(super::FaceTable::Case, &spec.name, dim, &newer)?;
                let mut items = Vec::new();
                for id in &newer {
                    if let (Some(e), Some(m)) = (vectors.get(id), self.index.meta(*id)) {
                        items.push((*id, e.as_slice(), *m));
                    }
                }
                idx.insert_batch(&items)?;
                Ok((idx, IndexOrigin::Snapshot { added: items.len() }))
            }
            Err(err) => {
                FaceIndex::delete_snapshot(&root)?;
                let idx = self.build_model_index(spec, self.params)?;
                Ok((
                    idx,
                    IndexOrigin::Rebuilt {
                        reason: err.to_string(),
                    },
                ))
            }
        }
    }

    /// Case facts of the faces that have a stored vector of `model`.
    fn model_face_metas(&self, spec: &ModelSpec) -> Result<Vec<(u64, FaceMeta)>, StoreError> {
        let (model, dim) = (spec.name.as_str(), spec.dim as usize);
        let mut st = self
            .conn
            .prepare("SELECT face_id, vector FROM face_vectors WHERE model = ?1 ORDER BY face_id")
            .map_err(self.sql())?;
        let rows = st
            .query_map([model], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, blob) = row.map_err(self.sql())?;
            // The same faces the rebuild would index: a readable vector of
            // a face dlib's index knows.
            if let (Some(_), Some(m)) = (blob_to_vector(&blob, dim), self.index.meta(id)) {
                out.push((id, *m));
            }
        }
        Ok(out)
    }

    /// Saves every model's index snapshot (compacted first).
    pub(super) fn save_model_indexes(&mut self) -> Result<(), StoreError> {
        let generation = self.model_generation()?;
        let roots: Vec<(String, PathBuf)> = self
            .models
            .specs()
            .iter()
            .map(|s| (s.name.clone(), self.model_snapshot_root(&s.name)))
            .collect();
        for (name, idx) in self.models.indexes_mut() {
            if let Some((_, root)) = roots.iter().find(|(n, _)| n == name) {
                if idx.is_empty() {
                    FaceIndex::delete_snapshot(root)?;
                } else {
                    idx.save(root, generation)?;
                }
            }
        }
        Ok(())
    }

    /// Deletes every model's index snapshot (an erasure: no snapshot on
    /// disk may keep an erased face).
    pub(super) fn delete_model_snapshots(&self) -> Result<(), StoreError> {
        for spec in self.models.specs() {
            FaceIndex::delete_snapshot(&self.model_snapshot_root(&spec.name))?;
        }
        Ok(())
    }
}
