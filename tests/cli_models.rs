//! End to end (issue 16): a registry made with dlib alone, SFace added
//! later with its re-embedding job stopped halfway and resumed, and the
//! registered child found with each model and with their fusion, each
//! candidate naming the model(s) behind its score.
//!
//! The fixtures show adults standing in for registered children; commands
//! that read faces run with `--upsample 0` to keep the suite quick.

#[allow(dead_code)]
mod common;

use std::path::Path;

use common::cli::{ok, run};
use common::fixtures::{fixture_path, path};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// The top candidate of a search, as (case id, models behind its score).
fn top(db: &str, photo: &Path, model: &str) -> (u64, String) {
    let r = json(&[
        "search",
        path(photo),
        "--db",
        db,
        "--json",
        "--upsample",
        "0",
        "--model",
        model,
    ]);
    let c = &r["candidates"][0];
    (
        c["case_id"].as_u64().expect("a candidate"),
        c["why"]["models"]
            .as_str()
            .expect("models named")
            .to_string(),
    )
}

#[test]
fn a_second_model_is_added_re_embedded_and_searched_with_each_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reg");
    let db = path(&db);
    ok(&["init", "--db", db, "--models", "dlib"]);
    let listed = json(&["models", "list", "--db", db, "--json"]);
    assert_eq!(listed["models"].as_array().map(Vec::len), Some(0));

    let add = |name: &str, photo: &str| {
        ok(&[
            "case",
            "add",
            "--db",
            db,
            "--name",
            name,
            "--photo",
            path(&fixture_path(photo)),
            "--born",
            "2010-01-01",
            "--missing-date",
            "2016-01-01",
            "--upsample",
            "0",
        ]);
    };
    add("Obama stand-in", "obama.jpg");
    add("Biden stand-in", "biden.jpg");
    add("Hopper stand-in", "grace_hopper.jpg");

    // dlib alone: found, and every score says so. Asking for the fusion
    // before SFace is added falls back to dlib, pair by pair.
    let seen = fixture_path("obama2.jpg");
    let (dlib_case, by) = top(db, &seen, "dlib");
    assert_eq!(by, "dlib");
    let (case, by) = top(db, &seen, "fusion");
    assert_eq!((case, by.as_str()), (dlib_case, "dlib"));

    // Add SFace, stopping after one face: the job is resumable.
    let first = json(&[
        "models", "add", "sface", "--db", db, "--json", "--limit", "1",
    ]);
    assert_eq!(first["embedded"], 1);
    assert_eq!(first["left"], 2);
    let (case, by) = top(db, &seen, "fusion");
    assert_eq!(case, dlib_case, "the search works while the job is halfway");
    assert!(by == "dlib" || by == "dlib+sface", "{by}");
    let rest = json(&[
        "models", "add", "sface", "--db", db, "--json", "--batch", "1",
    ]);
    assert_eq!(
        (rest["embedded"].as_u64(), rest["left"].as_u64()),
        (Some(2), Some(0))
    );
    let listed = json(&["models", "list", "--db", db, "--json"]);
    let sface = &listed["models"][0];
    assert_eq!(sface["name"], "sface");
    assert_eq!(sface["case_faces"], sface["case_faces_with_vector"]);

    // Each model, and the fusion, finds the child and names itself.
    assert_eq!(top(db, &seen, "sface"), (dlib_case, "sface".to_string()));
    assert_eq!(
        top(db, &seen, "fusion"),
        (dlib_case, "dlib+sface".to_string())
    );
    assert_eq!(top(db, &seen, "dlib"), (dlib_case, "dlib".to_string()));

    // A sighting recorded now stores its SFace vector with it.
    ok(&[
        "sighting",
        "add",
        path(&fixture_path("obama3.jpg")),
        "--db",
        db,
        "--when",
        "2020-05-01",
        "--upsample",
        "0",
    ]);
    let listed = json(&["models", "list", "--db", db, "--json"]);
    assert_eq!(listed["models"][0]["sighting_faces"], 1);
    assert_eq!(listed["models"][0]["sighting_faces_with_vector"], 1);

    // Adding it again changes nothing; an unknown model is a clear error.
    let again = json(&["models", "add", "sface", "--db", db, "--json"]);
    assert_eq!(
        (again["embedded"].as_u64(), again["left"].as_u64()),
        (Some(0), Some(0))
    );
    let out = run(&["models", "add", "arcface", "--db", db]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("arcface") && err.contains("sface"), "{err}");
}

#[test]
fn a_new_registry_ranks_with_both_models_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reg");
    let db = path(&db);
    let made = json(&["init", "--db", db, "--json"]);
    assert_eq!(made["models"], serde_json::json!(["dlib", "sface"]));
    ok(&[
        "case",
        "add",
        "--db",
        db,
        "--name",
        "Obama stand-in",
        "--photo",
        path(&fixture_path("obama.jpg")),
        "--upsample",
        "0",
    ]);
    let listed = json(&["models", "list", "--db", db, "--json"]);
    assert_eq!(listed["models"][0]["case_faces_with_vector"], 1);
    let (_, by) = top(db, &fixture_path("obama2.jpg"), "fusion");
    assert_eq!(by, "dlib+sface");
    let out = run(&["init", "--db", &format!("{db}-2"), "--models", "sface"]);
    assert!(!out.status.success(), "dlib is required");
}
