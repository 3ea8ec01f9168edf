//! A batch of activations laid out for convolution by GEMM.
//!
//! Layout `(channels, samples, rows, cols)`, row-major: channel `c` of every
//! sample is one contiguous plane of `samples · rows · cols` floats. A
//! convolution's GEMM `filters (f × c·k·k) · im2col (c·k·k × samples·oh·ow)`
//! then writes its result straight into the next layer's tensor, and a batch
//! of faces is one GEMM with `samples · oh · ow` columns instead of many thin
//! ones. With one sample this is dlib's `(c, h, w)` order.

use ndarray::Array3;

/// Activations of `samples` inputs, `(c, n, h, w)` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    c: usize,
    n: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
}

impl Tensor {
    /// All zeros.
    pub fn zeros(c: usize, n: usize, h: usize, w: usize) -> Self {
        Tensor {
            c,
            n,
            h,
            w,
            data: vec![0.0; c * n * h * w],
        }
    }

    /// Wraps `data` laid out `(c, n, h, w)`; `None` if the length differs.
    pub fn from_vec(c: usize, n: usize, h: usize, w: usize, data: Vec<f32>) -> Option<Self> {
        (data.len() == c * n * h * w).then_some(Tensor { c, n, h, w, data })
    }

    /// One sample `(c, h, w)` as a batch of one (no copy when `a` is contiguous).
    pub fn from_array3(a: Array3<f32>) -> Self {
        let (c, h, w) = a.dim();
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        let (data, offset) = a.into_raw_vec_and_offset();
        debug_assert_eq!(offset.unwrap_or(0), 0);
        Tensor {
            c,
            n: 1,
            h,
            w,
            data,
        }
    }

    /// `(channels, samples, rows, cols)`.
    pub fn dim(&self) -> (usize, usize, usize, usize) {
        (self.c, self.n, self.h, self.w)
    }

    /// Every element, `(c, n, h, w)` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The values, mutable, in storage order.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Elements of one sample-plane: `rows · cols`.
    pub(crate) fn plane_len(&self) -> usize {
        self.h * self.w
    }

    /// Sample `s` as `(c, h, w)`; `None` if out of range.
    pub fn sample(&self, s: usize) -> Option<Array3<f32>> {
        if s >= self.n {
            return None;
        }
        let hw = self.plane_len();
        let mut out = Vec::with_capacity(self.c * hw);
        for ch in 0..self.c {
            let start = (ch * self.n + s) * hw;
            out.extend_from_slice(&self.data[start..start + hw]);
        }
        Array3::from_shape_vec((self.c, self.h, self.w), out).ok()
    }

    /// Turns a batch of one back into `(c, h, w)`; `None` for other batches.
    pub fn into_array3(self) -> Option<Array3<f32>> {
        if self.n != 1 {
            return None;
        }
        Array3::from_shape_vec((self.c, self.h, self.w), self.data).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip() {
        let a = Array3::from_shape_fn((2, 3, 4), |(c, y, x)| (c * 100 + y * 10 + x) as f32);
        let t = Tensor::from_array3(a.clone());
        assert_eq!(t.dim(), (2, 1, 3, 4));
        assert_eq!(t.sample(0).unwrap(), a);
        assert!(t.sample(1).is_none());
        assert_eq!(t.into_array3().unwrap(), a);
    }

    #[test]
    fn batch_keeps_channels_outermost() {
        // c = 2, n = 2, 1×1 planes: order c0s0, c0s1, c1s0, c1s1.
        let t = Tensor::from_vec(2, 2, 1, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.sample(1).unwrap().as_slice().unwrap(), &[2.0, 4.0]);
        assert!(Tensor::from_vec(2, 2, 1, 1, vec![0.0; 3]).is_none());
    }
}
