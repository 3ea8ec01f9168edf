//! The server's multipart/form-data reader (`crates/homeward/src/server/
//! multipart.rs`: photo uploads and archive forms) on arbitrary requests:
//! the first line is the Content-Type, the rest the body. Must never panic
//! or stall, refuse only with the typed 400/413/422 errors, and accept
//! nothing beyond its limits or the parts the body holds.
#![no_main]

// The server's own file: it depends only on multer and thiserror.
#[allow(dead_code)]
#[path = "../../crates/homeward/src/server/multipart.rs"]
mod multipart;

// `Outcome`'s fields are read by the replay test, not here.
#[allow(dead_code)]
#[path = "../checks/multipart.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drop(checks::run(data));
});
