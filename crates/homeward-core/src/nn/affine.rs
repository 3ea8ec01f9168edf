//! Per-channel affine transform `y = γ·x + β`: dlib's `affine_` layer, which is
//! batch normalisation folded for inference.

use ndarray::Array3;

use super::Tensor;

/// Per-channel scale and shift.
#[derive(Debug, Clone)]
pub struct Affine {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Affine {
    /// `None` if the two lengths differ.
    pub fn new(gamma: Vec<f32>, beta: Vec<f32>) -> Option<Self> {
        (gamma.len() == beta.len()).then_some(Affine { gamma, beta })
    }

    /// Folds batch-norm statistics as dlib does when it turns a `bn_` into an
    /// `affine_`: `γ' = γ / sqrt(var + eps)`, `β' = β − γ'·mean`.
    pub fn from_batch_norm(
        gamma: &[f32],
        beta: &[f32],
        running_mean: &[f32],
        running_var: &[f32],
        eps: f32,
    ) -> Option<Self> {
        let n = gamma.len();
        if beta.len() != n || running_mean.len() != n || running_var.len() != n {
            return None;
        }
        let g: Vec<f32> = (0..n)
            .map(|i| gamma[i] / (running_var[i] + eps).sqrt())
            .collect();
        let b = (0..n).map(|i| beta[i] - g[i] * running_mean[i]).collect();
        Affine::new(g, b)
    }

    /// `(γ, β)` of channel `c`.
    pub(crate) fn get(&self, c: usize) -> (f32, f32) {
        (self.gamma[c], self.beta[c])
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.gamma.len()
    }

    /// Applies the transform in place; `x` must have [`Affine::channels`] channels.
    pub fn forward_inplace(&self, x: &mut Array3<f32>) -> Option<()> {
        if x.dim().0 != self.gamma.len() {
            return None;
        }
        for (c, mut plane) in x.outer_iter_mut().enumerate() {
            let (g, b) = (self.gamma[c], self.beta[c]);
            plane.mapv_inplace(|v| v * g + b);
        }
        Some(())
    }
}

impl Affine {
    /// Applies the transform to every sample of `x` in place; `None` if the
    /// channel count differs.
    pub fn forward_tensor(&self, x: &mut Tensor) -> Option<()> {
        let (c, _, _, _) = x.dim();
        if c != self.gamma.len() {
            return None;
        }
        let plane = x.as_slice().len() / c.max(1);
        if plane == 0 {
            return Some(());
        }
        for (ch, values) in x.as_mut_slice().chunks_mut(plane).enumerate() {
            let (g, b) = self.get(ch);
            for v in values {
                *v = *v * g + b;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_shifts_each_channel() {
        let a = Affine::new(vec![2.0, -1.0], vec![1.0, 0.5]).unwrap();
        let mut x = Array3::from_shape_vec((2, 1, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        a.forward_inplace(&mut x).unwrap();
        assert_eq!(x.as_slice().unwrap(), &[3.0, 5.0, -2.5, -3.5]);
    }

    #[test]
    fn batch_norm_folding() {
        let a = Affine::from_batch_norm(&[2.0], &[1.0], &[3.0], &[3.0], 1.0).unwrap();
        // γ' = 2 / 2 = 1, β' = 1 − 3 = −2
        let mut x = Array3::from_elem((1, 1, 1), 5.0);
        a.forward_inplace(&mut x).unwrap();
        assert_eq!(x[[0, 0, 0]], 3.0);
    }
}
