//! dlib's `add_prev`: elementwise sum of two activations whose shapes may
//! differ. The output takes the larger size in each dimension; where one
//! input is smaller, its missing elements count as zero (this is how a
//! residual block with more channels absorbs its narrower shortcut).

use ndarray::{s, Array3};

use super::Tensor;

/// `a + b` with dlib's zero padding to the larger shape.
pub fn add_zero_padded(a: &Array3<f32>, b: &Array3<f32>) -> Array3<f32> {
    if a.dim() == b.dim() {
        return a + b;
    }
    let (ac, ah, aw) = a.dim();
    let (bc, bh, bw) = b.dim();
    let mut out = Array3::<f32>::zeros((ac.max(bc), ah.max(bh), aw.max(bw)));
    out.slice_mut(s![..ac, ..ah, ..aw]).assign(a);
    let mut part = out.slice_mut(s![..bc, ..bh, ..bw]);
    part += b;
    out
}

/// `a + b` over batches with dlib's zero padding, reusing `a`'s buffer when
/// it already has the larger shape (the usual residual case).
pub fn add_tensors(mut a: Tensor, b: &Tensor) -> Tensor {
    let (ac, an, ah, aw) = a.dim();
    let (bc, bn, bh, bw) = b.dim();
    if (ac, an, ah, aw) == (bc, bn, bh, bw) {
        for (x, y) in a.as_mut_slice().iter_mut().zip(b.as_slice()) {
            *x += y;
        }
        return a;
    }
    let dims = (ac.max(bc), an.max(bn), ah.max(bh), aw.max(bw));
    let mut out = if a.dim() == dims {
        a
    } else {
        let mut out = Tensor::zeros(dims.0, dims.1, dims.2, dims.3);
        accumulate(&mut out, &a);
        out
    };
    accumulate(&mut out, b);
    out
}

/// `out += x` over `x`'s extent (`out` is at least as large in each dimension).
fn accumulate(out: &mut Tensor, x: &Tensor) {
    let (_, on, oh, ow) = out.dim();
    let (xc, xn, xh, xw) = x.dim();
    if xw == 0 {
        return;
    }
    let src = x.as_slice();
    let dst = out.as_mut_slice();
    for c in 0..xc {
        for n in 0..xn {
            for y in 0..xh {
                let s = &src[((c * xn + n) * xh + y) * xw..][..xw];
                let d = &mut dst[((c * on + n) * oh + y) * ow..][..xw];
                for (d, s) in d.iter_mut().zip(s) {
                    *d += s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrower_input_is_zero_padded() {
        let a = Array3::from_elem((1, 2, 2), 1.0);
        let b = Array3::from_elem((2, 2, 2), 2.0);
        let y = add_zero_padded(&a, &b);
        assert_eq!(y.dim(), (2, 2, 2));
        assert_eq!(y[[0, 0, 0]], 3.0);
        assert_eq!(y[[1, 1, 1]], 2.0);
    }

    #[test]
    fn batched_add_matches_per_sample_add() {
        let a = Tensor::from_vec(1, 2, 2, 2, (0..8).map(|v| v as f32).collect()).unwrap();
        let b = Tensor::from_vec(2, 2, 1, 2, (10..18).map(|v| v as f32).collect()).unwrap();
        let sum = add_tensors(a.clone(), &b);
        assert_eq!(sum.dim(), (2, 2, 2, 2));
        for s in 0..2 {
            let want = add_zero_padded(&a.sample(s).unwrap(), &b.sample(s).unwrap());
            assert_eq!(sum.sample(s).unwrap(), want);
        }
        let same = add_tensors(b.clone(), &b);
        assert_eq!(same.as_slice()[3], 26.0);
    }
}
