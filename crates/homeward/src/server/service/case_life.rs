//! A case's whole life and review a team can share, on the service: the
//! case's journal (status changes with why, notes), its timeline, who a
//! match is assigned to, each reviewer's "new since you last looked" mark
//! and the CSV exports. Every method calls the library through the
//! [`Matcher`] (`homeward_match::{lifecycle, timeline, review, export}`)
//! and writes the access log; no rule lives here. The log names rows,
//! never a child, a place, a note or a reason.

use axum::http::StatusCode;
use homeward_core::store::{CaseEventId, CaseId, MatchId, QueueEntry};
use homeward_match::export;
use homeward_match::input::InputError;
use homeward_match::review::{self, QueueFilter};
use homeward_match::timeline::{self, Timeline};
use homeward_match::MatchError;

use super::{ApiError, QueueItem, ScoresView, Service};

/// A note, a reason or an assignee the text rules refuse is the caller's
/// to fix: 400 `bad_field`, naming the field and the rule it broke.
pub(super) fn field_error(e: MatchError) -> ApiError {
    match e {
        MatchError::Input(e @ InputError::Text { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_field", e.to_string())
        }
        other => other.into(),
    }
}

/// A CSV that could not be written (it is written to memory).
fn export_error(e: MatchError) -> ApiError {
    match e {
        MatchError::Export(_) => {
            eprintln!("homeward serve: a CSV export failed");
            ApiError::internal("writing the CSV export")
        }
        other => other.into(),
    }
}

fn queue_item(e: QueueEntry, new: bool) -> QueueItem {
    let sc = ScoresView::new(&e.scores);
    QueueItem {
        match_id: e.match_id,
        sighting_id: e.sighting_id,
        case_id: e.case_id,
        child_name: e.child_name,
        distance: sc.distance,
        score: sc.score,
        est_false_match_rate: sc.fmr,
        band: sc.band,
        why: sc.why,
        state: e.state.as_str(),
        created_at: e.created_at,
        assignee: e.assignee,
        new,
    }
}

impl Service {
    /// Adds a case worker's note to case `id`
    /// (`homeward_match::lifecycle::add_case_note`).
    pub fn add_case_note(
        &self,
        actor: &str,
        id: CaseId,
        note: &str,
    ) -> Result<CaseEventId, ApiError> {
        let event =
            self.with_matcher(|m| Ok(m.add_case_note(actor, id, note).map_err(field_error)))??;
        self.audit(actor, "add_case_note", &format!("case:{id}"))?;
        Ok(event)
    }

    /// Case `id`'s whole life, oldest first (`homeward_match::timeline`).
    pub fn case_timeline(&self, actor: &str, id: CaseId) -> Result<Timeline, ApiError> {
        let t = self.with_matcher(|m| timeline::case_timeline(m.registry(), id))?;
        self.audit(actor, "read_case_timeline", &format!("case:{id}"))?;
        Ok(t)
    }

    /// Case `id`'s timeline as CSV (`homeward_match::export::case_csv`).
    pub fn case_csv(&self, actor: &str, id: CaseId) -> Result<String, ApiError> {
        let t = self.with_matcher(|m| timeline::case_timeline(m.registry(), id))?;
        let csv = export::case_csv(&t).map_err(export_error)?;
        self.audit(actor, "export_case_csv", &format!("case:{id}"))?;
        Ok(csv)
    }

    /// The review queue as `reviewer` sees it, in queue order, each item
    /// marked new when it was queued after the reviewer last looked; then
    /// the reviewer's mark moves past what was shown
    /// (`homeward_match::review::{queue_for, mark_seen}`).
    pub fn review_queue_filtered(
        &self,
        reviewer: &str,
        f: &QueueFilter,
    ) -> Result<Vec<QueueItem>, ApiError> {
        let rows = self.with_matcher(|m| {
            let rows = review::queue_for(m.registry(), reviewer, f)?;
            m.mark_seen(reviewer, &rows)?;
            Ok(rows)
        })?;
        let items: Vec<QueueItem> = rows
            .into_iter()
            .map(|r| queue_item(r.entry, r.new))
            .collect();
        self.audit(
            reviewer,
            "review_queue",
            &format!("matches:{}", items.len()),
        )?;
        Ok(items)
    }

    /// The review queue as CSV, with the same filters as the list
    /// (`homeward_match::export::queue_csv`). Downloading does not move
    /// the reviewer's "new" mark: it is not looking.
    pub fn queue_csv(&self, reviewer: &str, f: &QueueFilter) -> Result<String, ApiError> {
        let entries: Vec<QueueEntry> = self
            .with_matcher(|m| review::queue_for(m.registry(), reviewer, f))?
            .into_iter()
            .map(|r| r.entry)
            .collect();
        let csv = export::queue_csv(&entries).map_err(export_error)?;
        self.audit(
            reviewer,
            "export_review_csv",
            &format!("matches:{}", entries.len()),
        )?;
        Ok(csv)
    }

    /// Assigns match `id` to case worker `assignee`, or to nobody
    /// (`homeward_match::review::assign`). The caller checks that the
    /// name is a case worker's account: the registry does not know users.
    pub fn assign(&self, actor: &str, id: MatchId, assignee: Option<&str>) -> Result<(), ApiError> {
        self.with_matcher(|m| Ok(m.assign(actor, id, assignee).map_err(field_error)))??;
        let action = if assignee.is_some() {
            "assign_match"
        } else {
            "unassign_match"
        };
        self.audit(actor, action, &format!("match:{id}"))
    }
}
