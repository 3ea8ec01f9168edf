//! The edits a repost typically makes to a photo, applied deterministically
//! for the hash robustness benchmark (`homeward eval dupes`).
//!
//! Conventions: crops and pads are a fraction of the side taken off or added
//! on *each* edge; rotations are about the centre, counter-clockwise as seen
//! on screen for a positive angle, keep the size and fill the corners black;
//! resizes use a Catmull-Rom (bicubic) filter; blur is Gaussian.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// One edit of a photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Re-encode as JPEG at this quality (1-100).
    Jpeg(u8),
    /// Scale both sides by this factor.
    Resize(f32),
    /// Cut this fraction of the side off every edge.
    Crop(f32),
    /// Add a solid black border of this fraction of the side on every edge.
    Pad(f32),
    /// Frame the photo like a phone screenshot of a post: status bar,
    /// caption bar with text above the photo, action bar below it.
    Screenshot,
    /// Rotate by this many degrees (positive = counter-clockwise).
    Rotate(f32),
    /// Mirror left-right.
    Mirror,
    /// Multiply every channel by `1 + f` (f = 0.3 brightens by 30 %).
    Brightness(f32),
    /// Scale every channel's distance from the mean luma by `1 + f`.
    Contrast(f32),
    /// Meme-style caption lines of white, black-outlined text at the top and
    /// bottom.
    TextOverlay,
    /// Gaussian blur with this standard deviation in pixels.
    Blur(f32),
}

/// The benchmark's transforms, in report order.
pub const ALL: [Transform; 18] = [
    Transform::Jpeg(30),
    Transform::Jpeg(90),
    Transform::Resize(0.5),
    Transform::Resize(0.25),
    Transform::Crop(0.05),
    Transform::Crop(0.10),
    Transform::Crop(0.20),
    Transform::Pad(0.20),
    Transform::Screenshot,
    Transform::Rotate(4.0),
    Transform::Rotate(-4.0),
    Transform::Mirror,
    Transform::Brightness(0.3),
    Transform::Brightness(-0.3),
    Transform::Contrast(0.3),
    Transform::Contrast(-0.3),
    Transform::TextOverlay,
    Transform::Blur(3.0),
];

/// Why a transform could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{transform}: the photo is {width}x{height} px, too small for this edit")]
    TooSmall {
        transform: String,
        width: u32,
        height: u32,
    },
    #[error("JPEG re-encode at quality {quality} failed: {message}")]
    Jpeg { quality: u8, message: String },
}

impl Transform {
    /// A short stable name, e.g. `crop_10pct`, `rotate_-4deg`.
    pub fn name(&self) -> String {
        let pct = |f: f32| (f * 100.0).round() as i32;
        match *self {
            Transform::Jpeg(q) => format!("jpeg_q{q}"),
            Transform::Resize(f) => format!("resize_{f}x"),
            Transform::Crop(f) => format!("crop_{}pct", pct(f)),
            Transform::Pad(f) => format!("pad_{}pct", pct(f)),
            Transform::Screenshot => "screenshot".into(),
            Transform::Rotate(d) => format!("rotate_{d:+}deg"),
            Transform::Mirror => "mirror".into(),
            Transform::Brightness(f) => format!("brightness_{:+}pct", pct(f)),
            Transform::Contrast(f) => format!("contrast_{:+}pct", pct(f)),
            Transform::TextOverlay => "text_overlay".into(),
            Transform::Blur(s) => format!("blur_{s}px"),
        }
    }

    /// Applies the edit to `img`.
    pub fn apply(&self, img: &RgbImage) -> Result<RgbImage, TransformError> {
        let (w, h) = img.dimensions();
        let too_small = || TransformError::TooSmall {
            transform: self.name(),
            width: w,
            height: h,
        };
        match *self {
            Transform::Jpeg(quality) => jpeg(img, quality),
            Transform::Resize(f) => {
                let nw = (w as f32 * f).round() as u32;
                let nh = (h as f32 * f).round() as u32;
                if nw == 0 || nh == 0 {
                    return Err(too_small());
                }
                Ok(imageops::resize(img, nw, nh, FilterType::CatmullRom))
            }
            Transform::Crop(f) => {
                let dx = (w as f32 * f).round() as u32;
                let dy = (h as f32 * f).round() as u32;
                if 2 * dx >= w || 2 * dy >= h {
                    return Err(too_small());
                }
                Ok(imageops::crop_imm(img, dx, dy, w - 2 * dx, h - 2 * dy).to_image())
            }
            Transform::Pad(f) => {
                let dx = (w as f32 * f).round() as u32;
                let dy = (h as f32 * f).round() as u32;
                let mut out = RgbImage::new(w + 2 * dx, h + 2 * dy);
                imageops::replace(&mut out, img, i64::from(dx), i64::from(dy));
                Ok(out)
            }
            Transform::Screenshot => Ok(screenshot(img)),
            Transform::Rotate(deg) => Ok(rotate(img, deg)),
            Transform::Mirror => Ok(imageops::flip_horizontal(img)),
            Transform::Brightness(f) => Ok(map_channels(img, |v| v * (1.0 + f))),
            Transform::Contrast(f) => {
                let mean = mean_luma(img);
                Ok(map_channels(img, |v| mean + (v - mean) * (1.0 + f)))
            }
            Transform::TextOverlay => Ok(text_overlay(img)),
            Transform::Blur(sigma) => Ok(imageops::blur(img, sigma)),
        }
    }
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<RgbImage, TransformError> {
    let err = |e: image::ImageError| TransformError::Jpeg {
        quality,
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .map_err(err)?;
    let decoded = image::ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Jpeg)
        .decode()
        .map_err(err)?;
    Ok(decoded.to_rgb8())
}

fn map_channels(img: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = f(f32::from(*c)).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn mean_luma(img: &RgbImage) -> f32 {
    let n = (img.width() as f64 * img.height() as f64).max(1.0);
    let sum: f64 = img
        .pixels()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .sum();
    (sum / n) as f32
}

/// Bilinear rotation about the image centre, same size, black outside.
fn rotate(img: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        // Output pixel centre relative to the image centre (y down). A
        // counter-clockwise turn on screen maps source (dx, dy) to
        // (dx cos + dy sin, -dx sin + dy cos); invert it to sample the source.
        let ox = f64::from(x) + 0.5 - cx;
        let oy = f64::from(y) + 0.5 - cy;
        let sx = ox * cos - oy * sin + cx - 0.5;
        let sy = ox * sin + oy * cos + cy - 0.5;
        bilinear(img, sx, sy)
    })
}

/// Samples `img` at (x, y) in pixel-centre coordinates; black outside.
fn bilinear(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let mut acc = [0f64; 3];
    for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
        for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
            let (px, py) = (x0 + dx, y0 + dy);
            if px < 0 || py < 0 || px >= w || py >= h {
                continue;
            }
            let p = img.get_pixel(px as u32, py as u32);
            for (a, v) in acc.iter_mut().zip(p.0) {
                *a += wx * wy * f64::from(v);
            }
        }
    }
    Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8))
}

/// Glyph grid: 5 columns by 7 rows per character, one blank column between.
const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 7;

/// Draws `count` text-like glyphs starting at (x, y), each cell `cell` px.
/// The glyph shapes are fixed pseudo-random 5×7 bitmaps (about half the cells
/// set, like capital letters); `outline` draws a 1-cell-thick dark outline.
fn draw_text(
    img: &mut RgbImage,
    x: i64,
    y: i64,
    cell: u32,
    count: u32,
    ink: Rgb<u8>,
    outline: bool,
) {
    let cell = i64::from(cell.max(1));
    let mut state: u32 = 0x9E37_79B9;
    let mut glyphs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let mut bits = 0u64;
        for k in 0..GLYPH_W * GLYPH_H {
            // xorshift32: deterministic, so every run draws the same text.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if state % 100 < 48 {
                bits |= 1 << k;
            }
        }
        glyphs.push(bits);
    }
    let fill = |img: &mut RgbImage, gx: i64, gy: i64, colour: Rgb<u8>| {
        for py in gy..gy + cell {
            for px in gx..gx + cell {
                if px >= 0 && py >= 0 && px < i64::from(img.width()) && py < i64::from(img.height())
                {
                    img.put_pixel(px as u32, py as u32, colour);
                }
            }
        }
    };
    let passes: &[(Rgb<u8>, i64)] = if outline {
        &[(Rgb([0, 0, 0]), 1), (ink, 0)]
    } else {
        &[(ink, 0)]
    };
    for &(colour, grow) in passes {
        for (i, bits) in glyphs.iter().enumerate() {
            let gx0 = x + i as i64 * i64::from(GLYPH_W + 1) * cell;
            for k in 0..GLYPH_W * GLYPH_H {
                if bits >> k & 1 == 0 {
                    continue;
                }
                let cx = gx0 + i64::from(k % GLYPH_W) * cell;
                let cy = y + i64::from(k / GLYPH_W) * cell;
                for oy in -grow..=grow {
                    for ox in -grow..=grow {
                        fill(img, cx + ox * cell / 2, cy + oy * cell / 2, colour);
                    }
                }
            }
        }
    }
}

/// How many glyphs of `cell` px fit in `width` px with a margin on each side.
fn glyphs_across(width: u32, cell: u32, margin: u32) -> u32 {
    width.saturating_sub(2 * margin) / ((GLYPH_W + 1) * cell.max(1))
}

fn text_overlay(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = img.clone();
    // Each text line is 7 cells tall, about 10 % of the photo's height.
    let cell = (h / 70).max(1);
    let margin = w / 20;
    let n = glyphs_across(w, cell, margin);
    let line_h = GLYPH_H * cell;
    let white = Rgb([255, 255, 255]);
    let top = i64::from(h / 25);
    let bottom = i64::from(h) - i64::from(h / 25) - i64::from(line_h);
    draw_text(&mut out, i64::from(margin), top, cell, n, white, true);
    draw_text(&mut out, i64::from(margin), bottom, cell, n, white, true);
    out
}

/// Layout of the screenshot frame, in pixels, for a `w`×`h` photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScreenshotLayout {
    status: u32,
    caption: u32,
    actions: u32,
}

impl ScreenshotLayout {
    fn for_photo(h: u32) -> Self {
        ScreenshotLayout {
            status: (h / 16).max(2),
            caption: (h / 5).max(4),
            actions: (h / 9).max(2),
        }
    }
}

fn screenshot(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let l = ScreenshotLayout::for_photo(h);
    let mut out = RgbImage::from_pixel(
        w,
        l.status + l.caption + h + l.actions,
        Rgb([255, 255, 255]),
    );
    // Dark status bar with the clock and battery as light marks.
    let dark = Rgb([24, 24, 28]);
    for y in 0..l.status {
        for x in 0..w {
            out.put_pixel(x, y, dark);
        }
    }
    let small = (l.status / 9).max(1);
    draw_text(
        &mut out,
        i64::from(w / 30),
        i64::from(small),
        small,
        5,
        Rgb([230, 230, 230]),
        false,
    );
    // Caption: two lines of dark text on white.
    let cell = (l.caption / 20).max(1);
    let margin = w / 25;
    let n = glyphs_across(w, cell, margin);
    let ink = Rgb([20, 20, 20]);
    let y0 = i64::from(l.status + l.caption / 6);
    draw_text(&mut out, i64::from(margin), y0, cell, n, ink, false);
    draw_text(
        &mut out,
        i64::from(margin),
        y0 + i64::from(9 * cell),
        cell,
        n * 2 / 3,
        ink,
        false,
    );
    imageops::replace(&mut out, img, 0, i64::from(l.status + l.caption));
    // Action bar: four grey icons.
    let icon = (l.actions / 2).max(1);
    let y_icon = l.status + l.caption + h + (l.actions - icon) / 2;
    for k in 0..4u32 {
        let x_icon = w / 20 + k * (w / 6);
        for y in y_icon..y_icon + icon {
            for x in x_icon..(x_icon + icon).min(w) {
                out.put_pixel(x, y, Rgb([120, 120, 120]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A photo whose every pixel is distinct, so positions can be checked.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 3 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        })
    }

    #[test]
    fn every_transform_has_a_distinct_name() {
        let mut names: Vec<String> = ALL.iter().map(Transform::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(Transform::Rotate(-4.0).name(), "rotate_-4deg");
        assert_eq!(Transform::Crop(0.05).name(), "crop_5pct");
    }

    #[test]
    fn crop_takes_the_fraction_off_each_edge() {
        let img = gradient(200, 100);
        let out = Transform::Crop(0.10).apply(&img).unwrap();
        assert_eq!(out.dimensions(), (160, 80));
        assert_eq!(out.get_pixel(0, 0), img.get_pixel(20, 10));
        assert_eq!(out.get_pixel(159, 79), img.get_pixel(179, 89));
        assert!(Transform::Crop(0.5).apply(&img).is_err());
    }

    #[test]
    fn pad_adds_a_black_border_on_each_edge() {
        let img = RgbImage::from_pixel(100, 50, Rgb([200, 100, 50]));
        let out = Transform::Pad(0.20).apply(&img).unwrap();
        assert_eq!(out.dimensions(), (140, 70));
        assert_eq!(*out.get_pixel(19, 35), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(20, 10), Rgb([200, 100, 50]));
        assert_eq!(*out.get_pixel(119, 59), Rgb([200, 100, 50]));
        assert_eq!(*out.get_pixel(120, 60), Rgb([0, 0, 0]));
    }

    #[test]
    fn resize_scales_both_sides() {
        let img = gradient(250, 250);
        assert_eq!(
            Transform::Resize(0.5).apply(&img).unwrap().dimensions(),
            (125, 125)
        );
        assert_eq!(
            Transform::Resize(0.25).apply(&img).unwrap().dimensions(),
            (63, 63)
        );
        assert!(Transform::Resize(0.25).apply(&gradient(1, 1)).is_err());
    }

    #[test]
    fn rotation_is_counter_clockwise_about_the_centre() {
        // A bright 3x3 dot 40 px right of the centre of a 101x101 image.
        let mut img = RgbImage::new(101, 101);
        for y in 49..=51 {
            for x in 89..=91 {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        // Brightness-weighted centroid, in pixel-centre coordinates.
        let centroid = |im: &RgbImage| {
            let (mut sx, mut sy, mut sw) = (0f64, 0f64, 0f64);
            for (x, y, p) in im.enumerate_pixels() {
                let w = f64::from(p[0]);
                sx += w * (f64::from(x) + 0.5);
                sy += w * (f64::from(y) + 0.5);
                sw += w;
            }
            (sx / sw, sy / sw)
        };
        for deg in [4.0f32, -4.0, 30.0] {
            let out = Transform::Rotate(deg).apply(&img).unwrap();
            assert_eq!(out.dimensions(), (101, 101));
            let r = f64::from(deg).to_radians();
            let want_x = 50.5 + 40.0 * r.cos();
            let want_y = 50.5 - 40.0 * r.sin(); // up on screen for positive angles
            let (x, y) = centroid(&out);
            assert!((x - want_x).abs() <= 0.5, "{deg}: x {x} want {want_x}");
            assert!((y - want_y).abs() <= 0.5, "{deg}: y {y} want {want_y}");
        }
        // Corners rotated in from outside are black; the centre is unchanged.
        let g = gradient(101, 101);
        let out = Transform::Rotate(30.0).apply(&g).unwrap();
        assert_eq!(*out.get_pixel(0, 0), Rgb([0, 0, 0]));
        assert_eq!(out.get_pixel(50, 50), g.get_pixel(50, 50));
    }

    #[test]
    fn mirror_reverses_columns() {
        let img = gradient(30, 20);
        let out = Transform::Mirror.apply(&img).unwrap();
        assert_eq!(out.dimensions(), (30, 20));
        assert_eq!(out.get_pixel(0, 7), img.get_pixel(29, 7));
        assert_eq!(out.get_pixel(12, 3), img.get_pixel(17, 3));
    }

    #[test]
    fn brightness_and_contrast_keep_geometry_and_scale_values() {
        let img = RgbImage::from_fn(10, 10, |x, _| {
            if x < 5 {
                Rgb([100, 100, 100])
            } else {
                Rgb([200, 200, 200])
            }
        });
        let bright = Transform::Brightness(0.3).apply(&img).unwrap();
        assert_eq!(bright.dimensions(), (10, 10));
        assert_eq!(*bright.get_pixel(0, 0), Rgb([130, 130, 130]));
        assert_eq!(*bright.get_pixel(9, 0), Rgb([255, 255, 255])); // clamped
        let dark = Transform::Brightness(-0.3).apply(&img).unwrap();
        assert_eq!(*dark.get_pixel(9, 0), Rgb([140, 140, 140]));
        // Mean luma is 150: contrast +30 % moves 100 to 85 and 200 to 215.
        let more = Transform::Contrast(0.3).apply(&img).unwrap();
        assert_eq!(*more.get_pixel(0, 0), Rgb([85, 85, 85]));
        assert_eq!(*more.get_pixel(9, 9), Rgb([215, 215, 215]));
        let less = Transform::Contrast(-0.3).apply(&img).unwrap();
        assert_eq!(*less.get_pixel(0, 0), Rgb([115, 115, 115]));
    }

    #[test]
    fn jpeg_keeps_size_and_stays_close() {
        let img = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
        for q in [30, 90] {
            let out = Transform::Jpeg(q).apply(&img).unwrap();
            assert_eq!(out.dimensions(), (64, 48));
            let diff: f64 = img
                .pixels()
                .zip(out.pixels())
                .flat_map(|(a, b)| {
                    a.0.into_iter()
                        .zip(b.0)
                        .map(|(u, v)| (f64::from(u) - f64::from(v)).abs())
                })
                .sum::<f64>()
                / (64.0 * 48.0 * 3.0);
            assert!(diff < 8.0, "quality {q}: mean error {diff}");
        }
    }

    #[test]
    fn screenshot_frames_the_photo_unchanged() {
        let img = gradient(200, 160);
        let l = ScreenshotLayout::for_photo(160);
        let out = Transform::Screenshot.apply(&img).unwrap();
        assert_eq!(
            out.dimensions(),
            (200, l.status + l.caption + 160 + l.actions)
        );
        let top = l.status + l.caption;
        for (x, y) in [(0, 0), (199, 0), (100, 80), (199, 159)] {
            assert_eq!(out.get_pixel(x, top + y), img.get_pixel(x, y));
        }
        // The caption bar holds dark text marks on white.
        let caption: Vec<u8> = (l.status..top)
            .flat_map(|y| (0..200).map(move |x| (x, y)))
            .map(|(x, y)| out.get_pixel(x, y)[0])
            .collect();
        assert!(caption.iter().any(|&v| v < 50) && caption.contains(&255));
    }

    #[test]
    fn text_overlay_marks_top_and_bottom_only() {
        let img = RgbImage::from_pixel(200, 200, Rgb([90, 90, 90]));
        let out = Transform::TextOverlay.apply(&img).unwrap();
        assert_eq!(out.dimensions(), (200, 200));
        let changed_in = |rows: std::ops::Range<u32>| {
            rows.flat_map(|y| (0..200).map(move |x| (x, y)))
                .filter(|&(x, y)| out.get_pixel(x, y) != img.get_pixel(x, y))
                .count()
        };
        assert!(changed_in(0..40) > 200, "top line");
        assert!(changed_in(160..200) > 200, "bottom line");
        assert_eq!(changed_in(60..140), 0, "the middle stays clear");
    }

    #[test]
    fn blur_spreads_an_impulse_and_keeps_size() {
        let mut img = RgbImage::new(41, 41);
        img.put_pixel(20, 20, Rgb([255, 255, 255]));
        let out = Transform::Blur(3.0).apply(&img).unwrap();
        assert_eq!(out.dimensions(), (41, 41));
        assert!(out.get_pixel(20, 20)[0] < 30);
        assert!(out.get_pixel(23, 20)[0] > 0);
        assert_eq!(out.get_pixel(23, 20), out.get_pixel(17, 20)); // symmetric
    }
}
