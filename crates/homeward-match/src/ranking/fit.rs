//! Fitting the children's map ([`ChildFit`]) on child-against-child
//! impostor pairs: pairs of photos of two different children, each with the
//! years between the two faces' ages.
//!
//! 1. **Gap slope.** Impostor distances grow as the two faces' ages move
//!    apart. The slope `k` (0 to 0.02 per year, gaps capped at
//!    [`GAP_CAP_YEARS`]) is the one that best aligns the impostor quantiles
//!    of the gap groups 0–4, 5–8, 9–12 and 13+ years once `k · gap` is
//!    taken off.
//! 2. **Scale and offset.** The adjusted distances' quantiles at
//!    [`LEVELS`] are mapped onto the adult curve's by least squares; the
//!    adult curve then supplies the tail below 0.5 %, which a few thousand
//!    children's pairs cannot measure.
//! 3. **Caution.** The offset is lowered until, on the fitted pairs, every
//!    band's edge lets through at least one standard error fewer than its
//!    false-match ceiling allows ([`within_ceiling`]): a map that only
//!    just keeps the ceiling on the pairs it was fitted on lets more
//!    through on children it has not seen.
//! 4. **Alike photos.** Pairs that share a sighting face and another child
//!    (a [`ImpostorPair::group`], one impostor case) are read as normal
//!    scores through the fitted map; their correlation is how alike one
//!    impostor case's photos are ([`ChildFit::photo_correlation`], 0 when no
//!    child has two photos). The caution of step 3 is then repeated for
//!    whole impostor cases.
//! 5. **Two models** ([`fit_fusion`]). With each model's map fitted by the
//!    steps above on its own distances of the same pairs, `r` is the
//!    correlation of the two models' normal scores over the pairs, and the
//!    fused scale gets its own photo correlation, fitted as in step 4 on
//!    the fused rates. The caution of step 3 is then applied to the fused
//!    rates of the fitted pairs and cases, band by band: each band's edge
//!    gets its own shift of the fused score
//!    ([`ModelFusion::band_caution`]) until that band is within its
//!    ceiling in the same sense.

use std::collections::HashMap;

use super::calibration::{Band, Calibration, ChildFit, ModelFusion};
use super::normal;

/// Gaps beyond this many years count as this many.
pub const GAP_CAP_YEARS: f64 = 12.0;
/// Impostor quantile levels matched onto the adult curve.
pub const LEVELS: [f64; 6] = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2];
/// Gap groups (years, inclusive) whose quantiles the slope aligns.
const GROUPS: [(f64, f64); 4] = [(0.0, 4.0), (5.0, 8.0), (9.0, 12.0), (13.0, f64::INFINITY)];
/// Pairs a gap group needs to take part in the slope fit.
const GROUP_MIN_PAIRS: usize = 200;
/// Pairs the whole fit needs.
pub const MIN_PAIRS: usize = 1000;
/// The photo correlation is never read as higher than this (it would let a
/// large family count as one photo).
pub const MAX_PHOTO_CORRELATION: f64 = 0.95;

/// Whether `count` of `n` fitted pairs or cases in a band keeps its
/// `ceiling` with a margin: at most the count the ceiling allows less one
/// standard error of that count (`n·c − √(n·c)`, Poisson). With few pairs
/// (`n·c` ≤ 1) the band must hold none of them. The margin is what keeps a
/// ceiling on the children the map was not fitted on: fitted to the edge,
/// the fused strong band let through 0.185 % of the other fold's impostor
/// cases against its 0.1 % (development set, `fgnet-single`).
pub fn within_ceiling(count: usize, n: usize, ceiling: f64) -> bool {
    let expected = ceiling * n as f64;
    count as f64 <= (expected - expected.sqrt()).max(0.0)
}

/// Whether every queued band keeps [`within_ceiling`] over `sorted`
/// (ascending) rates.
fn bands_within(sorted: &[f64]) -> bool {
    Band::QUEUED.iter().all(|&(_, ceiling)| {
        within_ceiling(
            sorted.partition_point(|&r| r <= ceiling),
            sorted.len(),
            ceiling,
        )
    })
}

/// Why the children's map could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// Too few pairs.
    #[error("{found} child-against-child impostor pairs with ages; the fit needs at least {MIN_PAIRS}: use a manifest with more dated children's photos")]
    TooFewPairs {
        /// Pairs found.
        found: usize,
    },
    /// The quantiles do not rise together.
    #[error("the children's impostor quantiles do not map onto the adult curve (scale {0:.3}); check that the manifest's ages and identities are right")]
    Degenerate(f64),
}

/// One impostor pair: distance and the years between the two faces' ages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpostorPair {
    /// Embedding distance.
    pub distance: f64,
    /// Years between the ages (sighting face minus registry face).
    pub gap: f64,
    /// Pairs of one sighting face against the photos of one other child
    /// share a group.
    pub group: u64,
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let pos = p * (n - 1) as f64;
    let i = pos.floor() as usize;
    let t = pos - i as f64;
    if i + 1 >= n {
        sorted[n - 1]
    } else {
        sorted[i] + t * (sorted[i + 1] - sorted[i])
    }
}

fn adjusted(pairs: &[ImpostorPair], k: f64, keep: impl Fn(f64) -> bool) -> Vec<f64> {
    let mut u: Vec<f64> = pairs
        .iter()
        .filter(|p| keep(p.gap))
        .map(|p| p.distance - k * p.gap.clamp(0.0, GAP_CAP_YEARS))
        .collect();
    u.sort_by(f64::total_cmp);
    u
}

/// The gap slope that best aligns the gap groups' quantiles.
fn gap_slope(pairs: &[ImpostorPair]) -> f64 {
    let mut best = (f64::INFINITY, 0.0);
    for step in 0..=20 {
        let k = f64::from(step) * 0.001;
        let groups: Vec<Vec<f64>> = GROUPS
            .iter()
            .map(|&(lo, hi)| adjusted(pairs, k, |g| g >= lo && g <= hi))
            .filter(|u| u.len() >= GROUP_MIN_PAIRS)
            .map(|u| LEVELS.iter().map(|&l| quantile(&u, l)).collect())
            .collect();
        if groups.len() < 2 {
            return 0.0;
        }
        let err: f64 = (0..LEVELS.len())
            .map(|j| {
                let mean = groups.iter().map(|q| q[j]).sum::<f64>() / groups.len() as f64;
                groups.iter().map(|q| (q[j] - mean).powi(2)).sum::<f64>()
            })
            .sum();
        if err < best.0 {
            best = (err, k);
        }
    }
    best.1
}

/// Fits the children's map onto `adult`'s curve.
pub fn fit_children(
    pairs: &[ImpostorPair],
    adult: &Calibration,
    source: &str,
) -> Result<ChildFit, FitError> {
    let pairs: Vec<ImpostorPair> = pairs
        .iter()
        .copied()
        .filter(|p| p.distance.is_finite() && p.gap.is_finite())
        .collect();
    if pairs.len() < MIN_PAIRS {
        return Err(FitError::TooFewPairs { found: pairs.len() });
    }
    let k = gap_slope(&pairs);
    let u = adjusted(&pairs, k, |_| true);
    let xs: Vec<f64> = LEVELS.iter().map(|&l| quantile(&u, l)).collect();
    let ys: Vec<f64> = LEVELS.iter().map(|&l| adult.quantile(l)).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let scale = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(FitError::Degenerate(scale));
    }
    // y = scale · (x − offset)  ⇒  offset = mx − my / scale.
    let mut offset = mx - my / scale;
    // Lower the offset (more cautious) until every band keeps its ceiling
    // on the fitted pairs with a margin.
    for _ in 0..200 {
        let within = Band::QUEUED.iter().all(|&(_, ceiling)| {
            let edge = adult.quantile(ceiling) / scale + offset;
            within_ceiling(u.partition_point(|&x| x <= edge), u.len(), ceiling)
        });
        if within {
            break;
        }
        offset -= 0.001;
    }
    let mut fit = ChildFit {
        scale,
        offset,
        gap_slope: k,
        gap_cap_years: GAP_CAP_YEARS,
        photo_correlation: 0.0,
        impostor_pairs: pairs.len() as u64,
        source: source.into(),
    };
    fit.photo_correlation = photo_correlation(&pair_rates(&pairs, adult, &fit));
    // The same caution for whole cases: a group is one impostor case, read
    // through its best photo and the photo correlation.
    for _ in 0..200 {
        if bands_within(&case_rates(&pairs, adult, &fit)) {
            break;
        }
        fit.offset -= 0.001;
    }
    Ok(fit)
}

/// Each group's per-case false-match rate through `fit`, ascending.
fn case_rates(pairs: &[ImpostorPair], adult: &Calibration, fit: &ChildFit) -> Vec<f64> {
    let mut groups: HashMap<u64, (f64, usize)> = HashMap::new();
    for p in pairs {
        let z = fit.adult_equivalent(p.distance, Some(p.gap));
        let g = groups.entry(p.group).or_insert((f64::INFINITY, 0));
        g.0 = g.0.min(z);
        g.1 += 1;
    }
    let mut rates: Vec<f64> = groups
        .values()
        .map(|&(z, n)| normal::best_of(adult.pair_fmr_equivalent(z), n, fit.photo_correlation))
        .collect();
    rates.sort_by(f64::total_cmp);
    rates
}

/// Tail levels at which the photo correlation is matched.
const ALIKE_LEVELS: [f64; 4] = [0.01, 0.02, 0.05, 0.1];

/// Each pair's group and false-match rate through `fit`.
fn pair_rates(pairs: &[ImpostorPair], adult: &Calibration, fit: &ChildFit) -> Vec<(u64, f64)> {
    pairs
        .iter()
        .map(|p| {
            let z = fit.adult_equivalent(p.distance, Some(p.gap));
            (p.group, adult.pair_fmr_equivalent(z))
        })
        .collect()
}

/// How alike one impostor case's photos are, read where the bands are: the
/// correlation (0 to [`MAX_PHOTO_CORRELATION`], steps of 0.01) at which the
/// model's chance that a group's best photo reaches each of
/// [`ALIKE_LEVELS`] best matches the share of groups that do. Each level
/// is taken at the photos' own measured rate (`rates`: each pair's group and
/// calibrated false-match rate), so that an error in the map is not read as
/// likeness. 0 when no group has two photos.
fn photo_correlation(rates: &[(u64, f64)]) -> f64 {
    let mut groups: HashMap<u64, Vec<f64>> = HashMap::new();
    for &(group, rate) in rates {
        groups.entry(group).or_default().push(rate);
    }
    let many: Vec<(f64, usize)> = groups
        .values()
        .filter(|g| g.len() >= 2)
        .map(|g| (g.iter().copied().fold(1.0, f64::min), g.len()))
        .collect();
    if many.is_empty() {
        return 0.0;
    }
    let photos: Vec<f64> = groups
        .values()
        .filter(|g| g.len() >= 2)
        .flatten()
        .copied()
        .collect();
    let share = |hit: &dyn Fn(f64) -> bool, of: &[f64]| {
        of.iter().filter(|&&r| hit(r)).count() as f64 / of.len() as f64
    };
    let best: Vec<f64> = many.iter().map(|g| g.0).collect();
    // (rate per photo, share of groups whose best reaches it) per level.
    let levels: Vec<(f64, f64)> = ALIKE_LEVELS
        .iter()
        .map(|&q| (share(&|r| r <= q, &photos), share(&|r| r <= q, &best)))
        .filter(|&(per_photo, _)| per_photo > 0.0)
        .collect();
    // Groups by size: the model's chance depends only on the size.
    let mut sizes: std::collections::BTreeMap<usize, usize> = Default::default();
    for &(_, n) in &many {
        *sizes.entry(n).or_default() += 1;
    }
    let misfit = |rho: f64| -> f64 {
        levels
            .iter()
            .map(|&(per_photo, seen)| {
                let model = sizes
                    .iter()
                    .map(|(&n, &count)| count as f64 * normal::best_of(per_photo, n, rho))
                    .sum::<f64>()
                    / many.len() as f64;
                // Relative error: each level counts alike.
                ((model - seen) / seen.max(1e-9)).powi(2)
            })
            .sum()
    };
    (0..=95)
        .map(|i| f64::from(i) / 100.0)
        .min_by(|a, b| misfit(*a).total_cmp(&misfit(*b)))
        .unwrap_or(0.0)
        .min(MAX_PHOTO_CORRELATION)
}

/// One child-against-child impostor pair measured by both models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedPair {
    /// dlib's distance.
    pub dlib: f64,
    /// SFace's distance (Euclidean between unit vectors).
    pub sface: f64,
    /// Years between the ages (sighting face minus registry face).
    pub gap: f64,
    /// As [`ImpostorPair::group`].
    pub group: u64,
}

impl FusedPair {
    /// The pair as seen by one model.
    pub fn of(&self, sface: bool) -> ImpostorPair {
        ImpostorPair {
            distance: if sface { self.sface } else { self.dlib },
            gap: self.gap,
            group: self.group,
        }
    }
}

/// Fits the fusion of two models whose tables (`dlib`, `sface`) already
/// carry their children's maps: `r`, the correlation of their normal
/// scores over `pairs`, and the photo correlation of the fused scores.
pub fn fit_fusion(
    pairs: &[FusedPair],
    dlib: &Calibration,
    sface: &Calibration,
    source: &str,
) -> Result<ModelFusion, FitError> {
    let pairs: Vec<FusedPair> = pairs
        .iter()
        .copied()
        .filter(|p| p.dlib.is_finite() && p.sface.is_finite() && p.gap.is_finite())
        .collect();
    if pairs.len() < MIN_PAIRS {
        return Err(FitError::TooFewPairs { found: pairs.len() });
    }
    let score = |c: &Calibration, d: f64, gap: f64| {
        normal::quantile(c.pair_fmr_equivalent(c.children.adult_equivalent(d, Some(gap))))
    };
    let u: Vec<(f64, f64)> = pairs
        .iter()
        .map(|p| (score(dlib, p.dlib, p.gap), score(sface, p.sface, p.gap)))
        .collect();
    let r = correlation(&u);
    if !r.is_finite() {
        return Err(FitError::Degenerate(r));
    }
    // Never 1 or above (the fused scale would not be normal), never below 0
    // (two face models do not disagree by design; a negative r would
    // over-credit a pair that both models find close).
    let mut fusion = ModelFusion {
        model_correlation: r.clamp(0.0, 0.999),
        photo_correlation: 0.0,
        impostor_pairs: pairs.len() as u64,
        source: source.into(),
        band_caution: Vec::new(),
    };
    let rates: Vec<(u64, f64)> = pairs
        .iter()
        .zip(&u)
        .map(|(p, &(a, b))| (p.group, normal::cdf(fusion.fused_score(a, b))))
        .collect();
    fusion.photo_correlation = photo_correlation(&rates);
    // Caution, band by band: each band's edge is moved until the fitted
    // pairs and cases keep that band's ceiling with the margin, so that the
    // strong band's caution (a handful of pairs) does not tighten the weak
    // band's (hundreds).
    fusion.band_caution = vec![0.0; Band::QUEUED.len()];
    let edges: Vec<f64> = Band::QUEUED
        .iter()
        .map(|&(_, ceiling)| normal::quantile(ceiling))
        .collect();
    for _ in 0..MAX_CAUTION_STEPS {
        let (per_pair, cases) = fused_rates(&pairs, &u, &fusion);
        let failing: Vec<usize> = Band::QUEUED
            .iter()
            .enumerate()
            .filter(|&(_, &(_, ceiling))| {
                let count = |v: &[f64]| v.partition_point(|&r| r <= ceiling);
                !within_ceiling(count(&per_pair), per_pair.len(), ceiling)
                    || !within_ceiling(count(&cases), cases.len(), ceiling)
            })
            .map(|(i, _)| i)
            .collect();
        if failing.is_empty() {
            break;
        }
        for i in failing {
            fusion.band_caution[i] += CAUTION_STEP;
        }
        // Keep the map monotone: a stronger band's shift may exceed the
        // next band's by at most 90 % of the distance between their edges.
        for i in 0..edges.len() - 1 {
            let most = 0.9 * (edges[i + 1] - edges[i]);
            let c = &mut fusion.band_caution;
            if c[i] - c[i + 1] > most {
                c[i + 1] = c[i] - most;
            }
        }
    }
    Ok(fusion)
}

/// Steps of the fused bands' caution (on the normal scale).
const CAUTION_STEP: f64 = 0.01;
/// At most this many steps (a shift of 4 standard deviations).
const MAX_CAUTION_STEPS: usize = 400;

/// The fitted pairs' fused rates and their groups' per-case rates through
/// `fusion`, each ascending.
fn fused_rates(
    pairs: &[FusedPair],
    u: &[(f64, f64)],
    fusion: &ModelFusion,
) -> (Vec<f64>, Vec<f64>) {
    let mut per_pair = Vec::with_capacity(pairs.len());
    let mut groups: HashMap<u64, (f64, usize)> = HashMap::new();
    for (p, &(a, b)) in pairs.iter().zip(u) {
        let r = normal::cdf(fusion.fused_score(a, b));
        per_pair.push(r);
        let e = groups.entry(p.group).or_insert((1.0, 0));
        e.0 = e.0.min(r);
        e.1 += 1;
    }
    let mut cases: Vec<f64> = groups
        .values()
        .map(|&(r, n)| normal::best_of(r, n, fusion.photo_correlation))
        .collect();
    per_pair.sort_by(f64::total_cmp);
    cases.sort_by(f64::total_cmp);
    (per_pair, cases)
}

/// Pearson correlation of the pairs' two values.
fn correlation(v: &[(f64, f64)]) -> f64 {
    let n = v.len() as f64;
    let (ma, mb) = (
        v.iter().map(|x| x.0).sum::<f64>() / n,
        v.iter().map(|x| x.1).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for &(a, b) in v {
        sab += (a - ma) * (b - mb);
        saa += (a - ma).powi(2);
        sbb += (b - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform numbers in [0, 1).
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn recovers_a_known_map_and_gap_slope() {
        let adult = Calibration::shipped().unwrap();
        // Children's pairs drawn so that scale 1.4, offset 0.02 and 0.01 per
        // year of gap map them exactly onto the adult curve.
        let mut seed = 7;
        // Each group is one "child" with three photos whose normal scores
        // correlate at 0.6.
        let rho: f64 = 0.6;
        let mut shared = 0.0;
        let pairs: Vec<ImpostorPair> = (0..40_000u32)
            .map(|i| {
                let gap = f64::from(i % 16);
                if i % 3 == 0 {
                    shared = normal::quantile(lcg(&mut seed).clamp(1e-9, 1.0 - 1e-9));
                }
                let own = normal::quantile(lcg(&mut seed).clamp(1e-9, 1.0 - 1e-9));
                let u = rho.sqrt() * shared + (1.0 - rho).sqrt() * own;
                let z = adult.quantile(normal::cdf(u).clamp(1e-4, 0.9999));
                ImpostorPair {
                    distance: z / 1.4 + 0.02 + 0.01 * gap.min(GAP_CAP_YEARS),
                    gap,
                    group: u64::from(i / 3),
                }
            })
            .collect();
        let f = fit_children(&pairs, &adult, "synthetic").unwrap();
        assert!((f.gap_slope - 0.01).abs() < 0.0015, "{f:?}");
        assert!((f.scale - 1.4).abs() < 0.1, "{f:?}");
        assert!((f.offset - 0.02).abs() < 0.02, "{f:?}");
        // The clamps at the table's ends blunt the scores a little.
        assert!((f.photo_correlation - rho).abs() < 0.08, "{f:?}");
        // Every pair its own group: nothing to correlate.
        let alone: Vec<ImpostorPair> = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| ImpostorPair {
                group: i as u64,
                ..*p
            })
            .collect();
        let f = fit_children(&alone, &adult, "synthetic").unwrap();
        assert_eq!(f.photo_correlation, 0.0);
    }

    #[test]
    fn fusion_fit_recovers_the_models_correlation() {
        let adult = Calibration::shipped().unwrap();
        let (r, rho) = (0.6_f64, 0.7_f64);
        let (up, down) = ((2.0 + 2.0 * r).sqrt() / 2.0, (2.0 - 2.0 * r).sqrt() / 2.0);
        let mut seed = 9;
        let mut shared = 0.0;
        let unit = |seed: &mut u64| normal::quantile(lcg(seed).clamp(1e-9, 1.0 - 1e-9));
        // Both "models" read through the same table and map, with the
        // impostors a little further off than the map says, so that the
        // caution (which raises r) has nothing to correct.
        let at = |u: f64| {
            adult.children.offset + adult.quantile(normal::cdf(u + 0.3)) / adult.children.scale
        };
        let pairs: Vec<FusedPair> = (0..30_000u32)
            .map(|i| {
                if i % 3 == 0 {
                    shared = unit(&mut seed);
                }
                let f = rho.sqrt() * shared + (1.0 - rho).sqrt() * unit(&mut seed);
                let g = unit(&mut seed);
                FusedPair {
                    dlib: at(up * f + down * g),
                    sface: at(up * f - down * g),
                    gap: 0.0,
                    group: u64::from(i / 3),
                }
            })
            .collect();
        let f = fit_fusion(&pairs, &adult, &adult, "synthetic").unwrap();
        assert!((f.model_correlation - r).abs() < 0.05, "{f:?}");
        assert!((f.photo_correlation - rho).abs() < 0.1, "{f:?}");
        assert_eq!(
            fit_fusion(&pairs[..10], &adult, &adult, "x"),
            Err(FitError::TooFewPairs { found: 10 })
        );
    }

    #[test]
    fn a_band_keeps_its_ceiling_with_a_margin() {
        // 100,000 cases at 0.1 %: 100 allowed, less one standard error (10).
        assert!(within_ceiling(90, 100_000, 0.001));
        assert!(!within_ceiling(91, 100_000, 0.001));
        // Fewer cases than one per ceiling: the band may hold none.
        assert!(within_ceiling(0, 900, 0.001));
        assert!(!within_ceiling(1, 900, 0.001));
        assert!(bands_within(&[]));
    }

    #[test]
    fn the_fitted_pairs_keep_every_band_with_the_margin() {
        let adult = Calibration::shipped().unwrap();
        // Children's impostor pairs whose tail is heavier than the adult
        // curve's: the least-squares map alone would let too many through.
        let mut seed = 11;
        let pairs: Vec<ImpostorPair> = (0..20_000u64)
            .map(|i| {
                let u = lcg(&mut seed).clamp(1e-6, 1.0 - 1e-6);
                let heavy = if i % 50 == 0 { 0.6 } else { 1.0 };
                ImpostorPair {
                    distance: 0.05 + heavy * adult.quantile(u) / 1.3,
                    gap: 0.0,
                    group: i,
                }
            })
            .collect();
        let f = fit_children(&pairs, &adult, "synthetic").unwrap();
        let mut rates: Vec<f64> = pairs
            .iter()
            .map(|p| adult.pair_fmr_equivalent(f.adult_equivalent(p.distance, Some(p.gap))))
            .collect();
        rates.sort_by(f64::total_cmp);
        for (_, ceiling) in Band::QUEUED {
            let count = rates.partition_point(|&r| r <= ceiling);
            let allowed = ceiling * 20_000.0 - (ceiling * 20_000.0).sqrt();
            assert!(count as f64 <= allowed, "{count} pairs at {ceiling}: {f:?}");
        }
    }

    #[test]
    fn each_fused_band_gets_its_own_caution() {
        let adult = Calibration::shipped().unwrap();
        let mut seed = 13;
        let unit = |seed: &mut u64| normal::quantile(lcg(seed).clamp(1e-9, 1.0 - 1e-9));
        let at =
            |u: f64| adult.children.offset + adult.quantile(normal::cdf(u)) / adult.children.scale;
        // Two independent "models" that agree with the map except for a
        // heavy deep tail: one pair in 400 is pulled close by both.
        let pairs: Vec<FusedPair> = (0..40_000u64)
            .map(|i| {
                let pull = if i % 400 == 0 { -1.6 } else { 0.0 };
                FusedPair {
                    dlib: at(unit(&mut seed) + pull),
                    sface: at(unit(&mut seed) + pull),
                    gap: 0.0,
                    group: i,
                }
            })
            .collect();
        let f = fit_fusion(&pairs, &adult, &adult, "synthetic").unwrap();
        let c = &f.band_caution;
        assert!(f.caution_is_valid(), "{f:?}");
        // The strong band needs more caution than the weak one.
        assert!(c[0] > c[2] + 0.1, "{f:?}");
        let u: Vec<(f64, f64)> = pairs
            .iter()
            .map(|p| {
                let score = |d| {
                    normal::quantile(
                        adult.pair_fmr_equivalent(adult.children.adult_equivalent(d, Some(0.0))),
                    )
                };
                (score(p.dlib), score(p.sface))
            })
            .collect();
        let (per_pair, _) = fused_rates(&pairs, &u, &f);
        assert!(bands_within(&per_pair), "{f:?}");
    }

    #[test]
    fn refuses_too_few_pairs() {
        let adult = Calibration::shipped().unwrap();
        let pairs = vec![
            ImpostorPair {
                distance: 0.5,
                gap: 3.0,
                group: 0,
            };
            10
        ];
        assert_eq!(
            fit_children(&pairs, &adult, "x"),
            Err(FitError::TooFewPairs { found: 10 })
        );
    }
}
