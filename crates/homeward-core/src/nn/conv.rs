//! 2-d convolution with bias, as dlib's `con_` computes it.
//!
//! Shapes: input `(c, h, w)`, filters `(f, c·kh·kw)`, output `(f, oh, ow)` with
//! `oh = 1 + (h + 2·pad_y − kh) / stride_y` (likewise `ow`). Outside the input
//! is zero.
//!
//! Default algorithm: im2col over a band of output rows, then one GEMM
//! (`ndarray`'s `dot`, backed by matrixmultiply's runtime-dispatched SIMD
//! kernels). Bands bound the im2col buffer to [`DEFAULT_COLUMN_BUDGET`] floats,
//! so large detector inputs do not need gigabytes of scratch.

use ndarray::{s, Array2, Array3, ArrayView2};

/// Largest im2col buffer, in f32 elements (64 MiB).
pub const DEFAULT_COLUMN_BUDGET: usize = 16 << 20;

/// Geometry of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_y: usize,
    pub stride_x: usize,
    pub pad_y: usize,
    pub pad_x: usize,
}

impl ConvParams {
    /// Output rows for `h` input rows, or `None` when the kernel does not fit.
    pub fn out_h(&self, h: usize) -> Option<usize> {
        (h + 2 * self.pad_y)
            .checked_sub(self.kernel_h)
            .map(|d| 1 + d / self.stride_y)
    }

    /// Output columns for `w` input columns, or `None` when the kernel does not fit.
    pub fn out_w(&self, w: usize) -> Option<usize> {
        (w + 2 * self.pad_x)
            .checked_sub(self.kernel_w)
            .map(|d| 1 + d / self.stride_x)
    }

    /// Length of one filter: `c · kh · kw`.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }
}

/// A convolution layer: filters `(f, c·kh·kw)` row-major as dlib stores them
/// (`f, c, kh, kw`), and one bias per filter.
#[derive(Debug, Clone)]
pub struct Conv2d {
    params: ConvParams,
    filters: Array2<f32>,
    bias: Vec<f32>,
}

impl Conv2d {
    /// `filters` has `out_channels × patch_len` elements, `bias` `out_channels`.
    /// Returns `None` if the lengths do not fit `params`.
    pub fn new(params: ConvParams, filters: Vec<f32>, bias: Vec<f32>) -> Option<Self> {
        if bias.len() != params.out_channels || params.stride_x == 0 || params.stride_y == 0 {
            return None;
        }
        let filters =
            Array2::from_shape_vec((params.out_channels, params.patch_len()), filters).ok()?;
        Some(Conv2d {
            params,
            filters,
            bias,
        })
    }

    pub fn params(&self) -> &ConvParams {
        &self.params
    }

    /// Output size for an input of `h × w`, or `None` if the kernel does not fit.
    pub fn out_dims(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        Some((self.params.out_h(h)?, self.params.out_w(w)?))
    }

    /// Convolves `x` `(c, h, w)`; `None` if `x` has the wrong channel count or is
    /// smaller than the kernel.
    pub fn forward(&self, x: &Array3<f32>) -> Option<Array3<f32>> {
        let p = &self.params;
        let (c, h, w) = x.dim();
        if c != p.in_channels {
            return None;
        }
        let (oh, ow) = self.out_dims(h, w)?;
        let mut out = Array3::<f32>::zeros((p.out_channels, oh, ow));
        let rows_per_band = (DEFAULT_COLUMN_BUDGET / (p.patch_len() * ow).max(1)).clamp(1, oh);
        let mut cols = Array2::<f32>::zeros((p.patch_len(), rows_per_band * ow));
        let mut y0 = 0;
        while y0 < oh {
            let band = rows_per_band.min(oh - y0);
            let n = band * ow;
            im2col(x, p, y0, band, ow, &mut cols);
            let product = self.filters.dot(&cols.slice(s![.., ..n]));
            write_band(&mut out, &product.view(), &self.bias, y0, band, ow);
            y0 += band;
        }
        Some(out)
    }
}

/// Fills `cols[(ci, ky, kx), (y − y0)·ow + x]` with the input pixel under
/// kernel tap `(ky, kx)` for output `(y, x)`, or 0 in the padding.
fn im2col(
    x: &Array3<f32>,
    p: &ConvParams,
    y0: usize,
    band: usize,
    ow: usize,
    cols: &mut Array2<f32>,
) {
    let (c, h, w) = x.dim();
    for ci in 0..c {
        for ky in 0..p.kernel_h {
            for kx in 0..p.kernel_w {
                let row = (ci * p.kernel_h + ky) * p.kernel_w + kx;
                let mut dst = cols.row_mut(row);
                for oy in 0..band {
                    let iy = ((y0 + oy) * p.stride_y + ky) as isize - p.pad_y as isize;
                    for ox in 0..ow {
                        let ix = (ox * p.stride_x + kx) as isize - p.pad_x as isize;
                        let inside = iy >= 0 && (iy as usize) < h && ix >= 0 && (ix as usize) < w;
                        dst[oy * ow + ox] = if inside {
                            x[[ci, iy as usize, ix as usize]]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Adds the bias to a band's GEMM result `(f, band·ow)` and stores it.
fn write_band(
    out: &mut Array3<f32>,
    product: &ArrayView2<f32>,
    bias: &[f32],
    y0: usize,
    band: usize,
    ow: usize,
) {
    for (f, b) in bias.iter().enumerate() {
        let src = product.row(f);
        let mut dst = out.slice_mut(s![f, y0..y0 + band, ..]);
        for (i, v) in dst.iter_mut().enumerate() {
            *v = src[i] + b;
        }
        debug_assert_eq!(dst.len(), band * ow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, the definition, to check the im2col path against.
    fn direct(x: &Array3<f32>, conv: &Conv2d) -> Array3<f32> {
        let p = conv.params;
        let (c, h, w) = x.dim();
        let (oh, ow) = conv.out_dims(h, w).unwrap();
        let mut out = Array3::zeros((p.out_channels, oh, ow));
        for f in 0..p.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = conv.bias[f];
                    for ci in 0..c {
                        for ky in 0..p.kernel_h {
                            for kx in 0..p.kernel_w {
                                let iy = (oy * p.stride_y + ky) as isize - p.pad_y as isize;
                                let ix = (ox * p.stride_x + kx) as isize - p.pad_x as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    let wi = (ci * p.kernel_h + ky) * p.kernel_w + kx;
                                    acc +=
                                        conv.filters[[f, wi]] * x[[ci, iy as usize, ix as usize]];
                                }
                            }
                        }
                    }
                    out[[f, oy, ox]] = acc;
                }
            }
        }
        out
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn im2col_gemm_matches_direct_convolution() {
        for &(stride, pad, k) in &[(1, 1, 3), (2, 0, 3), (2, 0, 5), (1, 2, 5), (2, 0, 7)] {
            let p = ConvParams {
                in_channels: 3,
                out_channels: 4,
                kernel_h: k,
                kernel_w: k,
                stride_y: stride,
                stride_x: stride,
                pad_y: pad,
                pad_x: pad,
            };
            let conv =
                Conv2d::new(p, pseudo_random(4 * p.patch_len(), 1), pseudo_random(4, 2)).unwrap();
            let x = Array3::from_shape_vec((3, 13, 11), pseudo_random(3 * 13 * 11, 3)).unwrap();
            let a = conv.forward(&x).unwrap();
            let b = direct(&x, &conv);
            assert_eq!(a.dim(), b.dim());
            let max = a
                .iter()
                .zip(b.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(max < 1e-5, "stride {stride} pad {pad} k {k}: {max}");
        }
    }

    #[test]
    fn output_size_follows_dlib() {
        let p = ConvParams {
            in_channels: 1,
            out_channels: 1,
            kernel_h: 3,
            kernel_w: 3,
            stride_y: 2,
            stride_x: 2,
            pad_y: 0,
            pad_x: 0,
        };
        assert_eq!(p.out_h(37), Some(18));
        assert_eq!(p.out_h(3), Some(1));
        assert_eq!(p.out_h(2), None);
    }

    #[test]
    fn wrong_channel_count_is_refused() {
        let p = ConvParams {
            in_channels: 2,
            out_channels: 1,
            kernel_h: 1,
            kernel_w: 1,
            stride_y: 1,
            stride_x: 1,
            pad_y: 0,
            pad_x: 0,
        };
        let conv = Conv2d::new(p, vec![1.0, 1.0], vec![0.0]).unwrap();
        assert!(conv.forward(&Array3::zeros((3, 4, 4))).is_none());
    }
}
