//! The conformance suite of [`AccountStore`] (feature `contract-suite`,
//! for tests only), run on SQLite's [`Accounts`](super::Accounts) and on
//! PostgreSQL's accounts through the [`accounts_suite!`] macro.
//!
//! Each check takes `open`, which opens one more handle on the **same**
//! store (a second connection to the same file or database), each as the
//! `Box<dyn AccountStore + Send>` a server holds; most checks open one,
//! `two_handles_share_one_store` two.
//!
//! ```ignore
//! homeward_core::accounts_suite!(sqlite, |dir: &Path| Accounts::open(dir).unwrap());
//! // A setup that may skip (returns None) and whose value (e.g. a
//! // throwaway database) lives until the check ends:
//! homeward_core::accounts_suite!(guarded postgres, setup, |db: &TestDb, _: &Path| open(db));
//! ```
//!
//! [`accounts_suite!`]: crate::accounts_suite

#![allow(missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

use super::{AccountStore, Role, StoreError, User};

/// A handle on the store under test; each call opens another one.
pub type Open<'a> = &'a dyn Fn() -> Box<dyn AccountStore + Send>;

/// A temporary directory for one check.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory for the accounts suite")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn assert_recent(at: i64) {
    let now = unix_now();
    assert!(
        (now - 60..=now + 60).contains(&at),
        "{at} is not about {now}"
    );
}

pub fn users_are_unique_and_listed_by_id(open: Open<'_>) {
    let a = open();
    assert!(!a.has_admin().unwrap());
    assert!(a.users().unwrap().is_empty());
    let v = a.create_user("vera", "hash-v", Role::Volunteer).unwrap();
    assert!(!a.has_admin().unwrap(), "a volunteer is no admin");
    let ad = a.create_user("ada", "hash-a", Role::Admin).unwrap();
    assert!(a.has_admin().unwrap());
    let err = a.create_user("ada", "other", Role::CaseWorker).unwrap_err();
    assert!(
        matches!(&err, StoreError::Exists { what: "user", name } if name == "ada"),
        "{err}"
    );
    // Names are compared exactly.
    let upper = a.create_user("Ada", "hash-A", Role::CaseWorker).unwrap();
    assert!(v < ad && ad < upper);
    let users = a.users().unwrap();
    let expect = |id, username: &str, role| User {
        id,
        username: username.into(),
        role,
        disabled: false,
    };
    assert_eq!(
        users,
        vec![
            expect(v, "vera", Role::Volunteer),
            expect(ad, "ada", Role::Admin),
            expect(upper, "Ada", Role::CaseWorker),
        ]
    );
    let (user, hash) = a.user_with_hash("ada").unwrap().unwrap();
    assert_eq!((user.id, hash.as_str()), (ad, "hash-a"));
    assert!(a.user_with_hash("nobody").unwrap().is_none());
    assert!(a.user_with_hash("ADA").unwrap().is_none());

    a.set_disabled(ad, true).unwrap();
    assert!(!a.has_admin().unwrap(), "a disabled admin does not count");
    assert!(a.user_with_hash("ada").unwrap().unwrap().0.disabled);
    a.set_disabled(ad, false).unwrap();
    assert!(a.has_admin().unwrap());
    let err = a.set_disabled(9999, true).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "user",
                id: 9999
            }
        ),
        "{err}"
    );
}

pub fn sessions_expire_end_and_follow_the_account(open: Open<'_>) {
    let a = open();
    let id = a.create_user("cw", "h", Role::CaseWorker).unwrap();
    a.create_session(id, "live-secret", "csrf-1", 3600).unwrap();
    let (user, csrf) = a.session("live-secret").unwrap().unwrap();
    assert_eq!(
        (user.id, user.username.as_str(), user.role),
        (id, "cw", Role::CaseWorker)
    );
    assert_eq!(csrf, "csrf-1");
    assert!(a.session("other-secret").unwrap().is_none());

    // A session ends at created + seconds.
    a.create_session(id, "zero-secret", "c", 0).unwrap();
    a.create_session(id, "past-secret", "c", -60).unwrap();
    assert!(a.session("zero-secret").unwrap().is_none());
    assert!(a.session("past-secret").unwrap().is_none());

    a.create_session(id, "ended-secret", "c", 3600).unwrap();
    a.end_session("ended-secret").unwrap();
    assert!(a.session("ended-secret").unwrap().is_none());
    a.end_session("never-was").unwrap();
    assert!(
        a.session("live-secret").unwrap().is_some(),
        "only that one ended"
    );

    // Disabling ends every session for good; enabling revives none.
    a.create_session(id, "second-secret", "c", 3600).unwrap();
    a.set_disabled(id, true).unwrap();
    assert!(a.session("live-secret").unwrap().is_none());
    a.set_disabled(id, false).unwrap();
    assert!(a.session("live-secret").unwrap().is_none());
    assert!(a.session("second-secret").unwrap().is_none());
    a.create_session(id, "after-secret", "c", 3600).unwrap();
    assert_eq!(a.session("after-secret").unwrap().unwrap().0.id, id);
}

pub fn tokens_are_revoked_for_good(open: Open<'_>) {
    let a = open();
    let id = a.create_user("bot", "h", Role::CaseWorker).unwrap();
    let err = a.create_token(9999, "x", "hwt_nobody").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "user",
                id: 9999
            }
        ),
        "{err}"
    );
    let t1 = a.create_token(id, "script", "hwt_one").unwrap();
    let t2 = a.create_token(id, "cron", "hwt_two").unwrap();
    assert!(t1 < t2);
    assert_eq!(a.token_user("hwt_one").unwrap().unwrap().id, id);
    assert!(a.token_user("hwt_three").unwrap().is_none());
    let tokens = a.tokens().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (tokens[0].id, tokens[0].user_id, tokens[0].username.as_str()),
        (t1, id, "bot")
    );
    assert_eq!(
        (tokens[0].name.as_str(), tokens[1].name.as_str()),
        ("script", "cron")
    );
    assert!(!tokens[0].revoked && !tokens[1].revoked);
    assert_recent(tokens[0].created_at);

    a.revoke_token(t1).unwrap();
    assert!(a.token_user("hwt_one").unwrap().is_none());
    assert!(a.token_user("hwt_two").unwrap().is_some());
    assert!(a.tokens().unwrap()[0].revoked);
    for again in [t1, 9999] {
        let err = a.revoke_token(again).unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { what: "token", id } if id == again),
            "{err}"
        );
    }

    // A disabled account's tokens are refused, and revoked for good.
    a.set_disabled(id, true).unwrap();
    assert!(a.token_user("hwt_two").unwrap().is_none());
    a.set_disabled(id, false).unwrap();
    assert!(a.token_user("hwt_two").unwrap().is_none());
    assert!(a.tokens().unwrap().iter().all(|t| t.revoked));
    a.create_token(id, "new", "hwt_new").unwrap();
    assert_eq!(a.token_user("hwt_new").unwrap().unwrap().username, "bot");
}

pub fn access_log_is_newest_first(open: Open<'_>) {
    let a = open();
    assert!(a.access_log(10).unwrap().is_empty());
    for (actor, target) in [
        ("user:1", "case:1"),
        ("user:2", "case:2"),
        ("token:3", "sighting:3"),
    ] {
        a.log(actor, "read", target).unwrap();
    }
    let all = a.access_log(10).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        ["sighting:3", "case:2", "case:1"]
    );
    assert!(all[0].id > all[1].id && all[1].id > all[2].id);
    assert_eq!(
        (all[0].actor.as_str(), all[0].action.as_str()),
        ("token:3", "read")
    );
    assert_recent(all[0].at);
    let two = a.access_log(2).unwrap();
    assert_eq!(two, all[..2]);
    assert!(a.access_log(0).unwrap().is_empty());
}

pub fn receipts_read_back(open: Open<'_>) {
    let a = open();
    let u = a.create_user("vol", "h", Role::Volunteer).unwrap();
    a.add_receipt("HW-ABC123", 42, u, 2).unwrap();
    a.add_receipt("HW-DEF456", 43, u, 0).unwrap();
    let r = a.receipt("HW-ABC123").unwrap().unwrap();
    assert_eq!(
        (r.code.as_str(), r.sighting_id, r.user_id, r.faces),
        ("HW-ABC123", 42, u, 2)
    );
    assert_recent(r.created_at);
    assert_eq!(a.receipt("HW-DEF456").unwrap().unwrap().faces, 0);
    assert!(a.receipt("HW-000000").unwrap().is_none());
    assert!(
        a.add_receipt("HW-ABC123", 44, u, 1).is_err(),
        "codes are unique"
    );
    assert_eq!(a.receipt("HW-ABC123").unwrap().unwrap().sighting_id, 42);
}

/// Two handles on one store (two servers on one database): what one
/// writes, the other sees at once.
pub fn two_handles_share_one_store(open: Open<'_>) {
    let a = open();
    let b = open();
    let id = a.create_user("ana", "h", Role::CaseWorker).unwrap();
    assert!(matches!(
        b.create_user("ana", "h2", Role::Admin),
        Err(StoreError::Exists { what: "user", .. })
    ));
    a.create_session(id, "session-a", "csrf-a", 3600).unwrap();
    assert_eq!(b.session("session-a").unwrap().unwrap().1, "csrf-a");
    b.end_session("session-a").unwrap();
    assert!(a.session("session-a").unwrap().is_none());

    let t = a.create_token(id, "script", "hwt_shared").unwrap();
    assert_eq!(b.token_user("hwt_shared").unwrap().unwrap().id, id);
    a.revoke_token(t).unwrap();
    assert!(b.token_user("hwt_shared").unwrap().is_none());

    b.create_session(id, "session-b", "csrf-b", 3600).unwrap();
    assert!(a.session("session-b").unwrap().is_some());
    a.set_disabled(id, true).unwrap();
    assert!(b.session("session-b").unwrap().is_none());

    a.log("user:1", "read", "case:7").unwrap();
    b.log("user:2", "read", "case:8").unwrap();
    let log = a.access_log(5).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].target, "case:8");
    b.add_receipt("HW-SHARED", 5, id, 1).unwrap();
    assert_eq!(a.receipt("HW-SHARED").unwrap().unwrap().sighting_id, 5);
}

/// Runs every check of [`self`](crate::store::accounts_suite) against one
/// implementation, one `#[test]` per check, each on a fresh store.
///
/// - `accounts_suite!(name, |dir: &Path| open(dir))`: `open` is called
///   once per handle, on the same fresh directory.
/// - `accounts_suite!(guarded name, setup, |value, dir| open(value, dir))`:
///   `setup(dir)` returns `Option<value>` once per check (`None` skips it,
///   and setup says why); `open(&value, dir)` is called once per handle,
///   and the value (e.g. a throwaway database) is dropped after them.
#[macro_export]
macro_rules! accounts_suite {
    (guarded $name:ident, $setup:expr, $open:expr) => {
        $crate::accounts_suite!(@tests $name, $setup, $open;
            users_are_unique_and_listed_by_id,
            sessions_expire_end_and_follow_the_account,
            tokens_are_revoked_for_good,
            access_log_is_newest_first,
            receipts_read_back,
            two_handles_share_one_store
        );
    };
    (@tests $name:ident, $setup:expr, $open:expr; $($check:ident),* $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let dir = $crate::store::accounts_suite::tempdir();
                    if let ::std::option::Option::Some(value) = ($setup)(dir.path()) {
                        let open = || -> ::std::boxed::Box<
                            dyn $crate::store::AccountStore + ::std::marker::Send,
                        > {
                            ::std::boxed::Box::new(($open)(&value, dir.path()))
                        };
                        $crate::store::accounts_suite::$check(&open);
                        drop(value);
                    }
                }
            )*
        }
    };
    ($name:ident, $open:expr) => {
        $crate::accounts_suite!(guarded $name,
            |_: &::std::path::Path| ::std::option::Option::Some(()),
            |_: &(), dir: &::std::path::Path| ($open)(dir));
    };
}
