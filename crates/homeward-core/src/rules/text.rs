//! Names and free text: bounded, and without control characters.

use std::fmt;
use std::str::FromStr;

use super::serde_str::serde_via_str;

/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted free text (places, notes), in characters.
pub const MAX_FREE_TEXT_CHARS: usize = 4000;

/// Text that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but spaces.
    #[error("the text is empty; give at least one visible character")]
    Empty,
    /// Too long.
    #[error("the text has {chars} characters; shorten it to at most {max}")]
    TooLong {
        /// Characters given.
        chars: usize,
        /// Characters allowed.
        max: usize,
    },
    /// Holds a control character (the text is not echoed back).
    #[error("the text holds a control character at position {position}; remove it (names take no line breaks or tabs)")]
    Control {
        /// Character position of the first one.
        position: usize,
    },
}

fn check(s: &str, max: usize, allow_breaks: bool) -> Result<String, TextError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    let chars = t.chars().count();
    if chars > max {
        return Err(TextError::TooLong { chars, max });
    }
    if let Some(position) = t
        .chars()
        .position(|c| c.is_control() && !(allow_breaks && matches!(c, '\n' | '\t')))
    {
        return Err(TextError::Control { position });
    }
    Ok(t.to_string())
}

/// A person's name (or a place name): trimmed, 1..=[`MAX_NAME_CHARS`]
/// characters, no control characters at all.
///
/// ```
/// use homeward_core::rules::Name;
/// assert_eq!(" Ana ".parse::<Name>().unwrap().as_str(), "Ana");
/// assert!("A\u{7}na".parse::<Name>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for Name {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Name, TextError> {
        check(s, MAX_NAME_CHARS, false).map(Name)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(Name);

/// Free text such as a note: trimmed, 1..=[`MAX_FREE_TEXT_CHARS`]
/// characters; line breaks and tabs allowed, other control characters not.
///
/// ```
/// use homeward_core::rules::FreeText;
/// assert!("seen near the market\nwith an adult".parse::<FreeText>().is_ok());
/// assert!("bell\u{7}".parse::<FreeText>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FreeText(String);

impl FreeText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for FreeText {
    type Err = TextError;
    fn from_str(s: &str) -> Result<FreeText, TextError> {
        check(s, MAX_FREE_TEXT_CHARS, true).map(FreeText)
    }
}

impl fmt::Display for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(FreeText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            "  Émile Zoë ".parse::<Name>().unwrap().as_str(),
            "Émile Zoë"
        );
        assert_eq!("   ".parse::<Name>(), Err(TextError::Empty));
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            long.parse::<Name>(),
            Err(TextError::TooLong {
                chars: MAX_NAME_CHARS + 1,
                max: MAX_NAME_CHARS
            })
        );
        assert!("a".repeat(MAX_NAME_CHARS).parse::<Name>().is_ok());
    }

    #[test]
    fn control_characters_are_refused_without_echo() {
        for s in ["A\nB", "A\tB", "A\u{1b}[31mB", "A\u{0}B", "A\u{85}B"] {
            let e = s.parse::<Name>().unwrap_err();
            assert_eq!(e, TextError::Control { position: 1 }, "{s:?}");
            assert!(!e.to_string().contains('A'));
        }
        assert!("line\nbreak\tand tab".parse::<FreeText>().is_ok());
        assert!("esc\u{1b}".parse::<FreeText>().is_err());
        assert!("x"
            .repeat(MAX_FREE_TEXT_CHARS + 1)
            .parse::<FreeText>()
            .is_err());
    }
}
