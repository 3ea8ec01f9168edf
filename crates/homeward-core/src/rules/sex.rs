//! Sex, as recorded for a case or as apparent in a sighting.

use std::fmt;
use std::str::FromStr;

use super::serde_str::serde_via_str;

/// Sex as recorded or as apparent in a sighting.
///
/// Accepts `female`, `male`, `unknown` and the aliases `f`, `m`, `u`,
/// `girl`, `boy`, in any case; prints the canonical word.
///
/// ```
/// use homeward_core::rules::Sex;
/// assert_eq!("F".parse::<Sex>().unwrap(), Sex::Female);
/// assert_eq!(Sex::Male.to_string(), "male");
/// assert!("x".parse::<Sex>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Not known or not given.
    Unknown,
}

/// A sex that is none of the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sex `{0}` is not recognised; use female, male or unknown (or f, m, girl, boy)")]
pub struct SexError(pub String);

impl Sex {
    /// The canonical word (`female`, `male`, `unknown`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Unknown => "unknown",
        }
    }
}

impl FromStr for Sex {
    type Err = SexError;
    fn from_str(s: &str) -> Result<Sex, SexError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "female" | "f" | "girl" => Ok(Sex::Female),
            "male" | "m" | "boy" => Ok(Sex::Male),
            "unknown" | "u" => Ok(Sex::Unknown),
            _ => Err(SexError(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_via_str!(Sex);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_parse_and_print_canonically() {
        for (input, want) in [
            ("female", Sex::Female),
            ("F", Sex::Female),
            ("girl", Sex::Female),
            ("male", Sex::Male),
            ("m", Sex::Male),
            ("Boy", Sex::Male),
            ("unknown", Sex::Unknown),
            ("u", Sex::Unknown),
        ] {
            let got: Sex = input.parse().unwrap();
            assert_eq!(got, want, "{input}");
            assert_eq!(got.to_string().parse::<Sex>().unwrap(), got);
        }
        assert_eq!(Sex::Female.to_string(), "female");
    }

    #[test]
    fn other_words_are_refused_with_the_accepted_ones() {
        let e = "woman".parse::<Sex>().unwrap_err();
        assert!(e.to_string().contains("use female, male or unknown"), "{e}");
        assert!("".parse::<Sex>().is_err());
    }

    #[test]
    fn serde_uses_the_canonical_word() {
        assert_eq!(serde_json::to_string(&Sex::Male).unwrap(), "\"male\"");
        let s: Sex = serde_json::from_str("\"girl\"").unwrap();
        assert_eq!(s, Sex::Female);
        assert!(serde_json::from_str::<Sex>("\"x\"").is_err());
    }
}
