//! The face-chip hash: a 256-bit DCT hash of an aligned face chip, for "is
//! this the same face crop?" across reposts.
//!
//! The face pipeline hands over a 150×150 chip (dlib style: face centred,
//! eyes level, 25 % padding). The hash looks at a 132×132 px region: luma is
//! averaged over 4×4 blocks to a 33×33 grid (absorbing JPEG noise), a 33-point
//! DCT-II is taken along both axes, and the 256 lowest frequencies by radius
//! (`u² + v²`, the DC term dropped so brightness does not matter) are
//! thresholded at their median, as PDQ does.
//!
//! Why this region and band (measured with `homeward eval dupes` on LFW, see
//! `docs/adr-dupes.md`): an edited copy is re-detected and re-aligned, and
//! its landmarks land 1–2 px away from the original's (blur moves them most).
//! Such a shift turns the phase of a frequency in proportion to the frequency
//! over the region's side, so a larger region and the lowest 256 frequencies
//! (a quarter disc, highest radius ≈ 18 of 33, instead of the 16×16 square up
//! to the corner at 16·√2 of 32 over 96 px) keep the bits stable; the padding
//! this brings in barely moved the crop, pad and caption edits.
//!
//! Mirroring: the 5-point template dlib aligns to is symmetric about
//! `x = 0.4901` of its unit square, which falls at chip column 73.5, not at
//! the chip's middle (74.5). The chip of a mirrored photo is therefore the
//! original chip mirrored about column 73.5, i.e. `flip(chip)` shifted by
//! 2 px. The region is centred on that column (columns 8..=139), so the
//! mirrored photo's region is exactly the mirrored region, and its hash is
//! the same coefficients with odd horizontal frequencies negated: that twin
//! is returned too, so mirrored reposts are matched without re-hashing.
//!
//! Contrast guard: the standard deviation of the 33×33 grid. A nearly flat
//! chip (dark, blown out, blank) is refused, since its bits would be noise.

use image::RgbImage;

use super::pdq::bits_above_median;
use super::{Hash256, HashError};

/// Width and height of the aligned face chip, in pixels.
pub const CHIP_SIZE: u32 = 150;

/// Version of the chip hash's definition. Hashes stored under another
/// version are not comparable and must be recomputed from the chips.
/// Version 2: 132 px region centred on the template's axis, 33×33 grid,
/// 256 lowest frequencies by radius (version 1: central 96 px, 32×32 grid,
/// 16×16 square of frequencies 1..=16).
pub const CHIP_HASH_VERSION: u32 = 2;

/// Least luma standard deviation (0..255 scale) of the chip's hashed grid
/// for which a hash is returned.
pub const CHIP_MIN_CONTRAST: f32 = 4.0;

/// Side of the hashed region.
const REGION: usize = 132;
/// Column of the region's left edge: the region spans columns 8..=139,
/// centred on column 73.5, the template's axis of symmetry.
const OFFSET_X: usize = 8;
/// Row of the region's top edge: rows 9..=140, centred on the chip.
const OFFSET_Y: usize = (CHIP_SIZE as usize - REGION) / 2;
/// Side of the averaged grid.
const GRID: usize = 33;
/// Pixels per grid cell along a side.
const CELL: usize = REGION / GRID;
/// Number of hashed frequencies (one bit each).
const BITS: usize = 256;

/// A face-chip hash with its mirrored twin and contrast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipHash {
    /// Hash of the chip as given.
    pub hash: Hash256,
    /// Hash the chip of the left-right mirrored photo would have (up to
    /// float rounding and landmark jitter): the chip mirrored about the
    /// template's axis, column 73.5. That is `flip_horizontal(chip)` shifted
    /// 2 px to the left, not `flip_horizontal(chip)` itself.
    pub mirrored: Hash256,
    /// Luma standard deviation of the hashed grid (0..=127.5).
    pub contrast: f32,
}

/// Hashes an aligned 150×150 face chip.
///
/// Fails with [`HashError::ChipSize`] for any other size and
/// [`HashError::ChipLowContrast`] below [`CHIP_MIN_CONTRAST`].
///
/// ```
/// use homeward_core::hash::chip_hash;
/// use image::{Rgb, RgbImage};
/// let chip = RgbImage::from_fn(150, 150, |x, y| Rgb([((x * y) % 256) as u8, x as u8, y as u8]));
/// let h = chip_hash(&chip)?;
/// assert_eq!(h.hash.count_ones(), 128);
/// assert!(chip_hash(&RgbImage::new(150, 150)).is_err()); // flat black
/// # Ok::<(), homeward_core::hash::HashError>(())
/// ```
pub fn chip_hash(chip: &RgbImage) -> Result<ChipHash, HashError> {
    let (width, height) = chip.dimensions();
    if width != CHIP_SIZE || height != CHIP_SIZE {
        return Err(HashError::ChipSize {
            width,
            height,
            expected: CHIP_SIZE,
        });
    }

    let mut grid = [[0f64; GRID]; GRID];
    for (gy, grid_row) in grid.iter_mut().enumerate() {
        for (gx, cell) in grid_row.iter_mut().enumerate() {
            let mut sum = 0f64;
            for dy in 0..CELL {
                for dx in 0..CELL {
                    let x = (OFFSET_X + gx * CELL + dx) as u32;
                    let y = (OFFSET_Y + gy * CELL + dy) as u32;
                    let [r, g, b] = chip.get_pixel(x, y).0;
                    sum += 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
                }
            }
            *cell = sum / (CELL * CELL) as f64;
        }
    }

    let n = (GRID * GRID) as f64;
    let mean = grid.iter().flatten().sum::<f64>() / n;
    let variance = grid
        .iter()
        .flatten()
        .map(|v| (v - mean).powi(2))
        .sum::<f64>()
        / n;
    let contrast = variance.sqrt() as f32;
    if contrast.is_nan() || contrast < CHIP_MIN_CONTRAST {
        return Err(HashError::ChipLowContrast {
            contrast,
            min: CHIP_MIN_CONTRAST,
        });
    }

    let (block, mirrored) = low_band(&grid);
    Ok(ChipHash {
        hash: bits_above_median(&block),
        mirrored: bits_above_median(&mirrored),
        contrast,
    })
}

/// The `BITS` hashed frequencies `(vertical u, horizontal v)`: all but DC,
/// ordered by `u² + v²`, then `u`; the first `BITS` of them.
fn band() -> &'static [(usize, usize)] {
    static BAND: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    BAND.get_or_init(|| {
        let mut all: Vec<(usize, usize)> = (0..GRID)
            .flat_map(|u| (0..GRID).map(move |v| (u, v)))
            .filter(|&f| f != (0, 0))
            .collect();
        all.sort_by_key(|&(u, v)| (u * u + v * v, u));
        all.truncate(BITS);
        all
    })
}

/// The band's DCT-II coefficients of the grid, laid out 16×16 in band order
/// (coefficient `k` at `[k / 16][k % 16]`), and the same for the mirrored
/// grid (odd horizontal frequencies negated).
fn low_band(grid: &[[f64; GRID]; GRID]) -> ([[f32; 16]; 16], [[f32; 16]; 16]) {
    let band = band();
    let top = band.iter().map(|&(u, v)| u.max(v)).max().unwrap_or(0) + 1;
    let basis: Vec<[f64; GRID]> = (0..top)
        .map(|u| {
            let mut row = [0f64; GRID];
            for (x, c) in row.iter_mut().enumerate() {
                let angle =
                    std::f64::consts::PI * u as f64 * (2 * x + 1) as f64 / (2 * GRID) as f64;
                *c = angle.cos();
            }
            row
        })
        .collect();
    // Vertical pass: t[u][x] = sum_y basis[u][y] * grid[y][x].
    let mut t = vec![[0f64; GRID]; top];
    for (t_row, b_row) in t.iter_mut().zip(&basis) {
        for (c, grid_row) in b_row.iter().zip(grid) {
            for (acc, g) in t_row.iter_mut().zip(grid_row) {
                *acc += c * g;
            }
        }
    }
    let mut block = [[0f32; 16]; 16];
    let mut mirrored = [[0f32; 16]; 16];
    for (k, &(u, v)) in band.iter().enumerate() {
        let s: f64 = t[u].iter().zip(&basis[v]).map(|(a, b)| a * b).sum();
        block[k / 16][k % 16] = s as f32;
        mirrored[k / 16][k % 16] = if v % 2 == 1 { -s as f32 } else { s as f32 };
    }
    (block, mirrored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn band_is_the_256_lowest_frequencies_without_dc() {
        let band = band();
        assert_eq!(band.len(), BITS);
        let mut unique = band.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), BITS);
        assert!(!band.contains(&(0, 0)));
        let radius = |&(u, v): &(usize, usize)| u * u + v * v;
        let widest = band.iter().map(radius).max().unwrap_or(0);
        for u in 0..GRID {
            for v in 0..GRID {
                if (u, v) != (0, 0) && !band.contains(&(u, v)) {
                    assert!(radius(&(u, v)) >= widest, "({u}, {v}) left out");
                }
            }
        }
    }

    #[test]
    fn region_is_symmetric_about_the_template_axis() {
        // Columns 8..=139: mirroring about 73.5 maps x to 147 - x.
        assert_eq!(OFFSET_X + (OFFSET_X + REGION - 1), 147);
        assert_eq!(OFFSET_Y + REGION + OFFSET_Y, CHIP_SIZE as usize);
        assert_eq!(CELL * GRID, REGION);
    }

    #[test]
    fn mirrored_twin_is_the_hash_of_the_chip_mirrored_about_the_axis() {
        let chip = RgbImage::from_fn(CHIP_SIZE, CHIP_SIZE, |x, y| {
            Rgb([
                ((x * 7 + y * y) % 251) as u8,
                (x * y % 241) as u8,
                (y * 3) as u8,
            ])
        });
        let h = chip_hash(&chip).expect("textured chip");
        let about_axis = RgbImage::from_fn(CHIP_SIZE, CHIP_SIZE, |x, y| {
            *chip.get_pixel(147u32.saturating_sub(x), y)
        });
        let m = chip_hash(&about_axis).expect("textured chip");
        assert!(
            m.hash.distance(&h.mirrored) <= 2,
            "{}",
            m.hash.distance(&h.mirrored)
        );
        assert!(m.mirrored.distance(&h.hash) <= 2);
        assert!(
            m.hash.distance(&h.hash) > 64,
            "a mirror is not the same crop"
        );
    }
}
