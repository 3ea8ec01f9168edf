//! YuNet against onnxruntime on every fixture photo.
//!
//! References: `fixtures/golden/yunet/yunet.json`, made by
//! `tools/golden_yunet.py` (onnxruntime on the same ONNX file, whose checksum
//! the file records) from the pixels Homeward's intake decodes, shrunk by a
//! whole factor in integers and padded to multiples of 32 (repeated exactly
//! here, so both sides run the network on the same input). Per photo:
//! - the raw outputs of the sampled anchors (every 37th of each level and
//!   every anchor scoring 0.5 or more) are within 1e-4 of onnxruntime's;
//! - the faces decoded from Homeward's outputs (score ≥ 0.5, NMS at 0.3) are
//!   the reference's faces, in order, with the same score within 1e-4 and
//!   every box edge and point within `0.02 + 1e-3 · box size` px.
//!
//! Why that tolerance: a position is `(anchor + offset) · stride` and a size
//! `e^v · stride`. With outputs within 1e-4, a position moves by at most
//! 1e-4 · 32 = 0.0032 px and a size by a relative 1e-4, i.e. 0.03 px on a
//! 300 px box; the bound leaves a margin of several times that and is still
//! far below a pixel.

#[path = "support/golden.rs"]
mod golden_support;

use golden_support::{floats, read_json, root};
use homeward_core::intake;
use homeward_core::yunet::{self, decode, nms, YuNet};
use image::RgbImage;

const TOLERANCE: f32 = 1e-4;

fn yunet() -> &'static YuNet {
    static MODEL: std::sync::OnceLock<YuNet> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| YuNet::bundled().expect("bundled YuNet loads"))
}

/// The reference's network input: `k × k` block means in integers (half
/// up), partial blocks dropped, black padding to multiples of 32.
fn network_input(photo: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = (photo.width() / k, photo.height() / k);
    let pad = |v: u32| v.div_ceil(32) * 32;
    let mut out = RgbImage::new(pad(w), pad(h));
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0u32; 3];
            for dy in 0..k {
                for dx in 0..k {
                    let p = photo.get_pixel(x * k + dx, y * k + dy);
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
            }
            let n = k * k;
            out.put_pixel(x, y, image::Rgb(sum.map(|s| ((s + n / 2) / n) as u8)));
        }
    }
    out
}

fn worst(got: impl Iterator<Item = f32>, want: &[f64]) -> f32 {
    got.zip(want)
        .map(|(g, w)| (g - *w as f32).abs())
        .fold(0f32, f32::max)
}

#[test]
fn every_fixture_photo_matches_onnxruntime() {
    let doc = read_json("fixtures/golden/yunet/yunet.json");
    assert_eq!(
        doc["model"][yunet::YUNET_FILE].as_str(),
        Some(yunet::YUNET_SHA256),
        "references made from another model file"
    );
    let score = doc["decode"]["score_threshold"].as_f64().unwrap() as f32;
    let iou = doc["decode"]["nms_threshold"].as_f64().unwrap() as f32;
    let photos = doc["photos"].as_array().expect("photos");
    assert!(
        photos.len() >= 12,
        "every fixture photo and two without faces"
    );
    let mut faces_seen = 0;
    for rec in photos {
        let file = rec["file"].as_str().unwrap();
        let decoded = intake::load_path(&root().join("fixtures").join(file), &Default::default())
            .expect("fixture decodes");
        let k = rec["shrink"].as_u64().unwrap() as u32;
        let input = network_input(&decoded.image, k);
        assert_eq!(
            (input.width() as u64, input.height() as u64),
            (
                rec["width"].as_u64().unwrap(),
                rec["height"].as_u64().unwrap()
            ),
            "{file}: input size"
        );
        let raw = yunet().forward(&input).expect("network runs");
        for (level, want) in raw.levels.iter().zip(rec["levels"].as_array().unwrap()) {
            assert_eq!(level.stride as u64, want["stride"].as_u64().unwrap());
            let anchors: Vec<usize> = want["anchors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_u64().unwrap() as usize)
                .collect();
            let pick = |v: &[f32], k: usize| -> Vec<f32> {
                anchors
                    .iter()
                    .flat_map(|&a| v[a * k..(a + 1) * k].to_vec())
                    .collect()
            };
            for (name, values, k) in [
                ("cls", &level.cls, 1),
                ("obj", &level.obj, 1),
                ("bbox", &level.bbox, 4),
                ("kps", &level.kps, 10),
            ] {
                let want = floats(&want[name]);
                let got = pick(values, k);
                assert_eq!(got.len(), want.len(), "{file} {name}_{}", level.stride);
                let d = worst(got.into_iter(), &want);
                assert!(
                    d <= TOLERANCE,
                    "{file} {name}_{}: largest difference {d}",
                    level.stride
                );
            }
        }
        let found = nms(decode(&raw, score, usize::MAX), iou, usize::MAX);
        let want = rec["faces"].as_array().unwrap();
        assert_eq!(found.len(), want.len(), "{file}: number of faces");
        for (d, w) in found.iter().zip(want) {
            assert!(
                (d.score - w["score"].as_f64().unwrap() as f32).abs() <= TOLERANCE,
                "{file}: score"
            );
            let wb = floats(&w["box"]);
            let tol = 0.02 + 1e-3 * wb[2].max(wb[3]) as f32;
            let got_box = [d.x, d.y, d.width, d.height];
            let db = worst(got_box.into_iter(), &wb);
            assert!(db <= tol, "{file}: box differs by {db} px (bound {tol})");
            let wp: Vec<f64> = w["points"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(floats)
                .collect();
            let dp = worst(d.points.iter().flatten().copied(), &wp);
            assert!(dp <= tol, "{file}: points differ by {dp} px (bound {tol})");
            faces_seen += 1;
        }
    }
    assert!(
        faces_seen >= 10,
        "one face in each fixture photo with a face"
    );
}

/// Physical checks of the whole path (letterbox, network, decode, NMS,
/// mapping back): the face of a photo is found at the same place whatever
/// the photo's size, and its five points sit inside its box in the usual
/// order.
#[test]
fn detect_maps_faces_back_to_the_photo() {
    let photo = intake::load_path(&root().join("fixtures/obama.jpg"), &Default::default())
        .expect("fixture decodes")
        .image;
    let opts = yunet::YuNetOptions::default();
    let big = yunet().detect(&photo, &opts).expect("runs");
    assert_eq!(big.len(), 1, "one face in obama.jpg");
    let half = image::imageops::resize(
        &photo,
        photo.width() / 2,
        photo.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    let small = yunet().detect(&half, &opts).expect("runs");
    assert_eq!(small.len(), 1);
    let (a, b) = (big[0], small[0]);
    // The same face: boxes in photo coordinates agree at half the size.
    let scaled = homeward_core::yunet::YuNetDetection {
        x: b.x * 2.0,
        y: b.y * 2.0,
        width: b.width * 2.0,
        height: b.height * 2.0,
        ..b
    };
    assert!(a.iou(&scaled) > 0.9, "IoU {}", a.iou(&scaled));
    for [x, y] in a.points {
        assert!(x > a.x && x < a.x + a.width && y > a.y && y < a.y + a.height);
    }
    let [re, le, nose, rm, lm] = a.points;
    assert!(re[0] < le[0] && rm[0] < lm[0], "image-left points first");
    assert!(
        re[1] < nose[1] && nose[1] < rm[1],
        "eyes above nose above mouth"
    );
}
