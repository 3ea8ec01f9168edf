//! Priors: sex and apparent age of the sighting against the case. Soft by
//! default (a distance penalty, shown in the explanation); hard filters on
//! request.

use homeward_core::store::Sex;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One prior that changed a candidate's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorApplied {
    /// `sex` or `apparent_age`.
    pub name: Cow<'static, str>,
    /// What was compared.
    pub detail: String,
    /// Distance added.
    pub penalty: f64,
}

/// Settings of the priors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorSettings {
    /// Distance added when the sighting's sex differs from the case's.
    pub sex_penalty: f64,
    /// Distance added per year the expected age lies outside the apparent range.
    pub age_penalty_per_year: f64,
    /// Largest apparent-age penalty.
    pub age_penalty_cap: f64,
    /// Years of slack around an apparent age range, plus 10 % of the age.
    pub age_tolerance: f64,
    /// Drop cases of the other sex instead of penalising them.
    pub hard_sex: bool,
    /// Drop cases whose expected age is outside the range (with slack).
    pub hard_age: bool,
}

impl Default for PriorSettings {
    fn default() -> Self {
        PriorSettings {
            sex_penalty: 0.05,
            age_penalty_per_year: 0.02,
            age_penalty_cap: 0.10,
            age_tolerance: 1.0,
            hard_sex: false,
            hard_age: false,
        }
    }
}

/// Outcome of the priors for one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep, with these penalties.
    Keep(Vec<PriorApplied>),
    /// A hard filter dropped the case.
    Drop,
}

/// Applies the priors. `expected_age` is the child's expected age on the
/// sighting day and `uncertainty` its half-width in years.
pub fn apply(
    settings: &PriorSettings,
    sighting_sex: Option<Sex>,
    case_sex: Sex,
    apparent_age: Option<(f64, f64)>,
    expected_age: Option<f64>,
    uncertainty: f64,
) -> Verdict {
    let mut out = Vec::new();
    if let Some(s) = sighting_sex {
        if s != Sex::Unknown && case_sex != Sex::Unknown && s != case_sex {
            if settings.hard_sex {
                return Verdict::Drop;
            }
            out.push(PriorApplied {
                name: Cow::Borrowed("sex"),
                detail: format!("sighting {} vs case {}", name(s), name(case_sex)),
                penalty: settings.sex_penalty,
            });
        }
    }
    if let (Some((lo, hi)), Some(e)) = (apparent_age, expected_age) {
        let slack = settings.age_tolerance + 0.1 * e.max(0.0) + uncertainty;
        let outside = (lo - slack - e).max(e - hi - slack).max(0.0);
        if outside > 0.0 {
            if settings.hard_age {
                return Verdict::Drop;
            }
            let penalty = (settings.age_penalty_per_year * outside).min(settings.age_penalty_cap);
            out.push(PriorApplied {
                name: Cow::Borrowed("apparent_age"),
                detail: format!(
                    "expected age {e:.1} y is {outside:.1} y outside the apparent {lo}-{hi} y (slack {slack:.1} y)"
                ),
                penalty,
            });
        }
    }
    Verdict::Keep(out)
}

fn name(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_is_soft_unless_hard() {
        let soft = PriorSettings::default();
        let Verdict::Keep(p) = apply(&soft, Some(Sex::Male), Sex::Female, None, None, 0.0) else {
            panic!("dropped")
        };
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].penalty, soft.sex_penalty);
        let hard = PriorSettings {
            hard_sex: true,
            ..soft
        };
        assert_eq!(
            apply(&hard, Some(Sex::Male), Sex::Female, None, None, 0.0),
            Verdict::Drop
        );
        // Unknown on either side never counts.
        assert_eq!(
            apply(&hard, Some(Sex::Male), Sex::Unknown, None, None, 0.0),
            Verdict::Keep(vec![])
        );
    }

    #[test]
    fn apparent_age_penalty_grows_outside_the_range_and_is_capped() {
        let s = PriorSettings::default();
        let inside = apply(&s, None, Sex::Unknown, Some((8.0, 10.0)), Some(10.5), 0.0);
        assert_eq!(inside, Verdict::Keep(vec![]));
        let Verdict::Keep(p) = apply(&s, None, Sex::Unknown, Some((3.0, 4.0)), Some(9.0), 0.0)
        else {
            panic!("dropped")
        };
        // slack 1 + 0.9 = 1.9, outside 9 - 4 - 1.9 = 3.1 years.
        assert!((p[0].penalty - 0.062).abs() < 1e-9, "{:?}", p);
        let Verdict::Keep(p) = apply(&s, None, Sex::Unknown, Some((1.0, 2.0)), Some(16.0), 0.0)
        else {
            panic!("dropped")
        };
        assert_eq!(p[0].penalty, s.age_penalty_cap);
        let hard = PriorSettings {
            hard_age: true,
            ..s
        };
        assert_eq!(
            apply(&hard, None, Sex::Unknown, Some((1.0, 2.0)), Some(16.0), 0.0),
            Verdict::Drop
        );
    }
}
