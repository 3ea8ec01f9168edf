//! The fast inference path gives dlib's outputs: `FaceEngine::analyze` on the
//! lossless fixtures at upsample 0 against `fixtures/golden/faces.json`
//! (dlib 20.0.1). Boxes must be identical, scores within 1e-4 and embeddings
//! within 1e-4 in Euclidean distance; the batched embedder must agree with
//! embedding each chip alone.

use std::path::{Path, PathBuf};

use homeward_core::faces::{DetectOptions, EmbedOptions, FaceEngine, FaceOptions, Rect};
use serde_json::Value;

const SCORE_TOL: f64 = 1e-4;
const EMBEDDING_TOL: f32 = 1e-4;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden_faces(file: &str, upsample: u64) -> Vec<(Rect, f64, Vec<f32>)> {
    let text = std::fs::read_to_string(repo().join("fixtures/golden/faces.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let image = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["file"] == file && i["upsample"].as_u64() == Some(upsample))
        .unwrap();
    image["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b: Vec<i64> = f["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            let e = f["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            (
                Rect::new(b[0], b[1], b[2], b[3]),
                f["score"].as_f64().unwrap(),
                e,
            )
        })
        .collect()
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[test]
fn analyze_matches_dlib_on_lossless_fixtures() {
    let engine = FaceEngine::bundled().unwrap();
    let options = FaceOptions {
        detect: DetectOptions {
            upsample: 0,
            ..DetectOptions::default()
        },
        embed: EmbedOptions::default(),
    };
    for file in ["astronaut.png", "obama_rot15.png"] {
        let photo = image::open(repo().join("fixtures").join(file))
            .unwrap()
            .to_rgb8();
        let faces = engine.analyze(&photo, &options);
        let want = golden_faces(file, 0);
        assert_eq!(faces.len(), want.len(), "{file}: number of faces");
        for (face, (rect, score, embedding)) in faces.iter().zip(&want) {
            assert_eq!(face.rect, *rect, "{file}: box");
            let ds = (face.score - score).abs();
            let de = distance(&face.embedding.0, embedding);
            println!("{file}: score off by {ds:.2e}, embedding off by {de:.2e}");
            assert!(ds <= SCORE_TOL, "{file}: score {} vs {score}", face.score);
            assert!(de <= EMBEDDING_TOL, "{file}: embedding off by {de}");
            // The chip embedded alone gives the same vector as in the batch.
            let alone = engine
                .embed_chip(&face.chip, &EmbedOptions::default())
                .unwrap();
            let db = distance(&alone.0, &face.embedding.0);
            assert!(db <= 1e-5, "{file}: batched vs single {db}");
        }
    }
}
