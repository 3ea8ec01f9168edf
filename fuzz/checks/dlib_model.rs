//! The `dlib_model` target's run and checks, shared by the fuzz target and
//! its corpus replay (`crates/homeward-core/tests/fuzz_corpus.rs`).
//!
//! Each input is fed, unchecked (no SHA-256), to all three dlib readers: the
//! detector, the embedding ResNet and the shape predictor. Whatever the
//! bytes, each read ends in `Ok` or a typed format or shape error whose
//! offset lies inside the input; never a panic, never a checksum or I/O error.

use homeward_core::dlib::{parse_unchecked, ModelError, ModelKind};

/// The three readers, in the order [`run`] reports them.
pub const KINDS: [ModelKind; 3] = [
    ModelKind::Detector,
    ModelKind::Embedder,
    ModelKind::Landmarks,
];

/// Parses `data` as each model kind and checks the outcome.
pub fn run(data: &[u8]) -> [Result<(), ModelError>; 3] {
    KINDS.map(|kind| {
        let result = parse_unchecked(kind, data);
        if let Err(e) = &result {
            match e {
                ModelError::Format { offset, .. } => {
                    assert!(
                        *offset <= data.len(),
                        "{kind:?}: offset past the input: {e}"
                    )
                }
                ModelError::Shape { .. } => {}
                other => panic!("{kind:?}: an unchecked parse gave {other}"),
            }
        }
        result
    })
}
