//! The ingest queue: `homeward batch` enqueues one job per photo, workers
//! (as many as are started, on any machine) claim and process them.
//!
//! - **Enqueue once.** A job is `(batch, key)`-unique: the key names the
//!   photo (its SHA-256, say), so enqueuing a batch again adds only what it
//!   did not hold ([`Enqueued`] says how many of each).
//! - **Claim with a lease.** [`JobQueue::claim`] takes up to `n` jobs with
//!   `FOR UPDATE SKIP LOCKED` (concurrent claimers never wait for each
//!   other and never get the same job) and marks them running with a fresh
//!   lease token and a visibility timeout in the server's clock. A job
//!   whose lease ran out (its worker died or hung) is claimable again;
//!   after `max_attempts` claims it is failed instead ("its worker stopped
//!   answering").
//! - **Finish exactly once.** [`JobQueue::complete`] (or
//!   [`PgStore::record_sighting_job`](crate::PgStore::record_sighting_job),
//!   which writes the sighting in the same transaction) marks the job done
//!   only if it still holds the claim's token and is running; otherwise
//!   nothing is written and the error is [`PgError::JobLost`]. A job
//!   re-claimed after its lease expired has a new token, so the first
//!   worker, if it wakes up, cannot complete it too.
//! - **Fail with retries.** [`JobQueue::fail`] puts the job back in the
//!   queue until its attempts reach `max_attempts`, then fails it.
//! - **Progress.** [`JobQueue::progress`] counts a batch's jobs by state;
//!   [`JobQueue::reports`] lists each job's state, result and last error
//!   for the case worker.
//!
//! The payload is the caller's JSON (a photo reference and its metadata);
//! it is never put in an error or a log line. Results and errors must not
//! hold personal data either (ids and counts).

use std::fmt;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient};

use crate::error::{self, PgError, Target};
use crate::rows::{id, now};

/// The channel new jobs are announced on (payload: how many).
pub const JOBS_CHANNEL: &str = "homeward_jobs";

/// Claims per job before it is failed when its worker keeps stopping.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A job to enqueue.
#[derive(Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Unique within the batch: the same key is enqueued once (e.g. the
    /// photo's SHA-256 in hex).
    pub key: String,
    /// The caller's JSON: what the worker needs to process the photo.
    pub payload: String,
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("payload_bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// What [`JobQueue::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// New jobs.
    pub added: usize,
    /// Keys the batch held already (not enqueued again).
    pub already: usize,
}

/// A claimed job. Finish it with [`JobQueue::complete`],
/// [`PgStore::record_sighting_job`](crate::PgStore::record_sighting_job)
/// or [`JobQueue::fail`] before its lease runs out.
#[derive(Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: u64,
    /// Its batch.
    pub batch: String,
    /// Its key within the batch.
    pub key: String,
    /// The payload it was enqueued with.
    pub payload: String,
    /// This claim is the job's `attempt`-th (from 1).
    pub attempt: u32,
    /// Claims allowed before it fails.
    pub max_attempts: u32,
    /// The claim's token: only the holder of the newest claim can finish.
    pub(crate) lease: i64,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Claimed; its lease may have run out (see [`BatchProgress::stalled`]).
    Running,
    /// Completed, once.
    Done,
    /// Failed `max_attempts` times.
    Failed,
}

impl JobState {
    fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            _ => JobState::Failed,
        }
    }
}

/// A batch's jobs counted by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchProgress {
    /// Waiting for a worker.
    pub queued: u64,
    /// Claimed, lease running.
    pub running: u64,
    /// Claimed, lease run out: the worker died or hung; another claim
    /// takes them up.
    pub stalled: u64,
    /// Completed.
    pub done: u64,
    /// Failed for good.
    pub failed: u64,
}

impl BatchProgress {
    /// Every job of the batch.
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.stalled + self.done + self.failed
    }

    /// Whether no job is left to process.
    pub fn finished(&self) -> bool {
        self.queued + self.running + self.stalled == 0
    }
}

/// One job as the case worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The job's id.
    pub id: u64,
    /// Its key within the batch.
    pub key: String,
    /// Where it is.
    pub state: JobState,
    /// Claims so far.
    pub attempts: u32,
    /// The completion's result (JSON), once done.
    pub result: Option<String>,
    /// The last failure's words.
    pub error: Option<String>,
}

/// The ingest queue, on a connection of its own (one per worker thread).
pub struct JobQueue {
    client: Client,
    target: Target,
    worker: String,
    /// Whether this connection LISTENs for [`JOBS_CHANNEL`].
    listening: bool,
}

impl fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue")
            .field("target", &self.target.to_string())
            .field("worker", &self.worker)
            .finish()
    }
}

impl JobQueue {
    /// Connects to the registry `url` (migrating it if needed) as `worker`
    /// (a name for the claims, e.g. `host:pid`; not personal data).
    pub fn connect(url: &str, worker: &str) -> Result<JobQueue, PgError> {
        let (config, target) = crate::config_of(url)?;
        JobQueue::open(&config, target, worker)
    }

    pub(crate) fn open(
        config: &postgres::Config,
        target: Target,
        worker: &str,
    ) -> Result<JobQueue, PgError> {
        let mut client = crate::connect_client(config, &target)?;
        crate::schema::migrate(&mut client, &target)?;
        Ok(JobQueue {
            client,
            target,
            worker: worker.to_owned(),
            listening: false,
        })
    }

    fn db(&self) -> impl Fn(postgres::Error) -> PgError + '_ {
        move |e| PgError::Store(error::store_error(e, &self.target))
    }

    /// Enqueues `jobs` in `batch`, in one transaction; a key the batch
    /// holds already is not enqueued again. Each job may be claimed
    /// `max_attempts` times before it fails.
    pub fn enqueue(
        &mut self,
        batch: &str,
        jobs: &[NewJob],
        max_attempts: u32,
    ) -> Result<Enqueued, PgError> {
        if batch.trim().is_empty() {
            return Err(PgError::InvalidJob {
                why: "the batch name is empty; name the batch".into(),
            });
        }
        let max = i32::try_from(max_attempts)
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| PgError::InvalidJob {
                why: format!("max_attempts must be 1 to {}", i32::MAX),
            })?;
        if let Some(i) = jobs.iter().position(|j| j.key.is_empty()) {
            return Err(PgError::InvalidJob {
                why: format!("job {i} of the list has an empty key; give every job a key"),
            });
        }
        let target = self.target.clone();
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
        let st = tx
            .prepare(
                "INSERT INTO jobs (batch, key, payload, max_attempts, enqueued_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (batch, key) DO NOTHING",
            )
            .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
        let mut added = 0;
        let at = now();
        for (i, j) in jobs.iter().enumerate() {
            match tx.execute(&st, &[&batch, &j.key, &j.payload, &max, &at]) {
                Ok(n) => added += n as usize,
                Err(e) if e.code().is_some_and(|c| c.code() == "22P02") => {
                    return Err(PgError::InvalidJob {
                        why: format!(
                            "the payload of job {i} of the list is not valid JSON; \
                             fix how the batch is built"
                        ),
                    })
                }
                Err(e) => return Err(PgError::Store(error::store_error(e, &target))),
            }
        }
        if added > 0 {
            // Workers waiting in `wait_for_jobs` wake at the commit.
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&JOBS_CHANNEL, &added.to_string()],
            )
            .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
        }
        tx.commit()
            .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
        Ok(Enqueued {
            added,
            already: jobs.len() - added,
        })
    }

    /// Waits up to `timeout` for jobs to be enqueued (or put back by
    /// [`JobQueue::fail`]); returns whether some were announced. An idle
    /// worker calls it between empty claims instead of claiming in a tight
    /// loop. Jobs whose lease runs out are not announced: keep `timeout`
    /// below the lease so they are claimed again in time.
    pub fn wait_for_jobs(&mut self, timeout: Duration) -> Result<bool, PgError> {
        if !self.listening {
            self.client
                .batch_execute(&format!("LISTEN {JOBS_CHANNEL}"))
                .map_err(self.db())?;
            self.listening = true;
        }
        let target = self.target.clone();
        let mut notes = self.client.notifications();
        let first = notes.timeout_iter(timeout).next();
        match first {
            Ok(Some(_)) => {
                while let Ok(Some(_)) = notes.iter().next() {}
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(PgError::Store(error::store_error(e, &target))),
        }
    }

    /// Claims up to `n` jobs (oldest first, any batch), each with a lease
    /// of `lease`: queued ones, and running ones whose lease ran out. Jobs
    /// whose lease ran out `max_attempts` times are failed instead.
    /// Concurrent claimers skip each other's rows: they never wait and
    /// never get the same job.
    pub fn claim(&mut self, n: usize, lease: Duration) -> Result<Vec<Job>, PgError> {
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let secs = lease.as_secs_f64();
        let worker = self.worker.clone();
        let rows = self
            .client
            .query(
                "WITH worn AS (
                     UPDATE jobs SET state = 'failed', lease = NULL, leased_until = NULL,
                            done_at = $4,
                            last_error = 'its worker stopped answering ' || attempts || ' time(s)'
                     WHERE id IN (SELECT id FROM jobs
                                  WHERE state = 'running' AND leased_until < clock_timestamp()
                                    AND attempts >= max_attempts
                                  FOR UPDATE SKIP LOCKED)
                 ), picked AS (
                     SELECT id FROM jobs
                     WHERE state = 'queued'
                        OR (state = 'running' AND leased_until < clock_timestamp()
                            AND attempts < max_attempts)
                     ORDER BY id LIMIT $1
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE jobs j SET state = 'running', attempts = j.attempts + 1,
                        lease = nextval('job_leases'),
                        leased_until = clock_timestamp() + make_interval(secs => $2),
                        worker = $3
                 FROM picked WHERE j.id = picked.id
                 RETURNING j.id, j.batch, j.key, j.payload, j.attempts, j.max_attempts, j.lease",
                &[&limit, &secs, &worker, &now()],
            )
            .map_err(self.db())?;
        let mut jobs: Vec<Job> = rows
            .iter()
            .map(|r| Job {
                id: id(r.get(0)),
                batch: r.get(1),
                key: r.get(2),
                payload: r.get(3),
                attempt: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                max_attempts: u32::try_from(r.get::<_, i32>(5)).unwrap_or(0),
                lease: r.get(6),
            })
            .collect();
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Gives a claimed job `lease` more time from now (for long work).
    pub fn extend(&mut self, job: &Job, lease: Duration) -> Result<(), PgError> {
        let n = self
            .client
            .execute(
                "UPDATE jobs SET leased_until = clock_timestamp() + make_interval(secs => $3)
                 WHERE id = $1 AND lease = $2 AND state = 'running'",
                &[&(job.id as i64), &job.lease, &lease.as_secs_f64()],
            )
            .map_err(self.db())?;
        if n == 0 {
            let why = lost_why(&mut self.client, job).map_err(self.db())?;
            return Err(PgError::JobLost { job: job.id, why });
        }
        Ok(())
    }

    /// Completes a claimed job with `result` (JSON: ids and counts, nothing
    /// personal), once: refused with [`PgError::JobLost`] if the claim is no
    /// longer the job's newest or the job is finished.
    pub fn complete(&mut self, job: &Job, result: &str) -> Result<(), PgError> {
        self.complete_with(job, |_| Ok(result.to_owned()))
    }

    /// Completes a claimed job and writes what `write` writes in the same
    /// transaction: the job is marked done first (so a lost claim writes
    /// nothing), then `write` runs and returns the result JSON, then both
    /// commit together.
    pub fn complete_with(
        &mut self,
        job: &Job,
        write: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<String, postgres::Error>,
    ) -> Result<(), PgError> {
        let target = self.target.clone();
        let db = |e| PgError::Store(error::store_error(e, &target));
        let mut tx = self.client.transaction().map_err(db)?;
        if let Err(why) = finish(&mut tx, job, None).map_err(db)? {
            return Err(PgError::JobLost { job: job.id, why });
        }
        let result = write(&mut tx).map_err(db)?;
        set_result(&mut tx, job, &result).map_err(db)?;
        tx.commit().map_err(db)
    }

    /// Records a failed attempt (`why`: what went wrong, nothing personal):
    /// the job goes back to the queue, or fails for good once its attempts
    /// reach its maximum. Returns where it went.
    pub fn fail(&mut self, job: &Job, why: &str) -> Result<JobState, PgError> {
        let row = self
            .client
            .query_opt(
                "UPDATE jobs SET
                     state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                     done_at = CASE WHEN attempts >= max_attempts THEN $4::bigint END,
                     last_error = $3, lease = NULL, leased_until = NULL
                 WHERE id = $1 AND lease = $2 AND state = 'running'
                 RETURNING state",
                &[&(job.id as i64), &job.lease, &why, &now()],
            )
            .map_err(self.db())?;
        match row {
            Some(r) => {
                let state = JobState::parse(r.get(0));
                if state == JobState::Queued {
                    self.client
                        .execute("SELECT pg_notify($1, '1')", &[&JOBS_CHANNEL])
                        .map_err(self.db())?;
                }
                Ok(state)
            }
            None => {
                let why = lost_why(&mut self.client, job).map_err(self.db())?;
                Err(PgError::JobLost { job: job.id, why })
            }
        }
    }

    /// `batch`'s jobs counted by state (all zero for an unknown batch).
    pub fn progress(&mut self, batch: &str) -> Result<BatchProgress, PgError> {
        let r = self
            .client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'queued'),
                        count(*) FILTER (WHERE state = 'running'
                                         AND leased_until >= clock_timestamp()),
                        count(*) FILTER (WHERE state = 'running'
                                         AND leased_until < clock_timestamp()),
                        count(*) FILTER (WHERE state = 'done'),
                        count(*) FILTER (WHERE state = 'failed')
                 FROM jobs WHERE batch = $1",
                &[&batch],
            )
            .map_err(self.db())?;
        let n = |i: usize| r.get::<_, i64>(i) as u64;
        Ok(BatchProgress {
            queued: n(0),
            running: n(1),
            stalled: n(2),
            done: n(3),
            failed: n(4),
        })
    }

    /// Jobs of every batch not finished yet (queued, or claimed and not
    /// completed, whether or not the lease still runs): a worker told to
    /// stop when the queue is drained waits until this is zero.
    pub fn unfinished(&mut self) -> Result<u64, PgError> {
        let r = self
            .client
            .query_one(
                "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')",
                &[],
            )
            .map_err(self.db())?;
        Ok(r.get::<_, i64>(0) as u64)
    }

    /// Every job of `batch`, in the order enqueued.
    pub fn reports(&mut self, batch: &str) -> Result<Vec<JobReport>, PgError> {
        let rows = self
            .client
            .query(
                "SELECT id, key, state, attempts, result, last_error FROM jobs
                 WHERE batch = $1 ORDER BY id",
                &[&batch],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| JobReport {
                id: id(r.get(0)),
                key: r.get(1),
                state: JobState::parse(r.get(2)),
                attempts: u32::try_from(r.get::<_, i32>(3)).unwrap_or(0),
                result: r.get(4),
                error: r.get(5),
            })
            .collect())
    }
}

/// Marks a claimed job done inside the caller's transaction, if the claim
/// is still its newest and it is running (the row stays locked until the
/// transaction ends, so no one else can finish it meanwhile). `Err` says
/// why not; nothing was written then.
pub(crate) fn finish(
    c: &mut impl GenericClient,
    job: &Job,
    result: Option<&str>,
) -> Result<Result<(), &'static str>, postgres::Error> {
    let n = c.execute(
        "UPDATE jobs SET state = 'done', result = $3, done_at = $4, lease = NULL,
                         leased_until = NULL, last_error = NULL
         WHERE id = $1 AND lease = $2 AND state = 'running'",
        &[&(job.id as i64), &job.lease, &result, &now()],
    )?;
    if n == 1 {
        return Ok(Ok(()));
    }
    Ok(Err(lost_why(c, job)?))
}

/// Writes the result of a job [`finish`]ed in the same transaction.
pub(crate) fn set_result(
    c: &mut impl GenericClient,
    job: &Job,
    result: &str,
) -> Result<(), postgres::Error> {
    c.execute(
        "UPDATE jobs SET result = $2 WHERE id = $1",
        &[&(job.id as i64), &result],
    )
    .map(|_| ())
}

fn lost_why(c: &mut impl GenericClient, job: &Job) -> Result<&'static str, postgres::Error> {
    let row = c.query_opt(
        "SELECT state, lease FROM jobs WHERE id = $1",
        &[&(job.id as i64)],
    )?;
    Ok(match row {
        None => "it no longer exists",
        Some(r) => match (r.get::<_, &str>(0), r.get::<_, Option<i64>>(1)) {
            ("done", _) => "it was completed already",
            ("failed", _) => "it failed for good meanwhile",
            ("running", Some(l)) if l != job.lease => {
                "its lease ran out and another worker claimed it"
            }
            _ => "its lease ran out and it went back to the queue",
        },
    })
}
