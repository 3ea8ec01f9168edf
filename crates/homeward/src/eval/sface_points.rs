//! `--sface-points dlib|yunet` of `eval lfw` and `eval search`: which five
//! points SFace's chip is warped from (docs/adr-sface.md, "Five points from
//! YuNet").
//!
//! With `yunet`, YuNet runs on the same decoded photo as MMOD, first with
//! its input's longest side at 320 px, then, if the face is still unmatched,
//! at 640 px (320 finds the large close-ups of children that 640 misses, 640
//! the small faces; docs/adr-yunet.md), score ≥ 0.9 (the zoo's); the YuNet
//! face whose box overlaps MMOD's by IoU ≥ [`MIN_IOU`] gives the points
//! ([`homeward_core::sface::yunet_points`]). Otherwise the face keeps the
//! points derived from dlib's landmarks, and is counted as a fallback. The
//! same face is also embedded from dlib's points, so one run measures both.

use homeward_core::faces::{FaceLandmarks, Rect};
use homeward_core::sface::yunet_points::{five_points, MatchOptions, PointSource};
use homeward_core::sface::{template_points, SFace, SFaceEmbedding};
use homeward_core::yunet::{YuNet, YuNetOptions};
use image::RgbImage;
use serde::Serialize;

use crate::error::CliError;

/// Lowest IoU between MMOD's box and YuNet's for the same face (the
/// agreement threshold of `eval detect`).
pub const MIN_IOU: f64 = 0.5;

/// YuNet's input sides, tried in order.
pub const YUNET_SIDES: [u32; 2] = [320, 640];

/// Which five points SFace is aligned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SfacePoints {
    /// Derived from dlib's five landmarks by the fitted mapping (the
    /// product's alignment).
    #[default]
    Dlib,
    /// YuNet's own five points for the face MMOD found; dlib's when YuNet
    /// finds no face overlapping MMOD's box.
    Yunet,
}

impl SfacePoints {
    /// Name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SfacePoints::Dlib => "dlib",
            SfacePoints::Yunet => "yunet",
        }
    }
}

/// SFace's embeddings of one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SfaceVectors {
    /// From the points derived from dlib's landmarks.
    pub dlib_points: SFaceEmbedding,
    /// From YuNet's points (with `--sface-points yunet`), and whether the
    /// face fell back to dlib's points (then equal to `dlib_points`).
    pub yunet_points: Option<(SFaceEmbedding, bool)>,
}

impl SfaceVectors {
    /// The embedding for `points`, and whether it fell back to dlib's
    /// points (false with `dlib`); `None` if `yunet` was not computed.
    pub fn get(&self, points: SfacePoints) -> Option<(SFaceEmbedding, bool)> {
        match points {
            SfacePoints::Dlib => Some((self.dlib_points, false)),
            SfacePoints::Yunet => self.yunet_points,
        }
    }
}

/// SFace with the points asked for: YuNet loaded when needed.
pub struct SfaceAligner<'a> {
    sface: &'a SFace,
    yunet: Option<(YuNet, MatchOptions)>,
}

impl<'a> SfaceAligner<'a> {
    /// SFace aligned from `points` (loads YuNet for `yunet`).
    pub fn new(sface: &'a SFace, points: SfacePoints) -> Result<Self, CliError> {
        let yunet = match points {
            SfacePoints::Dlib => None,
            SfacePoints::Yunet => Some((YuNet::bundled()?, match_options())),
        };
        Ok(SfaceAligner { sface, yunet })
    }

    /// SFace's embeddings of the face with box `rect` and `landmarks` in
    /// `photo`: from dlib's points and, when asked, from YuNet's.
    pub fn embed(
        &self,
        photo: &RgbImage,
        rect: Rect,
        landmarks: &FaceLandmarks,
        flip: bool,
    ) -> Result<SfaceVectors, CliError> {
        let dlib = template_points(landmarks);
        let Some((yunet, options)) = &self.yunet else {
            let e = self.sface.embed_points(photo, &[dlib], flip);
            return Ok(SfaceVectors {
                dlib_points: nth_or_zero(&e, 0),
                yunet_points: None,
            });
        };
        let found = five_points(yunet, photo, &[(rect, *landmarks)], options)
            .map_err(|e| CliError::Usage(format!("YuNet: {e}")))?;
        let fell_back = found
            .first()
            .is_none_or(|p| p.source == PointSource::DlibFallback);
        if fell_back {
            let e = nth_or_zero(&self.sface.embed_points(photo, &[dlib], flip), 0);
            return Ok(SfaceVectors {
                dlib_points: e,
                yunet_points: Some((e, true)),
            });
        }
        let e = self
            .sface
            .embed_points(photo, &[dlib, found[0].points], flip);
        Ok(SfaceVectors {
            dlib_points: nth_or_zero(&e, 0),
            yunet_points: Some((nth_or_zero(&e, 1), false)),
        })
    }
}

/// The passes and overlap of `--sface-points yunet`.
pub fn match_options() -> MatchOptions {
    MatchOptions {
        passes: YUNET_SIDES
            .iter()
            .map(|&side| YuNetOptions {
                input_side: side,
                ..YuNetOptions::default()
            })
            .collect(),
        min_iou: MIN_IOU,
    }
}

/// `v[i]`, or zeros (SFace's chips from `align` are always 112×112, so
/// `embed_points` returns one vector per face).
fn nth_or_zero(v: &[SFaceEmbedding], i: usize) -> SFaceEmbedding {
    v.get(i)
        .copied()
        .unwrap_or(SFaceEmbedding([0.0; homeward_core::sface::SFACE_DIM]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yunet_passes_go_small_then_large_at_the_zoo_score() {
        let o = match_options();
        let sides: Vec<u32> = o.passes.iter().map(|p| p.input_side).collect();
        assert_eq!(sides, [320, 640]);
        assert!(o.passes.iter().all(|p| p.score_threshold == 0.9));
        assert_eq!(o.min_iou, 0.5);
        assert_eq!(SfacePoints::default(), SfacePoints::Dlib);
    }

    #[test]
    fn vectors_answer_for_the_points_asked() {
        let a = SFaceEmbedding([1.0; 128]);
        let b = SFaceEmbedding([2.0; 128]);
        let v = SfaceVectors {
            dlib_points: a,
            yunet_points: None,
        };
        assert_eq!(v.get(SfacePoints::Dlib), Some((a, false)));
        assert_eq!(v.get(SfacePoints::Yunet), None);
        let v = SfaceVectors {
            dlib_points: a,
            yunet_points: Some((b, false)),
        };
        assert_eq!(v.get(SfacePoints::Yunet), Some((b, false)));
    }

    #[test]
    fn a_face_yunet_cannot_see_falls_back_to_dlib_points() {
        // A flat grey photo: MMOD's box is given, YuNet finds nothing, so the
        // YuNet vector is the dlib-points vector, marked as a fallback.
        let sface = SFace::bundled().expect("bundled SFace loads");
        let aligner = SfaceAligner::new(&sface, SfacePoints::Yunet).expect("YuNet loads");
        let photo = RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
        let marks = FaceLandmarks {
            points: [
                [130.0, 90.0],
                [115.0, 90.0],
                [70.0, 90.0],
                [85.0, 90.0],
                [100.0, 120.0],
            ],
        };
        let v = aligner
            .embed(&photo, Rect::new(50, 50, 149, 149), &marks, true)
            .expect("runs");
        assert_eq!(v.yunet_points, Some((v.dlib_points, true)));
        let plain = SfaceAligner::new(&sface, SfacePoints::Dlib).expect("loads");
        let w = plain
            .embed(&photo, Rect::new(50, 50, 149, 149), &marks, true)
            .expect("runs");
        assert_eq!(w.dlib_points, v.dlib_points);
        assert_eq!(w.yunet_points, None);
    }
}
