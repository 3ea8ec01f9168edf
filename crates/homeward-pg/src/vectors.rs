//! The model slot on PostgreSQL, as in the SQLite registry
//! (`homeward_core::store`'s `vectors.rs`): embedding models beside dlib's,
//! enabled per registry (`models`), each face's vector from each of them a
//! row of `face_vectors` / `sighting_face_vectors`, and one in-memory face
//! index per model, built at connect and kept in step with every write.
//!
//! What is refused is decided by the core's shared checks
//! (`homeward_core::store::model_checks`), so both stores refuse the same
//! vectors with the same words.

use std::collections::HashMap;

use homeward_core::index::{FaceIndex, HnswParams, SearchFilter};
use homeward_core::store::model_checks::{check_enable, check_stored_vector};
use homeward_core::store::{
    CaseId, FaceId, FaceRecord, FaceTable, Metric, ModelIndexes, ModelSpec, ModelStatus,
    ModelVector, PendingFace, StoreError,
};
use postgres::GenericClient;

use crate::changelog::{self, Change};
use crate::rows::{audit, hash32, id, now};
use crate::{error, PgStore};

/// The face table, its vector table and the vector table's face column.
fn tables(table: FaceTable) -> (&'static str, &'static str, &'static str) {
    match table {
        FaceTable::Case => ("faces", "face_vectors", "face_id"),
        FaceTable::Sighting => (
            "sighting_faces",
            "sighting_face_vectors",
            "sighting_face_id",
        ),
    }
}

/// A vector as stored: little-endian `f32` bytes, as `faces.embedding`.
fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A model's stored vector, if it holds exactly `dim` numbers (the model's
/// dimension); another length is read as no vector.
pub(crate) fn bytes_model_vector(b: &[u8], dim: usize) -> Option<Vec<f32>> {
    (b.len() == dim.checked_mul(4)?).then(|| bytes_vector(b))
}

/// Inserts the vectors of new faces (rows `ids` of `table`) for the enabled
/// models `specs`; vectors of other models are not kept. The caller has
/// checked them (`model_checks::check_vectors`).
pub(crate) fn insert_vectors(
    c: &mut impl GenericClient,
    table: FaceTable,
    specs: &[ModelSpec],
    ids: &[FaceId],
    faces: &[FaceRecord],
) -> Result<(), postgres::Error> {
    if specs.is_empty() {
        return Ok(());
    }
    let (_, vectors, col) = tables(table);
    let st = c.prepare(&format!(
        "INSERT INTO {vectors} ({col}, model, vector) VALUES ($1, $2, $3)"
    ))?;
    for (fid, f) in ids.iter().zip(faces) {
        for v in &f.vectors {
            if specs.iter().any(|m| m.name == v.model) {
                c.execute(&st, &[&(*fid as i64), &v.model, &vector_bytes(&v.vector)])?;
            }
        }
    }
    Ok(())
}

/// The stored vectors of one face, every enabled model (`specs`).
pub(crate) fn face_vectors(
    c: &mut impl GenericClient,
    table: FaceTable,
    specs: &[ModelSpec],
    face: FaceId,
) -> Result<Vec<ModelVector>, postgres::Error> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let (_, vectors, col) = tables(table);
    let rows = c.query(
        &format!("SELECT model, vector FROM {vectors} WHERE {col} = $1"),
        &[&(face as i64)],
    )?;
    let mut by_model: HashMap<String, Vec<f32>> = rows
        .iter()
        .map(|r| (r.get(0), bytes_vector(r.get(1))))
        .collect();
    Ok(specs
        .iter()
        .filter_map(|s| {
            by_model
                .remove(&s.name)
                .filter(|v| v.len() == s.dim as usize)
                .map(|vector| ModelVector {
                    model: s.name.clone(),
                    version: s.version.clone(),
                    vector,
                })
        })
        .collect())
}

impl PgStore {
    /// The models enabled beside dlib's, in the order they were enabled.
    pub fn models(&self) -> &[ModelSpec] {
        self.models.specs()
    }

    /// Whether a choice of models was ever made for this registry.
    pub fn models_chosen(&self) -> Result<bool, StoreError> {
        let v: Option<i64> = self
            .lock()
            .query_opt(
                "SELECT value FROM registry_meta WHERE key = 'models_chosen'",
                &[],
            )
            .map_err(self.db())?
            .map(|r| r.get(0));
        Ok(v.unwrap_or(0) != 0)
    }

    /// Enables `specs` (those not yet enabled) and records that a choice of
    /// models was made, in one transaction; an empty list chooses dlib
    /// alone. Faces stored earlier have no vector from a new model until
    /// [`PgStore::store_vectors`] gives them one.
    pub fn enable_models(&mut self, actor: &str, specs: &[ModelSpec]) -> Result<(), StoreError> {
        let mut new: Vec<ModelSpec> = Vec::new();
        for spec in specs {
            // A list naming one model twice enables it once.
            if check_enable(self.models.specs(), spec)? && check_enable(&new, spec)? {
                new.push(spec.clone());
            }
        }
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        for spec in &new {
            let dim = i32::try_from(spec.dim).map_err(|_| StoreError::Invalid {
                field: "model",
                why: format!("{} gives {}-d vectors", spec.name, spec.dim),
            })?;
            tx.execute(
                "INSERT INTO models (name, version, dim, metric, added_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &spec.name,
                    &spec.version,
                    &dim,
                    &spec.metric.as_str(),
                    &now(),
                ],
            )
            .map_err(db)?;
            audit(
                &mut tx,
                actor,
                "enable_model",
                &format!("model:{}", spec.name),
            )
            .map_err(db)?;
        }
        tx.execute(
            "INSERT INTO registry_meta (key, value) VALUES ('models_chosen', 1)
             ON CONFLICT (key) DO UPDATE SET value = 1",
            &[],
        )
        .map_err(db)?;
        let changes: Vec<Change> = new
            .iter()
            .map(|m| Change::models_changed(&m.name))
            .collect();
        changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        for spec in new {
            // The dimension was checked above (`check_enable`).
            let idx = ModelIndexes::empty_index(&spec, self.params)?;
            self.models.add(spec, idx)?;
        }
        Ok(())
    }

    /// Each enabled model with how many stored faces have its vector.
    pub fn model_status(&self) -> Result<Vec<ModelStatus>, StoreError> {
        let mut client = self.lock();
        let db = self.db();
        let totals = client
            .query_one(
                "SELECT (SELECT count(*) FROM faces), (SELECT count(*) FROM sighting_faces)",
                &[],
            )
            .map_err(&db)?;
        let (faces, sighting_faces) = (totals.get::<_, i64>(0), totals.get::<_, i64>(1));
        let mut out = Vec::with_capacity(self.models.specs().len());
        for spec in self.models.specs() {
            let r = client
                .query_one(
                    "SELECT (SELECT count(*) FROM face_vectors WHERE model = $1),
                            (SELECT count(*) FROM sighting_face_vectors WHERE model = $1)",
                    &[&spec.name],
                )
                .map_err(&db)?;
            out.push(ModelStatus {
                spec: spec.clone(),
                case_faces: (faces as u64, r.get::<_, i64>(0) as u64),
                sighting_faces: (sighting_faces as u64, r.get::<_, i64>(1) as u64),
            });
        }
        Ok(out)
    }

    /// Up to `limit` stored faces without a vector from `model`, case faces
    /// first, each with its photo ([`PgStore::photo_path`] reads it) and
    /// landmarks.
    pub fn pending_faces(&self, model: &str, limit: usize) -> Result<Vec<PendingFace>, StoreError> {
        self.spec(model)?;
        let mut client = self.lock();
        let mut out = Vec::new();
        for table in [FaceTable::Case, FaceTable::Sighting] {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let (faces, vectors, col) = tables(table);
            let owner = match table {
                FaceTable::Case => "JOIN photos o ON o.id = f.photo_id",
                FaceTable::Sighting => "JOIN sightings o ON o.id = f.sighting_id",
            };
            let rows = client
                .query(
                    &format!(
                        "SELECT f.id, o.sha256, f.landmarks FROM {faces} f {owner}
                         WHERE NOT EXISTS (SELECT 1 FROM {vectors} v
                                           WHERE v.{col} = f.id AND v.model = $1)
                         ORDER BY f.id LIMIT $2"
                    ),
                    &[&model, &i64::try_from(left).unwrap_or(i64::MAX)],
                )
                .map_err(self.db())?;
            for r in &rows {
                let l: Vec<f32> = r.get(2);
                if let (Some(sha256), true) = (hash32(r.get::<_, &[u8]>(1)), l.len() == 10) {
                    out.push(PendingFace {
                        table,
                        face_id: id(r.get(0)),
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
    /// the meantime is skipped; a face that had a vector gets the new one.
    /// Returns how many were stored.
    pub fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(FaceTable, FaceId, Vec<f32>)],
    ) -> Result<usize, StoreError> {
        let spec = self.spec(model)?.clone();
        for (_, fid, v) in vectors {
            check_stored_vector(&spec, *fid, v)?;
        }
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let mut stored = Vec::new();
        for (table, fid, v) in vectors {
            let Ok(key) = i64::try_from(*fid) else {
                continue; // no such row
            };
            let (faces, table_v, col) = tables(*table);
            let n = tx
                .execute(
                    &format!(
                        "INSERT INTO {table_v} ({col}, model, vector)
                         SELECT id, $2, $3 FROM {faces} WHERE id = $1
                         ON CONFLICT ({col}, model) DO UPDATE SET vector = EXCLUDED.vector"
                    ),
                    &[&key, &model, &vector_bytes(v)],
                )
                .map_err(db)?;
            if n > 0 {
                stored.push((*table, *fid, v));
            }
        }
        // Only case faces are indexed: sighting faces' vectors change no
        // search answer.
        let changes: Vec<Change> = stored
            .iter()
            .filter(|(t, _, _)| *t == FaceTable::Case)
            .map(|(_, fid, _)| Change::vectors_replaced(*fid, model))
            .collect();
        changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        let mut items = Vec::new();
        for (table, fid, v) in &stored {
            let meta = self.index.meta(*fid).copied();
            if let (FaceTable::Case, Some(meta)) = (table, meta) {
                items.push((*fid, v.as_slice(), meta));
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
        let Some(dim) = self
            .models
            .specs()
            .iter()
            .find(|m| m.name == model)
            .map(|m| m.dim as usize)
        else {
            return Ok(HashMap::new());
        };
        let keys: Vec<i64> = ids.iter().filter_map(|i| i64::try_from(*i).ok()).collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let (_, vectors, col) = tables(table);
        let rows = self
            .lock()
            .query(
                &format!(
                    "SELECT {col}, vector FROM {vectors} WHERE {col} = ANY($1) AND model = $2"
                ),
                &[&keys, &model],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((id(r.get(0)), bytes_model_vector(r.get(1), dim)?)))
            .collect())
    }

    /// The `k` nearest cases to `vector` in `model`'s index among those
    /// `filter` accepts, with the distance of each one's nearest face.
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

    /// Reads the enabled models and builds their indexes from the stored
    /// vectors of case faces (the dlib index must be built: it has the
    /// faces' case facts).
    pub(crate) fn load_models(&mut self, params: HnswParams) -> Result<(), StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT name, version, dim, metric FROM models ORDER BY added_at, name",
                &[],
            )
            .map_err(self.db())?;
        let mut models = ModelIndexes::default();
        for r in &rows {
            let spec = ModelSpec {
                name: r.get(0),
                version: r.get(1),
                dim: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                metric: r.get::<_, &str>(3).parse::<Metric>()?,
            };
            let idx = self.build_model_index(&spec, params)?;
            models.add(spec, idx)?;
        }
        self.models = models;
        Ok(())
    }

    fn build_model_index(
        &self,
        spec: &ModelSpec,
        params: HnswParams,
    ) -> Result<FaceIndex, StoreError> {
        let (model, dim) = (spec.name.as_str(), spec.dim as usize);
        let rows = self
            .lock()
            .query(
                "SELECT face_id, vector FROM face_vectors WHERE model = $1 ORDER BY face_id",
                &[&model],
            )
            .map_err(self.db())?;
        let items: Vec<_> = rows
            .iter()
            .filter_map(|r| {
                let fid = id(r.get(0));
                Some((
                    fid,
                    bytes_model_vector(r.get(1), dim)?,
                    *self.index.meta(fid)?,
                ))
            })
            .collect();
        let mut idx = ModelIndexes::empty_index(spec, params)?;
        idx.insert_batch(&items)?;
        Ok(idx)
    }
}
