//! End-to-end tests of the matching front through the `homeward` binary, on
//! the fixture photos: two-way matching, reposts, duplicates, review with
//! progressive enrolment, and a batch that survives SIGKILL.
//!
//! The fixtures show adults standing in for registered children. Faces are
//! large, so every command runs with `--upsample 0` to keep the suite quick.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::cli::{homeward, json_on, lines_on};
use common::fixtures::{fixture_path, path};
use common::registry;
use serde_json::Value;

/// A half-size JPEG re-encode of a fixture: the same picture, other bytes.
fn reencoded(src: &str, dest: &Path) -> PathBuf {
    let img = image::open(fixture_path(src))
        .expect("fixture decodes")
        .to_rgb8();
    let half = image::imageops::thumbnail(&img, img.width() / 2, img.height() / 2);
    let path = dest.join(format!("half_{src}.jpg"));
    half.save_with_format(&path, image::ImageFormat::Jpeg)
        .expect("saves");
    path
}

/// One registry, the whole review flow, step by step.
#[test]
fn two_way_matching_reposts_duplicates_and_enrolment() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let up0 = "--upsample=0";

    // Two cases: child A (one photo) and a distractor.
    let a = json_on(
        &db,
        &[
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
            up0,
        ],
    );
    let case_a = a["case_id"].as_u64().unwrap();
    assert_eq!(a["photos"][0]["faces"], 1);
    let c = json_on(
        &db,
        &[
            "case",
            "add",
            "--name",
            "C",
            "--sex",
            "female",
            "--photo",
            path(&fixture_path("grace_hopper.jpg")),
            up0,
        ],
    );
    let case_c = c["case_id"].as_u64().unwrap();

    // A sighting of A (another photo of him) ranks A first and is queued.
    let s1 = json_on(
        &db,
        &[
            "sighting",
            "add",
            path(&fixture_path("obama2.jpg")),
            "--when",
            "2024-03-02",
            "--where",
            "market",
            up0,
        ],
    );
    assert!(s1.get("repeat").is_none(), "{s1}");
    assert_eq!(
        s1["candidates"][0]["case_id"].as_u64(),
        Some(case_a),
        "{s1}"
    );
    let why = &s1["candidates"][0]["why"];
    assert!(why["best"]["distance"].as_f64().unwrap() < 0.5, "{why}");
    assert!(why["expected_age_years"].as_f64().unwrap() > 11.0);
    let queued: Vec<&Value> = s1["queued"].as_array().unwrap().iter().collect();
    let m1 = queued
        .iter()
        .find(|q| q["case_id"].as_u64() == Some(case_a))
        .expect("A queued");
    let m1 = m1["match_id"].as_u64().unwrap();
    assert!(
        queued.iter().all(|q| q["case_id"].as_u64() != Some(case_c)),
        "distractor queued: {s1}"
    );
    let sighting1 = s1["sighting_id"].as_u64().unwrap();

    // The family's photo, rotated and reposted, is flagged, not matched.
    let repost = json_on(
        &db,
        &[
            "sighting",
            "add",
            path(&fixture_path("obama_rot15.png")),
            up0,
        ],
    );
    assert_eq!(repost["repeat"]["kind"], "poster_repost", "{repost}");
    assert_eq!(repost["repeat"]["case_id"].as_u64(), Some(case_a));
    assert_eq!(repost["queued"].as_array().unwrap().len(), 0);

    // The first sighting re-sent (smaller, re-encoded) joins its group.
    let again = reencoded("obama2.jpg", tmp.path());
    let dup = json_on(&db, &["sighting", "add", path(&again), up0]);
    assert_eq!(dup["repeat"]["kind"], "duplicate", "{dup}");
    assert_eq!(dup["repeat"]["group"].as_u64(), Some(sighting1));
    assert_eq!(dup["queued"].as_array().unwrap().len(), 0);

    // A sighting with no case yet: a grey copy of Biden's photo.
    let old = json_on(
        &db,
        &[
            "sighting",
            "add",
            path(&fixture_path("biden_gray.jpg")),
            "--when",
            "2023-01-10",
            up0,
        ],
    );
    let old_id = old["sighting_id"].as_u64().unwrap();
    assert!(
        old["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["band"] == "below"),
        "{old}"
    );

    // Registering B months later surfaces that old sighting.
    let photo_b = reencoded("biden.jpg", tmp.path());
    let b = json_on(
        &db,
        &["case", "add", "--name", "B", "--photo", path(&photo_b), up0],
    );
    let case_b = b["case_id"].as_u64().unwrap();
    let surfaced = b["surfaced_sightings"].as_array().unwrap();
    assert!(
        surfaced
            .iter()
            .any(|s| s["sighting_id"].as_u64() == Some(old_id)),
        "{b}"
    );

    // The queue holds both directions, pending, best first.
    let queue = lines_on(&db, &["review", "list"]);
    let ids: Vec<u64> = queue
        .iter()
        .map(|m| m["match_id"].as_u64().unwrap())
        .collect();
    assert!(ids.contains(&m1));
    assert!(queue
        .iter()
        .any(|m| m["case_id"].as_u64() == Some(case_b) && m["origin"] == "case"));
    let fmrs: Vec<f64> = queue
        .iter()
        .map(|m| m["case_fmr"].as_f64().unwrap())
        .collect();
    assert!(fmrs.windows(2).all(|w| w[0] <= w[1]), "{fmrs:?}");

    // Confirming enrols the sighting's face into A's gallery, dated then.
    let shown = json_on(&db, &["review", "show", &m1.to_string()]);
    assert_eq!(shown["case"]["id"].as_u64(), Some(case_a));
    assert_eq!(shown["sighting"]["place"], "market");
    let conf = json_on(
        &db,
        &[
            "review",
            "confirm",
            &m1.to_string(),
            "--note",
            "family confirmed",
        ],
    );
    let enrolled = conf["enrolled_photo_id"].as_u64().unwrap();
    let again = homeward()
        .args(["review", "confirm", &m1.to_string(), "--db", path(&db)])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "a decided match cannot be confirmed twice"
    );

    // Later searches use the enrolled face: the same picture now meets it.
    let found = json_on(
        &db,
        &[
            "search",
            path(&fixture_path("obama2.jpg")),
            "--top",
            "3",
            up0,
        ],
    );
    let best = &found["candidates"][0];
    assert_eq!(best["case_id"].as_u64(), Some(case_a));
    assert_eq!(
        best["why"]["best"]["photo_id"].as_u64(),
        Some(enrolled),
        "{best}"
    );
    assert_eq!(
        best["why"]["best"]["enrolled_from_sighting"].as_u64(),
        Some(sighting1)
    );
    assert_eq!(best["band"], "strong");
    assert_eq!(best["why"]["photos_compared"], 2);

    // Search is read-only: the queue did not grow.
    assert_eq!(
        lines_on(&db, &["review", "list", "--state", "all"]).len(),
        queue.len()
    );
}

/// A batch killed mid-run resumes without repeating or losing an item.
#[test]
fn batch_resumes_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let input = tmp.path().join("photos");
    std::fs::create_dir(&input).unwrap();
    for f in [
        "grace_hopper.jpg",
        "astronaut.png",
        "biden_gray.jpg",
        "obama_rot15.png",
    ] {
        std::fs::copy(fixture_path(f), input.join(f)).unwrap();
    }
    reencoded("obama2.jpg", &input);
    reencoded("obama_partial_face.jpg", &input);
    let total = 6;
    let out = tmp.path().join("out");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--threads",
            "1",
            "batch",
            path(&input),
            "--out",
            path(&out),
            "--db",
            path(&db),
            "--create",
            "--json",
            "--upsample",
            "0",
            "--when",
            "2024-01-01",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // First run: killed (SIGKILL) as soon as one item is reported done.
    let mut child = homeward()
        .args(args(&[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let v: Value = serde_json::from_str(&first).expect("an item line");
    assert_eq!(v["event"], "item");
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    // Second run: skips what was done, does the rest, once each.
    let second = homeward().args(args(&[])).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let text = String::from_utf8_lossy(&second.stdout);
    let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["items"], total);
    let skipped = summary["skipped_done"].as_u64().unwrap();
    let now = summary["recorded_now"].as_u64().unwrap();
    assert!(skipped >= 1, "{summary}");
    assert!(now >= 1, "the kill came after the end: {summary}");
    assert_eq!(skipped + now, total);
    assert_eq!(summary["failed"], 0);
    assert_eq!(
        summary["sightings_in_registry"], total,
        "no item recorded twice: {summary}"
    );

    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut ids: Vec<u64> = results
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["sighting_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), total as usize);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total as usize);
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + total as usize);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(
        html.matches("data:image/jpeg;base64,").count(),
        total as usize
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external asset"
    );

    // A third run has nothing left to do.
    let third = homeward().args(args(&[])).output().unwrap();
    let summary: Value = serde_json::from_str(
        String::from_utf8_lossy(&third.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["recorded_now"], 0);
    assert_eq!(summary["sightings_in_registry"], total);
}

/// Issue 13, finding 6: a case name typed on the web with terminal escape
/// sequences was printed raw by `case list`. Every line the CLI prints now
/// shows control characters as `\uXXXX` instead of obeying them.
#[test]
fn terminal_escapes_in_names_are_shown_not_obeyed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let name = "Ana\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m";
    // New names with control characters are refused at the door (issue 12)...
    let added = homeward()
        .args([
            "case",
            "add",
            "--create",
            "--name",
            name,
            "--upsample=0",
            "--photo",
        ])
        .arg(fixture_path("obama.jpg"))
        .arg("--db")
        .arg(&db)
        .output()
        .expect("homeward runs");
    assert!(!added.status.success(), "a control character was accepted");
    let said = String::from_utf8_lossy(&added.stderr);
    assert!(said.contains("control character"), "{said}");
    assert!(
        !said.contains('\u{1b}'),
        "the refusal echoed the name: {said:?}"
    );
    // ...but a registry written before that rule (or imported) may hold
    // one, and printing it must still not obey it.
    registry::add_case(&db, name, None);
    for args in [&["case", "list"][..], &["case", "list", "--json"][..]] {
        let out = homeward()
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .expect("homeward runs");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {text:?}"
        );
        assert!(text.contains("Ana\\u001b]0;pwned\\u0007"), "{text}");
        if args.len() == 3 {
            let v: Value = serde_json::from_str(text.trim()).expect("still JSON");
            assert_eq!(v["name"], name, "JSON keeps the name exactly");
        }
    }
}
