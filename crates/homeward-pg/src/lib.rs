//! The Homeward registry on PostgreSQL: [`PgStore`] implements
//! [`homeward_core::store::Store`] with the same contract as the SQLite
//! [`Registry`](homeward_core::store::Registry): the same typed reads, the
//! same audit log, the same erasure, and the same in-process face index
//! (Homeward's own, loaded from the database at open and kept in step with
//! every insert, status change and erasure), and the same model slot: the
//! vectors of the embedding models enabled beside dlib's, with one index
//! per model (`vectors.rs`). It also implements
//! [`homeward_core::store::MatchStore`], the rows the matching library
//! ranks and deduplicates with (`matching.rs`).
//!
//! ```text
//! postgres://user@host/db   cases, photos, faces, sightings, matches,
//!                           audit log, batch progress (schema.rs)
//! <photo_root>/photos/ab/…  photo bytes named by SHA-256, written and
//!                           fsync'd before the row that names them commits
//! <photo_root>/tmp/         files being written (cleared at open)
//! <photo_root>/snapshots/   index snapshots with their change log
//!                           position, loaded at open (`snapshot.rs`)
//! ```
//!
//! Two ways to open a registry (a session advisory lock, held for the
//! store's lifetime and released by the server if the process dies):
//!
//! - [`PgStore::connect`]: the only process. It also clears `tmp/` and
//!   removes photo files no row names (interrupted writes), which is safe
//!   only when no other process is writing.
//! - [`PgStore::connect_shared`]: one of several processes (servers,
//!   workers, on any machine) sharing the database. Each keeps its own
//!   index and follows the change log (`changelog.rs`): every write that
//!   changes what a search can return appends to `changes` in its own
//!   transaction, and [`PgStore::catch_up`] applies what others wrote,
//!   woken by [`ChangeListener`]. The orphan scan waits for an exclusive
//!   open.
//!
//! [`PgReader`] (`reads.rs`, [`PgStore::reader`] or [`PgReader::connect`])
//! is a read-only connection of its own for the typed reads
//! ([`homeward_core::store::ReadStore`]), for a server's pool; it works
//! against a hot standby too.
//!
//! The ingest queue (`jobs.rs`, [`JobQueue`]) hands photos to workers with
//! leases, so a job whose worker dies is taken up again, and records each
//! one once. The web accounts (users, sessions, API tokens, receipts, the
//! access log) live in the same database ([`PgAccounts`], `accounts.rs`),
//! shared by every server. See `docs/adr-postgres.md`.

#![deny(missing_docs)]

mod accounts;
mod changelog;
#[cfg(feature = "test-cluster")]
pub mod cluster;
mod error;
mod jobs;
mod journal;
mod matching;
mod outbox;
mod probe;
mod reads;
mod rows;
mod schema;
mod snapshot;
mod vectors;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use homeward_core::index::{l2, Embedding, FaceIndex, FaceMeta, HnswParams, SearchFilter};
use homeward_core::rules::{CaseStatus, MatchState};
use homeward_core::store::model_checks::check_vectors;
use homeward_core::store::{
    check_event_text, check_faces, sha256, AuditEntry, BatchStatus, Case, CaseEvent, CaseEventId,
    CaseId, CasePhoto, CaseSummary, FaceId, FaceRecord, FaceTable, MatchId, MatchRow, ModelSpec,
    ModelStatus, NewCase, NewSighting, PendingFace, PhotoFiles, PhotoHit, PhotoId, PhotoMeta,
    QueueEntry, ReviewItem, SearchHit, SightingExtras, SightingId, SightingSummary, Store,
    StoreError,
};
use postgres::{Client, NoTls};

pub use accounts::PgAccounts;
use changelog::Change;
pub use changelog::{CatchUp, ChangeListener, Wake, CHANNEL, POLL_INTERVAL};
pub use error::{PgError, Target};
pub use jobs::{
    BatchProgress, Enqueued, Job, JobQueue, JobReport, JobState, NewJob, DEFAULT_MAX_ATTEMPTS,
    JOBS_CHANNEL,
};
pub use outbox::PgOutbox;
pub use probe::registry_exists;
pub use reads::PgReader;
use rows::*;
pub use schema::{APPLICATION, SCHEMA_VERSION};
pub use snapshot::{SnapshotPolicy, SnapshotWritten, SNAPSHOT_DIR};

/// Session advisory lock key of the registry ("HWRG", as SQLite's application id): held
/// exclusively by a store opened alone, shared by stores opened shared.
const WRITER_LOCK: i64 = 0x4857_5247;

/// How long [`PgStore::connect`] waits for the server when the URL sets no
/// `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`PgStore::purge_erased`] waits for transactions older than it.
pub const PURGE_WAIT: Duration = Duration::from_secs(60);

/// The registry store on PostgreSQL. See the crate docs.
pub struct PgStore {
    client: Mutex<Client>,
    /// The parsed URL, to open the listener's and the queue's connections.
    config: postgres::Config,
    target: Target,
    /// Whether other processes may share the database (`connect_shared`).
    shared: bool,
    /// The last change log number the indexes include (`changelog.rs`).
    position: i64,
    root: PathBuf,
    files: PhotoFiles,
    index: FaceIndex,
    /// The enabled models and one index per model (`vectors.rs`).
    models: homeward_core::store::ModelIndexes,
    params: HnswParams,
    orphans_removed: usize,
    /// How the indexes were obtained at open (`snapshot.rs`).
    origin: homeward_core::store::IndexOrigin,
    /// When this store writes a snapshot by itself.
    policy: SnapshotPolicy,
    /// Whether [`PgStore::close`] ran (dropping then does nothing more).
    closed: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target.to_string())
            .field("photo_root", &self.root)
            .field("faces", &self.index.len())
            .field("models", &self.models.specs().len())
            .field("shared", &self.shared)
            .field("position", &self.position)
            .finish()
    }
}

impl PgStore {
    /// Opens the registry in the PostgreSQL database `url` with its photo
    /// files under `photo_root` (created if needed), with default index
    /// parameters. See [`PgStore::connect_with`].
    pub fn connect(url: &str, photo_root: &Path) -> Result<PgStore, PgError> {
        Self::connect_with(url, photo_root, HnswParams::default())
    }

    /// Opens the registry as its only process: connects, takes the writer
    /// lock (refused while any other process has the registry open, shared
    /// or not), runs the migrations, removes photo files no row names
    /// (interrupted writes), and loads the face index from the database.
    ///
    /// `url` is a `postgres://user:password@host:port/database` URL or a
    /// `key=value` connection string; no error repeats it.
    pub fn connect_with(
        url: &str,
        photo_root: &Path,
        params: HnswParams,
    ) -> Result<PgStore, PgError> {
        Self::open(url, photo_root, params, false)
    }

    /// Opens the registry as one of several processes sharing it, with
    /// default index parameters. See [`PgStore::connect_shared_with`].
    pub fn connect_shared(url: &str, photo_root: &Path) -> Result<PgStore, PgError> {
        Self::connect_shared_with(url, photo_root, HnswParams::default())
    }

    /// Opens the registry as one of several processes sharing it (servers
    /// and workers, on any machine): takes the writer lock in shared mode
    /// (refused only while a process opened with [`PgStore::connect`] has
    /// it), runs the migrations, and loads the indexes. It does **not**
    /// clear `tmp/` or remove unnamed photo files: another process may be
    /// writing one. Other processes' writes reach this store's indexes
    /// through [`PgStore::catch_up`].
    pub fn connect_shared_with(
        url: &str,
        photo_root: &Path,
        params: HnswParams,
    ) -> Result<PgStore, PgError> {
        Self::open(url, photo_root, params, true)
    }

    fn open(
        url: &str,
        photo_root: &Path,
        params: HnswParams,
        shared: bool,
    ) -> Result<PgStore, PgError> {
        let (config, target) = config_of(url)?;
        let mut client = reconnect(&config, &target, shared)?;
        schema::migrate(&mut client, &target)?;
        let files = PhotoFiles::new(photo_root)?;
        let mut store = PgStore {
            client: Mutex::new(client),
            config,
            target,
            shared,
            position: 0,
            root: photo_root.to_path_buf(),
            files,
            index: FaceIndex::new(params),
            models: Default::default(),
            params,
            orphans_removed: 0,
            origin: homeward_core::store::IndexOrigin::Rebuilt {
                reason: "not opened yet".into(),
            },
            policy: SnapshotPolicy::default(),
            closed: false,
        };
        if !shared {
            store.recover()?;
        }
        store.open_indexes()?;
        Ok(store)
    }

    /// The database, without password.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The photo root.
    pub fn photo_root(&self) -> &Path {
        &self.root
    }

    /// Path of the stored file of a photo content hash.
    pub fn photo_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.files.path(sha256)
    }

    /// Photo files removed at open because no row named them.
    pub fn orphans_removed(&self) -> usize {
        self.orphans_removed
    }

    /// The face index (read-only).
    pub fn index(&self) -> &FaceIndex {
        &self.index
    }

    /// The ingest queue of this registry, on a connection of its own, for
    /// the worker named `worker` (see [`JobQueue`]).
    pub fn job_queue(&self, worker: &str) -> Result<JobQueue, PgError> {
        JobQueue::open(&self.config, self.target.clone(), worker)
    }

    /// Records the sighting a claimed ingest job carries and completes the
    /// job **in the same transaction**, so the photo is recorded exactly
    /// once: if the claim was lost (its lease ran out and another worker
    /// took the job, or the job was completed already) nothing is written
    /// and the error is [`PgError::JobLost`]. The job's result is the
    /// sighting's id and its face and match counts.
    pub fn record_sighting_job(
        &mut self,
        job: &Job,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
    ) -> Result<(SightingId, Vec<FaceId>, Vec<MatchId>), PgError> {
        match self.record_sighting_in(actor, bytes, sighting, faces, extras, Some(job))? {
            Ok(done) => Ok(done),
            Err(why) => Err(PgError::JobLost { job: job.id, why }),
        }
    }

    /// A read-only connection of its own to this registry, for the typed
    /// reads ([`PgReader`]; what a server pools).
    pub fn reader(&self) -> Result<PgReader, PgError> {
        PgReader::open(&self.config, self.target.clone())
    }

    /// Whether this store was opened with [`PgStore::connect_shared`].
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    fn db(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |e| error::store_error(e, &self.target)
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        // A panic while holding the client leaves no transaction open
        // (dropping one rolls it back), so the client is still sound.
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        revive(&mut client, &self.config, &self.target, self.shared);
        client
    }

    /// Splits the borrow: the client, the error mapper.
    fn parts(&mut self) -> (&mut Client, &Target) {
        let client = self.client.get_mut().unwrap_or_else(|p| p.into_inner());
        revive(client, &self.config, &self.target, self.shared);
        (client, &self.target)
    }

    /// Removes `tmp/` files and every photo file that no row names. Safe
    /// because this process holds the lock exclusively (opened alone): no
    /// other writer can have a file written whose row is not yet committed.
    fn recover(&mut self) -> Result<(), StoreError> {
        self.files.clear_tmp()?;
        let referenced = self.referenced_hashes()?;
        self.orphans_removed = self.files.remove_orphans(&referenced)?;
        Ok(())
    }

    fn referenced_hashes(&self) -> Result<HashSet<[u8; 32]>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT sha256 FROM photos UNION SELECT sha256 FROM sightings",
                &[],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|r| hash32(r.get::<_, &[u8]>(0)))
            .collect())
    }

    /// Rebuilds the face index and each enabled model's index from the
    /// database (the indexes are derived data). The change log position is
    /// read first: a change committed while the rows are read is applied
    /// again by the next [`PgStore::catch_up`], which changes nothing.
    pub fn rebuild_index(&mut self) -> Result<(), StoreError> {
        let position = changelog::head(&mut *self.lock()).map_err(self.db())?;
        let rows = self
            .lock()
            .query(
                "SELECT f.id, p.case_id, c.sex, c.birth_year, c.missing_lat, c.missing_lon,
                        c.status, f.embedding
                 FROM faces f JOIN photos p ON p.id = f.photo_id JOIN cases c ON c.id = p.case_id
                 ORDER BY f.id",
                &[],
            )
            .map_err(self.db())?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let meta = changelog::face_meta(r)?;
            if let Some(e) = bytes_embedding(r.get(7)) {
                items.push((id(r.get(0)), e, meta));
            }
        }
        let mut idx = FaceIndex::new(self.params);
        idx.insert_batch(&items)?;
        self.index = idx;
        self.load_models(self.params)?;
        self.position = position;
        Ok(())
    }

    /// Rewrites the tables an erasure deletes from (`VACUUM FULL`), so the
    /// erased rows leave the database's files too: a plain `DELETE` (and
    /// plain `VACUUM`) leaves their bytes in the pages until overwritten.
    ///
    /// A transaction that began before the purge (a long report, or
    /// autovacuum sampling a table) may still see erased rows, and the
    /// rewrite would have to keep them; the purge first waits for every such
    /// transaction in this database to end, up to [`PURGE_WAIT`], else
    /// returns [`PgError::Busy`]. The rewrite takes an exclusive lock on the
    /// tables (reads wait): a maintenance step to schedule after erasures,
    /// not part of [`Store::erase_case`]. Copies in WAL segments, archives,
    /// standbys and backups are not reached (docs/adr-postgres.md).
    pub fn purge_erased(&mut self) -> Result<(), PgError> {
        self.purge_erased_within(PURGE_WAIT)
    }

    /// [`PgStore::purge_erased`], waiting at most `wait` for older transactions.
    pub fn purge_erased_within(&mut self, wait: Duration) -> Result<(), PgError> {
        let (client, target) = self.parts();
        let db = |e| PgError::Store(error::store_error(e, target));
        let since: SystemTime = client.query_one("SELECT now()", &[]).map_err(db)?.get(0);
        let deadline = Instant::now() + wait;
        loop {
            let running: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND xact_start IS NOT NULL AND xact_start <= $1",
                    &[&since],
                )
                .map_err(db)?
                .get(0);
            if running == 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(PgError::Busy {
                    target: target.clone(),
                    running: running as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        client
            .batch_execute("VACUUM FULL cases, case_events, photos, faces, face_vectors, matches, image_hashes")
            .map_err(db)
    }

    /// `record_sighting`, completing `job` in the same transaction when
    /// given; the inner `Err` says why the job could not be completed
    /// (nothing was written then).
    #[allow(clippy::type_complexity)]
    fn record_sighting_in(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
        job: Option<&Job>,
    ) -> Result<Result<(SightingId, Vec<FaceId>, Vec<MatchId>), &'static str>, StoreError> {
        check_faces(faces)?;
        check_vectors(self.models.specs(), faces)?;
        no_bytes(bytes)?;
        if let Some(m) = extras
            .matches
            .iter()
            .find(|m| m.sighting_face as usize >= faces.len())
        {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!(
                    "face index {} but the sighting has {} face(s)",
                    m.sighting_face,
                    faces.len()
                ),
            });
        }
        let repost = extras
            .repost_of_photo
            .map(|p| sql_id(p, "photo"))
            .transpose()?;
        let h = sha256(bytes);
        self.files.put(&h, bytes)?;
        let specs = self.models.specs().to_vec();
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let s = sighting;
        let row = tx
            .query_one(
                "INSERT INTO sightings (sha256, byte_len, seen_at, place, lat, lon, age_min,
                                        age_max, sex, submitter, duplicate_group,
                                        repost_of_photo, added_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    &h.as_slice(),
                    &(bytes.len() as i64),
                    &s.seen_at,
                    &s.place,
                    &s.location.map(|l| l.0),
                    &s.location.map(|l| l.1),
                    &s.apparent_age.map(|a| f64::from(a.0)),
                    &s.apparent_age.map(|a| f64::from(a.1)),
                    &s.sex.map(|x| x.as_str()),
                    &s.submitter,
                    &s.duplicate_group,
                    &repost,
                    &now(),
                ],
            )
            .map_err(db)?;
        let sid = id(row.get(0));
        let face_ids = insert_faces(&mut tx, "sighting_faces", "sighting_id", sid as i64, faces)
            .map_err(db)?;
        vectors::insert_vectors(&mut tx, FaceTable::Sighting, &specs, &face_ids, faces)
            .map_err(db)?;
        audit(&mut tx, actor, "add_sighting", &format!("sighting:{sid}")).map_err(db)?;
        if let Some((pdq, q)) = extras.pdq {
            tx.execute(
                "INSERT INTO image_hashes (sighting_id, pdq, quality) VALUES ($1, $2, $3)",
                &[&(sid as i64), &pdq.as_slice(), &i32::from(q)],
            )
            .map_err(db)?;
        }
        let mut match_ids = Vec::with_capacity(extras.matches.len());
        for m in &extras.matches {
            let face = face_ids[m.sighting_face as usize];
            let case = i64::try_from(m.case_id).map_err(|_| StoreError::NotFound {
                what: "case",
                id: m.case_id,
            })?;
            let mid = insert_match(&mut tx, actor, sid as i64, face as i64, case, m).map_err(db)?;
            match_ids.push(mid);
        }
        if let Some((batch, item)) = &extras.batch_item {
            tx.execute(
                "INSERT INTO batch_items (batch, item, sighting_id, error, done_at)
                 VALUES ($1, $2, $3, NULL, $4)
                 ON CONFLICT (batch, item) DO UPDATE
                 SET sighting_id = EXCLUDED.sighting_id, error = NULL, done_at = EXCLUDED.done_at",
                &[batch, item, &(sid as i64), &now()],
            )
            .map_err(db)?;
        }
        if let Some(job) = job {
            let result = format!(
                "{{\"sighting\":{sid},\"faces\":{},\"matches\":{}}}",
                face_ids.len(),
                match_ids.len()
            );
            if let Err(why) = jobs::finish(&mut tx, job, Some(&result)).map_err(db)? {
                return Ok(Err(why));
            }
        }
        // Last before the commit (it takes the log's lock): other processes
        // add this sighting's hashes to their duplicate index.
        changelog::record(&mut tx, &[Change::sighting_added(sid)]).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Ok((sid, face_ids, match_ids)))
    }

    fn face_meta(case: &Case) -> FaceMeta {
        FaceMeta {
            case_id: case.id,
            sex: case.data.sex,
            birth_year: case.data.birth_year,
            location: case.data.missing_location,
            status: case.data.status,
        }
    }
}

impl Store for PgStore {
    fn add_case(&mut self, actor: &str, case: &NewCase) -> Result<CaseId, StoreError> {
        if case.child_name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "child_name",
                why: "empty".into(),
            });
        }
        let birth_year = case
            .birth_year
            .or_else(|| case.birth_date.as_deref().and_then(year_of));
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let row = tx
            .query_one(
                "INSERT INTO cases (child_name, sex, birth_date, birth_year, missing_date,
                                    missing_place, missing_lat, missing_lon, status, contact_ref,
                                    notes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                &[
                    &case.child_name,
                    &case.sex.as_str(),
                    &case.birth_date,
                    &birth_year,
                    &case.missing_date,
                    &case.missing_place,
                    &case.missing_location.map(|l| l.0),
                    &case.missing_location.map(|l| l.1),
                    &case.status.as_str(),
                    &case.contact_ref,
                    &case.notes,
                    &now(),
                ],
            )
            .map_err(db)?;
        let cid = id(row.get(0));
        audit(&mut tx, actor, "add_case", &format!("case:{cid}")).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(cid)
    }

    fn case(&self, id: CaseId) -> Result<Case, StoreError> {
        let row = self
            .lock()
            .query_opt(
                &format!("SELECT {CASE_COLS} FROM cases WHERE id = $1"),
                &[&sql_id(id, "case")?],
            )
            .map_err(self.db())?
            .ok_or(StoreError::NotFound { what: "case", id })?;
        case_row(id, &row)
    }

    fn set_case_status(
        &mut self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<(), StoreError> {
        let why = why.map(|w| check_event_text("why", w)).transpose()?;
        let key = sql_id(id, "case")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let n = tx
            .execute(
                "UPDATE cases SET status = $1 WHERE id = $2",
                &[&status.as_str(), &key],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "case", id });
        }
        audit(
            &mut tx,
            actor,
            &format!("set_status:{}", status.as_str()),
            &format!("case:{id}"),
        )
        .map_err(db)?;
        journal::journal_status(&mut tx, actor, key, status, why.as_deref()).map_err(db)?;
        changelog::record(&mut tx, &[Change::case_status(id)]).map_err(db)?;
        tx.commit().map_err(db)?;
        self.index.update_case(id, |m| m.status = status);
        self.models.update_case(id, |m| m.status = status);
        Ok(())
    }

    fn add_photo(
        &mut self,
        actor: &str,
        case: CaseId,
        bytes: &[u8],
        meta: &PhotoMeta,
        faces: &[FaceRecord],
    ) -> Result<(PhotoId, Vec<FaceId>), StoreError> {
        check_faces(faces)?;
        check_vectors(self.models.specs(), faces)?;
        no_bytes(bytes)?;
        let age = age_months_in(meta.age_months)?;
        let c = self.case(case)?;
        let specs = self.models.specs().to_vec();
        let h = sha256(bytes);
        // Durable before the row that names it commits.
        self.files.put(&h, bytes)?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let row = tx
            .query_one(
                "INSERT INTO photos (case_id, sha256, byte_len, age_months, taken_date, source,
                                     added_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &(c.id as i64),
                    &h.as_slice(),
                    &(bytes.len() as i64),
                    &age,
                    &meta.taken_date,
                    &meta.source,
                    &now(),
                ],
            )
            .map_err(db)?;
        let photo = id(row.get(0));
        let face_ids =
            insert_faces(&mut tx, "faces", "photo_id", photo as i64, faces).map_err(db)?;
        vectors::insert_vectors(&mut tx, FaceTable::Case, &specs, &face_ids, faces).map_err(db)?;
        audit(&mut tx, actor, "add_photo", &format!("photo:{photo}")).map_err(db)?;
        let changes: Vec<Change> = face_ids
            .iter()
            .map(|f| Change::face_added(c.id, *f))
            .collect();
        changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        let fm = Self::face_meta(&c);
        for (fid, f) in face_ids.iter().zip(faces) {
            self.index.insert(*fid, &f.embedding, fm)?;
            self.models.insert(*fid, f, fm);
        }
        Ok((photo, face_ids))
    }

    fn record_sighting(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
    ) -> Result<(SightingId, Vec<FaceId>, Vec<MatchId>), StoreError> {
        match self.record_sighting_in(actor, bytes, sighting, faces, extras, None)? {
            Ok(done) => Ok(done),
            // Only a job's completion can be refused.
            Err(why) => Err(StoreError::Invalid {
                field: "job",
                why: why.into(),
            }),
        }
    }

    fn set_sighting_note(
        &mut self,
        actor: &str,
        id: SightingId,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = sql_id(id, "sighting")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let n = tx
            .execute(
                "UPDATE sightings SET note = $1 WHERE id = $2",
                &[&note, &key],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "sighting",
                id,
            });
        }
        audit(&mut tx, actor, "set_note", &format!("sighting:{id}")).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn review_match(
        &mut self,
        reviewer: &str,
        id: MatchId,
        state: MatchState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = sql_id(id, "match")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let n = tx
            .execute(
                "UPDATE matches SET state = $1, reviewer = $2, decided_at = $3, note = $4
                 WHERE id = $5",
                &[&state.as_str(), &reviewer, &now(), &note, &key],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "match", id });
        }
        audit(
            &mut tx,
            reviewer,
            &format!("review:{}", state.as_str()),
            &format!("match:{id}"),
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn confirm_and_enrol(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
        meta: &PhotoMeta,
    ) -> Result<(PhotoId, FaceId), StoreError> {
        let age = age_months_in(meta.age_months)?;
        let m = self.match_row(id)?;
        if m.state != MatchState::Pending {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} is already {}", m.state.as_str()),
            });
        }
        let c = self.case(m.case_id)?;
        let sid = m.sighting_id as i64;
        let specs = self.models.specs().to_vec();
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let srow = tx
            .query_opt(
                "SELECT sha256, byte_len FROM sightings WHERE id = $1",
                &[&sid],
            )
            .map_err(db)?
            .ok_or(StoreError::NotFound {
                what: "sighting",
                id: m.sighting_id,
            })?;
        let sha: Vec<u8> = srow.get(0);
        let byte_len: i64 = srow.get(1);
        let faces = tx
            .query(
                "SELECT id, bbox, landmarks, embedding, chip_hash, model FROM sighting_faces
                 WHERE sighting_id = $1 ORDER BY id",
                &[&sid],
            )
            .map_err(db)?;
        let (sighting_face, mut face) = faces
            .iter()
            .find(|r| Some(crate::id(r.get(0))) == m.sighting_face_id)
            .or(faces.first())
            .and_then(|r| Some((crate::id(r.get(0)), face_record(r)?)))
            .ok_or(StoreError::Invalid {
                field: "match",
                why: format!("sighting {} has no face to enrol", m.sighting_id),
            })?;
        // Decided only if still pending: another reviewer may have been first.
        let n = tx
            .execute(
                "UPDATE matches SET state = 'confirmed', reviewer = $1, decided_at = $2, note = $3
                 WHERE id = $4 AND state = 'pending'",
                &[&reviewer, &now(), &note, &(id as i64)],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} is no longer pending"),
            });
        }
        audit(
            &mut tx,
            reviewer,
            "review:confirmed",
            &format!("match:{id}"),
        )
        .map_err(db)?;
        let row = tx
            .query_one(
                "INSERT INTO photos (case_id, sha256, byte_len, age_months, taken_date, source,
                                     added_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &(m.case_id as i64),
                    &sha,
                    &byte_len,
                    &age,
                    &meta.taken_date,
                    &format!("sighting:{}", m.sighting_id),
                    &now(),
                ],
            )
            .map_err(db)?;
        let photo = crate::id(row.get(0));
        // The sighting face's vectors of every enabled model come with it.
        face.vectors = vectors::face_vectors(&mut tx, FaceTable::Sighting, &specs, sighting_face)
            .map_err(db)?;
        let enrolled = std::slice::from_ref(&face);
        let face_ids =
            insert_faces(&mut tx, "faces", "photo_id", photo as i64, enrolled).map_err(db)?;
        vectors::insert_vectors(&mut tx, FaceTable::Case, &specs, &face_ids, enrolled)
            .map_err(db)?;
        audit(
            &mut tx,
            reviewer,
            "enrol_sighting",
            &format!("photo:{photo}"),
        )
        .map_err(db)?;
        let changes: Vec<Change> = face_ids
            .iter()
            .map(|f| Change::face_added(m.case_id, *f))
            .collect();
        changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        let fid = face_ids[0];
        let fm = Self::face_meta(&c);
        self.index.insert(fid, &face.embedding, fm)?;
        self.models.insert(fid, &face, fm);
        Ok((photo, fid))
    }

    fn undo_decision(&mut self, actor: &str, id: MatchId) -> Result<MatchState, StoreError> {
        let m = self.match_row(id)?;
        if m.state == MatchState::Pending {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} is pending; there is no decision to undo"),
            });
        }
        let key = sql_id(id, "match")?;
        let case = sql_id(m.case_id, "case")?;
        let source = format!("sighting:{}", m.sighting_id);
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        // Undone only if still in the state read above: another reviewer
        // may have undone or decided it meanwhile.
        let n = tx
            .execute(
                "UPDATE matches SET state = 'pending', reviewer = NULL, decided_at = NULL,
                                    note = NULL
                 WHERE id = $1 AND state = $2",
                &[&key, &m.state.as_str()],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} changed meanwhile; read it again"),
            });
        }
        let mut enrolled = Vec::new();
        if m.state == MatchState::Confirmed {
            // Faces go with their photo (ON DELETE CASCADE).
            for r in tx
                .query(
                    "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id
                     WHERE p.case_id = $1 AND p.source = $2",
                    &[&case, &source],
                )
                .map_err(db)?
            {
                enrolled.push(crate::id(r.get(0)));
            }
            tx.execute(
                "DELETE FROM photos WHERE case_id = $1 AND source = $2",
                &[&case, &source],
            )
            .map_err(db)?;
        }
        audit(&mut tx, actor, "review:undone", &format!("match:{id}")).map_err(db)?;
        let changes: Vec<Change> = enrolled
            .iter()
            .map(|f| Change::face_removed(m.case_id, *f))
            .collect();
        changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        for f in enrolled {
            self.index.remove(f);
            self.models.remove(f);
        }
        Ok(m.state)
    }

    fn match_row(&self, id: MatchId) -> Result<MatchRow, StoreError> {
        let row = self
            .lock()
            .query_opt(
                &format!("SELECT {MATCH_COLS} FROM matches WHERE id = $1"),
                &[&sql_id(id, "match")?],
            )
            .map_err(self.db())?
            .ok_or(StoreError::NotFound { what: "match", id })?;
        match_row(&row)
    }

    fn record_batch_failure(
        &mut self,
        batch: &str,
        item: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let (client, target) = self.parts();
        client
            .execute(
                "INSERT INTO batch_items (batch, item, sighting_id, error, done_at)
                 VALUES ($1, $2, NULL, $3, $4)
                 ON CONFLICT (batch, item) DO UPDATE
                 SET sighting_id = NULL, error = EXCLUDED.error, done_at = EXCLUDED.done_at",
                &[&batch, &item, &error, &now()],
            )
            .map(|_| ())
            .map_err(|e| error::store_error(e, target))
    }

    fn erase_case(&mut self, actor: &str, id: CaseId) -> Result<(), StoreError> {
        let key = sql_id(id, "case")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let face_ids: Vec<u64> = tx
            .query(
                "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.case_id = $1",
                &[&key],
            )
            .map_err(db)?
            .iter()
            .map(|r| crate::id(r.get(0)))
            .collect();
        let hashes: Vec<[u8; 32]> = tx
            .query(
                "SELECT DISTINCT sha256 FROM photos WHERE case_id = $1",
                &[&key],
            )
            .map_err(db)?
            .iter()
            .filter_map(|r| hash32(r.get::<_, &[u8]>(0)))
            .collect();
        let n = tx
            .execute("DELETE FROM cases WHERE id = $1", &[&key])
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "case", id });
        }
        tx.execute(
            "UPDATE registry_meta SET value = value + 1 WHERE key = 'erase_generation'",
            &[],
        )
        .map_err(db)?;
        audit(&mut tx, actor, "erase_case", &format!("case:{id}")).map_err(db)?;
        let mut changes: Vec<Change> = face_ids
            .iter()
            .map(|f| Change::face_removed(id, *f))
            .collect();
        changes.push(Change::case_erased(id));
        let seq = changelog::record(&mut tx, &changes).map_err(db)?;
        tx.commit().map_err(db)?;
        // No index snapshot that may hold the erased faces stays on disk
        // (`snapshot.rs`); a process that loaded one catches up past `seq`.
        if let Some(seq) = seq {
            snapshot::discard_before(&self.root, seq)?;
        }
        // Committed: from here a crash leaves only orphan files, removed at
        // the next open; the index is rebuilt from the database at open.
        let still = self.referenced_hashes()?;
        for h in hashes.iter().filter(|h| !still.contains(*h)) {
            self.files.remove(h)?;
        }
        for f in &face_ids {
            self.index.remove(*f);
            self.models.remove(*f);
        }
        self.index.compact();
        self.models.compact();
        Ok(())
    }

    fn search_with(
        &self,
        embedding: &Embedding,
        filter: &SearchFilter,
        k: usize,
        per_case: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let cases = self.index.search_cases(embedding, filter, k, per_case)?;
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = cases.iter().map(|c| c.case_id as i64).collect();
        let rows = self
            .lock()
            .query(
                "SELECT p.case_id, f.id, f.photo_id, f.embedding
                 FROM faces f JOIN photos p ON p.id = f.photo_id
                 WHERE p.case_id = ANY($1)",
                &[&ids],
            )
            .map_err(self.db())?;
        let mut by_case: HashMap<u64, Vec<PhotoHit>> = HashMap::new();
        for r in &rows {
            if let Some(e) = bytes_embedding(r.get(3)) {
                by_case.entry(id(r.get(0))).or_default().push(PhotoHit {
                    photo_id: id(r.get(2)),
                    face_id: id(r.get(1)),
                    distance: l2(embedding, &e),
                });
            }
        }
        let mut out = Vec::with_capacity(cases.len());
        for c in cases {
            // A case with no face row any more was erased (or un-enrolled)
            // by another process since this index last caught up: it is
            // never answered, even before the change log reaches here.
            let Some(mut photos) = by_case.remove(&c.case_id) else {
                continue;
            };
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

    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT id, at, actor, action, target FROM audit_log ORDER BY id",
                &[],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: id(r.get(0)),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
            })
            .collect())
    }

    // The typed reads live in reads.rs, shared with `PgReader`.
    fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError> {
        reads::case_summaries(&mut *self.lock(), &self.target)
    }

    fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError> {
        reads::case_summary_of(&mut *self.lock(), &self.target, id)
    }

    fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError> {
        reads::case_photos(&mut *self.lock(), &self.target, case)
    }

    fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError> {
        reads::sighting_summaries(&mut *self.lock(), &self.target, limit)
    }

    fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError> {
        reads::sighting_summary_of(&mut *self.lock(), &self.target, id)
    }

    fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError> {
        reads::review_queue(&mut *self.lock(), &self.target, all)
    }

    fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError> {
        reads::review_item(&mut self.lock(), &self.target, id)
    }

    fn batches(&self) -> Result<Vec<BatchStatus>, StoreError> {
        reads::batches(&mut *self.lock(), &self.target)
    }

    fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError> {
        reads::batch_status_of(&mut *self.lock(), &self.target, name)
    }

    // The model slot lives in vectors.rs.
    fn models(&self) -> &[ModelSpec] {
        PgStore::models(self)
    }
    fn models_chosen(&self) -> Result<bool, StoreError> {
        PgStore::models_chosen(self)
    }
    fn enable_models(&mut self, actor: &str, specs: &[ModelSpec]) -> Result<(), StoreError> {
        PgStore::enable_models(self, actor, specs)
    }
    fn add_case_note(
        &mut self,
        actor: &str,
        id: CaseId,
        text: &str,
    ) -> Result<CaseEventId, StoreError> {
        self.add_case_note_pg(actor, id, text)
    }
    fn case_events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        self.case_events_pg(id)
    }
    fn assign_match(
        &mut self,
        actor: &str,
        id: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), StoreError> {
        self.assign_match_pg(actor, id, assignee)
    }
    fn mark_review_seen(&mut self, reviewer: &str, upto: MatchId) -> Result<(), StoreError> {
        self.mark_review_seen_pg(reviewer, upto)
    }
    fn review_seen(&self, reviewer: &str) -> Result<Option<MatchId>, StoreError> {
        self.review_seen_pg(reviewer)
    }
    fn model_status(&self) -> Result<Vec<ModelStatus>, StoreError> {
        PgStore::model_status(self)
    }
    fn pending_faces(&self, model: &str, limit: usize) -> Result<Vec<PendingFace>, StoreError> {
        PgStore::pending_faces(self, model, limit)
    }
    fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(FaceTable, FaceId, Vec<f32>)],
    ) -> Result<usize, StoreError> {
        PgStore::store_vectors(self, model, vectors)
    }
    fn model_vectors_of(
        &self,
        table: FaceTable,
        model: &str,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Vec<f32>>, StoreError> {
        PgStore::model_vectors_of(self, table, model, ids)
    }
    fn search_model(
        &self,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(CaseId, f32)>, StoreError> {
        PgStore::search_model(self, model, vector, filter, k)
    }
}

/// The parsed URL with Homeward's defaults (connect timeout, application
/// name), and the database it names, for messages.
pub(crate) fn config_of(url: &str) -> Result<(postgres::Config, Target), PgError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| PgError::BadUrl { why: e.to_string() })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("homeward");
    }
    let target = Target::of(&config);
    Ok((config, target))
}

/// Connects again when the database ended a store's connection (a restart,
/// an administrator's `pg_terminate_backend`), taking the writer lock as
/// the open did, so a long-running server or worker outlives a database
/// restart. When that fails the closed client stays and the call that
/// needed it fails, saying why. Nothing is missed meanwhile: the indexes
/// follow the change log by position.
fn revive(client: &mut Client, config: &postgres::Config, target: &Target, shared: bool) {
    if client.is_closed() {
        if let Ok(fresh) = reconnect(config, target, shared) {
            *client = fresh;
        }
    }
}

/// A connection holding the writer lock (shared or exclusive), as
/// [`PgStore`] opens and re-opens it.
fn reconnect(config: &postgres::Config, target: &Target, shared: bool) -> Result<Client, PgError> {
    let mut client = connect_client(config, target)?;
    let take = if shared {
        "SELECT pg_try_advisory_lock_shared($1)"
    } else {
        "SELECT pg_try_advisory_lock($1)"
    };
    let locked: bool = client
        .query_one(take, &[&WRITER_LOCK])
        .map_err(|e| PgError::Store(error::store_error(e, target)))?
        .get(0);
    if !locked {
        return Err(PgError::Locked {
            target: target.clone(),
            shared,
        });
    }
    Ok(client)
}

pub(crate) fn connect_client(
    config: &postgres::Config,
    target: &Target,
) -> Result<Client, PgError> {
    config.connect(NoTls).map_err(|source| PgError::Connect {
        hint: error::hint(&source, target),
        target: target.clone(),
        source,
    })
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<PgStore>();
    is::<PgReader>();
    // One per thread: a connection is not shared.
    fn send<T: Send>() {}
    send::<ChangeListener>();
    send::<JobQueue>();
    send::<Box<dyn homeward_core::store::ReadStore + Send>>();
}
