//! Fully connected layer without bias (dlib's `fc_no_bias`): the flattened
//! input `(c·h·w)` times weights `(inputs × outputs)`, as dlib stores them.

use ndarray::{Array1, Array2, Array3};
use rayon::prelude::*;

use super::conv::OutPtr;
use super::gemm::{sgemm_raw, Mat};
use super::Tensor;

/// Outputs per rayon task of [`FullyConnected::forward_batch_gemm`]: each
/// task reads its columns of every weight row once for the whole batch.
const GEMM_OUTPUT_BLOCK: usize = 32;

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

impl FullyConnected {
    /// [`FullyConnected::forward_batch`] as one GEMM over the batch,
    /// `(samples × inputs) · (inputs × outputs)`, split by blocks of outputs
    /// on the rayon pool: the weights are read once per batch instead of
    /// once per sample (SFace's 50176 → 128 layer reads 25.7 MB of them).
    /// A batch of one takes [`FullyConnected::forward_batch`] (a GEMV, as
    /// fast there). Only the summation order differs from it.
    pub fn forward_batch_gemm(&self, x: &Tensor) -> Option<Vec<Array1<f32>>> {
        let (c, n, h, w) = x.dim();
        let (k, m) = (self.inputs(), self.outputs());
        if c * h * w != k {
            return None;
        }
        if n == 1 {
            // One sample: a GEMV, which the per-sample loop streams as well.
            return self.forward_batch(x);
        }
        let weights = self.weights.as_slice()?;
        let mut out = vec![0f32; n * m];
        if n * m > 0 {
            // Samples as rows: row `s` is sample `s` flattened as `(c, h, w)`.
            let hw = h * w;
            let mut a = vec![0f32; n * k];
            for (i, plane) in x.as_slice().chunks_exact(hw.max(1)).enumerate() {
                let (ch, s) = (i / n, i % n);
                a[s * k + ch * hw..][..hw].copy_from_slice(plane);
            }
            let dst = OutPtr(out.as_mut_ptr());
            let blocks = m.div_ceil(GEMM_OUTPUT_BLOCK);
            (0..blocks).into_par_iter().for_each(|b| {
                let j0 = b * GEMM_OUTPUT_BLOCK;
                let len = GEMM_OUTPUT_BLOCK.min(m - j0);
                // SAFETY: task `b` alone writes columns j0..j0+len of the
                // `n × m` output, which lies inside `out`.
                unsafe {
                    sgemm_raw(
                        &a,
                        Mat::row_major(n, k, k),
                        &weights[j0..],
                        Mat::row_major(k, len, m),
                        dst.get().add(j0),
                        Mat::row_major(n, len, m),
                        false,
                    );
                }
            });
        }
        Some(
            (0..n)
                .map(|s| Array1::from(out[s * m..(s + 1) * m].to_vec()))
                .collect(),
        )
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
        assert_eq!(fc.forward_batch_gemm(&x).unwrap(), y);
    }

    // The GEMM form against the per-sample form on odd sizes (several output
    // blocks, a partial last one, batches of one and many).
    #[test]
    fn gemm_form_matches_per_sample_products() {
        use crate::nn::test_data::pseudo_random;
        for (c, n, h, w, outputs) in [(3, 1, 5, 7, 37), (5, 4, 3, 3, 70), (2, 7, 1, 1, 1)] {
            let k = c * h * w;
            let fc = FullyConnected::new(k, outputs, pseudo_random(k * outputs, 1)).unwrap();
            let x = Tensor::from_vec(c, n, h, w, pseudo_random(c * n * h * w, 2)).unwrap();
            let want = fc.forward_batch(&x).unwrap();
            let got = fc.forward_batch_gemm(&x).unwrap();
            assert_eq!(got.len(), n);
            for (g, w) in got.iter().zip(&want) {
                for (a, b) in g.iter().zip(w) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{c}x{n}x{h}x{w} -> {outputs}: {a} vs {b}"
                    );
                }
            }
        }
        let fc = FullyConnected::new(4, 2, vec![0.0; 8]).unwrap();
        assert!(fc.forward_batch_gemm(&Tensor::zeros(3, 2, 1, 1)).is_none());
    }
}
