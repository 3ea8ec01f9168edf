//! Affine maps between pixel coordinates, and the similarity fit dlib uses.

/// An affine map `p ↦ m·p + b` between pixel coordinates (`[x, y]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Linear part, row-major.
    pub m: [[f64; 2]; 2],
    /// Translation.
    pub b: [f64; 2],
}

impl Affine {
    /// The image of `p`.
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.m[0][0] * p[0] + self.m[0][1] * p[1] + self.b[0],
            self.m[1][0] * p[0] + self.m[1][1] * p[1] + self.b[1],
        ]
    }

    /// The map from `from[i]` to `to[i]` for three points placed at a chip's
    /// corners `(0,0)`, `(w,0)` and `(0,h)`.
    pub(crate) fn from_corners(w: f64, h: f64, tl: [f64; 2], tr: [f64; 2], bl: [f64; 2]) -> Affine {
        let col = |to: [f64; 2], len: f64| {
            if len == 0.0 {
                [0.0, 0.0]
            } else {
                [(to[0] - tl[0]) / len, (to[1] - tl[1]) / len]
            }
        };
        let (cx, cy) = (col(tr, w), col(bl, h));
        Affine {
            m: [[cx[0], cy[0]], [cx[1], cy[1]]],
            b: tl,
        }
    }
}

/// dlib's `find_similarity_transform` (Umeyama's least squares fit of
/// rotation, uniform scale and translation). In 2-D the SVD solution has a
/// closed form: `c·R = [[p, -q], [q, p]] / σ²_from` with `p = cov₀₀ + cov₁₁`
/// and `q = cov₁₀ − cov₀₁`, which also covers dlib's reflection fix.
pub(crate) fn similarity_transform(from: &[[f64; 2]], to: &[[f64; 2]]) -> Affine {
    let n = from.len().min(to.len()) as f64;
    let mean = |pts: &[[f64; 2]]| {
        let s = pts
            .iter()
            .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    let (mf, mt) = (mean(from), mean(to));
    let mut sigma_from = 0.0;
    let mut cov = [[0.0f64; 2]; 2];
    for (f, t) in from.iter().zip(to) {
        let df = [f[0] - mf[0], f[1] - mf[1]];
        let dt = [t[0] - mt[0], t[1] - mt[1]];
        sigma_from += df[0] * df[0] + df[1] * df[1];
        for (i, row) in cov.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                *c += dt[i] * df[j];
            }
        }
    }
    sigma_from /= n;
    let (p, q) = ((cov[0][0] + cov[1][1]) / n, (cov[1][0] - cov[0][1]) / n);
    let m = if sigma_from != 0.0 {
        [
            [p / sigma_from, -q / sigma_from],
            [q / sigma_from, p / sigma_from],
        ]
    } else {
        [[1.0, 0.0], [0.0, 1.0]]
    };
    let mut t = Affine { m, b: [0.0, 0.0] };
    let moved = t.apply(mf);
    t.b = [mt[0] - moved[0], mt[1] - moved[1]];
    t
}
