//! `homeward worker`: processes the photos `homeward batch --db
//! postgres://…` queued, as many workers as are started, on any machine.

use std::time::{Duration, Instant};

use clap::Args;
use homeward_match::ingest::{self, Inbox, Step};
use homeward_match::Analyzer;
use homeward_pg::JobQueue;
use serde_json::json;

use super::case::DbArgs;
use super::db::RegistryAt;
use super::sighting::PriorArgs;
use super::{CliError, Outcome};
use crate::face_args::AnalysisArgs;
use crate::output::{errln, outln};

/// Process queued batch photos from a PostgreSQL registry: claim a job,
/// analyse its photo, record it (once, whatever happens to other workers),
/// and go on. A job whose worker stops is taken up again when its lease
/// runs out. Runs until stopped, or with --until-idle until the queue is
/// drained.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Stop once every queued job is finished (by this worker or others;
    /// a job whose worker stopped is waited for and taken up when its
    /// lease runs out). For scripts and tests.
    #[arg(long)]
    pub until_idle: bool,
    /// How long a claimed photo stays this worker's before another worker
    /// may take it up, in seconds (keep it well above one photo's
    /// analysis).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub lease: u64,
    #[command(flatten)]
    pub priors: PriorArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

/// How long an idle worker waits for a new job's announcement before it
/// looks again (jobs whose lease ran out are not announced).
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// How often a draining worker (`--until-idle`) looks again while other
/// workers still hold jobs.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

pub fn run(a: &WorkerArgs) -> Result<Outcome, CliError> {
    let RegistryAt::Postgres(url) = &a.db.at.db else {
        return Err(CliError::Usage(
            "`homeward worker` processes the queue of a postgres:// registry; with a registry \
             directory, `homeward batch` analyses the photos itself"
                .into(),
        ));
    };
    let root = a.db.at.photo_root()?;
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let mut m = a.db.matcher(a.priors.policy()?)?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let mut queue = JobQueue::connect(url, &format!("{host}:{}", std::process::id()))?;
    let inbox = Inbox::new(root)?;
    let lease = Duration::from_secs(a.lease);
    let actor = a.db.actor();
    let started = Instant::now();
    let (mut recorded, mut again, mut unreadable, mut retried) = (0u64, 0u64, 0u64, 0u64);
    loop {
        match ingest::work_one(&mut m, &analyzer, &mut queue, &inbox, &actor, lease)? {
            Step::Idle => {
                if a.until_idle {
                    if queue.unfinished()? == 0 {
                        break;
                    }
                    // Claimed elsewhere: finished soon, or claimable once
                    // its lease runs out.
                    queue.wait_for_jobs(DRAIN_WAIT)?;
                } else {
                    queue.wait_for_jobs(IDLE_WAIT)?;
                }
            }
            Step::Recorded { again: false, .. } => recorded += 1,
            Step::Recorded { again: true, .. } => again += 1,
            Step::Unreadable { job, why } => {
                unreadable += 1;
                errln!("job {job}: {why}");
            }
            Step::Retry { job, why, gave_up } => {
                retried += 1;
                let then = if gave_up {
                    "failed for good"
                } else {
                    "back in the queue"
                };
                errln!("job {job}: {why}; {then}");
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if a.db.json {
        outln!(
            "{}",
            json!({"event": "idle", "recorded": recorded, "recorded_before": again,
                   "unreadable": unreadable, "retried": retried, "seconds": secs})
        );
    } else {
        outln!(
            "queue drained: {recorded} photo(s) recorded, {again} found recorded already, \
             {unreadable} unreadable, {retried} put back, in {secs:.1} s"
        );
    }
    m.close()?;
    Ok(if unreadable > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}
