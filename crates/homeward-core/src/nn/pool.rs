//! Max and average pooling as dlib computes them.
//!
//! Output size: `1 + (h + 2·pad − window) / stride`. Window `(r, c)` covers
//! input rows `r·stride − pad ..` for `window` rows, clipped to the image: the
//! max or the mean is over the clipped part only (dlib's `subm_clipped`). A
//! window of 0 means "the whole input" (`avg_pool_everything`).

use ndarray::Array3;
use rayon::prelude::*;

use super::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Which pooling.
pub enum PoolKind {
    /// Largest value of the window.
    Max,
    /// Mean of the window.
    Average,
}

/// A pooling layer's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// Window height; 0 = the whole input.
    pub window_h: usize,
    /// Window width; 0 = the whole input.
    pub window_w: usize,
    /// Vertical stride.
    pub stride_y: usize,
    /// Horizontal stride.
    pub stride_x: usize,
    /// Rows of zero padding above and below.
    pub pad_y: usize,
    /// Columns of zero padding left and right.
    pub pad_x: usize,
}

impl Pool2d {
    fn window(&self, h: usize, w: usize) -> (usize, usize) {
        let wh = if self.window_h == 0 { h } else { self.window_h };
        let ww = if self.window_w == 0 { w } else { self.window_w };
        (wh, ww)
    }

    /// Output size, or `None` when the window does not fit the padded input.
    pub fn out_dims(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let (wh, ww) = self.window(h, w);
        if self.stride_x == 0 || self.stride_y == 0 {
            return None;
        }
        let oh = (h + 2 * self.pad_y).checked_sub(wh)? / self.stride_y + 1;
        let ow = (w + 2 * self.pad_x).checked_sub(ww)? / self.stride_x + 1;
        Some((oh, ow))
    }

    /// Pools each channel of `x` `(c, h, w)`.
    pub fn forward(&self, x: &Array3<f32>) -> Option<Array3<f32>> {
        let (c, h, w) = x.dim();
        let (wh, ww) = self.window(h, w);
        let (oh, ow) = self.out_dims(h, w)?;
        let mut out = Array3::<f32>::zeros((c, oh, ow));
        for ch in 0..c {
            let plane = x.index_axis(ndarray::Axis(0), ch);
            for oy in 0..oh {
                let top = (oy * self.stride_y) as isize - self.pad_y as isize;
                let (y0, y1) = clip(top, wh, h);
                for ox in 0..ow {
                    let left = (ox * self.stride_x) as isize - self.pad_x as isize;
                    let (x0, x1) = clip(left, ww, w);
                    let window = plane.slice(ndarray::s![y0..y1, x0..x1]);
                    out[[ch, oy, ox]] = match self.kind {
                        PoolKind::Max => window.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                        PoolKind::Average => {
                            let n = window.len();
                            if n == 0 {
                                0.0
                            } else {
                                window.sum() / n as f32
                            }
                        }
                    };
                }
            }
        }
        Some(out)
    }
}

impl Pool2d {
    /// Pools every channel of every sample of `x`, planes spread over rayon
    /// tasks of at least [`POOL_TASK_FLOATS`] input floats each.
    pub fn forward_tensor(&self, x: &Tensor) -> Option<Tensor> {
        let (c, n, h, w) = x.dim();
        let (oh, ow) = self.out_dims(h, w)?;
        let mut out = Tensor::zeros(c, n, oh, ow);
        if oh * ow == 0 || h * w == 0 {
            return Some(out);
        }
        let input = x.as_slice();
        let per_task = POOL_TASK_FLOATS.div_ceil(h * w);
        out.as_mut_slice()
            .par_chunks_mut(oh * ow)
            .zip(input.par_chunks(h * w))
            .with_min_len(per_task)
            .for_each(|(dst, src)| self.plane(src, h, w, dst, ow));
        Some(out)
    }

    /// Pools one `h × w` plane into `dst` (`oh × ow`).
    fn plane(&self, src: &[f32], h: usize, w: usize, dst: &mut [f32], ow: usize) {
        let (wh, ww) = self.window(h, w);
        let unpadded = self.pad_x == 0 && self.pad_y == 0;
        if unpadded && self.kind == PoolKind::Max {
            // No clipping: the max of each column over the window's rows,
            // then of `ww` neighbours (max is exact in any order).
            let mut column_max = vec![f32::NEG_INFINITY; w];
            for (oy, dst_row) in dst.chunks_exact_mut(ow).enumerate() {
                column_max.fill(f32::NEG_INFINITY);
                let top = oy * self.stride_y;
                for row in src[top * w..(top + wh) * w].chunks_exact(w) {
                    for (m, &v) in column_max.iter_mut().zip(row) {
                        *m = m.max(v);
                    }
                }
                for (ox, d) in dst_row.iter_mut().enumerate() {
                    let left = ox * self.stride_x;
                    *d = column_max[left..left + ww]
                        .iter()
                        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                }
            }
            return;
        }
        if unpadded {
            // Average without clipping, summed row by row as below.
            let count = (wh * ww) as f32;
            for (oy, dst_row) in dst.chunks_exact_mut(ow).enumerate() {
                let top = oy * self.stride_y;
                for (ox, d) in dst_row.iter_mut().enumerate() {
                    let left = ox * self.stride_x;
                    let mut sum = 0f32;
                    for y in top..top + wh {
                        for &v in &src[y * w + left..y * w + left + ww] {
                            sum += v;
                        }
                    }
                    *d = sum / count;
                }
            }
            return;
        }
        for (oy, dst_row) in dst.chunks_exact_mut(ow).enumerate() {
            let top = (oy * self.stride_y) as isize - self.pad_y as isize;
            let (y0, y1) = clip(top, wh, h);
            for (ox, d) in dst_row.iter_mut().enumerate() {
                let left = (ox * self.stride_x) as isize - self.pad_x as isize;
                let (x0, x1) = clip(left, ww, w);
                let rows = (y0..y1).map(|y| &src[y * w + x0..y * w + x1]);
                *d = match self.kind {
                    PoolKind::Max => rows
                        .flat_map(|r| r.iter().copied())
                        .fold(f32::NEG_INFINITY, f32::max),
                    PoolKind::Average => {
                        let count = (y1 - y0) * (x1 - x0);
                        if count == 0 {
                            0.0
                        } else {
                            rows.flat_map(|r| r.iter()).sum::<f32>() / count as f32
                        }
                    }
                };
            }
        }
    }
}

/// Fewest input floats per rayon task when pooling (small layers run on one
/// thread: waking another costs more than the work).
pub const POOL_TASK_FLOATS: usize = 32 * 1024;

/// The part of `[start, start + len)` inside `[0, size)`.
fn clip(start: isize, len: usize, size: usize) -> (usize, usize) {
    let a = start.max(0) as usize;
    let b = ((start + len as isize).max(0) as usize).min(size);
    (a.min(b), b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_pool(kind: PoolKind, k: usize, stride: usize, pad: usize) -> Pool2d {
        Pool2d {
            kind,
            window_h: k,
            window_w: k,
            stride_y: stride,
            stride_x: stride,
            pad_y: pad,
            pad_x: pad,
        }
    }

    // The batched form equals the per-sample one, padding and clipping included.
    #[test]
    fn batched_pool_matches_per_sample_pool() {
        let data: Vec<f32> = (0..2 * 3 * 7 * 6)
            .map(|v| ((v * 37) % 23) as f32 * 0.37 - 3.0)
            .collect();
        let t = Tensor::from_vec(2, 3, 7, 6, data).unwrap();
        for (kind, k, stride, pad) in [
            (PoolKind::Max, 3, 2, 0),
            (PoolKind::Average, 2, 2, 0),
            (PoolKind::Average, 3, 1, 1),
            (PoolKind::Average, 0, 1, 0),
        ] {
            let p = square_pool(kind, k, stride, pad);
            let out = p.forward_tensor(&t).unwrap();
            for s in 0..3 {
                let want = p.forward(&t.sample(s).unwrap()).unwrap();
                let got = out.sample(s).unwrap();
                let max = (&got - &want).iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(max < 1e-5, "{kind:?} {k}: {max}");
            }
        }
    }

    // The unpadded fast paths give the bits of the clipping path: a max is
    // exact, and the average sums in the same row-major order.
    #[test]
    fn unpadded_fast_paths_equal_the_clipping_path() {
        let (h, w) = (73, 71);
        let src: Vec<f32> = (0..h * w)
            .map(|v| ((v * 7919) % 1000) as f32 * 0.013 - 6.0)
            .collect();
        for (kind, k, stride) in [
            (PoolKind::Max, 3, 2),
            (PoolKind::Average, 2, 2),
            (PoolKind::Average, 3, 1),
        ] {
            let p = square_pool(kind, k, stride, 0);
            let (oh, ow) = p.out_dims(h, w).unwrap();
            let mut fast = vec![0f32; oh * ow];
            p.plane(&src, h, w, &mut fast, ow);
            let mut slow = vec![0f32; oh * ow];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y0, x0) = (oy * stride, ox * stride);
                    let rows = (y0..y0 + k).map(|y| &src[y * w + x0..y * w + x0 + k]);
                    slow[oy * ow + ox] = match kind {
                        PoolKind::Max => rows.flatten().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
                        PoolKind::Average => rows.flatten().sum::<f32>() / (k * k) as f32,
                    };
                }
            }
            assert_eq!(fast, slow, "{kind:?} {k}/{stride}");
        }
    }

    #[test]
    fn max_pool_3x3_stride_2() {
        let x = Array3::from_shape_fn((1, 5, 5), |(_, r, c)| (r * 5 + c) as f32);
        let p = Pool2d {
            kind: PoolKind::Max,
            window_h: 3,
            window_w: 3,
            stride_y: 2,
            stride_x: 2,
            pad_y: 0,
            pad_x: 0,
        };
        let y = p.forward(&x).unwrap();
        assert_eq!(y.dim(), (1, 2, 2));
        assert_eq!(y.as_slice().unwrap(), &[12.0, 14.0, 22.0, 24.0]);
    }

    #[test]
    fn average_over_everything() {
        let x = Array3::from_shape_vec((2, 1, 2), vec![1.0, 3.0, 10.0, 20.0]).unwrap();
        let p = Pool2d {
            kind: PoolKind::Average,
            window_h: 0,
            window_w: 0,
            stride_y: 1,
            stride_x: 1,
            pad_y: 0,
            pad_x: 0,
        };
        let y = p.forward(&x).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[2.0, 15.0]);
    }

    #[test]
    fn padded_average_divides_by_the_clipped_count() {
        let x = Array3::from_elem((1, 2, 2), 4.0);
        let p = Pool2d {
            kind: PoolKind::Average,
            window_h: 3,
            window_w: 3,
            stride_y: 1,
            stride_x: 1,
            pad_y: 1,
            pad_x: 1,
        };
        let y = p.forward(&x).unwrap();
        assert!(y.iter().all(|&v| v == 4.0));
    }
}
