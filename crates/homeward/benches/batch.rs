//! Batch throughput beside the face pipeline's own rate.
//!
//! Copies N photos into a temporary archive, then times, on the same
//! photos and options, each run repeated `--runs` times and interleaved:
//!
//! - **pipeline**: `homeward embed --json --flip DIR` (decode, detect,
//!   align, flip-averaged embedding: the face work alone);
//! - **batch**: `homeward batch DIR` into a fresh registry holding
//!   `--cases` enrolled cases (the same face work plus PDQ and chip hashes,
//!   duplicate checks, ranking, SQLite writes, the review queue and the
//!   JSONL/CSV/HTML reports).
//!
//! It prints photos per second (median of the runs) and the share of batch
//! time spent outside the face pipeline, so the front's overhead is visible.
//!
//! ```text
//! cargo bench -p homeward --bench batch -- [--root ../shared/datasets/lfw-pairs] [--photos 200] [--runs 3] [--cases 20]
//! ```
//! Without `--root`, the photos under `fixtures/` (top level) are used.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn num(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fail(msg: String) -> ! {
    eprintln!("batch bench: {msg}");
    std::process::exit(2)
}

/// Image files under `dir`, recursively, sorted.
fn photos(dir: &Path, out: &mut Vec<PathBuf>, recurse: bool) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        fail(format!("cannot read {}", dir.display()))
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recurse {
                photos(&p, out, recurse);
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("jpg" | "jpeg" | "png")
        ) {
            out.push(p);
        }
    }
}

fn homeward(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("cannot run homeward: {e}")));
    if !out.status.success() && out.status.code() != Some(1) {
        fail(format!(
            "homeward {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = num(&args, "--photos", 200);
    let runs = num(&args, "--runs", 3).max(1);
    let cases = num(&args, "--cases", 20);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut all = Vec::new();
    match arg(&args, "--root") {
        Some(root) => photos(Path::new(root), &mut all, true),
        None => photos(&fixtures, &mut all, false),
    }
    if all.is_empty() {
        fail("no photos found".into());
    }
    // Cases come from the end of the list, sightings from the start, so that
    // on LFW some sightings share a person with a case.
    let case_photos: Vec<PathBuf> = all.iter().rev().take(cases).cloned().collect();
    all.truncate(n);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail(format!("temp dir: {e}")));
    let archive = tmp.path().join("archive");
    std::fs::create_dir(&archive).unwrap_or_else(|e| fail(format!("{e}")));
    for (i, p) in all.iter().enumerate() {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
        std::fs::copy(p, archive.join(format!("{i:06}.{ext}")))
            .unwrap_or_else(|e| fail(format!("copy {}: {e}", p.display())));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "batch bench: {} photos, {} case(s), {} run(s), {threads} thread(s)",
        all.len(),
        case_photos.len(),
        runs
    );

    let mut pipeline = Vec::new();
    let mut batch = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        homeward(&["embed", "--json", "--flip"], &[&archive]);
        pipeline.push(t.elapsed().as_secs_f64());

        let db = tmp.path().join(format!("db{run}"));
        for (i, p) in case_photos.iter().enumerate() {
            homeward(
                &[
                    "case",
                    "add",
                    "--create",
                    "--name",
                    &format!("Bench case {i}"),
                    "--place",
                    "bench",
                    "--age",
                    "8",
                    "--photo",
                ],
                &[p, Path::new("--db"), &db],
            );
        }
        let report = tmp.path().join(format!("report{run}"));
        let t = Instant::now();
        homeward(
            &["batch", "--when", "2026-01-01"],
            &[
                &archive,
                Path::new("--db"),
                &db,
                Path::new("--out"),
                &report,
            ],
        );
        batch.push(t.elapsed().as_secs_f64());
        println!(
            "run {}: pipeline {:.1} s, batch {:.1} s",
            run + 1,
            pipeline[run],
            batch[run]
        );
    }
    let (p, b) = (median(pipeline), median(batch));
    let photos = all.len() as f64;
    println!();
    println!("| | photos/s (median) | s per photo |");
    println!("|---|---:|---:|");
    println!(
        "| face pipeline (`embed --flip`) | {:.2} | {:.3} |",
        photos / p,
        p / photos
    );
    println!(
        "| `homeward batch` | {:.2} | {:.3} |",
        photos / b,
        b / photos
    );
    println!();
    println!(
        "batch runs at {:.0}% of the pipeline's rate; {:.0}% of its time is outside the face pipeline",
        100.0 * p / b,
        100.0 * (b - p).max(0.0) / b
    );
}
