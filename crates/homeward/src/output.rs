//! What the CLI prints about a photo, as JSON lines or text.

use std::path::{Path, PathBuf};

use homeward_core::faces::Face;
use image::RgbImage;
use serde::Serialize;

/// File endings picked up when a directory is walked.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];

#[derive(Debug, Serialize)]
pub struct FaceReport {
    #[serde(rename = "box")]
    pub bbox: [i64; 4],
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
    pub embedding: Vec<f32>,
}

/// One photo's result: faces, or the reason it could not be read.
#[derive(Debug, Serialize)]
pub struct ImageReport {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ImageReport {
    pub fn from_faces(path: &Path, image: &RgbImage, faces: &[Face]) -> Self {
        let faces = faces
            .iter()
            .map(|f| FaceReport {
                bbox: [f.rect.left, f.rect.top, f.rect.right, f.rect.bottom],
                score: f.score,
                landmarks: f.landmarks.points,
                embedding: f.embedding.0.to_vec(),
            })
            .collect();
        ImageReport {
            path: path.display().to_string(),
            width: Some(image.width()),
            height: Some(image.height()),
            faces: Some(faces),
            error: None,
        }
    }

    pub fn error(path: &Path, error: String) -> Self {
        ImageReport {
            path: path.display().to_string(),
            width: None,
            height: None,
            faces: None,
            error: Some(error),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: error: {e}", self.path);
        }
        let faces = self.faces.as_deref().unwrap_or(&[]);
        let mut s = format!(
            "{}: {}x{}, {} face(s)",
            self.path,
            self.width.unwrap_or(0),
            self.height.unwrap_or(0),
            faces.len()
        );
        for (i, f) in faces.iter().enumerate() {
            let [l, t, r, b] = f.bbox;
            s.push_str(&format!(
                "\n  face {i}: box ({l},{t})-({r},{b}) score {:.3}",
                f.score
            ));
        }
        s
    }
}

/// Expands directories (recursively, sorted, image files only) and keeps files
/// as given. Paths that do not exist are reported as errors here and skipped;
/// the returned flag says whether any was.
pub fn expand_paths(paths: &[PathBuf], json: bool) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut failed = false;
    for p in paths {
        if p.is_dir() {
            if let Err(e) = walk(p, &mut files) {
                failed = true;
                report_error(p, &format!("cannot read directory: {e}"), json);
            }
        } else {
            files.push(p.clone()); // missing files are reported by intake
        }
    }
    (files, failed)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else if is_image_name(&path) {
            files.push(path);
        }
    }
    Ok(())
}

pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn report_error(path: &Path, error: &str, json: bool) {
    let report = ImageReport::error(path, error.to_string());
    println!(
        "{}",
        if json {
            report.to_json()
        } else {
            report.to_text()
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert!(is_image_name(Path::new("a/B.JPG")));
        assert!(is_image_name(Path::new("x.webp")));
        assert!(!is_image_name(Path::new("notes.txt")));
        assert!(!is_image_name(Path::new("noext")));
    }

    #[test]
    fn error_json_has_path_and_error_only() {
        let r = ImageReport::error(Path::new("x.jpg"), "bad".into());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"path": "x.jpg", "error": "bad"}));
    }
}
