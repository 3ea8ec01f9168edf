//! Euclidean distance on embeddings, vectorised for the CPU it runs on.

use super::{Embedding, DIM};

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

/// Squared Euclidean distance between two embeddings: the graph's metric
/// (same ranking as L2, no square root in the hot loop).
pub(crate) type SqDist = fn(&Embedding, &Embedding) -> f32;

/// The fastest squared-distance kernel this CPU runs, chosen once.
pub(crate) fn sq_kernel() -> SqDist {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return sq_avx2_checked;
        }
    }
    sq_portable
}

/// Portable kernel: eight lanes the compiler vectorises with SSE.
fn sq_portable(a: &Embedding, b: &Embedding) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    acc.iter().sum()
}

/// Only ever handed out by [`sq_kernel`] after it detected AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
fn sq_avx2_checked(a: &Embedding, b: &Embedding) -> f32 {
    // SAFETY: this function is reachable only through `sq_kernel`, which
    // returns it only when the CPU reports AVX2 and FMA.
    unsafe { sq_avx2(a, b) }
}

/// 128 dimensions as 16 unaligned 8-lane loads per side, four FMA chains.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sq_avx2(a: &Embedding, b: &Embedding) -> f32 {
    use std::arch::x86_64::*;
    const _: () = assert!(DIM.is_multiple_of(32));
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < DIM {
        for (k, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8k + 8 <= DIM, the length of both arrays.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i + 8 * k)),
                    _mm256_loadu_ps(pb.add(i + 8 * k)),
                )
            };
            let d = _mm256_sub_ps(x, y);
            *s = _mm256_fmadd_ps(d, d, *s);
        }
        i += 32;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    _mm_cvtss_f32(h)
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

    #[test]
    fn kernels_agree_with_scalar_squared_sum() {
        let mut a = [0f32; DIM];
        let mut b = [0f32; DIM];
        for i in 0..DIM {
            a[i] = (i as f32 * 0.37).sin();
            b[i] = (i as f32 * 0.11).cos() * 0.5;
        }
        let scalar: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        for k in [sq_kernel(), sq_portable as SqDist] {
            assert!((k(&a, &b) - scalar).abs() < 1e-3 * scalar, "{}", k(&a, &b));
        }
    }
}
