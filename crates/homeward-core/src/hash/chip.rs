//! The face-chip hash: a 256-bit DCT hash of the centre of an aligned face
//! chip, for "is this the same face crop?" across reposts.
//!
//! The face pipeline hands over a 150×150 chip (dlib style: face centred,
//! eyes level, 25 % padding), so the face itself fills roughly the central
//! 100×100 px and the corners hold hair, background, borders and captions
//! that vary between reposts. The hash therefore looks only at the central
//! 96×96 px: luma is averaged over 3×3 blocks to a 32×32 grid (which also
//! absorbs JPEG noise and sub-pixel alignment jitter), a 32-point DCT-II is
//! taken along both axes, and the 16×16 block of frequencies 1..=16 (the DC
//! term is dropped, so brightness does not matter) is thresholded at its
//! median, as PDQ does. Because the region is centred, a mirrored chip's hash
//! is the same block with odd horizontal frequencies negated; it is returned
//! too so mirrored reposts can be matched.
//!
//! Contrast guard: the standard deviation of the 32×32 grid. A nearly flat
//! chip (dark, blown out, blank) is refused, since its bits would be noise.

use image::RgbImage;

use super::pdq::bits_above_median;
use super::{Hash256, HashError};

/// Width and height of the aligned face chip, in pixels.
pub const CHIP_SIZE: u32 = 150;

/// Suggested Hamming distance at or under which two chip hashes are taken as
/// the same face crop. Provisional: measured on five face crops, a JPEG
/// re-encode moves 0–8 bits, a 1 px shift ~20, a 1.5° rotation ~25, a 3°
/// rotation ~45, while different faces sit at 108–140. Tune on real chips.
pub const CHIP_MATCH_THRESHOLD: u32 = 40;

/// Least luma standard deviation (0..255 scale) of the chip's central grid
/// for which a hash is returned.
pub const CHIP_MIN_CONTRAST: f32 = 4.0;

/// Side of the central region that is hashed.
const REGION: usize = 96;
/// Offset of the central region from the chip's top-left corner.
const OFFSET: usize = (CHIP_SIZE as usize - REGION) / 2;
/// Side of the averaged grid.
const GRID: usize = 32;
/// Pixels per grid cell along a side.
const CELL: usize = REGION / GRID;

/// A face-chip hash with its mirrored twin and contrast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipHash {
    /// Hash of the chip as given.
    pub hash: Hash256,
    /// Hash the left-right mirrored chip would have (up to float rounding).
    pub mirrored: Hash256,
    /// Luma standard deviation of the central grid (0..=127.5).
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
                    let x = (OFFSET + gx * CELL + dx) as u32;
                    let y = (OFFSET + gy * CELL + dy) as u32;
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

    let block = dct32_low16(&grid);
    let mut mirrored = block;
    for row in mirrored.iter_mut() {
        // Column j holds horizontal frequency j + 1; odd frequencies flip sign.
        for (j, v) in row.iter_mut().enumerate() {
            if j % 2 == 0 {
                *v = -*v;
            }
        }
    }
    Ok(ChipHash {
        hash: bits_above_median(&block),
        mirrored: bits_above_median(&mirrored),
        contrast,
    })
}

/// Frequencies 1..=16 of the 2-D DCT-II of a 32×32 grid (row = vertical
/// frequency − 1, column = horizontal frequency − 1).
fn dct32_low16(grid: &[[f64; GRID]; GRID]) -> [[f32; 16]; 16] {
    let mut basis = [[0f64; GRID]; 16];
    for (u, row) in basis.iter_mut().enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            let angle =
                std::f64::consts::PI * (u + 1) as f64 * (2 * x + 1) as f64 / (2 * GRID) as f64;
            *v = angle.cos();
        }
    }
    // Vertical pass: t[u][x] = sum_y basis[u][y] * grid[y][x].
    let mut t = [[0f64; GRID]; 16];
    for (u, t_row) in t.iter_mut().enumerate() {
        for (y, grid_row) in grid.iter().enumerate() {
            let c = basis[u][y];
            for (acc, g) in t_row.iter_mut().zip(grid_row) {
                *acc += c * g;
            }
        }
    }
    let mut out = [[0f32; 16]; 16];
    for (u, out_row) in out.iter_mut().enumerate() {
        for (v, o) in out_row.iter_mut().enumerate() {
            let s: f64 = t[u].iter().zip(&basis[v]).map(|(a, b)| a * b).sum();
            *o = s as f32;
        }
    }
    out
}
