//! What only [`PgReader`] has to show (its reads are checked by the store
//! conformance suite, `store_contract.rs`): it reads a read-only database
//! (as a hot standby is), refuses a database that is not a registry of
//! this build's schema without creating anything, says when its
//! connection is gone, and serves several threads as boxed
//! `ReadStore`s.
//!
//! Each test makes its own database on a throwaway cluster; without
//! PostgreSQL installed they pass as skipped (and say so) unless
//! `HOMEWARD_REQUIRE_PG=1`.

use homeward_core::store::{
    FaceRecord, NewCase, NewSighting, PhotoMeta, ReadStore, SightingExtras, Store, StoreError,
};
use homeward_pg::cluster::TestDb;
use homeward_pg::{PgError, PgReader, PgStore, SCHEMA_VERSION};

fn face(x: f32) -> FaceRecord {
    let mut embedding = [0f32; 128];
    embedding[0] = x;
    FaceRecord {
        bbox: [1.0, 2.0, 30.0, 40.0],
        landmarks: [[1.0, 1.5]; 5],
        embedding,
        chip_hash: None,
        model: "test-model".into(),
        vectors: Vec::new(),
    }
}

fn case(name: &str) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex: homeward_core::store::Sex::Male,
        birth_date: None,
        birth_year: Some(2014),
        missing_date: Some("2021-09-01".into()),
        missing_place: "Marseille".into(),
        missing_location: None,
        status: homeward_core::store::CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

/// A database where every transaction is read-only (as on a hot standby):
/// every read works, the review item's transaction included.
#[test]
fn a_reader_reads_a_read_only_database() {
    let Some(db) = TestDb::new_or_skip("reader_read_only") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, m) = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        let a = s.add_case("t", &case("Noé")).unwrap();
        s.add_photo("t", a, b"p", &PhotoMeta::default(), &[face(0.5)])
            .unwrap();
        let extras = SightingExtras {
            matches: vec![homeward_core::store::NewMatch {
                case_id: a,
                sighting_face: 0,
                origin: homeward_core::store::MatchOrigin::Sighting,
                rank_key: 0.1,
                scores_json: "{}".into(),
            }],
            batch_item: Some(("run".into(), "1.jpg".into())),
            ..SightingExtras::default()
        };
        let (_, _, ms) = s
            .record_sighting("t", b"seen", &NewSighting::default(), &[face(0.4)], &extras)
            .unwrap();
        (a, ms[0])
    };
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        db.name()
    ))
    .unwrap();
    let r = PgReader::connect(&db.url()).unwrap();
    assert_eq!(r.case_summaries().unwrap()[0].child_name, "Noé");
    let item = r.review_item(m).unwrap();
    assert_eq!((item.case.id, item.photos.len()), (a, 1));
    assert_eq!(r.review_queue(false).unwrap().len(), 1);
    assert_eq!(r.batch_status("run").unwrap().unwrap().pending_matches, 1);
    assert!(!r.is_closed());
}

/// A reader never creates or migrates: an empty or foreign database is not
/// a registry, an older schema must be migrated by a writer first, a newer
/// one needs a newer build; no message shows the password.
#[test]
fn a_reader_refuses_what_is_not_this_builds_registry_and_creates_nothing() {
    let Some(db) = TestDb::new_or_skip("reader_refuses") else {
        return;
    };
    let err = PgReader::connect(&db.url()).unwrap_err();
    assert!(matches!(err, PgError::NotARegistry { .. }), "{err}");
    assert!(!homeward_pg::registry_exists(&db.url()).unwrap());

    let dir = tempfile::tempdir().unwrap();
    drop(PgStore::connect(&db.url(), dir.path()).unwrap());
    let mut c = db.cluster().client(db.name()).unwrap();
    c.execute(
        "UPDATE homeward_schema SET version = $1",
        &[&(SCHEMA_VERSION - 1)],
    )
    .unwrap();
    let err = PgReader::connect(&db.url()).unwrap_err();
    assert!(
        matches!(err, PgError::NotMigrated { found, .. } if found == SCHEMA_VERSION - 1),
        "{err}"
    );
    assert!(err.to_string().contains("migrate"), "{err}");
    c.execute(
        "UPDATE homeward_schema SET version = $1",
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let err = PgReader::connect(&db.url()).unwrap_err();
    assert!(matches!(err, PgError::TooNew { .. }), "{err}");
    assert!(!err.to_string().contains(db.cluster().password()), "{err}");
    let version: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION + 1, "a reader changes nothing");
    assert!(matches!(
        PgReader::connect("postgres://u:pw@host:notaport/db"),
        Err(PgError::BadUrl { .. })
    ));
}

/// A reader whose connection the server ended says so ([`PgReader::is_closed`])
/// and its reads fail as database errors, so a pool can replace it.
#[test]
fn a_reader_whose_connection_ended_says_so() {
    let Some(db) = TestDb::new_or_skip("reader_closed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let r = s.reader().unwrap();
    drop(s);
    assert!(r.case_summaries().unwrap().is_empty());
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    ))
    .unwrap();
    let err = r.case_summaries().unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert!(r.is_closed());
}

/// Readers boxed as `ReadStore + Send` read from several threads while the
/// store writes.
#[test]
fn boxed_readers_serve_several_threads() {
    let Some(db) = TestDb::new_or_skip("reader_threads") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let readers: Vec<Box<dyn ReadStore + Send>> = (0..3)
        .map(|_| Box::new(s.reader().unwrap()) as Box<dyn ReadStore + Send>)
        .collect();
    let a = s.add_case("t", &case("A")).unwrap();
    let handles: Vec<_> = readers
        .into_iter()
        .map(|r| std::thread::spawn(move || r.case_summary(a).map(|c| c.id)))
        .collect();
    s.add_case("t", &case("B")).unwrap();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), a);
    }
}
