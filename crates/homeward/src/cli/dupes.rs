//! `homeward dupes`: groups near-duplicate photos (the same picture reposted,
//! re-encoded, cropped, framed or mirrored) by PDQ and face-chip hashes.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use homeward_core::hash::{
    ChipHash, HammingIndex, Hash256, HashKind, CHIP_MATCH_THRESHOLD, PDQ_MATCH_THRESHOLD,
    PDQ_MIN_QUALITY,
};
use rayon::prelude::*;
use serde::Serialize;

use super::embed::FaceArgs;
use super::hash::{error_line, load_and_hash, PhotoHasher, PhotoHashes};
use super::{CliError, Outcome};
use crate::output::{self, terminal_safe};

/// Group near-duplicate photos: two photos are linked when the PDQ hash of
/// one (or of one of its 8 rotations/mirrorings) is within --pdq-threshold
/// of the other's, or when a face chip hash of one (or of its mirror image)
/// is within --chip-threshold of a face chip of the other. Groups are the
/// connected photos. Each link says which hash matched and at what distance.
/// Photos that cannot be read or hashed are reported and the exit code is 1.
#[derive(Debug, Args)]
pub struct DupesArgs {
    /// Directories (walked recursively) or photos.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per line per group:
    /// {"group","photos":[path],"links":[{"a","b","hash","distance",...}]};
    /// a "pdq" link has "variant" (b looks like a after that rotation or
    /// mirroring), a "chip" link has "face_a", "face_b" and "mirrored".
    /// Failures are {"path","error"}.
    #[arg(long)]
    pub json: bool,
    /// Largest PDQ Hamming distance taken as the same photo.
    #[arg(long, default_value_t = PDQ_MATCH_THRESHOLD, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub pdq_threshold: u32,
    /// Largest face-chip Hamming distance taken as the same face crop.
    #[arg(long, default_value_t = CHIP_MATCH_THRESHOLD, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub chip_threshold: u32,
    #[command(flatten)]
    pub face: FaceArgs,
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
    /// The 8 dihedral PDQ hashes; `None` when the quality is under
    /// `PDQ_MIN_QUALITY` (a flat photo's hash matches unrelated photos).
    pub pdq: Option<[Hash256; 8]>,
    /// `(face number, chip hash)` for every face with a chip hash.
    pub chips: Vec<(usize, ChipHash)>,
}

impl Matchable {
    pub fn of(h: &PhotoHashes) -> Self {
        Matchable {
            pdq: (h.pdq.quality >= PDQ_MIN_QUALITY).then_some(h.pdq.hashes),
            chips: h.chips().map(|(i, c)| (i, *c)).collect(),
        }
    }
}

/// Which hash linked two photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Photo `b` is within the threshold of PDQ variant `variant` of photo `a`.
    Pdq { variant: usize },
    /// Face `face_b` of `b` is within the threshold of face `face_a` of `a`
    /// (or of its mirror image).
    Chip {
        face_a: usize,
        face_b: usize,
        mirrored: bool,
    },
}

/// A match between photos `a` and `b` (indexes into the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub via: Via,
    pub distance: u32,
}

/// Every linked pair of photos, with its closest match (PDQ preferred on a
/// tie). Uses exact Hamming-radius queries, never all pairs.
pub fn find_links(photos: &[Option<Matchable>], pdq_radius: u32, chip_radius: u32) -> Vec<Link> {
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
                    for (b, distance) in pdq_index.query(h, pdq_radius) {
                        if b as usize != a {
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
                    for (id, distance) in chip_index.query(&h, chip_radius) {
                        let (b, face_b) = split_chip_id(id);
                        if b != a {
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

#[derive(Debug, Serialize)]
struct LinkLine {
    a: String,
    b: String,
    hash: &'static str,
    distance: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_a: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_b: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirrored: Option<bool>,
}

#[derive(Debug, Serialize)]
struct GroupLine {
    group: usize,
    photos: Vec<String>,
    links: Vec<LinkLine>,
}

impl GroupLine {
    fn to_text(&self) -> String {
        let mut s = format!("group {}: {} photos", self.group, self.photos.len());
        for p in &self.photos {
            s.push_str(&format!("\n  {p}"));
        }
        for l in &self.links {
            let how = match (l.variant, l.face_a, l.face_b, l.mirrored) {
                (Some(v), ..) => format!("PDQ ({v})"),
                (None, Some(fa), Some(fb), Some(m)) => format!(
                    "face chip (face {fa} ~ face {fb}{})",
                    if m { ", mirrored" } else { "" }
                ),
                _ => l.hash.to_string(),
            };
            s.push_str(&format!(
                "\n  link {} ~ {}: {how}, distance {}",
                l.a, l.b, l.distance
            ));
        }
        s
    }
}

fn link_line(l: &Link, names: &[String]) -> LinkLine {
    let (hash, variant, face_a, face_b, mirrored) = match l.via {
        Via::Pdq { variant } => ("pdq", Some(PDQ_VARIANTS[variant]), None, None, None),
        Via::Chip {
            face_a,
            face_b,
            mirrored,
        } => ("chip", None, Some(face_a), Some(face_b), Some(mirrored)),
    };
    LinkLine {
        a: names[l.a].clone(),
        b: names[l.b].clone(),
        hash,
        distance: l.distance,
        variant,
        face_a,
        face_b,
        mirrored,
    }
}

pub fn run(args: &DupesArgs) -> Result<Outcome, CliError> {
    let hasher = PhotoHasher::bundled(args.face.options().detect)?;
    let (files, mut failed) = output::expand_paths(&args.paths, args.json);
    let limits = args.face.limits();
    let hashed: Vec<Result<Matchable, String>> = files
        .par_iter()
        .map(|p| load_and_hash(&hasher, p, &limits).map(|h| Matchable::of(&h)))
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut photos = Vec::with_capacity(files.len());
    let mut low_quality = 0;
    for (path, h) in files.iter().zip(hashed) {
        match h {
            Ok(m) => {
                low_quality += usize::from(m.pdq.is_none());
                photos.push(Some(m));
            }
            Err(e) => {
                failed = true;
                photos.push(None);
                if writeln!(out, "{}", terminal_safe(&error_line(path, &e, args.json))).is_err() {
                    return Ok(Outcome::SomeFailed);
                }
            }
        }
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let links = find_links(&photos, args.pdq_threshold, args.chip_threshold);
    let groups = groups(photos.len(), &links);
    let mut group_of = vec![usize::MAX; photos.len()];
    for (g, members) in groups.iter().enumerate() {
        for &m in members {
            group_of[m] = g;
        }
    }
    let mut group_links: Vec<Vec<LinkLine>> = (0..groups.len()).map(|_| Vec::new()).collect();
    for l in &links {
        group_links[group_of[l.a]].push(link_line(l, &names));
    }
    for (g, (members, links)) in groups.iter().zip(group_links).enumerate() {
        let line = GroupLine {
            group: g + 1,
            photos: members.iter().map(|&m| names[m].clone()).collect(),
            links,
        };
        let text = if args.json {
            serde_json::to_string(&line).unwrap_or_default()
        } else {
            line.to_text()
        };
        if writeln!(out, "{}", terminal_safe(&text)).is_err() {
            return Ok(Outcome::SomeFailed);
        }
    }
    if !args.json {
        let hashed = photos.iter().flatten().count();
        let grouped: usize = groups.iter().map(Vec::len).sum();
        let _ = writeln!(
            out,
            "{hashed} photos hashed ({low_quality} with a PDQ too flat to match on), \
             {} failed; {} groups holding {grouped} photos",
            files.len() - hashed,
            groups.len()
        );
    }
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

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
        let links = find_links(&photos, 31, 40);
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
        assert!(find_links(&photos, 9, 29).is_empty());
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
        let links = find_links(&photos, 31, 40);
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

    #[test]
    fn parses_thresholds() {
        let cli = Cli::try_parse_from(["homeward", "dupes", "--pdq-threshold", "20", "d"]).unwrap();
        let Command::Dupes(args) = cli.command else {
            panic!("not dupes")
        };
        assert_eq!(
            (args.pdq_threshold, args.chip_threshold),
            (20, CHIP_MATCH_THRESHOLD)
        );
        assert!(
            Cli::try_parse_from(["homeward", "dupes", "--chip-threshold", "300", "d"]).is_err()
        );
        assert!(Cli::try_parse_from(["homeward", "dupes"]).is_err());
    }
}
