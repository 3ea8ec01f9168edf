//! Direct convolution without im2col (AVX-512): every tap a shifted run.
//!
//! Each input plane is copied once, zero-padded and split by row and column
//! phase modulo the stride, into planes of width `wq = ceil((w + 2·pad) /
//! stride)`. Output pixel `(y, x)` is computed at the flat index
//! `j = y·wq + x`, and the input under tap `(ky, kx)` is phase plane
//! `(ky mod sy, kx mod sx)` at `j + (ky / sy)·wq + kx / sx`: for a run of
//! consecutive `j`, every tap is one contiguous load at a fixed offset. For a
//! 3×3 stride-1 layer that is the padded plane at `j + ky·(w + 2) + kx`. The
//! extra columns `ow..wq` of each row are computed and dropped (2/37 of the
//! work at 35×35, 2/19 at 17×17), in exchange for no im2col copy at all
//! (im2col copies each input `kh·kw` times and each copied value feeds only
//! `f` multiply-adds).
//!
//! The microkernel keeps [`FB`] filters × [`PB`] pixels (24 AVX-512
//! accumulators) in registers over all `c·kh·kw` taps: per tap three vector
//! loads of input, eight broadcasts of weights and 24 FMAs. Work is split
//! into one rayon task per (sample, block of [`FB`] filters, run of
//! [`CHUNK_BLOCKS`] blocks); each task writes its pixels into a per-thread
//! scratch, then adds the bias and the epilogue while copying the valid
//! columns out.

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::{ConvParams, OutPtr, Post};
use super::Tensor;

/// Filters per microkernel block.
pub(super) const FB: usize = 8;
/// AVX-512 vectors of pixels per block.
const VB: usize = 3;
/// Pixels per microkernel block.
const PB: usize = VB * 16;
/// Blocks per rayon task (1536 pixels: 48 KiB of scratch per filter block),
/// so that large planes (the detector's) are split and stay in cache.
const CHUNK_BLOCKS: usize = 32;

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

/// Convolves `x` `(c, n, h, w)` into `out` `(f, n, oh, ow)` with filters
/// `filters_t` laid out `(c·kh·kw, f)` (tap-major, filters contiguous), adds
/// `bias` and applies `post`. Returns `false` (and leaves `out` alone) when
/// the CPU lacks AVX-512 or `f` is not a multiple of [`FB`].
pub(super) fn forward<P: Post>(
    p: &ConvParams,
    filters_t: &[f32],
    bias: &[f32],
    x: &Tensor,
    out: &mut Tensor,
    post: P,
) -> bool {
    let (c, n, h, w) = x.dim();
    let (f_total, on, oh, ow) = out.dim();
    let (sy, sx) = (p.stride_y, p.stride_x);
    let k_len = p.patch_len();
    if !available()
        || !f_total.is_multiple_of(FB)
        || on != n
        || c != p.in_channels
        || sy == 0
        || sx == 0
        || filters_t.len() != k_len * f_total
        || bias.len() != f_total
    {
        return false;
    }
    if n * oh * ow == 0 || f_total == 0 {
        return true;
    }
    // Padded input, split by row and column phase modulo the strides: phase
    // plane (py, px) holds padded pixel (r·sy + py, q·sx + px) at (r, q), so
    // tap (ky, kx) of output (oy, ox) is pixel (oy + ky/sy, ox + kx/sx) of
    // plane (ky mod sy, kx mod sx): a constant shift of `j = oy·wq + ox`.
    let (hp, wp) = (h + 2 * p.pad_y, w + 2 * p.pad_x);
    let (hq, wq) = (hp.div_ceil(sy), wp.div_ceil(sx));
    let grid = oh * wq;
    let blocks = grid.div_ceil(PB);
    let reach = (p.kernel_h - 1) / sy * wq + (p.kernel_w - 1) / sx + 1;
    let phase_len = (blocks * PB + reach).max(hq * wq).next_multiple_of(16);
    let group = sy * sx * phase_len;
    let mut padded = vec![0f32; c * n * group];
    if w > 0 {
        padded
            .par_chunks_mut(group)
            .zip(x.as_slice().par_chunks_exact(h * w))
            .for_each(|(dst, src)| {
                for (y, row) in src.chunks_exact(w).enumerate() {
                    let r = y + p.pad_y;
                    let row_base = (r % sy) * sx * phase_len + (r / sy) * wq;
                    for px in 0..sx {
                        // First column of this phase, and its index in the phase.
                        let x0 = (px + sx - p.pad_x % sx) % sx;
                        if x0 >= w {
                            continue;
                        }
                        let d = &mut dst[row_base + px * phase_len + (x0 + p.pad_x) / sx..];
                        if sx == 1 {
                            d[..w].copy_from_slice(row);
                        } else {
                            for (o, &v) in d.iter_mut().zip(row[x0..].iter().step_by(sx)) {
                                *o = v;
                            }
                        }
                    }
                }
            });
    }
    let offsets: Vec<usize> = (0..k_len)
        .map(|k| {
            let (ci, ky, kx) = (
                k / (p.kernel_h * p.kernel_w),
                (k / p.kernel_w) % p.kernel_h,
                k % p.kernel_w,
            );
            ci * n * group + ((ky % sy) * sx + kx % sx) * phase_len + (ky / sy) * wq + kx / sx
        })
        .collect();
    let dst = OutPtr(out.as_mut_slice().as_mut_ptr());
    let f_blocks = f_total / FB;
    let chunks = blocks.div_ceil(CHUNK_BLOCKS);
    (0..n * f_blocks * chunks).into_par_iter().for_each(|t| {
        let (s, fb, ch) = (t / (f_blocks * chunks), (t / chunks) % f_blocks, t % chunks);
        let f0 = fb * FB;
        let (b0, b1) = (ch * CHUNK_BLOCKS, ((ch + 1) * CHUNK_BLOCKS).min(blocks));
        let len = (b1 - b0) * PB;
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            if buf.len() < FB * len {
                buf.resize(FB * len, 0.0);
            }
            let buf = &mut buf[..FB * len];
            let src = &padded[s * group..];
            for b in b0..b1 {
                // SAFETY: AVX-512F is present (checked above); the block reads
                // `src[b·PB + offsets[k] + 0..PB]`, within the phase plane by
                // the choice of `phase_len`; the weights
                // `filters_t[k·f_total + f0 + 0..FB]`; and writes
                // `buf[i·len + (b − b0)·PB + 0..PB]` for `i < FB`.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    avx512::block(
                        src[b * PB..].as_ptr(),
                        &offsets,
                        filters_t[f0..].as_ptr(),
                        f_total,
                        buf[(b - b0) * PB..].as_mut_ptr(),
                        len,
                    );
                }
            }
            // Grid positions j0..j1 hold output rows y at y·wq + x, x < ow.
            let (j0, j1) = (b0 * PB, (b1 * PB).min(grid));
            let base = dst.get();
            for i in 0..FB {
                let f = f0 + i;
                let b = bias[f];
                let vals = &buf[i * len..];
                for y in j0 / wq..=(j1 - 1) / wq {
                    let x0 = j0.saturating_sub(y * wq);
                    let x1 = (j1 - y * wq).min(ow);
                    if x0 >= x1 {
                        continue;
                    }
                    // SAFETY: task (s, fb, ch) alone writes these pixels of
                    // planes (f, s) for its FB filters, inside `out`.
                    let o = unsafe {
                        std::slice::from_raw_parts_mut(
                            base.add(((f * n + s) * oh + y) * ow + x0),
                            x1 - x0,
                        )
                    };
                    let from = y * wq + x0 - j0;
                    for (v, &a) in o.iter_mut().zip(&vals[from..from + (x1 - x0)]) {
                        *v = a + b;
                    }
                    post.apply(f, o);
                }
            }
        });
    });
    true
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{FB, VB};
    use std::arch::x86_64::*;

    /// `dst[i·dst_stride + j] = Σ_k w[k·f_total + i] · src[offsets[k] + j]`
    /// for `i < FB`, `j < PB`, summed in order of `k`.
    ///
    /// # Safety
    /// AVX-512F must be present and every address above in bounds.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block(
        src: *const f32,
        offsets: &[usize],
        wts: *const f32,
        f_total: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); VB]; FB];
        for (k, &off) in offsets.iter().enumerate() {
            // SAFETY: in bounds per the caller.
            unsafe {
                let p = src.add(off);
                let a = [
                    _mm512_loadu_ps(p),
                    _mm512_loadu_ps(p.add(16)),
                    _mm512_loadu_ps(p.add(32)),
                ];
                let wk = wts.add(k * f_total);
                for (i, row) in acc.iter_mut().enumerate() {
                    let b = _mm512_set1_ps(*wk.add(i));
                    for (v, av) in row.iter_mut().zip(a) {
                        *v = _mm512_fmadd_ps(av, b, *v);
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
    use crate::nn::test_data::{pseudo_random, square_params};
    use crate::nn::{Affine, Conv2d, ConvAlgorithm, Epilogue, Tensor};

    // The direct kernel against im2col + GEMM on the ResNet's shapes and on
    // odd ones (one-pixel rows, sides shorter than a block, several blocks per
    // row, strides 2 and 3 with odd sides, planes of several tasks), with
    // and without the affine +
    // relu epilogue.
    #[test]
    fn matches_im2col() {
        for &(c, f, n, h, w, k, stride, pad) in &[
            (32, 32, 3, 35, 35, 3, 1, 1),
            (64, 64, 2, 17, 17, 3, 1, 1),
            (3, 8, 1, 1, 1, 3, 1, 1),
            (5, 16, 2, 9, 70, 3, 1, 1),
            (7, 24, 3, 5, 2, 3, 1, 1),
            (3, 32, 2, 41, 39, 7, 2, 0),
            (3, 8, 1, 20, 21, 7, 2, 3),
            (16, 32, 2, 35, 35, 3, 2, 0),
            (4, 8, 2, 13, 11, 5, 3, 2),
            (3, 8, 1, 120, 130, 5, 2, 2),
            (4, 16, 2, 60, 50, 3, 1, 1),
        ] {
            let p = square_params(c, f, k, stride, pad);
            let conv =
                Conv2d::new(p, pseudo_random(f * p.patch_len(), 1), pseudo_random(f, 2)).unwrap();
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
                    "{c}->{f} n {n} {h}x{w} k {k}/{stride} pad {pad}: {max} of {scale}"
                );
            }
        }
    }
}
