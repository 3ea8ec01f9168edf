//! Where a case stands, and the review state of a candidate match.

use std::fmt;
use std::str::FromStr;

use super::serde_str::serde_via_str;

/// Where a case stands.
///
/// ```
/// use homeward_core::rules::CaseStatus;
/// assert_eq!("found".parse::<CaseStatus>().unwrap(), CaseStatus::Found);
/// assert_eq!(CaseStatus::Searching.to_string(), "searching");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    /// The child is being searched for.
    Searching,
    /// The child was found.
    Found,
    /// The case was closed for another reason.
    Closed,
}

/// A case status that is none of the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case status `{0}` is not recognised; use searching, found or closed")]
pub struct CaseStatusError(pub String);

impl CaseStatus {
    /// The canonical word, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Searching => "searching",
            CaseStatus::Found => "found",
            CaseStatus::Closed => "closed",
        }
    }
}

impl FromStr for CaseStatus {
    type Err = CaseStatusError;
    fn from_str(s: &str) -> Result<CaseStatus, CaseStatusError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "searching" => Ok(CaseStatus::Searching),
            "found" => Ok(CaseStatus::Found),
            "closed" => Ok(CaseStatus::Closed),
            _ => Err(CaseStatusError(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_via_str!(CaseStatus);

/// Review state of a candidate match.
///
/// ```
/// use homeward_core::rules::MatchState;
/// assert_eq!("rejected".parse::<MatchState>().unwrap(), MatchState::Rejected);
/// assert_eq!(MatchState::Pending.to_string(), "pending");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchState {
    /// Waiting for a case worker.
    Pending,
    /// A case worker confirmed it.
    Confirmed,
    /// A case worker rejected it.
    Rejected,
}

/// A match state that is none of the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("match state `{0}` is not recognised; use pending, confirmed or rejected")]
pub struct MatchStateError(pub String);

impl MatchState {
    /// The canonical word, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchState::Pending => "pending",
            MatchState::Confirmed => "confirmed",
            MatchState::Rejected => "rejected",
        }
    }
}

impl FromStr for MatchState {
    type Err = MatchStateError;
    fn from_str(s: &str) -> Result<MatchState, MatchStateError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(MatchState::Pending),
            "confirmed" => Ok(MatchState::Confirmed),
            "rejected" => Ok(MatchState::Rejected),
            _ => Err(MatchStateError(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for MatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_via_str!(MatchState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_refuse_others() {
        for s in [CaseStatus::Searching, CaseStatus::Found, CaseStatus::Closed] {
            assert_eq!(s.to_string().parse::<CaseStatus>().unwrap(), s);
        }
        let e = "lost".parse::<CaseStatus>().unwrap_err();
        assert!(e.to_string().contains("use searching, found or closed"));
    }

    #[test]
    fn states_round_trip_and_refuse_others() {
        for s in [
            MatchState::Pending,
            MatchState::Confirmed,
            MatchState::Rejected,
        ] {
            assert_eq!(s.to_string().parse::<MatchState>().unwrap(), s);
        }
        let e = "maybe".parse::<MatchState>().unwrap_err();
        assert!(e.to_string().contains("use pending, confirmed or rejected"));
        assert_eq!(
            serde_json::to_string(&MatchState::Confirmed).unwrap(),
            "\"confirmed\""
        );
    }
}
