//! Fully connected layer without bias (dlib's `fc_no_bias`): the flattened
//! input `(c·h·w)` times weights `(inputs × outputs)`, as dlib stores them.

use ndarray::{Array1, Array2, Array3};

#[derive(Debug, Clone)]
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

    pub fn inputs(&self) -> usize {
        self.weights.nrows()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_flattened_input() {
        let fc = FullyConnected::new(2, 1, vec![2.0, 3.0]).unwrap();
        let x = Array3::from_shape_vec((2, 1, 1), vec![1.0, 10.0]).unwrap();
        assert_eq!(fc.forward(&x).unwrap().to_vec(), vec![32.0]);
    }
}
