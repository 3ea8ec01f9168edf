//! `homeward embed` end to end, through the binary.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};

use common::cli::{json_lines, outcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `homeward ARGS` run at the top of the repository.
fn homeward(args: &[&str]) -> (i32, String, String) {
    let out = common::cli::homeward()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run homeward");
    outcome(&out)
}

#[test]
fn json_output_has_the_documented_shape() {
    let (code, out, err) = homeward(&[
        "embed",
        "--json",
        "--upsample",
        "0",
        "fixtures/astronaut.png",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let v = &lines[0];
    assert_eq!(v["path"], "fixtures/astronaut.png");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(512), Some(512))
    );
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1);
    let f = &faces[0];
    assert_eq!(f["box"].as_array().unwrap().len(), 4);
    assert!(f["score"].as_f64().unwrap() > 0.5);
    assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    assert_eq!(f["embedding"].as_array().unwrap().len(), 128);
}

#[test]
fn bad_inputs_are_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let random = dir.path().join("random.png");
    std::fs::write(
        &random,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let truncated = dir.path().join("truncated.jpg");
    let full = std::fs::read(root().join("fixtures/grace_hopper.jpg")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let missing = dir.path().join("missing.jpg");
    let args: Vec<String> = ["embed", "--json", "--upsample", "0"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            [&empty, &random, &truncated, &missing]
                .iter()
                .map(|p| p.display().to_string()),
        )
        .chain(["fixtures/astronaut.png".to_string()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = homeward(&args);
    assert_eq!(code, 1, "some inputs failed");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 5);
    for v in &lines[..4] {
        let e = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error for {v}"));
        assert!(!e.is_empty());
        assert!(v.get("faces").is_none());
    }
    assert_eq!(
        lines[4]["faces"].as_array().unwrap().len(),
        1,
        "the good photo after the bad ones"
    );
}

#[test]
fn directories_are_walked_for_images() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("fixtures/astronaut.png"),
        dir.path().join("a.png"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::copy(
        root().join("fixtures/grace_hopper.jpg"),
        dir.path().join("sub/b.JPG"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a photo").unwrap();
    let (code, out, err) = homeward(&[
        "embed",
        "--json",
        "--upsample",
        "0",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["path"].as_str().unwrap().ends_with("a.png"));
    assert!(lines[1]["path"].as_str().unwrap().ends_with("b.JPG"));
}

#[test]
fn text_output_and_usage_errors() {
    let (code, out, _) = homeward(&["embed", "--upsample", "0", "fixtures/astronaut.png"]);
    assert_eq!(code, 0);
    assert!(out.contains("1 face(s)"), "{out}");
    let (code, _, err) = homeward(&["embed", "--upsample", "7", "fixtures/astronaut.png"]);
    assert_eq!(code, 2);
    assert!(err.contains("upsample"), "{err}");
}

#[test]
fn model_switch_prints_each_models_vector() {
    // Two photos of Obama and one of Biden: with every model, the same person is nearer.
    let photos = [
        "fixtures/obama.jpg",
        "fixtures/obama2.jpg",
        "fixtures/biden.jpg",
    ];
    let mut dlib = vec![];
    for (model, dim) in [("dlib", 128), ("sface", 128), ("fusion", 256)] {
        let mut args = vec!["embed", "--json", "--upsample", "0", "--model", model];
        args.extend(photos);
        let (code, out, err) = homeward(&args);
        assert_eq!(code, 0, "{model}: {err}");
        let vectors: Vec<Vec<f64>> = json_lines(&out)
            .iter()
            .map(|v| {
                v["faces"][0]["embedding"]
                    .as_array()
                    .expect("embedding")
                    .iter()
                    .map(|x| x.as_f64().expect("number"))
                    .collect()
            })
            .collect();
        assert!(vectors.iter().all(|v| v.len() == dim), "{model}: length");
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let dist = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt()
        };
        match model {
            "dlib" => dlib = vectors[0].clone(),
            "sface" => assert!((norm(&vectors[0]) - 1.0).abs() < 1e-4),
            _ => {
                // dlib's part is dlib's own vector scaled to length 1.
                let n = norm(&dlib);
                for (f, d) in vectors[0][..128].iter().zip(&dlib) {
                    assert!((f - d / n).abs() < 1e-5);
                }
                assert!((norm(&vectors[0][128..]) - 1.0).abs() < 1e-4);
            }
        }
        let (same, other) = (
            dist(&vectors[0], &vectors[1]),
            dist(&vectors[0], &vectors[2]),
        );
        assert!(same < other, "{model}: same {same} vs other {other}");
    }
}
