//! Fully connected layer without bias (dlib's `fc_no_bias`): the flattened
//! input `(c·h·w)` times weights `(inputs × outputs)`, as dlib stores them.

use ndarray::{Array1, Array2, Array3};

use super::Tensor;

#[derive(Debug, Clone)]
/// A fully connected layer: weights and bias.
pub struct FullyConnected {
    weights: Array2<f32>,
}

impl FullyConnected {
    /// `weights` is row-major `inputs × outputs`; `None` if the length is wrong.
    pub fn new(inputs: usize, outputs: usize, weights: Vec<f32>) -> Option<Self> {
        Some(FullyConnected {
            weights: Array2::from_shape_vec((inputs, outputs), weights).ok()?,
        })
    }

    /// Input length.
    pub fn inputs(&self) -> usize {
        self.weights.nrows()
    }

    /// Output length.
    pub fn outputs(&self) -> usize {
        self.weights.ncols()
    }

    /// `None` if `x` does not have [`FullyConnected::inputs`] elements.
    pub fn forward(&self, x: &Array3<f32>) -> Option<Array1<f32>> {
        if x.len() != self.inputs() {
            return None;
        }
        let flat: Array1<f32> = x.iter().copied().collect();
        Some(flat.dot(&self.weights))
    }
}

impl FullyConnected {
    /// One output vector per sample of `x` (each sample flattened as
    /// `(c, h, w)`); `None` if a sample does not have [`FullyConnected::inputs`]
    /// elements.
    pub fn forward_batch(&self, x: &Tensor) -> Option<Vec<Array1<f32>>> {
        let (c, n, h, w) = x.dim();
        if c * h * w != self.inputs() {
            return None;
        }
        let hw = h * w;
        let data = x.as_slice();
        let outputs = self.outputs();
        let mut out = vec![Array1::<f32>::zeros(outputs); n];
        for (s, acc) in out.iter_mut().enumerate() {
            for ch in 0..c {
                for p in 0..hw {
                    let v = data[(ch * n + s) * hw + p];
                    let row = self.weights.row(ch * hw + p);
                    acc.scaled_add(v, &row);
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_flattened_input() {
        let fc = FullyConnected::new(2, 1, vec![2.0, 3.0]).unwrap();
        let x = Array3::from_shape_vec((2, 1, 1), vec![1.0, 10.0]).unwrap();
        assert_eq!(fc.forward(&x).unwrap().to_vec(), vec![32.0]);
    }

    #[test]
    fn batch_gives_each_sample_its_product() {
        let fc = FullyConnected::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        // c = 2, n = 2: sample 0 = (1, 10), sample 1 = (2, 20).
        let x = Tensor::from_vec(2, 2, 1, 1, vec![1.0, 2.0, 10.0, 20.0]).unwrap();
        let y = fc.forward_batch(&x).unwrap();
        assert_eq!(y[0].to_vec(), vec![31.0, 42.0]);
        assert_eq!(y[1].to_vec(), vec![62.0, 84.0]);
    }
}
