//! The [`Store`] conformance suite (`homeward_core::store::contract_suite`,
//! shared with every implementation) run against the SQLite registry, and
//! the [`AccountStore`] suite (`accounts_suite`) against SQLite's accounts.
//! The PostgreSQL stores run the same checks in `crates/homeward-pg`.
//!
//! [`Store`]: homeward_core::store::Store
//! [`AccountStore`]: homeward_core::store::AccountStore

use std::path::Path;

use homeward_core::store::{Accounts, Registry};

homeward_core::store_suite!(sqlite, |dir| Registry::open(dir).unwrap(), |s| {
    Box::new(s.reader().unwrap())
});

homeward_core::accounts_suite!(sqlite_accounts, |dir: &Path| Accounts::open(dir).unwrap());
