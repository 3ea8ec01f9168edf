//! SFace's five points from YuNet, for a face that MMOD found.
//!
//! SFace's template points (eye centres, nose tip, mouth corners) are the
//! five points YuNet gives for each face, whereas Homeward's default derives
//! them from dlib's five landmarks by a fitted mapping
//! ([`super::align::template_points`]). For faces found by MMOD (the
//! product's detector), [`five_points`] runs YuNet on the same decoded photo
//! and, for each MMOD box, takes the YuNet face whose box overlaps it best
//! (intersection over union at least [`MatchOptions::min_iou`]); its five
//! points go to [`super::align::align`] unchanged. A face without such a
//! YuNet face keeps the points derived from its dlib landmarks and is marked
//! [`PointSource::DlibFallback`], so callers can count the fallbacks.
//!
//! Nothing here decides which points the product uses: the input sizes,
//! score threshold and overlap are the caller's ([`MatchOptions`]), and
//! docs/adr-sface.md ("Five points from YuNet") records what was measured.

use image::RgbImage;

use super::align::template_points;
use crate::faces::FaceLandmarks;
use crate::geometry::Rect;
use crate::yunet::{YuNet, YuNetDetection, YuNetError, YuNetOptions};

/// Where a face's five template points came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointSource {
    /// YuNet's own five points, from the YuNet face matching the box.
    Yunet,
    /// No YuNet face overlapped the box enough: the points derived from
    /// dlib's landmarks.
    DlibFallback,
}

/// A face's five template points (image pixels, in the order of
/// [`super::align::TEMPLATE`]) and where they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FivePoints {
    /// The points, ready for [`super::align::align`].
    pub points: [[f64; 2]; 5],
    /// YuNet's, or dlib's fallback.
    pub source: PointSource,
    /// Overlap of the matched YuNet box with the face's box (0 on fallback).
    pub iou: f64,
}

/// How YuNet is run and matched to the given boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    /// YuNet passes, tried in order; a pass runs only when a face is still
    /// unmatched after the ones before. Different `input_side`s find faces of
    /// different sizes (docs/adr-yunet.md). Empty: every face falls back.
    pub passes: Vec<YuNetOptions>,
    /// Lowest intersection over union between a face's box and a YuNet box
    /// for the YuNet face to count as the same face, in (0, 1].
    pub min_iou: f64,
}

/// The YuNet face whose box overlaps `rect` best, with that overlap, if it
/// is at least `min_iou`. Ties keep the first (the stronger, as YuNet
/// returns faces strongest first).
pub fn best_match<'a>(
    rect: &Rect,
    found: &'a [YuNetDetection],
    min_iou: f64,
) -> Option<(&'a YuNetDetection, f64)> {
    let mut best: Option<(&YuNetDetection, f64)> = None;
    for d in found {
        let iou = rect.iou(&d.rect());
        if iou >= min_iou && best.is_none_or(|(_, b)| iou > b) {
            best = Some((d, iou));
        }
    }
    best
}

/// A YuNet face's five points as template points (YuNet's order is the
/// template's: image-left eye first).
pub fn detection_points(d: &YuNetDetection) -> [[f64; 2]; 5] {
    d.points.map(|[x, y]| [f64::from(x), f64::from(y)])
}

/// The five points of a face with box `rect` and dlib `landmarks`, given
/// the YuNet faces `found` in the same photo: the best-overlapping YuNet
/// face's points, or the ones derived from `landmarks`.
pub fn choose(
    rect: &Rect,
    landmarks: &FaceLandmarks,
    found: &[YuNetDetection],
    min_iou: f64,
) -> FivePoints {
    match best_match(rect, found, min_iou) {
        Some((d, iou)) => FivePoints {
            points: detection_points(d),
            source: PointSource::Yunet,
            iou,
        },
        None => fallback(landmarks),
    }
}

fn fallback(landmarks: &FaceLandmarks) -> FivePoints {
    FivePoints {
        points: template_points(landmarks),
        source: PointSource::DlibFallback,
        iou: 0.0,
    }
}

/// The five points of each face (`(box, dlib landmarks)`, as MMOD and the
/// shape predictor gave them on `photo`), in order: YuNet's where a YuNet
/// face overlaps the box by at least `options.min_iou`, else dlib's
/// fallback. YuNet runs on `photo` itself, once per pass that is needed.
///
/// ```no_run
/// use homeward_core::faces::{FaceEngine, FaceOptions};
/// use homeward_core::sface::yunet_points::{five_points, MatchOptions, PointSource};
/// use homeward_core::sface::SFace;
/// use homeward_core::yunet::{YuNet, YuNetOptions};
/// let (engine, sface, yunet) = (FaceEngine::bundled()?, SFace::bundled()?, YuNet::bundled()?);
/// let photo = image::open("fixtures/obama.jpg")?.to_rgb8();
/// let faces: Vec<_> = engine
///     .analyze(&photo, &FaceOptions::default())
///     .into_iter()
///     .map(|f| (f.rect, f.landmarks))
///     .collect();
/// let options = MatchOptions { passes: vec![YuNetOptions::default()], min_iou: 0.5 };
/// let points = five_points(&yunet, &photo, &faces, &options)?;
/// let fell_back = points.iter().filter(|p| p.source == PointSource::DlibFallback).count();
/// let all: Vec<_> = points.iter().map(|p| p.points).collect();
/// let embeddings = sface.embed_points(&photo, &all, true);
/// println!("{} faces, {fell_back} without YuNet's points", embeddings.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn five_points(
    yunet: &YuNet,
    photo: &RgbImage,
    faces: &[(Rect, FaceLandmarks)],
    options: &MatchOptions,
) -> Result<Vec<FivePoints>, YuNetError> {
    let mut out: Vec<FivePoints> = faces.iter().map(|(_, l)| fallback(l)).collect();
    for pass in &options.passes {
        if out.iter().all(|p| p.source == PointSource::Yunet) {
            break;
        }
        let found = yunet.detect(photo, pass)?;
        for (p, (rect, landmarks)) in out.iter_mut().zip(faces) {
            if p.source == PointSource::DlibFallback {
                *p = choose(rect, landmarks, &found, options.min_iou);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A YuNet face with box `(x, y, w, h)` and points spread inside it.
    fn det(x: f32, y: f32, w: f32, h: f32, score: f32) -> YuNetDetection {
        YuNetDetection {
            x,
            y,
            width: w,
            height: h,
            score,
            points: [
                [x + 0.3 * w, y + 0.4 * h],
                [x + 0.7 * w, y + 0.4 * h],
                [x + 0.5 * w, y + 0.55 * h],
                [x + 0.35 * w, y + 0.75 * h],
                [x + 0.65 * w, y + 0.75 * h],
            ],
        }
    }

    fn landmarks() -> FaceLandmarks {
        FaceLandmarks {
            points: [
                [190.0, 100.0],
                [170.0, 100.0],
                [110.0, 100.0],
                [130.0, 100.0],
                [150.0, 145.0],
            ],
        }
    }

    #[test]
    fn best_match_takes_the_largest_overlap_above_the_threshold() {
        // MMOD's box covers x 100..199, y 100..199.
        let rect = Rect::new(100, 100, 199, 199);
        let far = det(400.0, 400.0, 100.0, 100.0, 0.99);
        let shifted = det(130.0, 100.0, 100.0, 100.0, 0.98); // IoU 70/130
        let close = det(105.0, 105.0, 100.0, 100.0, 0.91); // IoU 9025/10975
        let found = [far, shifted, close];
        let (d, iou) = best_match(&rect, &found, 0.5).expect("a match");
        assert_eq!(*d, close, "the closest box wins, not the strongest score");
        assert!((iou - 9025.0 / 10975.0).abs() < 1e-9, "{iou}");
        // Only the shifted box clears 0.5 without the close one.
        let (d, iou) = best_match(&rect, &found[..2], 0.5).expect("a match");
        assert_eq!(*d, shifted);
        assert!((iou - 7000.0 / 13000.0).abs() < 1e-9, "{iou}");
        // Above both overlaps: none.
        assert!(best_match(&rect, &found, 0.9).is_none());
        assert!(best_match(&rect, &[], 0.1).is_none());
        assert!(best_match(&rect, &[far], 0.01).is_none());
    }

    #[test]
    fn choose_uses_yunet_points_or_falls_back_to_dlib() {
        let rect = Rect::new(100, 60, 199, 159);
        let marks = landmarks();
        let inside = det(102.0, 62.0, 98.0, 98.0, 0.95);
        let p = choose(&rect, &marks, &[inside], 0.5);
        assert_eq!(p.source, PointSource::Yunet);
        assert!(p.iou > 0.9, "{}", p.iou);
        assert_eq!(p.points, detection_points(&inside));
        let nose = p.points[2];
        assert!((nose[0] - 151.0).abs() < 1e-3 && (nose[1] - 115.9).abs() < 1e-3);
        // A YuNet face elsewhere in the photo is not this face.
        let other = det(300.0, 60.0, 100.0, 100.0, 0.99);
        let p = choose(&rect, &marks, &[other], 0.5);
        assert_eq!(p.source, PointSource::DlibFallback);
        assert_eq!(p.iou, 0.0);
        assert_eq!(p.points, template_points(&marks));
    }

    #[test]
    fn detection_points_keep_the_template_order() {
        // Image-left eye first, as in TEMPLATE: the template's own points map
        // to themselves.
        let mut d = det(0.0, 0.0, 112.0, 112.0, 1.0);
        d.points = super::super::align::TEMPLATE.map(|[x, y]| [x as f32, y as f32]);
        let p = detection_points(&d);
        let t = super::super::align::chip_to_image(&p);
        let q = t.apply([56.0, 60.0]);
        assert!(
            (q[0] - 56.0).abs() < 1e-4 && (q[1] - 60.0).abs() < 1e-4,
            "{q:?}"
        );
    }

    #[cfg(feature = "bundled-models")]
    #[test]
    fn five_points_matches_a_real_face_and_counts_the_rest_as_fallbacks() {
        let yunet = YuNet::bundled().expect("bundled YuNet loads");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/obama.jpg");
        let photo = image::open(path).expect("fixture").to_rgb8();
        let pass = YuNetOptions {
            input_side: 320,
            ..YuNetOptions::default()
        };
        let found = yunet.detect(&photo, &pass).expect("YuNet runs");
        let face = found.first().expect("YuNet finds Obama's face");
        // Stand-ins for MMOD's boxes: YuNet's own box shrunk by 5% on each
        // side, and a box in a corner where there is no face.
        let (w, h) = (face.width, face.height);
        let real = Rect::new(
            (face.x + 0.05 * w) as i64,
            (face.y + 0.05 * h) as i64,
            (face.x + 0.95 * w) as i64,
            (face.y + 0.95 * h) as i64,
        );
        let corner = Rect::new(0, 0, 9, 9);
        let marks = landmarks();
        let faces = [(real, marks), (corner, marks)];
        let options = MatchOptions {
            passes: vec![pass],
            min_iou: 0.5,
        };
        let points = five_points(&yunet, &photo, &faces, &options).expect("runs");
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].source, PointSource::Yunet);
        assert_eq!(points[0].points, detection_points(face));
        assert!(points[0].iou > 0.7, "{}", points[0].iou);
        assert_eq!(points[1].source, PointSource::DlibFallback);
        assert_eq!(points[1].points, template_points(&marks));
        // No pass: every face falls back.
        let none = MatchOptions {
            passes: Vec::new(),
            min_iou: 0.5,
        };
        let points = five_points(&yunet, &photo, &faces, &none).expect("runs");
        assert!(points.iter().all(|p| p.source == PointSource::DlibFallback));
    }
}
