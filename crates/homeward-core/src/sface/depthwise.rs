//! Depthwise convolution (one `k × k` filter per channel, ONNX `Conv` with
//! `group = channels`) with the batch norm and PReLU that follow it in
//! MobileFaceNet applied as each output row is stored.
//!
//! Each input plane is first copied into a per-thread scratch, zero-padded
//! and with its columns split by phase modulo the stride (as in
//! `nn::shifted`): padded column `q·s + φ` lands at index `q` of phase
//! segment `φ`, so the inputs under one tap for consecutive outputs of a row
//! are contiguous for stride 1 and 2 alike. The segments are wide enough that
//! a whole vector of outputs (16 lanes) never reads past them. 3×3 filters
//! then run on an AVX-512 or AVX2+FMA kernel chosen at run time (one vector
//! of outputs: nine loads and nine FMAs, the batch norm as one more FMA,
//! PReLU as a compare and blend, a masked store for the row's tail); other
//! filter sizes and other CPUs take the portable scalar loop over the same
//! scratch.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::nn::{Affine, Tensor};

/// Outputs of the widest vector kernel; rows of the scratch are padded so
/// that a vector of this many outputs reads inside them.
const LANES: usize = 16;
/// Fewest output values per rayon task (channels are grouped up to it), so
/// that the 7×7 and 14×14 layers are not split into tasks of a few hundred
/// multiply-adds.
const MIN_TASK_OUTPUTS: usize = 4096;

thread_local! {
    /// Per-thread padded, phase-split input plane.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

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

/// Which kernel runs the planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The portable loop (any filter size, any CPU).
    Scalar,
    /// 8 outputs per vector, 3×3 filters only.
    Avx2,
    /// 16 outputs per vector, 3×3 filters only.
    Avx512,
}

impl Isa {
    /// The fastest kernel this CPU runs for `kernel × kernel` filters.
    pub(crate) fn best(kernel: usize) -> Isa {
        Isa::Avx512.or_slower(kernel)
    }

    /// `self` if this CPU runs it for `kernel × kernel` filters, else the
    /// next slower kernel that it runs (at worst [`Isa::Scalar`]).
    fn or_slower(self, kernel: usize) -> Isa {
        #[cfg(target_arch = "x86_64")]
        if kernel == 3 {
            if self == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if self != Isa::Scalar
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        let _ = kernel;
        Isa::Scalar
    }
}

/// Sizes of one plane's convolution and of its padded scratch.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    k: usize,
    s: usize,
    p: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    /// Width of one phase segment.
    wq: usize,
    /// Floats per padded row: `s · wq`.
    row_len: usize,
    /// Padded rows: `h + 2·p`.
    rows: usize,
}

impl Geometry {
    /// Floats of scratch for one plane.
    fn scratch_len(&self) -> usize {
        self.rows * self.row_len
    }

    /// Offset in the scratch of tap `(ky, kx)` for output `(0, 0)`.
    fn tap(&self, ky: usize, kx: usize) -> usize {
        ky * self.row_len + (kx % self.s) * self.wq + kx / self.s
    }

    /// Copies the plane `src` (`h × w`) into `scratch`, zero-padded and
    /// phase-split. Inlined into the vector paths, where the compiler
    /// vectorises the stride-2 split with the wider instruction set.
    #[inline(always)]
    fn prepare(&self, src: &[f32], scratch: &mut [f32]) {
        scratch.fill(0.0);
        if self.w == 0 {
            return;
        }
        for (y, row) in src.chunks_exact(self.w).take(self.h).enumerate() {
            let dst = &mut scratch[(y + self.p) * self.row_len..][..self.row_len];
            if self.s == 1 {
                dst[self.p..self.p + self.w].copy_from_slice(row);
                continue;
            }
            if self.s == 2 {
                // Padded column c = x + p goes to index c / 2 of phase c mod 2:
                // from the first x with c even, pairs (x, x + 1) fill both
                // phases at the same index.
                let (even, odd) = dst.split_at_mut(self.wq);
                let xe = self.p % 2;
                if xe == 1 {
                    odd[self.p / 2] = row[0];
                }
                let base = (xe + self.p) / 2;
                let pairs = row[xe..].chunks_exact(2);
                if let [v] = pairs.remainder() {
                    even[base + (self.w - xe) / 2] = *v;
                }
                for ((e, o), pair) in even[base..].iter_mut().zip(&mut odd[base..]).zip(pairs) {
                    *e = pair[0];
                    *o = pair[1];
                }
                continue;
            }
            for phase in 0..self.s {
                // First input column in this phase (padded column ≡ phase).
                let x0 = (phase + self.s - self.p % self.s) % self.s;
                if x0 >= self.w {
                    continue;
                }
                let seg = &mut dst[phase * self.wq + (x0 + self.p) / self.s..];
                for (o, &v) in seg.iter_mut().zip(row[x0..].iter().step_by(self.s)) {
                    *o = v;
                }
            }
        }
    }
}

impl Depthwise {
    /// Output side for an input side `n`, or `None` if the kernel does not fit.
    pub fn out_side(&self, n: usize) -> Option<usize> {
        let padded = n + 2 * self.pad;
        (padded >= self.kernel && self.stride > 0).then(|| (padded - self.kernel) / self.stride + 1)
    }

    /// Convolves every sample of `x` `(c, n, h, w)`, then applies `affine`
    /// and PReLU with per-channel `slopes`; `None` on a channel mismatch.
    pub fn forward(&self, x: &Tensor, affine: &Affine, slopes: &[f32]) -> Option<Tensor> {
        self.forward_with(x, affine, slopes, Isa::best(self.kernel))
    }

    /// [`Depthwise::forward`] on a chosen kernel ([`Isa::Scalar`] if the CPU
    /// or the filter size does not allow the one asked for).
    pub(crate) fn forward_with(
        &self,
        x: &Tensor,
        affine: &Affine,
        slopes: &[f32],
        isa: Isa,
    ) -> Option<Tensor> {
        let (c, n, h, w) = x.dim();
        if c != self.channels
            || affine.channels() != c
            || slopes.len() != c
            || self.filters.len() != c * self.kernel * self.kernel
        {
            return None;
        }
        let (oh, ow) = (self.out_side(h)?, self.out_side(w)?);
        // Only a kernel whose instructions this CPU has (checked here, relied
        // on by the SAFETY comments of `prepare` and `plane`).
        let isa = isa.or_slower(self.kernel);
        let (k, s, p) = (self.kernel, self.stride, self.pad);
        let wp = w + 2 * p;
        let wq = wp.div_ceil(s).max(ow.next_multiple_of(LANES) + (k - 1) / s);
        let g = Geometry {
            k,
            s,
            p,
            h,
            w,
            oh,
            ow,
            wq,
            row_len: s * wq,
            rows: h + 2 * p,
        };
        let mut out = Tensor::zeros(c, n, oh, ow);
        let (in_plane, out_plane) = (h * w, oh * ow);
        if n * out_plane == 0 {
            return Some(out);
        }
        let input = x.as_slice();
        let min_channels = MIN_TASK_OUTPUTS.div_ceil(n * out_plane).max(1);
        out.as_mut_slice()
            .par_chunks_mut(n * out_plane)
            .enumerate()
            .with_min_len(min_channels)
            .for_each(|(ch, out_ch)| {
                let f = &self.filters[ch * k * k..(ch + 1) * k * k];
                let (gamma, beta) = affine.get(ch);
                let post = Post {
                    gamma,
                    beta,
                    slope: slopes[ch],
                };
                SCRATCH.with(|scratch| {
                    let mut buf = scratch.borrow_mut();
                    if buf.len() < g.scratch_len() {
                        buf.resize(g.scratch_len(), 0.0);
                    }
                    let buf = &mut buf[..g.scratch_len()];
                    for sample in 0..n {
                        let src = &input[(ch * n + sample) * in_plane..][..in_plane];
                        let dst = &mut out_ch[sample * out_plane..][..out_plane];
                        prepare(isa, &g, src, buf);
                        plane(isa, buf, &g, f, post, dst);
                    }
                });
            });
        Some(out)
    }
}

/// Batch norm and PReLU of one channel.
#[derive(Debug, Clone, Copy)]
struct Post {
    gamma: f32,
    beta: f32,
    slope: f32,
}

/// [`Geometry::prepare`], compiled for the instruction set of `isa`.
fn prepare(isa: Isa, g: &Geometry, src: &[f32], scratch: &mut [f32]) {
    match isa {
        // SAFETY: `forward_with` picks `Avx512` only when the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { prepare_avx512(g, src, scratch) },
        // SAFETY: `forward_with` picks `Avx2` only when the CPU has AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { prepare_avx2(g, src, scratch) },
        _ => g.prepare(src, scratch),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn prepare_avx512(g: &Geometry, src: &[f32], scratch: &mut [f32]) {
    g.prepare(src, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn prepare_avx2(g: &Geometry, src: &[f32], scratch: &mut [f32]) {
    g.prepare(src, scratch)
}

/// One plane: `dst (oh × ow) = post(scratch ⊛ f)` on the kernel `isa`.
fn plane(isa: Isa, scratch: &[f32], g: &Geometry, f: &[f32], post: Post, dst: &mut [f32]) {
    assert!(scratch.len() >= g.scratch_len() && dst.len() >= g.oh * g.ow);
    assert!(f.len() == g.k * g.k);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            assert!(g.k == 3 && g.wq >= g.ow.next_multiple_of(16) + 2 / g.s);
            // SAFETY: `forward_with` picks `Avx512` only when the CPU has
            // AVX-512F; the scratch, filter and output lengths are checked
            // above, and `wq` leaves room for every 16-lane read (see
            // `avx512::plane`).
            unsafe { avx512::plane(scratch, g, f, post, dst) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            assert!(g.k == 3 && g.wq >= g.ow.next_multiple_of(8) + 2 / g.s);
            // SAFETY: `forward_with` picks `Avx2` only when the CPU has AVX2
            // and FMA; lengths as above, for 8-lane reads.
            unsafe { avx2::plane(scratch, g, f, post, dst) }
        }
        _ => plane_scalar(scratch, g, f, post, dst),
    }
}

/// The portable kernel: each output sums its taps in row-major order.
fn plane_scalar(scratch: &[f32], g: &Geometry, f: &[f32], post: Post, dst: &mut [f32]) {
    for (oy, row) in dst.chunks_exact_mut(g.ow).take(g.oh).enumerate() {
        let base = &scratch[oy * g.s * g.row_len..];
        for (ox, o) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for ky in 0..g.k {
                for kx in 0..g.k {
                    acc += f[ky * g.k + kx] * base[g.tap(ky, kx) + ox];
                }
            }
            let y = acc * post.gamma + post.beta;
            *o = if y > 0.0 { y } else { y * post.slope };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Geometry, Post};
    use std::arch::x86_64::*;

    /// 3×3 plane, 16 outputs of a row per vector.
    ///
    /// # Safety
    /// AVX-512F must be present; `g.k == 3`; `scratch` holds
    /// `g.scratch_len()` floats with `g.wq ≥ ceil16(ow) + 2 / s` (so the read
    /// of tap `(ky, kx)` for outputs `x0..x0 + 16`, at
    /// `(oy·s + ky)·row_len + (kx mod s)·wq + kx / s + x0`, stays inside its
    /// row); `f` has 9 values and `dst` `oh × ow`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane(
        scratch: &[f32],
        g: &Geometry,
        f: &[f32],
        post: Post,
        dst: &mut [f32],
    ) {
        let w: [__m512; 9] = std::array::from_fn(|i| _mm512_set1_ps(f[i]));
        let taps: [usize; 9] = std::array::from_fn(|i| g.tap(i / 3, i % 3));
        let (gamma, beta) = (_mm512_set1_ps(post.gamma), _mm512_set1_ps(post.beta));
        let (slope, zero) = (_mm512_set1_ps(post.slope), _mm512_setzero_ps());
        for oy in 0..g.oh {
            let src = scratch[oy * g.s * g.row_len..].as_ptr();
            let out = dst[oy * g.ow..].as_mut_ptr();
            let mut x0 = 0;
            while x0 < g.ow {
                // SAFETY: every read is inside the scratch row (caller's
                // contract); the store is masked to the row's `ow` outputs.
                unsafe {
                    let p = src.add(x0);
                    let mut acc = _mm512_mul_ps(_mm512_loadu_ps(p.add(taps[0])), w[0]);
                    for t in 1..9 {
                        acc = _mm512_fmadd_ps(_mm512_loadu_ps(p.add(taps[t])), w[t], acc);
                    }
                    let y = _mm512_fmadd_ps(acc, gamma, beta);
                    let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(y, zero);
                    let y = _mm512_mask_blend_ps(positive, _mm512_mul_ps(y, slope), y);
                    let rest = g.ow - x0;
                    let mask: __mmask16 = if rest >= 16 { !0 } else { (1 << rest) - 1 };
                    _mm512_mask_storeu_ps(out.add(x0), mask, y);
                }
                x0 += 16;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Geometry, Post};
    use std::arch::x86_64::*;

    /// 3×3 plane, 8 outputs of a row per vector.
    ///
    /// # Safety
    /// AVX2 and FMA must be present; otherwise as `avx512::plane` with
    /// `g.wq ≥ ceil8(ow) + 2 / s`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn plane(
        scratch: &[f32],
        g: &Geometry,
        f: &[f32],
        post: Post,
        dst: &mut [f32],
    ) {
        let w: [__m256; 9] = std::array::from_fn(|i| _mm256_set1_ps(f[i]));
        let taps: [usize; 9] = std::array::from_fn(|i| g.tap(i / 3, i % 3));
        let (gamma, beta) = (_mm256_set1_ps(post.gamma), _mm256_set1_ps(post.beta));
        let (slope, zero) = (_mm256_set1_ps(post.slope), _mm256_setzero_ps());
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for oy in 0..g.oh {
            let src = scratch[oy * g.s * g.row_len..].as_ptr();
            let out = dst[oy * g.ow..].as_mut_ptr();
            let mut x0 = 0;
            while x0 < g.ow {
                // SAFETY: as in `avx512::plane`, with 8 lanes.
                unsafe {
                    let p = src.add(x0);
                    let mut acc = _mm256_mul_ps(_mm256_loadu_ps(p.add(taps[0])), w[0]);
                    for t in 1..9 {
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(taps[t])), w[t], acc);
                    }
                    let y = _mm256_fmadd_ps(acc, gamma, beta);
                    let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(y, zero);
                    let y = _mm256_blendv_ps(_mm256_mul_ps(y, slope), y, positive);
                    let rest = (g.ow - x0).min(8) as i32;
                    if rest == 8 {
                        _mm256_storeu_ps(out.add(x0), y);
                    } else {
                        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lanes);
                        _mm256_maskstore_ps(out.add(x0), mask, y);
                    }
                }
                x0 += 8;
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

    // Each vector kernel against the scalar path on random inputs of odd
    // sizes: rows shorter than, equal to and longer than a vector, strides 1
    // and 2, pads 0 and 1, several samples, negative and positive outputs
    // of the batch norm (both PReLU branches).
    #[test]
    fn vector_kernels_match_the_scalar_path() {
        let shapes = [
            (5, 2, 1, 1, 1, 1),
            (3, 3, 7, 9, 1, 1),
            (4, 1, 17, 33, 2, 1),
            (6, 2, 15, 16, 2, 1),
            (2, 1, 56, 56, 1, 1),
            (3, 2, 2, 3, 2, 1),
            (3, 2, 9, 8, 1, 0),
            (2, 3, 13, 31, 2, 0),
            (7, 1, 14, 14, 2, 1),
            (9, 2, 7, 7, 1, 1),
        ];
        for (i, &(c, n, h, w, stride, pad)) in shapes.iter().enumerate() {
            let seed = 100 + 10 * i as u32;
            let d = Depthwise {
                channels: c,
                kernel: 3,
                stride,
                pad,
                filters: pseudo_random(c * 9, seed),
            };
            let affine =
                Affine::new(pseudo_random(c, seed + 1), pseudo_random(c, seed + 2)).unwrap();
            let slopes = pseudo_random(c, seed + 3);
            let x = Tensor::from_vec(c, n, h, w, pseudo_random(c * n * h * w, seed + 4)).unwrap();
            let want = d.forward_with(&x, &affine, &slopes, Isa::Scalar).unwrap();
            for isa in [Isa::Avx2, Isa::Avx512] {
                let got = d.forward_with(&x, &affine, &slopes, isa).unwrap();
                assert_eq!(got.dim(), want.dim());
                for (a, b) in got.as_slice().iter().zip(want.as_slice()) {
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "{isa:?} {c}x{n}x{h}x{w} stride {stride} pad {pad}: {a} vs {b}"
                    );
                }
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
