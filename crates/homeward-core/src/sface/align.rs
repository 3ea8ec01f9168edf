//! SFace's input: a 112×112 face warped onto the standard five-point template
//! (ArcFace's: eye centres, nose tip, mouth corners) by a least-squares
//! similarity transform (Umeyama), sampled bilinearly as OpenCV's
//! `warpAffine` does, with black outside the photo.
//!
//! dlib's 5-point model gives other points (four eye corners and the base of
//! the nose), so the five template points are derived from them by a fixed
//! linear mapping: in the frame of dlib's eyes (origin: the midpoint of the two
//! eye centres, each the midpoint of its two corners; unit x: the vector from
//! the image-left to the image-right eye centre; unit y: that vector turned a
//! quarter towards the chin), each template point is `c0 + c1·nx + c2·ny`,
//! with `(nx, ny)` dlib's nose point in the same frame. The coefficients were
//! fitted by least squares to YuNet's five points on 262 LFW faces
//! (`tools/fit_sface_points.py`; docs/adr-sface.md gives the cross-validated
//! error).

use image::{Rgb, RgbImage};

use crate::faces::FaceLandmarks;
use crate::geometry::{similarity_transform, Affine};

/// Side of SFace's input in pixels.
pub const SFACE_CHIP_SIZE: u32 = 112;

/// The standard five-point template in the 112×112 chip (`[x, y]`): image-left
/// eye, image-right eye, nose tip, image-left and image-right mouth corner.
pub const TEMPLATE: [[f64; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Each template point in dlib's eye frame: `[x, y]` coefficients of
/// `(1, nose x, nose y)` (`tools/fit_sface_points.py`).
const DLIB_TO_TEMPLATE: [[[f64; 3]; 2]; 5] = [
    [[-0.49641, 0.17936, -0.02138], [-0.14988, 0.07616, 0.14425]],
    [[0.51422, 0.23865, 0.05148], [-0.15740, -0.04104, 0.17762]],
    [[-0.10587, 1.44066, 0.14968], [0.18875, 0.06127, 0.50216]],
    [[-0.40053, 0.29509, -0.05084], [0.63349, -0.04667, 0.52653]],
    [[0.50126, 0.26020, -0.04482], [0.60377, -0.17039, 0.58239]],
];

/// The five template points (image pixels, [`TEMPLATE`] order) derived from
/// dlib's five landmarks.
pub fn template_points(landmarks: &FaceLandmarks) -> [[f64; 2]; 5] {
    let p = &landmarks.points;
    let mid = |a: [f64; 2], b: [f64; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    // dlib's order: image-right eye outer, inner; image-left eye outer, inner; nose.
    let (eye_l, eye_r) = (mid(p[2], p[3]), mid(p[0], p[1]));
    let m = mid(eye_l, eye_r);
    let u = [eye_r[0] - eye_l[0], eye_r[1] - eye_l[1]];
    let v = [-u[1], u[0]];
    let s = u[0] * u[0] + u[1] * u[1];
    let q = [p[4][0] - m[0], p[4][1] - m[1]];
    let (nx, ny) = if s > 0.0 {
        (
            (q[0] * u[0] + q[1] * u[1]) / s,
            (q[0] * v[0] + q[1] * v[1]) / s,
        )
    } else {
        (0.0, 0.0)
    };
    DLIB_TO_TEMPLATE.map(|[cx, cy]| {
        let a = cx[0] + cx[1] * nx + cx[2] * ny;
        let b = cy[0] + cy[1] * nx + cy[2] * ny;
        [m[0] + a * u[0] + b * v[0], m[1] + a * u[1] + b * v[1]]
    })
}

/// The map from chip pixels to image pixels that best fits [`TEMPLATE`] onto
/// `points` (least squares over rotation, uniform scale and translation).
pub fn chip_to_image(points: &[[f64; 2]; 5]) -> Affine {
    similarity_transform(&TEMPLATE, points)
}

/// Warps the face with these five template points onto a 112×112 chip.
/// Points that are not finite give a black chip.
pub fn align(img: &RgbImage, points: &[[f64; 2]; 5]) -> RgbImage {
    let t = chip_to_image(points);
    let finite = t.m.iter().flatten().chain(&t.b).all(|v| v.is_finite());
    let mut chip = RgbImage::new(SFACE_CHIP_SIZE, SFACE_CHIP_SIZE);
    if !finite {
        return chip;
    }
    for (c, r, px) in chip.enumerate_pixels_mut() {
        let [x, y] = t.apply([f64::from(c), f64::from(r)]);
        *px = bilinear(img, x, y);
    }
    chip
}

/// The five template points of `landmarks` and the chip they give.
pub fn align_dlib(img: &RgbImage, landmarks: &FaceLandmarks) -> RgbImage {
    align(img, &template_points(landmarks))
}

/// Bilinear sample at `(x, y)` (pixel centres at integers); pixels outside
/// the image are black. Rounds to the nearest grey level.
fn bilinear(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let at = |xi: f64, yi: f64, ch: usize| -> f64 {
        // Far-off coordinates saturate in the cast and land outside the image.
        let (xi, yi) = (xi as i64, yi as i64);
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            0.0
        } else {
            f64::from(img.get_pixel(xi as u32, yi as u32)[ch])
        }
    };
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let top = (1.0 - fx) * at(x0, y0, ch) + fx * at(x0 + 1.0, y0, ch);
        let bottom = (1.0 - fx) * at(x0, y0 + 1.0, ch) + fx * at(x0 + 1.0, y0 + 1.0, ch);
        let v = (1.0 - fy) * top + fy * bottom;
        *o = (v + 0.5).floor().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_points_land_on_the_template() {
        // Warping an image whose five points are exactly the template (scaled
        // by 2 and shifted) gives the identity up to that scale and shift.
        let points = TEMPLATE.map(|p| [2.0 * p[0] + 10.0, 2.0 * p[1] + 20.0]);
        let t = chip_to_image(&points);
        let q = t.apply([56.0, 60.0]);
        assert!(
            (q[0] - 122.0).abs() < 1e-9 && (q[1] - 140.0).abs() < 1e-9,
            "{q:?}"
        );
    }

    #[test]
    fn derived_points_follow_dlib_landmarks() {
        // An upright face: eyes level at y = 100, 60 px apart, nose below.
        let marks = FaceLandmarks {
            points: [
                [190.0, 100.0],
                [170.0, 100.0],
                [110.0, 100.0],
                [130.0, 100.0],
                [150.0, 145.0],
            ],
        };
        let p = template_points(&marks);
        // Left eye left of right eye, nose between the eyes, mouth below the nose.
        assert!(p[0][0] < p[2][0] && p[2][0] < p[1][0], "{p:?}");
        assert!(p[3][1] > p[2][1] && p[4][1] > p[2][1], "{p:?}");
        assert!((p[0][1] - 100.0).abs() < 10.0 && (p[1][1] - 100.0).abs() < 10.0);
        // The whole mapping moves with the face.
        let moved = FaceLandmarks {
            points: marks.points.map(|q| [q[0] + 7.0, q[1] - 3.0]),
        };
        for (a, b) in p.iter().zip(template_points(&moved)) {
            assert!((a[0] + 7.0 - b[0]).abs() < 1e-9 && (a[1] - 3.0 - b[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn uniform_image_gives_uniform_chip_and_black_outside() {
        let img = RgbImage::from_pixel(400, 400, Rgb([10, 200, 30]));
        let points = TEMPLATE.map(|p| [p[0] + 100.0, p[1] + 100.0]);
        let chip = align(&img, &points);
        assert_eq!(chip.dimensions(), (112, 112));
        assert!(chip.pixels().all(|p| p.0 == [10, 200, 30]));
        // Face near the corner: part of the chip falls outside the photo.
        let points = TEMPLATE.map(|p| [p[0] - 60.0, p[1] - 60.0]);
        let chip = align(&img, &points);
        assert_eq!(chip.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(chip.get_pixel(111, 111).0, [10, 200, 30]);
        let nan = [[f64::NAN; 2]; 5];
        assert!(align(&img, &nan).pixels().all(|p| p.0 == [0, 0, 0]));
    }
}
