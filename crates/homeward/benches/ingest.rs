//! Ingest on PostgreSQL (issue 14): what several `homeward worker`
//! processes get through, what a search costs while they run, how fast a
//! change reaches another process, and how long a process takes to open a
//! large registry. A bench, not a test: it asserts nothing but that every
//! photo was recorded once, and prints figures.
//!
//! Everything runs on a throwaway PostgreSQL cluster of its own
//! (`homeward_pg::cluster`, `fsync=off` and `synchronous_commit=off` as in
//! the tests), one fresh database per measurement.
//!
//! 1. **Ingest.** `--photos N` distinct photos are made from the fixtures
//!    (cropped, scaled to a long side of at most `--max-side` px and
//!    re-encoded as JPEG at varied quality, so every file has other bytes:
//!    the queue keys a photo by its SHA-256, and identical files would be
//!    queued once). For each worker count of `--workers`: a fresh
//!    database, `homeward init`, three cases registered, the photos queued
//!    with `homeward batch`, then that many `homeward worker --until-idle`
//!    processes started at once. Reported: wall time from the start of the
//!    workers until the last one has exited, photos/s on that wall time,
//!    and CPU seconds per photo (user + system time of all the worker
//!    processes; see [`reaped_children_cpu`]).
//! 2. **Search during ingest.** The same with two workers, while `homeward
//!    search PHOTO` runs in a loop; each latency is a whole command: process
//!    start, loading the networks, analysing the photo, opening the
//!    registry (its index rebuilt from the rows) and the query. The same
//!    command on the idle registry first, for comparison.
//! 3. **A change reaching another process.** In this process, two stores
//!    opened with `PgStore::connect_shared` on one database (separate
//!    sessions, as two processes would have): a case photo is added through
//!    one (`Store::add_photo`), and the other is refreshed
//!    (`MatchStore::refresh`) until a search finds it, polled every
//!    millisecond; then the same with the follower waiting on `LISTEN`
//!    (`ChangeListener::wait`) as a server's follower thread does.
//! 4. **Start-up.** `--faces F` synthetic case faces (three photos per case,
//!    one face each, with a dlib embedding and an SFace vector, as a
//!    registry made by `homeward init` holds) are written with `COPY`, then
//!    `PgStore::connect_shared` is timed: first with no snapshot (the rows
//!    read and both indexes, dlib and SFace, rebuilt), then a snapshot is
//!    written (`PgStore::write_snapshot`, timed), `--log N` more faces are
//!    added through the store (so the log holds N changes after the
//!    snapshot), and `--startups` times, alternately: an open from the
//!    snapshot and the log, and an open with the snapshot moved aside (a
//!    rebuild), both on the same rows. `--rebuilds K` keeps only the first
//!    K rebuilds (at 1M faces one takes over half an hour); with 0 the
//!    first open, on the same rows less the log's, is the rebuild figure.
//!
//! ```text
//! cargo bench -p homeward --bench ingest -- [--photos 60] [--workers 1,2,3] [--faces 100000]
//!     [--log 300] [--trials 20] [--startups 2] [--rebuilds K] [--max-side 1024] [--worker-threads N] [--only ingest,search,change,startup] [--json]
//! ```
//! The machine's cores are shared by everything: with two cores, three
//! workers (and the searches, and PostgreSQL) compete for the same two.

#[path = "../../homeward-core/tests/support/synth.rs"]
mod synth;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    CaseStatus, FaceRecord, IndexOrigin, MatchStore, ModelVector, NewCase, PhotoMeta, Sex, Store,
};
use homeward_pg::cluster::{Cluster, ClusterError};
use homeward_pg::{JobQueue, PgStore, SnapshotPolicy, POLL_INTERVAL, SNAPSHOT_DIR};
use serde_json::{json, Value};

const BATCH: &str = "bench";
const ACTOR: &str = "bench";

/// Says why and unwinds (no `process::exit`): `main`'s `Cluster` is then
/// dropped, which stops the throwaway PostgreSQL server and deletes its
/// directory.
fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("ingest bench: {msg}");
    std::panic::resume_unwind(Box::new(msg.to_string()))
}

/// Progress goes to stderr, so `--json` leaves stdout to the result.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("ingest bench: {}", format!($($t)*)) };
}

struct Opts {
    photos: usize,
    workers: Vec<usize>,
    faces: usize,
    log: usize,
    trials: usize,
    startups: usize,
    rebuilds: usize,
    max_side: u32,
    worker_threads: Option<usize>,
    only: Option<Vec<String>>,
    json: bool,
}

impl Opts {
    fn parse() -> Opts {
        let args: Vec<String> = std::env::args().collect();
        let arg = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let num = |name: &str, default: usize| match arg(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| fail(format!("{name} takes a number, not {v:?}"))),
            None => default,
        };
        let workers = match arg("--workers") {
            Some(v) => v
                .split(',')
                .map(|w| match w.trim().parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => fail(format!("--workers takes counts like 1,2,3, not {v:?}")),
                })
                .collect(),
            None => vec![1, 2, 3],
        };
        Opts {
            photos: num("--photos", 60).max(1),
            workers,
            faces: num("--faces", 100_000),
            log: num("--log", 300),
            trials: num("--trials", 20).max(1),
            startups: num("--startups", 2).max(1),
            rebuilds: num("--rebuilds", usize::MAX),
            max_side: num("--max-side", 1024).max(64) as u32,
            worker_threads: arg("--worker-threads").map(|v| {
                v.parse()
                    .unwrap_or_else(|_| fail("--worker-threads takes a number"))
            }),
            only: arg("--only").map(|v| v.split(',').map(|s| s.trim().to_string()).collect()),
            json: args.iter().any(|a| a == "--json"),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == phase))
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------- CPU time

/// Clock ticks per second of the times in `/proc/*/stat` (`getconf
/// CLK_TCK`; Linux exports them in USER_HZ, 100 on every common
/// architecture, which is the fallback).
fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) of every child of this process that has
/// been waited for: fields 16 and 17 (`cutime`, `cstime`) of
/// `/proc/self/stat`, in clock ticks.
///
/// Why this way: the kernel adds a child's user and system time, all its
/// threads included (the workers' analysis runs on a thread pool), to its
/// parent's `cutime`/`cstime` when the parent reaps it, which is what
/// `getrusage(RUSAGE_CHILDREN)` reports; std has no `getrusage` or `wait4`,
/// and this needs no `libc`. Reading `/proc/<pid>/stat` of each worker
/// instead would have to catch it after it exits and before it is reaped.
/// So: read this before starting the workers and after reaping the last
/// one, with no other child reaped in between; the difference is the
/// workers' CPU time, to one tick (10 ms) per worker.
fn reaped_children_cpu(tick: f64) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .unwrap_or_else(|e| fail(format!("cannot read /proc/self/stat: {e}")));
    // Field 2 (the command) is in parentheses and may hold spaces: count
    // from the last ')'; field 3 is then the first.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let (cutime, cstime) = (f.get(13), f.get(14));
    match (cutime, cstime) {
        (Some(u), Some(s)) => (u + s) / tick,
        _ => fail("/proc/self/stat has no cutime/cstime"),
    }
}

// ---------------------------------------------------------------- machine

fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "cores": cores,
        "cpu": model,
        "date": jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- photos

/// `n` distinct JPEGs made from the fixtures with faces: each cropped by
/// 0–10% on every side, scaled so its long side is 70–100% of `max_side`
/// (never enlarged), and encoded at quality 75–95. Returns the mean
/// megapixels.
fn make_photos(dir: &Path, n: usize, max_side: u32) -> f64 {
    let sources: Vec<image::RgbImage> = [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "grace_hopper.jpg",
        "astronaut.png",
        "obama_rot15.png",
        "obama_partial_face.jpg",
    ]
    .iter()
    .map(|f| {
        image::open(fixture(f))
            .unwrap_or_else(|e| fail(format!("fixture {f}: {e}")))
            .to_rgb8()
    })
    .collect();
    std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(e));
    let mut rng = synth::Rng(0x1A6E57);
    let mut pixels = 0f64;
    for i in 0..n {
        let src = &sources[i % sources.len()];
        let (w, h) = src.dimensions();
        let mut cut = |len: u32| (len as f64 * 0.10 * rng.unit()) as u32;
        let (l, r, t, b) = (cut(w), cut(w), cut(h), cut(h));
        let (cw, ch) = (w - l - r, h - t - b);
        let crop = image::imageops::crop_imm(src, l, t, cw, ch).to_image();
        let long = cw.max(ch) as f64;
        let target = (max_side as f64 * (0.7 + 0.3 * rng.unit())).min(long);
        let s = target / long;
        let (nw, nh) = (
            ((cw as f64 * s).round() as u32).max(1),
            ((ch as f64 * s).round() as u32).max(1),
        );
        let img = if (nw, nh) == (cw, ch) {
            crop
        } else {
            image::imageops::resize(&crop, nw, nh, image::imageops::FilterType::Triangle)
        };
        pixels += f64::from(nw) * f64::from(nh);
        let quality = 75 + rng.below(21) as u8;
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(&img)
            .unwrap_or_else(|e| fail(format!("encoding photo {i}: {e}")));
        std::fs::write(dir.join(format!("p{i:05}.jpg")), bytes).unwrap_or_else(|e| fail(e));
    }
    pixels / n as f64 / 1e6
}

// ---------------------------------------------------------------- registry

/// One fresh database of the cluster with its photo root; dropped after.
struct Reg<'c> {
    cluster: &'c Cluster,
    name: String,
    root: tempfile::TempDir,
    threads: Option<usize>,
}

impl<'c> Reg<'c> {
    fn new(cluster: &'c Cluster, threads: Option<usize>) -> Reg<'c> {
        Reg {
            cluster,
            name: cluster.create_database().unwrap_or_else(|e| fail(e)),
            root: tempfile::tempdir().unwrap_or_else(|e| fail(e)),
            threads,
        }
    }

    fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    /// `homeward ARGS` on this registry, given as an operator would
    /// (`HOMEWARD_DB`, `HOMEWARD_PHOTO_ROOT`).
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_homeward"));
        if let Some(n) = self.threads {
            c.args(["--threads", &n.to_string()]);
        }
        c.args(args)
            .env("HOMEWARD_DB", self.url())
            .env("HOMEWARD_PHOTO_ROOT", self.root.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| fail(format!("cannot run homeward: {e}")));
        if !out.status.success() {
            // homeward never prints the password; its own words are safe.
            fail(format!(
                "homeward {} failed: {}",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        out
    }

    /// `homeward init`, three cases, and the archive queued.
    fn prepare(&self, archive: &Path) -> f64 {
        self.run(&["init", "--json"]);
        for (i, f) in ["obama.jpg", "grace_hopper.jpg", "astronaut.png"]
            .iter()
            .enumerate()
        {
            let photo = fixture(f);
            self.run(&[
                "case",
                "add",
                "--name",
                &format!("Bench case {i}"),
                "--place",
                "bench",
                "--age",
                "8",
                "--photo",
                photo.to_str().unwrap_or_else(|| fail("fixture path")),
                "--json",
            ]);
        }
        let t = Instant::now();
        let archive = archive.to_str().unwrap_or_else(|| fail("archive path"));
        self.run(&["batch", archive, "--name", BATCH, "--json"]);
        t.elapsed().as_secs_f64()
    }

    fn worker(&self) -> Child {
        self.command(&["worker", "--until-idle", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot start a worker: {e}")))
    }
}

impl Drop for Reg<'_> {
    fn drop(&mut self) {
        let _ = self.cluster.drop_database(&self.name);
    }
}

/// What a set of workers did.
struct Drained {
    /// From starting the workers to the last job done (polled every 50 ms).
    drain_s: f64,
    /// From starting the workers to the last one exited and reaped.
    wall_s: f64,
    recorded: u64,
    recorded_before: u64,
    unreadable: u64,
    /// Each worker's own time in its loop (after start-up).
    loop_s: Vec<f64>,
}

/// Starts `n` workers, follows the queue until it is drained and reaps
/// every worker.
fn drain(reg: &Reg, n: usize, photos: usize) -> Drained {
    let mut queue = JobQueue::connect(&reg.url(), "bench-observer").unwrap_or_else(|e| fail(e));
    let t0 = Instant::now();
    let mut workers: Vec<Option<Child>> = (0..n).map(|_| Some(reg.worker())).collect();
    let mut drain_s = None;
    let mut outs = Vec::new();
    while outs.len() < n {
        if drain_s.is_none() {
            let p = queue.progress(BATCH).unwrap_or_else(|e| fail(e));
            if (p.done + p.failed) as usize >= photos {
                drain_s = Some(t0.elapsed().as_secs_f64());
            }
        }
        for slot in &mut workers {
            let Some(child) = slot else { continue };
            match child.try_wait() {
                Ok(Some(status)) => {
                    let mut stdout = String::new();
                    if let Some(mut s) = child.stdout.take() {
                        let _ = s.read_to_string(&mut stdout);
                    }
                    if !status.success() && status.code() != Some(1) {
                        fail(format!("a worker failed ({status})"));
                    }
                    outs.push(stdout);
                    *slot = None;
                }
                Ok(None) => {}
                Err(e) => fail(format!("waiting for a worker: {e}")),
            }
        }
        if outs.len() < n {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let mut d = Drained {
        drain_s: drain_s.unwrap_or(wall_s),
        wall_s,
        recorded: 0,
        recorded_before: 0,
        unreadable: 0,
        loop_s: Vec::new(),
    };
    for out in outs {
        let last = out.lines().last().unwrap_or("null");
        let v: Value = serde_json::from_str(last)
            .unwrap_or_else(|e| fail(format!("a worker's last line is not JSON ({e})")));
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        d.recorded += n("recorded");
        d.recorded_before += n("recorded_before");
        d.unreadable += n("unreadable");
        d.loop_s.push(v["seconds"].as_f64().unwrap_or(f64::NAN));
    }
    if (d.recorded + d.recorded_before + d.unreadable) as usize != photos {
        fail(format!(
            "{} photos queued but {} recorded ({} by an earlier claim) and {} unreadable",
            photos, d.recorded, d.recorded_before, d.unreadable
        ));
    }
    d
}

// ---------------------------------------------------------------- 1. ingest

fn ingest(o: &Opts, cluster: &Cluster, archive: &Path, tick: f64) -> Vec<Value> {
    let mut rows = Vec::new();
    for &n in &o.workers {
        let reg = Reg::new(cluster, o.worker_threads);
        let enqueue_s = reg.prepare(archive);
        say!("ingest: {n} worker(s) on {} photos…", o.photos);
        // No other child of this process is reaped between the two reads.
        let cpu0 = reaped_children_cpu(tick);
        let d = drain(&reg, n, o.photos);
        let cpu = reaped_children_cpu(tick) - cpu0;
        let photos = o.photos as f64;
        let row = json!({
            "workers": n,
            "photos": o.photos,
            "enqueue_s": enqueue_s,
            "wall_s": d.wall_s,
            "drain_s": d.drain_s,
            "photos_per_s": photos / d.wall_s,
            "cpu_s": cpu,
            "cpu_s_per_photo": cpu / photos,
            "worker_loop_s": d.loop_s,
            "recorded": d.recorded,
            "unreadable": d.unreadable,
            "recorded_before": d.recorded_before,
        });
        say!(
            "  wall {:.1} s, {:.2} photos/s, {:.2} CPU-s per photo",
            d.wall_s,
            photos / d.wall_s,
            cpu / photos
        );
        rows.push(row);
    }
    rows
}

// ---------------------------------------------------------------- 2. search

fn search(o: &Opts, cluster: &Cluster, archive: &Path) -> Value {
    let reg = Reg::new(cluster, o.worker_threads);
    reg.prepare(archive);
    let photo = fixture("obama2.jpg");
    let photo = photo.to_str().unwrap_or_else(|| fail("fixture path"));
    let once = |reg: &Reg| {
        let t = Instant::now();
        reg.run(&["search", photo, "--json"]);
        t.elapsed().as_secs_f64()
    };
    say!("search: 5 searches on the idle registry…");
    let mut idle: Vec<f64> = (0..5).map(|_| once(&reg)).collect();
    idle.sort_by(f64::total_cmp);

    say!("search: searches in a loop while 2 workers ingest…");
    let stop = AtomicBool::new(false);
    let (busy, d) = std::thread::scope(|s| {
        let searcher = s.spawn(|| {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = reg
                    .command(&["search", photo, "--json"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap_or_else(|e| fail(format!("cannot run a search: {e}")));
                if !status.success() {
                    fail(format!("a search failed ({status})"));
                }
                // Only searches that ended before the ingest did count.
                if !stop.load(Ordering::Relaxed) {
                    lat.push(t.elapsed().as_secs_f64());
                }
            }
            lat
        });
        let d = drain(&reg, 2, o.photos);
        stop.store(true, Ordering::Relaxed);
        (searcher.join().unwrap_or_else(|_| fail("searcher")), d)
    });
    let mut busy = busy;
    busy.sort_by(f64::total_cmp);
    say!(
        "  {} searches during ingest: p50 {:.2} s, p99 {:.2} s (idle p50 {:.2} s)",
        busy.len(),
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
        percentile(&idle, 0.5)
    );
    json!({
        "photo": "fixtures/obama2.jpg",
        "idle": {"n": idle.len(), "p50_s": percentile(&idle, 0.5), "max_s": percentile(&idle, 1.0)},
        "during_ingest": {
            "n": busy.len(),
            "p50_s": percentile(&busy, 0.5),
            "p99_s": percentile(&busy, 0.99),
            "max_s": percentile(&busy, 1.0),
        },
        "ingest_workers": 2,
        "ingest_wall_s": d.wall_s,
        "ingest_photos_per_s": o.photos as f64 / d.wall_s,
    })
}

// ---------------------------------------------------------------- 3. change

fn bench_case(i: usize) -> NewCase {
    NewCase {
        child_name: format!("Bench case {i}"),
        sex: [Sex::Female, Sex::Male, Sex::Unknown][i % 3],
        birth_date: None,
        birth_year: Some(2010 + (i % 12) as i32),
        missing_date: None,
        missing_place: "bench".into(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

fn face_of(embedding: [f32; 128]) -> FaceRecord {
    FaceRecord {
        bbox: [10.0, 10.0, 90.0, 90.0],
        landmarks: [
            [30.0, 40.0],
            [70.0, 40.0],
            [50.0, 60.0],
            [35.0, 75.0],
            [65.0, 75.0],
        ],
        embedding,
        chip_hash: None,
        model: "bench".into(),
        vectors: Vec::new(),
    }
}

/// Median milliseconds from the start of `add_photo` on one store, and from
/// its return, until the other store's search finds the new face.
fn change(o: &Opts, cluster: &Cluster) -> Value {
    let name = cluster.create_database().unwrap_or_else(|e| fail(e));
    let url = cluster.url(&name);
    let root = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let mut a = PgStore::connect_shared(&url, root.path()).unwrap_or_else(|e| fail(e));
    let mut rng = synth::Rng(0xC4A6E);
    let faces = synth::FaceSynth::new(&mut rng);
    let mut out = json!({"trials": o.trials});
    for mode in ["polled", "listen"] {
        say!("change: {} trials, follower {mode}…", o.trials);
        let b = PgStore::connect_shared(&url, root.path()).unwrap_or_else(|e| fail(e));
        let (to_b, at_b) = mpsc::channel::<Option<(u64, [f32; 128])>>();
        let (to_a, at_a) = mpsc::channel::<Instant>();
        let (mut from_start, mut from_return, mut write) = (Vec::new(), Vec::new(), Vec::new());
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut b = b;
                let mut listener =
                    (mode == "listen").then(|| b.listen().unwrap_or_else(|e| fail(e)));
                while let Ok(Some((case, emb))) = at_b.recv() {
                    let found = |b: &PgStore| {
                        b.search_with(&emb, &SearchFilter::default(), 1, 1)
                            .unwrap_or_else(|e| fail(e))
                            .first()
                            .is_some_and(|h| h.case_id == case)
                    };
                    loop {
                        match &mut listener {
                            Some(l) => {
                                l.wait(POLL_INTERVAL);
                            }
                            None => std::thread::sleep(Duration::from_millis(1)),
                        }
                        MatchStore::refresh(&mut b).unwrap_or_else(|e| fail(e));
                        if found(&b) {
                            break;
                        }
                    }
                    let _ = to_a.send(Instant::now());
                }
            });
            for i in 0..o.trials {
                let case = a
                    .add_case(ACTOR, &bench_case(i))
                    .unwrap_or_else(|e| fail(e));
                let emb = faces.photo(&faces.identity(&mut rng), &mut rng);
                let _ = to_b.send(Some((case, emb)));
                // Let the follower settle into its wait before writing.
                std::thread::sleep(Duration::from_millis(20));
                let t0 = Instant::now();
                let bytes = format!("bench photo {mode} {i}");
                a.add_photo(
                    ACTOR,
                    case,
                    bytes.as_bytes(),
                    &PhotoMeta::default(),
                    &[face_of(emb)],
                )
                .unwrap_or_else(|e| fail(e));
                let t1 = Instant::now();
                let seen = at_a.recv().unwrap_or_else(|_| fail("follower stopped"));
                write.push((t1 - t0).as_secs_f64() * 1e3);
                from_start.push(seen.saturating_duration_since(t0).as_secs_f64() * 1e3);
                from_return.push(seen.saturating_duration_since(t1).as_secs_f64() * 1e3);
            }
            let _ = to_b.send(None);
        });
        let m = json!({
            "write_ms": median(write),
            "from_write_start_ms": median(from_start.clone()),
            "from_write_return_ms": median(from_return),
            "max_from_write_start_ms": from_start.iter().copied().fold(0.0, f64::max),
        });
        say!(
            "  median {:.1} ms from the write's start ({:.1} ms write)",
            m["from_write_start_ms"].as_f64().unwrap_or(f64::NAN),
            m["write_ms"].as_f64().unwrap_or(f64::NAN)
        );
        out[mode] = m;
    }
    drop(a);
    let _ = cluster.drop_database(&name);
    out
}

// ---------------------------------------------------------------- 4. start-up

fn hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `COPY … FROM STDIN` of `n` text-format lines, each written by `row(i, line)`.
macro_rules! copy {
    ($c:expr, $sql:expr, $row:expr, $n:expr $(,)?) => {{
        let mut w = $c.copy_in($sql).unwrap_or_else(|e| fail(format!("{e:?}")));
        // Some rows keep state (the current case's centre), some do not.
        #[allow(unused_mut)]
        let mut row = $row;
        let mut line = String::new();
        for i in 0..$n {
            line.clear();
            row(i, &mut line);
            w.write_all(line.as_bytes())
                .unwrap_or_else(|e| fail(format!("{e:?}")));
        }
        w.finish().unwrap_or_else(|e| fail(format!("{e:?}")));
    }};
}

/// Writes `faces` synthetic case faces (three per case, one per photo) and
/// each enabled model's vector for each, with COPY in the text format.
fn fill(cluster: &Cluster, db: &str, faces: usize) -> Vec<String> {
    let mut c = cluster
        .client(db)
        .unwrap_or_else(|e| fail(format!("{e:?}")));
    let models: Vec<(String, usize)> = c
        .query("SELECT name, dim FROM models ORDER BY name", &[])
        .unwrap_or_else(|e| fail(format!("{e:?}")))
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1) as usize))
        .collect();
    let cases = faces.div_ceil(3);
    let now = jiff::Timestamp::now().as_second();
    copy!(
        c,
        "COPY cases (id, child_name, sex, birth_year, missing_place, status, created_at) FROM STDIN",
        |i: usize, l: &mut String| {
            let sex = ["female", "male", "unknown"][i % 3];
            l.push_str(&format!(
                "{}\tBench case {i}\t{sex}\t{}\tbench\tsearching\t{now}\n",
                i + 1,
                2005 + i % 18
            ));
        },
        cases,
    );
    copy!(
        c,
        "COPY photos (id, case_id, sha256, byte_len, added_at) FROM STDIN",
        |i: usize, l: &mut String| {
            l.push_str(&format!("{}\t{}\t\\\\x", i + 1, i / 3 + 1));
            let mut sha = [0u8; 32];
            sha[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            hex(l, &sha);
            l.push_str(&format!("\t1000\t{now}\n"));
        },
        faces,
    );
    let mut rng = synth::Rng(0xFACE5);
    let dlib = synth::FaceSynth::new(&mut rng);
    let mut centre = [0f32; 128];
    copy!(
        c,
        "COPY faces (id, photo_id, bbox, landmarks, embedding, model) FROM STDIN",
        |i: usize, l: &mut String| {
            if i.is_multiple_of(3) {
                centre = dlib.identity(&mut rng);
            }
            let e = dlib.photo(&centre, &mut rng);
            l.push_str(&format!(
                "{0}\t{0}\t{{10,10,90,90}}\t{{30,40,70,40,50,60,35,75,65,75}}\t\\\\x",
                i + 1
            ));
            hex(l, &le_bytes(&e));
            l.push_str("\tbench\n");
        },
        faces,
    );
    for (model, dim) in &models {
        let mut rng = synth::Rng(0x5FACE ^ *dim as u64);
        let mut v = vec![0f32; *dim];
        copy!(
            c,
            "COPY face_vectors (face_id, model, vector) FROM STDIN",
            |i: usize, l: &mut String| {
                // Cosine models' vectors are stored with length 1.
                v.iter_mut().for_each(|x| *x = rng.gauss() as f32);
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter_mut().for_each(|x| *x /= n);
                l.push_str(&format!("{}\t{model}\t\\\\x", i + 1));
                hex(l, &le_bytes(&v));
                l.push('\n');
            },
            faces,
        );
    }
    c.batch_execute(
        "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases));
         SELECT setval(pg_get_serial_sequence('photos', 'id'), (SELECT max(id) FROM photos));
         SELECT setval(pg_get_serial_sequence('faces', 'id'), (SELECT max(id) FROM faces));",
    )
    .unwrap_or_else(|e| fail(format!("{e:?}")));
    // As autovacuum would leave a loaded table (hint bits set, statistics),
    // so the first open does not pay for it; alone: VACUUM refuses to run
    // in the implicit transaction of several statements.
    c.batch_execute("VACUUM ANALYZE")
        .unwrap_or_else(|e| fail(format!("{e:?}")));
    models.into_iter().map(|(m, _)| m).collect()
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

/// Opens the registry shared, timed; the store writes no snapshot when
/// dropped (the bench decides when one is written).
fn open_timed(reg: &Reg, want: usize) -> (PgStore, f64) {
    let t = Instant::now();
    let mut s = PgStore::connect_shared(&reg.url(), reg.root.path()).unwrap_or_else(|e| fail(e));
    let took = t.elapsed().as_secs_f64();
    s.set_snapshot_policy(SnapshotPolicy::NEVER);
    if s.index().len() != want {
        fail(format!(
            "the index holds {} faces, not {want}",
            s.index().len()
        ));
    }
    (s, took)
}

/// `n` case faces added through the store (three photos per case, each
/// with every enabled model's vector): `n` changes in the log.
fn add_through_store(s: &mut PgStore, n: usize) {
    let mut rng = synth::Rng(0x10C);
    let dlib = synth::FaceSynth::new(&mut rng);
    let specs = s.models().to_vec();
    let mut case = 0;
    for i in 0..n {
        if i.is_multiple_of(3) {
            case = s
                .add_case(ACTOR, &bench_case(1_000_000 + i))
                .unwrap_or_else(|e| fail(e));
        }
        let mut face = face_of(dlib.photo(&dlib.identity(&mut rng), &mut rng));
        face.vectors = specs
            .iter()
            .map(|m| {
                let mut v: Vec<f32> = (0..m.dim).map(|_| rng.gauss() as f32).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter_mut().for_each(|x| *x /= norm);
                ModelVector {
                    model: m.name.clone(),
                    version: m.version.clone(),
                    vector: v,
                }
            })
            .collect();
        let bytes = format!("after the snapshot {i}");
        s.add_photo(
            ACTOR,
            case,
            bytes.as_bytes(),
            &PhotoMeta::default(),
            &[face],
        )
        .unwrap_or_else(|e| fail(e));
    }
}

fn startup(o: &Opts, cluster: &Cluster) -> Value {
    let reg = Reg::new(cluster, None);
    reg.run(&["init", "--json"]);
    say!("start-up: writing {} synthetic faces…", o.faces);
    let t = Instant::now();
    let models = fill(cluster, &reg.name, o.faces);
    let fill_s = t.elapsed().as_secs_f64();
    let size: i64 = cluster
        .client(&reg.name)
        .ok()
        .and_then(|mut c| {
            c.query_one("SELECT pg_database_size(current_database())", &[])
                .ok()
        })
        .map_or(0, |r| r.get(0));
    say!(
        "start-up: opening the registry ({} faces, no snapshot)…",
        o.faces
    );
    let (mut s, first_open) = open_timed(&reg, o.faces);
    say!("  {first_open:.1} s; writing a snapshot…");
    let t = Instant::now();
    let written = s.write_snapshot().unwrap_or_else(|e| fail(e));
    let write_s = t.elapsed().as_secs_f64();
    let snapshot_bytes = dir_bytes(&written.path);
    say!("  {write_s:.2} s; adding {} faces after it…", o.log);
    add_through_store(&mut s, o.log);
    let head = s.catch_up().unwrap_or_else(|e| fail(e)).to;
    drop(s);
    let all = o.faces + o.log;
    let snapshots = reg.root.path().join(SNAPSHOT_DIR);
    let aside = reg.root.path().join("snapshots-aside");
    let (mut rebuilt, mut loaded) = (Vec::new(), Vec::new());
    for i in 0..o.startups {
        say!(
            "start-up: opening from the snapshot and {} log entries…",
            head - written.position
        );
        let (s, took) = open_timed(&reg, all);
        if !matches!(s.index_origin(), IndexOrigin::Snapshot { .. }) {
            fail(format!(
                "not opened from the snapshot: {:?}",
                s.index_origin()
            ));
        }
        drop(s);
        loaded.push(took);
        say!("  {took:.2} s");
        if i >= o.rebuilds {
            continue;
        }
        say!("  opening with the snapshot moved aside…");
        std::fs::rename(&snapshots, &aside).unwrap_or_else(|e| fail(e));
        let (s, took) = open_timed(&reg, all);
        drop(s);
        std::fs::rename(&aside, &snapshots).unwrap_or_else(|e| fail(e));
        rebuilt.push(took);
        say!("  {took:.1} s");
    }
    // With `--rebuilds 0`, the first open (the same rows less the log's
    // `o.log` faces) stands for a rebuild.
    let rebuild_anchor = if rebuilt.is_empty() {
        rebuilt.push(first_open);
        "first_open"
    } else {
        "snapshot_moved_aside"
    };
    let (rebuild_median, snapshot_median) = (median(rebuilt.clone()), median(loaded.clone()));
    json!({
        "faces": o.faces,
        "models": models,
        "fill_s": fill_s,
        "database_mib": size as f64 / (1 << 20) as f64,
        "first_open_s": first_open,
        "snapshot_write_s": write_s,
        "snapshot_mib": snapshot_bytes as f64 / (1 << 20) as f64,
        "log_entries": head - written.position,
        "faces_after_snapshot": o.log,
        "rebuild_anchor": rebuild_anchor,
        "open_s": rebuilt,
        "open_median_s": rebuild_median,
        "snapshot_open_s": loaded,
        "snapshot_open_median_s": snapshot_median,
        "rebuild_over_snapshot": rebuild_median / snapshot_median,
    })
}

// ---------------------------------------------------------------- main

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

fn print_table(r: &Value) {
    let m = &r["machine"];
    println!(
        "ingest bench, {} — {} core(s) ({}), load average {} at the start and {} at the end",
        m["date"].as_str().unwrap_or(""),
        m["cores"],
        m["cpu"].as_str().unwrap_or(""),
        r["load_start"].as_str().unwrap_or(""),
        r["load_end"].as_str().unwrap_or(""),
    );
    println!(
        "The workers, the searches and PostgreSQL all compete for these {} cores; \
         each worker also uses every core through its own thread pool.",
        m["cores"]
    );
    if let Some(rows) = r["ingest"].as_array() {
        println!();
        println!(
            "Ingest: {} distinct photos, mean {:.2} MP (fixtures cropped, scaled, re-encoded); 3 cases registered",
            r["photos"], f(r, "photo_mp")
        );
        println!();
        println!("| workers | wall s | photos/s | CPU-s per photo | last job done s | enqueue s |");
        println!("|---:|---:|---:|---:|---:|---:|");
        for row in rows {
            println!(
                "| {} | {:.1} | {:.2} | {:.2} | {:.1} | {:.1} |",
                row["workers"],
                f(row, "wall_s"),
                f(row, "photos_per_s"),
                f(row, "cpu_s_per_photo"),
                f(row, "drain_s"),
                f(row, "enqueue_s")
            );
        }
        let cpu: Vec<f64> = rows
            .iter()
            .map(|row| f(row, "cpu_s_per_photo"))
            .filter(|c| c.is_finite() && *c > 0.0)
            .collect();
        if let (Some(lo), Some(hi)) = (
            cpu.iter().copied().reduce(f64::min),
            cpu.iter().copied().reduce(f64::max),
        ) {
            println!();
            println!(
                "Extrapolation, not a measurement: on 20 cores, at {lo:.2}–{hi:.2} CPU-s per photo, \
                 about {:.0}–{:.0} photos/s (20 / CPU-s per photo), less the database and scheduling overhead.",
                20.0 / hi,
                20.0 / lo
            );
        }
    }
    let s = &r["search"];
    if s.is_object() {
        println!();
        println!(
            "Search latency, one `homeward search {}` command each (process start, networks loaded, \
             photo analysed, registry opened, query):",
            s["photo"].as_str().unwrap_or("")
        );
        println!(
            "  idle registry: {} searches, p50 {:.2} s, max {:.2} s",
            s["idle"]["n"],
            f(&s["idle"], "p50_s"),
            f(&s["idle"], "max_s")
        );
        println!(
            "  during ingest by 2 workers: {} searches, p50 {:.2} s, p99 {:.2} s, max {:.2} s; ingest meanwhile {:.2} photos/s",
            s["during_ingest"]["n"],
            f(&s["during_ingest"], "p50_s"),
            f(&s["during_ingest"], "p99_s"),
            f(&s["during_ingest"], "max_s"),
            f(s, "ingest_photos_per_s")
        );
    }
    let c = &r["change"];
    if c.is_object() {
        println!();
        println!(
            "A case photo added through one shared store, found by another's search ({} trials, medians):",
            c["trials"]
        );
        for (mode, what) in [
            ("polled", "refresh every 1 ms"),
            ("listen", "LISTEN, then refresh"),
        ] {
            println!(
                "  {what}: {:.1} ms from the write's start (the write itself {:.1} ms, {:.1} ms after it returned), max {:.1} ms",
                f(&c[mode], "from_write_start_ms"),
                f(&c[mode], "write_ms"),
                f(&c[mode], "from_write_return_ms"),
                f(&c[mode], "max_from_write_start_ms"),
            );
        }
    }
    let u = &r["startup"];
    if u.is_object() {
        let list = |k: &str| {
            u[k].as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!();
        println!(
            "Start-up: `PgStore::connect_shared` on {} case faces (models {}; database {:.0} MiB):",
            u["faces"],
            u["models"],
            f(u, "database_mib"),
        );
        println!(
            "  first open, no snapshot: {:.1} s; `write_snapshot`: {:.2} s, {:.0} MiB on disk",
            f(u, "first_open_s"),
            f(u, "snapshot_write_s"),
            f(u, "snapshot_mib"),
        );
        println!(
            "  then {} faces added through the store ({} log entries after the snapshot), and alternately:",
            u["faces_after_snapshot"], u["log_entries"]
        );
        println!(
            "  from the snapshot and the log: median {:.2} s of [{}]",
            f(u, "snapshot_open_median_s"),
            list("snapshot_open_s")
        );
        let how = if u["rebuild_anchor"] == "first_open" {
            "the first open, before the log"
        } else {
            "snapshot moved aside"
        };
        println!(
            "  rebuilt from the rows ({how}): median {:.1} s of [{}]; {:.0}x the snapshot's",
            f(u, "open_median_s"),
            list("open_s"),
            f(u, "rebuild_over_snapshot")
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // cargo bench --list
    }
    let o = Opts::parse();
    let cluster = match Cluster::start() {
        Ok(c) => c,
        Err(e @ ClusterError::NotInstalled) => fail(format!("{e}; this bench needs PostgreSQL")),
        Err(e) => fail(e),
    };
    let tick = clock_tick();
    let mut r = json!({
        "machine": machine(),
        "load_start": loadavg(),
        "photos": o.photos,
        "clock_tick": tick,
        "cluster": "throwaway, fsync=off, synchronous_commit=off",
    });
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let archive = tmp.path().join("archive");
    if o.runs("ingest") || o.runs("search") {
        say!("making {} photos…", o.photos);
        r["photo_mp"] = json!(make_photos(&archive, o.photos, o.max_side));
    }
    if o.runs("ingest") {
        r["ingest"] = json!(ingest(&o, &cluster, &archive, tick));
    }
    if o.runs("search") {
        r["search"] = search(&o, &cluster, &archive);
    }
    if o.runs("change") {
        r["change"] = change(&o, &cluster);
    }
    if o.runs("startup") {
        r["startup"] = startup(&o, &cluster);
    }
    r["load_end"] = json!(loadavg());
    if o.json {
        println!("{r}");
    } else {
        print_table(&r);
    }
}
