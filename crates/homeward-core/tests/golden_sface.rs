//! SFace against onnxruntime on every fixture face.
//!
//! References: `fixtures/golden/sface/sface.json` and its chips, made by
//! `tools/golden_sface.py` (onnxruntime on the same ONNX file, whose checksum
//! the file records) from dlib's landmarks in `fixtures/golden/faces.json`
//! and the pixels Homeward's intake decodes. Per face:
//! - the five template points derived from dlib's landmarks match the
//!   reference within 1e-9 px;
//! - the 112×112 chip Homeward warps matches the reference chip;
//! - the embedding of the reference chip, of its mirror image, and of
//!   Homeward's own chip are each within 1e-4 of onnxruntime's, component by
//!   component.

#[path = "support/golden.rs"]
mod golden_support;

use golden_support::{floats, read_json, root};
use homeward_core::faces::FaceLandmarks;
use homeward_core::intake;
use homeward_core::sface::{self, SFace};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn sface() -> &'static SFace {
    static MODEL: std::sync::OnceLock<SFace> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| SFace::bundled().expect("bundled SFace loads"))
}

fn golden() -> Value {
    read_json("fixtures/golden/sface/sface.json")
}

fn points(v: &Value) -> [[f64; 2]; 5] {
    let rows: Vec<Vec<f64>> = v.as_array().expect("points").iter().map(floats).collect();
    std::array::from_fn(|i| [rows[i][0], rows[i][1]])
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - *w as f32).abs())
        .fold(0f32, f32::max);
    assert!(worst <= TOLERANCE, "{what}: largest difference {worst}");
}

#[test]
fn every_fixture_face_matches_onnxruntime() {
    let doc = golden();
    assert_eq!(
        doc["model"][sface::SFACE_FILE].as_str(),
        Some(sface::SFACE_SHA256),
        "references made from another model file"
    );
    let faces = doc["faces"].as_array().expect("faces");
    assert!(faces.len() >= 10, "one face per fixture photo");
    for face in faces {
        let file = face["file"].as_str().expect("file");
        let photo = intake::load_path(&root().join("fixtures").join(file), &Default::default())
            .expect("fixture decodes");
        let landmarks = FaceLandmarks {
            points: points(&face["landmarks"]),
        };

        let derived = sface::template_points(&landmarks);
        for (d, w) in derived.iter().zip(points(&face["template_points"])) {
            assert!(
                (d[0] - w[0]).abs() < 1e-9 && (d[1] - w[1]).abs() < 1e-9,
                "{file}: template point {d:?} vs {w:?}"
            );
        }

        let chip_path = root()
            .join("fixtures/golden/sface/chips")
            .join(face["chip"].as_str().expect("chip"));
        let reference = image::open(&chip_path).expect("chip").to_rgb8();
        let ours = sface::align_dlib(&photo.image, &landmarks);
        assert_eq!(ours.dimensions(), (112, 112));
        let differing = ours
            .pixels()
            .zip(reference.pixels())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{file}: {differing} chip pixels differ");

        let want = floats(&face["embedding"]);
        let flipped = image::imageops::flip_horizontal(&reference);
        let got = sface()
            .embed_chips(&[&reference, &flipped, &ours])
            .expect("112×112 chips");
        assert_close(&got[0].0, &want, &format!("{file}: reference chip"));
        assert_close(
            &got[1].0,
            &floats(&face["embedding_of_flipped_chip"]),
            &format!("{file}: mirrored chip"),
        );
        assert_close(&got[2].0, &want, &format!("{file}: Homeward's chip"));

        // The same face through the public one-call path, alone and flip-averaged.
        let one = sface().embed_face(&photo.image, &landmarks, false);
        assert_close(&one.0, &want, &format!("{file}: embed_face"));
        let mean: Vec<f64> = want
            .iter()
            .zip(floats(&face["embedding_of_flipped_chip"]))
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        let averaged = sface().embed_face(&photo.image, &landmarks, true);
        assert_close(&averaged.0, &mean, &format!("{file}: flip-averaged"));
    }
}

#[test]
fn different_people_are_further_apart_than_the_same_person() {
    // Obama's three fixture photos against Biden and Grace Hopper, by cosine.
    let doc = golden();
    let faces = doc["faces"].as_array().expect("faces");
    let embedding = |file: &str| {
        let f = faces.iter().find(|f| f["file"] == file).expect("face");
        let photo = intake::load_path(&root().join("fixtures").join(file), &Default::default())
            .expect("decodes");
        let marks = FaceLandmarks {
            points: points(&f["landmarks"]),
        };
        sface().embed_face(&photo.image, &marks, false)
    };
    let obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"].map(embedding);
    let others = ["biden.jpg", "grace_hopper.jpg"].map(embedding);
    let same = obama[0].cosine(&obama[1]).min(obama[0].cosine(&obama[2]));
    let different = others
        .iter()
        .map(|o| obama[0].cosine(o))
        .fold(f32::MIN, f32::max);
    assert!(
        same > different + 0.2,
        "same {same} vs different {different}"
    );
}
