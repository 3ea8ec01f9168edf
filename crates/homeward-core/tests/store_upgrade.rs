//! An older registry opens and upgrades with nothing lost; sighting notes
//! move from the accounts store into the registry, once.

use homeward_core::store::{
    Accounts, CaseStatus, FaceRecord, NewCase, NewSighting, PhotoMeta, Registry, Sex,
    SCHEMA_VERSION,
};

fn face() -> FaceRecord {
    FaceRecord {
        bbox: [0.0, 0.0, 10.0, 10.0],
        landmarks: [[1.0, 1.0]; 5],
        embedding: [0.1; 128],
        chip_hash: None,
        model: "test-model".into(),
        vectors: Vec::new(),
    }
}

#[test]
fn a_version_3_registry_upgrades_and_takes_over_the_notes() {
    let dir = tempfile::tempdir().unwrap();
    let (case, sighting, gone) = {
        let mut reg = Registry::open(dir.path()).unwrap();
        let case = reg
            .add_case(
                "t",
                &NewCase {
                    child_name: "Ana".into(),
                    sex: Sex::Female,
                    birth_date: None,
                    birth_year: Some(2015),
                    missing_date: None,
                    missing_place: "Lyon".into(),
                    missing_location: None,
                    status: CaseStatus::Searching,
                    contact_ref: None,
                    notes: None,
                },
            )
            .unwrap();
        reg.add_photo("t", case, b"photo", &PhotoMeta::default(), &[face()])
            .unwrap();
        let seen = NewSighting {
            place: Some("market".into()),
            ..NewSighting::default()
        };
        let (s, _) = reg.add_sighting("t", b"seen", &seen, &[face()]).unwrap();
        let (gone, _) = reg
            .add_sighting("t", b"seen2", &NewSighting::default(), &[face()])
            .unwrap();
        reg.close().unwrap();
        (case, s, gone)
    };
    // Make it the version-3 layout: no note column, no model slot.
    let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute_batch(
        "ALTER TABLE sightings DROP COLUMN note;
         DROP TABLE face_vectors; DROP TABLE sighting_face_vectors; DROP TABLE models;
         DROP TABLE case_events; DROP TABLE review_marks; ALTER TABLE matches DROP COLUMN assignee;
         DELETE FROM registry_meta WHERE key = 'models_chosen';
         DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);
    // Notes as the version-3 server kept them, one of a sighting since erased.
    {
        let accounts = Accounts::open(dir.path()).unwrap();
        accounts
            .put_legacy_sighting_note(sighting, "with an adult")
            .unwrap();
        accounts.put_legacy_sighting_note(999, "orphan").unwrap();
    }
    let mut reg = Registry::open(dir.path()).unwrap();
    let v: i64 = rusqlite::Connection::open(dir.path().join("registry.sqlite"))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    assert_eq!(reg.case(case).unwrap().data.child_name, "Ana");
    // An upgraded registry has made no choice of models yet.
    assert!(reg.models().is_empty());
    assert!(!reg.models_chosen().unwrap());
    assert_eq!(reg.reads().case_photos(case).unwrap().len(), 1);
    let s = reg.reads().sighting_summary(sighting).unwrap();
    assert_eq!(
        (s.place.as_deref(), s.note.as_deref(), s.faces),
        (Some("market"), None, 1)
    );
    assert!(reg.reads().sighting_summary(gone).is_ok());

    let mut accounts = Accounts::open(dir.path()).unwrap();
    let notes = accounts.legacy_sighting_notes().unwrap();
    let moved = reg.adopt_sighting_notes("system", &notes).unwrap();
    accounts.forget_legacy_sighting_notes(&moved).unwrap();
    assert_eq!(
        reg.reads()
            .sighting_summary(sighting)
            .unwrap()
            .note
            .as_deref(),
        Some("with an adult")
    );
    assert!(accounts.legacy_sighting_notes().unwrap().is_empty());
    // Again (a crash between the two steps): the registry's note is kept.
    reg.set_sighting_note("t", sighting, Some("edited"))
        .unwrap();
    reg.adopt_sighting_notes("system", &[(sighting, "with an adult".into())])
        .unwrap();
    assert_eq!(
        reg.reads()
            .sighting_summary(sighting)
            .unwrap()
            .note
            .as_deref(),
        Some("edited")
    );
    // A reader on its own connection sees what was committed.
    let reader = reg.reader().unwrap();
    assert_eq!(reader.reads().sighting_summaries(10).unwrap().len(), 2);
}

/// Records a sighting with one match beside a new case in `band`.
fn queue_match(reg: &mut Registry, bytes: &[u8], band: &str) -> u64 {
    use homeward_core::store::{MatchOrigin, NewMatch, SightingExtras};
    let case = reg
        .add_case(
            "t",
            &NewCase {
                child_name: "Ana".into(),
                sex: Sex::Female,
                birth_date: None,
                birth_year: Some(2015),
                missing_date: None,
                missing_place: "Lyon".into(),
                missing_location: None,
                status: CaseStatus::Searching,
                contact_ref: None,
                notes: None,
            },
        )
        .unwrap();
    let extras = SightingExtras {
        matches: vec![NewMatch {
            case_id: case,
            sighting_face: 0,
            origin: MatchOrigin::Sighting,
            rank_key: 0.01,
            scores_json: format!(r#"{{"case_id":{case},"band":"{band}"}}"#),
        }],
        ..SightingExtras::default()
    };
    let (_, _, m) = reg
        .record_sighting("t", bytes, &NewSighting::default(), &[face()], &extras)
        .unwrap();
    m[0]
}

#[test]
fn a_version_6_registry_gets_the_outbox_and_owes_nothing_for_its_old_matches() {
    use homeward_core::store::{Outbox, OwedQuery, SqliteOutbox};
    let dir = tempfile::tempdir().unwrap();
    let old = {
        let mut reg = Registry::open(dir.path()).unwrap();
        let m = queue_match(&mut reg, b"seen", "strong");
        reg.close().unwrap();
        m
    };
    // Back to version 6: no outbox.
    let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute_batch(
        "DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    let mut reg = Registry::open(dir.path()).unwrap();
    let floor: i64 = rusqlite::Connection::open(dir.path().join("registry.sqlite"))
        .unwrap()
        .query_row(
            "SELECT value FROM registry_meta WHERE key = 'notify_floor'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(floor, old as i64);
    let new = queue_match(&mut reg, b"seen again", "possible");
    let weak = queue_match(&mut reg, b"seen once more", "weak");
    let mut a = SqliteOutbox::open(dir.path()).unwrap();
    let mut b = SqliteOutbox::open(dir.path()).unwrap();
    let q = OwedQuery {
        channel: "webhook",
        bands: &["strong", "possible"],
        since: 0,
        lease_s: 60,
        limit: 10,
    };
    let now = 2_000_000_000;
    // Only the match queued after the upgrade is owed; one claimer gets it.
    let got = a.claim(&q, now).unwrap();
    assert_eq!(got.iter().map(|m| m.match_id).collect::<Vec<_>>(), [new]);
    assert_eq!(got[0].band, "possible");
    assert!(b.claim(&q, now).unwrap().is_empty(), "leased");
    assert!(!got.iter().any(|m| m.match_id == weak || m.match_id == old));
    // A failed attempt is due again later, then delivered once for good.
    a.retry_at(new, "webhook", now + 30).unwrap();
    assert!(b.claim(&q, now + 10).unwrap().is_empty(), "not due yet");
    let again = b.claim(&q, now + 30).unwrap();
    assert_eq!((again[0].match_id, again[0].attempts), (new, 1));
    b.delivered(new, "webhook", now + 31).unwrap();
    assert!(a.claim(&q, now + 10_000).unwrap().is_empty());
    // The email channel still owes it.
    let email = OwedQuery {
        channel: "email",
        ..q.clone()
    };
    assert_eq!(a.claim(&email, now).unwrap().len(), 1);
    // Too old: given up, once.
    let late = OwedQuery {
        channel: "other",
        since: now,
        ..q
    };
    assert_eq!(a.expire(&late, now).unwrap(), [new]);
    assert!(a.expire(&late, now).unwrap().is_empty());
}
