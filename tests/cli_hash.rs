//! End-to-end tests of `homeward hash` and `homeward dupes`: the real binary
//! on fixture photos and on edited copies made in a temporary directory.
//! Detection runs at --upsample 0 to keep these fast.

#[allow(dead_code)]
mod common;

use std::path::PathBuf;

use common::cli::{json_lines, lossy, run};
use common::fixtures::fixture_path;
use image::RgbImage;
use serde_json::Value;

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("homeward-cli-hash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn is_hex64(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn hash_json_gives_pdq_and_a_chip_hash_per_face() {
    let path = fixture_path("grace_hopper.jpg");
    let out = run(&["hash", "--json", "--upsample", "0", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&lossy(&out.stdout));
    assert_eq!(lines.len(), 1);
    let photo = &lines[0];
    assert_eq!(photo["width"], 512);
    assert!(is_hex64(&photo["pdq"]), "{photo}");
    assert!(photo["quality"].as_u64().is_some_and(|q| q >= 50));
    let faces = photo["faces"].as_array().expect("faces array");
    assert_eq!(faces.len(), 1, "{photo}");
    assert!(is_hex64(&faces[0]["chip"]) && is_hex64(&faces[0]["chip_mirrored"]));
    let bbox: Vec<i64> = faces[0]["box"]
        .as_array()
        .expect("box")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    // The face is in the upper middle of the portrait.
    assert_eq!(bbox.len(), 4);
    assert!(
        bbox[0] > 100 && bbox[2] < 420 && bbox[1] > 50 && bbox[3] < 400,
        "{bbox:?}"
    );
}

#[test]
fn too_small_photo_is_an_error_with_exit_code_1() {
    let dir = temp_dir("small");
    let tiny = dir.join("tiny.png");
    RgbImage::from_fn(24, 28, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 5) as u8, 80])
    })
    .save(&tiny)
    .unwrap();
    let big = fixture_path("golden/chips/astronaut_up0_0.png");
    let out = run(&[
        "hash",
        "--json",
        "--upsample",
        "0",
        tiny.to_str().unwrap(),
        big.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&lossy(&out.stdout));
    assert_eq!(lines.len(), 2, "the run goes on past the failure");
    let error = lines[0]["error"].as_str().expect("error message");
    assert!(error.contains("24x28") && error.contains("32"), "{error}");
    assert!(lines[0].get("pdq").is_none());
    assert!(is_hex64(&lines[1]["pdq"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dupes_groups_an_edited_copy_and_keeps_other_photos_apart() {
    let dir = temp_dir("dupes");
    let original = image::open(fixture_path("grace_hopper.jpg"))
        .unwrap()
        .to_rgb8();
    // A re-encoded copy with 6 % cropped off every edge.
    let (w, h) = original.dimensions();
    let (dx, dy) = (w * 6 / 100, h * 6 / 100);
    let cropped = image::imageops::crop_imm(&original, dx, dy, w - 2 * dx, h - 2 * dy).to_image();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 60)
        .encode_image(&cropped)
        .unwrap();
    std::fs::write(dir.join("b_repost.jpg"), jpeg).unwrap();
    std::fs::copy(fixture_path("grace_hopper.jpg"), dir.join("a_original.jpg")).unwrap();
    std::fs::copy(fixture_path("astronaut.png"), dir.join("c_other.png")).unwrap();
    std::fs::copy(
        fixture_path("golden/chips/obama_up0_0.png"),
        dir.join("d_other.png"),
    )
    .unwrap();

    let out = run(&["dupes", "--json", "--upsample", "0", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let groups = json_lines(&lossy(&out.stdout));
    assert_eq!(groups.len(), 1, "{groups:?}");
    let photos: Vec<&str> = groups[0]["photos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(photos.len(), 2);
    assert!(photos[0].ends_with("a_original.jpg") && photos[1].ends_with("b_repost.jpg"));
    let links = groups[0]["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    let link = &links[0];
    assert!(
        matches!(link["hash"].as_str(), Some("pdq") | Some("chip")),
        "{link}"
    );
    assert!(link["distance"].as_u64().is_some_and(|d| d <= 40), "{link}");
    std::fs::remove_dir_all(&dir).unwrap();
}
