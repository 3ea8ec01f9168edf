//! The change log: how every process's in-memory indexes stay in step with
//! the database when several processes share one registry.
//!
//! Every write that changes what a search can return (a face added or
//! removed, a model vector replaced, a case's status changed, a case
//! erased, a model enabled) appends rows to `changes` **in its own
//! transaction**, and `pg_notify('homeward_changes', seq)` in the same
//! transaction (PostgreSQL delivers it at commit, never for a rolled-back
//! write). A row names the kind of change and ids only: no name, place,
//! vector or hash, so nothing personal outlives an erasure in the log.
//!
//! **Order.** A writer takes the transaction-level advisory lock
//! [`CHANGES_LOCK`] just before it takes its sequence numbers (the last
//! step before commit) and holds it until its commit. So numbers are given
//! in commit order: when a reader sees `seq = n`, every transaction with a
//! smaller number has committed or rolled back, and reading "everything
//! after the last number applied" never skips a row that commits later. A
//! rolled-back write leaves a gap in the numbers, never a row.
//!
//! **Applying.** Each entry is applied by bringing the object it names to
//! its *current* state in the database (the face's row, the case's status,
//! the face's vectors): an entry applied twice, or applied after the state
//! already includes it (a store's own writes, a rebuild that read newer
//! rows than its position), changes nothing. The position of a rebuilt
//! index is read *before* its rows, so nothing committed in between is
//! missed. Pruned entries ([`PgStore::prune_changes_upto`]) leave a
//! horizon; a store behind it rebuilds from the rows.
//!
//! **Waiting.** [`ChangeListener`] LISTENs on a connection of its own and
//! wakes on the first notification or after a timeout; when that
//! connection is lost it sleeps the timeout instead (polling) and tries to
//! listen again at the next wait. A follower calling
//! `listener.wait(POLL_INTERVAL)` then [`PgStore::catch_up`] in a loop
//! applies a change within [`POLL_INTERVAL`] plus one catch-up of its
//! commit even with no notification at all (docs/adr-postgres.md states
//! the bound).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use homeward_core::index::FaceMeta;
use homeward_core::rules::CaseStatus;
use homeward_core::store::StoreError;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient, NoTls};

use crate::error::{self, PgError, Target};
use crate::rows::{bytes_embedding, id, now, word};
use crate::vectors::bytes_model_vector;
use crate::PgStore;

/// The channel every change is announced on (payload: the last `seq` of
/// the committing transaction).
pub const CHANNEL: &str = "homeward_changes";

/// How long a follower waits for a notification before it reads the log
/// anyway. With LISTEN working a change is applied within milliseconds of
/// its commit; without it, within this interval plus one catch-up.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Transaction-level advisory lock held from a writer's first log number
/// to its commit ("HWLG"), so numbers follow commit order.
const CHANGES_LOCK: i64 = 0x4857_4c47;

/// Log entries read per query while catching up.
const CATCH_UP_BATCH: i64 = 5_000;

/// What changed, by kind. The words are the `changes.kind` column's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A case face was added (`case_id`, `face_id`).
    FaceAdded,
    /// A case face was deleted (`case_id`, `face_id`): an undone enrolment
    /// or an erasure.
    FaceRemoved,
    /// A case face's vector of `model` was stored or replaced (`face_id`).
    VectorsReplaced,
    /// A case's status changed (`case_id`).
    CaseStatus,
    /// A case was erased (`case_id`); its faces have `FaceRemoved` rows.
    CaseErased,
    /// A model was enabled (`model`).
    ModelsChanged,
    /// A sighting was recorded (`sighting_id`): other processes add its
    /// hashes to their duplicate index.
    SightingAdded,
    /// A case photo's PDQ hash was stored (`case_id`), after the photo's
    /// own transaction.
    PhotoHashed,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::FaceAdded => "face_added",
            Kind::FaceRemoved => "face_removed",
            Kind::VectorsReplaced => "face_vectors_replaced",
            Kind::CaseStatus => "case_status",
            Kind::CaseErased => "case_erased",
            Kind::ModelsChanged => "models_changed",
            Kind::SightingAdded => "sighting_added",
            Kind::PhotoHashed => "photo_hashed",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "face_added" => Kind::FaceAdded,
            "face_removed" => Kind::FaceRemoved,
            "face_vectors_replaced" => Kind::VectorsReplaced,
            "case_status" => Kind::CaseStatus,
            "case_erased" => Kind::CaseErased,
            "models_changed" => Kind::ModelsChanged,
            "sighting_added" => Kind::SightingAdded,
            "photo_hashed" => Kind::PhotoHashed,
            _ => return None,
        })
    }
}

/// One entry to append: ids only, never personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub kind: Kind,
    pub case: Option<u64>,
    pub face: Option<u64>,
    pub model: Option<String>,
    pub sighting: Option<u64>,
}

impl Change {
    pub fn face_added(case: u64, face: u64) -> Change {
        Change {
            kind: Kind::FaceAdded,
            case: Some(case),
            face: Some(face),
            model: None,
            sighting: None,
        }
    }
    pub fn face_removed(case: u64, face: u64) -> Change {
        Change {
            kind: Kind::FaceRemoved,
            case: Some(case),
            face: Some(face),
            model: None,
            sighting: None,
        }
    }
    pub fn vectors_replaced(face: u64, model: &str) -> Change {
        Change {
            kind: Kind::VectorsReplaced,
            case: None,
            face: Some(face),
            model: Some(model.to_owned()),
            sighting: None,
        }
    }
    pub fn case_status(case: u64) -> Change {
        Change {
            kind: Kind::CaseStatus,
            case: Some(case),
            face: None,
            model: None,
            sighting: None,
        }
    }
    pub fn case_erased(case: u64) -> Change {
        Change {
            kind: Kind::CaseErased,
            case: Some(case),
            face: None,
            model: None,
            sighting: None,
        }
    }
    pub fn models_changed(model: &str) -> Change {
        Change {
            kind: Kind::ModelsChanged,
            case: None,
            face: None,
            model: Some(model.to_owned()),
            sighting: None,
        }
    }
    pub fn sighting_added(sighting: u64) -> Change {
        Change {
            kind: Kind::SightingAdded,
            case: None,
            face: None,
            model: None,
            sighting: Some(sighting),
        }
    }
    pub fn photo_hashed(case: u64) -> Change {
        Change {
            kind: Kind::PhotoHashed,
            case: Some(case),
            face: None,
            model: None,
            sighting: None,
        }
    }
}

/// Appends `changes` and announces them, inside the caller's transaction;
/// call it as the transaction's last step before commit (it takes
/// [`CHANGES_LOCK`], held until the commit). Returns the last number
/// given, if any.
pub(crate) fn record(
    tx: &mut impl GenericClient,
    changes: &[Change],
) -> Result<Option<i64>, postgres::Error> {
    if changes.is_empty() {
        return Ok(None);
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGES_LOCK])?;
    let st = tx.prepare(
        "INSERT INTO changes (at, kind, case_id, face_id, model, sighting_id)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )?;
    let at = now();
    let mut last = 0i64;
    for c in changes {
        let case = c.case.map(|v| v as i64);
        let face = c.face.map(|v| v as i64);
        let sighting = c.sighting.map(|v| v as i64);
        last = tx
            .query_one(
                &st,
                &[&at, &c.kind.as_str(), &case, &face, &c.model, &sighting],
            )?
            .get(0);
    }
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &last.to_string()])?;
    Ok(Some(last))
}

/// The newest log number committed (or pruned; 0 for a new log): the
/// position of an index built from rows read after it.
pub(crate) fn head(c: &mut impl GenericClient) -> Result<i64, postgres::Error> {
    Ok(c.query_one(
        "SELECT greatest(coalesce(max(seq), 0), coalesce((SELECT value FROM registry_meta
                                                          WHERE key = 'changes_pruned_upto'), 0))
         FROM changes",
        &[],
    )?
    .get(0))
}

/// What one [`PgStore::catch_up`] applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// The position before (the last log number applied).
    pub from: i64,
    /// The position after.
    pub to: i64,
    /// Log entries read.
    pub entries: usize,
    /// Faces that entered this process's index.
    pub faces_added: usize,
    /// Faces that left it.
    pub faces_removed: usize,
    /// Cases whose status was brought up to date.
    pub cases_updated: usize,
    /// Model vectors (re)indexed.
    pub vectors_indexed: usize,
    /// Whether the enabled models were read again.
    pub models_reloaded: bool,
    /// Whether the indexes were rebuilt from the rows because entries this
    /// store had not applied were pruned ([`PgStore::prune_changes_upto`]).
    pub rebuilt: bool,
    /// Sightings recorded (by any process, this one included), in commit
    /// order: for the caller's duplicate index.
    pub sightings: Vec<u64>,
    /// Case photos whose PDQ hash was stored.
    pub photos_hashed: usize,
}

/// The entries of one batch, grouped by what to bring up to date.
#[derive(Default)]
struct Pending {
    added: BTreeSet<u64>,
    removed: BTreeSet<u64>,
    vectors: BTreeSet<u64>,
    cases: BTreeSet<u64>,
    models: bool,
}

impl PgStore {
    /// The last log number this store's indexes include: read before the
    /// rows of the last rebuild, then moved by each [`PgStore::catch_up`].
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Applies every change committed after [`PgStore::position`] (by this
    /// or any other process) to this store's in-memory indexes: faces
    /// added, faces removed (erased or un-enrolled, and the freed memory
    /// reclaimed), case statuses, model vectors, newly enabled models.
    /// Cheap when nothing changed (one indexed query).
    ///
    /// A server calls it from a background thread after each
    /// [`ChangeListener::wait`], holding the store for writing only while
    /// it runs (the loop is in [`ChangeListener`]'s docs). A store whose
    /// position is behind pruned entries rebuilds its indexes from the rows
    /// instead ([`CatchUp::rebuilt`]).
    pub fn catch_up(&mut self) -> Result<CatchUp, PgError> {
        let mut out = CatchUp {
            from: self.position,
            to: self.position,
            ..CatchUp::default()
        };
        loop {
            // One statement, one snapshot: the pruning horizon and the
            // entries agree (a prune commits both together).
            let rows = self
                .lock()
                .query(
                    "SELECT p.upto, c.seq, c.kind, c.case_id, c.face_id, c.sighting_id
                     FROM (SELECT coalesce((SELECT value FROM registry_meta
                                            WHERE key = 'changes_pruned_upto'), 0) AS upto) p
                     LEFT JOIN LATERAL (SELECT seq, kind, case_id, face_id, sighting_id FROM changes
                                        WHERE seq > $1 ORDER BY seq LIMIT $2) c ON true
                     ORDER BY c.seq",
                    &[&self.position, &CATCH_UP_BATCH],
                )
                .map_err(self.db())?;
            let pruned: i64 = rows.first().map_or(0, |r| r.get(0));
            if self.position < pruned {
                // Entries this store never applied are gone: read the rows.
                self.rebuild_index()?;
                out.rebuilt = true;
                out.to = self.position;
                continue;
            }
            let rows: Vec<_> = rows
                .iter()
                .filter(|r| r.get::<_, Option<i64>>(1).is_some())
                .collect();
            let Some(last) = rows.last().map(|r| r.get::<_, i64>(1)) else {
                break;
            };
            let mut pending = Pending::default();
            for r in &rows {
                let kind: &str = r.get(2);
                let case: Option<i64> = r.get(3);
                let face: Option<i64> = r.get(4);
                let kind = Kind::parse(kind).ok_or_else(|| StoreError::Invalid {
                    field: "changes.kind",
                    why: format!("stored value {kind:?} is unknown; upgrade Homeward"),
                })?;
                match (kind, case, face) {
                    (Kind::FaceAdded, _, Some(f)) => {
                        pending.added.insert(id(f));
                    }
                    (Kind::FaceRemoved, _, Some(f)) => {
                        pending.removed.insert(id(f));
                    }
                    (Kind::VectorsReplaced, _, Some(f)) => {
                        pending.vectors.insert(id(f));
                    }
                    (Kind::CaseStatus, Some(c), _) => {
                        pending.cases.insert(id(c));
                    }
                    // Its faces have rows of their own.
                    (Kind::CaseErased, _, _) => {}
                    (Kind::ModelsChanged, _, _) => pending.models = true,
                    (Kind::SightingAdded, _, _) => {
                        if let Some(sid) = r.get::<_, Option<i64>>(5) {
                            out.sightings.push(id(sid));
                        }
                    }
                    (Kind::PhotoHashed, _, _) => out.photos_hashed += 1,
                    _ => {}
                }
            }
            self.apply(&pending, &mut out)?;
            out.entries += rows.len();
            self.position = last;
            out.to = last;
            if (rows.len() as i64) < CATCH_UP_BATCH {
                break;
            }
        }
        Ok(out)
    }

    /// Brings every object `p` names to its current state in the database.
    fn apply(&mut self, p: &Pending, out: &mut CatchUp) -> Result<(), StoreError> {
        // Removed first: a face's row never comes back once deleted, and
        // the additions below read only rows that exist now.
        let mut removed = 0;
        for f in &p.removed {
            removed += usize::from(self.index.remove(*f));
            self.models.remove(*f);
        }
        if removed > 0 {
            // Erased vectors leave memory, not only the graph's links.
            self.index.compact();
            self.models.compact();
        }
        out.faces_removed += removed;

        let new: Vec<i64> = p
            .added
            .iter()
            .filter(|f| self.index.meta(**f).is_none())
            .map(|f| *f as i64)
            .collect();
        if !new.is_empty() {
            let rows = self
                .lock()
                .query(
                    "SELECT f.id, p.case_id, c.sex, c.birth_year, c.missing_lat, c.missing_lon,
                            c.status, f.embedding
                     FROM faces f JOIN photos p ON p.id = f.photo_id
                     JOIN cases c ON c.id = p.case_id
                     WHERE f.id = ANY($1) ORDER BY f.id",
                    &[&new],
                )
                .map_err(self.db())?;
            for r in &rows {
                let (fid, meta) = (id(r.get(0)), face_meta(r)?);
                let Some(e) = bytes_embedding(r.get(7)) else {
                    continue;
                };
                if self.index.insert(fid, &e, meta).is_err() {
                    // Only a face removed here and not yet compacted can be
                    // refused; reclaim it and insert again.
                    self.index.compact();
                    self.index.insert(fid, &e, meta)?;
                }
                out.faces_added += 1;
            }
        }

        if p.models {
            let params = self.params;
            self.load_models(params)?;
            out.models_reloaded = true;
        }

        // Vectors of the faces inserted just now and replaced vectors: the
        // current ones of every enabled model, for faces this index holds.
        // A face that was in the index already (this store's own write)
        // has its vectors too.
        let faces: Vec<i64> = new
            .iter()
            .map(|f| *f as u64)
            .chain(p.vectors.iter().copied())
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .filter(|f| self.index.meta(*f).is_some())
            .map(|f| f as i64)
            .collect();
        if !faces.is_empty() && !self.models.specs().is_empty() {
            let rows = self
                .lock()
                .query(
                    "SELECT face_id, model, vector FROM face_vectors WHERE face_id = ANY($1)
                     ORDER BY model, face_id",
                    &[&faces],
                )
                .map_err(self.db())?;
            let enabled: HashMap<String, usize> = self
                .models
                .specs()
                .iter()
                .map(|s| (s.name.clone(), s.dim as usize))
                .collect();
            let mut by_model: BTreeMap<String, Vec<_>> = BTreeMap::new();
            for r in &rows {
                let (fid, model): (u64, String) = (id(r.get(0)), r.get(1));
                let dim = enabled.get(&model).copied();
                if let (Some(e), Some(meta)) = (
                    dim.and_then(|d| bytes_model_vector(r.get(2), d)),
                    self.index.meta(fid),
                ) {
                    by_model.entry(model).or_default().push((fid, e, *meta));
                }
            }
            for (model, items) in by_model {
                self.models.replace(&model, &items)?;
                out.vectors_indexed += items.len();
            }
        }

        if !p.cases.is_empty() {
            let keys: Vec<i64> = p.cases.iter().map(|c| *c as i64).collect();
            let rows = self
                .lock()
                .query("SELECT id, status FROM cases WHERE id = ANY($1)", &[&keys])
                .map_err(self.db())?;
            for r in &rows {
                let case = id(r.get(0));
                let status: CaseStatus = word(r.get(1), "cases.status")?;
                self.index.update_case(case, |m| m.status = status);
                self.models.update_case(case, |m| m.status = status);
                out.cases_updated += 1;
            }
        }
        Ok(())
    }

    /// Deletes the log entries up to `seq` (at most the log's head) and
    /// records the horizon, in one transaction; returns how many were
    /// deleted. A store whose position is behind the horizon rebuilds its
    /// indexes from the rows at its next [`PgStore::catch_up`] (a full
    /// read: prune only what every running process has applied, e.g.
    /// entries older than a day).
    pub fn prune_changes_upto(&mut self, seq: i64) -> Result<u64, PgError> {
        let (client, target) = self.parts();
        let db = |e| PgError::Store(error::store_error(e, target));
        let mut tx = client.transaction().map_err(db)?;
        // Only committed entries: an uncommitted one has a larger number
        // than every committed one (see the module docs).
        let upto: i64 = tx
            .query_one(
                "SELECT least($1, coalesce(max(seq), 0)) FROM changes",
                &[&seq],
            )
            .map_err(db)?
            .get(0);
        let n = tx
            .execute("DELETE FROM changes WHERE seq <= $1", &[&upto])
            .map_err(db)?;
        tx.execute(
            "INSERT INTO registry_meta (key, value) VALUES ('changes_pruned_upto', $1)
             ON CONFLICT (key) DO UPDATE
             SET value = greatest(registry_meta.value, EXCLUDED.value)",
            &[&upto],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n)
    }

    /// A listener for this registry's changes, on a connection of its own
    /// (see [`ChangeListener`]).
    pub fn listen(&self) -> Result<ChangeListener, PgError> {
        ChangeListener::connect(self.config.clone(), self.target.clone())
    }
}

/// A face's case facts, from a row whose columns 1..=6 are `case_id, sex,
/// birth_year, missing_lat, missing_lon, status`.
pub(crate) fn face_meta(r: &postgres::Row) -> Result<FaceMeta, StoreError> {
    let lat: Option<f64> = r.get(4);
    let lon: Option<f64> = r.get(5);
    Ok(FaceMeta {
        case_id: id(r.get(1)),
        sex: word(r.get(2), "cases.sex")?,
        birth_year: r.get(3),
        location: lat.zip(lon),
        status: word(r.get(6), "cases.status")?,
    })
}

/// Why [`ChangeListener::wait`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A change was announced (the highest number announced).
    Notified(i64),
    /// The timeout passed with no announcement.
    TimedOut,
    /// The listening connection is down: the timeout was slept instead
    /// (polling), and the next wait tries to listen again. `why` says what
    /// failed, without the password.
    Polling {
        /// What failed.
        why: String,
    },
}

/// LISTENs for [`CHANNEL`] on a connection of its own, so a server's
/// background thread can wait for changes without holding the store.
///
/// ```no_run
/// # use std::sync::{Arc, RwLock};
/// # use homeward_pg::{PgStore, POLL_INTERVAL};
/// # fn follow(store: Arc<RwLock<PgStore>>) -> Result<(), homeward_pg::PgError> {
/// let mut listener = store.read().unwrap().listen()?;
/// loop {
///     listener.wait(POLL_INTERVAL); // a notification, or the interval
///     store.write().unwrap().catch_up()?;
/// }
/// # }
/// ```
pub struct ChangeListener {
    config: postgres::Config,
    target: Target,
    client: Option<Client>,
    /// Whether to listen again after the connection was lost.
    retry: bool,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("target", &self.target.to_string())
            .field("listening", &self.client.is_some())
            .finish()
    }
}

impl ChangeListener {
    fn connect(config: postgres::Config, target: Target) -> Result<ChangeListener, PgError> {
        let client = Self::listen_on(&config, &target)?;
        Ok(ChangeListener {
            config,
            target,
            client: Some(client),
            retry: true,
        })
    }

    /// A listener that never listens: every wait sleeps its timeout (the
    /// fallback, and a way to test it).
    pub fn polling_only(store: &PgStore) -> ChangeListener {
        ChangeListener {
            config: store.config.clone(),
            target: store.target.clone(),
            client: None,
            retry: false,
        }
    }

    fn listen_on(config: &postgres::Config, target: &Target) -> Result<Client, PgError> {
        let mut client = config.connect(NoTls).map_err(|source| PgError::Connect {
            hint: error::hint(&source, target),
            target: target.clone(),
            source,
        })?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| PgError::Store(error::store_error(e, target)))?;
        Ok(client)
    }

    /// Whether the listening connection is up.
    pub fn is_listening(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Tries to listen again after the connection was lost.
    pub fn reconnect(&mut self) -> Result<(), PgError> {
        self.client = Some(Self::listen_on(&self.config, &self.target)?);
        Ok(())
    }

    /// Waits up to `timeout` for a change to be announced; returns at the
    /// first one (taking every announcement already arrived with it). Never
    /// fails: a lost connection turns into polling (see [`Wake::Polling`]),
    /// and the next wait tries to listen again first.
    pub fn wait(&mut self, timeout: Duration) -> Wake {
        let start = Instant::now();
        let polling = |why: String| {
            std::thread::sleep(timeout.saturating_sub(start.elapsed()));
            Wake::Polling { why }
        };
        if self.client.is_none() && self.retry {
            if let Err(e) = self.reconnect() {
                return polling(e.to_string());
            }
        }
        let Some(client) = self.client.as_mut() else {
            return polling("not listening (polling only)".into());
        };
        let first = {
            let mut notes = client.notifications();
            let first = notes.timeout_iter(timeout).next();
            match first {
                Ok(Some(n)) => {
                    let mut best = n.payload().parse::<i64>().unwrap_or(0);
                    while let Ok(Some(n)) = notes.iter().next() {
                        best = best.max(n.payload().parse::<i64>().unwrap_or(0));
                    }
                    Ok(Some(best))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match first {
            Ok(Some(best)) => Wake::Notified(best),
            Ok(None) if !client.is_closed() => Wake::TimedOut,
            Ok(None) => {
                self.client = None;
                polling(format!(
                    "the listening connection to {} was closed",
                    self.target
                ))
            }
            Err(e) => {
                self.client = None;
                polling(error::store_error(e, &self.target).to_string())
            }
        }
    }
}
