//! The model slot: embedding models beside dlib's, enabled per registry,
//! each face's vector from each of them, and one face index per model.
//!
//! dlib's embedding stays in the face row (its landmarks align every
//! model). Another model is *enabled* in a registry with its name, version,
//! dimension and metric; from then on every new face stores its vector, and
//! faces stored before it are listed by [`Registry::pending_faces`] until a
//! re-embedding job fills them in with [`Registry::store_vectors`]. A face
//! without a vector is still searched by dlib. The per-model indexes live in
//! memory and are rebuilt at open (`docs/adr-model-slot.md`).

use std::collections::HashMap;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension};

use super::codec::{blob_to_vector, f32s_to_blob, hash32, now};
use super::model_checks::{check_enable, check_stored_vector, check_vectors};
use super::model_index::ModelIndexes;
use super::types::{CaseId, FaceId, FaceRecord, ModelVector};
use super::{Registry, StoreError};
use crate::index::{FaceIndex, HnswParams, SearchFilter};

/// How a model's vectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Euclidean distance between the vectors as they are.
    Euclidean,
    /// Cosine similarity; stored vectors are scaled to length 1, so the
    /// Euclidean distance between them orders pairs the same way.
    Cosine,
}

impl Metric {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Euclidean => "euclidean",
            Metric::Cosine => "cosine",
        }
    }
}

impl FromStr for Metric {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Metric, StoreError> {
        match s {
            "euclidean" => Ok(Metric::Euclidean),
            "cosine" => Ok(Metric::Cosine),
            other => Err(StoreError::Invalid {
                field: "metric",
                why: format!("{other:?} is not a metric; use euclidean or cosine"),
            }),
        }
    }
}

/// An embedding model as a registry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Short name, e.g. `sface`.
    pub name: String,
    /// Version: the weights and the way faces are prepared for them.
    pub version: String,
    /// Length of a vector.
    pub dim: u32,
    /// How vectors are compared.
    pub metric: Metric,
}

/// An enabled model and how far its vectors cover the stored faces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    /// The model.
    pub spec: ModelSpec,
    /// Case faces, and how many of them have a vector.
    pub case_faces: (u64, u64),
    /// Sighting faces, and how many of them have a vector.
    pub sighting_faces: (u64, u64),
}

impl ModelStatus {
    /// Every stored face has its vector.
    pub fn complete(&self) -> bool {
        self.case_faces.0 == self.case_faces.1 && self.sighting_faces.0 == self.sighting_faces.1
    }
}

/// Which table a face row is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceTable {
    /// A face of a case photo.
    Case,
    /// A face of a sighting photo.
    Sighting,
}

impl FaceTable {
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            FaceTable::Case => ("faces", "face_vectors", "face_id"),
            FaceTable::Sighting => (
                "sighting_faces",
                "sighting_face_vectors",
                "sighting_face_id",
            ),
        }
    }
}

/// A stored face that lacks a model's vector: what re-embedding needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingFace {
    /// Its table.
    pub table: FaceTable,
    /// Its row id.
    pub face_id: FaceId,
    /// The photo it is in ([`Registry::photo_path`] reads it).
    pub sha256: [u8; 32],
    /// dlib's five landmarks, `[x, y]` in the upright photo.
    pub landmarks: [[f32; 2]; 5],
}

impl Registry {
    /// The models enabled beside dlib's, in the order they were enabled.
    pub fn models(&self) -> &[ModelSpec] {
        self.models.specs()
    }

    /// Whether a choice of models was ever made for this registry (a
    /// registry made by an older build has made none).
    pub fn models_chosen(&self) -> Result<bool, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM registry_meta WHERE key = 'models_chosen'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// Enables `specs` (those not yet enabled) and records that a choice of
    /// models was made; an empty list chooses dlib alone. Faces stored
    /// earlier have no vector from a new model until
    /// [`Registry::store_vectors`] gives them one.
    pub fn enable_models(&mut self, actor: &str, specs: &[ModelSpec]) -> Result<(), StoreError> {
        let mut new = Vec::new();
        for spec in specs {
            // A name listed twice counts once (and must agree with itself).
            if check_enable(self.models.specs(), spec)? && check_enable(&new, spec)? {
                new.push(spec.clone());
            }
        }
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for spec in &new {
            tx.execute(
                "INSERT INTO models (name, version, dim, metric, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![spec.name, spec.version, spec.dim, spec.metric.as_str(), now()],
            )
            .map_err(sql)?;
            Self::audit(&tx, actor, "enable_model", &format!("model:{}", spec.name))
                .map_err(sql)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO registry_meta (key, value) VALUES ('models_chosen', 1)",
            [],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        for spec in new {
            // The dimension was checked above (`check_enable`).
            let idx = ModelIndexes::empty_index(&spec, self.params)?;
            self.models.add(spec, idx)?;
        }
        Ok(())
    }

    /// Each enabled model with how many stored faces have its vector.
    pub fn model_status(&self) -> Result<Vec<ModelStatus>, StoreError> {
        let count = |sql: &str, model: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [model], |r| r.get::<_, i64>(0))
                .map(|v| v as u64)
                .map_err(self.sql())
        };
        let total = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|v| v as u64)
                .map_err(self.sql())
        };
        let faces = total("SELECT count(*) FROM faces")?;
        let sighting_faces = total("SELECT count(*) FROM sighting_faces")?;
        self.models
            .specs()
            .iter()
            .map(|spec| {
                Ok(ModelStatus {
                    spec: spec.clone(),
                    case_faces: (
                        faces,
                        count(
                            "SELECT count(*) FROM face_vectors WHERE model = ?1",
                            &spec.name,
                        )?,
                    ),
                    sighting_faces: (
                        sighting_faces,
                        count(
                            "SELECT count(*) FROM sighting_face_vectors WHERE model = ?1",
                            &spec.name,
                        )?,
                    ),
                })
            })
            .collect()
    }

    /// Up to `limit` stored faces without a vector from `model`, case faces
    /// first, each with its photo and landmarks.
    pub fn pending_faces(&self, model: &str, limit: usize) -> Result<Vec<PendingFace>, StoreError> {
        self.spec(model)?;
        let mut out = Vec::new();
        for table in [FaceTable::Case, FaceTable::Sighting] {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let (faces, vectors, col) = table.tables();
            let owner = match table {
                FaceTable::Case => "JOIN photos o ON o.id = f.photo_id",
                FaceTable::Sighting => "JOIN sightings o ON o.id = f.sighting_id",
            };
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT f.id, o.sha256, f.landmarks FROM {faces} f {owner}
                     WHERE NOT EXISTS (SELECT 1 FROM {vectors} v WHERE v.{col} = f.id AND v.model = ?1)
                     ORDER BY f.id LIMIT ?2"
                ))
                .map_err(self.sql())?;
            let rows = st
                .query_map(params![model, left as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(self.sql())?;
            for row in rows {
                let (face_id, sha, lm) = row.map_err(self.sql())?;
                let l = super::codec::blob_to_f32s(&lm);
                if let (Some(sha256), true) = (hash32(sha), l.len() == 10) {
                    out.push(PendingFace {
                        table,
                        face_id,
                        sha256,
                        landmarks: std::array::from_fn(|i| [l[2 * i], l[2 * i + 1]]),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Stores `model`'s vectors of faces already in the registry, in one
    /// transaction, and indexes the case faces among them. A face erased in
    /// the meantime is skipped. Returns how many were stored.
    pub fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(FaceTable, FaceId, Vec<f32>)],
    ) -> Result<usize, StoreError> {
        let spec = self.spec(model)?.clone();
        for (_, id, v) in vectors {
            check_stored_vector(&spec, *id, v)?;
        }
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let mut stored = Vec::new();
        let mut replaced = false;
        for (table, id, v) in vectors {
            let (faces, table_v, col) = table.tables();
            if *table == FaceTable::Case {
                replaced |= tx
                    .query_row(
                        "SELECT 1 FROM face_vectors WHERE face_id = ?1 AND model = ?2",
                        params![*id as i64, model],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(sql)?
                    .is_some();
            }
            let n = tx
                .execute(
                    &format!(
                        "INSERT OR REPLACE INTO {table_v} ({col}, model, vector)
                         SELECT id, ?2, ?3 FROM {faces} WHERE id = ?1"
                    ),
                    params![*id as i64, model, f32s_to_blob(v)],
                )
                .map_err(sql)?;
            if n > 0 {
                stored.push((*table, *id, v));
            }
        }
        if replaced {
            // A snapshot of this model's index may hold the old vector.
            Self::bump_vectors_generation(&tx).map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        let mut items = Vec::new();
        for (table, id, v) in &stored {
            let meta = self.index.meta(*id).copied();
            if let (FaceTable::Case, Some(meta)) = (table, meta) {
                items.push((*id, v.as_slice(), meta));
            }
        }
        self.models.replace(model, &items)?;
        Ok(stored.len())
    }

    /// `model`'s vectors of the given faces of `table`, by face id, of the
    /// model's dimension; a face without one (or a model not enabled) is
    /// absent.
    pub fn model_vectors_of(
        &self,
        table: FaceTable,
        model: &str,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Vec<f32>>, StoreError> {
        let Ok(spec) = self.spec(model) else {
            return Ok(HashMap::new());
        };
        self.read_model_vectors(table, model, spec.dim as usize, ids)
    }

    /// `model`'s stored `dim`-long vectors of the given faces (a blob of
    /// another length is absent, as a face without one).
    pub(super) fn read_model_vectors(
        &self,
        table: FaceTable,
        model: &str,
        dim: usize,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Vec<f32>>, StoreError> {
        let (_, vectors, col) = table.tables();
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT vector FROM {vectors} WHERE {col} = ?1 AND model = ?2"
            ))
            .map_err(self.sql())?;
        let mut out = HashMap::new();
        for id in ids {
            let blob: Option<Vec<u8>> = st
                .query_row(params![*id as i64, model], |r| r.get(0))
                .optional()
                .map_err(self.sql())?;
            if let Some(e) = blob.and_then(|b| blob_to_vector(&b, dim)) {
                out.insert(*id, e);
            }
        }
        Ok(out)
    }

    /// The `k` nearest cases to `vector` in `model`'s index among those
    /// `filter` accepts, with the distance of each one's nearest face. A
    /// vector of another dimension than the model's is refused.
    pub fn search_model(
        &self,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(CaseId, f32)>, StoreError> {
        self.spec(model)?;
        Ok(self.models.search(model, vector, filter, k)?)
    }

    fn spec(&self, model: &str) -> Result<&ModelSpec, StoreError> {
        self.models
            .specs()
            .iter()
            .find(|m| m.name == model)
            .ok_or_else(|| StoreError::Invalid {
                field: "model",
                why: format!(
                    "{model:?} is not enabled in this registry; enable it first \
                     (`homeward models add {model}`)"
                ),
            })
    }

    /// Refuses vectors of an enabled model that the registry could not
    /// compare with its own (another version, length or non-finite values).
    pub(super) fn check_vectors(&self, faces: &[FaceRecord]) -> Result<(), StoreError> {
        check_vectors(self.models.specs(), faces)
    }

    /// Reads the enabled models and builds their indexes from the stored
    /// vectors of case faces (the dlib index must be open: it has the
    /// faces' case facts).
    pub(super) fn open_models(&mut self) -> Result<(), StoreError> {
        let specs: Vec<(String, String, i64, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT name, version, dim, metric FROM models ORDER BY added_at, name")
                .map_err(self.sql())?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(self.sql())?;
            rows.collect::<Result<_, _>>().map_err(self.sql())?
        };
        let mut models = ModelIndexes::default();
        let mut origins = Vec::new();
        for (name, version, dim, metric) in specs {
            let spec = ModelSpec {
                name,
                version,
                dim: u32::try_from(dim).unwrap_or(0),
                metric: metric.parse()?,
            };
            let (idx, origin) = self.load_model_index(&spec)?;
            origins.push((spec.name.clone(), origin));
            models.add(spec, idx)?;
        }
        self.models = models;
        self.model_origins = origins;
        Ok(())
    }

    pub(super) fn build_model_index(
        &self,
        spec: &ModelSpec,
        params: HnswParams,
    ) -> Result<FaceIndex, StoreError> {
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
        let mut items = Vec::new();
        for row in rows {
            let (id, blob) = row.map_err(self.sql())?;
            if let (Some(e), Some(m)) = (blob_to_vector(&blob, dim), self.index.meta(id)) {
                items.push((id, e, *m));
            }
        }
        let mut idx = ModelIndexes::empty_index(spec, params)?;
        idx.insert_batch(&items)?;
        Ok(idx)
    }

    /// Inserts the vectors of new faces (rows `ids` of `table`) for the
    /// enabled models `specs`; vectors of other models are not kept.
    pub(super) fn insert_vectors(
        tx: &rusqlite::Transaction<'_>,
        table: FaceTable,
        specs: &[ModelSpec],
        ids: &[FaceId],
        faces: &[FaceRecord],
    ) -> rusqlite::Result<()> {
        let (_, vectors, col) = table.tables();
        let mut st = tx.prepare_cached(&format!(
            "INSERT INTO {vectors} ({col}, model, vector) VALUES (?1, ?2, ?3)"
        ))?;
        for (id, f) in ids.iter().zip(faces) {
            for v in &f.vectors {
                if specs.iter().any(|m| m.name == v.model) {
                    st.execute(params![*id as i64, v.model, f32s_to_blob(&v.vector)])?;
                }
            }
        }
        Ok(())
    }

    /// The stored vectors of one face, every enabled model.
    pub(super) fn face_model_vectors(
        &self,
        table: FaceTable,
        id: FaceId,
    ) -> Result<Vec<ModelVector>, StoreError> {
        let mut out = Vec::new();
        for spec in self.models.specs() {
            if let Some(e) = self.model_vectors_of(table, &spec.name, &[id])?.remove(&id) {
                out.push(ModelVector {
                    model: spec.name.clone(),
                    version: spec.version.clone(),
                    vector: e,
                });
            }
        }
        Ok(out)
    }
}
