//! A registry on a throwaway PostgreSQL cluster (started as
//! `homeward-pg`'s tests do): one database per test, and a photo root.
//! Without PostgreSQL installed a test passes as skipped, and says so,
//! unless `HOMEWARD_REQUIRE_PG=1`.

use std::process::Command;

use homeward_pg::cluster::TestDb;

use super::cli::homeward;

/// One test's registry: its database and photo root, passed through the
/// environment as an operator would.
pub struct Pg {
    pub db: TestDb,
    pub root: tempfile::TempDir,
}

impl Pg {
    /// `None` (the test is skipped) where PostgreSQL is not installed.
    pub fn new(test: &str) -> Option<Pg> {
        Some(Pg {
            db: TestDb::new_or_skip(test)?,
            root: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// `homeward ARGS` on this registry (`HOMEWARD_DB`,
    /// `HOMEWARD_PHOTO_ROOT`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = homeward();
        c.args(args)
            .env("HOMEWARD_DB", self.db.url())
            .env("HOMEWARD_PHOTO_ROOT", self.root.path());
        c
    }
}
