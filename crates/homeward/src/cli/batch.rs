//! `homeward batch`: many sightings at once, resumable, with reports.

use crate::output::{errln, outln};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use homeward_core::store::{NewSighting, Sex};
use homeward_match::ingest::QueueItem;
use homeward_match::ranking::{rate, Day};
use homeward_match::{manifest, Analyzer, Matcher, Repeat};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

use super::case::{parse_day, DbArgs};
use super::db::RegistryAt;
use super::human::{case_label_in, Align, Table};
use super::sighting::PriorArgs;
use super::{CliError, Outcome};
use crate::face_args::AnalysisArgs;
use crate::report;

/// Record every photo of a directory, or every row of a CSV
/// (`path,when,where,age_range,sex`; paths relative to the CSV; header
/// optional), as a sighting: duplicates first, then ranking and queueing,
/// as `sighting add` does. Photos are analysed in parallel. Each item is
/// recorded in one transaction with its progress mark, so an interrupted
/// run resumes where it stopped: rerun the same command. Writes
/// results.jsonl, results.csv and report.html (offline, photos embedded)
/// into --out.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// A directory of photos or a CSV file.
    pub input: PathBuf,
    /// Where to write results.jsonl, results.csv and report.html.
    #[arg(long, default_value = "homeward-batch")]
    pub out: PathBuf,
    /// Name of the batch (default: from the input path); reruns with the
    /// same name skip what is done.
    #[arg(long)]
    pub name: Option<String>,
    /// Day the photos were taken when the input does not say (default today).
    #[arg(long, value_parser = parse_day)]
    pub when: Option<String>,
    /// Candidates kept per sighting in the printed output.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// With a postgres:// --db the batch is queued for `homeward worker`
    /// processes; --wait shows their progress until the batch is finished,
    /// then writes the reports.
    #[arg(long)]
    pub wait: bool,
    /// Upload the photos (and the CSV, if the input is one) to this running
    /// `homeward serve` (`http://HOST:PORT`) instead of opening the
    /// registry, then follow its progress. The API token of a case worker
    /// is read from HOMEWARD_TOKEN (make one on the server's admin page).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[command(flatten)]
    pub priors: PriorArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

/// One input photo with its report fields.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    key: String,
    path: PathBuf,
    when: Option<String>,
    place: Option<String>,
    age: Option<(f32, f32)>,
    sex: Option<Sex>,
}

fn items_from_dir(dir: &Path) -> Result<Vec<Item>, CliError> {
    let (files, _) = crate::output::expand_paths(&[dir.to_path_buf()], false);
    Ok(files
        .into_iter()
        .map(|p| Item {
            key: p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned(),
            path: p,
            when: None,
            place: None,
            age: None,
            sex: None,
        })
        .collect())
}

/// The photos a manifest lists, under the library's manifest rules
/// (`homeward_match::manifest`: paths stay inside the manifest's folder).
fn items_from_csv(path: &Path) -> Result<Vec<Item>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        context: format!("cannot read {} (a manifest is UTF-8 CSV)", path.display()),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let items =
        manifest::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    Ok(items
        .into_iter()
        .map(|it| Item {
            path: base.join(&it.path),
            key: it.path,
            when: it.when,
            place: it.place,
            age: it.age,
            sex: it.sex,
        })
        .collect())
}

/// A registry held by a running `homeward serve`: say to send the batch
/// to that server instead (`--server`), with its address when it wrote it.
fn held_by_server(e: CliError, input: &Path) -> CliError {
    use homeward_core::store::StoreError;
    let CliError::Matching(homeward_match::MatchError::Store(StoreError::Locked { path, holder })) =
        &e
    else {
        return e;
    };
    if !holder.contains("serve") {
        return e;
    }
    let url = holder
        .split_once("listening on ")
        .map(|(_, rest)| rest.trim_end_matches(')').to_string())
        .unwrap_or_else(|| "URL".into());
    CliError::Usage(format!(
        "registry {} is open in {holder}, a running server; send the batch to it instead: \
         HOMEWARD_TOKEN=<a case worker's API token> homeward batch {} --server {url}",
        path.display(),
        input.display()
    ))
}

/// What the batch knows of an item's sighting (its row, else the flags).
fn sighting_of(a: &BatchArgs, it: &Item, default_day: &str) -> NewSighting {
    NewSighting {
        seen_at: Some(it.when.clone().unwrap_or_else(|| default_day.to_string())),
        place: it.place.clone(),
        apparent_age: it.age.or(a.priors.age_range),
        sex: it.sex.or(a.priors.sex),
        ..NewSighting::default()
    }
}

pub fn run(a: &BatchArgs) -> Result<Outcome, CliError> {
    if a.server.is_none() {
        a.db.check()?;
    }
    let items = if a.input.is_dir() {
        items_from_dir(&a.input)?
    } else {
        items_from_csv(&a.input)?
    };
    let name = a.name.clone().unwrap_or_else(|| {
        let p = std::fs::canonicalize(&a.input).unwrap_or_else(|_| a.input.clone());
        format!("batch:{}", p.display())
    });
    if let Some(url) = &a.server {
        let upload: Vec<super::batch_server::UploadItem> = items
            .iter()
            .map(|it| super::batch_server::UploadItem {
                key: it.key.clone(),
                path: it.path.clone(),
                row: (!a.input.is_dir()).then(|| super::batch_server::Row {
                    when: it.when.clone(),
                    place: it.place.clone(),
                    age: it.age,
                    sex: it.sex,
                }),
            })
            .collect();
        return super::batch_server::run(url, &name, &upload, a.db.json);
    }
    let default_day = a.when.clone().unwrap_or_else(|| Day::today().iso());
    if let RegistryAt::Postgres(url) = &a.db.at.db {
        let queued: Vec<QueueItem> = items
            .iter()
            .map(|it| QueueItem {
                key: it.key.clone(),
                path: it.path.clone(),
                sighting: sighting_of(a, it, &default_day),
            })
            .collect();
        return super::batch_queue::run(a, url, &queued, &name);
    }
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let mut m =
        a.db.matcher(a.priors.policy()?)
            .map_err(|e| held_by_server(e, &a.input))?;
    let done = m.batch_done(&name)?;
    let todo: Vec<&Item> = items
        .iter()
        .filter(|i| !done.contains_key(&i.key))
        .collect();
    let skipped = items.len() - todo.len();
    let actor = a.db.actor();
    let models = m.registry().models().to_vec();

    let pb = ProgressBar::with_draw_target(Some(todo.len() as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{bar:32} {pos}/{len} photos  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(500));
    if skipped > 0 {
        pb.println(format!("{skipped} item(s) already done in batch; resuming"));
    }
    let (mut recorded, mut failed) = (0usize, 0usize);
    let chunk = rayon::current_num_threads().max(1) * 2;
    for part in todo.chunks(chunk) {
        let analysed: Vec<_> = part
            .par_iter()
            .map(|it| analyzer.photo_path_for(&it.path, &models))
            .collect();
        for (it, an) in part.iter().zip(analysed) {
            let result = an.and_then(|photo| {
                let s = sighting_of(a, it, &default_day);
                m.submit_batch_item(&actor, &photo, &s, a.top, &name, &it.key)
            });
            match result {
                Ok(out) => {
                    recorded += 1;
                    if a.db.json {
                        let kind = match &out.repeat {
                            Some(Repeat::PosterRepost { .. }) => "poster_repost",
                            Some(Repeat::Duplicate { .. }) => "duplicate",
                            None if out.faces == 0 => "no_face",
                            None => "new",
                        };
                        pb.suspend(|| {
                            outln!(
                                "{}",
                                json!({"event": "item", "item": it.key, "sighting_id": out.sighting_id,
                                       "kind": kind, "queued": out.queued.len()})
                            )
                        });
                    }
                }
                Err(e) => {
                    failed += 1;
                    // The path is the operator's own input; the error names no personal data.
                    pb.suspend(|| errln!("{}: {e}", it.path.display()));
                    m.record_batch_failure(&name, &it.key, &e.to_string())?;
                }
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let counts = RunCounts {
        items: items.len(),
        recorded,
        skipped,
        failed,
    };
    write_reports(a, &m, &name, counts)?;
    m.close()?;
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

/// What this run of a batch did.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunCounts {
    pub items: usize,
    pub recorded: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Writes results.jsonl, results.csv and report.html for batch `name`
/// into --out, and prints the summary.
pub(super) fn write_reports(
    a: &BatchArgs,
    m: &Matcher,
    name: &str,
    c: RunCounts,
) -> Result<(), CliError> {
    std::fs::create_dir_all(&a.out).map_err(|source| CliError::Io {
        context: format!("cannot create {}", a.out.display()),
        source,
    })?;
    let mut results = m.batch_results(name)?;
    report::strongest_first(&mut results);
    let summary = report::summarize(&results);
    let jsonl = a.out.join("results.jsonl");
    let csv = a.out.join("results.csv");
    let html = a.out.join("report.html");
    report::write_jsonl(&jsonl, &results)?;
    report::write_csv(&csv, &results)?;
    report::write_html(
        m.registry(),
        &html,
        &format!("Homeward batch: {} sightings", results.len()),
        &results,
    )?;
    let queued: usize = results.iter().map(|r| r.candidates.len()).sum();
    let (recorded, skipped, failed) = (c.recorded, c.skipped, c.failed);
    let done = json!({
        "event": "done",
        "items": c.items,
        "recorded_now": recorded,
        "skipped_done": skipped,
        "failed": failed,
        "candidates_listed": queued,
        "sightings_in_registry": m.registry().sighting_count()?,
        "results_jsonl": jsonl.display().to_string(),
        "results_csv": csv.display().to_string(),
        "report_html": html.display().to_string(),
        "summary": summary,
    });
    if a.db.json {
        outln!("{done}");
    } else {
        outln!(
            "this run: {recorded} recorded now, {skipped} already done, {failed} failed; {queued} candidate(s) listed",
        );
        outln!("{}", summary.text());
        print_strongest(m.registry(), &results);
        outln!(
            "results: {}, {}, {}",
            jsonl.display(),
            csv.display(),
            html.display()
        );
    }
    Ok(())
}

/// The items with a candidate, strongest first, as the report lists them
/// (at most [`SHOWN`]; the report has them all).
fn print_strongest(reg: &dyn homeward_core::store::MatchStore, results: &[report::ItemResult]) {
    const SHOWN: usize = 20;
    let with: Vec<_> = results
        .iter()
        .filter(|r| r.kind == "new" && !r.candidates.is_empty())
        .collect();
    if with.is_empty() {
        return;
    }
    outln!("strongest first:");
    let mut table = Table::new(&[
        ("item", Align::Left),
        ("sighting", Align::Right),
        ("band", Align::Left),
        ("est. false-match", Align::Right),
        ("match", Align::Right),
        ("case", Align::Left),
    ]);
    for r in with.iter().take(SHOWN) {
        let Some(c) = report::best(r) else { continue };
        table.row(vec![
            r.item.clone(),
            r.sighting_id.map(|s| s.to_string()).unwrap_or_default(),
            c.band.clone(),
            rate(c.case_fmr),
            c.match_id.to_string(),
            case_label_in(reg, c.case_id),
        ]);
    }
    for line in table.lines() {
        outln!("  {line}");
    }
    if with.len() > SHOWN {
        outln!("  ... and {} more in the report", with.len() - SHOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_rows_with_header_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(
            &p,
            "path,when,where,age_range,sex\na.jpg,2024-05-01,market,6-9,f\nsub/b.png,,,,\n",
        )
        .unwrap();
        let items = items_from_csv(&p).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].path, dir.path().join("a.jpg"));
        assert_eq!(items[0].age, Some((6.0, 9.0)));
        assert_eq!(items[0].sex, Some(Sex::Female));
        assert_eq!(items[1].key, "sub/b.png");
        assert_eq!(items[1].when, None);
        std::fs::write(&p, "a.jpg,tomorrow\n").unwrap();
        assert!(items_from_csv(&p).is_err());
        std::fs::write(&p, "../outside.jpg\n").unwrap();
        let e = items_from_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("`..`"), "{e}");
    }
}
