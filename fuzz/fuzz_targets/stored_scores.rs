//! `StoredScores::parse` (the registry's versioned JSON scores) on arbitrary
//! bytes. Must never panic, and whatever parses is written back and reads
//! back equal (version aside).
#![no_main]

#[path = "../checks/stored_scores.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drop(checks::run(data));
});
