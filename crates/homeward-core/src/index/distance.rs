//! Euclidean distance on embeddings, vectorised for the CPU it runs on.
//!
//! The graph's kernels take two slices of the index's dimension. 128 (dlib,
//! SFace) has its own fully unrolled AVX2+FMA kernel; any other dimension
//! runs the general one: 32 lanes at a time in four FMA chains, then 8 at a
//! time, then a scalar tail, so every multiple of 8 stays on the vector unit.

use super::DIM;

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

/// Squared Euclidean distance between two vectors of the index's
/// dimension: the graph's metric (same ranking as L2, no square root in
/// the hot loop). Both slices have the dimension the kernel was chosen for;
/// a shorter one is compared over the common length, never read past.
pub(crate) type SqDist = fn(&[f32], &[f32]) -> f32;

/// The fastest squared-distance kernel this CPU runs for `dim`, chosen once
/// per index.
pub(crate) fn sq_kernel(dim: usize) -> SqDist {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return if dim == DIM {
                sq_avx2_128_checked
            } else {
                sq_avx2_any_checked
            };
        }
    }
    if dim == DIM {
        sq_portable_128
    } else {
        sq_portable
    }
}

/// Portable kernel for 128: eight lanes the compiler vectorises with SSE.
fn sq_portable_128(a: &[f32], b: &[f32]) -> f32 {
    match (a.first_chunk::<DIM>(), b.first_chunk::<DIM>()) {
        (Some(a), Some(b)) => {
            let mut acc = [0f32; 8];
            for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
                for i in 0..8 {
                    let d = x[i] - y[i];
                    acc[i] += d * d;
                }
            }
            acc.iter().sum()
        }
        _ => sq_portable(a, b),
    }
}

/// Portable kernel for any dimension: eight lanes, then a scalar tail.
fn sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    acc.iter().sum::<f32>() + tail
}

/// Only ever handed out by [`sq_kernel`] after it detected AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
fn sq_avx2_128_checked(a: &[f32], b: &[f32]) -> f32 {
    match (a.first_chunk::<DIM>(), b.first_chunk::<DIM>()) {
        // SAFETY: this function is reachable only through `sq_kernel`,
        // which returns it only when the CPU reports AVX2 and FMA.
        (Some(a), Some(b)) => unsafe { sq_avx2_128(a, b) },
        _ => sq_avx2_any_checked(a, b),
    }
}

/// Only ever handed out by [`sq_kernel`] (or called from the 128 kernel)
/// after it detected AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
fn sq_avx2_any_checked(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: reachable only through `sq_kernel`, which hands out the AVX2
    // kernels only when the CPU reports AVX2 and FMA.
    unsafe { sq_avx2_any(a, b) }
}

/// Horizontal sum of eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(s: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    _mm_cvtss_f32(h)
}

/// 128 dimensions as 16 unaligned 8-lane loads per side, four FMA chains.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sq_avx2_128(a: &[f32; DIM], b: &[f32; DIM]) -> f32 {
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
    hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

/// Any dimension: blocks of 32 in four FMA chains, then blocks of 8, then a
/// scalar tail, over the common length of the two slices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sq_avx2_any(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8k + 8 <= i + 32 <= n, within both slices.
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
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, within both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        let d = _mm256_sub_ps(x, y);
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += 8;
    }
    let mut sum = hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ));
    for (x, y) in a[i..n].iter().zip(&b[i..n]) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let b = (0..n).map(|i| (i as f32 * 0.11).cos() * 0.5).collect();
        (a, b)
    }

    /// The plain reference: one running sum in f64.
    fn reference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y) * f64::from(x - y))
            .sum::<f64>() as f32
    }

    #[test]
    fn matches_scalar_sum() {
        let (a, b) = pair(131);
        assert!((l2(&a, &b) - reference(&a, &b).sqrt()).abs() < 1e-4);
    }

    #[test]
    fn kernels_agree_with_scalar_squared_sum() {
        let (a, b) = pair(DIM);
        let scalar = reference(&a, &b);
        for k in [sq_kernel(DIM), sq_portable_128 as SqDist] {
            assert!((k(&a, &b) - scalar).abs() < 1e-3 * scalar, "{}", k(&a, &b));
        }
    }

    #[test]
    fn general_kernel_equals_the_scalar_reference_at_every_dimension() {
        for dim in [1, 7, 8, 31, 33, 64, 128, 129, 512] {
            let (a, b) = pair(dim);
            // Scaled so that the squared distance is about 1 whatever the
            // dimension: the tolerance is then absolute, 1e-5.
            let s = reference(&a, &b).sqrt().max(1e-3);
            let a: Vec<f32> = a.iter().map(|x| x / s).collect();
            let b: Vec<f32> = b.iter().map(|x| x / s).collect();
            let want = reference(&a, &b);
            let mut kernels: Vec<(&str, SqDist)> =
                vec![("chosen", sq_kernel(dim)), ("portable", sq_portable)];
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(("avx2", sq_avx2_any_checked));
            }
            for (name, k) in kernels {
                let got = k(&a, &b);
                assert!(
                    (got - want).abs() <= 1e-5,
                    "{name} kernel at dim {dim}: {got}, reference {want}"
                );
            }
        }
    }

    #[test]
    fn the_128_kernels_fall_back_on_short_slices_instead_of_reading_past_them() {
        let (a, b) = pair(64);
        let want = reference(&a, &b);
        for k in [sq_kernel(DIM), sq_portable_128 as SqDist] {
            assert!((k(&a, &b) - want).abs() <= 1e-4 * want.max(1.0));
        }
    }
}
