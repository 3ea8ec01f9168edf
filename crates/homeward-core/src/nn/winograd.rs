//! Winograd convolution `F(m×m, 3×3)` for 3×3, stride-1, pad-1 layers.
//!
//! Each `m×m` block of outputs ("tile") is computed from an `α×α` block of
//! input (`α = m + 2`) as `Y = Aᵀ [U ⊙ V] A`, with `U = G g Gᵀ` the filter
//! transformed once per layer and `V = Bᵀ d B` the transformed input tile.
//! Summed over input channels, the elementwise product becomes `α²`
//! independent GEMMs `M[ξ] (f × tiles) = U[ξ] (f × c) · V[ξ] (c × tiles)`:
//! `α²/m²` multiplies per output instead of 9 (1.8x fewer for `m = 2` on 16
//! input values per tile, 4x for `m = 4`, before the transforms).
//!
//! Shapes: input `(c, n, h, w)`, output `(f, n, h, w)`; tiles are numbered
//! `(sample, tile row, tile column)` over `th × tw = ⌈h/m⌉ × ⌈w/m⌉` per sample.
//! Work is cut into blocks of consecutive tiles whose `V` and `M` stay in L2,
//! each block transformed, multiplied and inverse-transformed (bias and
//! [`super::Epilogue`] included) by one rayon task, so `V` and `M` never leave cache.
//! The transforms run 16 tiles at a time across SIMD lanes: the input is first
//! copied into zero-padded rows split by column phase modulo `m`, so the input
//! of 16 consecutive tiles under one tap is one contiguous run.

// The transforms index tiles, rows and columns by number, as the formulas do.
#![allow(clippy::needless_range_loop)]

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::{OutPtr, Post};
use super::gemm::{sgemm_raw, Mat};
use super::Tensor;

/// Tiles transformed together across SIMD lanes.
const LANES: usize = 16;
/// Target floats of one task's `V` and `M` blocks together (1 MiB, Zen 5's L2).
const BLOCK_FLOATS: usize = 256 * 1024;
/// Fewest tiles per block, so that the GEMMs have some width.
const MIN_BLOCK_TILES: usize = 64;

thread_local! {
    /// Per-thread `V` and `M` blocks, grown to the largest and reused.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Output tile size: `F(2×2, 3×3)` or `F(4×4, 3×3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WinogradTile {
    /// 4×4 input tiles, 16 GEMMs; 2.25x fewer multiplies, error ~1e-7 relative.
    F2,
    /// 6×6 input tiles, 36 GEMMs; 4x fewer multiplies, error ~1e-6 relative.
    F4,
}

impl WinogradTile {
    /// Outputs per tile side (`m`).
    pub fn m(self) -> usize {
        match self {
            WinogradTile::F2 => 2,
            WinogradTile::F4 => 4,
        }
    }

    /// Input tile side (`α = m + 2`).
    pub fn alpha(self) -> usize {
        self.m() + 2
    }
}

// Transform matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015), as cross-correlation: y_i = Σ_k g_k · d_(i+k).
const G2: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

const G4: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// One SIMD-width group of values: the same position in 16 tiles.
type V = [f32; LANES];

#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> V {
    std::array::from_fn(f)
}

/// The input and output transforms of one tile size, applied along one
/// dimension to 16 tiles at once (the 2-d transforms apply them to rows,
/// then columns), written out so they compile to plain SIMD adds.
trait Transform<const M: usize, const A: usize> {
    /// `Bᵀ d`.
    fn input(d: &[V; A]) -> [V; A];
    /// `Aᵀ m`.
    fn output(m: &[V; A]) -> [V; M];
}

struct TransformF2;
impl Transform<2, 4> for TransformF2 {
    #[inline(always)]
    fn input(d: &[V; 4]) -> [V; 4] {
        [
            lanes(|l| d[0][l] - d[2][l]),
            lanes(|l| d[1][l] + d[2][l]),
            lanes(|l| d[2][l] - d[1][l]),
            lanes(|l| d[1][l] - d[3][l]),
        ]
    }

    #[inline(always)]
    fn output(m: &[V; 4]) -> [V; 2] {
        [
            lanes(|l| m[0][l] + m[1][l] + m[2][l]),
            lanes(|l| m[1][l] - m[2][l] - m[3][l]),
        ]
    }
}

struct TransformF4;
impl Transform<4, 6> for TransformF4 {
    #[inline(always)]
    fn input(d: &[V; 6]) -> [V; 6] {
        [
            lanes(|l| 4.0 * d[0][l] - 5.0 * d[2][l] + d[4][l]),
            lanes(|l| (d[3][l] + d[4][l]) - 4.0 * (d[1][l] + d[2][l])),
            lanes(|l| (d[4][l] - d[3][l]) + 4.0 * (d[1][l] - d[2][l])),
            lanes(|l| (d[4][l] - d[2][l]) + 2.0 * (d[3][l] - d[1][l])),
            lanes(|l| (d[4][l] - d[2][l]) + 2.0 * (d[1][l] - d[3][l])),
            lanes(|l| 4.0 * d[1][l] - 5.0 * d[3][l] + d[5][l]),
        ]
    }

    #[inline(always)]
    fn output(m: &[V; 6]) -> [V; 4] {
        let a: V = lanes(|l| m[1][l] + m[2][l]);
        let b: V = lanes(|l| m[1][l] - m[2][l]);
        let c: V = lanes(|l| m[3][l] + m[4][l]);
        let d: V = lanes(|l| m[3][l] - m[4][l]);
        [
            lanes(|l| m[0][l] + a[l] + c[l]),
            lanes(|l| b[l] + 2.0 * d[l]),
            lanes(|l| a[l] + 4.0 * c[l]),
            lanes(|l| b[l] + 8.0 * d[l] + m[5][l]),
        ]
    }
}

/// The filters of a 3×3 convolution transformed for one tile size.
#[derive(Debug, Clone)]
pub(crate) struct Winograd {
    tile: WinogradTile,
    c: usize,
    f: usize,
    /// `α²` matrices `U[ξ]`, each stored `(c, f)` (the transpose, which the
    /// GEMM reads without repacking).
    u: Vec<f32>,
}

impl Winograd {
    /// Transforms `filters` (`f × c·3·3`, dlib's order) once: `U = G g Gᵀ`,
    /// computed in f64 and rounded once.
    pub fn new(tile: WinogradTile, c: usize, f: usize, filters: &[f32]) -> Self {
        let a = tile.alpha();
        let g: Vec<[f64; 3]> = match tile {
            WinogradTile::F2 => G2.to_vec(),
            WinogradTile::F4 => G4.to_vec(),
        };
        let mut u = vec![0f32; a * a * c * f];
        for fi in 0..f {
            for ci in 0..c {
                let k = &filters[(fi * c + ci) * 9..][..9];
                // G·k (α × 3), then (G·k)·Gᵀ (α × α).
                let mut gk = vec![[0f64; 3]; a];
                for (i, row) in gk.iter_mut().enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|t| g[i][t] * k[t * 3 + j] as f64).sum();
                    }
                }
                for i in 0..a {
                    for j in 0..a {
                        let v: f64 = (0..3).map(|t| gk[i][t] * g[j][t]).sum();
                        u[((i * a + j) * c + ci) * f + fi] = v as f32;
                    }
                }
            }
        }
        Winograd { tile, c, f, u }
    }

    /// Convolves `x` (`(c, n, h, w)`, padding 1) into `out` (`(f, n, h, w)`),
    /// adding `bias` and applying `post`.
    pub fn forward<P: Post>(&self, x: &Tensor, bias: &[f32], out: &mut Tensor, post: P) {
        match self.tile {
            WinogradTile::F2 => self.forward_tiles::<2, 4, TransformF2, P>(x, bias, out, post),
            WinogradTile::F4 => self.forward_tiles::<4, 6, TransformF4, P>(x, bias, out, post),
        }
    }

    fn forward_tiles<const M: usize, const A: usize, T: Transform<M, A>, P: Post>(
        &self,
        x: &Tensor,
        bias: &[f32],
        out: &mut Tensor,
        post: P,
    ) {
        let (c, n, h, w) = x.dim();
        let f = self.f;
        debug_assert_eq!(c, self.c);
        debug_assert_eq!(out.dim(), (f, n, h, w));
        if n * h * w == 0 {
            return;
        }
        let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
        let tiles = n * th * tw;
        let src = PhaseRows::new::<M>(x, th, tw);

        let threads = rayon::current_num_threads().max(1);
        let per_tile = A * A * (c + f);
        let block = (BLOCK_FLOATS / per_tile)
            .max(MIN_BLOCK_TILES)
            .next_multiple_of(LANES)
            .min(tiles);
        let blocks = tiles.div_ceil(block);
        // Too few blocks for the pool: also split the filters in groups.
        let groups = if blocks >= 2 * threads {
            1
        } else {
            (2 * threads).div_ceil(blocks).min(f / 16).max(1)
        };
        let group = f.div_ceil(groups).next_multiple_of(8).min(f);
        let groups = f.div_ceil(group);
        // Block stride: room for the last 16-lane chunk to overrun.
        let stride = block.next_multiple_of(LANES) + LANES;
        let dst = OutPtr(out.as_mut_slice().as_mut_ptr());
        let geom = Geometry {
            n,
            h,
            w,
            th,
            tw,
            stride,
        };

        (0..groups * blocks).into_par_iter().for_each(|task| {
            let (gi, bi) = (task / blocks, task % blocks);
            let (f0, t0) = (gi * group, bi * block);
            let (rows, len) = (group.min(f - f0), block.min(tiles - t0));
            SCRATCH.with(|scratch| {
                let (v, m) = &mut *scratch.borrow_mut();
                grow(v, A * A * c * stride);
                grow(m, A * A * rows * stride);
                input_transform::<M, A, T>(&src, &geom, c, t0, len, v);
                for xi in 0..A * A {
                    // SAFETY: `m` is this thread's scratch, `rows × len` at
                    // stride `stride` within matrix `xi`.
                    unsafe {
                        sgemm_raw(
                            &self.u[xi * c * f + f0..],
                            Mat {
                                rows,
                                cols: c,
                                stride: 1,
                                col_stride: f,
                            },
                            &v[xi * c * stride..],
                            Mat::row_major(c, len, stride),
                            m[xi * rows * stride..].as_mut_ptr(),
                            Mat::row_major(rows, len, stride),
                            false,
                        );
                    }
                }
                for r in 0..rows {
                    output_transform::<M, A, T>(
                        m,
                        rows,
                        r,
                        &geom,
                        t0,
                        len,
                        bias[f0 + r],
                        |y, x0, values| {
                            post.apply(f0 + r, values);
                            // SAFETY: tiles t0..t0+len of filter f0+r belong
                            // to this task alone; (y, x0..) lies in that plane.
                            unsafe {
                                let at = dst.get().add(((f0 + r) * n * h + y) * w + x0);
                                std::ptr::copy_nonoverlapping(values.as_ptr(), at, values.len());
                            }
                        },
                    );
                }
            });
        });
    }
}

fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Tensor and tile geometry shared by the transforms.
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    th: usize,
    tw: usize,
    /// Floats between rows of a `V` or `M` block.
    stride: usize,
}

impl Geometry {
    /// Splits tiles `t0..t0 + len` into runs along one tile row:
    /// `(offset in block, sample, tile row, first tile column, run length)`.
    fn runs(
        &self,
        t0: usize,
        len: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> + '_ {
        let mut t = t0;
        std::iter::from_fn(move || {
            if t >= t0 + len {
                return None;
            }
            let per_sample = self.th * self.tw;
            let (s, ty, tx) = (t / per_sample, (t / self.tw) % self.th, t % self.tw);
            let run = (self.tw - tx).min(t0 + len - t);
            let item = (t - t0, s, ty, tx, run);
            t += run;
            Some(item)
        })
    }
}

/// The input, zero-padded by 1 (and up to whole tiles plus a 16-lane overrun)
/// with each row's columns split by phase modulo `m`: phase `q` of padded row
/// `r` holds padded columns `q, q + m, q + 2m, …`.
struct PhaseRows {
    data: Vec<f32>,
    /// Padded rows per (channel, sample) plane.
    rows: usize,
    /// Floats per phase.
    phase_len: usize,
    m: usize,
}

impl PhaseRows {
    fn new<const M: usize>(x: &Tensor, th: usize, tw: usize) -> Self {
        let (c, n, h, w) = x.dim();
        let rows = th * M + 2;
        let phase_len = tw + LANES + 1;
        let row_len = M * phase_len;
        let mut data = vec![0f32; c * n * rows * row_len];
        let plane_in = h * w;
        data.par_chunks_mut(rows * row_len)
            .zip(x.as_slice().par_chunks(plane_in.max(1)))
            .for_each(|(dst, src)| {
                for (y, src_row) in src.chunks_exact(w).enumerate() {
                    let dst_row = &mut dst[(y + 1) * row_len..][..row_len];
                    // Padded column p = q + M·j holds input column p − 1.
                    for (q, phase) in dst_row.chunks_exact_mut(phase_len).enumerate() {
                        let first = usize::from(q == 0);
                        let start = q + M * first - 1;
                        if start >= w {
                            continue;
                        }
                        for (d, &v) in phase[first..]
                            .iter_mut()
                            .zip(src_row[start..].iter().step_by(M))
                        {
                            *d = v;
                        }
                    }
                }
            });
        PhaseRows {
            data,
            rows,
            phase_len,
            m: M,
        }
    }

    /// Phase `q` of padded row `r` of plane (channel `ci`, sample `s`).
    #[inline(always)]
    fn phase(&self, plane: usize, r: usize, q: usize) -> &[f32] {
        let row = (plane * self.rows + r) * self.m * self.phase_len;
        &self.data[row + q * self.phase_len..][..self.phase_len]
    }
}

/// `V[ξ][ci][j] = (Bᵀ d B)[ξ]` for tiles `t0..t0 + len` into `v`
/// (`α²` matrices of `c` rows at stride `geom.stride`).
fn input_transform<const M: usize, const A: usize, T: Transform<M, A>>(
    src: &PhaseRows,
    geom: &Geometry,
    c: usize,
    t0: usize,
    len: usize,
    v: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { input_transform_avx512::<M, A, T>(src, geom, c, t0, len, v) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { input_transform_avx2::<M, A, T>(src, geom, c, t0, len, v) };
        }
    }
    input_transform_generic::<M, A, T>(src, geom, c, t0, len, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn input_transform_avx512<const M: usize, const A: usize, T: Transform<M, A>>(
    src: &PhaseRows,
    geom: &Geometry,
    c: usize,
    t0: usize,
    len: usize,
    v: &mut [f32],
) {
    input_transform_generic::<M, A, T>(src, geom, c, t0, len, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn input_transform_avx2<const M: usize, const A: usize, T: Transform<M, A>>(
    src: &PhaseRows,
    geom: &Geometry,
    c: usize,
    t0: usize,
    len: usize,
    v: &mut [f32],
) {
    input_transform_generic::<M, A, T>(src, geom, c, t0, len, v)
}

#[inline(always)]
fn input_transform_generic<const M: usize, const A: usize, T: Transform<M, A>>(
    src: &PhaseRows,
    geom: &Geometry,
    c: usize,
    t0: usize,
    len: usize,
    v: &mut [f32],
) {
    if M == 2 {
        return input_rows_f2(src, geom, c, t0, len, v);
    }
    {
        for (at, s, ty, tx, run) in geom.runs(t0, len) {
            for ci in 0..c {
                let plane = ci * geom.n + s;
                let mut j = 0;
                while j < run {
                    let mut t = [[[0f32; LANES]; A]; A];
                    for (r, t_r) in t.iter_mut().enumerate() {
                        // d_q[lane] = padded column m·(tx + j + lane) + q.
                        let mut d = [[0f32; LANES]; A];
                        for (q, d_q) in d.iter_mut().enumerate() {
                            let phase = src.phase(plane, M * ty + r, q % M);
                            d_q.copy_from_slice(&phase[tx + j + q / M..][..LANES]);
                        }
                        *t_r = T::input(&d);
                    }
                    // Columns of t are done; now rows: V[i][k] = Σ_r Bᵀ[i][r] t[r][k].
                    for k in 0..A {
                        let col: [[f32; LANES]; A] = std::array::from_fn(|r| t[r][k]);
                        let vk = T::input(&col);
                        for (i, vik) in vk.iter().enumerate() {
                            let row = ((i * A + k) * c + ci) * geom.stride;
                            v[row + at + j..][..LANES].copy_from_slice(vik);
                        }
                    }
                    j += LANES;
                }
            }
        }
    }
}

/// The outputs of filter row `r` of `m` (`α²` matrices of `rows` rows at
/// stride `geom.stride`) for tiles `t0..t0 + len`: `Aᵀ M A + bias`, passed
/// one output row segment at a time to `store(y, x0, values)`.
#[allow(clippy::too_many_arguments)]
fn output_transform<const M: usize, const A: usize, T: Transform<M, A>>(
    m: &[f32],
    rows: usize,
    r: usize,
    geom: &Geometry,
    t0: usize,
    len: usize,
    bias: f32,
    store: impl FnMut(usize, usize, &mut [f32]),
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe {
                output_transform_avx512::<M, A, T>(m, rows, r, geom, t0, len, bias, store)
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe {
                output_transform_avx2::<M, A, T>(m, rows, r, geom, t0, len, bias, store)
            };
        }
    }
    output_transform_generic::<M, A, T>(m, rows, r, geom, t0, len, bias, store)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
fn output_transform_avx512<const M: usize, const A: usize, T: Transform<M, A>>(
    m: &[f32],
    rows: usize,
    r: usize,
    geom: &Geometry,
    t0: usize,
    len: usize,
    bias: f32,
    store: impl FnMut(usize, usize, &mut [f32]),
) {
    output_transform_generic::<M, A, T>(m, rows, r, geom, t0, len, bias, store)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn output_transform_avx2<const M: usize, const A: usize, T: Transform<M, A>>(
    m: &[f32],
    rows: usize,
    r: usize,
    geom: &Geometry,
    t0: usize,
    len: usize,
    bias: f32,
    store: impl FnMut(usize, usize, &mut [f32]),
) {
    output_transform_generic::<M, A, T>(m, rows, r, geom, t0, len, bias, store)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_transform_generic<const M: usize, const A: usize, T: Transform<M, A>>(
    m: &[f32],
    rows: usize,
    r: usize,
    geom: &Geometry,
    t0: usize,
    len: usize,
    bias: f32,
    mut store: impl FnMut(usize, usize, &mut [f32]),
) {
    if M == 2 {
        return output_rows_f2(m, rows, r, geom, t0, len, bias, store);
    }
    let mut line = [[0f32; 4 * 64]; 4];
    {
        for (at, s, ty, tx, run) in geom.runs(t0, len) {
            let mut j = 0;
            while j < run {
                // Up to 64 tiles per pass, 16 lanes at a time, into `line`.
                let chunk = (run - j).min(64);
                let mut l = 0;
                while l < chunk {
                    let mut mm = [[[0f32; LANES]; A]; A];
                    for (i, mi) in mm.iter_mut().enumerate() {
                        for (k, mik) in mi.iter_mut().enumerate() {
                            let row = ((i * A + k) * rows + r) * geom.stride;
                            mik.copy_from_slice(&m[row + at + j + l..][..LANES]);
                        }
                    }
                    // s[o][k] = Σ_i Aᵀ[o][i] M[i][k], then y[o][p] = Σ_k Aᵀ[p][k] s[o][k].
                    for k in 0..A {
                        let col: [[f32; LANES]; A] = std::array::from_fn(|i| mm[i][k]);
                        let sk = T::output(&col);
                        for o in 0..M {
                            mm[o][k] = sk[o];
                        }
                    }
                    for (o, line_o) in line.iter_mut().enumerate().take(M) {
                        let y = T::output(&mm[o]);
                        for lane in 0..LANES {
                            for (p, y_p) in y.iter().enumerate() {
                                line_o[(l + lane) * M + p] = y_p[lane] + bias;
                            }
                        }
                    }
                    l += LANES;
                }
                let x0 = (tx + j) * M;
                let width = (chunk * M).min(geom.w - x0);
                for (o, line_o) in line.iter_mut().enumerate().take(M) {
                    let y = ty * M + o;
                    if y < geom.h {
                        store((s * geom.h) + y, x0, &mut line_o[..width]);
                    }
                }
                j += chunk;
            }
        }
    }
}

/// Tiles one F2 transform pass handles at most (a stack buffer's length).
const RUN: usize = 64;

/// Four disjoint `n`-long rows of `data` at increasing `starts`.
#[inline(always)]
fn rows4(data: &mut [f32], starts: [usize; 4], n: usize) -> [&mut [f32]; 4] {
    let (a, rest) = data[starts[0]..].split_at_mut(starts[1] - starts[0]);
    let (b, rest) = rest.split_at_mut(starts[2] - starts[1]);
    let (c, d) = rest.split_at_mut(starts[3] - starts[2]);
    [&mut a[..n], &mut b[..n], &mut c[..n], &mut d[..n]]
}

/// `F(2×2, 3×3)` input transform, row by row over runs of tiles: plain
/// slice loops that the compiler vectorizes (rows first, then columns).
#[inline(always)]
fn input_rows_f2(src: &PhaseRows, geom: &Geometry, c: usize, t0: usize, len: usize, v: &mut [f32]) {
    let mut t = [[[0f32; RUN]; 4]; 4];
    for (at, s, ty, tx, run) in geom.runs(t0, len) {
        for ci in 0..c {
            let plane = ci * geom.n + s;
            let mut j0 = 0;
            while j0 < run {
                let len_ = (run - j0).min(RUN);
                // Whole SIMD widths: the phase rows and `v` have room for
                // the overrun, and the next run overwrites what it spills.
                let n = len_.next_multiple_of(LANES);
                // t[r][k] = (Bᵀ d_r)[k] along input row r of the tiles.
                for (r, t_r) in t.iter_mut().enumerate() {
                    let e = &src.phase(plane, 2 * ty + r, 0)[tx + j0..][..n + 1];
                    let o = &src.phase(plane, 2 * ty + r, 1)[tx + j0..][..n + 1];
                    let [t0, t1, t2, t3] = t_r;
                    let (t0, t1, t2, t3) = (&mut t0[..n], &mut t1[..n], &mut t2[..n], &mut t3[..n]);
                    for j in 0..n {
                        let (d0, d1, d2, d3) = (e[j], o[j], e[j + 1], o[j + 1]);
                        t0[j] = d0 - d2;
                        t1[j] = d1 + d2;
                        t2[j] = d2 - d1;
                        t3[j] = d1 - d3;
                    }
                }
                // V[i][k] = (Bᵀ t[·][k])[i].
                for k in 0..4 {
                    let row = |i: usize| ((i * 4 + k) * c + ci) * geom.stride + at + j0;
                    let [v0, v1, v2, v3] = rows4(v, [row(0), row(1), row(2), row(3)], n);
                    let (x0, x1, x2, x3) =
                        (&t[0][k][..n], &t[1][k][..n], &t[2][k][..n], &t[3][k][..n]);
                    for j in 0..n {
                        v0[j] = x0[j] - x2[j];
                        v1[j] = x1[j] + x2[j];
                        v2[j] = x2[j] - x1[j];
                        v3[j] = x1[j] - x3[j];
                    }
                }
                j0 += len_;
            }
        }
    }
}

/// `F(2×2, 3×3)` output transform of filter row `r`, like [`input_rows_f2`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_rows_f2(
    m: &[f32],
    rows: usize,
    r: usize,
    geom: &Geometry,
    t0: usize,
    len: usize,
    bias: f32,
    mut store: impl FnMut(usize, usize, &mut [f32]),
) {
    let mut s_ = [[[0f32; RUN]; 4]; 2];
    let mut line = [[0f32; 2 * RUN]; 2];
    for (at, s, ty, tx, run) in geom.runs(t0, len) {
        let mut j0 = 0;
        while j0 < run {
            let len_ = (run - j0).min(RUN);
            // Whole SIMD widths, as in `input_rows_f2` (the tail is not stored).
            let n = len_.next_multiple_of(LANES);
            let mrow =
                |i: usize, k: usize| &m[((i * 4 + k) * rows + r) * geom.stride + at + j0..][..n];
            // s[o][k] = (Aᵀ M[·][k])[o].
            for k in 0..4 {
                let (m0, m1, m2, m3) = (mrow(0, k), mrow(1, k), mrow(2, k), mrow(3, k));
                let [s0, s1] = &mut s_;
                let (s0, s1) = (&mut s0[k][..n], &mut s1[k][..n]);
                for j in 0..n {
                    s0[j] = m0[j] + m1[j] + m2[j];
                    s1[j] = m1[j] - m2[j] - m3[j];
                }
            }
            // y[o] = Aᵀ s[o] + bias, two outputs per tile, interleaved.
            for (s_o, line_o) in s_.iter().zip(line.iter_mut()) {
                let (a, b, c2, d) = (&s_o[0][..n], &s_o[1][..n], &s_o[2][..n], &s_o[3][..n]);
                let out = &mut line_o[..2 * n];
                for j in 0..n {
                    out[2 * j] = a[j] + b[j] + c2[j] + bias;
                    out[2 * j + 1] = b[j] - c2[j] - d[j] + bias;
                }
            }
            let x0 = (tx + j0) * 2;
            let width = (2 * len_).min(geom.w - x0);
            for (o, line_o) in line.iter_mut().enumerate() {
                let y = ty * 2 + o;
                if y < geom.h {
                    store(s * geom.h + y, x0, &mut line_o[..width]);
                }
            }
            j0 += len_;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::test_data::{pseudo_random, square_params};
    use crate::nn::{Affine, Conv2d, ConvAlgorithm, Epilogue};

    fn conv3x3(c: usize, f: usize, seed: u32) -> Conv2d {
        let p = square_params(c, f, 3, 1, 1);
        Conv2d::new(
            p,
            pseudo_random(f * c * 9, seed),
            pseudo_random(f, seed + 1),
        )
        .unwrap()
    }

    /// Largest difference relative to the largest reference magnitude.
    fn relative_error(got: &Tensor, want: &Tensor) -> f32 {
        assert_eq!(got.dim(), want.dim());
        let scale = want.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = got
            .as_slice()
            .iter()
            .zip(want.as_slice())
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        diff / scale
    }

    // Both tile sizes against the im2col path: odd and even sides (partial
    // tiles), one and several samples, tile blocks cut mid-row, filter groups,
    // and the affine + relu epilogue.
    #[test]
    fn matches_im2col_convolution() {
        let cases = [
            // (c, f, n, h, w)
            (3, 8, 1, 5, 7),
            (16, 24, 3, 13, 11),
            (32, 32, 2, 35, 35),
            (40, 72, 2, 8, 9),
            (64, 16, 1, 4, 4),
        ];
        for (i, &(c, f, n, h, w)) in cases.iter().enumerate() {
            let conv = conv3x3(c, f, 10 * i as u32 + 1);
            let x = Tensor::from_vec(c, n, h, w, pseudo_random(c * n * h * w, 99)).unwrap();
            let affine = Affine::new(pseudo_random(f, 7), pseudo_random(f, 8)).unwrap();
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
                for (tile, tol) in [(WinogradTile::F2, 1e-6), (WinogradTile::F4, 1e-5)] {
                    let got = conv
                        .forward_batch_with(&x, post, ConvAlgorithm::Winograd(tile))
                        .unwrap();
                    let err = relative_error(&got, &want);
                    assert!(err < tol, "{tile:?} c{c} f{f} n{n} {h}x{w}: {err}");
                }
            }
        }
    }

    // Auto picks the direct 3x3 kernel, then Winograd, on large enough 3x3
    // layers only, and other layers
    // asked for Winograd fall back to im2col with the same result.
    #[test]
    fn auto_choice_and_fallback() {
        let conv = conv3x3(128, 16, 3);
        let f2 = ConvAlgorithm::Winograd(WinogradTile::F2);
        // 8×8 and up: the direct 3×3 kernel where the CPU has it.
        let direct = if crate::nn::shifted::available() {
            ConvAlgorithm::Direct
        } else {
            f2
        };
        assert_eq!(conv.auto_algorithm(1, 8, 8), direct);
        assert_eq!(conv.auto_algorithm(18, 3, 3), ConvAlgorithm::Im2col);
        // 4×4 only batched: one sample is faster by im2col.
        assert_eq!(conv.auto_algorithm(18, 4, 4), f2);
        assert_eq!(conv.auto_algorithm(1, 4, 4), ConvAlgorithm::Im2col);
        assert_eq!(conv.auto_algorithm(18, 5, 5), ConvAlgorithm::Im2col);
        let small = conv3x3(32, 32, 4);
        let want = if crate::nn::shifted::available() {
            ConvAlgorithm::Direct
        } else {
            ConvAlgorithm::Im2col
        };
        assert_eq!(small.auto_algorithm(18, 35, 35), want);
        let p = square_params(8, 16, 3, 2, 0);
        let strided = Conv2d::new(p, pseudo_random(16 * 72, 5), pseudo_random(16, 6)).unwrap();
        let strided_auto = if crate::nn::shifted::available() {
            ConvAlgorithm::Direct
        } else {
            ConvAlgorithm::Im2col
        };
        assert_eq!(strided.auto_algorithm(18, 35, 35), strided_auto);
        assert_eq!(strided.auto_algorithm(18, 9, 9), ConvAlgorithm::Im2col);
        let x = Tensor::from_vec(8, 1, 9, 9, pseudo_random(8 * 81, 7)).unwrap();
        let a = strided
            .forward_batch_with(&x, Epilogue::default(), ConvAlgorithm::Im2col)
            .unwrap();
        let b = strided
            .forward_batch_with(
                &x,
                Epilogue::default(),
                ConvAlgorithm::Winograd(WinogradTile::F4),
            )
            .unwrap();
        assert_eq!(a, b);
    }
}
