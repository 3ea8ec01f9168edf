//! End-to-end tests of the CLI's text for people (issue 15): the `--db`
//! rule and `homeward init`, a closed pipe, columns that count wide
//! characters, `review show` in words, the batch report's summary and
//! order, and a demo that needs no build directory.
//!
//! The fixtures show adults standing in for registered children; commands
//! that read faces run with `--upsample 0` to keep the suite quick.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::cli::{homeward, ok, run};
use common::fixtures::{fixture_path, path};
use common::registry;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

const CHILD: &str = "李小明";

fn text(o: &[u8]) -> String {
    String::from_utf8(o.to_vec()).expect("UTF-8 output")
}

fn add_case(db: &Path, name: &str) -> u64 {
    registry::add_case(db, name, Some("2019-06-01"))
}

/// A mistyped --db is an error that says what to do; `init` and
/// `--create` are the two ways to make a registry.
#[test]
fn db_must_hold_a_registry_unless_init_or_create() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("homeward-dta");
    for args in [
        &["review", "list"][..],
        &["case", "list", "--json"][..],
        &["search", "x.jpg"][..],
        &["sighting", "add", "x.jpg"][..],
        &["batch", "somewhere"][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--db", path(&missing)]);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        let said = text(&out.stderr);
        assert!(
            said.contains(&format!("no registry at {}", missing.display()))
                && said.contains(&format!("run `homeward init --db {}`", missing.display()))
                && said.contains("--create"),
            "{all:?}: {said}"
        );
        assert!(!missing.exists(), "{all:?} created the directory");
    }

    // A directory that exists but holds something else is no registry either.
    let other = tmp.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("a.txt"), "x").unwrap();
    let out = run(&["case", "list", "--db", path(&other)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!other.join("registry.sqlite").exists());
    // ...and `init` will not scatter a registry among its files.
    let out = run(&["init", "--db", path(&other)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not empty"), "{out:?}");

    // init, then the commands work; init again changes nothing.
    let db = tmp.path().join("db");
    let said = ok(&["init", "--db", path(&db)]);
    assert!(said.contains("registry created"), "{said}");
    assert_eq!(ok(&["case", "list", "--db", path(&db)]).trim(), "0 case(s)");
    assert_eq!(
        ok(&["review", "list", "--db", path(&db)]).trim(),
        "0 match(es)"
    );
    let again: Value =
        serde_json::from_str(&ok(&["init", "--db", path(&db), "--json"])).expect("JSON");
    assert_eq!(again["created"], false);

    // --create makes one where there was none.
    let fresh = tmp.path().join("fresh");
    let listed = ok(&["case", "list", "--db", path(&fresh), "--create", "--json"]);
    assert_eq!(listed, "");
    assert!(fresh.join("registry.sqlite").is_file());
    assert_eq!(
        ok(&["case", "list", "--db", path(&fresh)]).trim(),
        "0 case(s)"
    );
}

/// `case list | head -1` on a long list: the reader goes away, the
/// command stops quietly, with no panic and a clean status.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    // About 150 KB of output, more than a pipe holds.
    let long = "长".repeat(60);
    let mut reg = homeward_core::store::Registry::open(&db).expect("registry");
    for i in 0..800 {
        reg.add_case("test", &registry::new_case(&format!("{long} {i}"), None))
            .expect("stored");
    }
    reg.close().expect("closed");

    for json in [false, true] {
        let mut cmd = homeward();
        cmd.args(["case", "list", "--db", path(&db)]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        drop(reader); // the reader goes away, as `head -1` does
        let out = child.wait_with_output().unwrap();
        let said = text(&out.stderr);
        assert!(
            !said.contains("panicked") && !said.contains("backtrace") && said.is_empty(),
            "json={json}: {said}"
        );
        assert_eq!(out.status.code(), Some(0), "json={json}: {:?}", out.status);
    }
}

/// A Chinese name takes two cells a character: `case list` pads by what
/// the terminal shows, so the columns after it line up.
#[test]
fn wide_names_keep_the_columns_aligned() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    ok(&["init", "--db", path(&db)]);
    add_case(&db, CHILD);
    add_case(&db, "Ana Lima");
    add_case(&db, "Zoë Ångström-Ng");
    let shown = ok(&["case", "list", "--db", path(&db)]);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], "3 case(s)");
    assert!(
        lines[2].contains(CHILD) && lines[3].contains("Ana Lima"),
        "{shown}"
    );
    // Display width of the text before each column's start.
    let col = |line: &str, word: &str| {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("{word} in {line}"));
        UnicodeWidthStr::width(&line[..at])
    };
    for (header, cell) in [("status", "searching"), ("missing since", "2019-06-01")] {
        let want = col(lines[1], header);
        for row in &lines[2..] {
            assert_eq!(col(row, cell), want, "{header} column:\n{shown}");
        }
    }
    // The names start in one column too.
    assert_eq!(col(lines[2], CHILD), col(lines[3], "Ana"));
}

/// One registry through `sighting add`, `search`, `review show` and a
/// batch: names beside ids, words instead of JSON, usable photo paths, and
/// the batch report's summary first and strongest first.
#[test]
fn text_for_people_review_and_batch_report() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let up0 = "--upsample=0";
    ok(&["init", "--db", path(&db)]);
    let added = ok(&[
        "case",
        "add",
        "--db",
        path(&db),
        "--name",
        CHILD,
        "--sex",
        "male",
        "--born",
        "2012-08-04",
        "--photo",
        path(&fixture_path("obama.jpg")),
        "--age",
        "6",
        up0,
    ]);
    assert!(
        added.starts_with(&format!("case 1 ({CHILD}) registered")),
        "{added}"
    );

    // Names beside ids in `sighting add` and `search`.
    let seen = ok(&[
        "sighting",
        "add",
        path(&fixture_path("obama2.jpg")),
        "--when",
        "2024-03-02",
        "--where",
        "market",
        "--db",
        path(&db),
        up0,
    ]);
    assert!(
        seen.contains(&format!("1. case 1 ({CHILD})  strong")),
        "{seen}"
    );
    let found = ok(&[
        "search",
        path(&fixture_path("obama2.jpg")),
        "--db",
        path(&db),
        up0,
    ]);
    assert!(found.contains(&format!("1. case 1 ({CHILD})")), "{found}");

    // `review list` and `review show` in words.
    let list = ok(&["review", "list", "--db", path(&db)]);
    assert!(list.contains(CHILD) && list.contains("strong"), "{list}");
    let show = ok(&["review", "show", "1", "--db", path(&db)]);
    assert!(
        !show.contains('{') && !show.contains("\":"),
        "JSON in: {show}"
    );
    for words in [
        "match 1: pending",
        "strong: very similar",
        &format!("case 1 ({CHILD})"),
        "born 2012-08-04",
        "seen 2024-03-02; at market",
        "next: homeward review confirm 1",
    ] {
        assert!(show.contains(words), "{words:?} missing from:\n{show}");
    }
    // The photo paths shown exist, from any directory.
    let photo_lines: Vec<&str> = show
        .lines()
        .filter(|l| l.contains("sighting:") || l.contains("closest case photo"))
        .collect();
    assert_eq!(photo_lines.len(), 2, "{show}");
    for l in photo_lines {
        let p = l.split_once(": ").unwrap().1.trim();
        let p = p
            .strip_suffix("(JPEG)")
            .expect("the format is named")
            .trim();
        assert!(Path::new(p).is_absolute() && Path::new(p).is_file(), "{p}");
    }
    // --save-photos copies them with file endings that viewers know.
    let saved = tmp.path().join("saved");
    let show = ok(&[
        "review",
        "show",
        "1",
        "--db",
        path(&db),
        "--save-photos",
        path(&saved),
    ]);
    let sighting_copy = saved.join("match-1-sighting.jpg");
    assert!(show.contains(path(&sighting_copy)), "{show}");
    image::open(&sighting_copy).expect("the copy opens as an image");
    assert!(saved.join("match-1-case-photo-1.jpg").is_file());
    // --json is still JSON, in the same shape.
    let v: Value = serde_json::from_str(&ok(&["review", "show", "1", "--db", path(&db), "--json"]))
        .expect("JSON");
    assert_eq!(v["match"]["child_name"], CHILD);
    assert_eq!(v["sighting"]["place"], "market");
    assert!(v["why"]["band"].is_string());

    // Confirm, then undo: pending again, and the enrolled face leaves the case.
    let faces = || {
        let v: Value = serde_json::from_str(
            ok(&["case", "list", "--db", path(&db), "--json"])
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        v["faces"].as_u64().unwrap()
    };
    assert_eq!(faces(), 1);
    ok(&["review", "confirm", "1", "--db", path(&db)]);
    assert_eq!(faces(), 2);
    let undone = ok(&["review", "undo", "1", "--db", path(&db)]);
    assert!(undone.contains("confirmation undone"), "{undone}");
    assert_eq!(faces(), 1);
    assert!(ok(&["review", "show", "1", "--db", path(&db)]).contains("match 1: pending"));
    let again = run(&["review", "undo", "1", "--db", path(&db)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("no decision to undo"),
        "{}",
        text(&again.stderr)
    );

    // A batch whose file-name order is not its strength order.
    let input = tmp.path().join("archive");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(fixture_path("noface/brick.jpg"), input.join("a_wall.jpg")).unwrap();
    std::fs::copy(fixture_path("astronaut.png"), input.join("b_stranger.png")).unwrap();
    std::fs::copy(fixture_path("obama3.jpg"), input.join("c_child.jpg")).unwrap();
    let out = tmp.path().join("report");
    let batch = |json: bool| {
        let mut args = vec![
            "batch",
            path(&input),
            "--out",
            path(&out),
            "--db",
            path(&db),
            "--when",
            "2024-04-01",
            up0,
        ];
        if json {
            args.push("--json");
        }
        ok(&args)
    };
    let said = batch(true);
    let done: Value = serde_json::from_str(said.lines().last().unwrap()).expect("JSON");
    let summary = &done["summary"];
    assert_eq!(summary["items"], 3, "{done}");
    assert_eq!(summary["no_face"], 1, "{done}");
    assert_eq!(
        summary["strong"].as_u64().unwrap() + summary["possible"].as_u64().unwrap(),
        1,
        "{done}"
    );
    assert_eq!(summary["no_candidate"], 1, "{done}");

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let at = |s: &str| {
        html.find(s)
            .unwrap_or_else(|| panic!("{s} not in the report"))
    };
    assert!(at("id=\"summary\"") < at("<tr><td><b>"), "summary first");
    assert!(at("without a detectable face") < at("<tr><td><b>"));
    assert!(
        at("c_child.jpg") < at("b_stranger.png") && at("c_child.jpg") < at("a_wall.jpg"),
        "strongest first, not file-name order"
    );
    assert!(
        html.contains(&format!("case 1 ({CHILD})")),
        "names beside ids"
    );
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("results.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["item"], "c_child.jpg", "JSONL in the report's order");

    // The text of a rerun (nothing left to do) says the same, in words.
    let said = batch(false);
    assert!(
        said.contains("3 item(s). New sightings by strongest candidate:"),
        "{said}"
    );
    assert!(said.contains("1 without a face"), "{said}");
    let strongest = said.split("strongest first:").nth(1).expect("a list");
    assert!(strongest.contains("c_child.jpg"), "{said}");
    assert!(strongest.contains(&format!("case 1 ({CHILD})")), "{said}");
}

/// The demo carries its photos: it runs from a copy of the binary in
/// another directory, and the binary names no build-directory path.
#[test]
fn demo_runs_without_the_build_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("homeward");
    std::fs::copy(env!("CARGO_BIN_EXE_homeward"), &bin).unwrap();
    let bytes = std::fs::read(&bin).unwrap();
    let build_fixtures = format!("{}/../../fixtures", env!("CARGO_MANIFEST_DIR"));
    assert!(
        !bytes
            .windows(build_fixtures.len())
            .any(|w| w == build_fixtures.as_bytes()),
        "the binary still names {build_fixtures}"
    );
    let out = Command::new(&bin)
        .arg("demo")
        .current_dir(tmp.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}\n{said}", text(&out.stderr));
    assert!(said.contains("poster repost"), "{said}");
    assert!(said.contains("== review queue"), "{said}");
    assert!(said.contains("(Demo child A)"), "{said}");
}

/// A case's status: found ends the search, searching reopens it, with the
/// change shown in words and in JSON; a bad status or a missing case is an
/// error that says what to do.
#[test]
fn case_status_ends_and_reopens_the_search() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("reg");
    ok(&["init", "--db", path(&db)]);
    let id = add_case(&db, CHILD).to_string();
    let said = ok(&["case", "status", "--case", &id, "found", "--db", path(&db)]);
    assert!(
        said.contains(CHILD) && said.contains("searching -> found"),
        "{said}"
    );
    let listed = ok(&["case", "list", "--db", path(&db), "--json"]);
    let row: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(row["status"], "found");
    let again = ok(&["case", "status", "--case", &id, "found", "--db", path(&db)]);
    assert!(again.contains("already found"), "{again}");
    let back = ok(&[
        "case",
        "status",
        "--case",
        &id,
        "searching",
        "--db",
        path(&db),
        "--json",
    ]);
    let v: Value = serde_json::from_str(back.trim()).unwrap();
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some("found"), Some("searching"))
    );

    let bad = run(&["case", "status", "--case", &id, "lost", "--db", path(&db)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("use searching, found or closed"),
        "{}",
        text(&bad.stderr)
    );
    let missing = run(&[
        "case",
        "status",
        "--case",
        "999",
        "closed",
        "--db",
        path(&db),
    ]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("999"),
        "{}",
        text(&missing.stderr)
    );
}

/// A case's whole life from the CLI: a matched sighting, unassigned until
/// it is assigned to a case worker, "new" until that worker has listed the
/// queue, filters, a note and a status change with why, the timeline in words and JSON, and
/// both CSV exports (a note that looks like a formula is defused).
#[test]
fn case_life_timeline_assignment_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = path(&db);
    let up0 = "--upsample=0";
    ok(&["init", "--db", d]);
    ok(&[
        "case",
        "add",
        "--db",
        d,
        "--name",
        CHILD,
        "--sex",
        "male",
        "--born",
        "2012-08-04",
        "--photo",
        path(&fixture_path("obama.jpg")),
        "--age",
        "6",
        up0,
    ]);
    ok(&[
        "sighting",
        "add",
        path(&fixture_path("obama2.jpg")),
        "--when",
        "2024-03-02",
        "--where",
        "market",
        "--db",
        d,
        up0,
    ]);

    // Unassigned: the match, until it is assigned; not with --assignee.
    let free = ok(&["review", "list", "--db", d, "--unassigned", "--json"]);
    assert_eq!(free.lines().count(), 1, "{free}");
    let both = run(&[
        "review",
        "list",
        "--db",
        d,
        "--unassigned",
        "--assignee",
        "li",
    ]);
    assert_eq!(both.status.code(), Some(2));
    let said = text(&both.stderr);
    assert!(
        said.contains("--unassigned") && said.contains("cannot be used with"),
        "{said}"
    );

    // Assignment, and "new" for each reviewer until they have looked.
    let said = ok(&[
        "review", "assign", "1", "wang", "--db", d, "--actor", "lead",
    ]);
    assert!(
        said.contains("assigned to wang") && said.contains(CHILD),
        "{said}"
    );
    let first = ok(&["review", "list", "--db", d, "--actor", "wang"]);
    let row = first.lines().find(|l| l.contains(CHILD)).expect("a row");
    assert!(
        row.trim_start().starts_with("new") && row.contains("wang"),
        "{first}"
    );
    let again = ok(&["review", "list", "--db", d, "--actor", "wang", "--json"]);
    let v: Value = serde_json::from_str(again.lines().next().unwrap()).unwrap();
    assert_eq!(
        (v["new"].as_bool(), v["assignee"].as_str()),
        (Some(false), Some("wang"))
    );
    let other = ok(&[
        "review", "list", "--db", d, "--actor", "li", "--new", "--json",
    ]);
    assert_eq!(other.lines().count(), 1, "new to li: {other}");
    let none = ok(&["review", "list", "--db", d, "--actor", "wang", "--new"]);
    assert!(none.starts_with("0 match(es)"), "{none}");
    for (flag, value, rows) in [
        ("--band", "strong", 1),
        ("--band", "weak", 0),
        ("--case", "1", 1),
        ("--case", "2", 0),
        ("--assignee", "li", 0),
        ("--assignee", "wang", 1),
    ] {
        let out = ok(&["review", "list", "--db", d, flag, value, "--json"]);
        assert_eq!(out.lines().count(), rows, "{flag} {value}: {out}");
    }
    let taken = ok(&["review", "list", "--db", d, "--unassigned"]);
    assert!(taken.starts_with("0 match(es)"), "{taken}");
    let bad = run(&["review", "assign", "1", "a\u{1b}[2J", "--db", d]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("assignee"),
        "{}",
        text(&bad.stderr)
    );

    // Decision, note and status with why.
    ok(&["review", "confirm", "1", "--db", d, "--actor", "wang"]);
    ok(&[
        "case",
        "note",
        "--case",
        "1",
        "=HYPERLINK(\"x\")",
        "--db",
        d,
        "--actor",
        "wang",
    ]);
    let closed = ok(&[
        "case",
        "status",
        "--case",
        "1",
        "found",
        "--why",
        "Family met him",
        "--db",
        d,
        "--actor",
        "li",
    ]);
    assert!(closed.contains("searching -> found"), "{closed}");
    let empty_why = run(&[
        "case", "status", "--case", "1", "closed", "--why", " ", "--db", d,
    ]);
    assert_eq!(empty_why.status.code(), Some(2));
    assert!(
        text(&empty_why.stderr).contains("`why`"),
        "{}",
        text(&empty_why.stderr)
    );

    // The timeline, in order, in words and in JSON.
    let shown = ok(&["case", "show", "--case", "1", "--db", d]);
    let order = [
        "registered",
        "photo 1 added, age 6.0 y",
        "sighting 1 queued as match 1: strong",
        "seen 2024-03-02 at market",
        "match 1 confirmed by wang",
        "note by wang: =HYPERLINK",
        "status -> found by li: Family met him",
    ];
    let mut at = 0;
    for words in order {
        let pos = shown[at..]
            .find(words)
            .unwrap_or_else(|| panic!("{words:?} missing or out of order in:\n{shown}"));
        at += pos;
    }
    let j: Value =
        serde_json::from_str(ok(&["case", "show", "--case", "1", "--db", d, "--json"]).trim())
            .unwrap();
    assert_eq!(j["status"], "found");
    let events = j["events"].as_array().unwrap();
    assert_eq!(events.first().unwrap()["event"], "registered");
    assert_eq!(events.last().unwrap()["why"], "Family met him");

    // CSV exports: a BOM for spreadsheets, the events, a defused formula.
    let case_csv = tmp.path().join("case.csv");
    ok(&[
        "case",
        "export",
        "--case",
        "1",
        "--out",
        path(&case_csv),
        "--db",
        d,
    ]);
    let csv = std::fs::read_to_string(&case_csv).unwrap();
    assert!(csv.starts_with('\u{feff}'), "no BOM");
    assert_eq!(csv.lines().count(), 1 + events.len(), "{csv}");
    assert!(csv.contains(CHILD) && csv.contains(",note,wang,"), "{csv}");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"x\"\")\""),
        "formula not defused: {csv}"
    );
    let queue_csv = tmp.path().join("queue.csv");
    ok(&[
        "review",
        "list",
        "--state",
        "all",
        "--csv",
        path(&queue_csv),
        "--db",
        d,
    ]);
    let q = std::fs::read_to_string(&queue_csv).unwrap();
    assert_eq!(q.lines().count(), 2, "{q}");
    assert!(
        q.contains(",strong,") && q.contains(",confirmed,wang,"),
        "{q}"
    );
}
