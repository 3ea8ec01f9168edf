//! Input rules: the one place that says which sexes, dates, apparent ages,
//! statuses and names Homeward accepts, for every front.
//!
//! Each value type parses with [`std::str::FromStr`], prints its canonical
//! form with [`std::fmt::Display`] (what the store writes), and serialises
//! as that same string. Each rule has its own error, and every message says
//! what to send instead. Rules that involve two fields, or today's date, are
//! plain functions ([`check_sighting_day`], [`check_birth_before_missing`]);
//! they take `today` as a parameter and never read the clock.
//!
//! This module is a leaf: it imports nothing else from the crate, so the
//! index and the store can both use it.
//!
//! ```
//! use homeward_core::rules::{AgeRange, CalendarDate, Sex};
//! assert_eq!("girl".parse::<Sex>().unwrap().to_string(), "female");
//! assert!("2023-02-30".parse::<CalendarDate>().is_err());
//! assert_eq!("6-9".parse::<AgeRange>().unwrap().max(), 9.0);
//! ```

mod age;
mod cross;
mod date;
mod serde_str;
mod sex;
mod status;
mod text;

pub use age::{AgeRange, AgeRangeError, MAX_APPARENT_AGE};
pub use cross::{
    check_birth_before_missing, check_sighting_day, BirthAfterMissing, SightingInFuture,
};
pub use date::{CalendarDate, DateError, MAX_YEAR, MIN_YEAR};
pub use sex::{Sex, SexError};
pub use status::{CaseStatus, CaseStatusError, MatchState, MatchStateError};
pub use text::{FreeText, Name, TextError, MAX_FREE_TEXT_CHARS, MAX_NAME_CHARS};
