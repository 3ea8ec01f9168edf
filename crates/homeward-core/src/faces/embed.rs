//! Face embeddings: the 128-d vector dlib's ResNet gives an aligned chip, with
//! optional jitter and mirror averaging.

use image::RgbImage;

use super::align::{extract_chip, ChipDetails};
use super::Rect;
use crate::dlib::resnet::{ResNet, EMBEDDING_DIM};

/// A 128-d face embedding. Two photos of one person are usually closer than
/// 0.6 in Euclidean distance (dlib's threshold); Homeward ranks by distance
/// and never decides from it alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Embedding(pub [f32; EMBEDDING_DIM]);

impl Embedding {
    /// Euclidean distance.
    ///
    /// ```
    /// use homeward_core::faces::Embedding;
    /// let a = Embedding([0.0; 128]);
    /// let mut b = a;
    /// b.0[0] = 0.6;
    /// assert!((a.distance(&b) - 0.6).abs() < 1e-6);
    /// ```
    pub fn distance(&self, other: &Embedding) -> f32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    fn from_slice(v: &[f32]) -> Option<Embedding> {
        Some(Embedding(v.try_into().ok()?))
    }
}

/// How to embed a chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmbedOptions {
    /// dlib's `num_jitters`: 0 or 1 embeds the chip as it is; N > 1 averages N
    /// randomly shifted, scaled, rotated and mirrored copies (seeded, so the
    /// same chip always gives the same result).
    pub jitter: u32,
    /// Also embed the mirrored chip and average the two.
    pub flip: bool,
}

/// Embeds a 150×150 chip; `None` if the chip has another size.
pub(crate) fn embed_chip(
    net: &ResNet,
    chip: &RgbImage,
    options: &EmbedOptions,
) -> Option<Embedding> {
    embed_chips(net, &[chip], options)?.pop()
}

/// Embeds many 150×150 chips in one batch through the network (every jittered
/// and mirrored copy included); `None` if a chip has another size.
pub(crate) fn embed_chips(
    net: &ResNet,
    chips: &[&RgbImage],
    options: &EmbedOptions,
) -> Option<Vec<Embedding>> {
    let variants: Vec<Vec<RgbImage>> = chips.iter().map(|c| variants(c, options)).collect();
    let per_chip = variants.first().map_or(1, Vec::len);
    let all: Vec<&RgbImage> = variants.iter().flatten().collect();
    let vectors = net.embed_batch(&all)?;
    vectors
        .chunks(per_chip)
        .map(|group| {
            let mut sum = [0f32; EMBEDDING_DIM];
            for e in group {
                for (s, v) in sum.iter_mut().zip(e.iter()) {
                    *s += v;
                }
            }
            let n = group.len() as f32;
            Embedding::from_slice(&sum.map(|v| v / n))
        })
        .collect()
}

/// The copies of `chip` whose embeddings are averaged: the chip itself or its
/// jittered copies, then their mirror images when `flip` is set. Borrowing
/// would save one copy per chip; the chip is 67 KB against 0.26 G
/// multiply-adds of network, so it is simply cloned.
fn variants(chip: &RgbImage, options: &EmbedOptions) -> Vec<RgbImage> {
    let mut chips = vec![];
    if options.jitter > 1 {
        let mut rng = SplitMix64(0x5EED_F00D);
        for _ in 0..options.jitter {
            chips.push(jitter(chip, &mut rng));
        }
    } else {
        chips.push(chip.clone());
    }
    if options.flip {
        let mirrored: Vec<RgbImage> = chips.iter().map(image::imageops::flip_horizontal).collect();
        chips.extend(mirrored);
    }
    chips
}

/// One random perturbation with the distribution of dlib's `jitter_image`:
/// shift up to 2% of the face, scale 0.97–1.0, rotate up to ±3°, mirror half
/// the time. dlib's own random generator is not reproduced, so jittered
/// embeddings match dlib's in distribution, not bit for bit.
fn jitter(chip: &RgbImage, rng: &mut SplitMix64) -> RgbImage {
    let (w, h) = (chip.width() as i64, chip.height() as i64);
    let rect = Rect::new(3, 3, w - 4, h - 4);
    let dx = (rng.range(-0.02, 0.02) * rect.width() as f64).round() as i64;
    let dy = (rng.range(-0.02, 0.02) * rect.height() as f64).round() as i64;
    let scale = rng.range(0.97, 0.99999);
    let side = (rect.height() as f64 / scale) as i64;
    let cx = (rect.left + rect.right + 1) / 2 + dx;
    let cy = (rect.top + rect.bottom + 1) / 2 + dy;
    let crop = Rect::new(
        cx - side / 2,
        cy - side / 2,
        cx - side / 2 + side - 1,
        cy - side / 2 + side - 1,
    );
    let angle = rng.range(-3.0, 3.0).to_radians();
    let out = match ChipDetails::from_rect(crop, angle, chip.width()) {
        Ok(details) => extract_chip(chip, &details).image,
        Err(_) => chip.clone(),
    };
    if rng.next_f64() > 0.5 {
        image::imageops::flip_horizontal(&out)
    } else {
        out
    }
}

/// A small, fast, seedable generator (SplitMix64) so jitter is reproducible.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}
