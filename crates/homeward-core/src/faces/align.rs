//! Face alignment: the upright, scaled "face chip" dlib cuts around five
//! landmarks (`get_face_chip_details` + `extract_image_chip` in dlib's
//! `image_transforms/interpolation.h`), reproduced step for step.
//!
//! 1. [`face_chip_details`]: fit a similarity transform from dlib's mean face
//!    (padded, scaled to the chip) to the landmarks; keep its angle, and the
//!    chip's footprint in the image as a rectangle.
//! 2. [`extract_chip`]: crop the rotated footprint (plus a margin), shrink it
//!    with dlib's 2:1 Gaussian pyramid while it is still more than twice the
//!    chip's size (so bilinear sampling does not alias), then sample every chip
//!    pixel bilinearly; samples outside the image are black.

use image::RgbImage;

use super::FaceLandmarks;
use crate::geometry::{similarity_transform, Affine};

/// dlib's mean positions of the five landmarks in a unit face square.
const MEAN_FACE: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// Largest chip side accepted; dlib's face models use 150.
pub const MAX_CHIP_SIZE: u32 = 2048;
/// Landmarks further than this from the origin are refused (they cannot be a
/// face in a decodable image and would make the geometry overflow).
const MAX_COORDINATE: f64 = 1e7;
/// Pyramid levels never needed for a sane chip; a backstop against loops.
const MAX_PYRAMID_DEPTH: u32 = 64;

/// Why a chip could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    /// The chip size is out of range.
    #[error(
        "chip size {size} is outside 2..={MAX_CHIP_SIZE}; use e.g. 150 as dlib's face models do"
    )]
    Size {
        /// Requested chip side in pixels.
        size: u32,
    },
    /// The padding is negative or not finite.
    #[error("padding {padding} must be finite and at least 0; dlib's face models use 0.25")]
    Padding {
        /// Requested padding around the face.
        padding: f64,
    },
    /// A landmark is not a usable position.
    #[error(
        "landmark {index} ({x}, {y}) is not a finite position within ±{MAX_COORDINATE} pixels"
    )]
    Landmark {
        /// Which landmark.
        index: usize,
        /// Its x.
        x: f64,
        /// Its y.
        y: f64,
    },
}

/// A rectangle with real corners and dlib's `drectangle` semantics
/// (inclusive: `width = right - left + 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct DRect {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl DRect {
    fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    fn area(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            (self.right - self.left + 1.0) * (self.bottom - self.top + 1.0)
        }
    }

    fn center(&self) -> [f64; 2] {
        [
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        ]
    }

    /// `pyramid_down<2>::rect_down`: the same region one pyramid level down.
    fn down(&self) -> DRect {
        let d = |x: f64, off: f64| x / 2.0 - off;
        let (l, r) = (d(self.left, 1.25), d(self.right, 1.25));
        let (t, b) = (d(self.top, 0.75), d(self.bottom, 0.75));
        DRect {
            left: l.min(r),
            top: t.min(b),
            right: l.max(r),
            bottom: t.max(b),
        }
    }

    fn translate(&self, dx: f64, dy: f64) -> DRect {
        DRect {
            left: self.left + dx,
            top: self.top + dy,
            right: self.right + dx,
            bottom: self.bottom + dy,
        }
    }

    /// Top-left, top-right, bottom-left and bottom-right corners rotated by
    /// `angle` about the centre (dlib's `rotate_point`).
    fn rotated_corners(&self, angle: f64) -> [[f64; 2]; 4] {
        let c = self.center();
        let (sin, cos) = (angle.sin(), angle.cos());
        let rot = |x: f64, y: f64| {
            let (px, py) = (x - c[0], y - c[1]);
            [cos * px - sin * py + c[0], sin * px + cos * py + c[1]]
        };
        [
            rot(self.left, self.top),
            rot(self.right, self.top),
            rot(self.left, self.bottom),
            rot(self.right, self.bottom),
        ]
    }
}

/// Where a chip comes from: dlib's `chip_details` (a rectangle in the image,
/// rotated by `angle` about its centre, sampled onto `size × size` pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipDetails {
    rect: DRect,
    angle: f64,
    size: u32,
}

impl ChipDetails {
    /// A `size × size` chip of the square `rect` in the image, rotated by
    /// `angle` radians about its centre (dlib's `chip_details(rect, dims, angle)`).
    pub fn from_rect(rect: super::Rect, angle: f64, size: u32) -> Result<Self, AlignError> {
        if !(2..=MAX_CHIP_SIZE).contains(&size) {
            return Err(AlignError::Size { size });
        }
        let rect = DRect {
            left: rect.left as f64,
            top: rect.top as f64,
            right: rect.right as f64,
            bottom: rect.bottom as f64,
        };
        Ok(ChipDetails { rect, angle, size })
    }

    /// Side of the square chip in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Rotation of the chip relative to the image, in radians.
    pub fn angle(&self) -> f64 {
        self.angle
    }

    /// Maps chip pixel coordinates to image pixel coordinates (dlib's inverse
    /// of `get_mapping_to_chip`).
    pub fn chip_to_image(&self) -> Affine {
        let [tl, tr, bl, _] = self.rect.rotated_corners(self.angle);
        let last = f64::from(self.size - 1);
        Affine::from_corners(last, last, tl, tr, bl)
    }
}

/// A face cut out upright at a fixed size.
#[derive(Debug, Clone)]
pub struct Chip {
    /// The chip pixels.
    pub image: RgbImage,
    /// Chip pixel → image pixel, to map points found on the chip back.
    pub chip_to_image: Affine,
}

/// dlib's `get_face_chip_details` for 5-point landmarks: where the `size`
/// pixel square chip with `padding` (fraction of the face width added on every
/// side) lies in the image. dlib's Python API passes `padding` through a
/// `float`; 0.25 is exact either way.
pub fn face_chip_details(
    landmarks: &FaceLandmarks,
    size: u32,
    padding: f64,
) -> Result<ChipDetails, AlignError> {
    if !(2..=MAX_CHIP_SIZE).contains(&size) {
        return Err(AlignError::Size { size });
    }
    if !(padding.is_finite() && padding >= 0.0) {
        return Err(AlignError::Padding { padding });
    }
    for (index, &[x, y]) in landmarks.points.iter().enumerate() {
        if !(x.abs() <= MAX_COORDINATE && y.abs() <= MAX_COORDINATE) {
            return Err(AlignError::Landmark { index, x, y });
        }
    }
    let s = f64::from(size);
    let chip_points = MEAN_FACE.map(|p| p.map(|v| (padding + v) / (2.0 * padding + 1.0) * s));
    let tform = similarity_transform(&chip_points, &landmarks.points);

    // Scale and rotation are the image of the unit x vector; the rectangle is
    // the chip's footprint, centred where the chip's centre lands.
    let (ux, uy) = (tform.m[0][0], tform.m[1][0]);
    let angle = uy.atan2(ux);
    let scale = (ux * ux + uy * uy).sqrt();
    let c = tform.apply([s / 2.0, s / 2.0]);
    let half = (s * scale - 1.0) / 2.0;
    let rect = DRect {
        left: c[0] - half,
        top: c[1] - half,
        right: c[0] + half,
        bottom: c[1] + half,
    };
    Ok(ChipDetails { rect, angle, size })
}

/// Aligns the face with these landmarks onto a `size × size` chip, as dlib's
/// `get_face_chip(img, shape, size, padding)` does. Pass
/// [`FaceLandmarks::rounded`] points to match dlib, which rounds them.
///
/// ```
/// use homeward_core::faces::{face_chip, FaceLandmarks};
/// let img = image::RgbImage::from_pixel(200, 200, image::Rgb([90, 120, 150]));
/// let marks = FaceLandmarks {
///     points: [[130.0, 80.0], [112.0, 81.0], [70.0, 80.0], [88.0, 81.0], [100.0, 112.0]],
/// };
/// let chip = face_chip(&img, &marks, 150, 0.25)?;
/// assert_eq!(chip.image.dimensions(), (150, 150));
/// assert_eq!(chip.image.get_pixel(75, 75).0, [90, 120, 150]);
/// # Ok::<(), homeward_core::faces::AlignError>(())
/// ```
pub fn face_chip(
    img: &RgbImage,
    landmarks: &FaceLandmarks,
    size: u32,
    padding: f64,
) -> Result<Chip, AlignError> {
    Ok(extract_chip(
        img,
        &face_chip_details(landmarks, size, padding)?,
    ))
}

/// dlib's `extract_image_chip` with bilinear interpolation.
pub fn extract_chip(img: &RgbImage, details: &ChipDetails) -> Chip {
    let rect = details.rect;
    let size = f64::from(details.size);
    let unscaled = !rect.is_empty()
        && rect.right - rect.left + 1.0 == size
        && rect.bottom - rect.top + 1.0 == size;
    let image = if details.angle == 0.0 && unscaled {
        copy_rect(img, rect)
    } else {
        resample(img, details)
    };
    Chip {
        image,
        chip_to_image: details.chip_to_image(),
    }
}

/// dlib's shortcut for unrotated, unscaled chips: a plain copy of the rounded
/// rectangle, black outside the image.
fn copy_rect(img: &RgbImage, rect: DRect) -> RgbImage {
    let (l, t) = (round(rect.left), round(rect.top));
    let side = round(rect.right) - l + 1;
    let side = side.clamp(0, i64::from(MAX_CHIP_SIZE)) as u32;
    RgbImage::from_fn(side, side, |c, r| {
        let (x, y) = (l + i64::from(c), t + i64::from(r));
        match (u32::try_from(x), u32::try_from(y)) {
            (Ok(x), Ok(y)) if x < img.width() && y < img.height() => *img.get_pixel(x, y),
            _ => image::Rgb([0, 0, 0]),
        }
    })
}

fn round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// The general path of dlib's `extract_image_chips` for one chip.
fn resample(img: &RgbImage, details: &ChipDetails) -> RgbImage {
    let n = details.size;
    let chip_area = f64::from(n) * f64::from(n);

    // How many 2:1 pyramid levels the footprint needs, and the margin (in
    // source pixels) the Gaussian filter needs around the crop.
    let mut depth = 0;
    let mut grow = 2.0;
    let mut r = details.rect.down();
    while r.area() > chip_area && depth < MAX_PYRAMID_DEPTH {
        r = r.down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }

    // Crop the rotated footprint's bounding box, grown and clipped to the image.
    let corners = details.rect.rotated_corners(details.angle);
    let (xs, ys) = (corners.map(|p| p[0]), corners.map(|p| p[1]));
    let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let left = round((min(xs) - grow).max(0.0));
    let top = round((min(ys) - grow).max(0.0));
    let right = round((max(xs) + grow).min(w - 1.0));
    let bottom = round((max(ys) + grow).min(h - 1.0));
    let mut src = if left <= right && top <= bottom {
        image::imageops::crop_imm(
            img,
            left as u32,
            top as u32,
            (right - left + 1) as u32,
            (bottom - top + 1) as u32,
        )
        .to_image()
    } else {
        RgbImage::new(0, 0)
    };

    // Go down the pyramid while the footprint there is still more than the chip.
    let (dx, dy) = if src.width() == 0 {
        (0.0, 0.0)
    } else {
        (-(left as f64), -(top as f64))
    };
    let mut rect = details.rect.translate(dx, dy);
    let mut level = 0;
    while level < depth && rect.down().area() > chip_area {
        src = pyramid_down(&src);
        rect = rect.down();
        level += 1;
    }

    // Map chip corners onto the footprint's rotated corners and sample.
    let [tl, tr, bl, _] = rect.rotated_corners(details.angle);
    let last = f64::from(n - 1);
    let to_src = Affine::from_corners(last, last, tl, tr, bl);
    RgbImage::from_fn(n, n, |c, r| {
        bilinear(&src, to_src.apply([f64::from(c), f64::from(r)]))
    })
}

/// dlib's `interpolate_bilinear` for an RGB image; black unless all four
/// neighbours are inside. Channels are truncated to integers, as dlib does.
fn bilinear(img: &RgbImage, p: [f64; 2]) -> image::Rgb<u8> {
    let black = image::Rgb([0, 0, 0]);
    if !(p[0].is_finite() && p[1].is_finite()) {
        return black;
    }
    let (left, top) = (p[0].floor(), p[1].floor());
    if !(left >= 0.0
        && top >= 0.0
        && left + 1.0 < f64::from(img.width())
        && top + 1.0 < f64::from(img.height()))
    {
        return black;
    }
    let (x, y) = (left as u32, top as u32);
    let (fx, fy) = (p[0] - left, p[1] - top);
    let [tl, tr, bl, br] =
        [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)].map(|(x, y)| img.get_pixel(x, y).0);
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let v = |p: [u8; 3]| f64::from(p[ch]);
        let top = (1.0 - fx) * v(tl) + fx * v(tr);
        let bottom = (1.0 - fx) * v(bl) + fx * v(br);
        *o = ((1.0 - fy) * top + fy * bottom) as u8;
    }
    image::Rgb(out)
}

/// dlib's `pyramid_down<2>` for RGB images: a separable [1 4 6 4 1]/16
/// Gaussian, keeping every other row and column, in integer arithmetic
/// (truncating). Output is `(h-3)/2 × (w-3)/2`; images of 8 pixels or fewer
/// on a side give an empty image.
fn pyramid_down(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w <= 8 || h <= 8 {
        return RgbImage::new(0, 0);
    }
    let (ow, oh) = ((w - 3) / 2, (h - 3) / 2);
    let src = img.as_raw();
    // Horizontal pass on every row: column c takes source columns 2c..2c+4.
    let mut rows = vec![0u32; h * ow * 3];
    for y in 0..h {
        for c in 0..ow {
            for ch in 0..3 {
                let at = |x: usize| u32::from(src[(y * w + x) * 3 + ch]);
                let x = 2 * c;
                rows[(y * ow + c) * 3 + ch] =
                    at(x) + 4 * at(x + 1) + 6 * at(x + 2) + 4 * at(x + 3) + at(x + 4);
            }
        }
    }
    // Vertical pass centred on rows 2, 4, …
    let mut out = RgbImage::new(ow as u32, oh as u32);
    let dst: &mut [u8] = &mut out;
    for r in 0..oh {
        let y = 2 * r + 2;
        for c in 0..ow {
            for ch in 0..3 {
                let at = |y: usize| rows[(y * ow + c) * 3 + ch];
                let sum = at(y - 2) + 4 * at(y - 1) + 6 * at(y) + 4 * at(y + 1) + at(y + 2);
                dst[(r * ow + c) * 3 + ch] = (sum / 256) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_transform_recovers_a_known_similarity() {
        let truth = Affine {
            m: [[1.2, -0.5], [0.5, 1.2]],
            b: [10.0, -3.0],
        };
        let from = [[0.0, 0.0], [10.0, 0.0], [3.0, 7.0], [-4.0, 2.0]];
        let to = from.map(|p| truth.apply(p));
        let got = similarity_transform(&from, &to);
        for i in 0..2 {
            assert!((got.b[i] - truth.b[i]).abs() < 1e-12);
            for j in 0..2 {
                assert!((got.m[i][j] - truth.m[i][j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn pyramid_down_keeps_a_flat_image_flat_and_has_dlib_size() {
        let img = RgbImage::from_pixel(20, 13, image::Rgb([200, 100, 7]));
        let down = pyramid_down(&img);
        assert_eq!(down.dimensions(), (8, 5));
        // 200·256/256 = 200 exactly; integer arithmetic loses nothing here.
        assert!(down.pixels().all(|p| p.0 == [200, 100, 7]));
        assert_eq!(pyramid_down(&RgbImage::new(8, 100)).dimensions(), (0, 0));
    }

    #[test]
    fn bilinear_is_black_at_the_last_row_and_column() {
        let img = RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
        assert_eq!(bilinear(&img, [2.5, 2.5]).0, [9, 9, 9]);
        assert_eq!(bilinear(&img, [3.0, 1.0]).0, [0, 0, 0]);
        assert_eq!(bilinear(&img, [-0.1, 1.0]).0, [0, 0, 0]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let marks = FaceLandmarks {
            points: [[1.0, 1.0]; 5],
        };
        assert_eq!(
            face_chip_details(&marks, 1, 0.25),
            Err(AlignError::Size { size: 1 })
        );
        assert!(matches!(
            face_chip_details(&marks, 150, f64::NAN),
            Err(AlignError::Padding { .. })
        ));
        let mut far = marks;
        far.points[3] = [f64::INFINITY, 0.0];
        assert!(matches!(
            face_chip_details(&far, 150, 0.25),
            Err(AlignError::Landmark { index: 3, .. })
        ));
    }
}
