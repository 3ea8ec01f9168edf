//! Ranking policy: per case, never per photo. Fuses all of a case's photos,
//! weighs them by age, applies sex and apparent-age priors, and calibrates
//! the result into an estimated false-match rate and a review band. Every
//! candidate carries its explanation. See `docs/adr-ranking.md`.

mod age;
mod calibration;
mod explain;
mod fusion;
mod priors;

pub use age::{age_gap, Birth, Day};
pub use calibration::{Band, Calibration, CalibrationError, ChildAnchor, Population};
pub use explain::{rate, Candidate, PairScore, Why};
pub use fusion::Fusion;
pub use priors::PriorSettings;

use homeward_core::index::{l2, Embedding};
use homeward_core::store::Sex;

use fusion::Scored;
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
    /// Distance added per year of age gap under [`Fusion::AgeMin`].
    pub age_weight: f64,
    /// Priors.
    pub priors: PriorSettings,
    /// Population the calibration is read for.
    pub population: Population,
    /// Calibration table.
    pub calibration: Calibration,
}

impl Policy {
    /// The default policy with the shipped calibration table.
    pub fn shipped() -> Result<Policy, CalibrationError> {
        Ok(Policy {
            fusion: Fusion::AgeMin,
            age_weight: 0.005,
            priors: PriorSettings::default(),
            population: Population::Child,
            calibration: Calibration::shipped()?,
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
        let mut out: Vec<Candidate> = cases
            .iter()
            .filter_map(|c| self.score_case(faces, meta, c))
            .collect();
        out.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.case_id.cmp(&b.case_id)));
        out
    }

    /// Scores one case (see [`Policy::rank`]).
    pub fn score_case(
        &self,
        faces: &[Embedding],
        meta: &QueryMeta,
        case: &CaseGallery,
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
        let mut best: Option<(f64, usize, Vec<Scored>)> = None;
        for (fi, q) in faces.iter().enumerate() {
            let scored: Vec<Scored> = case
                .faces
                .iter()
                .enumerate()
                .map(|(i, g)| Scored {
                    index: i,
                    distance: f64::from(l2(q, &g.embedding)),
                    gap: age_gap(g.age_years, g.day, expected, meta.day),
                })
                .collect();
            if let Some((fused, _)) = fusion::fuse(self.fusion, self.age_weight, &scored) {
                if best.as_ref().is_none_or(|b| fused < b.0) {
                    best = Some((fused, fi, scored));
                }
            }
        }
        let (fused, face, mut scored) = best?;
        let (_, decider) = fusion::fuse(self.fusion, self.age_weight, &scored)?;
        let pair = |s: &Scored| {
            let g = &case.faces[s.index];
            PairScore {
                photo_id: g.photo_id,
                face_id: g.face_id,
                distance: s.distance,
                age_gap_years: s.gap,
                enrolled_from_sighting: g.enrolled_from_sighting,
            }
        };
        let best_pair = pair(&scored[decider]);
        scored.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        let nearest = scored.iter().take(3).map(pair).collect();
        let score = fused + applied.iter().map(|p| p.penalty).sum::<f64>();
        let n = case.faces.len();
        let cal = &self.calibration;
        let case_fmr = cal.case_fmr(score, n, self.population);
        Some(Candidate {
            case_id: case.case_id,
            score,
            pair_fmr: cal.pair_fmr(score, self.population),
            case_fmr,
            band: Band::of(case_fmr),
            why: Why {
                sighting_face: face,
                best: best_pair,
                nearest,
                photos_compared: n,
                fusion: self.fusion.name().into(),
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

    #[test]
    fn age_min_uses_the_photo_nearest_the_expected_age() {
        let p = Policy::shipped().unwrap();
        // Born 2010; seen 2024 (age 14). Photo at age 3 is nearer in embedding
        // space by 0.01, the photo at 13 wins once the age term is added.
        let case = gallery(1, Sex::Female, &[(0.40, Some(3.0)), (0.41, Some(13.0))]);
        let meta = QueryMeta {
            day: Day::parse("2024-01-01"),
            ..QueryMeta::default()
        };
        let c = p.score_case(&[emb(0.0)], &meta, &case).unwrap();
        assert_eq!(c.why.best.photo_id, 11);
        let e = c.why.expected_age_years.unwrap();
        assert!((e - 14.0).abs() < 0.01);
    }

    #[test]
    fn multi_face_sighting_uses_its_best_face() {
        let p = Policy::shipped().unwrap();
        let case = gallery(1, Sex::Unknown, &[(0.5, None)]);
        let c = p
            .score_case(&[emb(2.0), emb(0.45)], &QueryMeta::default(), &case)
            .unwrap();
        assert_eq!(c.why.sighting_face, 1);
        assert!((c.score - 0.05).abs() < 1e-6);
    }
}
