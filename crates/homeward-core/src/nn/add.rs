//! dlib's `add_prev`: elementwise sum of two activations whose shapes may
//! differ. The output takes the larger size in each dimension; where one
//! input is smaller, its missing elements count as zero (this is how a
//! residual block with more channels absorbs its narrower shortcut).

use ndarray::{s, Array3};

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
}
