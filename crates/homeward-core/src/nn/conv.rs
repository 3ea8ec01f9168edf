//! 2-d convolution with bias, as dlib's `con_` computes it.
//!
//! Shapes: input `(c, h, w)`, filters `(f, c·kh·kw)`, output `(f, oh, ow)` with
//! `oh = 1 + (h + 2·pad_y − kh) / stride_y` (likewise `ow`). Outside the input
//! is zero.
//!
//! Four kernels, all over the batched [`Tensor`] layout:
//! - **tiled im2col + GEMM** (most layers): the output columns (samples × rows
//!   × cols) are cut into tiles whose im2col block stays in the L2 cache; each
//!   tile is gathered on a rayon worker into a per-thread scratch buffer and
//!   multiplied by the filters with a SIMD GEMM ([`super::gemm`]) straight
//!   into the output. When there are too few column tiles to occupy every
//!   thread, the filters are split in groups too. A 1×1 stride-1 layer
//!   without padding needs no copy: the input tensor already is its
//!   `c × (samples·rows·cols)` matrix, and the GEMM reads it in place.
//! - **direct** (at most [`DIRECT_MAX_FILTERS`] filters, e.g. the detector's
//!   last 9×9 layer with one filter): im2col would copy 81·c floats per output
//!   for a single dot product, so each output row accumulates shifted input
//!   rows instead, one output row per rayon task.
//!
//! - **shifted-tap direct** (outputs from [`DIRECT_MIN_SIDE`] to
//!   [`DIRECT_MAX_PIXELS`], filters a multiple of 8, AVX-512; the ResNet's
//!   layers down to 8×8): no im2col; an FMA microkernel reads every tap as a
//!   shifted run of the zero-padded, stride-phase-split input
//!   ([`super::shifted`]).
//! - **Winograd** `F(2×2, 3×3)` on the small 128/256-channel 3×3 layers
//!   ([`super::winograd`]).
//!
//! The bias is added after the products (as dlib adds it after its GEMM), and
//! an [`Epilogue`] applies a following `affine_` and `relu_` while the tile is
//! still in cache, with the same arithmetic as the separate layers; an
//! [`AffinePrelu`] ([`Conv2d::forward_batch_prelu`]) applies a batch norm and
//! PReLU the same way (MobileFaceNet, `crate::sface`).

use std::cell::RefCell;
use std::sync::OnceLock;

use ndarray::{Array2, Array3};
use rayon::prelude::*;

use super::gemm::{sgemm_raw, Mat};
use super::shifted;
use super::winograd::{Winograd, WinogradTile};
use super::{Affine, Tensor};

/// Target size of one im2col tile, in f32 elements (384 KiB, within L2).
pub const TILE_FLOATS: usize = 96 * 1024;
/// Fewest output columns per tile, so that packing the filters is amortised.
pub const MIN_TILE_COLUMNS: usize = 128;
/// Layers with at most this many filters use the direct kernel.
pub const DIRECT_MAX_FILTERS: usize = 4;
/// [`ConvAlgorithm::Auto`] uses Winograd F2 on 3×3 stride-1 layers with
/// inputs at least this many rows and columns …
pub const WINOGRAD_MIN_SIDE: usize = 8;
/// … or, for a batch of at least [`WINOGRAD_SMALL_MIN_BATCH`] samples, on
/// even-sided inputs (no padded tiles) at least this large …
pub const WINOGRAD_SMALL_MIN_SIDE: usize = 4;
/// … (batch size for the rule above) …
pub const WINOGRAD_SMALL_MIN_BATCH: usize = 4;
/// … and at least this many input channels. Measured on the ResNet's shapes
/// (`HOMEWARD_BENCH_LAYERS=1`, docs/adr-speed-winograd.md, docs/adr-speed.md):
/// F2 beats im2col on the 128-channel 8×8 layers, and on the 256-channel 4×4
/// ones when batched (0.153 vs 0.183 ms per chip at 18; one chip: 0.281 vs
/// 0.265); with 32 or 64 channels (K = c in its 16 GEMMs) it ties or loses,
/// and on 3×3 inputs almost half its tiles are padding.
pub const WINOGRAD_MIN_CHANNELS: usize = 128;
/// [`ConvAlgorithm::Auto`] uses the direct kernel (on a CPU with AVX-512,
/// filters a multiple of 8) on outputs at least this many rows and columns
/// and at most [`DIRECT_MAX_PIXELS`], before Winograd: its blocks of 48
/// pixels run over rows padded to the input's (phase) width, so smaller
/// outputs waste most of each block. Measured (`HOMEWARD_BENCH_LAYERS=1` and
/// `HOMEWARD_BENCH_OPS=1`, docs/adr-speed.md), CPU ms per chip: 3×3 on 32
/// channels at 35×35, batch of 18, 0.11 vs 0.19 (im2col); 128 channels at
/// 8×8, one chip, 0.15 vs 0.22–0.28 (F2), a tie with F2 batched; the 7×7/2
/// first layer 0.34 vs 0.56 batched; but 0.29 vs 0.16 (F2) on 256 channels
/// at 4×4.
pub const DIRECT_MIN_SIDE: usize = 8;
/// … and at most this many output pixels per sample: on the detector's large
/// planes (5×5 stride-2 layers on 32 channels) the direct kernel's working
/// set per block leaves L1 and it was slower than im2col (obama.jpg: 429–441
/// vs 382 CPU ms per megapixel).
pub const DIRECT_MAX_PIXELS: usize = 96 * 96;

thread_local! {
    /// Per-thread im2col scratch, grown to the largest tile and reused.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// What to apply to a convolution's output before it is stored: an `affine_`
/// (folded batch norm) and a `relu_` that directly follow it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// Per-channel scale and shift applied after the convolution.
    pub affine: Option<&'a Affine>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

impl Epilogue<'_> {
    /// Applies the epilogue to values of output channel `f`.
    pub(crate) fn apply(&self, f: usize, values: &mut [f32]) {
        if let Some(a) = self.affine {
            let (g, b) = a.get(f);
            for v in values.iter_mut() {
                *v = *v * g + b;
            }
        }
        if self.relu {
            for v in values.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// A folded batch norm then PReLU with one slope per channel
/// (`y = γ·x + β`, then `y` if positive else `slope·y`), applied as the
/// convolution stores its output: MobileFaceNet's blocks
/// ([`Conv2d::forward_batch_prelu`]).
#[derive(Debug, Clone, Copy)]
pub struct AffinePrelu<'a> {
    /// Per-channel scale and shift.
    pub affine: &'a Affine,
    /// One PReLU slope per output channel.
    pub slopes: &'a [f32],
}

/// What a kernel applies to each run of output values of channel `f`
/// before it stores them.
pub(super) trait Post: Copy + Send + Sync {
    /// Transforms `values`, outputs of channel `f`, in place.
    fn apply(&self, f: usize, values: &mut [f32]);
    /// Whether the stage fits a layer with `channels` output channels.
    fn fits(&self, channels: usize) -> bool;
}

impl Post for Epilogue<'_> {
    fn apply(&self, f: usize, values: &mut [f32]) {
        Epilogue::apply(self, f, values)
    }

    fn fits(&self, channels: usize) -> bool {
        self.affine.is_none_or(|a| a.channels() == channels)
    }
}

impl Post for AffinePrelu<'_> {
    fn apply(&self, f: usize, values: &mut [f32]) {
        let (g, b) = self.affine.get(f);
        let a = self.slopes[f];
        for v in values.iter_mut() {
            let y = *v * g + b;
            *v = if y > 0.0 { y } else { y * a };
        }
    }

    fn fits(&self, channels: usize) -> bool {
        self.affine.channels() == channels && self.slopes.len() == channels
    }
}

/// A raw output pointer shared by tiles that write disjoint regions.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
// SAFETY: every task writes only its own rows × columns of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the `Sync` wrapper whole).
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Geometry of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel rows.
    pub kernel_h: usize,
    /// Kernel columns.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_y: usize,
    /// Horizontal stride.
    pub stride_x: usize,
    /// Rows of zero padding above and below.
    pub pad_y: usize,
    /// Columns of zero padding left and right.
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
    /// The filters transposed, `(c·kh·kw, f)`: the GEMM reads them in the
    /// order its kernel wants and does not repack them on every tile.
    filters_t: Vec<f32>,
    bias: Vec<f32>,
    /// Winograd-transformed filters (`F2`, `F4`), made on first use.
    winograd: Box<[OnceLock<Winograd>; 2]>,
}

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// The default: the direct kernel on outputs of [`DIRECT_MIN_SIDE`] to
    /// [`DIRECT_MAX_PIXELS`], else Winograd on 3×3 stride-1 pad-1 layers
    /// where its tiles fill; im2col + GEMM (or direct) for the rest.
    Auto,
    /// im2col + GEMM, or the direct kernel for ≤ [`DIRECT_MAX_FILTERS`]
    /// filters: the reference path. A 1×1 stride-1 layer without padding
    /// skips the im2col copy: its GEMM reads the activations directly.
    Im2col,
    /// Winograd with this tile size; falls back to [`ConvAlgorithm::Im2col`]
    /// for layers that are not 3×3, stride 1, pad 1.
    Winograd(WinogradTile),
    /// The direct kernel without im2col (AVX-512, filters a multiple of 8):
    /// every tap is a shifted run of the padded, stride-phase-split input;
    /// falls back to [`ConvAlgorithm::Im2col`] elsewhere.
    Direct,
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
        let filters_t = filters.t().iter().copied().collect();
        Some(Conv2d {
            params,
            filters,
            filters_t,
            bias,
            winograd: Default::default(),
        })
    }

    /// The layer's shape parameters.
    pub fn params(&self) -> &ConvParams {
        &self.params
    }

    /// Output size for an input of `h × w`, or `None` if the kernel does not fit.
    pub fn out_dims(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        Some((self.params.out_h(h)?, self.params.out_w(w)?))
    }

    /// Convolves one sample `x` `(c, h, w)`; `None` if `x` has the wrong
    /// channel count or is smaller than the kernel.
    pub fn forward(&self, x: &Array3<f32>) -> Option<Array3<f32>> {
        self.forward_batch(&Tensor::from_array3(x.clone()), Epilogue::default())?
            .into_array3()
    }

    /// Convolves every sample of `x` and applies `post`; `None` if `x` has the
    /// wrong channel count, is smaller than the kernel, or `post` has the
    /// wrong number of channels.
    pub fn forward_batch(&self, x: &Tensor, post: Epilogue) -> Option<Tensor> {
        self.forward_batch_with(x, post, ConvAlgorithm::Auto)
    }

    /// Whether Winograd `F(m×m, 3×3)` applies: 3×3, stride 1, pad 1.
    fn winograd_fits(&self) -> bool {
        let p = &self.params;
        (
            p.kernel_h, p.kernel_w, p.stride_y, p.stride_x, p.pad_y, p.pad_x,
        ) == (3, 3, 1, 1, 1, 1)
            && p.out_channels > DIRECT_MAX_FILTERS
    }

    /// Whether the layer is 1×1, stride 1, without padding: its GEMM reads
    /// the input tensor directly, with no im2col copy.
    fn is_pointwise(&self) -> bool {
        let p = &self.params;
        (
            p.kernel_h, p.kernel_w, p.stride_y, p.stride_x, p.pad_y, p.pad_x,
        ) == (1, 1, 1, 1, 0, 0)
    }

    /// Whether the direct shifted-tap kernel applies: filters a multiple of
    /// its block and a CPU with AVX-512.
    fn direct_fits(&self) -> bool {
        self.params.out_channels.is_multiple_of(shifted::FB) && shifted::available()
    }

    /// The algorithm [`ConvAlgorithm::Auto`] picks for a batch of `n`
    /// inputs of `h × w`.
    pub fn auto_algorithm(&self, n: usize, h: usize, w: usize) -> ConvAlgorithm {
        let (oh, ow) = self.out_dims(h, w).unwrap_or((0, 0));
        if oh.min(ow) >= DIRECT_MIN_SIDE && oh * ow <= DIRECT_MAX_PIXELS && self.direct_fits() {
            return ConvAlgorithm::Direct;
        }
        if !self.winograd_fits() {
            return ConvAlgorithm::Im2col;
        }
        let side = h.min(w);
        let large = side >= WINOGRAD_MIN_SIDE
            || (side >= WINOGRAD_SMALL_MIN_SIDE
                && h.is_multiple_of(2)
                && w.is_multiple_of(2)
                && n >= WINOGRAD_SMALL_MIN_BATCH);
        if large && self.params.in_channels >= WINOGRAD_MIN_CHANNELS {
            ConvAlgorithm::Winograd(WinogradTile::F2)
        } else {
            ConvAlgorithm::Im2col
        }
    }

    /// The transformed filters for `tile`, made on first use.
    fn winograd(&self, tile: WinogradTile) -> &Winograd {
        let slot = match tile {
            WinogradTile::F2 => &self.winograd[0],
            WinogradTile::F4 => &self.winograd[1],
        };
        slot.get_or_init(|| {
            let p = &self.params;
            let filters = self.filters.as_slice().unwrap_or(&[]);
            Winograd::new(tile, p.in_channels, p.out_channels, filters)
        })
    }

    /// [`Conv2d::forward_batch`] with a chosen algorithm.
    pub fn forward_batch_with(
        &self,
        x: &Tensor,
        post: Epilogue,
        algorithm: ConvAlgorithm,
    ) -> Option<Tensor> {
        self.run(x, post, algorithm)
    }

    /// Convolves every sample of `x`, then applies a batch norm and PReLU
    /// as each output run is stored; `None` if `x` has the wrong channel
    /// count or is smaller than the kernel, or `post` has the wrong number
    /// of channels.
    pub fn forward_batch_prelu(&self, x: &Tensor, post: AffinePrelu) -> Option<Tensor> {
        self.run(x, post, ConvAlgorithm::Auto)
    }

    /// [`Conv2d::forward_batch_prelu`] with a chosen algorithm.
    pub fn forward_batch_prelu_with(
        &self,
        x: &Tensor,
        post: AffinePrelu,
        algorithm: ConvAlgorithm,
    ) -> Option<Tensor> {
        self.run(x, post, algorithm)
    }

    /// The convolution with any output stage.
    fn run<P: Post>(&self, x: &Tensor, post: P, algorithm: ConvAlgorithm) -> Option<Tensor> {
        let p = &self.params;
        let (c, n, h, w) = x.dim();
        if c != p.in_channels || !post.fits(p.out_channels) {
            return None;
        }
        let (oh, ow) = self.out_dims(h, w)?;
        let mut out = Tensor::zeros(p.out_channels, n, oh, ow);
        let algorithm = match algorithm {
            ConvAlgorithm::Auto => self.auto_algorithm(n, h, w),
            ConvAlgorithm::Winograd(_) if !self.winograd_fits() => ConvAlgorithm::Im2col,
            ConvAlgorithm::Direct if !self.direct_fits() => ConvAlgorithm::Im2col,
            chosen => chosen,
        };
        let done = match algorithm {
            ConvAlgorithm::Winograd(tile) => {
                self.winograd(tile).forward(x, &self.bias, &mut out, post);
                true
            }
            ConvAlgorithm::Direct => {
                shifted::forward(p, &self.filters_t, &self.bias, x, &mut out, post)
            }
            _ => false,
        };
        if done {
            // Computed above.
        } else if p.out_channels <= DIRECT_MAX_FILTERS {
            self.direct(x, &mut out, post);
        } else {
            self.tiled_gemm(x, &mut out, post);
        }
        Some(out)
    }

    /// The im2col + GEMM kernel, tile by tile on the rayon pool.
    fn tiled_gemm<P: Post>(&self, x: &Tensor, out: &mut Tensor, post: P) {
        let p = &self.params;
        let (f_total, n, oh, ow) = out.dim();
        let k = p.patch_len();
        let columns = n * oh * ow;
        if columns == 0 {
            return;
        }
        let threads = rayon::current_num_threads().max(1);
        // A 1×1 stride-1 layer without padding reads the activations as they
        // are: `x` is already its `c × columns` im2col matrix. Its tiles are
        // sized so that the output tile (f rows) stays in cache too.
        let pointwise = self.is_pointwise();
        let tile_k = if pointwise { k.max(f_total) } else { k };
        // A multiple of 16 columns lets the GEMM read the tile unpacked.
        let col_tile = (TILE_FLOATS / tile_k.max(1))
            .max(MIN_TILE_COLUMNS)
            .next_multiple_of(16)
            .min(columns);
        let col_tiles = columns.div_ceil(col_tile);
        // Too few column tiles for the pool: also split the filters, in groups
        // of at least 16 rows so the GEMM keeps full-width kernels.
        let row_groups = if col_tiles >= 2 * threads {
            1
        } else {
            (2 * threads).div_ceil(col_tiles).min(f_total / 16).max(1)
        };
        let row_tile = f_total
            .div_ceil(row_groups)
            .next_multiple_of(8)
            .min(f_total);
        let row_tiles = f_total.div_ceil(row_tile);
        let dst = OutPtr(out.as_mut_slice().as_mut_ptr());
        // Without a bias the GEMM writes its products instead of adding them
        // to a bias-filled output (one pass less over the output).
        let zero_bias = self.bias.iter().all(|&b| b == 0.0);
        let (prepared, wp) = if pointwise {
            (Vec::new(), 0)
        } else {
            prepare_rows(x.as_slice(), x.dim().3, p.pad_x, p.stride_x)
        };
        let rows_src = Rows::new(&prepared, wp, p.stride_x);
        (0..row_tiles * col_tiles).into_par_iter().for_each(|t| {
            let base = dst.get();
            let (rt, ct) = (t / col_tiles, t % col_tiles);
            let (f0, j0) = (rt * row_tile, ct * col_tile);
            let (rows, len) = (row_tile.min(f_total - f0), col_tile.min(columns - j0));
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let (cols, cols_mat) = if pointwise {
                    (&x.as_slice()[j0..], Mat::row_major(k, len, columns))
                } else {
                    if scratch.len() < k * len {
                        scratch.resize(k * len, 0.0);
                    }
                    let cols = &mut scratch[..k * len];
                    im2col(&rows_src, x.dim(), p, (oh, ow), j0, len, cols);
                    (&cols[..], Mat::row_major(k, len, len))
                };
                // SAFETY: tile (rt, ct) owns rows f0..f0+rows, columns
                // j0..j0+len of the output; no other task touches them.
                let out_row = |f: usize| unsafe {
                    std::slice::from_raw_parts_mut(base.add(f * columns + j0), len)
                };
                if !zero_bias {
                    for f in f0..f0 + rows {
                        out_row(f).fill(self.bias[f]);
                    }
                }
                let c_mat = Mat::row_major(rows, len, columns);
                // SAFETY: as above; the region is `rows × len` at stride `columns`.
                unsafe {
                    sgemm_raw(
                        &self.filters_t[f0..],
                        Mat {
                            rows,
                            cols: k,
                            stride: 1,
                            col_stride: f_total,
                        },
                        cols,
                        cols_mat,
                        base.add(f0 * columns + j0),
                        c_mat,
                        !zero_bias,
                    );
                }
                for f in f0..f0 + rows {
                    post.apply(f, out_row(f));
                }
            });
        });
    }

    /// The direct kernel: each output row sums shifted, weighted input rows,
    /// 16 outputs at a time in registers.
    fn direct<P: Post>(&self, x: &Tensor, out: &mut Tensor, post: P) {
        let p = self.params;
        let (_, n, oh, ow) = out.dim();
        let (c, _, h, w) = x.dim();
        if ow == 0 {
            return;
        }
        // Rows padded with zeros left and right, and long enough that a block
        // of 16 outputs never reads past them.
        let wp = (w + 2 * p.pad_x).max((ow.next_multiple_of(BLOCK) - 1) * p.stride_x + p.kernel_w);
        let mut padded = vec![0f32; c * n * h * wp];
        if w > 0 {
            for (src, dst) in x
                .as_slice()
                .chunks_exact(w)
                .zip(padded.chunks_exact_mut(wp))
            {
                dst[p.pad_x..p.pad_x + w].copy_from_slice(src);
            }
        }
        let filters = self.filters.as_slice().unwrap_or(&[]);
        let k = p.patch_len();
        out.as_mut_slice()
            .par_chunks_mut(ow)
            .enumerate()
            .for_each(|(r, row)| {
                let f = r / (n * oh);
                let (s, oy) = ((r / oh) % n, r % oh);
                let mut srcs = Vec::with_capacity(c * p.kernel_h);
                let mut weights = Vec::with_capacity(c * p.kernel_h);
                for ci in 0..c {
                    for ky in 0..p.kernel_h {
                        if let Some(iy) = tap(oy, ky, p.stride_y, p.pad_y, h) {
                            srcs.push(&padded[((ci * n + s) * h + iy) * wp..][..wp]);
                            let at = f * k + (ci * p.kernel_h + ky) * p.kernel_w;
                            weights.push(&filters[at..at + p.kernel_w]);
                        }
                    }
                }
                accumulate_row(row, &srcs, &weights, p.stride_x);
                let b = self.bias[f];
                for v in row.iter_mut() {
                    *v += b;
                }
                post.apply(f, row);
            });
    }
}

/// Outputs the direct kernel keeps in registers at once.
const BLOCK: usize = 16;

/// `out[o] = Σ_i Σ_kx weights[i][kx] · srcs[i][o·stride + kx]`, summed in
/// that order, with the widest SIMD the CPU has.
fn accumulate_row(out: &mut [f32], srcs: &[&[f32]], weights: &[&[f32]], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { accumulate_row_avx512(out, srcs, weights, stride) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { accumulate_row_avx2(out, srcs, weights, stride) };
        }
    }
    accumulate_row_generic(out, srcs, weights, stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn accumulate_row_avx512(out: &mut [f32], srcs: &[&[f32]], weights: &[&[f32]], stride: usize) {
    accumulate_row_generic(out, srcs, weights, stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_row_avx2(out: &mut [f32], srcs: &[&[f32]], weights: &[&[f32]], stride: usize) {
    accumulate_row_generic(out, srcs, weights, stride)
}

/// Separate multiply and add (Rust never fuses them), so every instruction
/// set gives the same bits.
#[inline(always)]
fn accumulate_row_generic(out: &mut [f32], srcs: &[&[f32]], weights: &[&[f32]], stride: usize) {
    let mut o0 = 0;
    while o0 < out.len() {
        let mut acc = [0f32; BLOCK];
        for (src, taps) in srcs.iter().zip(weights) {
            for (kx, &wv) in taps.iter().enumerate() {
                if stride == 1 {
                    let s = &src[o0 + kx..o0 + kx + BLOCK];
                    for j in 0..BLOCK {
                        acc[j] += wv * s[j];
                    }
                } else {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a += wv * src[(o0 + j) * stride + kx];
                    }
                }
            }
        }
        let m = BLOCK.min(out.len() - o0);
        out[o0..o0 + m].copy_from_slice(&acc[..m]);
        o0 += BLOCK;
    }
}

/// Input row for output row `o` under kernel tap `k`, if inside the input.
fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < size)
}

/// Input rows with their columns split by phase modulo the stride: row `r`
/// holds columns `0, s, 2s, …`, then `1, 1+s, …`, and so on, so the input
/// under one kernel tap for consecutive outputs is contiguous for any stride.
struct Rows<'a> {
    data: &'a [f32],
    w: usize,
    stride: usize,
}

impl<'a> Rows<'a> {
    fn new(data: &'a [f32], w: usize, stride: usize) -> Self {
        Rows { data, w, stride }
    }

    /// Row `r`'s input columns `≡ phase (mod stride)`, in order.
    fn phase(&self, r: usize, phase: usize) -> &'a [f32] {
        let row = &self.data[r * self.w..][..self.w];
        let start = phase * (self.w / self.stride) + phase.min(self.w % self.stride);
        let len = (self.w + self.stride - 1 - phase) / self.stride;
        &row[start..start + len]
    }
}

/// Every input row of width `w`, zero-padded by `pad` on both sides, in
/// phase order for [`Rows`]; returns the rows and their width `w + 2·pad`.
fn prepare_rows(data: &[f32], w: usize, pad: usize, stride: usize) -> (Vec<f32>, usize) {
    let wp = w + 2 * pad;
    let rows = data.len().checked_div(w).unwrap_or(0);
    let mut out = vec![0f32; rows * wp];
    if w == 0 {
        return (out, wp);
    }
    let mut padded = vec![0f32; wp];
    for (src, dst) in data.chunks_exact(w).zip(out.chunks_exact_mut(wp)) {
        if stride == 1 {
            dst[pad..pad + w].copy_from_slice(src);
            continue;
        }
        padded[pad..pad + w].copy_from_slice(src);
        let mut at = 0;
        for phase in 0..stride.min(wp) {
            for &v in padded[phase..].iter().step_by(stride) {
                dst[at] = v;
                at += 1;
            }
        }
    }
    (out, wp)
}

/// Fills `cols` (`c·kh·kw` rows of `len` columns) with the input under each
/// kernel tap for output columns `j0..j0 + len` of the batch (column `j` is
/// sample `j / (oh·ow)`, row `(j / ow) % oh`, column `j % ow`); 0 in padding.
fn im2col(
    rows: &Rows,
    (c, n, h, _): (usize, usize, usize, usize),
    p: &ConvParams,
    (oh, ow): (usize, usize),
    j0: usize,
    len: usize,
    cols: &mut [f32],
) {
    let s = p.stride_x;
    let mut j = j0;
    while j < j0 + len {
        let (sample, oy, ox0) = (j / (oh * ow), (j / ow) % oh, j % ow);
        let seg = (ow - ox0).min(j0 + len - j);
        let at = j - j0;
        for ci in 0..c {
            for ky in 0..p.kernel_h {
                let row0 = (ci * p.kernel_h + ky) * p.kernel_w;
                let iy = tap(oy, ky, p.stride_y, p.pad_y, h);
                for kx in 0..p.kernel_w {
                    let dst = &mut cols[(row0 + kx) * len + at..][..seg];
                    match iy {
                        // Padded column of output `ox` under tap `kx` is
                        // ox·s + kx: index ox + kx / s of phase kx mod s.
                        Some(iy) => {
                            let src = rows.phase((ci * n + sample) * h + iy, kx % s);
                            dst.copy_from_slice(&src[ox0 + kx / s..][..seg]);
                        }
                        None => dst.fill(0.0),
                    }
                }
            }
        }
        j += seg;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::test_data::{pseudo_random, square_params};

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

    fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
        assert_eq!(a.dim(), b.dim());
        a.iter()
            .zip(b.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    // Both kernels (direct: ≤ 4 filters; tiled GEMM: more, with filter groups
    // when tiles are few) against the definition.
    #[test]
    fn fast_kernels_match_direct_convolution() {
        for filters in [1, 4, 5, 40] {
            for &(stride, pad, k) in &[
                (1, 1, 3),
                (2, 0, 3),
                (2, 0, 5),
                (1, 2, 5),
                (2, 0, 7),
                (2, 1, 3),
                (3, 2, 5),
            ] {
                let p = square_params(3, filters, k, stride, pad);
                let conv = Conv2d::new(
                    p,
                    pseudo_random(filters * p.patch_len(), 1),
                    pseudo_random(filters, 2),
                )
                .unwrap();
                let x = Array3::from_shape_vec((3, 13, 11), pseudo_random(3 * 13 * 11, 3)).unwrap();
                let max = max_diff(&conv.forward(&x).unwrap(), &direct(&x, &conv));
                assert!(
                    max < 1e-5,
                    "{filters} filters, stride {stride} pad {pad} k {k}: {max}"
                );
            }
        }
    }

    // A batch spanning many tiles (tiles cut across rows and samples) with the
    // affine + relu epilogue equals each sample convolved alone, then the
    // separate affine and relu.
    #[test]
    fn batched_tiles_with_epilogue_match_per_sample_layers() {
        for (filters, k, stride, pad) in [(24, 5, 1, 2), (2, 9, 1, 4), (16, 3, 2, 0)] {
            let p = square_params(8, filters, k, stride, pad);
            let conv = Conv2d::new(
                p,
                pseudo_random(filters * p.patch_len(), 4),
                pseudo_random(filters, 5),
            )
            .unwrap();
            let affine = Affine::new(pseudo_random(filters, 6), pseudo_random(filters, 7)).unwrap();
            let samples: Vec<Array3<f32>> = (0..3)
                .map(|s| {
                    Array3::from_shape_vec((8, 37, 41), pseudo_random(8 * 37 * 41, 10 + s)).unwrap()
                })
                .collect();
            let mut data = Vec::new();
            for ch in 0..8 {
                for x in &samples {
                    data.extend(x.index_axis(ndarray::Axis(0), ch).iter());
                }
            }
            let batch = Tensor::from_vec(8, 3, 37, 41, data).unwrap();
            let post = Epilogue {
                affine: Some(&affine),
                relu: true,
            };
            let out = conv.forward_batch(&batch, post).unwrap();
            for (s, x) in samples.iter().enumerate() {
                let mut want = direct(x, &conv);
                affine.forward_inplace(&mut want).unwrap();
                crate::nn::relu(&mut want);
                let max = max_diff(&out.sample(s).unwrap(), &want);
                assert!(max < 1e-4, "{filters} filters k {k}, sample {s}: {max}");
            }
        }
    }

    // 1×1 layers (the GEMM reads the activations in place) against the
    // definition, over several column tiles and a batch, with and without a
    // bias; and the batch norm + PReLU stage on each algorithm against the
    // separate layers.
    #[test]
    fn pointwise_gemm_and_prelu_stage_match_the_definition() {
        for (c, f, n, h, w, with_bias) in [
            (3, 5, 1, 1, 1, true),
            (7, 40, 3, 13, 11, false),
            (64, 24, 2, 37, 41, true),
            (33, 17, 1, 9, 70, false),
        ] {
            let p = square_params(c, f, 1, 1, 0);
            let bias = if with_bias {
                pseudo_random(f, 2)
            } else {
                vec![0.0; f]
            };
            let conv = Conv2d::new(p, pseudo_random(f * c, 1), bias).unwrap();
            let affine = Affine::new(pseudo_random(f, 3), pseudo_random(f, 4)).unwrap();
            let slopes = pseudo_random(f, 5);
            let samples: Vec<Array3<f32>> = (0..n)
                .map(|s| {
                    Array3::from_shape_vec((c, h, w), pseudo_random(c * h * w, 10 + s as u32))
                        .unwrap()
                })
                .collect();
            let mut data = Vec::new();
            for ch in 0..c {
                for x in &samples {
                    data.extend(x.index_axis(ndarray::Axis(0), ch).iter());
                }
            }
            let batch = Tensor::from_vec(c, n, h, w, data).unwrap();
            let plain = conv
                .forward_batch_with(&batch, Epilogue::default(), ConvAlgorithm::Im2col)
                .unwrap();
            let post = AffinePrelu {
                affine: &affine,
                slopes: &slopes,
            };
            for algorithm in [ConvAlgorithm::Im2col, ConvAlgorithm::Direct] {
                let fused = conv
                    .forward_batch_prelu_with(&batch, post, algorithm)
                    .unwrap();
                for (s, x) in samples.iter().enumerate() {
                    let want = direct(x, &conv);
                    let max = max_diff(&plain.sample(s).unwrap(), &want);
                    assert!(max < 1e-5, "{c}->{f} sample {s}: {max}");
                    let mut want = want;
                    affine.forward_inplace(&mut want).unwrap();
                    for (ch, mut plane) in want.outer_iter_mut().enumerate() {
                        plane.mapv_inplace(|v| if v > 0.0 { v } else { v * slopes[ch] });
                    }
                    let max = max_diff(&fused.sample(s).unwrap(), &want);
                    assert!(max < 1e-5, "{algorithm:?} {c}->{f} sample {s}: {max}");
                }
            }
        }
        let p = square_params(2, 3, 1, 1, 0);
        let conv = Conv2d::new(p, vec![0.0; 6], vec![0.0; 3]).unwrap();
        let affine = Affine::new(vec![1.0; 3], vec![0.0; 3]).unwrap();
        let post = AffinePrelu {
            affine: &affine,
            slopes: &[0.0; 2],
        };
        assert!(conv
            .forward_batch_prelu(&Tensor::zeros(2, 1, 2, 2), post)
            .is_none());
    }

    #[test]
    fn output_size_follows_dlib() {
        let p = square_params(1, 1, 3, 2, 0);
        assert_eq!(p.out_h(37), Some(18));
        assert_eq!(p.out_h(3), Some(1));
        assert_eq!(p.out_h(2), None);
    }

    #[test]
    fn wrong_channel_count_is_refused() {
        let p = square_params(2, 1, 1, 1, 0);
        let conv = Conv2d::new(p, vec![1.0, 1.0], vec![0.0]).unwrap();
        assert!(conv.forward(&Array3::zeros((3, 4, 4))).is_none());
    }
}
