//! Perceptual hashes: "is this the same photo?" (PDQ) and "is this the same
//! face crop?" (chip hash), plus an exact Hamming-radius index over both.
//!
//! Both hashes are 256 bits ([`Hash256`]) and are compared by Hamming
//! distance. A small distance means the same picture, re-encoded, resized or
//! lightly edited; it never means the same child. Callers should drop hashes
//! whose quality is low ([`PDQ_MIN_QUALITY`]) because they match too easily.
//!
//! ```
//! use homeward_core::hash::{pdq, HammingIndex, HashKind};
//! use image::{Rgb, RgbImage};
//!
//! let photo = RgbImage::from_fn(200, 120, |x, y| Rgb([(x * 7 % 256) as u8, (y * 3) as u8, ((x + y) % 256) as u8]));
//! let h = pdq(&photo)?;
//! let mut index = HammingIndex::new(HashKind::Pdq);
//! index.add(42, h.hash)?;
//! assert_eq!(index.query(&h.hash, 31), vec![(42, 0)]);
//! # Ok::<(), homeward_core::hash::HashError>(())
//! ```

mod chip;
mod error;
mod index;
mod pdq;

pub use chip::{chip_hash, ChipHash, CHIP_HASH_VERSION, CHIP_MIN_CONTRAST, CHIP_SIZE};
pub use error::HashError;
pub use index::{HammingIndex, HashKind, INDEX_FORMAT_OLDEST, INDEX_FORMAT_VERSION};
pub use pdq::{pdq, pdq_dihedral, PdqDihedral, PdqHash, PDQ_MIN_QUALITY, PDQ_MIN_SIDE};

/// A 256-bit perceptual hash.
///
/// Bit `k` (0..256) lives in word `k / 64` at bit `k % 64`. For PDQ, bit
/// `16 * row + col` is set when DCT coefficient `(row, col)` is above the
/// median, exactly as in Meta's reference, so [`Hash256::to_hex`] prints the
/// same 64 hex digits the reference tools print.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash256(pub [u64; 4]);

impl Hash256 {
    /// The hash with no bit set.
    pub const ZERO: Hash256 = Hash256([0; 4]);
    /// The hash with every bit set.
    pub const ONES: Hash256 = Hash256([u64::MAX; 4]);

    /// Number of differing bits, 0..=256.
    ///
    /// ```
    /// use homeward_core::hash::Hash256;
    /// assert_eq!(Hash256::ZERO.distance(&Hash256::ONES), 256);
    /// ```
    #[inline]
    pub fn distance(&self, other: &Hash256) -> u32 {
        (self.0[0] ^ other.0[0]).count_ones()
            + (self.0[1] ^ other.0[1]).count_ones()
            + (self.0[2] ^ other.0[2]).count_ones()
            + (self.0[3] ^ other.0[3]).count_ones()
    }

    /// Whether bit `k` (0..256) is set; `false` for `k >= 256`.
    #[inline]
    pub fn bit(&self, k: usize) -> bool {
        k < 256 && (self.0[k / 64] >> (k % 64)) & 1 == 1
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    #[inline]
    pub(crate) fn set_bit(&mut self, k: usize) {
        self.0[k / 64] |= 1 << (k % 64);
    }

    /// The 64 lower-case hex digits the PDQ reference prints (bit 255 first).
    ///
    /// ```
    /// use homeward_core::hash::Hash256;
    /// let h = Hash256([1, 0, 0, 0]);
    /// assert!(h.to_hex().ends_with("0001"));
    /// assert_eq!(Hash256::from_hex(&h.to_hex())?, h);
    /// # Ok::<(), homeward_core::hash::HashError>(())
    /// ```
    pub fn to_hex(&self) -> String {
        format!(
            "{:016x}{:016x}{:016x}{:016x}",
            self.0[3], self.0[2], self.0[1], self.0[0]
        )
    }

    /// Parses 64 hex digits (either case), as printed by [`Hash256::to_hex`].
    pub fn from_hex(hex: &str) -> Result<Hash256, HashError> {
        let len = hex.len();
        if len != 64 {
            return Err(HashError::InvalidHex {
                len,
                reason: "wrong length",
            });
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HashError::InvalidHex {
                len,
                reason: "non-hex character",
            });
        }
        let mut words = [0u64; 4];
        for (i, word) in words.iter_mut().enumerate() {
            let start = (3 - i) * 16;
            let chunk = &hex[start..start + 16];
            *word = u64::from_str_radix(chunk, 16).map_err(|_| HashError::InvalidHex {
                len,
                reason: "non-hex character",
            })?;
        }
        Ok(Hash256(words))
    }
}

impl std::fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash256({})", self.to_hex())
    }
}

impl std::fmt::Display for Hash256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}
