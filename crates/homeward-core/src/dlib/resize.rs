//! Bilinear resizing exactly as dlib's `resize_image` computes it, for the two
//! cases the face detector needs: a float plane (the tiled image pyramid) and
//! an RGB image (`pyramid_up`, used to upsample before detection).
//!
//! dlib maps output pixel `c` to input `x = c · (in_w − 1) / (out_w − 1)` and
//! works four columns at a time in single precision, truncating toward zero;
//! the last few columns use a scalar path. Both paths are reproduced here so
//! outputs agree with dlib to the last bit on ordinary inputs.

use image::RgbImage;
use ndarray::{ArrayView2, ArrayViewMut2};

/// Per-row sampling state shared by both resizers.
struct Row {
    top: usize,
    bottom: usize,
    tb: f64,
}

fn rows(in_h: usize, out_h: usize) -> impl Iterator<Item = Row> {
    let y_scale = (in_h as f64 - 1.0) / (out_h.max(2) as f64 - 1.0);
    let mut y = -y_scale;
    (0..out_h).map(move |_| {
        y += y_scale;
        let top = y.floor().max(0.0) as usize;
        Row {
            top,
            bottom: (top + 1).min(in_h - 1),
            tb: y - top as f64,
        }
    })
}

/// One output column of the four-wide path: left index, right index and the
/// four weights (tl, tr, bl, br), all in single precision.
fn simd_columns(in_w: usize, out_w: usize, tb: f64) -> (Vec<(usize, usize, [f32; 4])>, usize) {
    let x_scale = (in_w as f64 - 1.0) / (out_w.max(2) as f64 - 1.0);
    let tbf = tb as f32;
    let inv_tbf = (1.0 - tb) as f32;
    let step = (4.0 * x_scale) as f32;
    let x0 = -4.0 * x_scale;
    let mut xs = [
        x0 as f32,
        (x0 + x_scale) as f32,
        (x0 + 2.0 * x_scale) as f32,
        (x0 + 3.0 * x_scale) as f32,
    ];
    let mut out = Vec::with_capacity(out_w);
    let mut c = 0;
    loop {
        for x in &mut xs {
            *x += step;
        }
        let lefts = xs.map(|x| x as i32);
        // dlib stops the vector loop when the fourth column's right neighbour
        // leaves the image; the bound on `out_w` is only a guard.
        if lefts[3] + 1 >= in_w as i32 || c + 4 > out_w {
            break;
        }
        for k in 0..4 {
            let lr = xs[k] - lefts[k] as f32;
            let inv_lr = 1.0 - lr;
            let w = [inv_tbf * inv_lr, inv_tbf * lr, tbf * inv_lr, tbf * lr];
            out.push((lefts[k].max(0) as usize, (lefts[k] + 1).max(0) as usize, w));
        }
        c += 4;
    }
    let done = out.len();
    (out, done)
}

/// Resizes one float plane into another (dlib's grayscale `resize_image` with
/// `interpolate_bilinear`).
pub(crate) fn resize_plane(src: ArrayView2<f32>, mut dst: ArrayViewMut2<f32>) {
    let (in_h, in_w) = src.dim();
    let (out_h, out_w) = dst.dim();
    if in_h == 0 || in_w == 0 || out_h == 0 || out_w == 0 {
        return;
    }
    let x_scale = (in_w as f64 - 1.0) / (out_w.max(2) as f64 - 1.0);
    for (r, row) in rows(in_h, out_h).enumerate() {
        let (cols, done) = simd_columns(in_w, out_w, row.tb);
        for (c, &(l, rt, w)) in cols.iter().enumerate() {
            let v = w[0] * src[[row.top, l]]
                + w[1] * src[[row.top, rt]]
                + w[2] * src[[row.bottom, l]]
                + w[3] * src[[row.bottom, rt]];
            dst[[r, c]] = v;
        }
        let mut x = -x_scale + done as f64 * x_scale;
        for c in done..out_w {
            x += x_scale;
            let left = x.floor().max(0.0) as usize;
            let right = (left + 1).min(in_w - 1);
            let lr = (x - left as f64) as f32;
            let (tl, tr) = (src[[row.top, left]], src[[row.top, right]]);
            let (bl, br) = (src[[row.bottom, left]], src[[row.bottom, right]]);
            let top = ((1.0 - lr) * tl + lr * tr) as f64;
            let bottom = ((1.0 - lr) * bl + lr * br) as f64;
            dst[[r, c]] = ((1.0 - row.tb) * top + row.tb * bottom) as f32;
        }
    }
}

/// Resizes an RGB image to `out_w × out_h` (dlib's RGB `resize_image` with
/// `interpolate_bilinear`; values truncate toward zero).
pub(crate) fn resize_rgb(src: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (in_w, in_h) = (src.width() as usize, src.height() as usize);
    let mut dst = RgbImage::new(out_w, out_h);
    if in_w == 0 || in_h == 0 || out_w == 0 || out_h == 0 {
        return dst;
    }
    let px = |x: usize, y: usize, ch: usize| src.get_pixel(x as u32, y as u32)[ch] as f32;
    let x_scale = (in_w as f64 - 1.0) / (out_w.max(2) as f64 - 1.0);
    for (r, row) in rows(in_h, out_h as usize).enumerate() {
        let (cols, done) = simd_columns(in_w, out_w as usize, row.tb);
        for (c, &(l, rt, w)) in cols.iter().enumerate() {
            let mut out = [0u8; 3];
            for (ch, o) in out.iter_mut().enumerate() {
                let v = w[0] * px(l, row.top, ch)
                    + w[1] * px(rt, row.top, ch)
                    + w[2] * px(l, row.bottom, ch)
                    + w[3] * px(rt, row.bottom, ch);
                *o = v as i32 as u8;
            }
            dst.put_pixel(c as u32, r as u32, image::Rgb(out));
        }
        let mut x = -x_scale + done as f64 * x_scale;
        for c in done..out_w as usize {
            x += x_scale;
            let left = x.floor().max(0.0) as usize;
            let right = (left + 1).min(in_w - 1);
            let lr = x - left as f64;
            let mut out = [0u8; 3];
            for (ch, o) in out.iter_mut().enumerate() {
                let top =
                    (1.0 - lr) * px(left, row.top, ch) as f64 + lr * px(right, row.top, ch) as f64;
                let bottom = (1.0 - lr) * px(left, row.bottom, ch) as f64
                    + lr * px(right, row.bottom, ch) as f64;
                *o = ((1.0 - row.tb) * top + row.tb * bottom) as u8;
            }
            dst.put_pixel(c as u32, r as u32, image::Rgb(out));
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn identity_size_copies() {
        let src = Array2::from_shape_fn((7, 9), |(r, c)| (r * 9 + c) as f32);
        let mut dst = Array2::zeros((7, 9));
        resize_plane(src.view(), dst.view_mut());
        let max = (&src - &dst).iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max < 1e-4, "{max}");
    }

    #[test]
    fn linear_ramp_stays_linear() {
        let src = Array2::from_shape_fn((5, 11), |(_, c)| c as f32);
        let mut dst = Array2::zeros((4, 6));
        resize_plane(src.view(), dst.view_mut());
        for c in 0..6 {
            assert!(
                (dst[[2, c]] - 2.0 * c as f32).abs() < 1e-4,
                "{:?}",
                dst.row(2)
            );
        }
    }

    #[test]
    fn rgb_upsample_keeps_flat_colour() {
        let src = RgbImage::from_pixel(5, 4, image::Rgb([10, 200, 30]));
        let dst = resize_rgb(&src, 12, 9);
        // Truncation may lose one level on a flat colour, as in dlib.
        assert!(dst
            .pixels()
            .all(|p| (p[0] as i32 - 10).abs() <= 1 && (p[1] as i32 - 200).abs() <= 1));
    }
}
