//! Ranking policy: per case, never per photo. Reads every photo of a case
//! through the children's calibration (which credits the years between the
//! photo and the sighting), applies sex and apparent-age priors, and ranks
//! cases by their estimated per-case false-match rate, which is fair to the
//! number of photos. Every candidate carries its explanation and review
//! band. See `docs/adr-ranking.md`.

mod age;
mod calibration;
mod explain;
mod fit;
mod fusion;
mod normal;
mod priors;

pub use age::{age_gap, Birth, Day};
pub use calibration::{Band, Calibration, CalibrationError, ChildFit, ModelFusion, Population};
pub use explain::{rate, Candidate, PairScore, Why};
pub use fit::{fit_children, fit_fusion, FitError, FusedPair, ImpostorPair};
pub use fusion::{Fusion, Models};
pub use priors::PriorSettings;

use homeward_core::index::{l2, Embedding};
use homeward_core::store::Sex;

use fusion::{Scored, Used};
use priors::Verdict;

/// One face of a case's gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryFace {
    /// Face row id.
    pub face_id: u64,
    /// Photo row id.
    pub photo_id: u64,
    /// Embedding.
    pub embedding: Embedding,
    /// The child's age in the photo, in years, if known.
    pub age_years: Option<f64>,
    /// When the photo was taken, if known.
    pub day: Option<Day>,
    /// Set when enrolled from a confirmed sighting.
    pub enrolled_from_sighting: Option<u64>,
}

/// One sighting face: its dlib embedding and, when computed, its SFace
/// embedding (scaled to length 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryFace {
    /// dlib's embedding.
    pub dlib: Embedding,
    /// SFace's embedding, scaled to length 1, if computed.
    pub sface: Option<Embedding>,
}

impl From<Embedding> for QueryFace {
    fn from(dlib: Embedding) -> QueryFace {
        QueryFace { dlib, sface: None }
    }
}

/// SFace vectors (scaled to length 1) of gallery faces, by
/// [`GalleryFace::face_id`]. A face without one is scored by dlib alone;
/// the registry stores none yet, so the live search passes an empty map.
pub type SfaceVectors = std::collections::HashMap<u64, Embedding>;

/// Everything ranking needs of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseGallery {
    /// Case id.
    pub case_id: u64,
    /// Recorded sex.
    pub sex: Sex,
    /// What is known of the birth.
    pub birth: Option<Birth>,
    /// Its faces.
    pub faces: Vec<GalleryFace>,
}

/// What is known of the sighting, beyond its faces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryMeta {
    /// Day of the sighting.
    pub day: Option<Day>,
    /// Apparent age range in years.
    pub apparent_age: Option<(f64, f64)>,
    /// Apparent sex.
    pub sex: Option<Sex>,
}

/// The ranking policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Fusion of a case's photos.
    pub fusion: Fusion,
    /// Priors.
    pub priors: PriorSettings,
    /// Population the calibration is read for.
    pub population: Population,
    /// Calibration table.
    pub calibration: Calibration,
    /// Face model(s) behind a [`Fusion::Calibrated`] score. Anything but
    /// dlib needs SFace vectors on both sides and an SFace table in
    /// `calibration`; pairs without them are scored by dlib alone.
    pub models: Models,
}

impl Policy {
    /// The default policy with the shipped calibration table.
    pub fn shipped() -> Result<Policy, CalibrationError> {
        Ok(Policy {
            fusion: Fusion::Calibrated,
            priors: PriorSettings::default(),
            population: Population::Child,
            calibration: Calibration::shipped()?,
            models: Models::Fusion,
        })
    }

    /// Ranks `cases` for the sighting faces `faces`, best first. A case's
    /// score is its best over the sighting's faces. Cases a hard filter drops
    /// are left out; every other case with at least one face is returned.
    pub fn rank(
        &self,
        faces: &[Embedding],
        meta: &QueryMeta,
        cases: &[CaseGallery],
    ) -> Vec<Candidate> {
        let faces: Vec<QueryFace> = faces.iter().copied().map(QueryFace::from).collect();
        self.rank_faces(&faces, meta, cases, &SfaceVectors::new())
    }

    /// [`Policy::rank`] with each sighting face's SFace vector, if any, and
    /// the gallery faces' SFace vectors in `sface` (by face id).
    pub fn rank_faces(
        &self,
        faces: &[QueryFace],
        meta: &QueryMeta,
        cases: &[CaseGallery],
        sface: &SfaceVectors,
    ) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = cases
            .iter()
            .filter_map(|c| self.score_case_faces(faces, meta, c, sface))
            .collect();
        if self.fusion == Fusion::Calibrated {
            out.sort_by(|a, b| {
                a.case_fmr
                    .total_cmp(&b.case_fmr)
                    .then(a.score.total_cmp(&b.score))
                    .then(a.case_id.cmp(&b.case_id))
            });
        } else {
            out.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.case_id.cmp(&b.case_id)));
        }
        out
    }

    /// The most the calibration can take off a raw distance for the years
    /// between photo and sighting: a shortlist fetched by raw distance must
    /// reach this much beyond its cut to miss no case.
    pub fn max_credit(&self) -> f64 {
        match (self.fusion, self.population) {
            (Fusion::Calibrated, Population::Child) => self.calibration.children.max_credit(),
            _ => 0.0,
        }
    }

    /// Scores one case (see [`Policy::rank`]).
    pub fn score_case(
        &self,
        faces: &[Embedding],
        meta: &QueryMeta,
        case: &CaseGallery,
    ) -> Option<Candidate> {
        let faces: Vec<QueryFace> = faces.iter().copied().map(QueryFace::from).collect();
        self.score_case_faces(&faces, meta, case, &SfaceVectors::new())
    }

    /// The adult-equivalent distance (on dlib's curve) of one photo pair, and
    /// the model(s) behind it. dlib's distance `d` is read through dlib's
    /// table as ever; with SFace (`s`, and an SFace table) each model's pair
    /// false-match rate comes from its own table, the two are fused as
    /// normal scores ([`ModelFusion`]), and the fused rate is turned back
    /// into the dlib distance with that rate, so bands, case rates and
    /// sorting read it as they read dlib's.
    fn read_pair(&self, d: f64, s: Option<f64>, gap: Option<f64>) -> (f64, Used) {
        let cal = &self.calibration;
        let pop = self.population;
        let dlib = || (cal.equivalent(d, gap, pop), Used::Dlib);
        let (Some(s), Some(sc)) = (s, cal.sface.as_deref()) else {
            return dlib();
        };
        let p_sface = sc.pair_fmr_equivalent(sc.equivalent(s, gap, pop));
        match (self.models, &cal.fusion) {
            (Models::Sface, _) => (cal.quantile(p_sface), Used::Sface),
            (Models::Fusion, Some(f)) => {
                let p_dlib = cal.pair_fmr_equivalent(cal.equivalent(d, gap, pop));
                (cal.quantile(f.fuse(p_dlib, p_sface)), Used::Both)
            }
            _ => dlib(),
        }
    }

    /// How alike one impostor case's photos score, for pairs scored by `used`.
    fn photo_correlation(&self, used: Used) -> f64 {
        let cal = &self.calibration;
        match (self.population, used) {
            (Population::Adult, _) => 0.0,
            (Population::Child, Used::Dlib) => cal.children.photo_correlation,
            (Population::Child, Used::Sface) => cal
                .sface
                .as_ref()
                .map_or(cal.children.photo_correlation, |s| {
                    s.children.photo_correlation
                }),
            (Population::Child, Used::Both) => cal
                .fusion
                .as_ref()
                .map_or(cal.children.photo_correlation, |f| f.photo_correlation),
        }
    }

    /// [`Policy::score_case`] with SFace vectors (see [`Policy::rank_faces`]).
    pub fn score_case_faces(
        &self,
        faces: &[QueryFace],
        meta: &QueryMeta,
        case: &CaseGallery,
        sface: &SfaceVectors,
    ) -> Option<Candidate> {
        if case.faces.is_empty() {
            return None;
        }
        let expected = case.birth.zip(meta.day).map(|(b, d)| b.age_on(d));
        let uncertainty = case.birth.map_or(0.0, |b| b.uncertainty_years);
        let applied = match priors::apply(
            &self.priors,
            meta.sex,
            case.sex,
            meta.apparent_age,
            expected,
            uncertainty,
        ) {
            Verdict::Drop => return None,
            Verdict::Keep(p) => p,
        };
        // The face age the sighting can have: the case's expected age, but
        // never older than the volunteer's apparent age allows (so an
        // impostor case cannot gain a gap the sighting does not show).
        let face_age = expected.map(|e| meta.apparent_age.map_or(e, |(_, hi)| e.min(hi)));
        let cal = &self.calibration;
        let second = self.models != Models::Dlib && self.fusion == Fusion::Calibrated;
        let mut best: Option<(f64, usize, Vec<Scored>)> = None;
        for (fi, q) in faces.iter().enumerate() {
            let scored: Vec<Scored> = case
                .faces
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let distance = f64::from(l2(&q.dlib, &g.embedding));
                    let gap = age_gap(g.age_years, g.day, face_age, meta.day);
                    let sface_distance = q
                        .sface
                        .zip(sface.get(&g.face_id))
                        .filter(|_| second)
                        .map(|(a, b)| f64::from(l2(&a, b)));
                    let (equivalent, used) = self.read_pair(distance, sface_distance, gap);
                    Scored {
                        index: i,
                        distance,
                        sface_distance: sface_distance.filter(|_| used != Used::Dlib),
                        used,
                        gap,
                        equivalent,
                    }
                })
                .collect();
            if let Some((fused, _)) = fusion::fuse(self.fusion, &scored) {
                if best.as_ref().is_none_or(|b| fused < b.0) {
                    best = Some((fused, fi, scored));
                }
            }
        }
        let (fused, face, mut scored) = best?;
        let (_, decider) = fusion::fuse(self.fusion, &scored)?;
        let pair = |s: &Scored| {
            let g = &case.faces[s.index];
            PairScore {
                photo_id: g.photo_id,
                face_id: g.face_id,
                distance: s.distance,
                sface_distance: s.sface_distance,
                age_gap_years: s.gap,
                enrolled_from_sighting: g.enrolled_from_sighting,
            }
        };
        let best_pair = pair(&scored[decider]);
        let used = scored[decider].used;
        scored.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        let nearest = scored.iter().take(3).map(pair).collect();
        let score = fused + applied.iter().map(|p| p.penalty).sum::<f64>();
        let n = case.faces.len();
        // Calibrated scores are adult-equivalent distances already; raw
        // fusions are read at an unknown gap (the cautious reading).
        let z = match self.fusion {
            Fusion::Calibrated => score,
            Fusion::Min | Fusion::Mean2 => cal.equivalent(score, None, self.population),
        };
        let case_fmr = match self.fusion {
            Fusion::Calibrated => cal.case_fmr_alike(z, n, self.photo_correlation(used)),
            Fusion::Min | Fusion::Mean2 => cal.case_fmr_equivalent(z, n, self.population),
        };
        Some(Candidate {
            case_id: case.case_id,
            score,
            pair_fmr: cal.pair_fmr_equivalent(z),
            case_fmr,
            band: Band::of(case_fmr),
            why: Why {
                sighting_face: face,
                best: best_pair,
                nearest,
                photos_compared: n,
                fusion: self.fusion.name().into(),
                models: used.name().into(),
                fused_distance: fused,
                expected_age_years: expected,
                priors: applied,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(x: f32) -> Embedding {
        let mut e = [0.0; 128];
        e[0] = x;
        e
    }

    fn gallery(case_id: u64, sex: Sex, xs: &[(f32, Option<f64>)]) -> CaseGallery {
        CaseGallery {
            case_id,
            sex,
            birth: Birth::from_case(Some("2010-01-01"), None),
            faces: xs
                .iter()
                .enumerate()
                .map(|(i, &(x, age))| GalleryFace {
                    face_id: case_id * 10 + i as u64,
                    photo_id: case_id * 10 + i as u64,
                    embedding: emb(x),
                    age_years: age,
                    day: None,
                    enrolled_from_sighting: None,
                })
                .collect(),
        }
    }

    #[test]
    fn ranks_cases_by_their_best_photo_and_explains() {
        let p = Policy::shipped().unwrap();
        let cases = [
            gallery(1, Sex::Female, &[(0.9, None), (0.3, None)]),
            gallery(2, Sex::Female, &[(0.5, None)]),
            gallery(3, Sex::Female, &[]),
        ];
        let r = p.rank(&[emb(0.0)], &QueryMeta::default(), &cases);
        assert_eq!(r.iter().map(|c| c.case_id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(r[0].why.best.photo_id, 11);
        assert!((r[0].why.best.distance - 0.3).abs() < 1e-6);
        assert_eq!(r[0].why.photos_compared, 2);
        assert!(r[0].case_fmr <= r[1].case_fmr);
        assert!(r[0].band <= r[1].band);
    }

    #[test]
    fn soft_priors_reorder_and_hard_priors_drop() {
        let mut p = Policy::shipped().unwrap();
        let cases = [
            gallery(1, Sex::Male, &[(0.40, None)]),
            gallery(2, Sex::Female, &[(0.42, None)]),
        ];
        let meta = QueryMeta {
            sex: Some(Sex::Female),
            ..QueryMeta::default()
        };
        let r = p.rank(&[emb(0.0)], &meta, &cases);
        assert_eq!(r[0].case_id, 2);
        assert_eq!(r[1].why.priors[0].name, "sex");
        p.priors.hard_sex = true;
        let r = p.rank(&[emb(0.0)], &meta, &cases);
        assert_eq!(r.len(), 1);
    }

    /// A case born 2010-01-01 whose photos have the given ages (None: the
    /// case has no birth date and its photos no ages).
    fn dated(case_id: u64, xs: &[(f32, Option<f64>)]) -> CaseGallery {
        let mut g = gallery(case_id, Sex::Unknown, xs);
        if xs.iter().all(|(_, a)| a.is_none()) {
            g.birth = None;
        }
        g
    }

    fn seen_2024() -> QueryMeta {
        QueryMeta {
            day: Day::parse("2024-01-01"),
            ..QueryMeta::default()
        }
    }

    #[test]
    fn a_case_with_undated_photos_does_not_outrank_an_identical_dated_case() {
        let p = Policy::shipped().unwrap();
        for gap_age in [13.5, 10.0, 4.0] {
            // Case 1 is undated; case 2 has the same distance and a photo age.
            let cases = [
                dated(1, &[(0.45, None)]),
                dated(2, &[(0.45, Some(gap_age))]),
            ];
            let r = p.rank(&[emb(0.0)], &seen_2024(), &cases);
            assert_eq!(r[0].case_id, 2, "photo at age {gap_age}: {r:?}");
            assert!(r[1].case_fmr >= r[0].case_fmr);
        }
        // Without a sighting date nothing is known of the gap: a tie, broken by id.
        let cases = [dated(2, &[(0.45, Some(3.0))]), dated(1, &[(0.45, None)])];
        let r = p.rank(&[emb(0.0)], &QueryMeta::default(), &cases);
        assert_eq!(r[0].case_fmr, r[1].case_fmr);
    }

    #[test]
    fn a_child_missing_ten_years_does_not_rank_below_one_missing_one_year() {
        let p = Policy::shipped().unwrap();
        // Both born 2010, seen 2024 (age 14): case 1's photo is from age 13,
        // case 2's from age 4, at the same distance.
        for d in [0.30, 0.45, 0.55, 0.65] {
            let cases = [dated(1, &[(d, Some(13.0))]), dated(2, &[(d, Some(4.0))])];
            let r = p.rank(&[emb(0.0)], &seen_2024(), &cases);
            assert_eq!(r[0].case_id, 2, "distance {d}");
            assert!(r[0].case_fmr <= r[1].case_fmr);
        }
    }

    #[test]
    fn the_gap_is_never_larger_than_the_apparent_age_allows() {
        let p = Policy::shipped().unwrap();
        let case = dated(1, &[(0.5, Some(2.0))]);
        let plain = p.score_case(&[emb(0.0)], &seen_2024(), &case).unwrap();
        let young = QueryMeta {
            apparent_age: Some((3.0, 5.0)),
            ..seen_2024()
        };
        let c = p.score_case(&[emb(0.0)], &young, &case).unwrap();
        let gap = plain.why.best.age_gap_years.unwrap();
        assert!((gap - 12.0).abs() < 0.01, "{gap}");
        assert!(c.why.fused_distance > plain.why.fused_distance);
    }

    /// Deterministic uniform numbers in [0, 1).
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn impostor_cases_reach_each_band_equally_often_with_one_or_five_photos() {
        let p = Policy::shipped().unwrap();
        let cal = &p.calibration;
        let ch = &cal.children;
        let rho = ch.photo_correlation;
        assert!(
            rho > 0.0,
            "the shipped fit reads children's photos as alike"
        );
        let mut seed = 11;
        // Undated impostor cases whose photos follow the calibrated
        // children's impostor curve and are alike as the fit says: each
        // photo's normal score is √ρ·(the case's share) + √(1−ρ)·(its own).
        let mut case = |n: usize| -> Vec<(f32, Option<f64>)> {
            let shared = normal::quantile(lcg(&mut seed));
            (0..n)
                .map(|_| {
                    let own = normal::quantile(lcg(&mut seed));
                    let u = rho.sqrt() * shared + (1.0 - rho).sqrt() * own;
                    let z = cal.quantile(normal::cdf(u));
                    ((z / ch.scale + ch.offset) as f32, None)
                })
                .collect()
        };
        let trials = 20_000;
        let mut reach = [[0u32; 3]; 2];
        for t in 0..trials {
            for (k, n) in [1usize, 5].into_iter().enumerate() {
                let xs = case(n);
                let c = p
                    .score_case(&[emb(0.0)], &QueryMeta::default(), &dated(t, &xs))
                    .unwrap();
                for (b, (band, _)) in Band::QUEUED.iter().enumerate() {
                    reach[k][b] += u32::from(c.band <= *band);
                }
            }
        }
        for (b, (band, ceiling)) in Band::QUEUED.iter().enumerate() {
            let (one, five) = (
                f64::from(reach[0][b]) / trials as f64,
                f64::from(reach[1][b]) / trials as f64,
            );
            // Four standard errors of the difference of two shares.
            let se = (2.0 * ceiling * (1.0 - ceiling) / trials as f64).sqrt();
            assert!(
                (one - five).abs() <= 4.0 * se + 1e-4,
                "{band:?}: 1 photo {one}, 5 photos {five}"
            );
            assert!(five <= ceiling * 1.3, "{band:?}: {five} over {ceiling}");
        }
        // Plain `min` would let the five-photo cases through far more often,
        // and so would reading alike photos as one.
        let weak_edge = cal.band_edges(Population::Child)[2].2;
        let (mut one, mut five) = (0, 0);
        for _ in 0..trials {
            one += u32::from(f64::from(case(1)[0].0) <= weak_edge);
            let best = case(5)
                .iter()
                .map(|x| f64::from(x.0))
                .fold(f64::INFINITY, f64::min);
            five += u32::from(best <= weak_edge);
        }
        assert!(f64::from(five) > 1.8 * f64::from(one), "{one} {five}");
    }

    /// A synthetic SFace table: impostor distances normal around 1.2 (sd
    /// 0.1), children's map the identity but for the gap credit.
    fn sface_table() -> Calibration {
        let n = 100_000;
        let d: Vec<f32> = (0..n)
            .map(|i| (1.2 + 0.1 * normal::quantile((f64::from(i) + 0.5) / f64::from(n))) as f32)
            .collect();
        let children = ChildFit {
            scale: 1.0,
            offset: 0.0,
            gap_slope: 0.015,
            gap_cap_years: 12.0,
            photo_correlation: 0.7,
            impostor_pairs: 1000,
            source: "synthetic".into(),
        };
        Calibration::fit_on(&d, Calibration::unit_grid(), "sface", "synthetic", children)
    }

    /// The shipped policy with the synthetic SFace table fused at `r`, `rho`.
    fn fused_policy(r: f64, rho: f64) -> Policy {
        let mut p = Policy::shipped().unwrap();
        p.calibration.sface = Some(Box::new(sface_table()));
        p.calibration.fusion = Some(ModelFusion {
            model_correlation: r,
            photo_correlation: rho,
            impostor_pairs: 1000,
            source: "synthetic".into(),
            band_caution: Vec::new(),
        });
        p.models = Models::Fusion;
        p
    }

    /// The distance whose calibrated (undated, child) normal score is `u`.
    fn distance_at(cal: &Calibration, u: f64) -> f64 {
        cal.quantile(normal::cdf(u)) / cal.children.scale + cal.children.offset
    }

    #[test]
    fn the_fused_normal_score_is_standard_normal_under_independent_nulls() {
        let p = fused_policy(0.0, 0.0);
        let sf = sface_table();
        let mut seed = 5;
        let n = 20_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let d = distance_at(&p.calibration, normal::quantile(lcg(&mut seed)));
            let s = distance_at(&sf, normal::quantile(lcg(&mut seed)));
            let (z, used) = p.read_pair(d, Some(s), None);
            assert_eq!(used, Used::Both);
            let u = normal::quantile(p.calibration.pair_fmr_equivalent(z));
            sum += u;
            sq += u * u;
        }
        let mean = sum / f64::from(n);
        let sd = (sq / f64::from(n) - mean * mean).sqrt();
        // Four standard errors (the tables' ends blunt the extremes a little).
        assert!(mean.abs() < 4.0 / f64::from(n).sqrt(), "mean {mean}");
        assert!((sd - 1.0).abs() < 0.03, "sd {sd}");
    }

    #[test]
    fn two_identical_models_at_full_correlation_read_as_one() {
        let mut p = Policy::shipped().unwrap();
        let same = p.calibration.clone();
        p.calibration.sface = Some(Box::new(same));
        p.calibration.fusion = Some(ModelFusion {
            model_correlation: 1.0,
            photo_correlation: p.calibration.children.photo_correlation,
            impostor_pairs: 1,
            source: String::new(),
            band_caution: Vec::new(),
        });
        p.models = Models::Fusion;
        let dlib = Policy::shipped().unwrap();
        for (d, gap) in [
            (0.3, None),
            (0.45, Some(4.0)),
            (0.55, Some(11.0)),
            (0.7, None),
        ] {
            let (alone, _) = dlib.read_pair(d, None, gap);
            let (both, used) = p.read_pair(d, Some(d), gap);
            assert_eq!(used, Used::Both);
            let (a, b) = (
                dlib.calibration.pair_fmr_equivalent(alone),
                p.calibration.pair_fmr_equivalent(both),
            );
            assert!((a / b - 1.0).abs() < 1e-6, "{d}: {a} {b}");
        }
    }

    #[test]
    fn a_face_without_an_sface_vector_is_scored_by_dlib_alone() {
        let fused = fused_policy(0.6, 0.7);
        let dlib = Policy::shipped().unwrap();
        let case = dated(1, &[(0.45, Some(4.0)), (0.5, Some(6.0))]);
        let plain = dlib.score_case(&[emb(0.0)], &seen_2024(), &case).unwrap();
        let query = QueryFace {
            dlib: emb(0.0),
            sface: Some(emb(0.0)),
        };
        // Neither gallery face has an SFace vector; then the sighting has none.
        let none = fused
            .score_case_faces(&[query], &seen_2024(), &case, &SfaceVectors::new())
            .unwrap();
        let mut vectors = SfaceVectors::new();
        vectors.insert(10, emb(1.0));
        let no_query = fused
            .score_case_faces(&[emb(0.0).into()], &seen_2024(), &case, &vectors)
            .unwrap();
        for c in [&none, &no_query] {
            assert_eq!(
                (c.score, c.case_fmr, c.band),
                (plain.score, plain.case_fmr, plain.band)
            );
            assert_eq!(c.why.models, "dlib");
            assert!(c.why.best.sface_distance.is_none());
        }
        // With a vector on both sides, the SFace evidence counts and is named.
        let both = fused
            .score_case_faces(&[query], &seen_2024(), &case, &vectors)
            .unwrap();
        assert_eq!(both.why.models, "dlib+sface");
        assert_eq!(both.why.best.sface_distance, Some(1.0));
        assert!(both.summary().contains("dlib+sface"), "{}", both.summary());
        // A table without SFace (versions 2 and 3) scores with dlib alone.
        let mut old = fused.clone();
        old.calibration.sface = None;
        old.calibration.fusion = None;
        let c = old
            .score_case_faces(&[query], &seen_2024(), &case, &vectors)
            .unwrap();
        assert_eq!((c.score, c.case_fmr), (plain.score, plain.case_fmr));
    }

    #[test]
    fn fused_impostor_cases_reach_each_band_equally_often_with_one_or_five_photos() {
        // Drawn at correlations like the fitted ones: the two models' normal
        // scores at r, one case's fused scores alike at rho.
        let (r, rho) = (0.6_f64, 0.75_f64);
        let p = fused_policy(r, rho);
        let sf = sface_table();
        let mut seed = 17;
        let (up, down) = ((2.0 + 2.0 * r).sqrt() / 2.0, (2.0 - 2.0 * r).sqrt() / 2.0);
        let trials = 20_000;
        let mut reach = [[0u32; 3]; 2];
        for t in 0..trials {
            for (k, n) in [1usize, 5].into_iter().enumerate() {
                let shared = normal::quantile(lcg(&mut seed));
                let mut vectors = SfaceVectors::new();
                let mut xs = Vec::new();
                for i in 0..n {
                    let f =
                        rho.sqrt() * shared + (1.0 - rho).sqrt() * normal::quantile(lcg(&mut seed));
                    let g = normal::quantile(lcg(&mut seed));
                    let (ud, us) = (up * f + down * g, up * f - down * g);
                    xs.push((distance_at(&p.calibration, ud) as f32, None));
                    vectors.insert(t * 10 + i as u64, emb(distance_at(&sf, us) as f32));
                }
                let query = QueryFace {
                    dlib: emb(0.0),
                    sface: Some(emb(0.0)),
                };
                let c = p
                    .score_case_faces(&[query], &QueryMeta::default(), &dated(t, &xs), &vectors)
                    .unwrap();
                assert_eq!(c.why.models, "dlib+sface");
                for (b, (band, _)) in Band::QUEUED.iter().enumerate() {
                    reach[k][b] += u32::from(c.band <= *band);
                }
            }
        }
        for (b, (band, ceiling)) in Band::QUEUED.iter().enumerate() {
            let (one, five) = (
                f64::from(reach[0][b]) / trials as f64,
                f64::from(reach[1][b]) / trials as f64,
            );
            let se = (2.0 * ceiling * (1.0 - ceiling) / trials as f64).sqrt();
            assert!(
                (one - five).abs() <= 4.0 * se + 1e-4,
                "{band:?}: 1 photo {one}, 5 photos {five}"
            );
            assert!(five <= ceiling * 1.3, "{band:?}: {five} over {ceiling}");
        }
    }

    #[test]
    fn multi_face_sighting_uses_its_best_face() {
        let p = Policy::shipped().unwrap();
        let case = gallery(1, Sex::Unknown, &[(0.5, None)]);
        let c = p
            .score_case(&[emb(2.0), emb(0.45)], &QueryMeta::default(), &case)
            .unwrap();
        assert_eq!(c.why.sighting_face, 1);
        assert!((c.why.best.distance - 0.05).abs() < 1e-6);
    }
}
