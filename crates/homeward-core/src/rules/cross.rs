//! Rules over two fields, or over a field and today's date.

use super::CalendarDate;

/// A sighting dated after today.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sighting is dated {seen}, after today ({today}); give the day the child was seen")]
pub struct SightingInFuture {
    /// The sighting's date.
    pub seen: CalendarDate,
    /// Today, as given.
    pub today: CalendarDate,
}

/// A birth dated after the disappearance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the birth date {birth} is after the date the child went missing ({missing}); check both dates"
)]
pub struct BirthAfterMissing {
    /// The birth date.
    pub birth: CalendarDate,
    /// The date the child went missing.
    pub missing: CalendarDate,
}

/// Refuses a sighting that is certainly after `today` (a year-only date is
/// refused only when its first day is after today). `today` is a parameter:
/// this rule never reads the clock.
///
/// ```
/// use homeward_core::rules::{check_sighting_day, CalendarDate};
/// let today: CalendarDate = "2025-03-01".parse().unwrap();
/// assert!(check_sighting_day(&"2025-03-01".parse().unwrap(), &today).is_ok());
/// assert!(check_sighting_day(&"2025-03-02".parse().unwrap(), &today).is_err());
/// ```
pub fn check_sighting_day(
    seen: &CalendarDate,
    today: &CalendarDate,
) -> Result<(), SightingInFuture> {
    if seen.earliest() > today.latest() {
        return Err(SightingInFuture {
            seen: *seen,
            today: *today,
        });
    }
    Ok(())
}

/// Refuses a birth that is certainly after the disappearance (dates known
/// only to the year are compared generously).
///
/// ```
/// use homeward_core::rules::{check_birth_before_missing, CalendarDate};
/// let d = |s: &str| s.parse::<CalendarDate>().unwrap();
/// assert!(check_birth_before_missing(&d("2016"), &d("2016-01-01")).is_ok());
/// assert!(check_birth_before_missing(&d("2017-05-01"), &d("2016-12-31")).is_err());
/// ```
pub fn check_birth_before_missing(
    birth: &CalendarDate,
    missing: &CalendarDate,
) -> Result<(), BirthAfterMissing> {
    if birth.earliest() > missing.latest() {
        return Err(BirthAfterMissing {
            birth: *birth,
            missing: *missing,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> CalendarDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_sighting_may_be_today_or_before_but_not_after() {
        let today = d("2025-06-15");
        assert!(check_sighting_day(&d("2025-06-15"), &today).is_ok());
        assert!(check_sighting_day(&d("2020-01-01"), &today).is_ok());
        assert!(check_sighting_day(&d("2025"), &today).is_ok());
        let e = check_sighting_day(&d("2025-06-16"), &today).unwrap_err();
        assert!(e.to_string().contains("after today (2025-06-15)"), "{e}");
        assert!(check_sighting_day(&d("2026"), &today).is_err());
    }

    #[test]
    fn birth_must_not_follow_disappearance() {
        assert!(check_birth_before_missing(&d("2015-03-01"), &d("2015-03-01")).is_ok());
        assert!(check_birth_before_missing(&d("2015"), &d("2015-01-01")).is_ok());
        let e = check_birth_before_missing(&d("2015-03-02"), &d("2015-03-01")).unwrap_err();
        assert!(e.to_string().contains("check both dates"));
        assert!(check_birth_before_missing(&d("2016"), &d("2015")).is_err());
    }
}
