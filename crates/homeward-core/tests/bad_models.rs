//! Wrong, truncated or corrupted model files give a clear error, never a panic.

use homeward_core::dlib::{ModelError, ModelKind};
use homeward_core::faces::{Detector, FaceEngine, ShapePredictor};

#[test]
fn corrupted_detector_is_refused_by_checksum() {
    let mut bytes = ModelKind::Detector.bundled_bytes().to_vec();
    bytes[1000] ^= 0x55;
    let err = Detector::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("mmod_human_face_detector.dat") && msg.contains("corrupted"),
        "{msg}"
    );
}

#[test]
fn truncated_and_empty_models_are_refused() {
    let bytes = ModelKind::Detector.bundled_bytes();
    assert!(Detector::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    assert!(Detector::from_bytes(&[]).is_err());
    let sp = ModelKind::Landmarks.bundled_bytes();
    assert!(ShapePredictor::from_bytes(&sp[..100]).is_err());
}

#[test]
fn a_model_given_for_another_is_refused() {
    let err = Detector::from_bytes(ModelKind::Landmarks.bundled_bytes()).unwrap_err();
    assert!(err.to_string().contains("wrong file"), "{err}");
}

#[test]
fn missing_model_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = FaceEngine::from_dir(dir.path())
        .err()
        .expect("no models there");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Io { .. }), "{msg}");
    assert!(msg.contains("mmod_human_face_detector.dat"), "{msg}");
}

#[test]
fn models_load_from_a_directory() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"));
    assert!(FaceEngine::from_dir(dir).is_ok());
}
