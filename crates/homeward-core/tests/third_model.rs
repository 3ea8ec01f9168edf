//! Issue 16: "a third model is one file plus its weights". A test-only
//! [`Embedder`] of 512 dimensions (an ArcFace-sized model) that derives a
//! deterministic vector from the photo is enabled beside dlib and SFace;
//! its vectors are stored at its dimension, indexed in its own 512-d index,
//! found again through it (also after a reopen, from its snapshot), and a
//! vector of another dimension is refused with an error naming the model.

use homeward_core::faces::{Embedder, FaceLandmarks};
use homeward_core::index::{IndexError, SearchFilter};
use homeward_core::store::{
    CaseStatus, FaceRecord, FaceTable, IndexOrigin, Metric, ModelSpec, ModelVector, PhotoMeta,
    Registry, StoreError,
};
use image::{Rgb, RgbImage};

#[path = "support/models.rs"]
mod models;
use models::{case, sface};

const WIDE: &str = "wide512";

/// The fake third model: a 512-d unit vector seeded by the photo's pixels
/// around each face's landmarks.
struct Wide;

impl Embedder for Wide {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            name: WIDE.into(),
            version: "test-1+flip".into(),
            dim: 512,
            metric: Metric::Cosine,
        }
    }

    fn input_template(&self) -> &'static str {
        "the photo's pixels around the five points (test only)"
    }

    fn embed(&self, photo: &RgbImage, landmarks: &[FaceLandmarks]) -> Vec<Vec<f32>> {
        landmarks
            .iter()
            .map(|lm| {
                // FNV-1a over the pixels in a 9×9 window at each point.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for [x, y] in lm.points {
                    for dy in -4i64..=4 {
                        for dx in -4i64..=4 {
                            let (px, py) = (x as i64 + dx, y as i64 + dy);
                            let inside = px >= 0
                                && py >= 0
                                && (px as u32) < photo.width()
                                && (py as u32) < photo.height();
                            let p = if inside {
                                photo.get_pixel(px as u32, py as u32).0
                            } else {
                                [0; 3]
                            };
                            for b in p {
                                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                            }
                        }
                    }
                }
                // splitmix64 from the hash, then scaled to length 1 (cosine).
                let mut v: Vec<f32> = (0..512)
                    .map(|_| {
                        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let mut z = h;
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
                v
            })
            .collect()
    }
}

/// A 120×120 photo whose pixels depend on `seed`.
fn photo(seed: u8) -> RgbImage {
    RgbImage::from_fn(120, 120, |x, y| {
        let v = (x * 7 + y * 13 + u32::from(seed) * 31) % 251;
        Rgb([v as u8, seed.wrapping_mul(17), (x ^ y) as u8])
    })
}

fn landmarks() -> FaceLandmarks {
    FaceLandmarks {
        points: [
            [40.0, 50.0],
            [80.0, 50.0],
            [60.0, 65.0],
            [45.0, 85.0],
            [75.0, 85.0],
        ],
    }
}

/// A face as the intake would record it: dlib's embedding (here a stand-in
/// along its first axis) plus one vector of each other model.
fn face(dlib: f32, img: &RgbImage, sface_axis: usize) -> FaceRecord {
    let lm = landmarks();
    let mut embedding = [0f32; 128];
    embedding[0] = dlib;
    let mut sface_v = vec![0.0; 128];
    sface_v[sface_axis] = 1.0;
    let wide = Wide.embed(img, std::slice::from_ref(&lm)).remove(0);
    FaceRecord {
        bbox: [30.0, 30.0, 90.0, 100.0],
        landmarks: lm.points.map(|p| p.map(|v| v as f32)),
        embedding,
        chip_hash: None,
        model: "dlib_face_recognition_resnet_model_v1".into(),
        vectors: vec![
            ModelVector {
                model: "sface".into(),
                version: "test-v1".into(),
                vector: sface_v,
            },
            ModelVector {
                model: WIDE.into(),
                version: Wide.spec().version,
                vector: wide,
            },
        ],
    }
}

fn searching() -> SearchFilter {
    SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    }
}

#[test]
fn a_third_model_of_512_dimensions_finds_the_case_through_its_own_index_beside_dlib() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    reg.enable_models("w", &[sface(), Wide.spec()]).unwrap();
    let mut cases = Vec::new();
    for i in 0..6u8 {
        let c = reg.add_case("w", &case(&format!("child {i}"))).unwrap();
        let img = photo(i);
        let bytes = [b'p', i];
        reg.add_photo(
            "w",
            c,
            &bytes,
            &PhotoMeta::default(),
            &[face(0.1 * f32::from(i), &img, usize::from(i))],
        )
        .unwrap();
        cases.push(c);
    }
    // A sighting photo of child 4: the third model's vector of it, through
    // its own index, and dlib's stand-in through dlib's, find case 4 first.
    let query = Wide.embed(&photo(4), &[landmarks()]).remove(0);
    assert_eq!(query.len(), 512);
    let wide_hits = reg.search_model(WIDE, &query, &searching(), 3).unwrap();
    assert_eq!(wide_hits[0].0, cases[4]);
    assert!(wide_hits[0].1 < 1e-5, "{wide_hits:?}");
    assert!(wide_hits[1].1 > 0.5, "{wide_hits:?}");
    let mut dlib_q = [0f32; 128];
    dlib_q[0] = 0.4;
    let dlib_hits = reg.search_with(&dlib_q, &searching(), 1, 1).unwrap();
    assert_eq!(dlib_hits[0].case_id, cases[4]);

    // A vector of SFace's dimension given to the third model: typed, named.
    let e = reg
        .search_model(WIDE, &query[..128], &searching(), 3)
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Index(IndexError::WrongDimension {
            model, expected: 512, found: 128 }) if model == WIDE),
        "{e}"
    );
    assert!(
        e.to_string().contains("wide512 index holds 512-d vectors"),
        "{e}"
    );

    // Saved, reopened: the 512-d index comes back from its own snapshot.
    reg.save_index().unwrap();
    drop(reg);
    let reg = Registry::open(dir.path()).unwrap();
    let origin = reg
        .model_index_origins()
        .iter()
        .find(|(m, _)| m == WIDE)
        .map(|(_, o)| o.clone());
    assert!(
        matches!(origin, Some(IndexOrigin::Snapshot { added: 0 })),
        "{origin:?}"
    );
    let again = reg.search_model(WIDE, &query, &searching(), 1).unwrap();
    assert_eq!(again[0].0, cases[4]);
    let stored = reg
        .model_vectors_of(FaceTable::Case, WIDE, &[1, 2, 3])
        .unwrap();
    assert!(stored.values().all(|v| v.len() == 512));
}
