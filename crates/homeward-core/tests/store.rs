//! Registry store tests: the record round trip, erasure leaving no trace,
//! the append-only audit log, refusing foreign or newer files, export and
//! import, recovery, and crash safety under SIGKILL.

#[path = "support/synth.rs"]
mod synth;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    CaseStatus, FaceRecord, IndexOrigin, MatchState, NewCase, NewSighting, PhotoMeta, Registry,
    Sex, StoreError,
};
use synth::{FaceSynth, Rng};

/// Photos shown per case (a policy of the matching library; any value works here).
const PER_CASE: usize = 3;

fn case(name: &str, sex: Sex, year: i32) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex,
        birth_date: Some(format!("{year}-03-14")),
        birth_year: None,
        missing_date: Some("2023-06-01".into()),
        missing_place: "Gare de Lyon, Paris".into(),
        missing_location: Some((48.844, 2.374)),
        status: CaseStatus::Searching,
        contact_ref: Some("contact-ref-987".into()),
        notes: Some("secret-note-123".into()),
    }
}

fn face(embedding: [f32; 128], chip: Option<[u8; 32]>) -> FaceRecord {
    FaceRecord {
        bbox: [10.0, 12.0, 90.0, 100.0],
        landmarks: [
            [30.0, 40.0],
            [60.0, 40.0],
            [45.0, 55.0],
            [35.0, 70.0],
            [55.0, 70.0],
        ],
        embedding,
        chip_hash: chip,
        model: "dlib_face_recognition_resnet_model_v1".into(),
        vectors: Vec::new(),
    }
}

/// All bytes of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    all_bytes(dir)
        .into_iter()
        .filter(|(_, b)| contains(b, needle))
        .map(|(p, _)| p)
        .collect()
}

// ---- the record round trip ----

#[test]
fn cases_photos_sightings_and_matches_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(1);
    let synth = FaceSynth::new(&mut rng);
    let mut reg = Registry::open(dir.path()).unwrap();
    let a = synth.identity(&mut rng);
    let b = synth.identity(&mut rng);
    let ca = reg
        .add_case("worker-1", &case("Alice Example", Sex::Female, 2014))
        .unwrap();
    let cb = reg
        .add_case("worker-1", &case("Bob Example", Sex::Male, 2012))
        .unwrap();
    assert_eq!(reg.case(ca).unwrap().data.birth_year, Some(2014));
    let meta = PhotoMeta {
        age_months: Some(96),
        taken_date: Some("2022-01-01".into()),
        source: Some("family".into()),
    };
    let (pa, fa) = reg
        .add_photo(
            "worker-1",
            ca,
            b"photo-a-1",
            &meta,
            &[face(synth.photo(&a, &mut rng), None)],
        )
        .unwrap();
    reg.add_photo(
        "worker-1",
        ca,
        b"photo-a-2",
        &meta,
        &[face(synth.photo(&a, &mut rng), Some([7; 32]))],
    )
    .unwrap();
    reg.add_photo(
        "worker-1",
        cb,
        b"photo-b-1",
        &meta,
        &[face(synth.photo(&b, &mut rng), None)],
    )
    .unwrap();
    assert_eq!(fa.len(), 1);
    let (case_of, h) = reg.photo(pa).unwrap();
    assert_eq!(case_of, ca);
    assert_eq!(std::fs::read(reg.photo_path(&h)).unwrap(), b"photo-a-1");

    // A sighting of Alice ranks her case first, with both her photos.
    let q = synth.photo(&a, &mut rng);
    let (s, _) = reg
        .add_sighting(
            "public-7",
            b"street photo",
            &NewSighting {
                place: Some("Lille".into()),
                ..Default::default()
            },
            &[face(q, None)],
        )
        .unwrap();
    let hits = reg
        .search_with(&q, &SearchFilter::default(), 2, PER_CASE)
        .unwrap();
    assert_eq!(hits[0].case_id, ca);
    assert_eq!(hits[0].photos.len(), 2);
    assert!(hits[0].distance < 0.6 && hits[1].distance > 0.6);
    // Filters: male only excludes Alice.
    let male = SearchFilter {
        sex: Some(Sex::Male),
        ..Default::default()
    };
    assert_eq!(
        reg.search_with(&q, &male, 2, PER_CASE)
            .unwrap()
            .iter()
            .map(|h| h.case_id)
            .collect::<Vec<_>>(),
        vec![cb]
    );
    // Status changes reach the index without a rebuild.
    reg.set_case_status("worker-1", ca, CaseStatus::Found, None)
        .unwrap();
    let searching = SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..Default::default()
    };
    assert!(reg
        .search_with(&q, &searching, 5, PER_CASE)
        .unwrap()
        .iter()
        .all(|h| h.case_id != ca));

    let m = reg
        .add_match("engine", s, ca, &[("embedding_distance", 0.41)])
        .unwrap();
    assert_eq!(reg.match_state(m).unwrap(), MatchState::Pending);
    reg.review_match("reviewer-2", m, MatchState::Confirmed, Some("same child"))
        .unwrap();
    assert_eq!(reg.match_state(m).unwrap(), MatchState::Confirmed);
    assert!(matches!(
        reg.add_match("engine", 999, ca, &[]),
        Err(StoreError::Invalid { .. })
    ));

    let log = reg.audit_log().unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "add_photo").count(), 3);
    assert!(actions.contains(&"review:confirmed"));
    assert!(log.iter().all(|e| !e.target.contains("Alice")));
    assert!(reg.verify().unwrap().is_empty());
}

#[test]
fn invalid_input_is_refused_without_writing_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    let c = reg.add_case("w", &case("C", Sex::Unknown, 2015)).unwrap();
    let mut bad = face([0.1; 128], None);
    bad.embedding[3] = f32::NAN;
    assert!(matches!(
        reg.add_photo("w", c, b"x", &PhotoMeta::default(), &[bad]),
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        reg.add_photo(
            "w",
            4242,
            b"y",
            &PhotoMeta::default(),
            &[face([0.1; 128], None)]
        ),
        Err(StoreError::NotFound {
            what: "case",
            id: 4242
        })
    ));
    assert!(all_bytes(&dir.path().join("photos")).is_empty());
}

// ---- audit log ----

#[test]
fn audit_log_rejects_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    reg.add_case("w", &case("C", Sex::Unknown, 2015)).unwrap();
    let err = reg.try_tamper_audit(1).unwrap_err();
    assert!(matches!(err, StoreError::AuditAppendOnly(_)), "{err}");
    // Also through a separate connection, straight at the table.
    let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    assert!(conn.execute("DELETE FROM audit_log", []).is_err());
    assert!(conn
        .execute("UPDATE audit_log SET actor = 'x'", [])
        .is_err());
    drop(conn);
    assert_eq!(reg.audit_log().unwrap()[0].actor, "w");
}

// ---- erasure ----

#[test]
fn erase_case_leaves_no_trace_anywhere_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(2);
    let synth = FaceSynth::new(&mut rng);
    let mut reg = Registry::open(dir.path()).unwrap();
    let keep = reg
        .add_case("w", &case("Keeper Child", Sex::Male, 2010))
        .unwrap();
    let kc = synth.identity(&mut rng);
    reg.add_photo(
        "w",
        keep,
        b"keeper photo bytes",
        &PhotoMeta::default(),
        &[face(synth.photo(&kc, &mut rng), None)],
    )
    .unwrap();

    let name = "Zyxwvut Qpmlkj";
    let gone = reg.add_case("w", &case(name, Sex::Female, 2016)).unwrap();
    let gc = synth.identity(&mut rng);
    let chip = [0xA5u8; 32];
    let photo_bytes = b"ERASE-ME-PHOTO-BYTES-0123456789".to_vec();
    let emb = synth.photo(&gc, &mut rng);
    let (pid, fids) = reg
        .add_photo(
            "w",
            gone,
            &photo_bytes,
            &PhotoMeta::default(),
            &[face(emb, Some(chip))],
        )
        .unwrap();
    let (_, sha) = reg.photo(pid).unwrap();
    reg.save_index().unwrap();
    reg.add_sighting(
        "public",
        b"sighting bytes",
        &NewSighting::default(),
        &[face(synth.photo(&gc, &mut rng), None)],
    )
    .unwrap();

    let emb_bytes: Vec<u8> = emb.iter().flat_map(|x| x.to_le_bytes()).collect();
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("name", name.as_bytes().to_vec()),
        ("photo bytes", photo_bytes.clone()),
        ("photo hash", sha.to_vec()),
        ("chip hash", chip.to_vec()),
        ("embedding", emb_bytes[..64].to_vec()),
    ];
    // The scan does see them before erasure (db, photo file, index snapshot).
    assert!(!files_holding(dir.path(), &emb_bytes[..64]).is_empty());
    assert!(!files_holding(&dir.path().join("index"), &emb_bytes[..64]).is_empty());
    assert!(!files_holding(dir.path(), &photo_bytes).is_empty());

    reg.erase_case("case-worker-9", gone).unwrap();

    assert!(matches!(reg.case(gone), Err(StoreError::NotFound { .. })));
    assert!(!reg.photo_path(&sha).exists());
    for f in &fids {
        assert!(reg.index().meta(*f).is_none());
        assert!(!reg.index().graph().contains(*f));
    }
    assert!(reg
        .search_with(&emb, &SearchFilter::default(), 10, PER_CASE)
        .unwrap()
        .iter()
        .all(|h| h.case_id != gone));
    let last = reg.audit_log().unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.target.as_str()),
        ("erase_case", format!("case:{gone}").as_str())
    );
    for (what, needle) in &needles {
        let left = files_holding(dir.path(), needle);
        assert!(left.is_empty(), "{what} still on disk in {left:?}");
    }
    // The other case is intact and the registry sound, also after reopening.
    assert_eq!(
        reg.search_with(&kc, &SearchFilter::default(), 1, PER_CASE)
            .unwrap()[0]
            .case_id,
        keep
    );
    assert!(reg.verify().unwrap().is_empty());
    reg.close().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.index().len(), 1);
    for (what, needle) in &needles {
        assert!(
            files_holding(dir.path(), needle).is_empty(),
            "{what} back on disk after reopen"
        );
    }
}

// ---- versioned formats ----

#[test]
fn foreign_and_newer_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("registry.sqlite"),
        b"this is a text file, not a database at all",
    )
    .unwrap();
    let err = Registry::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotARegistry { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER); PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);
    let err = Registry::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotARegistry { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    Registry::open(dir.path()).unwrap().close().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(conn);
    let err = Registry::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                supported: homeward_core::store::SCHEMA_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"));
}

#[test]
fn second_open_is_refused_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _reg = Registry::open(dir.path()).unwrap();
    let err = Registry::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // The message names the holder (here, this very process) and what to do.
    let said = err.to_string();
    assert!(
        said.contains(&format!("process {} (", std::process::id())),
        "{said}"
    );
    assert!(said.contains("homeward serve"), "{said}");
}

// ---- export / import ----

#[test]
fn export_then_import_restores_everything_and_bad_exports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(3);
    let synth = FaceSynth::new(&mut rng);
    let mut reg = Registry::open(dir.path().join("a")).unwrap();
    let c = reg
        .add_case("w", &case("Export Child", Sex::Female, 2013))
        .unwrap();
    let id = synth.identity(&mut rng);
    reg.add_photo(
        "w",
        c,
        b"exported photo",
        &PhotoMeta::default(),
        &[face(synth.photo(&id, &mut rng), None)],
    )
    .unwrap();
    let out = dir.path().join("export");
    reg.export("admin", &out).unwrap();

    let imported = Registry::import("admin", &out, dir.path().join("b")).unwrap();
    assert_eq!(imported.case(c).unwrap().data.child_name, "Export Child");
    assert_eq!(
        imported
            .search_with(&id, &SearchFilter::default(), 1, PER_CASE)
            .unwrap()[0]
            .case_id,
        c
    );
    assert!(imported.verify().unwrap().is_empty());
    assert_eq!(
        imported.audit_log().unwrap().last().unwrap().action,
        "import"
    );

    // Not empty destination.
    assert!(matches!(
        Registry::import("admin", &out, dir.path().join("b")),
        Err(StoreError::Invalid { .. })
    ));
    // Unknown export version.
    let manifest = out.join("export.json");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, good.replace("\"version\":1", "\"version\":7")).unwrap();
    let err = Registry::import("admin", &out, dir.path().join("c")).unwrap_err();
    assert!(
        matches!(err, StoreError::BadExport { .. }) && err.to_string().contains("version 7"),
        "{err}"
    );
    std::fs::write(&manifest, &good).unwrap();
    // Tampered photo.
    let (p, mut bytes) = all_bytes(&out.join("photos")).pop().unwrap();
    bytes[0] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let err = Registry::import("admin", &out, dir.path().join("d")).unwrap_err();
    assert!(matches!(err, StoreError::BadExport { .. }), "{err}");
}

// ---- recovery and the index snapshot ----

#[test]
fn reopen_reuses_snapshot_adds_newer_faces_and_rebuilds_when_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(4);
    let synth = FaceSynth::new(&mut rng);
    let mut reg = Registry::open(dir.path()).unwrap();
    let c = reg
        .add_case("w", &case("Snap Child", Sex::Female, 2013))
        .unwrap();
    let id = synth.identity(&mut rng);
    for i in 0..20u8 {
        reg.add_photo(
            "w",
            c,
            &[i, 1, 2, 3],
            &PhotoMeta::default(),
            &[face(synth.photo(&id, &mut rng), None)],
        )
        .unwrap();
    }
    reg.close().unwrap();

    let mut reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.index_origin(), &IndexOrigin::Snapshot { added: 0 });
    for i in 20..25u8 {
        reg.add_photo(
            "w",
            c,
            &[i, 1, 2, 3],
            &PhotoMeta::default(),
            &[face(synth.photo(&id, &mut rng), None)],
        )
        .unwrap();
    }
    drop(reg); // no clean close: snapshot is behind by 5 faces

    // Plant an orphan photo file and a half-written temp file.
    let orphan = dir.path().join("photos").join("ff").join("f".repeat(62));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"orphan").unwrap();
    std::fs::write(dir.path().join("tmp").join("partial"), b"half").unwrap();

    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.index_origin(), &IndexOrigin::Snapshot { added: 5 });
    assert_eq!(reg.index().len(), 25);
    assert_eq!(reg.orphans_removed(), 1);
    assert!(!orphan.exists());
    assert!(std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
    reg.close().unwrap();

    // Corrupt the snapshot's graph file: the index is rebuilt from the store.
    let snap = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let g = snap.join("faces.hnsw.graph");
    let mut bytes = std::fs::read(&g).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    std::fs::write(&g, bytes).unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    match reg.index_origin() {
        IndexOrigin::Rebuilt { reason } => assert!(reason.contains("corrupt"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
    assert_eq!(reg.index().len(), 25);
}

// ---- crash safety under SIGKILL ----

const CRASH_ENV: &str = "HOMEWARD_TEST_CRASH_DIR";

/// Ingests `rounds` cases (each with two photos, every 6th case erased again,
/// a snapshot every 5th), printing a line after each commit returns.
fn ingest(dir: &Path, rounds: usize, seed: u64) {
    let mut rng = Rng(seed);
    let synth = FaceSynth::new(&mut Rng(77));
    let mut reg = Registry::open(dir).unwrap();
    let mut cases = Vec::new();
    for i in 0..rounds {
        let c = reg
            .add_case("writer", &case("Crash Child", Sex::Female, 2012))
            .unwrap();
        cases.push(c);
        let centre = synth.identity(&mut rng);
        for k in 0..2u64 {
            let bytes = format!("photo {seed} {i} {k} {}", rng.next_u64()).into_bytes();
            let (p, _) = reg
                .add_photo(
                    "writer",
                    c,
                    &bytes,
                    &PhotoMeta::default(),
                    &[face(synth.photo(&centre, &mut rng), None)],
                )
                .unwrap();
            println!(
                "P {p} {c} {}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
        if i % 6 == 5 {
            let victim = cases.remove(rng.below(cases.len() as u64) as usize);
            reg.erase_case("writer", victim).unwrap();
            println!("E {victim}");
        }
        if i % 5 == 4 {
            reg.save_index().unwrap();
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Checks what a (possibly killed) writer reported against the registry.
fn check_after(dir: &Path, photos: &[(u64, u64, Vec<u8>)], erased: &HashSet<u64>) {
    let reg = Registry::open(dir).unwrap();
    assert_eq!(reg.verify().unwrap(), Vec::<String>::new());
    let audited_erasures: HashSet<String> = reg
        .audit_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "erase_case")
        .map(|e| e.target)
        .collect();
    for (p, c, bytes) in photos {
        match reg.photo(*p) {
            Ok((case, h)) => {
                assert!(!erased.contains(&case));
                assert_eq!(&std::fs::read(reg.photo_path(&h)).unwrap(), bytes);
            }
            Err(StoreError::NotFound { .. }) => {
                // Only photos of erased cases may be gone (the writer may have
                // been killed after the erasure committed, before reporting it).
                assert!(
                    audited_erasures.contains(&format!("case:{c}")),
                    "committed photo {p} lost"
                );
                assert!(matches!(reg.case(*c), Err(StoreError::NotFound { .. })));
            }
            Err(e) => panic!("{e}"),
        }
    }
    for c in erased {
        assert!(
            matches!(reg.case(*c), Err(StoreError::NotFound { .. })),
            "erased case {c} is back"
        );
    }
    // No orphans: every photo file is referenced by a row.
    let conn = rusqlite::Connection::open(dir.join("registry.sqlite")).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT sha256 FROM photos UNION SELECT sha256 FROM sightings)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(all_bytes(&dir.join("photos")).len() as i64, rows);
    let faces: i64 = conn
        .query_row("SELECT count(*) FROM faces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reg.index().len() as i64, faces);
}

#[test]
fn ingest_worker() {
    if let Some(dir) = std::env::var_os(CRASH_ENV) {
        // Child mode for `sigkill_during_ingest_loses_nothing_committed`:
        // write until killed.
        let seed: u64 = std::env::var("HOMEWARD_TEST_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        ingest(Path::new(&dir), usize::MAX, seed);
        return;
    }
    // Stand-alone: a bounded ingest must leave a sound registry.
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), 12, 5);
    check_after(dir.path(), &[], &HashSet::new());
    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.index().len(), 2 * (12 - 2));
}

#[test]
fn sigkill_during_ingest_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0xC0FFEE);
    let mut photos: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let mut erased = HashSet::new();
    let mut kills = 0;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "ingest_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, dir.path())
            .env("HOMEWARD_TEST_CRASH_SEED", (round + 100).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 + rng.below(220)));
        if child.kill().is_ok() {
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("P"), Some(id), Some(case), Some(hex)) => {
                    photos.push((id.parse().unwrap(), case.parse().unwrap(), unhex(hex)))
                }
                (Some("E"), Some(id), None, None) => {
                    erased.insert(id.parse().unwrap());
                }
                _ => {}
            }
        }
        check_after(dir.path(), &photos, &erased);
    }
    assert!(kills >= 10, "only {kills} writers were killed");
    assert!(
        photos.len() >= 12,
        "writers committed too little ({}) to test anything",
        photos.len()
    );
}
