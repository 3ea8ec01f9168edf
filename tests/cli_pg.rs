//! The CLI on a PostgreSQL registry (`--db postgres://…`, or `HOMEWARD_DB`):
//! the registry commands end to end, a batch queued for two workers (each
//! photo recorded once), and a worker killed mid-batch (its jobs taken up
//! again, nothing lost or doubled).
//!
//! Each test makes its own database on a throwaway cluster (started as
//! `homeward-pg`'s tests do); without PostgreSQL installed they pass as
//! skipped, and say so, unless `HOMEWARD_REQUIRE_PG=1`. Faces in the
//! fixtures are large, so every analysis runs with `--upsample 0`.

#[allow(dead_code)]
mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cli::{json_lines, last_json, succeeded};
use common::fixtures::{fixture_path, path};
use common::pg::Pg;
use homeward_pg::JobQueue;
use serde_json::Value;

impl Pg {
    /// `homeward ARGS` on this registry, with no admin password.
    fn cli(&self, args: &[&str]) -> Command {
        let mut c = self.command(args);
        c.env_remove("HOMEWARD_ADMIN_PASSWORD");
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.cli(args).output().expect("homeward runs")
    }

    /// Runs `homeward ARGS --json` and parses its last line.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        last_json(&succeeded(&self.output(&all), args))
    }

    fn lines(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        json_lines(&succeeded(&self.output(&all), args))
    }

    fn worker(&self, extra: &[&str]) -> Child {
        let mut args = vec!["worker", "--until-idle", "--upsample=0", "--json"];
        args.extend_from_slice(extra);
        self.cli(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("worker starts")
    }

    fn password(&self) -> String {
        self.db.cluster().password().to_string()
    }
}

/// Registers child A (obama.jpg) and a distractor, and returns A's id.
fn register(pg: &Pg) -> u64 {
    let a = pg.json(&[
        "case",
        "add",
        "--name",
        "A",
        "--sex",
        "male",
        "--born",
        "2012-08-04",
        "--photo",
        path(&fixture_path("obama.jpg")),
        "--age",
        "6",
        "--upsample=0",
    ]);
    assert_eq!(a["photos"][0]["faces"], 1, "{a}");
    pg.json(&[
        "case",
        "add",
        "--name",
        "C",
        "--sex",
        "female",
        "--photo",
        path(&fixture_path("grace_hopper.jpg")),
        "--upsample=0",
    ]);
    a["case_id"].as_u64().expect("case id")
}

/// A batch folder: five photos (one with no face) and a file that is no
/// photo.
fn batch_dir(dir: &Path) -> PathBuf {
    let d = dir.join("archive");
    std::fs::create_dir_all(&d).expect("mkdir");
    for f in [
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "grace_hopper_exif6.jpg",
        "astronaut.png",
    ] {
        std::fs::copy(fixture_path(f), d.join(f)).expect("copy fixture");
    }
    std::fs::write(d.join("broken.jpg"), b"not a photo at all").expect("write");
    d
}

#[test]
fn registry_commands_work_on_postgres_and_never_show_the_password() {
    let Some(pg) = Pg::new("registry_commands_work_on_postgres") else {
        return;
    };
    // No registry yet: refused, naming the database without its password.
    let out = pg.output(&["case", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no registry at postgres://"), "{err}");
    assert!(!err.contains(&pg.password()), "password shown: {err}");

    // Without a photo root: told what to give.
    let out = pg
        .cli(&["init"])
        .env_remove("HOMEWARD_PHOTO_ROOT")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--photo-root"));

    let made = pg.json(&["init"]);
    assert_eq!(made["created"], true, "{made}");
    assert!(!made.to_string().contains(&pg.password()));
    let again = pg.json(&["init"]);
    assert_eq!(again["created"], false, "{again}");

    let case_a = register(&pg);
    let listed = pg.lines(&["case", "list"]);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "A");
    assert_eq!(listed[0]["faces"], 1);

    // A sighting of A ranks A first and is queued for review.
    let s = pg.json(&[
        "sighting",
        "add",
        path(&fixture_path("obama2.jpg")),
        "--when",
        "2024-03-02",
        "--upsample=0",
    ]);
    assert_eq!(s["candidates"][0]["case_id"].as_u64(), Some(case_a), "{s}");
    let queue = pg.lines(&["review", "list"]);
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0]["case_id"].as_u64(), Some(case_a));

    // The same photo again is a duplicate, found through the stored hashes.
    let dup = pg.json(&[
        "sighting",
        "add",
        path(&fixture_path("obama2.jpg")),
        "--upsample=0",
    ]);
    assert_eq!(
        dup["repeat"]["kind"], "duplicate",
        "a repeat must be recognised: {dup}"
    );

    // Search (read-only) finds A; confirming enrols the sighting's face.
    let found = pg.json(&["search", path(&fixture_path("obama3.jpg")), "--upsample=0"]);
    assert_eq!(
        found["candidates"][0]["case_id"].as_u64(),
        Some(case_a),
        "{found}"
    );
    let id = queue[0]["match_id"].as_u64().expect("match id").to_string();
    pg.json(&["review", "confirm", &id]);
    let listed = pg.lines(&["case", "list"]);
    assert_eq!(listed[0]["faces"], 2, "{listed:?}");

    // The case's life: closed as found, with the reason in its timeline.
    pg.json(&[
        "case",
        "status",
        "--case",
        &case_a.to_string(),
        "found",
        "--why",
        "family confirmed",
    ]);
    let shown = pg.output(&["case", "show", "--case", &case_a.to_string()]);
    assert!(shown.status.success());
    assert!(String::from_utf8_lossy(&shown.stdout).contains("family confirmed"));
}

#[test]
fn a_queued_batch_is_recorded_once_by_two_workers() {
    let Some(pg) = Pg::new("a_queued_batch_is_recorded_once_by_two_workers") else {
        return;
    };
    pg.json(&["init"]);
    let case_a = register(&pg);
    let dir = batch_dir(pg.root.path());
    let out = pg.root.path().join("out");
    let batch = ["batch", path(&dir), "--name", "archive-1", "--upsample=0"];

    // broken.jpg is queued too: only analysis tells it is no photo.
    let q = pg.json(&batch);
    assert_eq!(q["added"], 6, "{q}");
    assert_eq!(q["unreadable"], 0, "{q}");
    // Enqueuing again adds nothing.
    let q = pg.json(&batch);
    assert_eq!(
        (q["added"].as_u64(), q["already"].as_u64()),
        (Some(0), Some(6)),
        "{q}"
    );

    let workers = [pg.worker(&[]), pg.worker(&[])];
    let mut recorded = 0;
    for w in workers {
        let o = w.wait_with_output().expect("worker ends");
        let last = String::from_utf8_lossy(&o.stdout);
        let v: Value = serde_json::from_str(last.lines().last().unwrap_or("null"))
            .unwrap_or_else(|e| panic!("{e}: {last} / {}", String::from_utf8_lossy(&o.stderr)));
        recorded += v["recorded"].as_u64().unwrap_or(0);
    }
    // broken.jpg is not a photo: failed once, not retried.
    assert_eq!(recorded, 5);

    let mut wait = batch.to_vec();
    wait.extend(["--wait", "--out", path(&out)]);
    let o = pg.output(&[&wait[..], &["--json"]].concat());
    assert_eq!(o.status.code(), Some(1), "one item failed");
    let results = std::fs::read_to_string(out.join("results.jsonl")).expect("results");
    let rows: Vec<Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(rows.len(), 6);
    let ids: HashSet<u64> = rows
        .iter()
        .filter_map(|r| r["sighting_id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 5, "each photo recorded once: {rows:?}");
    let a_first = rows.iter().any(|r| {
        r["item"].as_str().is_some_and(|i| i.starts_with("obama"))
            && r["candidates"][0]["case_id"].as_u64() == Some(case_a)
    });
    assert!(a_first, "A's photos rank A first: {rows:?}");
    let broken = rows
        .iter()
        .find(|r| r["item"] == "broken.jpg")
        .expect("broken listed");
    assert!(broken["sighting_id"].is_null(), "{broken}");
    // The inbox is emptied as jobs finish.
    let left = std::fs::read_dir(pg.root.path().join("inbox"))
        .expect("inbox")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .count();
    assert_eq!(left, 0);
}

#[test]
fn a_killed_worker_loses_and_doubles_nothing() {
    let Some(pg) = Pg::new("a_killed_worker_loses_and_doubles_nothing") else {
        return;
    };
    pg.json(&["init"]);
    register(&pg);
    let dir = batch_dir(pg.root.path());
    std::fs::remove_file(dir.join("broken.jpg")).expect("rm");
    pg.json(&["batch", path(&dir), "--name", "archive-2", "--upsample=0"]);

    let mut q = JobQueue::connect(&pg.db.url(), "test").expect("queue");
    // Killed as soon as it has finished one photo and holds another.
    let mut first = pg.worker(&["--lease", "5"]);
    let t = Instant::now();
    loop {
        let p = q.progress("archive-2").expect("progress");
        if p.done >= 1 && p.running >= 1 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the worker made no progress: {p:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().expect("kill -9");
    let _ = first.wait();
    let at_kill = q.progress("archive-2").expect("progress");
    assert!(at_kill.running + at_kill.stalled >= 1, "{at_kill:?}");

    // Another worker drains the queue, the dead one's job included once
    // its lease runs out.
    let o = pg
        .worker(&["--lease", "5"])
        .wait_with_output()
        .expect("worker ends");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("the worker's JSON line");
    // It took up everything the dead worker had not finished, the claimed
    // photo included (recorded now, or found recorded already).
    let taken = v["recorded"].as_u64().unwrap_or(0) + v["recorded_before"].as_u64().unwrap_or(0);
    assert_eq!(taken, 5 - at_kill.done, "{v}");
    let p = q.progress("archive-2").expect("progress");
    assert_eq!((p.done, p.failed, p.total()), (5, 0, 5), "{p:?}");

    let out = pg.root.path().join("out");
    let o = pg.output(&[
        "batch",
        path(&dir),
        "--name",
        "archive-2",
        "--wait",
        "--out",
        path(&out),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let ids: HashSet<u64> = rows
        .iter()
        .filter_map(|r| r["sighting_id"].as_u64())
        .collect();
    assert_eq!((rows.len(), ids.len()), (5, 5), "{rows:?}");
    let done: Value = serde_json::from_slice(
        o.stdout
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .expect("a line"),
    )
    .expect("JSON");
    // Two sightings registered before the batch? None: only the batch's.
    assert_eq!(done["sightings_in_registry"], 5, "{done}");
}
