//! What every front may register: a case or a sighting is checked here,
//! once, with the core's input rules (`homeward_core::rules`), before it
//! reaches the registry. The CLI, the API and batches therefore accept
//! exactly the same things, and say the same thing when they refuse.
//!
//! ```
//! use homeward_core::rules::CalendarDate;
//! use homeward_core::store::NewSighting;
//! use homeward_match::input::check_sighting;
//!
//! let today: CalendarDate = "2025-03-01".parse().unwrap();
//! let seen = |d: &str| NewSighting { seen_at: Some(d.into()), ..NewSighting::default() };
//! assert!(check_sighting(&seen("2025-02-28T17:05"), today).is_ok());
//! assert!(check_sighting(&seen("2025-03-09"), today).is_err()); // in the future
//! assert!(check_sighting(&seen("2025-02-30"), today).is_err()); // no such day
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use homeward_core::rules::{
    check_birth_before_missing, check_sighting_day, AgeRange, AgeRangeError, BirthAfterMissing,
    CalendarDate, DateError, FreeText, Name, SightingInFuture, TextError,
};
use homeward_core::store::{NewCase, NewSighting};

/// Why a case or sighting is refused. Each message names the field and
/// says what to send instead; names and notes are never echoed back.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A date that is not a real calendar day.
    #[error("`{field}`: {source}")]
    Date {
        /// The field.
        field: &'static str,
        /// The rule it broke.
        source: DateError,
    },
    /// A name, place or note the text rules refuse.
    #[error("`{field}`: {source}")]
    Text {
        /// The field.
        field: &'static str,
        /// The rule it broke.
        source: TextError,
    },
    /// An apparent age outside the children's range.
    #[error("`apparent_age`: {0}")]
    Age(#[from] AgeRangeError),
    /// A sighting dated after today.
    #[error("`seen_at`: {0}")]
    SeenInFuture(#[from] SightingInFuture),
    /// A disappearance (or a sighting) before the birth.
    #[error("`birth_date`: {0}")]
    Birth(#[from] BirthAfterMissing),
    /// A birth or disappearance dated after today.
    #[error("`{field}` is {date}, after today ({today}); check the date")]
    Future {
        /// The field.
        field: &'static str,
        /// The date given.
        date: CalendarDate,
        /// Today.
        today: CalendarDate,
    },
    /// The system clock reads a date the rules do not accept.
    #[error("the system clock is not set to a plausible date ({0}); set the clock and try again")]
    Clock(DateError),
    /// Coordinates off the globe.
    #[error("`{field}` must be latitude -90..90 and longitude -180..180, got ({lat}, {lon})")]
    Location {
        /// The field.
        field: &'static str,
        /// Latitude given.
        lat: f64,
        /// Longitude given.
        lon: f64,
    },
}

/// Today's date by the system clock (UTC).
///
/// # Errors
/// [`InputError::Clock`] when the clock is outside the years the rules
/// accept.
pub fn today() -> Result<CalendarDate, InputError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    CalendarDate::from_unix_seconds(secs).map_err(InputError::Clock)
}

fn not_after_today(
    field: &'static str,
    date: CalendarDate,
    today: CalendarDate,
) -> Result<(), InputError> {
    check_sighting_day(&date, &today).map_err(|_| InputError::Future { field, date, today })
}

fn date(field: &'static str, s: &str) -> Result<CalendarDate, InputError> {
    s.parse()
        .map_err(|source| InputError::Date { field, source })
}

/// The calendar day of an ISO 8601 timestamp (`2025-02-28`, `2025-02-28T17:05`
/// or `2025-02-28 17:05:00`).
fn day_of(field: &'static str, s: &str) -> Result<CalendarDate, InputError> {
    let day = s.trim().split(['T', ' ']).next().unwrap_or_default();
    date(field, day)
}

fn name(field: &'static str, s: &str) -> Result<(), InputError> {
    s.parse::<Name>()
        .map(drop)
        .map_err(|source| InputError::Text { field, source })
}

/// An optional name: empty means not given.
fn optional_name(field: &'static str, s: Option<&str>) -> Result<(), InputError> {
    match s.map(str::trim) {
        None | Some("") => Ok(()),
        Some(v) => name(field, v),
    }
}

fn location(field: &'static str, at: Option<(f64, f64)>) -> Result<(), InputError> {
    match at {
        Some((lat, lon)) if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) => {
            Err(InputError::Location { field, lat, lon })
        }
        _ => Ok(()),
    }
}

/// Checks a case before it is registered: the child's name, real dates, a
/// birth not after the disappearance, neither in the future, and the
/// place, contact and notes under the text rules.
///
/// # Errors
/// The first rule the case breaks.
pub fn check_case(case: &NewCase, today: CalendarDate) -> Result<(), InputError> {
    name("child_name", &case.child_name)?;
    let birth = case
        .birth_date
        .as_deref()
        .map(|d| date("birth_date", d))
        .transpose()?;
    let missing = case
        .missing_date
        .as_deref()
        .map(|d| date("missing_date", d))
        .transpose()?;
    if let Some(b) = birth {
        not_after_today("birth_date", b, today)?;
    }
    if let Some(m) = missing {
        not_after_today("missing_date", m, today)?;
        if let Some(b) = &birth {
            check_birth_before_missing(b, &m)?;
        }
    }
    optional_name("missing_place", Some(&case.missing_place))?;
    optional_name("contact_ref", case.contact_ref.as_deref())?;
    if let Some(notes) = case.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        notes
            .parse::<FreeText>()
            .map_err(|source| InputError::Text {
                field: "notes",
                source,
            })?;
    }
    location("missing_location", case.missing_location)
}

/// Checks a sighting before it is recorded: a real day that is not in the
/// future, an apparent age in the children's range, and the place and
/// submitter under the text rules.
///
/// # Errors
/// The first rule the sighting breaks.
pub fn check_sighting(s: &NewSighting, today: CalendarDate) -> Result<(), InputError> {
    if let Some(seen) = s.seen_at.as_deref() {
        check_sighting_day(&day_of("seen_at", seen)?, &today)?;
    }
    optional_name("place", s.place.as_deref())?;
    optional_name("submitter", s.submitter.as_deref())?;
    if let Some((lo, hi)) = s.apparent_age {
        AgeRange::new(lo, hi)?;
    }
    location("location", s.location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> CalendarDate {
        "2025-03-01".parse().unwrap()
    }

    fn case() -> NewCase {
        NewCase {
            child_name: "Li Wei".into(),
            sex: homeward_core::rules::Sex::Unknown,
            birth_date: Some("2015-06-01".into()),
            birth_year: None,
            missing_date: Some("2019".into()),
            missing_place: "Chengdu".into(),
            missing_location: None,
            status: homeward_core::rules::CaseStatus::Searching,
            contact_ref: None,
            notes: None,
        }
    }

    #[test]
    fn a_plain_case_passes() {
        check_case(&case(), today()).unwrap();
        check_case(
            &NewCase {
                child_name: "A".into(),
                birth_date: None,
                missing_date: None,
                missing_place: String::new(),
                ..case()
            },
            today(),
        )
        .unwrap();
    }

    #[test]
    fn impossible_cases_are_refused_with_the_field_named() {
        let refuse = |c: NewCase, field: &str| {
            let e = check_case(&c, today()).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        };
        refuse(
            NewCase {
                child_name: "Li\u{7}Wei".into(),
                ..case()
            },
            "child_name",
        );
        refuse(
            NewCase {
                child_name: "  ".into(),
                ..case()
            },
            "child_name",
        );
        refuse(
            NewCase {
                birth_date: Some("2015-02-30".into()),
                ..case()
            },
            "birth_date",
        );
        refuse(
            NewCase {
                birth_date: Some("2020-01-01".into()),
                ..case()
            },
            "birth_date",
        );
        refuse(
            NewCase {
                missing_date: Some("2026-01-01".into()),
                ..case()
            },
            "missing_date",
        );
        refuse(
            NewCase {
                missing_place: "Cheng\ndu".into(),
                ..case()
            },
            "missing_place",
        );
        refuse(
            NewCase {
                missing_location: Some((91.0, 0.0)),
                ..case()
            },
            "missing_location",
        );
    }

    #[test]
    fn sightings_in_the_future_or_off_the_rules_are_refused() {
        let s = |f: fn(&mut NewSighting)| {
            let mut s = NewSighting {
                seen_at: Some("2025-02-28T17:05:00Z".into()),
                place: Some("Guangzhou station".into()),
                apparent_age: Some((6.0, 9.0)),
                ..NewSighting::default()
            };
            f(&mut s);
            check_sighting(&s, today())
        };
        s(|_| ()).unwrap();
        s(|x| x.seen_at = None).unwrap();
        assert!(matches!(
            s(|x| x.seen_at = Some("2025-03-02".into())),
            Err(InputError::SeenInFuture(_))
        ));
        assert!(matches!(
            s(|x| x.seen_at = Some("2025-13-01".into())),
            Err(InputError::Date { .. })
        ));
        assert!(matches!(
            s(|x| x.apparent_age = Some((6.0, 40.0))),
            Err(InputError::Age(_))
        ));
        assert!(matches!(
            s(|x| x.place = Some("a\u{1b}[31mb".into())),
            Err(InputError::Text { .. })
        ));
    }
}
