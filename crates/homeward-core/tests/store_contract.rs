//! The [`Store`] conformance suite (`homeward_core::store::contract_suite`,
//! shared with every implementation) run against the SQLite registry. The
//! PostgreSQL store runs the same checks in `crates/homeward-pg`.
//!
//! [`Store`]: homeward_core::store::Store

use homeward_core::store::Registry;

homeward_core::store_suite!(sqlite, |dir| Registry::open(dir).unwrap(), |s| {
    Box::new(s.reader().unwrap())
});
