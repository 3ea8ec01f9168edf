//! "Are these photos the same picture?" for a set of photo files: the photo
//! → face chip → hash path (`PhotoHasher`, no embedding computed) and the
//! grouping of a folder by [`SamePhotoRule`] on hashes alone. The registry's
//! own duplicate check ([`crate::DupIndex`]) applies the same rule with
//! embeddings at hand.

use std::collections::HashMap;

use homeward_core::dlib::ModelError;
use homeward_core::faces::{
    face_chip, DetectOptions, Detector, Rect, ShapePredictor, CHIP_PADDING, CHIP_SIZE,
};
use homeward_core::hash::{
    chip_hash, pdq_dihedral, ChipHash, HammingIndex, Hash256, HashError, HashKind, PdqDihedral,
};

use rayon::prelude::*;

use crate::policy::{pdq_usable, SamePhotoRule};

/// Detects faces and computes a photo's PDQ and face-chip hashes. The face
/// pipeline stops at the aligned chip: no embedding is computed.
pub struct PhotoHasher {
    detector: Detector,
    predictor: ShapePredictor,
    options: DetectOptions,
}

impl std::fmt::Debug for PhotoHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhotoHasher")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// One face's box, detection score and chip hash.
#[derive(Debug)]
pub struct FaceHash {
    /// The detection box.
    pub rect: Rect,
    /// The detection score.
    pub score: f64,
    /// `Err` when the chip is too flat (dark, blown out) to hash.
    pub chip: Result<ChipHash, HashError>,
    /// The aligned 150×150 chip that was hashed.
    pub chip_image: image::RgbImage,
}

/// Every hash of one photo.
#[derive(Debug)]
pub struct PhotoHashes {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The eight dihedral PDQ hashes; `hashes[0]` is the photo's own.
    pub pdq: PdqDihedral,
    /// The faces found, strongest detection first.
    pub faces: Vec<FaceHash>,
}

impl PhotoHashes {
    /// The chip hashes of the faces that have one, with their face number.
    pub fn chips(&self) -> impl Iterator<Item = (usize, &ChipHash)> {
        self.faces
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.chip.as_ref().ok().map(|c| (i, c)))
    }

    /// Whether the PDQ hash may take part in matching ([`pdq_usable`]).
    pub fn pdq_usable(&self) -> bool {
        pdq_usable(self.pdq.quality)
    }
}

impl PhotoHasher {
    /// Loads the bundled detector and landmark models.
    ///
    /// # Errors
    /// When a bundled model fails its checks (a broken build: rebuild).
    pub fn bundled(options: DetectOptions) -> Result<Self, ModelError> {
        Ok(PhotoHasher {
            detector: Detector::bundled()?,
            predictor: ShapePredictor::bundled()?,
            options,
        })
    }

    /// Hashes a photo. A photo too small for PDQ is refused whole (no face is
    /// looked for either): any hash of it would describe upsampled blur.
    ///
    /// # Errors
    /// When the photo is too small to hash (under 32 px on a side).
    pub fn hash(&self, img: &image::RgbImage) -> Result<PhotoHashes, HashError> {
        let pdq = pdq_dihedral(img)?;
        let faces = self
            .detector
            .detect(img, &self.options)
            .into_iter()
            .filter_map(|d| {
                let landmarks = self.predictor.predict(img, d.rect).rounded();
                let chip = face_chip(img, &landmarks, CHIP_SIZE, CHIP_PADDING).ok()?;
                Some(FaceHash {
                    rect: d.rect,
                    score: d.score,
                    chip: chip_hash(&chip.image),
                    chip_image: chip.image,
                })
            })
            .collect();
        Ok(PhotoHashes {
            width: img.width(),
            height: img.height(),
            pdq,
            faces,
        })
    }
}

/// Names of the PDQ dihedral variants, in `PdqDihedral::hashes` order.
pub const PDQ_VARIANTS: [&str; 8] = [
    "original",
    "rotate_90",
    "rotate_180",
    "rotate_270",
    "flip_top_bottom",
    "flip_left_right",
    "transpose",
    "anti_transpose",
];

/// The hashes of one photo that take part in matching.
#[derive(Debug, Clone, Default)]
pub struct Matchable {
    /// The 8 dihedral PDQ hashes; `None` when too flat ([`pdq_usable`]).
    pub pdq: Option<[Hash256; 8]>,
    /// `(face number, chip hash)` for every face with a chip hash.
    pub chips: Vec<(usize, ChipHash)>,
}

impl Matchable {
    /// What of `h` takes part in matching.
    pub fn of(h: &PhotoHashes) -> Self {
        Matchable {
            pdq: h.pdq_usable().then_some(h.pdq.hashes),
            chips: h.chips().map(|(i, c)| (i, *c)).collect(),
        }
    }
}

/// Which hash linked two photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Photo `b` is within the threshold of PDQ variant `variant` of photo `a`.
    Pdq {
        /// Index into [`PDQ_VARIANTS`].
        variant: usize,
    },
    /// Face `face_b` of `b` is within the threshold of face `face_a` of `a`
    /// (or of its mirror image).
    Chip {
        /// Face number in `a`.
        face_a: usize,
        /// Face number in `b`.
        face_b: usize,
        /// Whether `b`'s face matched the mirror image of `a`'s.
        mirrored: bool,
    },
}

/// A match between photos `a` and `b` (indexes into the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// One photo.
    pub a: usize,
    /// The other photo.
    pub b: usize,
    /// The hash that linked them.
    pub via: Via,
    /// Its Hamming distance.
    pub distance: u32,
}

/// Every linked pair of photos under `rule` (hashes alone: these photos
/// carry no embeddings), with its closest match (PDQ preferred on a tie).
/// Uses exact Hamming-radius queries, never all pairs.
pub fn find_links(photos: &[Option<Matchable>], rule: &SamePhotoRule) -> Vec<Link> {
    let mut pdq_index = HammingIndex::new(HashKind::Pdq);
    let mut chip_index = HammingIndex::new(HashKind::Chip);
    for (i, m) in photos.iter().enumerate() {
        let Some(m) = m else { continue };
        // Ids are unique by construction, so add cannot fail here.
        if let Some(p) = &m.pdq {
            let _ = pdq_index.add(i as u64, p[0]);
        }
        for (face, chip) in &m.chips {
            let _ = chip_index.add(chip_id(i, *face), chip.hash);
        }
    }
    let found: Vec<Link> = photos
        .par_iter()
        .enumerate()
        .flat_map_iter(|(a, m)| {
            let mut links = Vec::new();
            let Some(m) = m else { return links };
            if let Some(p) = &m.pdq {
                for (variant, h) in p.iter().enumerate() {
                    for (b, distance) in pdq_index.query(h, rule.pdq_bits) {
                        if b as usize != a && rule.pdq_links(distance, None) {
                            links.push(Link {
                                a,
                                b: b as usize,
                                via: Via::Pdq { variant },
                                distance,
                            });
                        }
                    }
                }
            }
            for (face_a, chip) in &m.chips {
                for (mirrored, h) in [(false, chip.hash), (true, chip.mirrored)] {
                    for (id, distance) in chip_index.query(&h, rule.chip_bits) {
                        let (b, face_b) = split_chip_id(id);
                        if b != a && rule.chip_links(distance, None) {
                            links.push(Link {
                                a,
                                b,
                                via: Via::Chip {
                                    face_a: *face_a,
                                    face_b,
                                    mirrored,
                                },
                                distance,
                            });
                        }
                    }
                }
            }
            links
        })
        .collect();
    // Keep the best link per unordered pair.
    let rank = |l: &Link| {
        (
            l.distance,
            matches!(l.via, Via::Chip { .. }),
            l.a,
            via_order(&l.via),
        )
    };
    let mut best: HashMap<(usize, usize), Link> = HashMap::new();
    for link in found {
        let key = (link.a.min(link.b), link.a.max(link.b));
        match best.get(&key) {
            Some(old) if rank(old) <= rank(&link) => {}
            _ => {
                best.insert(key, link);
            }
        }
    }
    let mut links: Vec<Link> = best.into_values().collect();
    links.sort_by_key(|l| (l.a.min(l.b), l.a.max(l.b)));
    links
}

fn via_order(v: &Via) -> (usize, usize, bool) {
    match *v {
        Via::Pdq { variant } => (variant, 0, false),
        Via::Chip {
            face_a,
            face_b,
            mirrored,
        } => (face_a, face_b, mirrored),
    }
}

fn chip_id(photo: usize, face: usize) -> u64 {
    ((photo as u64) << 16) | (face as u64 & 0xFFFF)
}

fn split_chip_id(id: u64) -> (usize, usize) {
    ((id >> 16) as usize, (id & 0xFFFF) as usize)
}

/// Connected components of the link graph with at least two photos, each
/// sorted, ordered by their first photo.
pub fn groups(n: usize, links: &[Link]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for l in links {
        let (ra, rb) = (find(&mut parent, l.a), find(&mut parent, l.b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut by_root: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        by_root.entry(r).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = by_root.into_values().filter(|g| g.len() > 1).collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use homeward_core::hash::ChipHash;

    use super::*;

    fn rule(pdq_bits: u32, chip_bits: u32) -> SamePhotoRule {
        SamePhotoRule {
            pdq_bits,
            chip_bits,
            ..SamePhotoRule::default()
        }
    }

    fn h(seed: u64) -> Hash256 {
        // Spread the seed over all four words (splitmix64).
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Hash256([next(), next(), next(), next()])
    }

    fn flip(mut x: Hash256, bits: usize) -> Hash256 {
        for k in 0..bits {
            x.0[k / 64] ^= 1 << (k % 64);
        }
        x
    }

    fn photo(pdq: Hash256, chips: &[Hash256]) -> Option<Matchable> {
        let mut variants = [Hash256::ZERO; 8];
        for (k, v) in variants.iter_mut().enumerate() {
            *v = if k == 0 { pdq } else { h(pdq.0[0] ^ k as u64) };
        }
        Some(Matchable {
            pdq: Some(variants),
            chips: chips
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        i,
                        ChipHash {
                            hash: *c,
                            mirrored: h(c.0[1] ^ 7),
                            contrast: 30.0,
                        },
                    )
                })
                .collect(),
        })
    }

    #[test]
    fn links_by_pdq_and_chip_and_groups_transitively() {
        let (p0, c2) = (h(1), h(2));
        let photos = vec![
            photo(p0, &[]),
            photo(flip(p0, 10), &[]), // PDQ 10 from photo 0
            photo(h(3), &[c2]),
            photo(h(4), &[h(5), flip(c2, 30)]), // face 1 is 30 from photo 2's face 0
            photo(h(6), &[]),
            None, // failed to hash
        ];
        let links = find_links(&photos, &rule(31, 40));
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!(
            (links[0].a.min(links[0].b), links[0].a.max(links[0].b)),
            (0, 1)
        );
        assert_eq!(links[0].via, Via::Pdq { variant: 0 });
        assert_eq!(links[0].distance, 10);
        assert_eq!(links[1].distance, 30);
        assert!(matches!(
            links[1].via,
            Via::Chip {
                mirrored: false,
                ..
            }
        ));
        assert_eq!(groups(photos.len(), &links), vec![vec![0, 1], vec![2, 3]]);
        // Tighter thresholds split them.
        assert!(find_links(&photos, &rule(9, 29)).is_empty());
    }

    #[test]
    fn reports_the_matching_pdq_variant_and_mirrored_chip() {
        let base = photo(h(10), &[h(11)]);
        let Some(m) = &base else { unreachable!() };
        let pdq_mirror = m.pdq.map(|p| p[5]).unwrap_or_default();
        let chip_mirror = m.chips[0].1.mirrored;
        let photos = vec![
            base.clone(),
            photo(flip(pdq_mirror, 3), &[]),
            photo(h(12), &[chip_mirror]),
        ];
        let links = find_links(&photos, &rule(31, 40));
        let pdq = links
            .iter()
            .find(|l| l.a.min(l.b) == 0 && l.a.max(l.b) == 1)
            .copied();
        assert_eq!(
            pdq.map(|l| (l.a, l.via, l.distance)),
            Some((0, Via::Pdq { variant: 5 }, 3))
        );
        let chip = links.iter().find(|l| l.a.max(l.b) == 2).copied();
        assert_eq!(
            chip.map(|l| (l.a, l.via)),
            Some((
                0,
                Via::Chip {
                    face_a: 0,
                    face_b: 0,
                    mirrored: true
                }
            ))
        );
    }

    #[test]
    fn groups_chain_through_shared_members() {
        let link = |a, b| Link {
            a,
            b,
            via: Via::Pdq { variant: 0 },
            distance: 0,
        };
        assert_eq!(
            groups(6, &[link(4, 2), link(0, 4), link(3, 5)]),
            vec![vec![0, 2, 4], vec![3, 5]]
        );
        assert!(groups(3, &[]).is_empty());
    }
}
