//! Replays the `batch_manifest` fuzz target's seed corpus
//! (`fuzz/corpus/batch_manifest/`) on the stable toolchain with the target's
//! own checks (`fuzz/checks/batch_manifest.rs`), so every seed runs in CI
//! even where cargo-fuzz (nightly) is unavailable.

use std::path::Path;

#[path = "../../../fuzz/checks/batch_manifest.rs"]
mod batch_manifest;

#[test]
fn batch_manifest_seeds_parse_or_are_refused_as_the_fuzz_target_expects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/batch_manifest");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    seeds.sort();
    let (mut read, mut refused) = (0, 0);
    for p in &seeds {
        let bytes = std::fs::read(p).expect("seed");
        match batch_manifest::run(&bytes).expect("seeds are UTF-8") {
            Ok(items) => {
                assert!(!items.is_empty(), "{}: no rows", p.display());
                read += 1;
            }
            Err(_) => refused += 1,
        }
    }
    // The seeds hold both kinds, as named: three good manifests, four bad,
    // and the fuzzer's find (a CR-ended manifest the reader reads).
    assert_eq!((read, refused), (4, 4), "{seeds:?}");
}
