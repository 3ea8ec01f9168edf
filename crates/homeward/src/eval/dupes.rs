//! Robustness of the perceptual hashes to reposting edits.
//!
//! For every original photo `i` and transform `t`, the edited copy `t(i)` is
//! hashed and compared with every original `j`:
//!
//! - **PDQ distance** = the least distance between any of the 8 dihedral PDQ
//!   hashes of `t(i)` and the PDQ hash of `j` (what `homeward dupes` queries).
//!   Photos under `PDQ_MIN_SIDE` (32) px on a side, or with PDQ quality
//!   under 50, have none.
//! - **Chip distance** = the least distance between any face chip hash of
//!   `t(i)` (or its mirror) and any face chip hash of `j`.
//!
//! The pair `(t(i), i)` is a positive, every `(t(i), j ≠ i)` a negative.
//! Per method, the **threshold** is the largest distance `d` such that the
//! share of negatives (over every transform, among the pairs where both sides
//! have that hash) at distance `≤ d` is at most 0.01 %. The **combination**
//! matches when either distance is within its own threshold; to keep its
//! false-positive rate under the same 0.01 % (union bound), its two
//! thresholds are each chosen at 0.005 %. **Recall** for a transform is the
//! share of originals whose positive pair matches; an edited copy that
//! cannot be hashed counts as a miss. Originals are split by whether a face
//! chip hash was found in them.
//!
//! Fixed thresholds (`--pdq-threshold`, `--chip-threshold`) replace the
//! chosen ones, for the single hashes and the combination alike, and the
//! false positives they give are reported: for corpora whose originals hold
//! duplicates of each other, where no threshold keeps the rate at 0.01 %.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use homeward_core::hash::Hash256;
use homeward_core::intake::{self, Limits};
use rayon::prelude::*;
use serde::Serialize;

use super::transforms::ALL;
use crate::error::CliError;
use homeward_match::hashing::{PhotoHasher, PhotoHashes};

/// The false-positive rate the thresholds are chosen at.
pub const TARGET_FPR: f64 = 1e-4;

/// Distance bins 0..=256, plus one for "no hash to compare".
const BINS: usize = 258;
const NONE: usize = 257;

/// What an original contributes to comparisons.
#[derive(Debug, Clone, Default)]
struct Original {
    pdq: Option<Hash256>,
    chips: Vec<Hash256>,
}

/// What an edited copy contributes: every variant it can be matched by.
#[derive(Debug, Clone, Default)]
struct Edited {
    pdq: Vec<Hash256>,
    chips: Vec<Hash256>,
}

fn usable_pdq(h: &PhotoHashes) -> bool {
    h.pdq_usable()
}

impl Original {
    fn of(h: &PhotoHashes) -> Self {
        Original {
            pdq: usable_pdq(h).then_some(h.pdq.hashes[0]),
            chips: h.chips().map(|(_, c)| c.hash).collect(),
        }
    }
}

impl Edited {
    fn of(h: &PhotoHashes) -> Self {
        Edited {
            pdq: if usable_pdq(h) {
                h.pdq.hashes.to_vec()
            } else {
                Vec::new()
            },
            chips: h.chips().flat_map(|(_, c)| [c.hash, c.mirrored]).collect(),
        }
    }

    /// (PDQ bin, chip bin) against an original; `NONE` when either side
    /// lacks that hash.
    fn bins(&self, o: &Original) -> (usize, usize) {
        let pdq = match o.pdq {
            Some(p) => self.pdq.iter().map(|q| q.distance(&p) as usize).min(),
            None => None,
        };
        let chip = self
            .chips
            .iter()
            .flat_map(|q| o.chips.iter().map(move |c| q.distance(c) as usize))
            .min();
        (pdq.unwrap_or(NONE), chip.unwrap_or(NONE))
    }
}

/// Recall of one transform over one group of originals.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Recall {
    pub photos: usize,
    pub pdq: f64,
    pub chip: f64,
    pub combined: f64,
    /// Edited copies that could not be hashed at all (too small) or whose
    /// transform failed.
    pub unhashable: usize,
    /// Edited copies in which no face chip hash was found.
    pub no_face_after_edit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransformRow {
    pub transform: String,
    pub with_face: Recall,
    pub without_face: Recall,
}

/// A threshold and the false-positive rate it gives.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Threshold {
    /// `None` when even distance 0 exceeds the target rate.
    pub distance: Option<u32>,
    pub false_positives: u64,
    pub negatives: u64,
}

impl Threshold {
    fn rate_text(&self) -> String {
        format!(
            "false positives {} of {}, {:.4}%",
            self.false_positives,
            self.negatives,
            100.0 * self.false_positives as f64 / self.negatives.max(1) as f64
        )
    }

    fn text(&self) -> String {
        let d = self.distance.map_or("none".into(), |d| d.to_string());
        format!("{d} ({})", self.rate_text())
    }
}

#[derive(Debug, Serialize)]
pub struct DupesReport {
    pub root: String,
    pub photos: usize,
    pub photos_with_face: usize,
    pub photos_without_face: usize,
    /// Originals that could not be read or hashed (left out).
    pub photos_unusable: usize,
    pub target_false_positive_rate: f64,
    /// Whether the PDQ and chip thresholds were given rather than chosen.
    pub fixed_pdq_threshold: bool,
    pub fixed_chip_threshold: bool,
    pub pdq_threshold: Threshold,
    pub chip_threshold: Threshold,
    pub combined_pdq_threshold: Threshold,
    pub combined_chip_threshold: Threshold,
    /// False positives of the combination (either hash within its threshold).
    pub combined: Threshold,
    pub transforms: Vec<TransformRow>,
    pub seconds: f64,
}

/// Every image under `root` (recursive, sorted), the first `limit` of them.
pub fn list_images(root: &Path, limit: Option<usize>) -> Result<Vec<PathBuf>, CliError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if crate::output::is_image_name(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, &mut out).map_err(|source| CliError::Io {
        context: format!("cannot read {}", root.display()),
        source,
    })?;
    out.sort();
    if let Some(n) = limit {
        out.truncate(n);
    }
    Ok(out)
}

/// Largest distance whose cumulative share of `hist` stays within `rate`.
fn pick_threshold(hist: &[u64; BINS], rate: f64) -> Threshold {
    let negatives: u64 = hist[..=256].iter().sum();
    let allowed = (rate * negatives as f64).floor() as u64;
    let mut cum = 0u64;
    let mut best = None;
    let mut fp = 0;
    for (d, &n) in hist[..=256].iter().enumerate() {
        cum += n;
        if cum > allowed {
            break;
        }
        best = Some(d as u32);
        fp = cum;
    }
    Threshold {
        distance: best,
        false_positives: fp,
        negatives,
    }
}

/// The false positives of a fixed threshold.
fn at_distance(hist: &[u64; BINS], d: u32) -> Threshold {
    let d = (d as usize).min(256);
    Threshold {
        distance: Some(d as u32),
        false_positives: hist[..=d].iter().sum(),
        negatives: hist[..=256].iter().sum(),
    }
}

/// Thresholds given on the command line instead of chosen from the data.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedThresholds {
    pub pdq: Option<u32>,
    pub chip: Option<u32>,
}

fn within(bin: usize, t: Option<u32>) -> bool {
    bin != NONE && t.is_some_and(|t| bin <= t as usize)
}

/// Joint (PDQ bin, chip bin) histogram of negatives, flattened.
type Joint = Vec<u64>;

fn marginals(joint: &Joint) -> ([u64; BINS], [u64; BINS]) {
    let mut pdq = [0u64; BINS];
    let mut chip = [0u64; BINS];
    for p in 0..BINS {
        for c in 0..BINS {
            let n = joint[p * BINS + c];
            pdq[p] += n;
            chip[c] += n;
        }
    }
    (pdq, chip)
}

/// The hashes of one original and of its edited copies (`None`: unhashable).
struct Hashed {
    original: Original,
    edited: Vec<Option<Edited>>,
}

pub fn evaluate(
    hasher: &PhotoHasher,
    root: &Path,
    limit: Option<usize>,
    limits: &Limits,
    dump_chips: Option<&Path>,
    fixed: FixedThresholds,
) -> Result<DupesReport, CliError> {
    let start = Instant::now();
    let files = list_images(root, limit)?;
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "no images under {}; pass --root a directory of photos",
            root.display()
        )));
    }
    if let Some(dir) = dump_chips {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
    }
    let done = AtomicUsize::new(0);
    let hashed: Vec<Option<Hashed>> = files
        .par_iter()
        .enumerate()
        .map(|(k, path)| {
            let dump = dump_chips.map(|d| (d, k));
            let out = hash_with_edits(hasher, path, limits, dump);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(100) {
                eprintln!("hashed {n}/{} photos and their edits", files.len());
            }
            out
        })
        .collect();
    let photos: Vec<&Hashed> = hashed.iter().flatten().collect();
    let originals: Vec<&Original> = photos.iter().map(|h| &h.original).collect();

    // Negatives: every edited copy against every other original.
    let joint: Joint = photos
        .par_iter()
        .enumerate()
        .fold(
            || vec![0u64; BINS * BINS],
            |mut acc, (i, h)| {
                for e in h.edited.iter().flatten() {
                    for (j, o) in originals.iter().enumerate() {
                        if j != i {
                            let (p, c) = e.bins(o);
                            acc[p * BINS + c] += 1;
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![0u64; BINS * BINS],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let (pdq_hist, chip_hist) = marginals(&joint);
    let pick = |hist: &[u64; BINS], rate: f64, fixed: Option<u32>| match fixed {
        Some(d) => at_distance(hist, d),
        None => pick_threshold(hist, rate),
    };
    let pdq_t = pick(&pdq_hist, TARGET_FPR, fixed.pdq);
    let chip_t = pick(&chip_hist, TARGET_FPR, fixed.chip);
    let pdq_c = pick(&pdq_hist, TARGET_FPR / 2.0, fixed.pdq);
    let chip_c = pick(&chip_hist, TARGET_FPR / 2.0, fixed.chip);
    let mut combined_fp = 0;
    let mut combined_neg = 0;
    for p in 0..BINS {
        for c in 0..BINS {
            let n = joint[p * BINS + c];
            if p != NONE || c != NONE {
                combined_neg += n;
            }
            if within(p, pdq_c.distance) || within(c, chip_c.distance) {
                combined_fp += n;
            }
        }
    }

    // Positives: each edited copy against its own original.
    let transforms = ALL
        .iter()
        .enumerate()
        .map(|(t, transform)| {
            let mut with = Counts::default();
            let mut without = Counts::default();
            for h in &photos {
                let counts = if h.original.chips.is_empty() {
                    &mut without
                } else {
                    &mut with
                };
                counts.photos += 1;
                let Some(e) = &h.edited[t] else {
                    counts.unhashable += 1;
                    continue;
                };
                counts.no_face += usize::from(e.chips.is_empty());
                let (p, c) = e.bins(&h.original);
                counts.pdq += usize::from(within(p, pdq_t.distance));
                counts.chip += usize::from(within(c, chip_t.distance));
                counts.combined +=
                    usize::from(within(p, pdq_c.distance) || within(c, chip_c.distance));
            }
            TransformRow {
                transform: transform.name(),
                with_face: with.recall(),
                without_face: without.recall(),
            }
        })
        .collect();
    let with_face = photos
        .iter()
        .filter(|h| !h.original.chips.is_empty())
        .count();
    Ok(DupesReport {
        root: root.display().to_string(),
        photos: photos.len(),
        photos_with_face: with_face,
        photos_without_face: photos.len() - with_face,
        photos_unusable: files.len() - photos.len(),
        target_false_positive_rate: TARGET_FPR,
        fixed_pdq_threshold: fixed.pdq.is_some(),
        fixed_chip_threshold: fixed.chip.is_some(),
        pdq_threshold: pdq_t,
        chip_threshold: chip_t,
        combined_pdq_threshold: pdq_c,
        combined_chip_threshold: chip_c,
        combined: Threshold {
            distance: None,
            false_positives: combined_fp,
            negatives: combined_neg,
        },
        transforms,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes the chips of one hashed image as `{photo:05}_{name}_{face}.png`
/// (best effort: this is a debugging aid).
fn dump(h: &PhotoHashes, dump: Option<(&Path, usize)>, name: &str) {
    if let Some((dir, photo)) = dump {
        for (face, f) in h.faces.iter().enumerate() {
            let _ = f
                .chip_image
                .save(dir.join(format!("{photo:05}_{name}_{face}.png")));
        }
    }
}

fn hash_with_edits(
    hasher: &PhotoHasher,
    path: &Path,
    limits: &Limits,
    dump_to: Option<(&Path, usize)>,
) -> Option<Hashed> {
    let photo = intake::load_path(path, limits).ok()?;
    let hashes = hasher.hash(&photo.image).ok()?;
    dump(&hashes, dump_to, "original");
    let original = Original::of(&hashes);
    let edited = ALL
        .iter()
        .map(|t| {
            let img = t.apply(&photo.image).ok()?;
            let h = hasher.hash(&img).ok()?;
            dump(&h, dump_to, &t.name());
            Some(Edited::of(&h))
        })
        .collect();
    Some(Hashed { original, edited })
}

#[derive(Default)]
struct Counts {
    photos: usize,
    pdq: usize,
    chip: usize,
    combined: usize,
    unhashable: usize,
    no_face: usize,
}

impl Counts {
    fn recall(&self) -> Recall {
        let share = |n: usize| n as f64 / self.photos.max(1) as f64;
        Recall {
            photos: self.photos,
            pdq: share(self.pdq),
            chip: share(self.chip),
            combined: share(self.combined),
            unhashable: self.unhashable,
            no_face_after_edit: self.no_face,
        }
    }
}

impl DupesReport {
    /// A Markdown table per group, preceded by the thresholds.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Hash robustness on {} ({} photos: {} with a face, {} without; {} unusable), {:.0} s\n\
             Thresholds: largest distance with false-positive rate <= {}% over (edited copy, other original) pairs{}\n\
             - PDQ: {}\n- chip: {}\n- combination (each at half the rate): PDQ {}, chip {}; together: {}\n",
            self.root,
            self.photos,
            self.photos_with_face,
            self.photos_without_face,
            self.photos_unusable,
            self.seconds,
            100.0 * self.target_false_positive_rate,
            match (self.fixed_pdq_threshold, self.fixed_chip_threshold) {
                (true, true) => " (both fixed on the command line)",
                (true, false) => " (PDQ's fixed on the command line)",
                (false, true) => " (chip's fixed on the command line)",
                (false, false) => "",
            },
            self.pdq_threshold.text(),
            self.chip_threshold.text(),
            self.combined_pdq_threshold.distance.map_or("none".into(), |d| d.to_string()),
            self.combined_chip_threshold.distance.map_or("none".into(), |d| d.to_string()),
            self.combined.rate_text(),
        );
        let pct = |v: f64| format!("{:.1}", 100.0 * v);
        for (title, pick) in [
            (
                format!("Photos with a face (n = {})", self.photos_with_face),
                (|r: &TransformRow| &r.with_face) as fn(&TransformRow) -> &Recall,
            ),
            (
                format!("Photos without a face (n = {})", self.photos_without_face),
                |r: &TransformRow| &r.without_face,
            ),
        ] {
            if pick(&self.transforms[0]).photos == 0 {
                s.push_str(&format!("\n{title}: nothing to report\n"));
                continue;
            }
            s.push_str(&format!(
                "\n{title}: recall %\n\n| transform | PDQ | chip | either | unhashable | no face after edit |\n|---|---:|---:|---:|---:|---:|\n"
            ));
            for row in &self.transforms {
                let r = pick(row);
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    row.transform,
                    pct(r.pdq),
                    pct(r.chip),
                    pct(r.combined),
                    r.unhashable,
                    r.no_face_after_edit
                ));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_largest_distance_within_the_rate() {
        let mut hist = [0u64; BINS];
        hist[10] = 1;
        hist[20] = 2;
        hist[100] = 99_997;
        hist[NONE] = 5; // incomparable pairs do not count
                        // 100,000 negatives at 0.01 %: 10 allowed, so everything below 100.
        let t = pick_threshold(&hist, 1e-4);
        assert_eq!(
            (t.distance, t.false_positives, t.negatives),
            (Some(99), 3, 100_000)
        );
        // At 0.002 %: 2 allowed, so stop before 20.
        assert_eq!(pick_threshold(&hist, 2e-5).distance, Some(19));
        // Nothing allowed and a pair at 0: no threshold.
        let mut zero = [0u64; BINS];
        zero[0] = 1;
        zero[50] = 10;
        assert_eq!(pick_threshold(&zero, 1e-4).distance, None);
    }

    #[test]
    fn fixed_threshold_counts_its_false_positives() {
        let mut hist = [0u64; BINS];
        hist[10] = 1;
        hist[20] = 2;
        hist[100] = 7;
        hist[NONE] = 5;
        let t = at_distance(&hist, 20);
        assert_eq!(
            (t.distance, t.false_positives, t.negatives),
            (Some(20), 3, 10)
        );
        assert_eq!(at_distance(&hist, 9).false_positives, 0);
        assert_eq!(at_distance(&hist, 300).false_positives, 10);
    }

    #[test]
    fn edited_copy_takes_its_best_variant() {
        let o = Original {
            pdq: Some(Hash256::ZERO),
            chips: vec![Hash256::ONES],
        };
        let e = Edited {
            pdq: vec![Hash256([u64::MAX, 0, 0, 0]), Hash256([0b111, 0, 0, 0])],
            chips: vec![Hash256::ZERO, Hash256([0, u64::MAX, u64::MAX, u64::MAX])],
        };
        assert_eq!(e.bins(&o), (3, 64));
        assert_eq!(Edited::default().bins(&o), (NONE, NONE));
        assert_eq!(e.bins(&Original::default()), (NONE, NONE));
        assert!(within(3, Some(3)) && !within(4, Some(3)) && !within(NONE, Some(256)));
        assert!(!within(0, None));
    }

    #[test]
    fn lists_images_recursively_in_order_with_limit() {
        let dir = std::env::temp_dir().join(format!("homeward-eval-dupes-{}", std::process::id()));
        let sub = dir.join("b");
        std::fs::create_dir_all(&sub).unwrap();
        for p in [
            dir.join("c.jpg"),
            dir.join("a.png"),
            sub.join("x.jpg"),
            dir.join("notes.txt"),
        ] {
            std::fs::write(&p, b"x").unwrap();
        }
        let all = list_images(&dir, None).unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [Path::new("a.png"), Path::new("b/x.jpg"), Path::new("c.jpg")]
        );
        assert_eq!(list_images(&dir, Some(2)).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
