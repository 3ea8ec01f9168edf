//! Review a team can share: who a match is assigned to, and what is new
//! since a reviewer last looked at the queue.
//!
//! ```
//! use homeward_core::store::Registry;
//! use homeward_match::review;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut reg = Registry::open(dir.path())?;
//! let rows = review::queue_for(&reg, "li", &review::QueueFilter::default())?;
//! assert!(rows.is_empty());
//! review::mark_seen(&mut reg, "li", &rows)?; // nothing to mark
//! # Ok(()) }
//! ```

use homeward_core::rules::Name;
use homeward_core::store::{CaseId, MatchId, MatchState, QueueEntry, ScoreBand, Store};

use crate::input::InputError;
use crate::MatchError;

/// Which queue entries to show. Every field narrows; the default shows
/// the pending queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueFilter {
    /// Only this case.
    pub case: Option<CaseId>,
    /// Only this band (entries whose stored scores are unreadable never
    /// pass a band filter).
    pub band: Option<ScoreBand>,
    /// Only this state (`None`: every state).
    pub state: Option<MatchState>,
    /// Whose matches: anyone's, nobody's, or one case worker's.
    pub assignee: Assignee,
    /// Only matches new to the reviewer.
    pub new_only: bool,
}

impl Default for QueueFilter {
    fn default() -> Self {
        QueueFilter {
            case: None,
            band: None,
            state: Some(MatchState::Pending),
            assignee: Assignee::Anyone,
            new_only: false,
        }
    }
}

/// Whose matches a [`QueueFilter`] lets through. One value, so a filter
/// cannot ask for "unassigned" and a case worker at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Assignee {
    /// Every match, assigned or not.
    #[default]
    Anyone,
    /// Only matches assigned to nobody.
    Unassigned,
    /// Only matches assigned to this case worker.
    To(String),
}

impl Assignee {
    /// Whether a match assigned to `who` (`None`: nobody) passes.
    pub fn admits(&self, who: Option<&str>) -> bool {
        match self {
            Assignee::Anyone => true,
            Assignee::Unassigned => who.is_none(),
            Assignee::To(name) => who == Some(name.as_str()),
        }
    }
}

/// A queue entry as one reviewer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    /// The entry.
    pub entry: QueueEntry,
    /// Queued after the reviewer last looked (every entry is new to a
    /// reviewer who never looked).
    pub new: bool,
}

/// The queue in queue order for `reviewer`, filtered.
///
/// # Errors
/// [`MatchError::Store`] when the registry fails.
pub fn queue_for<S: Store + ?Sized>(
    store: &S,
    reviewer: &str,
    filter: &QueueFilter,
) -> Result<Vec<QueueRow>, MatchError> {
    let seen = store.review_seen(reviewer)?;
    let all = filter.state != Some(MatchState::Pending);
    Ok(store
        .review_queue(all)?
        .into_iter()
        .filter(|e| filter.state.is_none_or(|s| e.state == s))
        .filter(|e| filter.case.is_none_or(|c| e.case_id == c))
        .filter(|e| {
            filter
                .band
                .is_none_or(|b| e.scores.as_ref().is_ok_and(|s| s.band == b))
        })
        .filter(|e| filter.assignee.admits(e.assignee.as_deref()))
        .map(|entry| QueueRow {
            new: seen.is_none_or(|s| entry.match_id > s),
            entry,
        })
        .filter(|r| !filter.new_only || r.new)
        .collect())
}

/// Records that `reviewer` has now seen every row of `rows` (the mark
/// moves to the newest of them, never back). Returns the mark.
///
/// # Errors
/// [`MatchError::Store`] when the reviewer's name is refused or the
/// registry fails.
pub fn mark_seen<S: Store + ?Sized>(
    store: &mut S,
    reviewer: &str,
    rows: &[QueueRow],
) -> Result<Option<MatchId>, MatchError> {
    let Some(upto) = rows.iter().map(|r| r.entry.match_id).max() else {
        return Ok(store.review_seen(reviewer)?);
    };
    store.mark_review_seen(reviewer, upto)?;
    Ok(store.review_seen(reviewer)?)
}

/// Assigns match `id` to case worker `assignee`, or to nobody.
///
/// # Errors
/// [`MatchError::Input`] when the name breaks the name rule;
/// [`MatchError::Store`] when the match does not exist or the registry fails.
pub fn assign<S: Store + ?Sized>(
    store: &mut S,
    actor: &str,
    id: MatchId,
    assignee: Option<&str>,
) -> Result<(), MatchError> {
    let assignee = assignee
        .map(|a| {
            a.parse::<Name>()
                .map(Name::into_string)
                .map_err(|source| InputError::Text {
                    field: "assignee",
                    source,
                })
        })
        .transpose()?;
    Ok(store.assign_match(actor, id, assignee.as_deref())?)
}

#[cfg(test)]
mod tests {
    use homeward_core::store::{CaseStatus, NewCase, NewSighting, Registry, Sex};

    use super::*;

    /// A registry with one case and three pending matches, the second
    /// assigned to "li".
    fn queue_of_three() -> (tempfile::TempDir, Registry, Vec<MatchId>) {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let case = reg
            .add_case(
                "t",
                &NewCase {
                    child_name: "A".into(),
                    sex: Sex::Female,
                    birth_date: None,
                    birth_year: None,
                    missing_date: None,
                    missing_place: "p".into(),
                    missing_location: None,
                    status: CaseStatus::Searching,
                    contact_ref: None,
                    notes: None,
                },
            )
            .unwrap();
        let mut ids = Vec::new();
        for photo in [&b"s1"[..], b"s2", b"s3"] {
            let (s, _) = reg
                .add_sighting("t", photo, &NewSighting::default(), &[])
                .unwrap();
            ids.push(reg.add_match("t", s, case, &[]).unwrap());
        }
        assign(&mut reg, "lead", ids[1], Some("li")).unwrap();
        (dir, reg, ids)
    }

    fn ids(reg: &Registry, assignee: Assignee) -> Vec<MatchId> {
        let f = QueueFilter {
            assignee,
            ..QueueFilter::default()
        };
        queue_for(reg, "wang", &f)
            .unwrap()
            .into_iter()
            .map(|r| r.entry.match_id)
            .collect()
    }

    #[test]
    fn the_assignee_filter_takes_anyone_nobody_or_one_case_worker() {
        let (_dir, mut reg, m) = queue_of_three();
        assert_eq!(ids(&reg, Assignee::Anyone), m);
        assert_eq!(ids(&reg, Assignee::Unassigned), [m[0], m[2]]);
        assert_eq!(ids(&reg, Assignee::To("li".into())), [m[1]]);
        assert!(ids(&reg, Assignee::To("wang".into())).is_empty());
        // Unassigning puts a match back among the unassigned.
        assign(&mut reg, "lead", m[1], None).unwrap();
        assert_eq!(ids(&reg, Assignee::Unassigned), m);
        assert!(ids(&reg, Assignee::To("li".into())).is_empty());
        // The other filters still narrow: a decided match leaves the
        // pending queue, unassigned or not.
        reg.review_match("wang", m[0], MatchState::Rejected, None)
            .unwrap();
        assert_eq!(ids(&reg, Assignee::Unassigned), [m[1], m[2]]);
    }
}
