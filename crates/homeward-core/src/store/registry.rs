//! [`Registry`]: the store of record plus its derived face index.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::codec::{blob_to_embedding, check_faces, f32s_to_blob, now};
use super::files::{fsync_dir, hex, sha256, PhotoFiles};
use super::schema::{self, Found, SCHEMA_VERSION};
use super::types::*;
use super::vectors::{FaceTable, ModelSpec};
use super::StoreError;
use crate::index::{l2, Embedding, FaceIndex, FaceMeta, HnswParams, SearchFilter};

const DB_NAME: &str = "registry.sqlite";
const LOCK_NAME: &str = "registry.lock";
/// Who holds the lock, written by the holder once it has the lock (the lock
/// file itself is truncated by every opener, so it cannot carry this).
const HOLDER_NAME: &str = "registry.holder";
/// Most bytes of the holder file read back.
const HOLDER_MAX: u64 = 256;
const CLEAN_NAME: &str = "closed-cleanly";
const MANIFEST_NAME: &str = "export.json";
const EXPORT_FORMAT: &str = "homeward-registry-export";

/// How the face index was obtained at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Loaded from a valid snapshot; `added` newer faces were added from the store.
    Snapshot {
        /// Faces added on top of the snapshot.
        added: usize,
    },
    /// Rebuilt from the store, for the stated reason.
    Rebuilt {
        /// Why the snapshot was not used.
        reason: String,
    },
}

/// The missing-children registry: SQLite store of record, photo files and
/// the face index derived from them.
///
/// Every write names its `actor`, which goes to the append-only audit log
/// together with the action and the target row, never personal data.
///
/// ```
/// use homeward_core::store::{CaseStatus, FaceRecord, NewCase, PhotoMeta, Registry, Sex};
/// use homeward_core::index::SearchFilter;
/// let dir = tempfile::tempdir().unwrap();
/// let mut reg = Registry::open(dir.path()).unwrap();
/// let case = reg.add_case("worker-1", &NewCase {
///     child_name: "A. Child".into(), sex: Sex::Female, birth_date: None, birth_year: Some(2016),
///     missing_date: Some("2024-05-01".into()), missing_place: "Lyon".into(),
///     missing_location: Some((45.76, 4.83)), status: CaseStatus::Searching,
///     contact_ref: None, notes: None }).unwrap();
/// let face = FaceRecord { bbox: [0.0, 0.0, 10.0, 10.0], landmarks: [[1.0, 1.0]; 5],
///     embedding: [0.05; 128], chip_hash: None, model: "dlib-resnet-v1".into(), vectors: vec![] };
/// reg.add_photo("worker-1", case, b"jpeg bytes", &PhotoMeta::default(), &[face]).unwrap();
/// let hits = reg.search_with(&[0.05; 128], &SearchFilter::default(), 5, 3).unwrap();
/// assert_eq!(hits[0].case_id, case);
/// ```
pub struct Registry {
    pub(super) dir: PathBuf,
    pub(super) db_path: PathBuf,
    pub(super) conn: Connection,
    pub(super) files: PhotoFiles,
    pub(super) index: FaceIndex,
    pub(super) models: super::model_index::ModelIndexes,
    origin: IndexOrigin,
    pub(super) model_origins: Vec<(String, IndexOrigin)>,
    orphans_removed: usize,
    pub(super) params: HnswParams,
    // Held for the registry's lifetime; the OS releases it if the process dies.
    _lock: File,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("dir", &self.dir)
            .field("faces", &self.index.len())
            .finish()
    }
}

fn year_of(date: &str) -> Option<i32> {
    date.get(..4)?.parse().ok()
}

impl Registry {
    /// The database file of the registry in `dir`.
    pub(super) fn db_file(dir: &Path) -> PathBuf {
        dir.join(DB_NAME)
    }

    /// Opens (or creates) the registry in `dir` with default index parameters.
    pub fn open(dir: impl AsRef<Path>) -> Result<Registry, StoreError> {
        Self::open_with(dir, HnswParams::default())
    }

    /// Opens (or creates) the registry in `dir`.
    ///
    /// Runs migrations, removes files left by interrupted writes, and loads
    /// the face index snapshot or rebuilds it from the store.
    pub fn open_with(dir: impl AsRef<Path>, params: HnswParams) -> Result<Registry, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let lock_path = dir.join(LOCK_NAME);
        let lock = File::create(&lock_path).map_err(|e| StoreError::io(&lock_path, e))?;
        take_lock(&lock, &lock_path, &dir)?;
        write_holder(&dir);
        let db_path = Registry::db_file(&dir);
        check_sqlite_header(&db_path)?;
        let sql = |source| StoreError::Sqlite {
            path: db_path.clone(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )
        .map_err(|e| not_a_db(&db_path, e))?;
        match schema::migrate(&mut conn).map_err(|e| not_a_db(&db_path, e))? {
            Found::Current => {}
            Found::TooNew(found) => {
                return Err(StoreError::TooNew {
                    path: db_path,
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            Found::Foreign(why) => return Err(StoreError::NotARegistry { path: db_path, why }),
        }
        let files = PhotoFiles::new(&dir)?;
        let mut reg = Registry {
            db_path,
            conn,
            files,
            index: FaceIndex::new(params),
            models: Default::default(),
            origin: IndexOrigin::Rebuilt {
                reason: String::new(),
            },
            model_origins: Vec::new(),
            orphans_removed: 0,
            params,
            _lock: lock,
            dir,
        };
        reg.recover()?;
        reg.open_index()?;
        reg.open_models()?;
        Ok(reg)
    }

    pub(super) fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        }
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How each enabled model's face index was obtained at open (from its
    /// snapshot, or rebuilt and why), by model name.
    pub fn model_index_origins(&self) -> &[(String, IndexOrigin)] {
        &self.model_origins
    }

    /// How the face index was obtained at open.
    pub fn index_origin(&self) -> &IndexOrigin {
        &self.origin
    }

    /// Orphan photo files removed by the recovery pass at open.
    pub fn orphans_removed(&self) -> usize {
        self.orphans_removed
    }

    /// The face index (read-only).
    pub fn index(&self) -> &FaceIndex {
        &self.index
    }

    /// Path of the stored file of a photo content hash.
    pub fn photo_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.files.path(sha256)
    }

    /// Removes interrupted writes: `tmp/` files always, and, unless the last
    /// session closed cleanly, every photo file that no row refers to.
    fn recover(&mut self) -> Result<(), StoreError> {
        self.files.clear_tmp()?;
        let marker = self.dir.join(CLEAN_NAME);
        let clean = marker.exists();
        if clean {
            fs::remove_file(&marker).map_err(|e| StoreError::io(&marker, e))?;
            fsync_dir(&self.dir)?;
        } else {
            let referenced = self.referenced_hashes()?;
            self.orphans_removed = self.files.remove_orphans(&referenced)?;
        }
        Ok(())
    }

    fn referenced_hashes(&self) -> Result<HashSet<[u8; 32]>, StoreError> {
        let mut set = HashSet::new();
        let mut st = self
            .conn
            .prepare("SELECT sha256 FROM photos UNION SELECT sha256 FROM sightings")
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(self.sql())?;
        for h in rows {
            let h = h.map_err(self.sql())?;
            if let Ok(a) = <[u8; 32]>::try_from(h.as_slice()) {
                set.insert(a);
            }
        }
        Ok(set)
    }

    fn erase_generation(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM registry_meta WHERE key = 'erase_generation'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(self.sql())
    }

    fn index_root(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// Case attributes of every stored case face, by face id.
    /// Embeddings are read only for faces with an id above `above`.
    fn face_metas(
        &self,
        above: i64,
    ) -> Result<Vec<(u64, FaceMeta, Option<Embedding>)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT f.id, p.case_id, c.sex, c.birth_year, c.missing_lat, c.missing_lon, c.status,
                        CASE WHEN f.id > ?1 THEN f.embedding END
                 FROM faces f JOIN photos p ON p.id = f.photo_id JOIN cases c ON c.id = p.case_id
                 ORDER BY f.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([above], |r| {
                let lat: Option<f64> = r.get(4)?;
                let lon: Option<f64> = r.get(5)?;
                let emb: Option<Vec<u8>> = r.get(7)?;
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    FaceMeta {
                        case_id: r.get::<_, i64>(1)? as u64,
                        sex: r.get::<_, Sex>(2)?,
                        birth_year: r.get(3)?,
                        location: lat.zip(lon),
                        status: r.get::<_, CaseStatus>(6)?,
                    },
                    emb.and_then(|b| blob_to_embedding(&b)),
                ))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    fn open_index(&mut self) -> Result<(), StoreError> {
        let root = self.index_root();
        let generation = self.erase_generation()?;
        let light = self.face_metas(i64::MAX)?;
        let metas: Vec<(u64, FaceMeta)> = light.iter().map(|(id, m, _)| (*id, *m)).collect();
        match FaceIndex::load(&root, generation, metas) {
            Ok((mut idx, newer)) => {
                let from = newer.first().map_or(i64::MAX, |id| *id as i64 - 1);
                let added = if newer.is_empty() {
                    0
                } else {
                    let rows = self.face_metas(from)?;
                    let items: Vec<_> = rows
                        .into_iter()
                        .filter_map(|(id, m, e)| Some((id, e?, m)))
                        .collect();
                    idx.insert_batch(&items)?;
                    items.len()
                };
                self.index = idx;
                self.origin = IndexOrigin::Snapshot { added };
            }
            Err(err) => {
                let reason = err.to_string();
                FaceIndex::delete_snapshot(&root)?;
                self.rebuild_index()?;
                self.origin = IndexOrigin::Rebuilt { reason };
            }
        }
        Ok(())
    }

    /// Rebuilds the face index from the store (the index is derived data).
    pub fn rebuild_index(&mut self) -> Result<(), StoreError> {
        let rows = self.face_metas(0)?;
        let items: Vec<_> = rows
            .into_iter()
            .filter_map(|(id, m, e)| Some((id, e?, m)))
            .collect();
        let mut idx = FaceIndex::new(self.params);
        idx.insert_batch(&items)?;
        self.index = idx;
        if !self.models().is_empty() {
            self.open_models()?;
        }
        Ok(())
    }

    /// Writes a face index snapshot so the next open skips the rebuild.
    pub fn save_index(&mut self) -> Result<(), StoreError> {
        let generation = self.erase_generation()?;
        let root = self.index_root();
        self.index.save(&root, generation)?;
        self.save_model_indexes()
    }

    pub(super) fn audit(
        tx: &rusqlite::Transaction<'_>,
        actor: &str,
        action: &str,
        target: &str,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO audit_log (at, actor, action, target) VALUES (?1, ?2, ?3, ?4)",
            params![now(), actor, action, target],
        )
        .map(|_| ())
    }

    /// Adds a case.
    pub fn add_case(&mut self, actor: &str, case: &NewCase) -> Result<CaseId, StoreError> {
        if case.child_name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "child_name",
                why: "empty".into(),
            });
        }
        let birth_year = case
            .birth_year
            .or_else(|| case.birth_date.as_deref().and_then(year_of));
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO cases (child_name, sex, birth_date, birth_year, missing_date, missing_place,
                                missing_lat, missing_lon, status, contact_ref, notes, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                case.child_name,
                case.sex.as_str(),
                case.birth_date,
                birth_year,
                case.missing_date,
                case.missing_place,
                case.missing_location.map(|l| l.0),
                case.missing_location.map(|l| l.1),
                case.status.as_str(),
                case.contact_ref,
                case.notes,
                now()
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid() as u64;
        Self::audit(&tx, actor, "add_case", &format!("case:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// Reads a case.
    pub fn case(&self, id: CaseId) -> Result<Case, StoreError> {
        self.conn
            .query_row(
                "SELECT child_name, sex, birth_date, birth_year, missing_date, missing_place,
                        missing_lat, missing_lon, status, contact_ref, notes FROM cases WHERE id = ?1",
                [id as i64],
                |r| {
                    let lat: Option<f64> = r.get(6)?;
                    let lon: Option<f64> = r.get(7)?;
                    Ok(Case {
                        id,
                        data: NewCase {
                            child_name: r.get(0)?,
                            sex: r.get::<_, Sex>(1)?,
                            birth_date: r.get(2)?,
                            birth_year: r.get(3)?,
                            missing_date: r.get(4)?,
                            missing_place: r.get(5)?,
                            missing_location: lat.zip(lon),
                            status: r.get::<_, CaseStatus>(8)?,
                            contact_ref: r.get(9)?,
                            notes: r.get(10)?,
                        },
                    })
                },
            )
            .optional()
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound { what: "case", id })
    }

    /// The case and content hash of a stored photo.
    pub fn photo(&self, id: PhotoId) -> Result<(CaseId, [u8; 32]), StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT case_id, sha256 FROM photos WHERE id = ?1",
                [id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sql())?;
        let (case, h) = row.ok_or(StoreError::NotFound { what: "photo", id })?;
        let h = <[u8; 32]>::try_from(h.as_slice()).map_err(|_| StoreError::Invalid {
            field: "photos.sha256",
            why: format!("photo {id} has a malformed hash"),
        })?;
        Ok((case as u64, h))
    }

    /// Changes a case's status (the index follows without a rebuild), and
    /// keeps who, when and `why` in the case's journal.
    pub fn set_case_status(
        &mut self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<(), StoreError> {
        let why = why
            .map(|w| super::journal::check_event_text("why", w))
            .transpose()?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute(
                "UPDATE cases SET status = ?1 WHERE id = ?2",
                params![status.as_str(), id as i64],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "case", id });
        }
        Self::audit(
            &tx,
            actor,
            &format!("set_status:{}", status.as_str()),
            &format!("case:{id}"),
        )
        .map_err(sql)?;
        Self::journal_status(&tx, actor, id, status, why.as_deref()).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.index.update_case(id, |m| m.status = status);
        self.models.update_case(id, |m| m.status = status);
        Ok(())
    }

    /// Inserts face rows of `table` with the vectors of the enabled models
    /// `specs`.
    pub(super) fn insert_faces(
        tx: &rusqlite::Transaction<'_>,
        table: FaceTable,
        specs: &[ModelSpec],
        owner: i64,
        faces: &[FaceRecord],
    ) -> rusqlite::Result<Vec<u64>> {
        let (table_name, owner_col) = match table {
            FaceTable::Case => ("faces", "photo_id"),
            FaceTable::Sighting => ("sighting_faces", "sighting_id"),
        };
        let mut st = tx.prepare(&format!(
            "INSERT INTO {table_name} ({owner_col}, bbox, landmarks, embedding, chip_hash, model)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?;
        let mut ids = Vec::with_capacity(faces.len());
        for f in faces {
            let lm: Vec<f32> = f.landmarks.iter().flatten().copied().collect();
            st.execute(params![
                owner,
                f32s_to_blob(&f.bbox),
                f32s_to_blob(&lm),
                f32s_to_blob(&f.embedding),
                f.chip_hash.map(|h| h.to_vec()),
                f.model
            ])?;
            ids.push(tx.last_insert_rowid() as u64);
        }
        Self::insert_vectors(tx, table, specs, &ids, faces)?;
        Ok(ids)
    }

    /// Adds a photo of a case with its detected faces. The file is durable
    /// before the rows commit. Returns the photo id and the face ids.
    pub fn add_photo(
        &mut self,
        actor: &str,
        case: CaseId,
        bytes: &[u8],
        meta: &PhotoMeta,
        faces: &[FaceRecord],
    ) -> Result<(PhotoId, Vec<FaceId>), StoreError> {
        check_faces(faces)?;
        self.check_vectors(faces)?;
        if bytes.is_empty() {
            return Err(StoreError::Invalid {
                field: "photo",
                why: "no bytes".into(),
            });
        }
        let c = self.case(case)?;
        let h = sha256(bytes);
        self.files.put(&h, bytes)?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO photos (case_id, sha256, byte_len, age_months, taken_date, source, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![case as i64, h.to_vec(), bytes.len() as i64, meta.age_months, meta.taken_date, meta.source, now()],
        )
        .map_err(sql)?;
        let photo = tx.last_insert_rowid() as u64;
        let face_ids = Self::insert_faces(
            &tx,
            FaceTable::Case,
            self.models.specs(),
            photo as i64,
            faces,
        )
        .map_err(sql)?;
        Self::audit(&tx, actor, "add_photo", &format!("photo:{photo}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        let fm = FaceMeta {
            case_id: case,
            sex: c.data.sex,
            birth_year: c.data.birth_year,
            location: c.data.missing_location,
            status: c.data.status,
        };
        for (id, f) in face_ids.iter().zip(faces) {
            self.index.insert(*id, &f.embedding, fm)?;
            self.models.insert(*id, f, fm);
        }
        Ok((photo, face_ids))
    }

    /// Records a candidate match for review. `scores` are named scores
    /// (e.g. `("embedding_distance", 0.42)`), stored as a JSON object.
    pub fn add_match(
        &mut self,
        actor: &str,
        sighting: SightingId,
        case: CaseId,
        scores: &[(&str, f64)],
    ) -> Result<MatchId, StoreError> {
        let obj: serde_json::Map<String, serde_json::Value> = scores
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::json!(v)))
            .collect();
        let json = serde_json::Value::Object(obj).to_string();
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO matches (sighting_id, case_id, scores, state, created_at) VALUES (?1, ?2, ?3, 'pending', ?4)",
            params![sighting as i64, case as i64, json, now()],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::Invalid {
                    field: "match",
                    why: format!("sighting {sighting} or case {case} does not exist"),
                }
            }
            other => sql(other),
        })?;
        let id = tx.last_insert_rowid() as u64;
        Self::audit(&tx, actor, "add_match", &format!("match:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// Records a reviewer's decision on a match.
    pub fn review_match(
        &mut self,
        reviewer: &str,
        id: MatchId,
        state: MatchState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute(
                "UPDATE matches SET state = ?1, reviewer = ?2, decided_at = ?3, note = ?4 WHERE id = ?5",
                params![state.as_str(), reviewer, now(), note, id as i64],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "match", id });
        }
        Self::audit(
            &tx,
            reviewer,
            &format!("review:{}", state.as_str()),
            &format!("match:{id}"),
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(())
    }

    /// State of a match.
    pub fn match_state(&self, id: MatchId) -> Result<MatchState, StoreError> {
        self.conn
            .query_row(
                "SELECT state FROM matches WHERE id = ?1",
                [id as i64],
                |r| r.get::<_, MatchState>(0),
            )
            .optional()
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound { what: "match", id })
    }

    /// The `k` nearest cases to `embedding` among those `filter` accepts,
    /// each with its `per_case` nearest photos (exact distances). How many
    /// photos a case shows is the caller's policy.
    pub fn search_with(
        &self,
        embedding: &Embedding,
        filter: &SearchFilter,
        k: usize,
        per_case: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let cases = self.index.search_cases(embedding, filter, k, per_case)?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.photo_id, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id
                 WHERE p.case_id = ?1",
            )
            .map_err(self.sql())?;
        let mut out = Vec::with_capacity(cases.len());
        for c in cases {
            let rows = st
                .query_map([c.case_id as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(self.sql())?;
            let mut photos = Vec::new();
            for row in rows {
                let (face_id, photo_id, blob) = row.map_err(self.sql())?;
                if let Some(e) = blob_to_embedding(&blob) {
                    photos.push(PhotoHit {
                        photo_id,
                        face_id,
                        distance: l2(embedding, &e),
                    });
                }
            }
            photos.sort_by(|a, b| {
                a.distance
                    .total_cmp(&b.distance)
                    .then(a.face_id.cmp(&b.face_id))
            });
            photos.truncate(per_case);
            out.push(SearchHit {
                case_id: c.case_id,
                distance: photos.first().map_or(c.distance, |p| p.distance),
                photos,
            });
        }
        Ok(out)
    }

    /// Erases a case completely: its row, photos, faces, embeddings, hashes,
    /// matches, photo files (unless another record holds the same bytes) and
    /// index entries; the index snapshot is rewritten without them. The audit
    /// log keeps only `erase_case case:<id>`.
    pub fn erase_case(&mut self, actor: &str, id: CaseId) -> Result<(), StoreError> {
        let face_ids: Vec<u64> = {
            let mut st = self
                .conn
                .prepare("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.case_id = ?1")
                .map_err(self.sql())?;
            let rows = st
                .query_map([id as i64], |r| r.get::<_, i64>(0))
                .map_err(self.sql())?;
            rows.map(|r| r.map(|v| v as u64))
                .collect::<Result<_, _>>()
                .map_err(self.sql())?
        };
        let hashes: Vec<[u8; 32]> = {
            let mut st = self
                .conn
                .prepare("SELECT DISTINCT sha256 FROM photos WHERE case_id = ?1")
                .map_err(self.sql())?;
            let rows = st
                .query_map([id as i64], |r| r.get::<_, Vec<u8>>(0))
                .map_err(self.sql())?;
            let v: Vec<Vec<u8>> = rows.collect::<Result<_, _>>().map_err(self.sql())?;
            v.into_iter()
                .filter_map(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
                .collect()
        };
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute("DELETE FROM cases WHERE id = ?1", [id as i64])
            .map_err(sql)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "case", id });
        }
        tx.execute(
            "UPDATE registry_meta SET value = value + 1 WHERE key = 'erase_generation'",
            [],
        )
        .map_err(sql)?;
        Self::audit(&tx, actor, "erase_case", &format!("case:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        // Committed: from here a crash leaves only orphan files (removed at
        // open) and a stale snapshot (refused by its erase generation).
        let still = self.referenced_hashes()?;
        for h in hashes.iter().filter(|h| !still.contains(*h)) {
            self.files.remove(h)?;
        }
        let root = self.index_root();
        FaceIndex::delete_snapshot(&root)?;
        self.delete_model_snapshots()?;
        for f in &face_ids {
            self.index.remove(*f);
            self.models.remove(*f);
        }
        self.index.compact();
        self.models.compact();
        if !self.index.is_empty() {
            self.save_index()?;
        }
        // Fold the WAL back and truncate it so no copy of the erased pages
        // remains there; secure_delete has zeroed them in the main file.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(self.sql())?;
        Ok(())
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, at, actor, action, target FROM audit_log ORDER BY id")
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| {
                Ok(AuditEntry {
                    id: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Tries to change an audit entry; always refused by the database
    /// triggers. Exists so the append-only guarantee can be demonstrated.
    pub fn try_tamper_audit(&mut self, id: u64) -> Result<(), StoreError> {
        match self.conn.execute(
            "UPDATE audit_log SET actor = 'x' WHERE id = ?1",
            [id as i64],
        ) {
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError::AuditAppendOnly(e.to_string())),
        }
    }

    /// Runs SQLite's `integrity_check` and checks every row's photo file
    /// exists with the right hash. Returns the problems found (empty: sound).
    pub fn verify(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut st = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.sql())?;
        for r in rows {
            let r = r.map_err(self.sql())?;
            if r != "ok" {
                problems.push(format!("integrity_check: {r}"));
            }
        }
        for h in self.referenced_hashes()? {
            let p = self.files.path(&h);
            match fs::read(&p) {
                Ok(b) if sha256(&b) == h => {}
                Ok(_) => problems.push(format!("photo file {} does not match its hash", hex(&h))),
                Err(_) => problems.push(format!("photo file {} is missing", hex(&h))),
            }
        }
        Ok(problems)
    }

    /// Writes a self-contained copy of the registry into the new directory
    /// `dest`: `registry.sqlite` (a consistent `VACUUM INTO` copy), the
    /// referenced photo files, and `export.json` (format, version, checksums).
    pub fn export(&mut self, actor: &str, dest: impl AsRef<Path>) -> Result<(), StoreError> {
        let dest = dest.as_ref();
        if dest.exists()
            && fs::read_dir(dest)
                .map_err(|e| StoreError::io(dest, e))?
                .next()
                .is_some()
        {
            return Err(StoreError::Invalid {
                field: "export destination",
                why: format!("{} is not empty", dest.display()),
            });
        }
        fs::create_dir_all(dest).map_err(|e| StoreError::io(dest, e))?;
        {
            let sql = |source| StoreError::Sqlite {
                path: self.db_path.clone(),
                source,
            };
            let tx = self.conn.transaction().map_err(sql)?;
            Self::audit(&tx, actor, "export", "registry").map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        let db_dest = dest.join(DB_NAME);
        self.conn
            .execute("VACUUM INTO ?1", [db_dest.to_string_lossy().as_ref()])
            .map_err(self.sql())?;
        let out_files = PhotoFiles::new(dest)?;
        let hashes = self.referenced_hashes()?;
        for h in &hashes {
            let bytes =
                fs::read(self.files.path(h)).map_err(|e| StoreError::io(self.files.path(h), e))?;
            out_files.put(h, &bytes)?;
        }
        let _ = fs::remove_dir(dest.join("tmp"));
        let db_bytes = fs::read(&db_dest).map_err(|e| StoreError::io(&db_dest, e))?;
        let manifest = serde_json::json!({
            "format": EXPORT_FORMAT,
            "version": EXPORT_FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "photos": hashes.len(),
            "db_sha256": hex(&sha256(&db_bytes)),
        });
        let mp = dest.join(MANIFEST_NAME);
        fs::write(&mp, manifest.to_string()).map_err(|e| StoreError::io(&mp, e))?;
        for p in [&db_dest, &mp] {
            File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(p, e))?;
        }
        fsync_dir(dest)
    }

    /// Creates the registry `into` (a new or empty directory) from an export
    /// written by [`Registry::export`], after checking its format, version,
    /// database checksum and every photo file's hash. The index is rebuilt.
    pub fn import(
        actor: &str,
        export: impl AsRef<Path>,
        into: impl AsRef<Path>,
    ) -> Result<Registry, StoreError> {
        let src = export.as_ref();
        let into = into.as_ref();
        let bad = |why: String| StoreError::BadExport {
            path: src.to_path_buf(),
            why,
        };
        let mp = src.join(MANIFEST_NAME);
        let text =
            fs::read_to_string(&mp).map_err(|_| bad(format!("no readable {MANIFEST_NAME}")))?;
        let m: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("manifest is not JSON: {e}")))?;
        if m["format"] != EXPORT_FORMAT {
            return Err(bad(format!(
                "format is {}, expected {EXPORT_FORMAT}",
                m["format"]
            )));
        }
        let v = m["version"].as_u64().unwrap_or(0);
        if v != u64::from(EXPORT_FORMAT_VERSION) {
            return Err(bad(format!(
                "export format version {v}, this build reads {EXPORT_FORMAT_VERSION}"
            )));
        }
        let db_src = src.join(DB_NAME);
        let db_bytes = fs::read(&db_src).map_err(|e| StoreError::io(&db_src, e))?;
        if m["db_sha256"].as_str() != Some(hex(&sha256(&db_bytes)).as_str()) {
            return Err(bad("database checksum does not match the manifest".into()));
        }
        if into.exists()
            && fs::read_dir(into)
                .map_err(|e| StoreError::io(into, e))?
                .next()
                .is_some()
        {
            return Err(StoreError::Invalid {
                field: "import destination",
                why: format!("{} is not empty", into.display()),
            });
        }
        let src_files = PhotoFiles::new(src)?;
        fs::create_dir_all(into).map_err(|e| StoreError::io(into, e))?;
        let out_files = PhotoFiles::new(into)?;
        for h in src_files.list()? {
            let p = src_files.path(&h);
            let bytes = fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
            if sha256(&bytes) != h {
                return Err(bad(format!("photo {} does not match its hash", hex(&h))));
            }
            out_files.put(&h, &bytes)?;
        }
        let db_dest = into.join(DB_NAME);
        fs::write(&db_dest, &db_bytes).map_err(|e| StoreError::io(&db_dest, e))?;
        File::open(&db_dest)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&db_dest, e))?;
        let mut reg = Registry::open(into)?;
        let missing = reg.verify()?;
        if !missing.is_empty() {
            return Err(bad(missing.join("; ")));
        }
        let sql = |source| StoreError::Sqlite {
            path: reg.db_path.clone(),
            source,
        };
        let tx = reg.conn.transaction().map_err(sql)?;
        Self::audit(&tx, actor, "import", "registry").map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(reg)
    }

    /// Saves the index snapshot and marks the registry as closed cleanly, so
    /// the next open skips the orphan scan.
    pub fn close(mut self) -> Result<(), StoreError> {
        if !self.index.is_empty() {
            self.save_index()?;
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(self.sql())?;
        let marker = self.dir.join(CLEAN_NAME);
        File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&marker, e))?;
        fsync_dir(&self.dir)
    }
}

/// How long [`Registry::open`] waits for a lock that is held.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// Takes the registry's exclusive lock, waiting up to [`LOCK_WAIT`].
///
/// The wait is for handles that are closing, not for live ones: a process
/// that spawns a child while a registry is open lends the child its lock
/// (the duplicated descriptor shares the `flock`) until the child's `exec`
/// closes it. A registry dropped and reopened within that window would
/// otherwise be refused as open elsewhere.
fn take_lock(lock: &File, lock_path: &Path, dir: &Path) -> Result<(), StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                    holder: read_holder(dir),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(lock_path, e)),
        }
    }
}

/// Says who holds the lock: the process id and the program with its
/// subcommand (`homeward serve`), never further arguments. Best effort: a
/// holder that cannot write it is still the holder.
fn write_holder(dir: &Path) {
    write_holder_note(dir, None)
}

impl Registry {
    /// Adds `note` to the description of this process that others see in
    /// [`StoreError::Locked`] while it holds the registry at `dir` (a
    /// server adds the address it listens on). Best effort; call it only
    /// while holding the registry.
    pub fn note_holder(dir: &Path, note: &str) {
        write_holder_note(dir, Some(note))
    }
}

fn write_holder_note(dir: &Path, note: Option<&str>) {
    let prog: Vec<String> = std::env::args_os()
        .take(2)
        .enumerate()
        .map(|(i, a)| {
            let a = Path::new(&a);
            let shown = if i == 0 {
                a.file_name().map(Path::new).unwrap_or(a)
            } else {
                a
            };
            shown.to_string_lossy().into_owned()
        })
        .collect();
    let what = match note {
        Some(n) => format!("{}, {n}", prog.join(" ")),
        None => prog.join(" "),
    };
    let text = format!("process {} ({what})", std::process::id());
    let _ = fs::write(dir.join(HOLDER_NAME), text);
}

/// The holder's description, cleaned of control characters, or "another
/// process".
fn read_holder(dir: &Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    let read = File::open(dir.join(HOLDER_NAME))
        .and_then(|f| f.take(HOLDER_MAX).read_to_string(&mut text));
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if read.is_err() || clean.trim().is_empty() {
        "another process".into()
    } else {
        clean.trim().to_string()
    }
}

/// Refuses a non-empty file that is not SQLite before SQLite touches it.
fn check_sqlite_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let Ok(mut f) = File::open(path) else {
        return Ok(());
    };
    let mut head = [0u8; 16];
    let n = f.read(&mut head).map_err(|e| StoreError::io(path, e))?;
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(StoreError::NotARegistry {
            path: path.to_path_buf(),
            why: "not an SQLite database".into(),
        });
    }
    Ok(())
}

fn not_a_db(path: &Path, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotARegistry {
                path: path.to_path_buf(),
                why: "not an SQLite database".into(),
            }
        }
        other => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: other,
        },
    }
}
