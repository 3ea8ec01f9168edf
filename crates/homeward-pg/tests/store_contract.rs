//! The [`Store`] conformance suite (`homeward_core::store::contract_suite`),
//! the very checks the SQLite registry passes, run against [`PgStore`] on a
//! throwaway PostgreSQL cluster, and the [`AccountStore`] suite
//! (`accounts_suite`) against [`PgAccounts`]. Each check gets its own
//! database, so they run in parallel. Without PostgreSQL installed they
//! pass as skipped and say so, unless `HOMEWARD_REQUIRE_PG=1`.
//! The checks of the typed reads read through a
//! [`PgReader`](homeward_pg::PgReader) of the store.
//!
//! [`Store`]: homeward_core::store::Store
//! [`AccountStore`]: homeward_core::store::AccountStore

use std::path::Path;

use homeward_pg::cluster::TestDb;
use homeward_pg::{PgAccounts, PgStore};

fn open(dir: &Path) -> Option<(PgStore, TestDb)> {
    let db = TestDb::new_or_skip("store_contract")?;
    let store = PgStore::connect(&db.url(), dir).unwrap_or_else(|e| panic!("{e}"));
    Some((store, db))
}

homeward_core::store_suite!(guarded postgres, open, |s| Box::new(
    s.reader().unwrap_or_else(|e| panic!("{e}"))
));

fn accounts_db(_: &Path) -> Option<TestDb> {
    TestDb::new_or_skip("accounts_contract")
}

/// One more connection to the test database's accounts.
fn open_accounts(db: &TestDb, _: &Path) -> PgAccounts {
    PgAccounts::connect(&db.url()).unwrap_or_else(|e| panic!("{e}"))
}

homeward_core::accounts_suite!(guarded postgres_accounts, accounts_db, open_accounts);
