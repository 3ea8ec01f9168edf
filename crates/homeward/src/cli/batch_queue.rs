//! `homeward batch --db postgres://…`: the batch is queued for
//! `homeward worker` processes instead of being analysed here; `--wait`
//! follows their progress and then writes the reports.

use std::time::Duration;

use homeward_match::ingest::{self, Inbox, QueueItem};
use homeward_pg::JobQueue;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::batch::{write_reports, BatchArgs, RunCounts};
use super::{CliError, Outcome};
use crate::output::{errln, outln};

/// How often `--wait` reads the batch's progress.
const POLL: Duration = Duration::from_millis(500);

pub fn run(a: &BatchArgs, url: &str, items: &[QueueItem], name: &str) -> Result<Outcome, CliError> {
    if a.priors.strict_sex || a.priors.strict_age {
        return Err(CliError::Usage(
            "a queued batch is ranked by the workers: give --strict-sex and --strict-age to \
             `homeward worker` instead"
                .into(),
        ));
    }
    let root = a.db.at.photo_root()?;
    let mut m = a.db.matcher(a.priors.policy()?)?;
    let mut queue = JobQueue::connect(url, &format!("batch:{}", std::process::id()))?;
    let inbox = Inbox::new(root)?;
    let limits = a.face.analysis().limits;
    let q = ingest::enqueue(&mut m, &mut queue, &inbox, name, items, a.top, &limits)?;
    for (key, why) in &q.unreadable {
        // The key is the operator's own input; the error names no personal data.
        errln!("{key}: {why}");
    }
    if a.db.json {
        outln!(
            "{}",
            json!({"event": "queued", "batch": name, "added": q.added, "already": q.already,
                   "unreadable": q.unreadable.len()})
        );
    } else {
        outln!(
            "queued {} photo(s) ({} already in the batch, {} unreadable); \
             `homeward worker` processes them, on any machine",
            q.added,
            q.already,
            q.unreadable.len()
        );
    }
    if !a.wait {
        return Ok(if q.unreadable.is_empty() {
            Outcome::Success
        } else {
            Outcome::SomeFailed
        });
    }
    let first = queue.progress(name)?;
    let pb = ProgressBar::with_draw_target(Some(first.total()), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{bar:32} {pos}/{len} photos  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = loop {
        let p = queue.progress(name)?;
        pb.set_length(p.total());
        pb.set_position(p.done + p.failed);
        pb.set_message(if p.stalled > 0 {
            format!("{} stalled (a worker stopped; taken up again)", p.stalled)
        } else {
            String::new()
        });
        if p.finished() {
            break p;
        }
        std::thread::sleep(POLL);
    };
    pb.finish_and_clear();
    m.refresh()?;
    let failed = m
        .batch_results(name)?
        .iter()
        .filter(|r| r.sighting_id.is_none())
        .count();
    let counts = RunCounts {
        items: items.len(),
        recorded: q.added,
        skipped: q.already,
        failed,
    };
    write_reports(a, &m, name, counts)?;
    if progress.failed > 0 {
        errln!(
            "{} job(s) failed for good: their workers stopped {} times without finishing them",
            progress.failed,
            homeward_pg::DEFAULT_MAX_ATTEMPTS
        );
    }
    Ok(if failed > 0 || progress.failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}
