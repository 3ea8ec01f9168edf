//! What only the PostgreSQL store has to show: reopening (migrations run
//! once, the index is rebuilt from the rows, orphan files are removed), the
//! one-writer lock, refusing foreign and newer databases, the audit log's
//! triggers, erasure of rows and files, the model slot across reopening
//! and upgrading, and error messages that say what to do without ever
//! repeating the password.
//!
//! Each test makes its own database on a throwaway cluster; without
//! PostgreSQL installed they pass as skipped (and say so) unless
//! `HOMEWARD_REQUIRE_PG=1`.

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    sha256, CaseStatus, FaceRecord, FaceTable, Metric, ModelSpec, ModelVector, NewCase,
    NewSighting, PhotoMeta, SightingExtras, Store, StoreError,
};
use homeward_pg::cluster::TestDb;
use homeward_pg::{PgError, PgStore, SCHEMA_VERSION};

fn face(x: f32) -> FaceRecord {
    let mut embedding = [0f32; 128];
    embedding[0] = x;
    FaceRecord {
        bbox: [1.0, 2.0, 30.0, 40.0],
        landmarks: [[1.0, 1.5]; 5],
        embedding,
        chip_hash: Some([9; 32]),
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
        missing_location: Some((43.3, 5.4)),
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

#[test]
fn reopening_keeps_rows_rebuilds_the_index_and_migrates_once() {
    let Some(db) = TestDb::new_or_skip("reopening") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, f) = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        let a = s.add_case("t", &case("Noé")).unwrap();
        let (_, f) = s
            .add_photo("t", a, b"jpeg", &PhotoMeta::default(), &[face(0.2)])
            .unwrap();
        (a, f[0])
    };
    let s = PgStore::connect(&db.url(), dir.path()).unwrap();
    assert_eq!(s.index().len(), 1);
    let hits = s
        .search_with(&face(0.21).embedding, &SearchFilter::default(), 3, 3)
        .unwrap();
    assert_eq!((hits[0].case_id, hits[0].photos[0].face_id), (a, f));
    assert_eq!(s.case(a).unwrap().data.child_name, "Noé");
    assert!(s.photo_path(&sha256(b"jpeg")).is_file());
    let mut c = db.cluster().client(db.name()).unwrap();
    let v: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION);
}

#[test]
fn a_version_5_registry_with_a_change_log_migrates_to_log_sightings() {
    let Some(db) = TestDb::new_or_skip("migrate_v6") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        let a = s.add_case("t", &case("Noé")).unwrap();
        s.add_photo("t", a, b"jpeg", &PhotoMeta::default(), &[face(0.2)])
            .unwrap();
    }
    // Back to version 5's change log, holding version 5's kinds of rows.
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(
        "ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
         ALTER TABLE changes DROP COLUMN sighting_id;
         ALTER TABLE changes ADD CONSTRAINT changes_kind_check
             CHECK (kind IN ('face_added','face_removed','face_vectors_replaced',
                             'case_status','case_erased','models_changed'));
         DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         UPDATE homeward_schema SET version = 5;",
    )
    .unwrap();
    let before: i64 = c
        .query_one("SELECT count(*) FROM changes", &[])
        .unwrap()
        .get(0);
    assert!(before > 0);
    // Opened by this build: migrated, the old entries kept, and a
    // sighting is logged with its id.
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let (sid, _, _) = s
        .record_sighting(
            "v",
            b"seen",
            &NewSighting::default(),
            &[face(0.3)],
            &SightingExtras::default(),
        )
        .unwrap();
    let v: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION);
    let rows = c
        .query("SELECT kind, sighting_id FROM changes ORDER BY seq", &[])
        .unwrap();
    assert_eq!(rows.len() as i64, before + 1);
    let last = rows.last().unwrap();
    assert_eq!(last.get::<_, &str>(0), "sighting_added");
    assert_eq!(last.get::<_, Option<i64>>(1), Some(sid as i64));
}

fn sface() -> ModelSpec {
    ModelSpec {
        name: "sface".into(),
        version: "pg-test-v1".into(),
        dim: 128,
        metric: Metric::Cosine,
    }
}

fn with_vector(mut f: FaceRecord, vector: Vec<f32>) -> FaceRecord {
    f.vectors.push(ModelVector {
        model: "sface".into(),
        version: "pg-test-v1".into(),
        vector,
    });
    f
}

fn axis(k: usize) -> Vec<f32> {
    let mut v = vec![0.0; 128];
    v[k] = 1.0;
    v
}

#[test]
fn models_survive_reopening_and_their_indexes_are_rebuilt_from_the_rows() {
    let Some(db) = TestDb::new_or_skip("models_reopen") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, fb) = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        let a = s.add_case("t", &case("Ada")).unwrap();
        let b = s.add_case("t", &case("Ben")).unwrap();
        let c = s.add_case("t", &case("Cal")).unwrap();
        s.enable_models("t", &[sface()]).unwrap();
        s.add_photo(
            "t",
            a,
            b"a",
            &PhotoMeta::default(),
            &[with_vector(face(0.1), axis(1))],
        )
        .unwrap();
        let (_, fb) = s
            .add_photo("t", b, b"b", &PhotoMeta::default(), &[face(0.2)])
            .unwrap();
        s.add_photo(
            "t",
            c,
            b"c",
            &PhotoMeta::default(),
            &[with_vector(face(0.3), axis(3))],
        )
        .unwrap();
        s.set_case_status("t", c, CaseStatus::Found, None).unwrap();
        (a, b, fb[0])
    };
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    assert_eq!(s.models(), &[sface()]);
    assert!(s.models_chosen().unwrap());
    let searching = SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    };
    let q = |k| <[f32; 128]>::try_from(axis(k)).unwrap();
    let hits = s.search_model("sface", &q(1), &searching, 5).unwrap();
    // The found case's status came back with the rebuilt index.
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![a]);
    // The re-embedding job resumes after the restart.
    let pending = s.pending_faces("sface", 10).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.table, p.face_id))
            .collect::<Vec<_>>(),
        vec![(FaceTable::Case, fb)]
    );
    assert!(s.photo_path(&pending[0].sha256).is_file());
    s.store_vectors("sface", &[(FaceTable::Case, fb, axis(2))])
        .unwrap();
    // Storing again replaces the vector, in the rows and in the index.
    s.store_vectors("sface", &[(FaceTable::Case, fb, axis(5))])
        .unwrap();
    let hits = s.search_model("sface", &q(5), &searching, 1).unwrap();
    assert_eq!(hits[0].0, b);
    assert!(hits[0].1.abs() < 1e-6, "{hits:?}");
    assert_eq!(
        s.vectors_of(FaceTable::Case, "sface", &[fb]).unwrap()[&fb],
        q(5)
    );
    assert!(s.model_status().unwrap()[0].complete());
}

#[test]
fn a_version_1_registry_gets_the_model_slot_and_keeps_its_rows() {
    let Some(db) = TestDb::new_or_skip("models_upgrade") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        let a = s.add_case("t", &case("Old")).unwrap();
        s.add_photo("t", a, b"old", &PhotoMeta::default(), &[face(0.4)])
            .unwrap();
        a
    };
    // Back to what version 1 held.
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(
        "DROP TABLE face_vectors, sighting_face_vectors, models, case_events, review_marks;
         DROP TABLE changes, jobs;
         DROP SEQUENCE job_leases;
         DROP FUNCTION homeward_changes_append_only();
         DROP TABLE users, sessions, api_tokens, receipts, access_log;
         DROP FUNCTION homeward_access_log_append_only();
         ALTER TABLE matches DROP COLUMN assignee;
         DELETE FROM registry_meta WHERE key = 'models_chosen';
         DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         UPDATE homeward_schema SET version = 1;",
    )
    .unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let v: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION);
    assert!(!s.models_chosen().unwrap());
    assert!(s.models().is_empty());
    s.enable_models("t", &[sface()]).unwrap();
    let pending = s.pending_faces("sface", 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].landmarks, face(0.4).landmarks);
    s.store_vectors("sface", &[(pending[0].table, pending[0].face_id, axis(7))])
        .unwrap();
    let q = <[f32; 128]>::try_from(axis(7)).unwrap();
    let hits = s
        .search_model("sface", &q, &SearchFilter::default(), 1)
        .unwrap();
    assert_eq!(hits[0].0, a);
}

#[test]
fn one_writer_at_a_time() {
    let Some(db) = TestDb::new_or_skip("one_writer") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = PgStore::connect(&db.url(), dir.path()).unwrap();
    let err = PgStore::connect(&db.url(), dir.path()).unwrap_err();
    assert!(matches!(err, PgError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("close it first"));
    drop(first);
    // The server releases the lock with the session.
    let mut again = None;
    for _ in 0..50 {
        match PgStore::connect(&db.url(), dir.path()) {
            Ok(s) => {
                again = Some(s);
                break;
            }
            Err(PgError::Locked { .. }) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(again.is_some(), "the lock outlived its connection");
}

#[test]
fn foreign_and_newer_databases_are_refused() {
    let Some(db) = TestDb::new_or_skip("foreign") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute("CREATE TABLE invoices (id int)").unwrap();
    let err = PgStore::connect(&db.url(), dir.path()).unwrap_err();
    assert!(matches!(err, PgError::NotARegistry { .. }), "{err}");
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "nothing is created in a foreign database");

    let Some(db2) = TestDb::new_or_skip("newer") else {
        return;
    };
    drop(PgStore::connect(&db2.url(), dir.path()).unwrap());
    let mut c2 = db2.cluster().client(db2.name()).unwrap();
    c2.execute(
        "UPDATE homeward_schema SET version = $1",
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let err = PgStore::connect(&db2.url(), dir.path()).unwrap_err();
    assert!(
        matches!(err, PgError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Homeward"));
}

#[test]
fn the_audit_log_refuses_changes_even_from_the_superuser() {
    let Some(db) = TestDb::new_or_skip("audit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    s.add_case("t", &case("A")).unwrap();
    let mut c = db.cluster().client(db.name()).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = c.batch_execute(sql).unwrap_err();
        assert!(e.to_string().contains("append-only") || format!("{e:?}").contains("append-only"));
    }
    assert_eq!(s.audit_log().unwrap().len(), 1);
}

#[test]
fn a_failed_write_leaves_no_row_and_its_file_goes_at_the_next_open() {
    let Some(db) = TestDb::new_or_skip("orphans") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    // A repost of a photo that does not exist: the file is written first,
    // then the transaction fails on the foreign key and writes nothing.
    let extras = SightingExtras {
        repost_of_photo: Some(4242),
        ..SightingExtras::default()
    };
    let err = s
        .record_sighting(
            "t",
            b"orphan",
            &NewSighting::default(),
            &[face(0.1)],
            &extras,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert!(err.to_string().contains("no row was written"), "{err}");
    assert!(s.sighting_summaries(10).unwrap().is_empty());
    assert!(s.audit_log().unwrap().is_empty());
    let orphan = s.photo_path(&sha256(b"orphan"));
    assert!(orphan.is_file(), "bytes are durable before the row commits");
    drop(s);
    let s = PgStore::connect(&db.url(), dir.path()).unwrap();
    assert_eq!(s.orphans_removed(), 1);
    assert!(!orphan.exists());
}

#[test]
fn erasure_removes_rows_and_files_but_keeps_bytes_a_sighting_holds() {
    let Some(db) = TestDb::new_or_skip("erasure") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let a = s.add_case("t", &case("Secret Child")).unwrap();
    s.add_photo(
        "t",
        a,
        b"only the case's",
        &PhotoMeta::default(),
        &[face(0.3)],
    )
    .unwrap();
    s.add_photo("t", a, b"poster", &PhotoMeta::default(), &[face(0.4)])
        .unwrap();
    s.record_sighting(
        "t",
        b"poster",
        &NewSighting::default(),
        &[face(0.4)],
        &SightingExtras::default(),
    )
    .unwrap();
    s.erase_case("t", a).unwrap();
    assert!(!s.photo_path(&sha256(b"only the case's")).exists());
    assert!(s.photo_path(&sha256(b"poster")).is_file());
    assert!(s.index().is_empty());
    let mut c = db.cluster().client(db.name()).unwrap();
    for table in [
        "cases",
        "photos",
        "faces",
        "face_vectors",
        "matches",
        "image_hashes",
    ] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    let generation: i64 = c
        .query_one(
            "SELECT value FROM registry_meta WHERE key = 'erase_generation'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(generation, 1);
    // After reopening, the erased faces are not loaded back.
    drop(s);
    let s = PgStore::connect(&db.url(), dir.path()).unwrap();
    assert!(s.index().is_empty());
}

/// Every file of this database under the cluster's data directory that
/// holds `needle` (after a checkpoint, so the pages are on disk).
fn files_holding(c: &mut postgres::Client, needle: &[u8]) -> Vec<String> {
    c.batch_execute("CHECKPOINT").unwrap();
    let data: String = c.query_one("SHOW data_directory", &[]).unwrap().get(0);
    let oid: u32 = c
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    let dir = std::path::Path::new(&data)
        .join("base")
        .join(oid.to_string());
    let mut found = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            found.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn purging_after_erasure_removes_the_bytes_from_the_database_files() {
    let Some(db) = TestDb::new_or_skip("purge") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    s.enable_models("t", &[sface()]).unwrap();
    let mut c = case("Qzxv Secretname");
    c.notes = Some("Wqpl private note".into());
    let a = s.add_case("t", &c).unwrap();
    let mut second = vec![0.088_388_35f32; 128];
    second[0] = 0.077_777_7;
    let mut f = with_vector(face(0.3), second.clone());
    f.embedding[1..].fill(0.123_456_79);
    s.add_photo("t", a, b"photo", &PhotoMeta::default(), &[f.clone()])
        .unwrap();
    let emb: Vec<u8> = f.embedding[1..9]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let vector: Vec<u8> = second[..8].iter().flat_map(|x| x.to_le_bytes()).collect();
    // Other cases stay, and give ANALYZE distinct values to sample.
    for name in ["Other One", "Other Two", "Other Three"] {
        let o = s.add_case("t", &case(name)).unwrap();
        s.add_photo("t", o, name.as_bytes(), &PhotoMeta::default(), &[face(0.9)])
            .unwrap();
    }
    let mut admin = db.cluster().client(db.name()).unwrap();
    // What autovacuum may do at any time: sample the tables into pg_statistic.
    admin.batch_execute("ANALYZE").unwrap();
    // The scan finds the name while the case exists, and still after the
    // erasure's DELETE: that is why purging exists.
    assert!(!files_holding(&mut admin, b"Qzxv Secretname").is_empty());
    s.erase_case("t", a).unwrap();
    assert!(!files_holding(&mut admin, b"Qzxv Secretname").is_empty());
    assert!(!files_holding(&mut admin, &vector).is_empty());
    admin.batch_execute("ANALYZE").unwrap();
    s.purge_erased().unwrap();
    for needle in [&b"Qzxv Secretname"[..], b"Wqpl private note", &emb, &vector] {
        assert_eq!(files_holding(&mut admin, needle), Vec::<String>::new());
    }
    assert!(!files_holding(&mut admin, b"Other Two").is_empty());
    assert_eq!(s.case_summaries().unwrap().len(), 3);
}

#[test]
fn purging_waits_for_transactions_older_than_it() {
    let Some(db) = TestDb::new_or_skip("purge_wait") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let a = s.add_case("t", &case("Qzxv Late")).unwrap();
    s.erase_case("t", a).unwrap();
    // A reader whose transaction began before the purge could still see
    // erased rows, so VACUUM FULL would have to keep them.
    let mut reader = db.cluster().client(db.name()).unwrap();
    let mut tx = reader.transaction().unwrap();
    tx.query_one("SELECT count(*) FROM cases", &[]).unwrap();
    let err = s
        .purge_erased_within(std::time::Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(err, PgError::Busy { running: 1, .. }), "{err}");
    assert!(err.to_string().contains("purge again"), "{err}");
    tx.rollback().unwrap();
    s.purge_erased_within(std::time::Duration::from_secs(10))
        .unwrap();
}

#[test]
fn errors_say_what_to_do_and_never_show_the_password() {
    let Some(db) = TestDb::new_or_skip("errors") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = db.cluster();
    let pw = cluster.password().to_string();
    let port = cluster.port();

    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let e = PgStore::connect(
        &format!("postgres://homeward:{pw}@127.0.0.1:{dead}/x"),
        dir.path(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PgError::Connect { .. }), "{msg}");
    assert!(
        msg.contains(&format!(
            "is PostgreSQL running at 127.0.0.1:{dead}? check --db"
        )),
        "{msg}"
    );
    assert!(!msg.contains(&pw) && !format!("{e:?}").contains(&pw));

    let e = PgStore::connect(
        &format!(
            "postgres://homeward:wrong-{pw}@127.0.0.1:{port}/{}",
            db.name()
        ),
        dir.path(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("check the user and password"), "{msg}");
    assert!(!msg.contains(&pw) && !format!("{e:?}").contains(&pw));

    let e = PgStore::connect(&cluster.url("no_such_db"), dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("createdb no_such_db"), "{msg}");
    assert!(!msg.contains(&pw) && !format!("{e:?}").contains(&pw));

    let e = PgStore::connect(
        &format!("postgres://homeward:{pw}@127.0.0.1:notaport/x"),
        dir.path(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PgError::BadUrl { .. }), "{msg}");
    assert!(!msg.contains(&pw) && !format!("{e:?}").contains(&pw));
}

#[test]
fn one_store_serves_reads_from_several_threads() {
    // The store is Send + Sync: reads through `&self` from several threads.
    let Some(db) = TestDb::new_or_skip("threads") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let a = s.add_case("t", &case("A")).unwrap();
    s.add_photo("t", a, b"p", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let s = &s;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    s.search_with(&face(0.5).embedding, &SearchFilter::default(), 1, 1)
                        .unwrap()[0]
                        .case_id
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), a);
        }
    });
    let mut c = db.cluster().client(db.name()).unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM faces", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

/// A read-only database (a hot standby, say) opens and reads; a write is
/// refused with words that say where to write instead.
#[test]
fn a_read_only_database_reads_and_says_where_to_write() {
    let Some(db) = TestDb::new_or_skip("read_only") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        s.add_case("t", &case("Noé")).unwrap()
    };
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        db.name()
    ))
    .unwrap();
    let mut s = PgStore::connect_shared(&db.url(), dir.path()).unwrap();
    assert_eq!(s.case(a).unwrap().data.child_name, "Noé");
    let err = s.add_case("t", &case("B")).unwrap_err().to_string();
    assert!(
        err.contains("read-only") && err.contains("primary"),
        "{err}"
    );
    assert!(!err.contains(db.cluster().password()), "{err}");
}

#[test]
fn a_version_6_registry_gets_the_outbox_and_two_claimers_split_the_owed_matches() {
    use homeward_core::store::{MatchOrigin, NewMatch, Outbox, OwedQuery};
    use homeward_pg::PgOutbox;
    let Some(db) = TestDb::new_or_skip("migrate_v7") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let queue = |s: &mut PgStore, bytes: &[u8], band: &str| {
        let c = s.add_case("t", &case("Noé")).unwrap();
        let extras = SightingExtras {
            matches: vec![NewMatch {
                case_id: c,
                sighting_face: 0,
                origin: MatchOrigin::Sighting,
                rank_key: 0.01,
                scores_json: format!(r#"{{"case_id":{c},"band":"{band}"}}"#),
            }],
            ..SightingExtras::default()
        };
        let (_, _, m) = s
            .record_sighting("t", bytes, &NewSighting::default(), &[face(0.3)], &extras)
            .unwrap();
        m[0]
    };
    let old = {
        let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
        queue(&mut s, b"seen", "strong")
    };
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(
        "DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         UPDATE homeward_schema SET version = 6;",
    )
    .unwrap();
    let mut s = PgStore::connect(&db.url(), dir.path()).unwrap();
    let v: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION);
    let floor: i64 = c
        .query_one(
            "SELECT value FROM registry_meta WHERE key = 'notify_floor'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(floor, old as i64);
    let new: Vec<u64> = (0..6u8)
        .map(|i| {
            queue(
                &mut s,
                &[b'n', i],
                if i % 2 == 0 { "strong" } else { "possible" },
            )
        })
        .collect();
    queue(&mut s, b"weak", "weak");
    let q = OwedQuery {
        channel: "webhook",
        bands: &["strong", "possible"],
        since: 0,
        lease_s: 60,
        limit: 3,
    };
    let now = 2_000_000_000;
    // Two servers claiming at once: every owed match goes to exactly one.
    let claims: Vec<Vec<u64>> = std::thread::scope(|t| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let url = db.url();
                let q = q.clone();
                t.spawn(move || {
                    let mut o = PgOutbox::connect(&url).unwrap();
                    let mut mine = Vec::new();
                    loop {
                        let got = o.claim(&q, now).unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got.iter().map(|m| m.match_id));
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = claims.concat();
    all.sort();
    assert_eq!(all, new, "{claims:?}");
    let mut o = PgOutbox::connect(&db.url()).unwrap();
    o.delivered(new[0], "webhook", now).unwrap();
    o.retry_at(new[1], "webhook", now + 30).unwrap();
    // After the leases: the delivered one never again, the retried one when due.
    let later: Vec<u64> = o
        .claim(
            &OwedQuery {
                limit: 10,
                ..q.clone()
            },
            now + 61,
        )
        .unwrap()
        .iter()
        .map(|m| m.match_id)
        .collect();
    assert!(
        !later.contains(&new[0]) && later.contains(&new[1]),
        "{later:?}"
    );
    assert_eq!(later.len(), new.len() - 1);
}
