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
