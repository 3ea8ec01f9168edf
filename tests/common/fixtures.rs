//! The fixture photos (`fixtures/` at the top of the repository) and the
//! passwords the tests sign in with.

use std::path::{Path, PathBuf};

/// The first admin's password (`HOMEWARD_ADMIN_PASSWORD`) of every test
/// server.
pub const ADMIN_PASSWORD: &str = "admin password for tests";
/// The password of every other account the tests make.
pub const PASSWORD: &str = "a long test password";

/// Where the fixture `name` is.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// The bytes of the fixture `name`.
pub fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
