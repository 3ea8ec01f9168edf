//! PDQ, Meta's 256-bit photo hash, computed bit for bit as the published
//! reference does (ThreatExchange `pdq/cpp`, `pdqhashing.cpp`).
//!
//! Pipeline: RGB → f32 luma (0.299, 0.587, 0.114) → two passes of a
//! horizontal-then-vertical box filter whose windows come from the image size
//! (Jarosz's tent approximation) → point-sample a 64×64 grid → the 16×16 block
//! of DCT-II frequencies 1..=16 in each direction → one bit per coefficient,
//! set when it is above the median. Quality counts strong gradients in the
//! 64×64 grid. The eight dihedral variants are sign flips and transposes of
//! the 16×16 DCT block, so no transformed image is ever hashed.
//!
//! Every float operation keeps the reference's type (f32, or f64 where the
//! reference uses double) and order, so the hashes are bit-identical.

use image::RgbImage;

use super::{Hash256, HashError};

/// Smallest width and height accepted, in pixels.
///
/// The reference hashes anything from 5 px up. Under 128 px its box filter
/// is one pixel wide and the 64×64 working grid is a nearest-pixel resampling
/// of the photo. The hash keeps DCT frequencies 1..=16 of that grid, at most
/// 8 cycles across the photo, which a photo of 32 px still holds twice over
/// (Nyquist needs 16); below that the top of the band is resampling
/// artefact. So a quarter-size copy of a 250 px photo (62 px) is hashed, and
/// a thumbnail under 32 px is refused. Measured in `docs/adr-dupes.md`.
pub const PDQ_MIN_SIDE: u32 = 32;

/// Quality below which Meta advises discarding a PDQ hash (too flat to be
/// distinctive; such hashes match unrelated photos).
pub const PDQ_MIN_QUALITY: u8 = 50;

/// A PDQ hash with its quality (0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqHash {
    /// The 256-bit hash.
    pub hash: Hash256,
    /// Gradient-based quality, 0..=100; see [`PDQ_MIN_QUALITY`].
    pub quality: u8,
}

/// The PDQ hashes of a photo under the eight rotations and mirrorings.
///
/// `hashes[k]` is close to (typically within 0–25 bits of, since the
/// sampling grid is not symmetric) the PDQ hash of the photo after transform
/// `k`, in the reference's order: original, rotated 90° counter-clockwise,
/// 180°, 270° counter-clockwise, mirrored top-bottom (the reference's "flip
/// X"), mirrored left-right ("flip Y"), transposed, anti-transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqDihedral {
    /// The eight hashes, in the order documented above.
    pub hashes: [Hash256; 8],
    /// Quality, shared by all eight.
    pub quality: u8,
}

impl PdqDihedral {
    /// Index of the untransformed photo's hash.
    pub const ORIGINAL: usize = 0;
    /// Index of the 90° counter-clockwise rotation.
    pub const ROTATE_90: usize = 1;
    /// Index of the 180° rotation.
    pub const ROTATE_180: usize = 2;
    /// Index of the 270° counter-clockwise (90° clockwise) rotation.
    pub const ROTATE_270: usize = 3;
    /// Index of the top-bottom mirror (rows reversed).
    pub const FLIP_X: usize = 4;
    /// Index of the left-right mirror (columns reversed).
    pub const FLIP_Y: usize = 5;
    /// Index of the transpose (mirror about the main diagonal).
    pub const FLIP_PLUS1: usize = 6;
    /// Index of the anti-transpose (mirror about the other diagonal).
    pub const FLIP_MINUS1: usize = 7;
}

/// Computes the PDQ hash and quality of a photo.
///
/// Fails with [`HashError::ImageTooSmall`] under [`PDQ_MIN_SIDE`] px on a side.
///
/// ```
/// use homeward_core::hash::pdq;
/// use image::{Rgb, RgbImage};
/// let photo = RgbImage::from_fn(100, 80, |x, y| Rgb([(x * 2) as u8, (y * 3) as u8, 9]));
/// let h = pdq(&photo)?;
/// assert_eq!(h.hash.to_hex().len(), 64);
/// assert!(pdq(&RgbImage::new(31, 40)).is_err());
/// # Ok::<(), homeward_core::hash::HashError>(())
/// ```
pub fn pdq(image: &RgbImage) -> Result<PdqHash, HashError> {
    let (dct, quality) = dct16_of(image, true)?;
    Ok(PdqHash {
        hash: bits_above_median(&dct),
        quality,
    })
}

/// Computes the eight dihedral PDQ hashes of a photo from one DCT.
///
/// Like the reference, this path always runs the box filter, even on a photo
/// of exactly 64×64 px, so its `ORIGINAL` hash can differ from [`pdq`]'s by a
/// bit or two on such photos (never on others).
pub fn pdq_dihedral(image: &RgbImage) -> Result<PdqDihedral, HashError> {
    let (a, quality) = dct16_of(image, false)?;
    let sign = |negate: bool, v: f32| if negate { -v } else { v };
    let mut variants = [[[0f32; 16]; 16]; 8];
    for i in 0..16 {
        for j in 0..16 {
            let v = a[i][j];
            let (i_odd, j_odd, ij_odd) = (i % 2 == 1, j % 2 == 1, (i + j) % 2 == 1);
            variants[0][i][j] = v;
            variants[1][j][i] = sign(!j_odd, v);
            variants[2][i][j] = sign(ij_odd, v);
            variants[3][j][i] = sign(!i_odd, v);
            variants[4][i][j] = sign(!i_odd, v);
            variants[5][i][j] = sign(!j_odd, v);
            variants[6][j][i] = v;
            variants[7][j][i] = sign(ij_odd, v);
        }
    }
    let mut hashes = [Hash256::ZERO; 8];
    for (h, d) in hashes.iter_mut().zip(variants.iter()) {
        *h = bits_above_median(d);
    }
    Ok(PdqDihedral { hashes, quality })
}

type Block16 = [[f32; 16]; 16];

/// Luma, downsample, quality and DCT. `copy_exact_64` mirrors the reference's
/// shortcut in its single-hash path: a 64×64 input is used as is.
fn dct16_of(image: &RgbImage, copy_exact_64: bool) -> Result<(Block16, u8), HashError> {
    let (width, height) = image.dimensions();
    if width < PDQ_MIN_SIDE || height < PDQ_MIN_SIDE {
        return Err(HashError::ImageTooSmall {
            width,
            height,
            min: PDQ_MIN_SIDE,
        });
    }
    let (cols, rows) = (width as usize, height as usize);
    let mut luma: Vec<f32> = image
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            0.299f32 * f32::from(r) + 0.587f32 * f32::from(g) + 0.114f32 * f32::from(b)
        })
        .collect();

    let grid = if copy_exact_64 && rows == 64 && cols == 64 {
        let mut grid = [[0f32; 64]; 64];
        for (row, src) in grid.iter_mut().zip(luma.chunks_exact(64)) {
            row.copy_from_slice(src);
        }
        grid
    } else {
        jarosz_filter(&mut luma, rows, cols);
        decimate(&luma, rows, cols)
    };
    let quality = quality_of(&grid);
    Ok((dct64_to_16(&grid), quality))
}

fn jarosz_window(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// Two passes of box-along-rows then box-along-columns, in place.
fn jarosz_filter(buf: &mut [f32], rows: usize, cols: usize) {
    let along_rows = jarosz_window(cols, 64);
    let along_cols = jarosz_window(rows, 64);
    let mut tmp = vec![0f32; buf.len()];
    for _ in 0..2 {
        for (src, dst) in buf.chunks_exact(cols).zip(tmp.chunks_exact_mut(cols)) {
            box_1d(src, dst, along_rows);
        }
        box_columns(&tmp, buf, rows, cols, along_cols);
    }
}

/// The reference's running-sum box filter with a shrinking window at both
/// ends: output `o` averages the inputs from `o - (w+2)/2 + 1` up to
/// `o + w - (w+2)/2`, clipped to the vector. Requires `1 <= w <= len`.
fn box_1d(input: &[f32], out: &mut [f32], window: usize) {
    let half = (window + 2) / 2;
    let len = input.len();
    let mut sum = 0f32;
    let mut count = 0usize;
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    for _ in 0..half - 1 {
        sum += input[ri];
        count += 1;
        ri += 1;
    }
    for _ in 0..window - half + 1 {
        sum += input[ri];
        count += 1;
        out[oi] = sum / count as f32;
        ri += 1;
        oi += 1;
    }
    for _ in 0..len - window {
        sum += input[ri];
        sum -= input[li];
        out[oi] = sum / count as f32;
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..half - 1 {
        sum -= input[li];
        count -= 1;
        out[oi] = sum / count as f32;
        li += 1;
        oi += 1;
    }
}

/// [`box_1d`] down every column at once, sweeping rows so memory is read in
/// order. Each column sees exactly the same float operations as [`box_1d`].
fn box_columns(input: &[f32], out: &mut [f32], rows: usize, cols: usize, window: usize) {
    let half = (window + 2) / 2;
    let mut sums = vec![0f32; cols];
    let mut count = 0usize;
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    let row = |r: usize| &input[r * cols..(r + 1) * cols];
    for _ in 0..half - 1 {
        sums.iter_mut().zip(row(ri)).for_each(|(s, v)| *s += v);
        count += 1;
        ri += 1;
    }
    for _ in 0..window - half + 1 {
        sums.iter_mut().zip(row(ri)).for_each(|(s, v)| *s += v);
        count += 1;
        let n = count as f32;
        let dst = &mut out[oi * cols..(oi + 1) * cols];
        dst.iter_mut().zip(&sums).for_each(|(d, s)| *d = s / n);
        ri += 1;
        oi += 1;
    }
    for _ in 0..rows - window {
        let (add, sub) = (row(ri), row(li));
        let n = count as f32;
        let dst = &mut out[oi * cols..(oi + 1) * cols];
        for (((s, a), b), d) in sums.iter_mut().zip(add).zip(sub).zip(dst.iter_mut()) {
            *s += a;
            *s -= b;
            *d = *s / n;
        }
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..half - 1 {
        sums.iter_mut().zip(row(li)).for_each(|(s, v)| *s -= v);
        count -= 1;
        let n = count as f32;
        let dst = &mut out[oi * cols..(oi + 1) * cols];
        dst.iter_mut().zip(&sums).for_each(|(d, s)| *d = s / n);
        li += 1;
        oi += 1;
    }
}

/// Point-samples the filtered image at the centres of a 64×64 grid.
fn decimate(buf: &[f32], rows: usize, cols: usize) -> [[f32; 64]; 64] {
    let mut grid = [[0f32; 64]; 64];
    for (oi, out_row) in grid.iter_mut().enumerate() {
        let i = ((oi as f64 + 0.5) * rows as f64 / 64.0) as usize;
        for (oj, v) in out_row.iter_mut().enumerate() {
            let j = ((oj as f64 + 0.5) * cols as f64 / 64.0) as usize;
            *v = buf[i * cols + j];
        }
    }
    grid
}

/// Sum of quantised vertical and horizontal gradients, scaled to 0..=100.
fn quality_of(grid: &[[f32; 64]; 64]) -> u8 {
    let step = |u: f32, v: f32| (((u - v) * 100f32) / 255f32) as i32;
    let mut sum: i32 = 0;
    for pair in grid.windows(2) {
        for (u, v) in pair[0].iter().zip(&pair[1]) {
            sum += step(*u, *v).abs();
        }
    }
    for row in grid {
        for pair in row.windows(2) {
            sum += step(pair[0], pair[1]).abs();
        }
    }
    (sum / 90).min(100) as u8
}

/// Rows 1..=16 of the 64-point orthonormal DCT-II, as f32 like the reference.
fn dct_matrix() -> [[f32; 64]; 16] {
    let scale = (2.0f64 / 64.0).sqrt() as f32;
    let mut d = [[0f32; 64]; 16];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let angle = (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
            *v = (f64::from(scale) * angle.cos()) as f32;
        }
    }
    d
}

/// `B = D · A · Dᵀ`, summing in index order in f32 as the reference does.
fn dct64_to_16(a: &[[f32; 64]; 64]) -> Block16 {
    let d = dct_matrix();
    let mut t = [[0f32; 64]; 16];
    for (i, t_row) in t.iter_mut().enumerate() {
        for (j, t_ij) in t_row.iter_mut().enumerate() {
            let mut sum = 0f32;
            for k in 0..64 {
                sum += d[i][k] * a[k][j];
            }
            *t_ij = sum;
        }
    }
    let mut b = [[0f32; 16]; 16];
    for (i, b_row) in b.iter_mut().enumerate() {
        for (j, b_ij) in b_row.iter_mut().enumerate() {
            let mut sum = 0f32;
            for k in 0..64 {
                sum += t[i][k] * d[j][k];
            }
            *b_ij = sum;
        }
    }
    b
}

/// One bit per coefficient: set when above the median. The reference's
/// median (Torben's method) returns the 128th smallest of the 256 values.
pub(super) fn bits_above_median(block: &Block16) -> Hash256 {
    let mut sorted: Vec<f32> = block.iter().flatten().copied().collect();
    sorted.sort_unstable_by(f32::total_cmp);
    let median = sorted[127];
    let mut hash = Hash256::ZERO;
    for (k, v) in block.iter().flatten().enumerate() {
        if *v > median {
            hash.set_bit(k);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_filter_matches_direct_window_average_shape() {
        // Window 3 on 6 values: outputs average a centred window clipped at the ends.
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 6];
        box_1d(&input, &mut out, 3);
        assert_eq!(out, [1.5, 2.0, 3.0, 4.0, 5.0, 5.5]);
    }

    #[test]
    fn column_sweep_equals_per_column_filter() {
        let (rows, cols) = (37, 5);
        let input: Vec<f32> = (0..rows * cols)
            .map(|k| ((k * 7919) % 251) as f32 * 0.37)
            .collect();
        for window in [1, 2, 3, 8, 37] {
            let mut swept = vec![0f32; rows * cols];
            box_columns(&input, &mut swept, rows, cols, window);
            for c in 0..cols {
                let column: Vec<f32> = (0..rows).map(|r| input[r * cols + c]).collect();
                let mut expect = vec![0f32; rows];
                box_1d(&column, &mut expect, window);
                let got: Vec<f32> = (0..rows).map(|r| swept[r * cols + c]).collect();
                assert_eq!(got, expect, "window {window} column {c}");
            }
        }
    }

    #[test]
    fn median_split_sets_half_the_bits_on_distinct_values() {
        let mut block = [[0f32; 16]; 16];
        for (k, v) in block.iter_mut().flatten().enumerate() {
            *v = ((k * 97) % 256) as f32;
        }
        let h = bits_above_median(&block);
        assert_eq!(h.count_ones(), 128);
        // value 255 is above the median, value 0 is not
        let k255 = (0..256).find(|k| (k * 97) % 256 == 255).unwrap_or(0);
        assert!(h.bit(k255));
        assert!(!h.bit(0));
    }
}
