//! Depthwise convolution (one `k × k` filter per channel, ONNX `Conv` with
//! `group = channels`) with the batch norm and PReLU that follow it in
//! MobileFaceNet applied as each output plane is stored.

use rayon::prelude::*;

use crate::nn::{Affine, Tensor};

/// A depthwise convolution with symmetric zero padding, then
/// `y = prelu(γ·x + β)` per channel.
#[derive(Debug, Clone)]
pub(crate) struct Depthwise {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    /// `channels × kernel × kernel`.
    pub filters: Vec<f32>,
}

impl Depthwise {
    /// Output side for an input side `n`, or `None` if the kernel does not fit.
    pub fn out_side(&self, n: usize) -> Option<usize> {
        let padded = n + 2 * self.pad;
        (padded >= self.kernel).then(|| (padded - self.kernel) / self.stride + 1)
    }

    /// Convolves every sample of `x` `(c, n, h, w)`, then applies `affine`
    /// and PReLU with per-channel `slopes`; `None` on a channel mismatch.
    pub fn forward(&self, x: &Tensor, affine: &Affine, slopes: &[f32]) -> Option<Tensor> {
        let (c, n, h, w) = x.dim();
        if c != self.channels || affine.channels() != c || slopes.len() != c {
            return None;
        }
        let (oh, ow) = (self.out_side(h)?, self.out_side(w)?);
        let mut out = Tensor::zeros(c, n, oh, ow);
        let (in_plane, out_plane) = (h * w, oh * ow);
        let k = self.kernel;
        let input = x.as_slice();
        out.as_mut_slice()
            .par_chunks_mut(n * out_plane)
            .enumerate()
            .for_each(|(ch, out_ch)| {
                let f = &self.filters[ch * k * k..(ch + 1) * k * k];
                let (g, b) = affine.get(ch);
                let slope = slopes[ch];
                for s in 0..n {
                    let src = &input[(ch * n + s) * in_plane..][..in_plane];
                    let dst = &mut out_ch[s * out_plane..][..out_plane];
                    self.plane(src, h, w, f, dst, ow);
                    for v in dst.iter_mut() {
                        let y = *v * g + b;
                        *v = if y > 0.0 { y } else { y * slope };
                    }
                }
            });
        Some(out)
    }

    /// One channel of one sample: `dst (oh × ow) = src (h × w) ⊛ f`.
    fn plane(&self, src: &[f32], h: usize, w: usize, f: &[f32], dst: &mut [f32], ow: usize) {
        let (k, s, p) = (self.kernel, self.stride, self.pad);
        for (oy, row) in dst.chunks_mut(ow).enumerate() {
            for ky in 0..k {
                let Some(iy) = (oy * s + ky).checked_sub(p).filter(|&iy| iy < h) else {
                    continue;
                };
                let src_row = &src[iy * w..(iy + 1) * w];
                for kx in 0..k {
                    let wt = f[ky * k + kx];
                    // Outputs whose input column `ox·s + kx − p` is inside the row.
                    let first = p.saturating_sub(kx).div_ceil(s);
                    let last = (w + p).checked_sub(kx + 1).map(|v| v / s);
                    let Some(last) = last.map(|l| l.min(ow - 1)) else {
                        continue;
                    };
                    if first > last {
                        continue;
                    }
                    if s == 1 {
                        let start = first + kx - p;
                        let src_run = &src_row[start..start + (last - first + 1)];
                        for (o, &v) in row[first..=last].iter_mut().zip(src_run) {
                            *o += wt * v;
                        }
                    } else {
                        for (i, o) in row[first..=last].iter_mut().enumerate() {
                            *o += wt * src_row[(first + i) * s + kx - p];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::test_data::pseudo_random;

    /// The definition, one output at a time.
    fn reference(d: &Depthwise, x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
        let (oh, ow) = (d.out_side(h).unwrap(), d.out_side(w).unwrap());
        let k = d.kernel;
        let mut out = vec![0.0; c * oh * ow];
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * d.stride + ky) as i64 - d.pad as i64;
                            let ix = (ox * d.stride + kx) as i64 - d.pad as i64;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                acc += d.filters[(ch * k + ky) * k + kx]
                                    * x[(ch * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                    out[(ch * oh + oy) * ow + ox] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_strides_one_and_two() {
        for (stride, h, w) in [(1, 7, 9), (2, 8, 8), (2, 7, 5), (1, 1, 1)] {
            let c = 3;
            let d = Depthwise {
                channels: c,
                kernel: 3,
                stride,
                pad: 1,
                filters: pseudo_random(c * 9, 7),
            };
            let x = pseudo_random(c * h * w, 11);
            let expected = reference(&d, &x, c, h, w);
            let identity = Affine::new(vec![1.0; c], vec![0.0; c]).unwrap();
            let input = Tensor::from_vec(c, 1, h, w, x).unwrap();
            let got = d.forward(&input, &identity, &[1.0; 3]).unwrap();
            for (a, b) in got.as_slice().iter().zip(&expected) {
                assert!((a - b).abs() < 1e-6, "stride {stride}: {a} vs {b}");
            }
            // Batch norm then PReLU with slope 0.25 on the same outputs.
            let affine = Affine::new(vec![2.0; c], vec![-0.1; c]).unwrap();
            let got = d.forward(&input, &affine, &[0.25; 3]).unwrap();
            for (a, b) in got.as_slice().iter().zip(&expected) {
                let y = 2.0 * b - 0.1;
                let y = if y > 0.0 { y } else { 0.25 * y };
                assert!((a - y).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn refuses_wrong_channel_counts() {
        let d = Depthwise {
            channels: 2,
            kernel: 3,
            stride: 1,
            pad: 1,
            filters: vec![0.0; 18],
        };
        let a = Affine::new(vec![1.0; 2], vec![0.0; 2]).unwrap();
        assert!(d
            .forward(&Tensor::zeros(3, 1, 4, 4), &a, &[0.0; 2])
            .is_none());
        assert!(d
            .forward(&Tensor::zeros(2, 1, 4, 4), &a, &[0.0; 3])
            .is_none());
    }
}
