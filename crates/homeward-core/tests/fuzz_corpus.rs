//! Replays the fuzz targets' seed corpora (`fuzz/corpus/`) on the stable
//! toolchain, with the targets' own checks, so the seeds stay meaningful and
//! every seed runs in CI even where cargo-fuzz (nightly) is unavailable.

use std::path::{Path, PathBuf};

use homeward_core::hash::HammingIndex;
use homeward_core::intake::{inspect_bytes, load_bytes, DecodeError, Limits};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("seed");
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

#[test]
fn intake_seeds_decode_or_are_refused_as_the_fuzz_target_expects() {
    let limits = Limits {
        max_file_bytes: 1 << 20,
        max_pixels: 4_000_000,
        max_analysis_bytes: 1 << 30,
        ..Limits::default()
    };
    let mut decoded = 0;
    for (path, bytes) in corpus("intake") {
        let header = inspect_bytes(&bytes, &limits);
        match load_bytes(&bytes, &limits) {
            Ok(photo) => {
                let h = header.expect("a photo that decodes passes inspection");
                assert_eq!(photo.image.dimensions(), (h.width, h.height));
                decoded += 1;
            }
            // The fixtures are tiny (refused by the 32 px side) and the strip
            // seed is refused by its shape; nothing else may fail.
            Err(DecodeError::TooSmall { .. } | DecodeError::AspectRatio { .. }) => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    assert!(decoded >= 1, "at least one seed is a photo intake accepts");
}

#[test]
fn hash_index_seeds_load_once_checksummed() {
    for (path, bytes) in corpus("hash_index") {
        assert!(
            HammingIndex::load(bytes.as_slice()).is_err(),
            "{}: no CRC",
            path.display()
        );
        let mut with_crc = bytes.clone();
        with_crc.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
        let index = HammingIndex::load(with_crc.as_slice())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(index.len(), (bytes.len() - 24) / 40, "{}", path.display());
    }
}
