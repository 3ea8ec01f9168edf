//! The face pipeline against dlib 20.0.1 on every fixture face.
//!
//! References: `fixtures/golden/faces.json`, made by `tools/golden_faces.py`
//! (dlib-bin 20.0.1, face-recognition-models 0.3.0; model checksums are in the
//! file) from exactly the pixels Homeward's intake decodes. Tolerances, per
//! face: box IoU ≥ 0.95, score within 0.02, landmarks within 0.5 px, embedding
//! within L2 0.01.
//!
//! Upsampled runs (4× the pixels) are checked on photos up to 0.6 MP so the
//! default suite stays fast; larger photos are checked without upsampling.

#[path = "support/golden.rs"]
mod golden_support;

use golden_support::{floats, read_json, root};
use homeward_core::faces::{DetectOptions, FaceEngine, FaceOptions, Rect};
use homeward_core::intake;
use serde_json::Value;

const UPSAMPLED_TEST_MAX_PIXELS: u64 = 600_000;

fn engine() -> &'static FaceEngine {
    static ENGINE: std::sync::OnceLock<FaceEngine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| FaceEngine::bundled().expect("bundled models load"))
}

fn golden() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| read_json("fixtures/golden/faces.json"))
}

/// Checks every golden record of `file`; returns how many faces were compared.
fn check(file: &str) -> usize {
    let records: Vec<&Value> = golden()["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter(|r| r["file"] == file)
        .collect();
    assert!(!records.is_empty(), "no golden record for {file}");
    let photo = intake::load_path(&root().join("fixtures").join(file), &Default::default())
        .expect("fixture decodes");
    let img = &photo.image;
    assert_eq!(
        img.width() as u64,
        records[0]["width"].as_u64().unwrap(),
        "{file}: upright width"
    );
    assert_eq!(
        img.height() as u64,
        records[0]["height"].as_u64().unwrap(),
        "{file}: upright height"
    );
    let mut compared = 0;
    for rec in records {
        let upsample = rec["upsample"].as_u64().unwrap() as u8;
        if upsample > 0 && img.width() as u64 * img.height() as u64 > UPSAMPLED_TEST_MAX_PIXELS {
            continue;
        }
        let options = FaceOptions {
            detect: DetectOptions {
                upsample,
                max_pixels: 64_000_000,
            },
            ..Default::default()
        };
        let faces = engine().analyze(img, &options);
        let expected = rec["faces"].as_array().unwrap();
        assert_eq!(
            faces.len(),
            expected.len(),
            "{file} up{upsample}: face count"
        );
        for want in expected {
            let b = floats(&want["box"]);
            let want_rect = Rect::new(b[0] as i64, b[1] as i64, b[2] as i64, b[3] as i64);
            let got = faces
                .iter()
                .max_by(|x, y| x.rect.iou(&want_rect).total_cmp(&y.rect.iou(&want_rect)))
                .unwrap();
            let ctx = format!("{file} up{upsample}");
            assert!(
                got.rect.iou(&want_rect) >= 0.95,
                "{ctx}: box {:?} vs {want_rect:?}",
                got.rect
            );
            let score = want["score"].as_f64().unwrap();
            assert!(
                (got.score - score).abs() <= 0.02,
                "{ctx}: score {} vs {score}",
                got.score
            );
            for (p, q) in got
                .landmarks
                .points
                .iter()
                .zip(want["landmarks"].as_array().unwrap())
            {
                let q = floats(q);
                assert!(
                    (p[0] - q[0]).abs() <= 0.5 && (p[1] - q[1]).abs() <= 0.5,
                    "{ctx}: landmark {p:?} vs {q:?}"
                );
            }
            let e = floats(&want["embedding"]);
            let d = got
                .embedding
                .0
                .iter()
                .zip(&e)
                .map(|(a, b)| (*a as f64 - b).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(d <= 0.01, "{ctx}: embedding distance {d}");
            compared += 1;
        }
    }
    compared
}

macro_rules! golden_test {
    ($name:ident, $file:literal) => {
        #[test]
        fn $name() {
            assert!(check($file) >= 1);
        }
    };
}

golden_test!(astronaut, "astronaut.png");
golden_test!(biden, "biden.jpg");
golden_test!(biden_gray, "biden_gray.jpg");
golden_test!(grace_hopper, "grace_hopper.jpg");
golden_test!(grace_hopper_exif_rotated, "grace_hopper_exif6.jpg");
golden_test!(obama, "obama.jpg");
golden_test!(obama2, "obama2.jpg");
golden_test!(obama3, "obama3.jpg");
golden_test!(obama_partial_face, "obama_partial_face.jpg");
golden_test!(obama_rotated, "obama_rot15.png");

#[test]
fn every_golden_file_has_a_test() {
    let tested = [
        "astronaut.png",
        "biden.jpg",
        "biden_gray.jpg",
        "grace_hopper.jpg",
        "grace_hopper_exif6.jpg",
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "obama_partial_face.jpg",
        "obama_rot15.png",
    ];
    for rec in golden()["images"].as_array().unwrap() {
        assert!(
            tested.contains(&rec["file"].as_str().unwrap()),
            "untested golden file {}",
            rec["file"]
        );
    }
}

#[test]
fn golden_models_are_the_shipped_models() {
    use homeward_core::dlib::ModelKind;
    for kind in [
        ModelKind::Detector,
        ModelKind::Landmarks,
        ModelKind::Embedder,
    ] {
        assert_eq!(
            golden()["models"][kind.file_name()],
            kind.sha256(),
            "{}",
            kind.file_name()
        );
    }
}
