//! Calendar dates: a whole day (`YYYY-MM-DD`) or only a year (`YYYY`).

use std::fmt;
use std::str::FromStr;

use super::serde_str::serde_via_str;

/// Earliest year accepted in a date.
pub const MIN_YEAR: i32 = 1900;
/// Latest year accepted in a date.
pub const MAX_YEAR: i32 = 2200;

/// A calendar date in the proleptic Gregorian calendar: either a whole day
/// or, when only the year is known, a year.
///
/// Accepts `YYYY-MM-DD` and `YYYY` (years [`MIN_YEAR`]..=[`MAX_YEAR`]) and
/// refuses days that do not exist, such as `2023-02-30`. Prints the same
/// form it was given.
///
/// ```
/// use homeward_core::rules::CalendarDate;
/// let d: CalendarDate = "2024-02-29".parse().unwrap();
/// assert_eq!((d.year(), d.to_string().as_str()), (2024, "2024-02-29"));
/// assert_eq!("2016".parse::<CalendarDate>().unwrap().to_string(), "2016");
/// assert!("2023-02-29".parse::<CalendarDate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CalendarDate {
    year: i32,
    /// Month and day, when the whole day is known.
    day: Option<(u8, u8)>,
}

/// A date that is malformed or does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not `YYYY-MM-DD` or `YYYY`.
    #[error("date `{0}` is not in the form YYYY-MM-DD (or YYYY when only the year is known)")]
    Format(String),
    /// The year is outside [`MIN_YEAR`]..=[`MAX_YEAR`].
    #[error("year {0} is out of range; give a year from {MIN_YEAR} to {MAX_YEAR}")]
    Year(i32),
    /// The month or day does not exist in that year.
    #[error("{0} is not a day of the calendar; check the month and the day")]
    NoSuchDay(String),
}

/// Days in `month` of `year`.
fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl CalendarDate {
    /// A whole day; refuses one that does not exist.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<CalendarDate, DateError> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(DateError::Year(year));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(DateError::NoSuchDay(format!(
                "{year:04}-{month:02}-{day:02}"
            )));
        }
        Ok(CalendarDate {
            year,
            day: Some((month, day)),
        })
    }

    /// A date of which only the year is known.
    pub fn from_year(year: i32) -> Result<CalendarDate, DateError> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(DateError::Year(year));
        }
        Ok(CalendarDate { year, day: None })
    }

    /// The UTC day of a Unix time in seconds (for `today`; this type never
    /// reads the clock itself).
    ///
    /// ```
    /// use homeward_core::rules::CalendarDate;
    /// assert_eq!(CalendarDate::from_unix_seconds(0).unwrap().to_string(), "1970-01-01");
    /// ```
    pub fn from_unix_seconds(secs: i64) -> Result<CalendarDate, DateError> {
        // Civil date from days since 1970-01-01 (Gregorian, era of 400 years).
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let y = yoe + era * 400 + i64::from(m <= 2);
        let y = i32::try_from(y).map_err(|_| DateError::Year(i32::MAX))?;
        CalendarDate::from_ymd(y, m, d)
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// `(month, day)` when the whole day is known.
    pub fn month_day(&self) -> Option<(u8, u8)> {
        self.day
    }

    /// The first day this date may mean, as `(year, month, day)`.
    pub fn earliest(&self) -> (i32, u8, u8) {
        let (m, d) = self.day.unwrap_or((1, 1));
        (self.year, m, d)
    }

    /// The last day this date may mean, as `(year, month, day)`.
    pub fn latest(&self) -> (i32, u8, u8) {
        let (m, d) = self.day.unwrap_or((12, 31));
        (self.year, m, d)
    }
}

impl FromStr for CalendarDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<CalendarDate, DateError> {
        let t = s.trim();
        let bad = || DateError::Format(t.chars().take(40).collect());
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = t.split('-').collect();
        match parts[..] {
            [y] if y.len() == 4 && digits(y) => {
                CalendarDate::from_year(y.parse().map_err(|_| bad())?)
            }
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                if !(digits(y) && digits(m) && digits(d)) {
                    return Err(bad());
                }
                CalendarDate::from_ymd(
                    y.parse().map_err(|_| bad())?,
                    m.parse().map_err(|_| bad())?,
                    d.parse().map_err(|_| bad())?,
                )
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.day {
            Some((m, d)) => write!(f, "{:04}-{m:02}-{d:02}", self.year),
            None => write!(f, "{:04}", self.year),
        }
    }
}

serde_via_str!(CalendarDate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_years_parse_and_print_as_given() {
        for s in [
            "2024-02-29",
            "2000-02-29",
            "2023-12-31",
            "2016",
            "1900-01-01",
        ] {
            assert_eq!(s.parse::<CalendarDate>().unwrap().to_string(), s);
        }
        let d: CalendarDate = " 2016 ".parse().unwrap();
        assert_eq!((d.earliest(), d.latest()), ((2016, 1, 1), (2016, 12, 31)));
    }

    #[test]
    fn days_that_do_not_exist_are_refused() {
        for s in [
            "2023-02-29",
            "2023-02-30",
            "1900-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
        ] {
            let e = s.parse::<CalendarDate>().unwrap_err();
            assert!(matches!(e, DateError::NoSuchDay(_)), "{s}: {e}");
            assert!(e.to_string().contains("check the month and the day"));
        }
    }

    #[test]
    fn other_shapes_and_years_are_refused() {
        for s in [
            "",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01",
            "01-01-2024",
            "2024-01-01T10:00",
            "２０２４",
        ] {
            let e = s.parse::<CalendarDate>().unwrap_err();
            assert!(matches!(e, DateError::Format(_)), "{s}: {e}");
            assert!(e.to_string().contains("YYYY-MM-DD"));
        }
        assert!(matches!(
            "1899".parse::<CalendarDate>(),
            Err(DateError::Year(1899))
        ));
        assert!(matches!(
            "2201-01-01".parse::<CalendarDate>(),
            Err(DateError::Year(2201))
        ));
    }

    #[test]
    fn unix_days_are_civil_days() {
        let d = |s| CalendarDate::from_unix_seconds(s).unwrap().to_string();
        assert_eq!(d(0), "1970-01-01");
        assert_eq!(d(951_782_400), "2000-02-29");
        assert_eq!(d(1_709_164_800 + 86_399), "2024-02-29");
        assert_eq!(d(1_735_689_600), "2025-01-01");
    }
}
