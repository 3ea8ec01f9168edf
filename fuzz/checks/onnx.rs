//! The `onnx` target's run and checks, shared by the fuzz target and its
//! corpus replay (`crates/homeward-core/tests/fuzz_corpus.rs`).
//!
//! Each input is read as SFace's ONNX file without the SHA-256 check, and the
//! network is built from the graph. The read ends in `Ok` or a typed format
//! or shape error whose offset lies inside the input; never a panic.

use homeward_core::dlib::ModelError;
use homeward_core::sface::parse_unchecked;

/// Parses `data` and builds SFace from it, checking the outcome.
pub fn run(data: &[u8]) -> Result<(), ModelError> {
    let result = parse_unchecked(data);
    match &result {
        Ok(()) | Err(ModelError::Shape { .. }) => {}
        Err(e @ ModelError::Format { offset, .. }) => {
            assert!(*offset <= data.len(), "offset past the input: {e}")
        }
        Err(other) => panic!("an unchecked parse gave {other}"),
    }
    result
}
