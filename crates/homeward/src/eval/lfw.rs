//! LFW View-2 verification protocol.
//!
//! `pairs.txt` starts with `10 300`: ten folds, each 300 matched pairs
//! (`name n1 n2`) then 300 mismatched pairs (`name1 n1 name2 n2`). For each fold,
//! the distance threshold that is most accurate on the other nine folds is
//! applied to it; the figure is the mean and standard deviation of the ten
//! fold accuracies.
//!
//! `--model` picks the embedding compared (dlib, SFace or their fusion, see
//! [`FaceModel`]); with the fusion, each model alone is also scored on the
//! same embeddings of the same images. `--sface-points` picks SFace's five
//! points ([`SfacePoints`]); with `yunet`, SFace (and the fusion) are also
//! scored from dlib's points on the same images, so one run measures both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::faces::{
    face_chip, Embedding, FaceEngine, FaceOptions, Rect, ShapePredictor, CHIP_PADDING, CHIP_SIZE,
};
use homeward_core::intake::{self, Limits};
use rayon::prelude::*;
use serde::Serialize;

use super::sface_points::{SfaceAligner, SfacePoints, SfaceVectors};
use crate::error::CliError;
use crate::face_args::FaceModel;

/// One pair of images and whether they show the same person.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub same: bool,
}

/// Parses pairs.txt into folds of pairs.
pub fn parse_pairs(text: &str, root: &Path) -> Result<Vec<Vec<Pair>>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("pairs.txt is empty")?;
    let nums: Vec<usize> = header
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [folds, per] = nums[..] else {
        return Err(format!(
            "pairs.txt header should be '<folds> <pairs>', found {header:?}"
        ));
    };
    let image = |name: &str, n: &str| -> Result<PathBuf, String> {
        let n: u32 = n.parse().map_err(|_| format!("bad image number {n:?}"))?;
        Ok(root.join(name).join(format!("{name}_{n:04}.jpg")))
    };
    let mut out = Vec::with_capacity(folds);
    for fold in 0..folds {
        let mut pairs = Vec::with_capacity(2 * per);
        for i in 0..2 * per {
            let line = lines
                .next()
                .ok_or_else(|| format!("pairs.txt ends early in fold {fold} at pair {i}"))?;
            let f: Vec<&str> = line.split_whitespace().collect();
            let pair = match f[..] {
                [name, n1, n2] => Pair {
                    a: image(name, n1)?,
                    b: image(name, n2)?,
                    same: true,
                },
                [name1, n1, name2, n2] => Pair {
                    a: image(name1, n1)?,
                    b: image(name2, n2)?,
                    same: false,
                },
                _ => return Err(format!("bad pairs.txt line {line:?}")),
            };
            pairs.push(pair);
        }
        out.push(pairs);
    }
    Ok(out)
}

/// The accuracy of `threshold` (same person when distance < threshold).
fn accuracy(scored: &[(f32, bool)], threshold: f32) -> f64 {
    let right = scored
        .iter()
        .filter(|(d, same)| (*d < threshold) == *same)
        .count();
    right as f64 / scored.len().max(1) as f64
}

/// The most accurate threshold on `scored`: candidates are midpoints between
/// consecutive sorted distances.
fn best_threshold(scored: &[(f32, bool)]) -> f32 {
    let mut d: Vec<f32> = scored.iter().map(|s| s.0).collect();
    d.sort_by(f32::total_cmp);
    let mut best = (f64::MIN, 0.6);
    for w in d.windows(2) {
        let t = (w[0] + w[1]) / 2.0;
        let a = accuracy(scored, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// Ten-fold accuracies and thresholds from per-fold `(distance, same)` lists.
pub fn ten_fold(folds: &[Vec<(f32, bool)>]) -> Vec<(f64, f32)> {
    (0..folds.len())
        .map(|i| {
            let train: Vec<(f32, bool)> = folds
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, f)| f.iter().copied())
                .collect();
            let t = best_threshold(&train);
            (accuracy(&folds[i], t), t)
        })
        .collect()
}

/// One model's ten-fold result.
#[derive(Debug, Serialize)]
pub struct ModelAccuracy {
    pub model: FaceModel,
    /// SFace's five points (absent for dlib alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_points: Option<SfacePoints>,
    pub mean_accuracy: f64,
    pub std_accuracy: f64,
    pub fold_accuracies: Vec<f64>,
    pub mean_threshold: f32,
}

impl ModelAccuracy {
    fn from_folds(
        model: FaceModel,
        sface_points: Option<SfacePoints>,
        scored: &[Vec<(f32, bool)>],
    ) -> Self {
        let results = ten_fold(scored);
        let accs: Vec<f64> = results.iter().map(|r| r.0).collect();
        let n = accs.len().max(1) as f64;
        let mean = accs.iter().sum::<f64>() / n;
        let std = (accs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n).sqrt();
        ModelAccuracy {
            model,
            sface_points: sface_points.filter(|_| model.needs_sface()),
            mean_accuracy: mean,
            std_accuracy: std,
            fold_accuracies: accs,
            mean_threshold: results.iter().map(|r| r.1).sum::<f32>() / n as f32,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LfwReport {
    pub model: FaceModel,
    pub mean_accuracy: f64,
    pub std_accuracy: f64,
    pub fold_accuracies: Vec<f64>,
    pub mean_threshold: f32,
    pub images: usize,
    /// Images where the detector found no face; the central box was used.
    pub images_without_detection: usize,
    pub images_unreadable: usize,
    pub seconds: f64,
    /// With `--model fusion`: dlib and SFace alone on the same embeddings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub single_models: Vec<ModelAccuracy>,
    /// SFace's five points (with `--model sface|fusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_points: Option<SfacePoints>,
    /// With `--sface-points yunet`: images whose face YuNet did not find
    /// (no YuNet box overlapping the face's box by IoU ≥ 0.5), aligned from
    /// dlib's points instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_points_fallbacks: Option<usize>,
    /// With `--sface-points yunet`: SFace (and the fusion) aligned from
    /// dlib's points, on the same images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with_dlib_points: Vec<ModelAccuracy>,
}

impl LfwReport {
    pub fn to_text(&self) -> String {
        let points = match (self.sface_points, self.sface_points_fallbacks) {
            (Some(p), Some(n)) => format!(
                ", SFace aligned from {} points ({n} of {} images fell back to dlib's)",
                p.name(),
                self.images - self.images_unreadable
            ),
            (Some(p), None) => format!(", SFace aligned from {} points", p.name()),
            _ => String::new(),
        };
        let mut text = format!(
            "LFW View-2, 10 folds, model {:?}{points}: accuracy {:.2}% ± {:.2}% (mean threshold {:.3})\n\
             images: {} ({} without a detected face: central box used; {} unreadable), {:.0} s",
            self.model,
            100.0 * self.mean_accuracy,
            100.0 * self.std_accuracy,
            self.mean_threshold,
            self.images,
            self.images_without_detection,
            self.images_unreadable,
            self.seconds
        );
        for m in &self.single_models {
            text.push_str(&format!(
                "\n  {:?} alone on the same images: {:.2}% ± {:.2}% (mean threshold {:.3})",
                m.model,
                100.0 * m.mean_accuracy,
                100.0 * m.std_accuracy,
                m.mean_threshold
            ));
        }
        for m in &self.with_dlib_points {
            text.push_str(&format!(
                "\n  {:?} aligned from dlib's points on the same images: {:.2}% ± {:.2}% (mean threshold {:.3})",
                m.model,
                100.0 * m.mean_accuracy,
                100.0 * m.std_accuracy,
                m.mean_threshold
            ));
        }
        text
    }
}

/// One image's embeddings: dlib's, and SFace's when the model needs it.
#[derive(Clone, Copy)]
struct Vectors {
    dlib: Embedding,
    sface: Option<SfaceVectors>,
}

enum Embedded {
    Detected(Vectors),
    Fallback(Vectors),
    Unreadable,
}

/// The face nearest the image centre (LFW centres the named person); when the
/// detector finds none, the landmarks of the central 250×250-LFW box.
fn embed_image(
    engine: &FaceEngine,
    sface: Option<&SfaceAligner>,
    predictor: &ShapePredictor,
    path: &Path,
    limits: &Limits,
    options: &FaceOptions,
) -> Result<Embedded, CliError> {
    let Ok(photo) = intake::load_path(path, limits) else {
        return Ok(Embedded::Unreadable);
    };
    let img = &photo.image;
    let (cx, cy) = (img.width() as f64 / 2.0, img.height() as f64 / 2.0);
    let faces = engine.analyze(img, options);
    let nearest = faces.iter().min_by(|a, b| {
        let d = |r: &Rect| {
            let x = (r.left + r.right) as f64 / 2.0 - cx;
            let y = (r.top + r.bottom) as f64 / 2.0 - cy;
            x * x + y * y
        };
        d(&a.rect).total_cmp(&d(&b.rect))
    });
    let sface_of = |rect, landmarks| {
        sface
            .map(|s| s.embed(img, rect, landmarks, options.embed.flip))
            .transpose()
    };
    if let Some(face) = nearest {
        return Ok(Embedded::Detected(Vectors {
            dlib: face.embedding,
            sface: sface_of(face.rect, &face.landmarks)?,
        }));
    }
    // LFW crops put the face in about the central 100 px square.
    let w = img.width() as i64;
    let h = img.height() as i64;
    let rect = Rect::new(w / 2 - 55, h / 2 - 55, w / 2 + 55, h / 2 + 55);
    let landmarks = predictor.predict(img, rect).rounded();
    let embedding = face_chip(img, &landmarks, CHIP_SIZE, CHIP_PADDING)
        .ok()
        .and_then(|chip| engine.embed_chip(&chip.image, &options.embed));
    Ok(match embedding {
        Some(dlib) => Embedded::Fallback(Vectors {
            dlib,
            sface: sface_of(rect, &landmarks)?,
        }),
        None => Embedded::Unreadable,
    })
}

/// Runs the protocol; `sface` (aligned from the points it was made with,
/// `points`) is needed for `--model sface|fusion`.
pub fn evaluate(
    engine: &FaceEngine,
    sface: Option<&SfaceAligner>,
    points: SfacePoints,
    model: FaceModel,
    root: &Path,
    limits: &Limits,
    options: &FaceOptions,
) -> Result<LfwReport, CliError> {
    let start = Instant::now();
    let pairs_path = root.join("pairs.txt");
    let text = std::fs::read_to_string(&pairs_path).map_err(|source| CliError::Io {
        context: format!("cannot read {}", pairs_path.display()),
        source,
    })?;
    let folds = parse_pairs(&text, root).map_err(CliError::Usage)?;
    let mut unique: Vec<&PathBuf> = folds.iter().flatten().flat_map(|p| [&p.a, &p.b]).collect();
    unique.sort();
    unique.dedup();
    let predictor = ShapePredictor::bundled()?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    if model.needs_sface() && sface.is_none() {
        return Err(CliError::Usage(
            "--model sface|fusion needs SFace loaded".into(),
        ));
    }
    let embedded: Vec<(PathBuf, Embedded)> = unique
        .par_iter()
        .map(|p| {
            let e = embed_image(engine, sface, &predictor, p, limits, options)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(500) {
                eprintln!("embedded {n}/{} images", unique.len());
            }
            Ok(((*p).clone(), e))
        })
        .collect::<Result<_, CliError>>()?;
    let mut without = 0;
    let mut unreadable = 0;
    let mut table: HashMap<PathBuf, Vectors> = HashMap::new();
    for (p, e) in embedded {
        match e {
            Embedded::Detected(e) => {
                table.insert(p, e);
            }
            Embedded::Fallback(e) => {
                without += 1;
                table.insert(p, e);
            }
            Embedded::Unreadable => unreadable += 1,
        }
    }
    let fallbacks = (points == SfacePoints::Yunet && model.needs_sface()).then(|| {
        table
            .values()
            .filter(|v| v.sface.and_then(|s| s.yunet_points).is_some_and(|y| y.1))
            .count()
    });
    let score = |model: FaceModel, points: SfacePoints| -> Vec<Vec<(f32, bool)>> {
        let vector = |v: &Vectors| {
            let s = v.sface.and_then(|s| s.get(points)).map(|(e, _)| e);
            model.vector(&v.dlib, s.as_ref())
        };
        let vectors: HashMap<&PathBuf, Vec<f32>> =
            table.iter().map(|(p, v)| (p, vector(v))).collect();
        // A pair with an unreadable image counts as wrong: distance +inf says "different".
        folds
            .iter()
            .map(|fold| {
                fold.iter()
                    .map(|p| {
                        let d = match (vectors.get(&p.a), vectors.get(&p.b)) {
                            (Some(a), Some(b)) => euclidean(a, b),
                            _ => f32::INFINITY,
                        };
                        (d, p.same)
                    })
                    .collect()
            })
            .collect()
    };
    let accuracy =
        |m: FaceModel, p: SfacePoints| ModelAccuracy::from_folds(m, Some(p), &score(m, p));
    let main = accuracy(model, points);
    let single_models = if model == FaceModel::Fusion {
        [FaceModel::Dlib, FaceModel::Sface]
            .into_iter()
            .map(|m| accuracy(m, points))
            .collect()
    } else {
        Vec::new()
    };
    let with_dlib_points = match (model, fallbacks) {
        (FaceModel::Fusion, Some(_)) => [FaceModel::Sface, FaceModel::Fusion]
            .into_iter()
            .map(|m| accuracy(m, SfacePoints::Dlib))
            .collect(),
        (FaceModel::Sface, Some(_)) => vec![accuracy(FaceModel::Sface, SfacePoints::Dlib)],
        _ => Vec::new(),
    };
    Ok(LfwReport {
        model,
        mean_accuracy: main.mean_accuracy,
        std_accuracy: main.std_accuracy,
        fold_accuracies: main.fold_accuracies,
        mean_threshold: main.mean_threshold,
        images: unique.len(),
        images_without_detection: without,
        images_unreadable: unreadable,
        seconds: start.elapsed().as_secs_f64(),
        single_models,
        sface_points: model.needs_sface().then_some(points),
        sface_points_fallbacks: fallbacks,
        with_dlib_points,
    })
}

fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_matched_and_mismatched_lines() {
        let text = "1 1\nA\t1\t2\nA\t1\tB\t3\n";
        let folds = parse_pairs(text, Path::new("/r")).unwrap();
        assert_eq!(folds.len(), 1);
        assert_eq!(folds[0][0].a, Path::new("/r/A/A_0001.jpg"));
        assert!(folds[0][0].same);
        assert_eq!(folds[0][1].b, Path::new("/r/B/B_0003.jpg"));
        assert!(!folds[0][1].same);
    }

    #[test]
    fn short_file_is_an_error() {
        assert!(parse_pairs("2 1\nA 1 2\nA 1 B 2\n", Path::new("/r")).is_err());
        assert!(parse_pairs("", Path::new("/r")).is_err());
    }

    #[test]
    fn ten_fold_picks_separating_threshold() {
        // Same-person distances 0.3-0.4, different 0.8-0.9: every fold is perfect.
        let fold: Vec<(f32, bool)> = vec![(0.3, true), (0.4, true), (0.8, false), (0.9, false)];
        let folds = vec![fold; 10];
        let r = ten_fold(&folds);
        assert!(r.iter().all(|(a, t)| *a == 1.0 && *t > 0.4 && *t < 0.8));
    }

    #[test]
    fn accuracy_counts_errors() {
        let s = vec![(0.3, true), (0.5, false), (0.7, true), (0.9, false)];
        assert_eq!(accuracy(&s, 0.6), 0.5);
    }
}
