//! The face index snapshot reader (`index/snapshot.rs`, the graph and data
//! files behind it, and `FaceIndex::load`), on a header, graph file and data
//! file cut from one input, as given or with valid lengths and checksums
//! (see `checks/index_snapshot.rs` for the framing). Must never panic, and no
//! single allocation may exceed 16 times the input plus 4 MiB.
#![no_main]

#[path = "../checks/alloc.rs"]
mod alloc;
#[path = "../checks/index_snapshot.rs"]
mod checks;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: alloc::Capped = alloc::Capped;

/// One scratch directory per fuzzing process, emptied before each input.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::temp_dir().join(format!("homeward-fuzz-snapshot-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    alloc::capped(data.len(), 16, 4 << 20, || drop(checks::run(data, root)));
});
