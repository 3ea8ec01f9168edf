//! `homeward eval detect`: YuNet against dlib's MMOD detector on every image
//! under a directory (docs/adr-yunet.md).
//!
//! Per image, both detectors run one after the other on the same decoded
//! pixels and are timed separately (wall time). The report counts the
//! images where each found at least one face, where only one of them did,
//! and, where both did, whether their largest faces overlap (IoU ≥ 0.5).
//! Where the largest faces agree, it also compares YuNet's five points with
//! the five SFace template points Homeward derives from dlib's landmarks
//! (`sface::template_points`), in units of the distance between the eyes.
//! File names of the form `SSSAaa` (FG-NET: person, age) are also counted by
//! age band. No image, face or file name is printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use homeward_core::faces::{DetectOptions, Detector, Rect, ShapePredictor};
use homeward_core::intake::{self, Limits};
use homeward_core::sface::template_points;
use homeward_core::yunet::{YuNet, YuNetDetection, YuNetOptions};
use serde::Serialize;

use crate::error::CliError;
use crate::output::outln;

/// Face detection: YuNet against MMOD on every image under --root (walked
/// recursively, sorted by path). Prints counts of images with faces, the
/// images only one detector found a face in, agreement of the largest face
/// and the median time per image of each.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Directory of photos, walked recursively.
    #[arg(long)]
    pub root: PathBuf,
    /// Use only the first N photos in sorted path order.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// MMOD's upsampling (0-2); 1 is the product's default.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub upsample: u8,
    /// YuNet's input: the photo's longest side is scaled to this (32-2048).
    #[arg(long, default_value_t = 640)]
    pub yunet_side: u32,
    /// YuNet's lowest score kept (0-1).
    #[arg(long, default_value_t = 0.9)]
    pub yunet_score: f32,
}

/// Counts for one group of images.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub images: usize,
    pub mmod_found: usize,
    pub yunet_found: usize,
    /// MMOD found a face, YuNet none.
    pub mmod_only: usize,
    /// YuNet found a face, MMOD none.
    pub yunet_only: usize,
    pub neither: usize,
    pub both: usize,
    /// Both found faces and their largest faces overlap with IoU ≥ 0.5.
    pub largest_agree: usize,
}

impl Counts {
    fn add(&mut self, mmod: bool, yunet: bool, agree: bool) {
        self.images += 1;
        self.mmod_found += usize::from(mmod);
        self.yunet_found += usize::from(yunet);
        self.mmod_only += usize::from(mmod && !yunet);
        self.yunet_only += usize::from(yunet && !mmod);
        self.neither += usize::from(!mmod && !yunet);
        self.both += usize::from(mmod && yunet);
        self.largest_agree += usize::from(agree);
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct DetectReport {
    pub root: String,
    pub mmod_upsample: u8,
    pub yunet_side: u32,
    pub yunet_score: f32,
    pub unreadable: usize,
    pub all: Counts,
    /// FG-NET names only: ages 0-10, 11-18, 19 and over.
    pub by_age: Vec<(String, Counts)>,
    pub mmod_median_ms: f64,
    pub yunet_median_ms: f64,
    /// YuNet's time over MMOD's, medians.
    pub yunet_over_mmod: f64,
    /// Faces where the largest boxes agree and both sets of points exist.
    pub points_compared: usize,
    /// Mean distance between YuNet's point and the dlib-derived template
    /// point, over the eye distance (YuNet's), per point: right eye, left
    /// eye, nose tip, right and left mouth corners.
    pub points_mean_error: [f64; 5],
    pub seconds: f64,
}

impl DetectReport {
    pub fn to_text(&self) -> String {
        let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
        let mut s = format!(
            "{} images under {} ({} unreadable); MMOD upsample {}, YuNet side {} score ≥ {}\n",
            self.all.images,
            self.root,
            self.unreadable,
            self.mmod_upsample,
            self.yunet_side,
            self.yunet_score
        );
        s += "group            images  MMOD found  YuNet found  MMOD only  YuNet only  neither  largest agree (of both)\n";
        let row = |name: &str, c: &Counts| {
            format!(
                "{name:<16} {:>6}  {:>5} {:>5.1}%  {:>5} {:>5.1}%  {:>9}  {:>10}  {:>7}  {:>6} of {}\n",
                c.images,
                c.mmod_found,
                pct(c.mmod_found, c.images),
                c.yunet_found,
                pct(c.yunet_found, c.images),
                c.mmod_only,
                c.yunet_only,
                c.neither,
                c.largest_agree,
                c.both
            )
        };
        s += &row("all", &self.all);
        for (name, c) in &self.by_age {
            s += &row(&format!("age {name}"), c);
        }
        s += &format!(
            "median ms per image: MMOD {:.1}, YuNet {:.1} (YuNet/MMOD {:.3})\n",
            self.mmod_median_ms, self.yunet_median_ms, self.yunet_over_mmod
        );
        let e = self.points_mean_error;
        s += &format!(
            "five points, YuNet vs dlib-derived, mean error / eye distance over {} faces: right eye {:.3}, left eye {:.3}, nose {:.3}, right mouth {:.3}, left mouth {:.3}\n",
            self.points_compared, e[0], e[1], e[2], e[3], e[4]
        );
        s += &format!("{:.0} s", self.seconds);
        s
    }
}

/// FG-NET age band from a name like `001A02.JPG` or `012A10a.JPG`.
fn age_band(path: &Path) -> Option<&'static str> {
    let stem = path.file_stem()?.to_str()?;
    let b = stem.as_bytes();
    if b.len() < 6 || !b[..3].iter().all(u8::is_ascii_digit) || b[3] != b'A' {
        return None;
    }
    let age: u32 = stem.get(4..6)?.parse().ok()?;
    Some(match age {
        0..=10 => "0-10",
        11..=18 => "11-18",
        _ => "19+",
    })
}

fn iou(a: &Rect, b: &Rect) -> f64 {
    let ix = (a.right.min(b.right) - a.left.max(b.left) + 1).max(0) as f64;
    let iy = (a.bottom.min(b.bottom) - a.top.max(b.top) + 1).max(0) as f64;
    let area = |r: &Rect| ((r.right - r.left + 1).max(0) * (r.bottom - r.top + 1).max(0)) as f64;
    let inter = ix * iy;
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: &DetectArgs) -> Result<crate::cli::Outcome, CliError> {
    let report = evaluate(args)?;
    if args.json {
        outln!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        outln!("{}", report.to_text());
    }
    Ok(crate::cli::Outcome::Success)
}

pub fn evaluate(args: &DetectArgs) -> Result<DetectReport, CliError> {
    let start = Instant::now();
    let files = crate::eval::dupes::list_images(&args.root, args.limit)?;
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "no images under {}; pass --root a directory of photos",
            args.root.display()
        )));
    }
    let mmod = Detector::bundled()?;
    let shapes = ShapePredictor::bundled()?;
    let yunet = YuNet::bundled()?;
    let mopts = DetectOptions {
        upsample: args.upsample,
        ..DetectOptions::default()
    };
    let yopts = YuNetOptions {
        input_side: args.yunet_side,
        score_threshold: args.yunet_score,
        ..YuNetOptions::default()
    };
    let limits = Limits::default();
    let mut all = Counts::default();
    let mut bands: Vec<(String, Counts)> = ["0-10", "11-18", "19+"]
        .iter()
        .map(|b| (b.to_string(), Counts::default()))
        .collect();
    let (mut mmod_ms, mut yunet_ms) = (Vec::new(), Vec::new());
    let mut unreadable = 0;
    let mut point_sums = [0f64; 5];
    let mut points_compared = 0;
    for path in &files {
        let Ok(decoded) = intake::load_path(path, &limits) else {
            unreadable += 1;
            continue;
        };
        let img = decoded.image;
        let t = Instant::now();
        let m = mmod.detect(&img, &mopts);
        mmod_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let y = yunet
            .detect(&img, &yopts)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        yunet_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let largest_m = m.iter().max_by_key(|d| d.rect.area());
        let largest_y = y.iter().max_by(|a, b| a.area().total_cmp(&b.area()));
        let mut agree = false;
        if let (Some(dm), Some(dy)) = (largest_m, largest_y) {
            agree = iou(&dm.rect, &dy.rect()) >= 0.5;
            if agree {
                if let Some(e) = point_errors(&shapes.predict(&img, dm.rect), dy) {
                    for (s, v) in point_sums.iter_mut().zip(e) {
                        *s += v;
                    }
                    points_compared += 1;
                }
            }
        }
        let (fm, fy) = (!m.is_empty(), !y.is_empty());
        all.add(fm, fy, agree);
        if let Some(band) = age_band(path) {
            if let Some((_, c)) = bands.iter_mut().find(|(b, _)| b == band) {
                c.add(fm, fy, agree);
            }
        }
    }
    bands.retain(|(_, c)| c.images > 0);
    let (mm, ym) = (median(mmod_ms), median(yunet_ms));
    Ok(DetectReport {
        root: args.root.display().to_string(),
        mmod_upsample: args.upsample,
        yunet_side: args.yunet_side,
        yunet_score: args.yunet_score,
        unreadable,
        all,
        by_age: bands,
        mmod_median_ms: mm,
        yunet_median_ms: ym,
        yunet_over_mmod: if mm > 0.0 { ym / mm } else { 0.0 },
        points_compared,
        points_mean_error: point_sums.map(|s| s / points_compared.max(1) as f64),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Distance of each YuNet point from the dlib-derived template point, over
/// YuNet's eye distance; `None` when the eyes coincide.
fn point_errors(
    landmarks: &homeward_core::faces::FaceLandmarks,
    y: &YuNetDetection,
) -> Option<[f64; 5]> {
    let derived = template_points(landmarks);
    let p = y.points.map(|[x, y]| [f64::from(x), f64::from(y)]);
    let eye = ((p[1][0] - p[0][0]).powi(2) + (p[1][1] - p[0][1]).powi(2)).sqrt();
    (eye > 0.0).then(|| {
        std::array::from_fn(|i| {
            ((p[i][0] - derived[i][0]).powi(2) + (p[i][1] - derived[i][1]).powi(2)).sqrt() / eye
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fgnet_ages_only() {
        assert_eq!(age_band(Path::new("x/001A02.JPG")), Some("0-10"));
        assert_eq!(age_band(Path::new("012A10a.JPG")), Some("0-10"));
        assert_eq!(age_band(Path::new("012A11.JPG")), Some("11-18"));
        assert_eq!(age_band(Path::new("002A43.JPG")), Some("19+"));
        assert_eq!(age_band(Path::new("Aaron_Eckhart_0001.jpg")), None);
        assert_eq!(age_band(Path::new("01A02.jpg")), None);
    }

    #[test]
    fn counts_and_overlap() {
        let mut c = Counts::default();
        c.add(true, false, false);
        c.add(true, true, true);
        c.add(false, false, false);
        assert_eq!(
            (
                c.images,
                c.mmod_only,
                c.yunet_only,
                c.neither,
                c.both,
                c.largest_agree
            ),
            (3, 1, 0, 1, 1, 1)
        );
        let a = Rect::new(0, 0, 9, 9);
        assert_eq!(iou(&a, &a), 1.0);
        assert!((iou(&a, &Rect::new(5, 0, 14, 9)) - 50.0 / 150.0).abs() < 1e-12);
        assert_eq!(iou(&a, &Rect::new(20, 20, 29, 29)), 0.0);
    }
}
