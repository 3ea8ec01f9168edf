//! Index snapshots: a process opening a large registry loads every index
//! this store keeps (dlib's face index and each model's) from a snapshot
//! on the shared photo root, then catches up from the change log after the
//! position the snapshot includes, instead of reading every face row and
//! rebuilding the graphs.
//!
//! ```text
//! <photo_root>/snapshots/snap-<position, 20 digits>-<nonce>/   one snapshot, renamed into place whole
//!     manifest                 text (below), last line its SHA-256
//!     faces/                   dlib's index, the core's index snapshot format
//!     model-<hex of name>/     each model's index, the same format
//! <photo_root>/snapshots/tmp-<position>-<nonce>/               being written (or left by a crash)
//! ```
//!
//! Manifest lines: `homeward-pg-snapshot 1`, `database <system identifier>:<database oid>`,
//! `position <log number>`, `erase_generation <n>`, `faces <count>`, one `model <hex name>
//! <hex version> <dim> <metric> <count>` per enabled model, then `sha256 <hex of the bytes
//! before>`. Each index snapshot is tagged with the position (its "generation"), so a
//! manifest and indexes of different snapshots never load together.
//!
//! **Loading** takes the newest snapshot and refuses it (the indexes are then rebuilt
//! from the rows, [`IndexOrigin::Rebuilt`] says why) when it is damaged, belongs to another
//! database (`pg_control_system()`'s system identifier and the database's oid: a restored
//! dump or a copied database has others) or model set, is ahead of the log, or when the log
//! was pruned past its position. Faces whose rows are gone are left out as it loads, and the
//! catch-up applies every change after its position (erasures included).
//!
//! **Erasure.** The erasing process deletes every snapshot (and unfinished one) older than
//! its erasure right after the commit. A writer that caught up before an erasure committed
//! sees the erase generation move once its snapshot is in place and deletes it; a process
//! that loads a snapshot older than an erasure anyway (one that escaped both, e.g. its writer
//! died in between) drops the erased faces while loading and catching up, before it answers,
//! and then deletes that snapshot.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use homeward_core::index::{FaceIndex, FaceMeta, DIM, DLIB_MODEL};
use homeward_core::store::{
    model_snapshot_dir, sha256, IndexOrigin, Metric, ModelIndexes, ModelSpec, StoreError,
};

use crate::changelog::face_meta;
use crate::rows::id;
use crate::{PgError, PgStore};

/// The snapshots' directory under the photo root.
pub const SNAPSHOT_DIR: &str = "snapshots";
const FORMAT: &str = "homeward-pg-snapshot 1";
const MANIFEST: &str = "manifest";
const FACES: &str = "faces";
/// An unfinished snapshot older than this was left by a writer that died.
const TMP_STALE: Duration = Duration::from_secs(3600);
/// Attempts of [`PgStore::write_snapshot`] while erasures keep committing.
const WRITE_ATTEMPTS: usize = 3;

/// When a store writes a snapshot by itself: at [`PgStore::close`] (or when
/// it is dropped, unless a panic is unwinding), if its face index holds at
/// least `min_faces` and the newest snapshot on disk is missing or at least
/// `every_changes` log entries behind the log's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Smallest face index worth a snapshot (small ones rebuild in moments).
    pub min_faces: usize,
    /// Log entries beyond the newest snapshot that make a new one due.
    pub every_changes: i64,
}

impl SnapshotPolicy {
    /// Never writes by itself ([`PgStore::write_snapshot`] still does).
    pub const NEVER: SnapshotPolicy = SnapshotPolicy {
        min_faces: usize::MAX,
        every_changes: i64::MAX,
    };
}

impl Default for SnapshotPolicy {
    /// 10,000 faces (about 10 s to rebuild here), 10,000 changes.
    fn default() -> Self {
        SnapshotPolicy {
            min_faces: 10_000,
            every_changes: 10_000,
        }
    }
}

/// A snapshot written by [`PgStore::write_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWritten {
    /// Its directory.
    pub path: PathBuf,
    /// The change log position it includes.
    pub position: i64,
    /// Faces in dlib's index.
    pub faces: usize,
}

#[derive(Debug)]
struct Manifest {
    database: String,
    position: i64,
    erase_generation: i64,
    faces: u64,
    /// Each model with how many faces its index holds.
    models: Vec<(ModelSpec, u64)>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{FORMAT}\ndatabase {}\nposition {}\nerase_generation {}\nfaces {}\n",
            self.database, self.position, self.erase_generation, self.faces
        );
        for (m, n) in &self.models {
            s.push_str(&format!(
                "model {} {} {} {} {n}\n",
                hex(m.name.as_bytes()),
                hex(m.version.as_bytes()),
                m.dim,
                m.metric.as_str()
            ));
        }
        let sum = hex(&sha256(s.as_bytes()));
        s.push_str(&format!("sha256 {sum}\n"));
        s.into_bytes()
    }

    fn decode(b: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(b).map_err(|_| "manifest is not text")?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or("manifest truncated")?;
        let (body, last) = text.split_at(body_end);
        if last.trim_end() != format!("sha256 {}", hex(&sha256(body.as_bytes()))) {
            return Err("manifest checksum mismatch".into());
        }
        let mut lines = body.lines();
        if lines.next() != Some(FORMAT) {
            return Err(format!("not a {FORMAT:?} manifest"));
        }
        let mut field = |key: &str| -> Result<String, String> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(|| format!("manifest has no {key}"))
        };
        let num = |v: String, key: &str| v.parse::<i64>().map_err(|_| format!("bad {key}"));
        let database = field("database")?;
        let position = num(field("position")?, "position")?;
        let erase_generation = num(field("erase_generation")?, "erase_generation")?;
        let faces = num(field("faces")?, "faces")? as u64;
        let mut models = Vec::new();
        for l in lines {
            let w: Vec<&str> = l.split(' ').collect();
            let bad = || format!("bad model line {l:?}");
            let [_, name, version, dim, metric, count] = w[..] else {
                return Err(bad());
            };
            if w[0] != "model" {
                return Err(bad());
            }
            models.push((
                ModelSpec {
                    name: unhex(name).ok_or_else(bad)?,
                    version: unhex(version).ok_or_else(bad)?,
                    dim: dim.parse().map_err(|_| bad())?,
                    metric: metric.parse::<Metric>().map_err(|_| bad())?,
                },
                count.parse().map_err(|_| bad())?,
            ));
        }
        Ok(Manifest {
            database,
            position,
            erase_generation,
            faces,
            models,
        })
    }
}

/// One directory under `snapshots/`.
struct Entry {
    position: i64,
    path: PathBuf,
    done: bool,
}

/// The snapshots and unfinished ones under `dir`, newest first.
fn list(dir: &Path) -> Vec<Entry> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (done, rest) = match name.split_once('-')? {
                ("snap", rest) => (true, rest),
                ("tmp", rest) => (false, rest),
                _ => return None,
            };
            let position = rest.split_once('-')?.0.parse().ok()?;
            Some(Entry {
                position,
                path: e.path(),
                done,
            })
        })
        .collect();
    out.sort_by(|a, b| b.position.cmp(&a.position).then(b.path.cmp(&a.path)));
    out
}

fn remove_dir(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Deletes every snapshot, finished or not, that includes less than `seq`
/// (an erasure's log number): they may hold the erased faces.
pub(crate) fn discard_before(photo_root: &Path, seq: i64) -> Result<(), StoreError> {
    let dir = photo_root.join(SNAPSHOT_DIR);
    let mut removed = false;
    for e in list(&dir).iter().filter(|e| e.position < seq) {
        remove_dir(&e.path)?;
        removed = true;
    }
    if removed {
        fsync_dir(&dir)?;
    }
    Ok(())
}

/// Why a snapshot was not used, and whether to delete it.
struct Refused {
    why: String,
    delete: bool,
}

fn refuse(why: impl Into<String>) -> Refused {
    Refused {
        why: why.into(),
        delete: true,
    }
}

fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

impl PgStore {
    /// How this store's indexes were obtained at open: loaded from a
    /// snapshot (with how many faces the catch-up then added) or rebuilt from
    /// the rows, and why.
    pub fn index_origin(&self) -> &IndexOrigin {
        &self.origin
    }

    /// When this store writes a snapshot by itself (see [`SnapshotPolicy`]).
    pub fn set_snapshot_policy(&mut self, policy: SnapshotPolicy) {
        self.policy = policy;
    }

    /// The database's identity a snapshot must carry: the cluster's system
    /// identifier and the database's oid (no schema change: both are the
    /// server's own). A role refused `pg_control_system()` gets the oid
    /// alone, a weaker check.
    fn database_identity(&self) -> Result<String, StoreError> {
        let mut c = self.lock();
        let oid = "SELECT oid::bigint FROM pg_database WHERE datname = current_database()";
        let with_system = format!(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text || ':' || ({oid})::text"
        );
        if let Ok(r) = c.query_one(&with_system, &[]) {
            return Ok(r.get(0));
        }
        let r = c.query_one(oid, &[]).map_err(self.db())?;
        Ok(format!("unknown:{}", r.get::<_, i64>(0)))
    }

    fn erase_generation(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT value FROM registry_meta WHERE key = 'erase_generation'",
                &[],
            )
            .map_err(self.db())?
            .map_or(0, |r| r.get(0)))
    }

    /// Loads the newest snapshot and catches up, else rebuilds the indexes
    /// from the rows; records which in [`PgStore::index_origin`].
    pub(crate) fn open_indexes(&mut self) -> Result<(), StoreError> {
        let dir = self.root.join(SNAPSHOT_DIR);
        let Some(newest) = list(&dir).into_iter().find(|e| e.done) else {
            self.rebuild_index()?;
            self.origin = IndexOrigin::Rebuilt {
                reason: "no snapshot".into(),
            };
            return Ok(());
        };
        let name = newest
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match self.load_snapshot(&newest)? {
            Ok(added) => self.origin = IndexOrigin::Snapshot { added },
            Err(r) => {
                if r.delete {
                    remove_dir(&newest.path)?;
                }
                self.rebuild_index()?;
                self.origin = IndexOrigin::Rebuilt {
                    reason: format!("snapshot {name} not used: {}", r.why),
                };
            }
        }
        Ok(())
    }

    fn load_snapshot(&mut self, e: &Entry) -> Result<Result<usize, Refused>, StoreError> {
        let mpath = e.path.join(MANIFEST);
        let m = match fs::read(&mpath) {
            Ok(b) => match Manifest::decode(&b) {
                Ok(m) => m,
                Err(why) => return Ok(Err(refuse(why))),
            },
            Err(err) => return Ok(Err(refuse(format!("manifest unreadable: {err}")))),
        };
        if m.position != e.position {
            return Ok(Err(refuse("its name and manifest disagree")));
        }
        let ident = self.database_identity()?;
        if m.database != ident {
            // Not ours to delete: another registry's processes may use it.
            return Ok(Err(Refused {
                why: format!(
                    "it belongs to another database ({}; this one is {ident}): \
                     a photo root shared by two registries, or a restored copy",
                    m.database
                ),
                delete: false,
            }));
        }
        let specs: Vec<ModelSpec> = m.models.iter().map(|(s, _)| s.clone()).collect();
        let enabled = self.enabled_specs()?;
        if specs != enabled {
            let names = |v: &[ModelSpec]| {
                v.iter()
                    .map(|s| format!("{} {}", s.name, s.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Ok(Err(refuse(format!(
                "written for models [{}], the registry has [{}]",
                names(&specs),
                names(&enabled)
            ))));
        }
        let r = self
            .lock()
            .query_one(
                "SELECT coalesce((SELECT value FROM registry_meta
                                  WHERE key = 'changes_pruned_upto'), 0),
                        coalesce((SELECT max(seq) FROM changes), 0)",
                &[],
            )
            .map_err(self.db())?;
        let (pruned, head): (i64, i64) = (r.get(0), r.get(1));
        if m.position < pruned {
            return Ok(Err(refuse(format!(
                "the change log was pruned past it (it includes up to {}, the log starts after {pruned})",
                m.position
            ))));
        }
        if m.position > head.max(pruned) {
            return Ok(Err(refuse(format!(
                "it is ahead of this database's change log ({} > {}): a database restored \
                 from an older backup?",
                m.position,
                head.max(pruned)
            ))));
        }
        // Every face's case facts now (no vectors): a saved face whose row
        // is gone is left out, the rest is brought up to date by the log.
        let rows = self
            .lock()
            .query(
                "SELECT f.id, p.case_id, c.sex, c.birth_year, c.missing_lat, c.missing_lon,
                        c.status
                 FROM faces f JOIN photos p ON p.id = f.photo_id JOIN cases c ON c.id = p.case_id",
                &[],
            )
            .map_err(self.db())?;
        let mut metas: HashMap<u64, FaceMeta> = HashMap::with_capacity(rows.len());
        for r in &rows {
            metas.insert(id(r.get(0)), face_meta(r)?);
        }
        drop(rows);
        let last_id: i64 = self
            .lock()
            .query_one(
                "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('faces', 'id')::regclass), 0)",
                &[],
            )
            .map_err(self.db())?
            .get(0);
        let max_id = metas.keys().copied().max().unwrap_or(0).max(id(last_id));
        let generation = m.position as u64;
        let params = self.params;
        let load = |root: &Path,
                    model: &str,
                    dim: usize,
                    count: u64,
                    meta_of: &dyn Fn(u64) -> Option<FaceMeta>| {
            if count == 0 {
                return FaceIndex::for_model(model, dim, params).map(|idx| (idx, 0));
            }
            FaceIndex::load_saved_model(root, model, dim, generation, Some(max_id), meta_of)
        };
        let dlib = (DLIB_MODEL, DIM);
        let faces_root = e.path.join(FACES);
        let (index, _) = match load(&faces_root, dlib.0, dlib.1, m.faces, &|f| {
            metas.get(&f).copied()
        }) {
            Ok(x) => x,
            Err(err) => return Ok(Err(refuse(err.to_string()))),
        };
        let mut models = ModelIndexes::default();
        for (spec, count) in &m.models {
            let root = e.path.join(model_snapshot_dir(&spec.name));
            let dim = spec.dim as usize;
            let loaded = load(&root, &spec.name, dim, *count, &|f| index.meta(f).copied())
                .and_then(|(idx, _)| models.add(spec.clone(), idx));
            if let Err(err) = loaded {
                return Ok(Err(refuse(format!("{}: {err}", spec.name))));
            }
        }
        self.index = index;
        self.models = models;
        self.position = m.position;
        let caught = self
            .catch_up()
            .map_err(|err| err.into_store_error(&self.target))?;
        if caught.rebuilt {
            return Ok(Err(refuse(
                "the change log was pruned past it while catching up",
            )));
        }
        if m.erase_generation != self.erase_generation()? {
            // Written before an erasure (its writer died before it could
            // see it): the erased faces left memory above; leave no copy.
            remove_dir(&e.path)?;
        }
        Ok(Ok(caught.faces_added))
    }

    /// The enabled models, as the database has them.
    fn enabled_specs(&self) -> Result<Vec<ModelSpec>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT name, version, dim, metric FROM models ORDER BY added_at, name",
                &[],
            )
            .map_err(self.db())?;
        rows.iter()
            .map(|r| {
                Ok(ModelSpec {
                    name: r.get(0),
                    version: r.get(1),
                    dim: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                    metric: r.get::<_, &str>(3).parse::<Metric>()?,
                })
            })
            .collect()
    }

    /// Catches up, then writes a snapshot of every index this store keeps
    /// under `<photo_root>/snapshots/` (a directory written aside and
    /// renamed into place whole), and deletes the older ones. A snapshot an
    /// erasure committed during is deleted again and written anew, so none
    /// written after an erasure holds its faces.
    pub fn write_snapshot(&mut self) -> Result<SnapshotWritten, PgError> {
        let dir = self.root.join(SNAPSHOT_DIR);
        let failed = |why: String| PgError::Snapshot {
            path: dir.clone(),
            why,
        };
        for _ in 0..WRITE_ATTEMPTS {
            let before = self.erase_generation()?;
            self.catch_up()?;
            let position = self.position;
            let database = self.database_identity()?;
            fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
            let tag = format!("{position:020}-{}", nonce());
            let tmp = dir.join(format!("tmp-{tag}"));
            let done = dir.join(format!("snap-{tag}"));
            fs::create_dir(&tmp).map_err(|e| failed(e.to_string()))?;
            let written = self.write_into(&tmp, position, before, database);
            let placed = written.and_then(|()| {
                fs::rename(&tmp, &done).map_err(|source| StoreError::Io {
                    path: done.clone(),
                    source,
                })?;
                fsync_dir(&dir)
            });
            if let Err(err) = placed {
                remove_dir(&tmp)?;
                return Err(err.into());
            }
            if self.erase_generation()? != before {
                // An erasure committed meanwhile, maybe after the catch-up:
                // this snapshot may hold its faces.
                remove_dir(&done)?;
                continue;
            }
            self.tidy(&dir, position, &done)?;
            return Ok(SnapshotWritten {
                path: done,
                position,
                faces: self.index.len(),
            });
        }
        Err(failed(format!(
            "erasures kept committing while it was written ({WRITE_ATTEMPTS} attempts)"
        )))
    }

    fn write_into(
        &mut self,
        tmp: &Path,
        position: i64,
        erase_generation: i64,
        database: String,
    ) -> Result<(), StoreError> {
        let generation = position as u64;
        if !self.index.is_empty() {
            self.index.save(&tmp.join(FACES), generation)?;
        }
        let specs = self.models.specs().to_vec();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (name, idx) in self.models.indexes_mut() {
            idx.compact();
            counts.insert(name.to_owned(), idx.len() as u64);
            if !idx.is_empty() {
                idx.save(&tmp.join(model_snapshot_dir(name)), generation)?;
            }
        }
        let manifest = Manifest {
            database,
            position,
            erase_generation,
            faces: self.index.len() as u64,
            models: specs
                .into_iter()
                .map(|s| {
                    let n = counts.get(&s.name).copied().unwrap_or(0);
                    (s, n)
                })
                .collect(),
        };
        let path = tmp.join(MANIFEST);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut f = File::create(&path).map_err(io)?;
        f.write_all(&manifest.encode()).map_err(io)?;
        f.sync_all().map_err(io)?;
        fsync_dir(tmp)
    }

    /// Deletes the snapshots older than the one just written, and
    /// unfinished ones whose writer died.
    fn tidy(&self, dir: &Path, position: i64, keep: &Path) -> Result<(), StoreError> {
        for e in list(dir) {
            let stale_tmp = !e.done
                && fs::metadata(&e.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > TMP_STALE);
            if e.path != keep && ((e.done && e.position <= position) || stale_tmp) {
                remove_dir(&e.path)?;
            }
        }
        Ok(())
    }

    /// Writes a snapshot if [`SnapshotPolicy`] says one is due; returns it.
    pub fn snapshot_if_due(&mut self) -> Result<Option<SnapshotWritten>, PgError> {
        if self.index.len() < self.policy.min_faces {
            return Ok(None);
        }
        let newest = list(&self.root.join(SNAPSHOT_DIR))
            .into_iter()
            .find(|e| e.done)
            .map(|e| e.position);
        if let Some(n) = newest {
            // The log's head: this store's own writes do not move its
            // position until it catches up.
            let head = crate::changelog::head(&mut *self.lock()).map_err(self.db())?;
            if head.saturating_sub(n) < self.policy.every_changes {
                return Ok(None);
            }
        }
        self.write_snapshot().map(Some)
    }

    /// Closes the store, first writing a snapshot if [`SnapshotPolicy`]
    /// says one is due (dropping the store does the same, ignoring errors).
    pub fn close(mut self) -> Result<Option<SnapshotWritten>, PgError> {
        self.closed = true;
        self.snapshot_if_due()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if !self.closed && !std::thread::panicking() {
            let _ = self.snapshot_if_due();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_a_changed_byte_is_refused() {
        let m = Manifest {
            database: "7123:16384".into(),
            position: 42,
            erase_generation: 3,
            faces: 10,
            models: vec![(
                ModelSpec {
                    name: "sface two".into(),
                    version: "v1".into(),
                    dim: 128,
                    metric: Metric::Cosine,
                },
                9,
            )],
        };
        let b = m.encode();
        let back = Manifest::decode(&b).unwrap();
        assert_eq!(back.database, m.database);
        assert_eq!(
            (back.position, back.erase_generation, back.faces),
            (42, 3, 10)
        );
        assert_eq!(back.models, m.models);
        let mut bad = b.clone();
        let at = bad.iter().position(|c| *c == b'4').unwrap();
        bad[at] = b'5';
        assert!(Manifest::decode(&bad).unwrap_err().contains("checksum"));
    }
}
