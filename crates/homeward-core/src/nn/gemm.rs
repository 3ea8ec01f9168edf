//! Single-precision GEMM for the convolutions: the `gemm` crate's f32 kernels
//! (AVX-512, AVX2+FMA or scalar, chosen once at run time).
//!
//! Each call runs on the calling thread (`Parallelism::None`): the layers
//! split their work into tiles themselves and hand those to rayon, so the
//! global rayon pool (and a `--threads` setting) bounds all parallelism.

use gemm_common::Parallelism;

/// A strided matrix view: `rows × cols`, element `(i, j)` at
/// `i·stride + j·col_stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
    pub col_stride: usize,
}

impl Mat {
    /// Row-major, `stride` floats between rows.
    pub fn row_major(rows: usize, cols: usize, stride: usize) -> Self {
        Mat {
            rows,
            cols,
            stride,
            col_stride: 1,
        }
    }

    /// Whether every element lies within `len` floats.
    fn fits(&self, len: usize) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.stride + (self.cols - 1) * self.col_stride < len
    }
}

/// `c ← c + a·b` when `accumulate`, else `c ← a·b`.
///
/// # Safety
/// `c` must point to a `c_mat.rows × c_mat.cols` matrix with row stride
/// `c_mat.stride` and column stride 1 that nothing else reads or writes
/// during the call.
pub(crate) unsafe fn sgemm_raw(
    a: &[f32],
    a_mat: Mat,
    b: &[f32],
    b_mat: Mat,
    c: *mut f32,
    c_mat: Mat,
    accumulate: bool,
) {
    let (m, k, n) = (a_mat.rows, a_mat.cols, b_mat.cols);
    assert!(
        a_mat.fits(a.len()) && b_mat.fits(b.len()),
        "GEMM operand out of bounds"
    );
    assert!(b_mat.rows == k && c_mat.rows == m && c_mat.cols == n && n <= c_mat.stride);
    assert!(c_mat.col_stride == 1, "GEMM output must be row-major");
    if m == 0 || n == 0 {
        return;
    }
    let gemm = gemm_f32::gemm::f32::get_gemm_fn();
    // SAFETY: the operand bounds are checked above; `c` is the caller's.
    unsafe {
        gemm(
            m,
            n,
            k,
            c,
            1,
            c_mat.stride as isize,
            accumulate,
            a.as_ptr(),
            a_mat.col_stride as isize,
            a_mat.stride as isize,
            b.as_ptr(),
            b_mat.col_stride as isize,
            b_mat.stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Safe form of [`sgemm_raw`] on a slice.
#[cfg(test)]
pub(crate) fn sgemm(
    a: &[f32],
    a_mat: Mat,
    b: &[f32],
    b_mat: Mat,
    c: &mut [f32],
    c_mat: Mat,
    accumulate: bool,
) {
    assert!(c_mat.fits(c.len()), "GEMM output out of bounds");
    // SAFETY: `c` is borrowed mutably for the call and large enough.
    unsafe { sgemm_raw(a, a_mat, b, b_mat, c.as_mut_ptr(), c_mat, accumulate) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_triple_loop_with_strides() {
        let (m, k, n) = (37, 53, 29);
        let a: Vec<f32> = (0..m * (k + 3))
            .map(|i| ((i * 7) % 13) as f32 - 6.0)
            .collect();
        let b: Vec<f32> = (0..k * (n + 5))
            .map(|i| ((i * 5) % 11) as f32 - 5.0)
            .collect();
        let mut c = vec![1.0f32; m * (n + 2)];
        let am = Mat::row_major(m, k, k + 3);
        let bm = Mat::row_major(k, n, n + 5);
        let cm = Mat::row_major(m, n, n + 2);
        sgemm(&a, am, &b, bm, &mut c, cm, true);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0
                    + (0..k)
                        .map(|p| a[i * (k + 3) + p] * b[p * (n + 5) + j])
                        .sum::<f32>();
                // Small integers: exact in any summation order.
                assert_eq!(c[i * (n + 2) + j], want, "({i}, {j})");
            }
            // The padding columns are untouched.
            assert_eq!(c[i * (n + 2) + n], 1.0);
        }
        // A read through its transpose (column-major): same product.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * (k + 3) + i / m]).collect();
        let mut c2 = vec![1.0f32; m * (n + 2)];
        let am_t = Mat {
            rows: m,
            cols: k,
            stride: 1,
            col_stride: m,
        };
        sgemm(&at, am_t, &b, bm, &mut c2, cm, true);
        assert_eq!(c, c2);
    }
}
