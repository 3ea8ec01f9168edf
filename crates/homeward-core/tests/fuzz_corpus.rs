//! Replays the fuzz targets' seed corpora (`fuzz/corpus/`) on the stable
//! toolchain, with the targets' own checks, so the seeds stay meaningful and
//! every seed runs in CI even where cargo-fuzz (nightly) is unavailable.
//! The newer targets keep their run and checks in `fuzz/checks/`, included
//! here as modules so that the replay and the fuzzer check the same things.

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
            // Seeds named `bad_*` are damaged on purpose (each found by the
            // fuzzer): a typed refusal is their right answer.
            Err(DecodeError::Corrupt { .. })
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("bad_")) => {}
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

#[path = "../../../fuzz/checks/dlib_model.rs"]
mod dlib_model;
#[path = "../../../fuzz/checks/index_snapshot.rs"]
mod index_snapshot;
#[path = "../../../fuzz/checks/onnx.rs"]
mod onnx;
#[path = "../../../fuzz/checks/stored_scores.rs"]
mod stored_scores;

fn name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

#[test]
fn dlib_model_seeds_are_refused_with_typed_errors_or_parse() {
    use homeward_core::dlib::ModelError;
    for (path, bytes) in corpus("dlib_model") {
        assert!(
            bytes.len() <= 64 << 10,
            "{}: seeds stay small",
            path.display()
        );
        let results = dlib_model::run(&bytes);
        for (kind, result) in dlib_model::KINDS.iter().zip(&results) {
            // Only the complete tiny shape predictor parses; every prefix of
            // a published model ends early (or is read as the wrong kind).
            let whole = name(&path) == "shape_predictor_tiny"
                && *kind == homeward_core::dlib::ModelKind::Landmarks;
            match result {
                Ok(()) => assert!(whole, "{} parsed as {kind:?}", path.display()),
                Err(e) => {
                    assert!(!whole, "{}: {e}", path.display());
                    assert!(
                        matches!(e, ModelError::Format { .. } | ModelError::Shape { .. }),
                        "{}: {e}",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn onnx_seeds_are_refused_with_typed_errors() {
    use homeward_core::dlib::ModelError;
    for (path, bytes) in corpus("onnx") {
        assert!(
            bytes.len() <= 64 << 10,
            "{}: seeds stay small",
            path.display()
        );
        let e = onnx::run(&bytes).expect_err("no seed is the whole SFace model");
        // A prefix ends inside a field; the complete small files parse and
        // are refused where the network would need weights they lack.
        if name(&path).contains("prefix") {
            assert!(
                matches!(e, ModelError::Format { .. }),
                "{}: {e}",
                path.display()
            );
        } else {
            assert!(
                matches!(e, ModelError::Shape { .. }),
                "{}: {e}",
                path.display()
            );
        }
    }
}

#[test]
fn index_snapshot_seeds_load_as_their_names_say() {
    let scratch = tempfile::tempdir().expect("temp dir");
    for (path, bytes) in corpus("index_snapshot") {
        let root = scratch.path().join("root");
        let result = index_snapshot::run(&bytes, &root);
        let expected = match name(&path) {
            n if n.starts_with("three_faces") => Some(3),
            n if n.starts_with("six_faces") => Some(6),
            n if n.starts_with("empty") => Some(0),
            _ => None,
        };
        match (result, expected) {
            (Ok(n), Some(want)) => assert_eq!(n, want, "{}", path.display()),
            (Err(e), None) => {
                let _ = e.to_string();
            }
            (result, _) => panic!("{}: {result:?}", path.display()),
        }
    }
}

#[test]
fn stored_scores_seeds_round_trip_or_are_refused() {
    use homeward_core::store::ScoresError;
    for (path, bytes) in corpus("stored_scores") {
        let result = stored_scores::run(&bytes).expect("seeds are UTF-8");
        match name(&path) {
            "too_new.json" => assert!(
                matches!(result, Err(ScoresError::TooNew { found: 2, .. })),
                "{result:?}"
            ),
            "other_shape.json" => {
                assert!(
                    matches!(result, Err(ScoresError::Malformed(_))),
                    "{result:?}"
                )
            }
            _ => assert!(result.is_ok(), "{}: {result:?}", path.display()),
        }
    }
}
