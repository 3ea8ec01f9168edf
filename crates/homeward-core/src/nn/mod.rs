//! Inference layers, exactly the ones dlib's three models use, on batched
//! activations.
//!
//! Activations are [`Tensor`]s laid out `(channels, samples, rows, cols)`:
//! with one sample that is dlib's `(c, h, w)` order, and with many (the faces
//! of a photo) each convolution is one GEMM over all of them. Convolution
//! ([`Conv2d::forward_batch`]) runs on rayon in L2-sized tiles, with a SIMD
//! GEMM ([`gemm`]) or, for layers with a few filters, a direct kernel, and can
//! apply a following affine and ReLU as it stores its output. 3×3 stride-1
//! layers can also run as Winograd `F(2×2, 3×3)` or `F(4×4, 3×3)`
//! ([`ConvAlgorithm`]). The `Array3`
//! forms of the layers take one sample and are kept for tests and simple use.

pub mod add;
pub mod affine;
pub mod conv;
pub mod fc;
mod gemm;
pub mod pool;
mod shifted;
mod tensor;
mod winograd;

pub use add::{add_tensors, add_zero_padded};
pub use affine::Affine;
pub use conv::{AffinePrelu, Conv2d, ConvAlgorithm, ConvParams, Epilogue};
pub use fc::FullyConnected;
pub use pool::{Pool2d, PoolKind};
pub use tensor::Tensor;
pub use winograd::WinogradTile;

use ndarray::Array3;

/// In-place ReLU: `x = max(x, 0)`.
pub fn relu(x: &mut Array3<f32>) {
    x.mapv_inplace(|v| v.max(0.0));
}

/// In-place ReLU over a whole batch.
pub fn relu_tensor(x: &mut Tensor) {
    for v in x.as_mut_slice() {
        *v = v.max(0.0);
    }
}

/// Deterministic test data shared by the kernels' tests.
#[cfg(test)]
pub(crate) mod test_data {
    use super::ConvParams;

    /// Convolution parameters with equal height and width settings.
    pub(crate) fn square_params(
        c: usize,
        f: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> ConvParams {
        ConvParams {
            in_channels: c,
            out_channels: f,
            kernel_h: k,
            kernel_w: k,
            stride_y: stride,
            stride_x: stride,
            pad_y: pad,
            pad_x: pad,
        }
    }

    /// `n` values in [-0.5, 0.5) from a linear congruential generator.
    pub(crate) fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }
}
