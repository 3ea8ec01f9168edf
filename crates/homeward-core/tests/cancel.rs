//! Cancelling an analysis (`faces::Cancel`): a cancelled run stops at its
//! next check and returns no faces; an uncancelled one is unchanged.

use std::path::Path;

use homeward_core::faces::{Cancel, DetectOptions, FaceEngine, FaceOptions};
use homeward_core::intake::{load_path, Limits};

#[test]
fn a_cancelled_analysis_stops_with_no_faces() {
    let engine = FaceEngine::bundled().expect("bundled models load");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/obama.jpg");
    let photo = load_path(&path, &Limits::default()).expect("fixture").image;
    let options = FaceOptions {
        detect: DetectOptions {
            upsample: 0,
            ..DetectOptions::default()
        },
        ..FaceOptions::default()
    };
    let live = Cancel::new();
    assert_eq!(live.scope(|| engine.analyze(&photo, &options)).len(), 1);

    let cancelled = Cancel::new();
    cancelled.cancel();
    assert!(cancelled
        .scope(|| engine.detector().detect(&photo, &options.detect))
        .is_empty());
    assert!(cancelled
        .scope(|| engine.analyze(&photo, &options))
        .is_empty());
    // Outside the scope the same engine finds the face again.
    assert_eq!(engine.analyze(&photo, &options).len(), 1);
}
