//! Euclidean distance on embeddings, vectorised for the CPU it runs on.

use hnsw_rs::prelude::Distance;

/// Euclidean distance between two equally long slices.
///
/// ```
/// use homeward_core::index::l2;
/// assert_eq!(l2(&[0.0, 3.0], &[4.0, 0.0]), 5.0);
/// ```
#[inline]
pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { l2_avx2(a, b) };
        }
    }
    l2_lanes(a, b)
}

/// The same loop compiled with AVX2+FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    l2_lanes(a, b)
}

/// 16 independent accumulators so the compiler can keep them in SIMD lanes
/// (a single running sum cannot be reordered, so it would stay scalar).
#[inline(always)]
fn l2_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    (acc.iter().sum::<f32>() + tail).sqrt()
}

/// The distance type handed to `hnsw_rs`. Its name is recorded in dumps and
/// checked on reload, so renaming it invalidates snapshots (rebuild).
#[derive(Debug, Default, Clone, Copy)]
pub struct FaceL2;

impl Distance<f32> for FaceL2 {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        l2(va, vb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scalar_sum() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..131).map(|i| (i as f32 * 0.11).cos()).collect();
        let scalar: f32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        assert!((l2(&a, &b) - scalar).abs() < 1e-4);
    }
}
