//! What only the PostgreSQL accounts have to show (the shared contract is
//! `accounts_suite`, run in `store_contract.rs`): two servers on one
//! database see each other's sessions, revocations and disablings at once;
//! secrets are kept only as their digests; the access log refuses changes
//! even from the superuser; a version-4 registry migrates forward; the
//! accounts open beside a registry opened alone; and a lost connection is
//! made again.
//!
//! Without PostgreSQL installed these pass as skipped (and say so) unless
//! `HOMEWARD_REQUIRE_PG=1`.

use homeward_core::store::{
    secret_digest, AccountStore, CaseStatus, NewCase, Role, Sex, Store, StoreError,
};
use homeward_pg::cluster::TestDb;
use homeward_pg::{PgAccounts, PgStore, SCHEMA_VERSION};

fn boxed(db: &TestDb) -> Box<dyn AccountStore + Send> {
    Box::new(PgAccounts::connect(&db.url()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn two_servers_share_sessions_revocations_and_disabling() {
    let Some(db) = TestDb::new_or_skip("accounts_two") else {
        return;
    };
    let (a, b) = (boxed(&db), boxed(&db));
    let ana = a
        .create_user("ana", "argon2-hash", Role::CaseWorker)
        .unwrap();
    let bo = b.create_user("bo", "argon2-hash", Role::Admin).unwrap();
    assert!(a.has_admin().unwrap(), "an admin made on B counts on A");

    // A session made through A is valid through B, and ended through B.
    a.create_session(ana, "sess-a", "csrf-a", 3600).unwrap();
    let (user, csrf) = b.session("sess-a").unwrap().unwrap();
    assert_eq!((user.id, csrf.as_str()), (ana, "csrf-a"));

    // A token revoked through A is refused by B at once.
    let t = b.create_token(bo, "script", "hwt_shared_token").unwrap();
    assert_eq!(a.token_user("hwt_shared_token").unwrap().unwrap().id, bo);
    a.revoke_token(t).unwrap();
    assert!(b.token_user("hwt_shared_token").unwrap().is_none());
    assert!(matches!(
        b.revoke_token(t),
        Err(StoreError::NotFound { what: "token", .. })
    ));

    // Disabling a user through B ends its sessions and tokens on A.
    a.create_token(ana, "cron", "hwt_ana").unwrap();
    b.set_disabled(ana, true).unwrap();
    assert!(a.session("sess-a").unwrap().is_none());
    assert!(a.token_user("hwt_ana").unwrap().is_none());
    assert!(a.user_with_hash("ana").unwrap().unwrap().0.disabled);
    a.set_disabled(ana, false).unwrap();
    assert!(b.session("sess-a").unwrap().is_none(), "ended for good");

    // One access log, newest first, whichever server wrote.
    a.log("user:1", "read", "case:1").unwrap();
    b.log("user:2", "erase", "case:2").unwrap();
    let log = a.access_log(10).unwrap();
    assert_eq!(log[0].action, "erase");
    assert_eq!(log, b.access_log(10).unwrap());
}

#[test]
fn secrets_are_kept_only_as_digests_and_the_log_only_grows() {
    let Some(db) = TestDb::new_or_skip("accounts_secrets") else {
        return;
    };
    let a = PgAccounts::connect(&db.url()).unwrap();
    let id = a
        .create_user("cw", "argon2-hash", Role::CaseWorker)
        .unwrap();
    a.create_session(id, "session-secret-xyz", "csrf", 3600)
        .unwrap();
    a.create_token(id, "script", "hwt_token-secret-xyz")
        .unwrap();
    a.log("user:1", "read", "case:1").unwrap();
    let mut c = db.cluster().client(db.name()).unwrap();
    let stored: Vec<String> = c
        .query(
            "SELECT id_sha256 FROM sessions UNION ALL SELECT token_sha256 FROM api_tokens",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        stored,
        [
            secret_digest("session-secret-xyz"),
            secret_digest("hwt_token-secret-xyz")
        ],
        "stored as SQLite stores them"
    );
    let found: i64 = c
        .query_one(
            "SELECT count(*) FROM sessions s, api_tokens t
             WHERE s.id_sha256 LIKE '%secret%' OR t.token_sha256 LIKE '%secret%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(found, 0, "no secret itself is stored");
    for sql in [
        "UPDATE access_log SET actor = 'x'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
    ] {
        let err = c.batch_execute(sql).unwrap_err();
        assert!(
            format!("{err:?}").contains("access_log is append-only"),
            "{sql}: {err:?}"
        );
    }
    assert_eq!(a.access_log(10).unwrap().len(), 1);
}

#[test]
fn a_version_4_registry_migrates_forward_beside_a_store_opened_alone() {
    let Some(db) = TestDb::new_or_skip("accounts_v4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let case = NewCase {
        child_name: "Old".into(),
        sex: Sex::Female,
        birth_date: None,
        birth_year: Some(2015),
        missing_date: None,
        missing_place: "Lille".into(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    };
    let mut store = PgStore::connect(&db.url(), dir.path()).unwrap();
    let a = store.add_case("t", &case).unwrap();
    // Back to what version 4 held, while the registry is open alone
    // (without version 5's accounts and version 6's logged sightings).
    let mut c = db.cluster().client(db.name()).unwrap();
    c.batch_execute(
        "DROP TABLE users, sessions, api_tokens, receipts, access_log;
         DROP FUNCTION homeward_access_log_append_only();
         ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
         ALTER TABLE changes DROP COLUMN sighting_id;
         ALTER TABLE changes ADD CONSTRAINT changes_kind_check
             CHECK (kind IN ('face_added','face_removed','face_vectors_replaced',
                             'case_status','case_erased','models_changed'));
         DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
         UPDATE homeward_schema SET version = 4;",
    )
    .unwrap();
    // The registry's exclusive lock does not keep the accounts out; they
    // migrate the schema forward (under the migration lock).
    let accounts = PgAccounts::connect(&db.url()).unwrap();
    let version: i32 = c
        .query_one("SELECT version FROM homeward_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!((version, SCHEMA_VERSION), (7, 7));
    let u = accounts.create_user("ada", "h", Role::Admin).unwrap();
    assert!(accounts.has_admin().unwrap());
    assert_eq!(store.case(a).unwrap().data.child_name, "Old");
    store.add_case("t", &case).unwrap();
    drop(store);
    // Reopening finds version 6 and changes nothing.
    let store = PgStore::connect(&db.url(), dir.path()).unwrap();
    assert_eq!(store.case(a).unwrap().data.child_name, "Old");
    assert_eq!(accounts.users().unwrap()[0].id, u);
}

#[test]
fn a_lost_connection_is_made_again() {
    let Some(db) = TestDb::new_or_skip("accounts_reconnect") else {
        return;
    };
    let a = PgAccounts::connect(&db.url()).unwrap();
    a.create_user("ana", "h", Role::Volunteer).unwrap();
    let mut c = db.cluster().client(db.name()).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(n >= 1);
    // The call that finds the connection gone fails, naming the database
    // without its password; the next one reconnects.
    let mut users = a.users();
    if let Err(e) = &users {
        let text = e.to_string();
        assert!(!text.contains(db.cluster().password()), "{text}");
        users = a.users();
    }
    assert_eq!(users.unwrap()[0].username, "ana");
}

#[test]
fn a_bad_url_is_refused_without_repeating_it() {
    let err = PgAccounts::connect("postgres://ana:s3cr3t@[bad").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not valid") && !text.contains("s3cr3t"),
        "{text}"
    );
}
