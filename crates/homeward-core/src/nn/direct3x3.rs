//! Direct 3×3 stride-1 pad-1 convolution without im2col (AVX-512).
//!
//! Each input plane is copied once with a one-pixel zero border into rows of
//! `wp = w + 2` floats. Output pixel `(y, x)` is then computed at the flat
//! index `j = y·wp + x` of a `h × wp` grid, and the input under tap
//! `(ky, kx)` is the padded plane at `j + ky·wp + kx`: for a run of
//! consecutive `j`, every tap is one contiguous load. The two extra columns
//! per row are computed and dropped (2/37 of the work at 35×35, 2/19 at
//! 17×17), in exchange for no im2col copy at all (im2col copies each input
//! nine times and each copied value feeds only `f` multiply-adds).
//!
//! The microkernel keeps [`FB`] filters × [`PB`] pixels (24 AVX-512
//! accumulators) in registers over all `c · 9` taps: per tap three vector
//! loads of input, eight broadcasts of weights and 24 FMAs. Work is split
//! into one rayon task per (sample, block of [`FB`] filters); each task
//! writes its pixels into a per-thread scratch, then adds the bias and the
//! epilogue while copying the valid columns out.

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::{Epilogue, OutPtr};
use super::Tensor;

/// Filters per microkernel block.
pub(super) const FB: usize = 8;
/// AVX-512 vectors of pixels per block.
const VB: usize = 3;
/// Pixels per microkernel block.
const PB: usize = VB * 16;

thread_local! {
    /// Per-thread output scratch: `FB` rows of the padded-width grid.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether this CPU runs the kernel (AVX-512F).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Convolves `x` `(c, n, h, w)` into `out` `(f, n, h, w)` with filters
/// `filters_t` laid out `(c·9, f)` (tap-major, filters contiguous), adds
/// `bias` and applies `post`. Returns `false` (and leaves `out` alone) when
/// the CPU lacks AVX-512 or `f` is not a multiple of [`FB`].
pub(super) fn forward(
    filters_t: &[f32],
    bias: &[f32],
    x: &Tensor,
    out: &mut Tensor,
    post: Epilogue,
) -> bool {
    let (c, n, h, w) = x.dim();
    let (f_total, on, oh, ow) = out.dim();
    if !available()
        || !f_total.is_multiple_of(FB)
        || (on, oh, ow) != (n, h, w)
        || filters_t.len() != c * 9 * f_total
        || bias.len() != f_total
    {
        return false;
    }
    if n * h * w == 0 || f_total == 0 {
        return true;
    }
    let wp = w + 2;
    let grid = h * wp;
    let blocks = grid.div_ceil(PB);
    // The last block reads up to `blocks·PB − 1 + 2·wp + 2`.
    let plane = (blocks * PB + 2 * wp + 2).next_multiple_of(16);
    let mut padded = vec![0f32; c * n * plane];
    for (src, dst) in x
        .as_slice()
        .chunks_exact(h * w)
        .zip(padded.chunks_exact_mut(plane))
    {
        for (y, row) in src.chunks_exact(w).enumerate() {
            dst[(y + 1) * wp + 1..][..w].copy_from_slice(row);
        }
    }
    let dst = OutPtr(out.as_mut_slice().as_mut_ptr());
    let f_blocks = f_total / FB;
    let scratch_len = FB * blocks * PB;
    (0..n * f_blocks).into_par_iter().for_each(|t| {
        let (s, fb) = (t / f_blocks, t % f_blocks);
        let f0 = fb * FB;
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            if buf.len() < scratch_len {
                buf.resize(scratch_len, 0.0);
            }
            let buf = &mut buf[..scratch_len];
            let src = &padded[s * plane..];
            for b in 0..blocks {
                // SAFETY: AVX-512F is present (checked above); the block reads
                // `src[b·PB + ci·n·plane + ky·wp + kx + 0..PB]` for `ci < c`,
                // within `padded` by the choice of `plane`; the weights
                // `filters_t[(ci·9 + tap)·f_total + f0 + 0..FB]`; and writes
                // `buf[i·blocks·PB + b·PB + 0..PB]` for `i < FB`.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    avx512::block(
                        src[b * PB..].as_ptr(),
                        n * plane,
                        c,
                        wp,
                        filters_t[f0..].as_ptr(),
                        f_total,
                        buf[b * PB..].as_mut_ptr(),
                        blocks * PB,
                    );
                }
            }
            let base = dst.get();
            for i in 0..FB {
                let f = f0 + i;
                // SAFETY: task (s, fb) alone writes planes (f, s) for its
                // FB filters; each is `h·w` floats inside `out`.
                let o =
                    unsafe { std::slice::from_raw_parts_mut(base.add((f * n + s) * h * w), h * w) };
                let row_src = &buf[i * blocks * PB..];
                let b = bias[f];
                for (y, orow) in o.chunks_exact_mut(w).enumerate() {
                    for (v, &a) in orow.iter_mut().zip(&row_src[y * wp..y * wp + w]) {
                        *v = a + b;
                    }
                }
                post.apply(f, o);
            }
        });
    });
    true
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{FB, VB};
    use std::arch::x86_64::*;

    /// `dst[i·dst_stride + j] = Σ_ci Σ_tap w[ci·9 + tap][i] · src[ci·ci_stride
    /// + ky·wp + kx + j]` for `i < FB`, `j < PB`.
    ///
    /// # Safety
    /// AVX-512F must be present and every address above in bounds.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        src: *const f32,
        ci_stride: usize,
        c: usize,
        wp: usize,
        wts: *const f32,
        f_total: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); VB]; FB];
        for ci in 0..c {
            // SAFETY: in bounds per the caller.
            unsafe {
                let s = src.add(ci * ci_stride);
                let wr = wts.add(ci * 9 * f_total);
                for ky in 0..3 {
                    for kx in 0..3 {
                        let p = s.add(ky * wp + kx);
                        let a = [
                            _mm512_loadu_ps(p),
                            _mm512_loadu_ps(p.add(16)),
                            _mm512_loadu_ps(p.add(32)),
                        ];
                        let wk = wr.add((ky * 3 + kx) * f_total);
                        for (i, row) in acc.iter_mut().enumerate() {
                            let b = _mm512_set1_ps(*wk.add(i));
                            for (v, av) in row.iter_mut().zip(a) {
                                *v = _mm512_fmadd_ps(av, b, *v);
                            }
                        }
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &av) in row.iter().enumerate() {
                // SAFETY: in bounds per the caller.
                unsafe { _mm512_storeu_ps(dst.add(i * dst_stride + v * 16), av) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::nn::{Affine, Conv2d, ConvAlgorithm, ConvParams, Epilogue, Tensor};

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    // The direct kernel against im2col + GEMM on the ResNet's shapes and on
    // odd ones (one-pixel rows, sides shorter than a block, several blocks per
    // row), with and without the affine + relu epilogue.
    #[test]
    fn matches_im2col() {
        for &(c, f, n, h, w) in &[
            (32, 32, 3, 35, 35),
            (64, 64, 2, 17, 17),
            (3, 8, 1, 1, 1),
            (5, 16, 2, 9, 70),
            (7, 24, 3, 5, 2),
        ] {
            let p = ConvParams {
                in_channels: c,
                out_channels: f,
                kernel_h: 3,
                kernel_w: 3,
                stride_y: 1,
                stride_x: 1,
                pad_y: 1,
                pad_x: 1,
            };
            let conv = Conv2d::new(p, pseudo_random(f * c * 9, 1), pseudo_random(f, 2)).unwrap();
            let affine = Affine::new(pseudo_random(f, 3), pseudo_random(f, 4)).unwrap();
            let x = Tensor::from_vec(c, n, h, w, pseudo_random(c * n * h * w, 5)).unwrap();
            for post in [
                Epilogue::default(),
                Epilogue {
                    affine: Some(&affine),
                    relu: true,
                },
            ] {
                let want = conv
                    .forward_batch_with(&x, post, ConvAlgorithm::Im2col)
                    .unwrap();
                let got = conv
                    .forward_batch_with(&x, post, ConvAlgorithm::Direct)
                    .unwrap();
                assert_eq!(got.dim(), want.dim());
                let scale = want.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
                let max = got
                    .as_slice()
                    .iter()
                    .zip(want.as_slice())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    scale > 0.1 && max <= 1e-5 * scale,
                    "{c}->{f} n {n} {h}x{w}: {max} of {scale}"
                );
            }
        }
    }
}
