//! Ingest as a queue, for a registry on PostgreSQL: [`enqueue`] puts each
//! photo of a batch in the shared inbox and queues a job for it; any number
//! of workers, on any machine, call [`work_one`] to claim a job, analyse
//! its photo and record it through the [`Matcher`].
//!
//! - **Each photo recorded once.** A sighting is recorded with its batch
//!   mark `(batch, key)`, which the store keeps unique; a job whose item is
//!   recorded already (its worker died after recording, before finishing
//!   the job) is finished without recording it again.
//! - **A dead worker's job is taken up again** when its lease runs out
//!   (`homeward_pg::JobQueue::claim`); after `max_attempts` claims it fails.
//! - **A photo that cannot be read is not retried:** the item is recorded
//!   as failed in the batch (as `homeward batch` does) and the job is
//!   finished with that result.
//!
//! The inbox is `<photo root>/inbox/`, one file per job named by the
//! SHA-256 of its batch and key, written (and synced) before the job that
//! names it is queued and removed once the job is finished. It sits beside
//! the registry's own `photos/`, which never holds unrecorded files.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use homeward_core::intake::Limits;
use homeward_core::store::{NewSighting, Sex, SightingId};
use homeward_pg::{JobQueue, JobState, NewJob, PgError, DEFAULT_MAX_ATTEMPTS};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Analyzer, MatchError, Matcher};

/// A photo of a batch to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// Unique within the batch (the path as listed, say): the item's name
    /// in reports.
    pub key: String,
    /// The photo file.
    pub path: PathBuf,
    /// What is known of the sighting.
    pub sighting: NewSighting,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enqueued {
    /// Jobs queued now.
    pub added: usize,
    /// Items the batch held already (queued, done or failed before).
    pub already: usize,
    /// Items whose photo could not be read, with why; recorded as failed
    /// in the batch.
    pub unreadable: Vec<(String, String)>,
}

/// What one [`work_one`] call did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// No job was waiting.
    Idle,
    /// The job's photo is recorded: now, or already by an earlier claim
    /// (`again`).
    Recorded {
        /// The job.
        job: u64,
        /// The sighting.
        sighting: SightingId,
        /// Recorded by an earlier claim; nothing was written now.
        again: bool,
    },
    /// The photo cannot be read; the item is recorded as failed.
    Unreadable {
        /// The job.
        job: u64,
        /// Why (names no personal data).
        why: String,
    },
    /// Something else went wrong; the job goes back to the queue (or fails
    /// for good after its last attempt, `gave_up`).
    Retry {
        /// The job.
        job: u64,
        /// Why.
        why: String,
        /// The job failed for good.
        gave_up: bool,
    },
}

/// The job's payload: where its photo is and what is known of it. Never
/// logged.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    inbox: String,
    top: usize,
    seen_at: Option<String>,
    place: Option<String>,
    location: Option<(f64, f64)>,
    apparent_age: Option<(f32, f32)>,
    sex: Option<String>,
}

impl Payload {
    fn sighting(&self) -> Result<NewSighting, String> {
        let sex = match &self.sex {
            Some(s) => Some(s.parse::<Sex>().map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(NewSighting {
            seen_at: self.seen_at.clone(),
            place: self.place.clone(),
            location: self.location,
            apparent_age: self.apparent_age,
            sex,
            ..NewSighting::default()
        })
    }
}

/// The shared inbox of queued photos under a photo root.
#[derive(Debug, Clone)]
pub struct Inbox {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Inbox {
    /// The inbox under `photo_root` (created if needed).
    ///
    /// # Errors
    /// [`MatchError::Inbox`] when it cannot be created.
    pub fn new(photo_root: &Path) -> Result<Inbox, MatchError> {
        let dir = photo_root.join("inbox");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| MatchError::inbox(&tmp, e))?;
        Ok(Inbox { dir, tmp })
    }

    fn name(batch: &str, key: &str) -> String {
        let mut h = Sha256::new();
        h.update(batch.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The file of `name`, refusing anything but a name this module made.
    fn path(&self, name: &str) -> Option<PathBuf> {
        (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(name))
    }

    /// Writes `bytes` as `name`, durably, before any job names it.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), MatchError> {
        let tmp = self.tmp.join(format!("{name}.part"));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(name))?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| MatchError::inbox(&self.dir, e))
    }

    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, String> {
        let path = self
            .path(name)
            .ok_or_else(|| "the job names no inbox file; enqueue the batch again".to_string())?;
        read_capped(&path, limit).map_err(|e| {
            format!("its queued photo cannot be read from the inbox ({e}); enqueue the batch again")
        })
    }

    fn remove(&self, name: &str) {
        if let Some(p) = self.path(name) {
            // A file left behind (the worker stopped first) only takes space.
            let _ = fs::remove_file(p);
        }
    }
}

/// Reads a photo file, refusing one over `limit` bytes without reading
/// more than one byte past it (the file may grow meanwhile).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("the photo is over the {limit}-byte limit"));
    }
    Ok(bytes)
}

/// Queues `items` as batch `batch` (each kept with its `top` candidates):
/// photos go to the inbox first, then the jobs, in one transaction. Items
/// the batch holds already are skipped, so enqueuing a batch again adds
/// only what is new. An unreadable photo is recorded as a failed item of
/// the batch and not queued.
///
/// A caller that shares `matcher` with others (the server) runs the steps
/// itself, holding the matcher only for the batch's marks: `batch_done`,
/// [`stage`] without it, failures recorded, then [`queue_staged`].
///
/// # Errors
/// [`MatchError::Queue`] when the queue cannot be reached,
/// [`MatchError::Inbox`] when the inbox cannot be written,
/// [`MatchError::Store`] when a failure cannot be recorded.
pub fn enqueue(
    matcher: &mut Matcher,
    queue: &mut JobQueue,
    inbox: &Inbox,
    batch: &str,
    items: &[QueueItem],
    top: usize,
    limits: &Limits,
) -> Result<Enqueued, MatchError> {
    let done: HashSet<String> = matcher.batch_done(batch)?.into_keys().collect();
    let staged = stage(queue, inbox, batch, items, &done, top, limits)?;
    for (key, why) in &staged.unreadable {
        matcher.record_batch_failure(batch, key, why)?;
    }
    queue_staged(queue, batch, staged)
}

/// An upload's photos in the inbox, their jobs not queued yet ([`stage`]).
#[derive(Debug)]
pub struct Staged {
    jobs: Vec<NewJob>,
    already: usize,
    /// Items whose photo could not be read, with why: record each as a
    /// failed item of the batch before [`queue_staged`].
    pub unreadable: Vec<(String, String)>,
}

/// The part of [`enqueue`] that needs no registry: each item not in the
/// queue's batch nor in `recorded` (the batch's recorded items) is read
/// and written to the inbox, and its job made.
///
/// # Errors
/// [`MatchError::Queue`] when the queue cannot be reached,
/// [`MatchError::Inbox`] when the inbox cannot be written.
pub fn stage(
    queue: &mut JobQueue,
    inbox: &Inbox,
    batch: &str,
    items: &[QueueItem],
    recorded: &HashSet<String>,
    top: usize,
    limits: &Limits,
) -> Result<Staged, MatchError> {
    let known: HashSet<String> = queue.reports(batch)?.into_iter().map(|r| r.key).collect();
    let mut out = Staged {
        jobs: Vec::new(),
        already: 0,
        unreadable: Vec::new(),
    };
    for it in items {
        if known.contains(&it.key) || recorded.contains(&it.key) {
            out.already += 1;
            continue;
        }
        let bytes = match read_capped(&it.path, limits.max_file_bytes)
            .map_err(|e| format!("cannot read the photo: {e}"))
        {
            Ok(b) => b,
            Err(why) => {
                out.unreadable.push((it.key.clone(), why));
                continue;
            }
        };
        let name = Inbox::name(batch, &it.key);
        inbox.put(&name, &bytes)?;
        let s = &it.sighting;
        let payload = Payload {
            inbox: name,
            top,
            seen_at: s.seen_at.clone(),
            place: s.place.clone(),
            location: s.location,
            apparent_age: s.apparent_age,
            sex: s.sex.map(|x| x.to_string()),
        };
        let payload = serde_json::to_string(&payload).map_err(|e| PgError::InvalidJob {
            why: format!("a job's payload cannot be written as JSON: {e}"),
        })?;
        out.jobs.push(NewJob {
            key: it.key.clone(),
            payload,
        });
    }
    Ok(out)
}

/// Queues what [`stage`] made, in one transaction.
///
/// # Errors
/// [`MatchError::Queue`] when the queue cannot be reached.
pub fn queue_staged(
    queue: &mut JobQueue,
    batch: &str,
    staged: Staged,
) -> Result<Enqueued, MatchError> {
    let q = queue.enqueue(batch, &staged.jobs, DEFAULT_MAX_ATTEMPTS)?;
    Ok(Enqueued {
        added: q.added,
        already: staged.already + q.already,
        unreadable: staged.unreadable,
    })
}

/// Claims one job (for `lease`), records its photo through `matcher` and
/// finishes the job; [`Step::Idle`] when none was waiting. The matcher is
/// refreshed first, so the photo is matched against what every process
/// has recorded.
///
/// # Errors
/// [`MatchError::Queue`] or [`MatchError::Store`] when the database fails;
/// the job, if claimed, is then taken up again when its lease runs out.
pub fn work_one(
    matcher: &mut Matcher,
    analyzer: &Analyzer,
    queue: &mut JobQueue,
    inbox: &Inbox,
    actor: &str,
    lease: Duration,
) -> Result<Step, MatchError> {
    let Some(job) = queue.claim(1, lease)?.into_iter().next() else {
        return Ok(Step::Idle);
    };
    matcher.refresh()?;
    if let Some(id) = matcher.batch_item_sighting(&job.batch, &job.key)? {
        finish(queue, &job, &serde_json::json!({"sighting_id": id}))?;
        if let Ok(p) = serde_json::from_str::<Payload>(&job.payload) {
            inbox.remove(&p.inbox);
        }
        return Ok(Step::Recorded {
            job: job.id,
            sighting: id,
            again: true,
        });
    }
    let payload: Payload = match serde_json::from_str(&job.payload) {
        Ok(p) => p,
        Err(_) => return unreadable(matcher, queue, &job, "the job's payload is unreadable"),
    };
    let sighting = match payload.sighting() {
        Ok(s) => s,
        Err(why) => return unreadable(matcher, queue, &job, &why),
    };
    let bytes = match inbox.read(&payload.inbox, analyzer.analysis().limits.max_file_bytes) {
        Ok(b) => b,
        Err(why) => return retry(queue, &job, why),
    };
    let models = matcher.registry().models().to_vec();
    let photo = match analyzer.photo_bytes_for(bytes, &models) {
        Ok(p) => p,
        Err(MatchError::Decode(e)) => {
            let step = unreadable(matcher, queue, &job, &e.to_string());
            inbox.remove(&payload.inbox);
            return step;
        }
        Err(e) => return retry(queue, &job, e.to_string()),
    };
    let out = match matcher.submit_batch_item(
        actor,
        &photo,
        &sighting,
        payload.top,
        &job.batch,
        &job.key,
    ) {
        Ok(out) => out,
        Err(e) => return retry(queue, &job, e.to_string()),
    };
    finish(
        queue,
        &job,
        &serde_json::json!({"sighting_id": out.sighting_id, "faces": out.faces,
                            "queued": out.queued.len()}),
    )?;
    inbox.remove(&payload.inbox);
    Ok(Step::Recorded {
        job: job.id,
        sighting: out.sighting_id,
        again: false,
    })
}

/// Finishes a job; a claim lost meanwhile is not an error here: the item
/// is recorded (once), and whoever holds the job now finds it so.
fn finish(
    queue: &mut JobQueue,
    job: &homeward_pg::Job,
    result: &serde_json::Value,
) -> Result<(), MatchError> {
    match queue.complete(job, &result.to_string()) {
        Ok(()) | Err(PgError::JobLost { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn unreadable(
    matcher: &mut Matcher,
    queue: &mut JobQueue,
    job: &homeward_pg::Job,
    why: &str,
) -> Result<Step, MatchError> {
    matcher.record_batch_failure(&job.batch, &job.key, why)?;
    finish(queue, job, &serde_json::json!({"failed": why}))?;
    Ok(Step::Unreadable {
        job: job.id,
        why: why.to_string(),
    })
}

fn retry(queue: &mut JobQueue, job: &homeward_pg::Job, why: String) -> Result<Step, MatchError> {
    let gave_up = match queue.fail(job, &why) {
        Ok(state) => state == JobState::Failed,
        Err(PgError::JobLost { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    Ok(Step::Retry {
        job: job.id,
        why,
        gave_up,
    })
}
