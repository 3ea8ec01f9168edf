//! `homeward_match::manifest::parse` (a batch's CSV manifest) on arbitrary
//! bytes. Must never panic, and never return a path outside the manifest's
//! folder or a field its input rules refuse.
#![no_main]

#[path = "../checks/batch_manifest.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drop(checks::run(data));
});
