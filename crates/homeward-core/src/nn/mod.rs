//! Inference layers on ndarray, exactly the ones dlib's three models use.
//!
//! Activations are one sample at a time, `Array3<f32>` in `(channels, rows,
//! cols)` order, the layout dlib's tensors have. Each layer is a plain struct
//! holding its weights, with a `forward` that takes `&Array3<f32>` and returns
//! a new array; the heavy one, convolution, hides its kernel behind
//! [`conv::Conv2d::forward`] so a faster kernel can replace it alone.

pub mod add;
pub mod affine;
pub mod conv;
pub mod fc;
pub mod pool;

pub use add::add_zero_padded;
pub use affine::Affine;
pub use conv::{Conv2d, ConvParams};
pub use fc::FullyConnected;
pub use pool::{Pool2d, PoolKind};

use ndarray::Array3;

/// In-place ReLU: `x = max(x, 0)`.
pub fn relu(x: &mut Array3<f32>) {
    x.mapv_inplace(|v| v.max(0.0));
}
