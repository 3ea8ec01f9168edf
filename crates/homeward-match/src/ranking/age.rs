//! Dates and ages: how old a child is expected to be on a given day, and how
//! far a photo's age is from that.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days in a mean Gregorian year.
const YEAR_DAYS: f64 = 365.2425;

/// A calendar day, counted in days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// Parses `YYYY-MM-DD`, `YYYY-MM` (the 15th) or `YYYY` (1 July); anything
    /// after the date (a time, `T…`) is ignored.
    ///
    /// ```ignore
    /// assert_eq!(Day::parse("1970-01-02"), Some(Day(1)));
    /// ```
    pub fn parse(s: &str) -> Option<Day> {
        let s = s.trim();
        let date = s.split(['T', ' ']).next()?;
        let mut parts = date.split('-');
        let y: i64 = parts.next()?.parse().ok()?;
        let (m, d) = match (parts.next(), parts.next()) {
            (None, _) => (7, 1),
            (Some(m), None) => (m.parse().ok()?, 15),
            (Some(m), Some(d)) => (m.parse().ok()?, d.parse().ok()?),
        };
        if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        if !(1800..=2200).contains(&y) || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// Today (UTC).
    pub fn today() -> Day {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Day(secs.div_euclid(86_400))
    }

    /// Years from `earlier` to `self` (negative if `earlier` is later).
    pub fn years_since(self, earlier: Day) -> f64 {
        (self.0 - earlier.0) as f64 / YEAR_DAYS
    }

    /// The day `years` years after this one.
    pub fn plus_years(self, years: f64) -> Day {
        Day(self.0 + (years * YEAR_DAYS).round() as i64)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        let (y, m, d) = civil_from_days(self.0);
        format!("{y:04}-{m:02}-{d:02}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// What is known of when a child was born.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Birth {
    /// Best estimate of the birth day.
    pub day: Day,
    /// Half-width of the uncertainty, in years (0 for an exact date, 0.5 for
    /// a year only).
    pub uncertainty_years: f64,
}

impl Birth {
    /// From a full birth date, or a birth year alone.
    pub fn from_case(birth_date: Option<&str>, birth_year: Option<i32>) -> Option<Birth> {
        if let Some(day) = birth_date.and_then(Day::parse) {
            let exact = birth_date.is_some_and(|s| s.trim().len() >= 10);
            return Some(Birth {
                day,
                uncertainty_years: if exact { 0.0 } else { 0.5 },
            });
        }
        birth_year.map(|y| Birth {
            day: Day(days_from_civil(i64::from(y), 7, 1)),
            uncertainty_years: 0.5,
        })
    }

    /// Expected age in years on `day`.
    pub fn age_on(&self, day: Day) -> f64 {
        day.years_since(self.day)
    }
}

/// Years between the child's age in a gallery photo and their expected age on
/// the sighting day: from ages when both are known, else from the two dates.
pub fn age_gap(
    photo_age: Option<f64>,
    photo_day: Option<Day>,
    expected_age: Option<f64>,
    sighting_day: Option<Day>,
) -> Option<f64> {
    match (photo_age, expected_age) {
        (Some(a), Some(e)) => Some((e - a).abs()),
        _ => match (photo_day, sighting_day) {
            (Some(p), Some(s)) => Some(s.years_since(p).abs()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_dates() {
        assert_eq!(Day::parse("1970-01-01"), Some(Day(0)));
        assert_eq!(
            Day::parse("2000-03-01").map(Day::iso).as_deref(),
            Some("2000-03-01")
        );
        assert_eq!(
            Day::parse("2024-02-29T10:30:00Z").map(Day::iso).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            Day::parse("2016").map(Day::iso).as_deref(),
            Some("2016-07-01")
        );
        assert_eq!(
            Day::parse("2016-05").map(Day::iso).as_deref(),
            Some("2016-05-15")
        );
        for bad in ["2023-02-29", "2020-13-01", "yesterday", "", "2020-01-01-01"] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn expected_age_grows_with_time() {
        let b = Birth::from_case(Some("2012-06-01"), None).unwrap();
        assert_eq!(b.uncertainty_years, 0.0);
        let age = b.age_on(Day::parse("2022-06-01").unwrap());
        assert!((age - 10.0).abs() < 0.01, "{age}");
        let y = Birth::from_case(None, Some(2012)).unwrap();
        assert_eq!(y.uncertainty_years, 0.5);
    }

    #[test]
    fn gap_prefers_ages_then_dates() {
        let s = Day::parse("2024-01-01");
        assert_eq!(age_gap(Some(4.0), None, Some(9.0), s), Some(5.0));
        let p = Day::parse("2020-01-01");
        let g = age_gap(None, p, None, s).unwrap();
        assert!((g - 4.0).abs() < 0.01);
        assert_eq!(age_gap(None, None, Some(3.0), s), None);
    }
}
