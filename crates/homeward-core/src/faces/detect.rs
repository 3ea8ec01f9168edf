//! Face detection: dlib's CNN (MMOD) detector with its optional upsampling.

use std::path::Path;

use image::RgbImage;

use super::Rect;
use crate::dlib::mmod::Mmod;
use crate::dlib::resize::resize_rgb;
use crate::dlib::{self, ModelError, ModelKind};

/// How to run the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectOptions {
    /// Times to double the image before detecting (0, 1 or 2). Each doubling
    /// finds faces half as large (about 40 px instead of 80 px at 0) and costs
    /// four times as much.
    pub upsample: u8,
    /// Largest image, in pixels, the network may see after upsampling. When
    /// the upsampled image would be larger, upsampling is reduced; when the
    /// photo alone is larger, it is scaled down first and boxes scaled back.
    pub max_pixels: u64,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            upsample: 1,
            max_pixels: 16_000_000,
        }
    }
}

/// A face found by the detector, in the coordinates of the image given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The face box.
    pub rect: Rect,
    /// dlib's detection confidence: above 0 is a detection, about 1 is typical.
    pub score: f64,
}

/// The CNN face detector.
#[derive(Debug, Clone)]
pub struct Detector {
    net: Mmod,
}

impl Detector {
    /// Parses `mmod_human_face_detector.dat`, checking its SHA-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        Ok(Detector {
            net: Mmod::from_bytes(bytes)?,
        })
    }

    /// Loads the model from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        Self::from_bytes(&dlib::read_verified(dir, ModelKind::Detector)?)
    }

    /// The model built into this binary.
    #[cfg(feature = "bundled-models")]
    pub fn bundled() -> Result<Self, ModelError> {
        Self::from_bytes(ModelKind::Detector.bundled_bytes())
    }

    /// Multiply-adds the network performs on a `width × height` image at
    /// upsample 0 (the pyramid included).
    pub fn multiply_adds(&self, width: u32, height: u32) -> u64 {
        self.net.multiply_adds(width, height)
    }

    /// Bytes that [`detect`](Self::detect) needs at its peak for a
    /// `width × height` photo under `options`, beyond the photo itself: the
    /// upsampled or downscaled copy, the tiled pyramid and the worst network
    /// layer. Computed from the dimensions alone, so that a budget can be
    /// checked before decoding; `None` when it overflows `u64`.
    ///
    /// ```
    /// use homeward_core::faces::{DetectOptions, Detector};
    /// let opts = DetectOptions::default();
    /// let photo = Detector::peak_bytes(1000, 750, &opts).unwrap();
    /// let strip = Detector::peak_bytes(3_000_000, 1, &opts).unwrap();
    /// assert!(photo < 1 << 30, "{photo}");
    /// // 3 MB of pixels, but the detector pads every side of the strip.
    /// assert!(strip > 4 << 30, "{strip}");
    /// ```
    pub fn peak_bytes(width: u32, height: u32, options: &DetectOptions) -> Option<u64> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels == 0 {
            return Some(0);
        }
        let rgb = |w: u64, h: u64| w.checked_mul(h)?.checked_mul(3);
        let cap = options.max_pixels.max(1);
        if pixels > cap {
            let (w, h) = downscaled_size(width, height, cap);
            let (w, h) = (u64::from(w), u64::from(h));
            // imageops::resize: a vertical pass into f32 RGB (`width × h`),
            // then the horizontal pass into the small image.
            let passes = u64::from(width)
                .checked_mul(h)?
                .checked_mul(12)?
                .checked_add(rgb(w, h)?)?;
            let net = crate::dlib::mmod::network_peak_bytes(w as u32, h as u32)?;
            return passes.max(rgb(w, h)?.checked_add(net)?).into();
        }
        let mut upsample = options.upsample.min(2);
        while upsample > 0 && pixels.saturating_mul(1 << (2 * upsample)) > cap {
            upsample -= 1;
        }
        let (mut w, mut h) = (width, height);
        // The working copy of the photo.
        let mut peak = rgb(u64::from(w), u64::from(h))?;
        for _ in 0..upsample {
            let (uw, uh) = pyramid_up_size(w, h);
            // The previous level, the new one, and the resizer's per-row
            // column table (32 bytes per output column).
            let level = rgb(u64::from(w), u64::from(h))?
                .checked_add(rgb(u64::from(uw), u64::from(uh))?)?
                .checked_add(u64::from(uw).checked_mul(32)?)?;
            peak = peak.max(level);
            (w, h) = (uw, uh);
        }
        let net = crate::dlib::mmod::network_peak_bytes(w, h)?;
        peak.max(rgb(u64::from(w), u64::from(h))?.checked_add(net)?)
            .into()
    }

    /// Finds faces, strongest first.
    pub fn detect(&self, img: &RgbImage, options: &DetectOptions) -> Vec<Detection> {
        let pixels = img.width() as u64 * img.height() as u64;
        if pixels == 0 {
            return Vec::new();
        }
        let cap = options.max_pixels.max(1);
        if pixels > cap {
            return self.detect_downscaled(img, cap);
        }
        let mut upsample = options.upsample.min(2);
        while upsample > 0 && pixels << (2 * upsample) > cap {
            upsample -= 1;
        }
        let mut work = img.clone();
        for _ in 0..upsample {
            if super::cancel_requested() {
                return Vec::new();
            }
            work = pyramid_up(&work);
        }
        self.net
            .detect(&work)
            .into_iter()
            .map(|d| Detection {
                rect: rect_down(d.rect, upsample),
                score: d.score,
            })
            .collect()
    }

    fn detect_downscaled(&self, img: &RgbImage, cap: u64) -> Vec<Detection> {
        let (w, h) = downscaled_size(img.width(), img.height(), cap);
        let small = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
        if super::cancel_requested() {
            return Vec::new();
        }
        let (sx, sy) = (
            img.width() as f64 / w as f64,
            img.height() as f64 / h as f64,
        );
        self.net
            .detect(&small)
            .into_iter()
            .map(|d| Detection {
                rect: Rect::new(
                    (d.rect.left as f64 * sx).round() as i64,
                    (d.rect.top as f64 * sy).round() as i64,
                    (d.rect.right as f64 * sx).round() as i64,
                    (d.rect.bottom as f64 * sy).round() as i64,
                ),
                score: d.score,
            })
            .collect()
    }
}

/// The size a photo over `cap` pixels is scaled down to before detection.
fn downscaled_size(width: u32, height: u32, cap: u64) -> (u32, u32) {
    let pixels = width as f64 * height as f64;
    let scale = (cap as f64 / pixels).sqrt();
    let w = ((width as f64 * scale).floor() as u32).max(1);
    let h = ((height as f64 * scale).floor() as u32).max(1);
    (w, h)
}

/// The size [`pyramid_up`] gives a `w × h` image.
fn pyramid_up_size(w: u32, h: u32) -> (u32, u32) {
    let (w, h) = (w as f64, h as f64);
    let right = ((w - 1.0 + 1.25) * 2.0).round() as u32;
    let bottom = ((h - 1.0 + 0.75) * 2.0).round() as u32;
    (right.saturating_add(1), bottom.saturating_add(1))
}

/// dlib's `pyramid_up` with `pyramid_down<2>`: the image's box mapped up by
/// `p ↦ (p + (1.25, 0.75))·2` and rounded gives the new size (2h+1 rows,
/// 2w+2 columns); the pixels are a bilinear resize.
fn pyramid_up(img: &RgbImage) -> RgbImage {
    let (w, h) = pyramid_up_size(img.width(), img.height());
    resize_rgb(img, w, h)
}

/// Maps a box found in an image upsampled `levels` times back down:
/// `p ↦ p/2 − (1.25, 0.75)` per level, then rounded.
fn rect_down(r: Rect, levels: u8) -> Rect {
    let down = |mut x: f64, mut y: f64| {
        for _ in 0..levels {
            x = x / 2.0 - 1.25;
            y = y / 2.0 - 0.75;
        }
        (x.round() as i64, y.round() as i64)
    };
    let (l, t) = down(r.left as f64, r.top as f64);
    let (rr, b) = down(r.right as f64, r.bottom as f64);
    Rect::new(l, t, rr, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_up_size_matches_dlib() {
        let img = RgbImage::new(10, 7);
        let up = pyramid_up(&img);
        assert_eq!((up.width(), up.height()), (22, 15));
    }

    #[test]
    fn rect_down_inverts_the_up_mapping() {
        let r = Rect::new(100, 60, 180, 140);
        let up = |x: i64, y: i64| {
            (
                ((x as f64 + 1.25) * 2.0) as i64,
                ((y as f64 + 0.75) * 2.0) as i64,
            )
        };
        let (l, t) = up(r.left, r.top);
        let (rr, b) = up(r.right, r.bottom);
        assert_eq!(rect_down(Rect::new(l, t, rr, b), 1), r);
    }
}
