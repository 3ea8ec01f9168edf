//! A case's journal (status changes with why, and case workers' notes) and
//! shared review (who a match is assigned to, and each reviewer's "seen up
//! to" mark).

use rusqlite::{params, OptionalExtension};

use super::codec::now;
use super::reads::Reads;
use super::registry::Registry;
use super::types::{CaseId, MatchId};
use super::StoreError;
use crate::rules::{CaseStatus, FreeText, Name};

/// Row id of a case event.
pub type CaseEventId = u64;

/// What a case event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEventKind {
    /// The case moved to this status; the event's text is why.
    Status(CaseStatus),
    /// A case worker's note; the event's text is the note.
    Note,
}

/// One entry of a case's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvent {
    /// Row id (increasing in the order events were written).
    pub id: CaseEventId,
    /// The case.
    pub case_id: CaseId,
    /// When (seconds since the Unix epoch).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: CaseEventKind,
    /// Why (for a status change, when given) or the note.
    pub text: Option<String>,
}

/// Checks a note or a reason under the free-text rule.
pub fn check_event_text(field: &'static str, text: &str) -> Result<String, StoreError> {
    text.parse::<FreeText>()
        .map(|t| t.as_str().to_string())
        .map_err(|e| StoreError::Invalid {
            field,
            why: e.to_string(),
        })
}

/// Checks a case worker's name under the name rule.
pub fn check_person_name(field: &'static str, name: &str) -> Result<String, StoreError> {
    name.parse::<Name>()
        .map(Name::into_string)
        .map_err(|e| StoreError::Invalid {
            field,
            why: e.to_string(),
        })
}

/// The status a `case_events` row names, read back from its text.
pub fn event_kind(kind: &str, status: Option<&str>) -> Option<CaseEventKind> {
    match (kind, status) {
        ("note", None) => Some(CaseEventKind::Note),
        ("status", Some(s)) => s.parse().ok().map(CaseEventKind::Status),
        _ => None,
    }
}

impl Registry {
    /// Writes the journal entry of a status change (inside the caller's
    /// transaction).
    pub(super) fn journal_status(
        tx: &rusqlite::Transaction<'_>,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO case_events (case_id, at, actor, kind, status, body)
             VALUES (?1, ?2, ?3, 'status', ?4, ?5)",
            params![id as i64, now(), actor, status.as_str(), why],
        )
        .map(|_| ())
    }

    /// Adds a case worker's note to case `id`. The audit log records that
    /// a note was added, never its text.
    pub fn add_case_note(
        &mut self,
        actor: &str,
        id: CaseId,
        text: &str,
    ) -> Result<CaseEventId, StoreError> {
        let text = check_event_text("note", text)?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM cases WHERE id = ?1", [id as i64], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "case", id });
        }
        tx.execute(
            "INSERT INTO case_events (case_id, at, actor, kind, body)
             VALUES (?1, ?2, ?3, 'note', ?4)",
            params![id as i64, now(), actor, text],
        )
        .map_err(sql)?;
        let event = tx.last_insert_rowid() as u64;
        Self::audit(&tx, actor, "add_note", &format!("case:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(event)
    }

    /// Assigns match `id` to case worker `assignee`, or, with `None`,
    /// leaves it to nobody.
    pub fn assign_match(
        &mut self,
        actor: &str,
        id: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), StoreError> {
        let assignee = assignee
            .map(|a| check_person_name("assignee", a))
            .transpose()?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute(
                "UPDATE matches SET assignee = ?1 WHERE id = ?2",
                params![assignee, id as i64],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "match", id });
        }
        let action = if assignee.is_some() {
            "assign"
        } else {
            "unassign"
        };
        Self::audit(&tx, actor, action, &format!("match:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Records that `reviewer` has seen the queue up to match `upto`. The
    /// mark only moves forward: an older mark changes nothing.
    pub fn mark_review_seen(&mut self, reviewer: &str, upto: MatchId) -> Result<(), StoreError> {
        let reviewer = check_person_name("reviewer", reviewer)?;
        self.conn
            .execute(
                "INSERT INTO review_marks (reviewer, seen_upto, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (reviewer) DO UPDATE
                 SET seen_upto = max(seen_upto, excluded.seen_upto), at = excluded.at",
                params![reviewer, upto as i64, now()],
            )
            .map_err(self.sql())?;
        Ok(())
    }
}

impl Reads<'_> {
    /// Case `id`'s journal, oldest first (empty for a case without one;
    /// [`StoreError::NotFound`] for no such case).
    pub fn case_events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row("SELECT id FROM cases WHERE id = ?1", [id as i64], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sql())?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "case", id });
        }
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, at, actor, kind, status, body FROM case_events
                 WHERE case_id = ?1 ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([id as i64], |r| {
                let kind: String = r.get(3)?;
                let status: Option<String> = r.get(4)?;
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    kind,
                    status,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (eid, at, actor, kind, status, text) = row.map_err(self.sql())?;
            let kind = event_kind(&kind, status.as_deref()).ok_or(StoreError::Corrupt {
                what: "case_events",
                why: format!("event {eid} has kind {kind:?} and status {status:?}"),
            })?;
            out.push(CaseEvent {
                id: eid,
                case_id: id,
                at,
                actor,
                kind,
                text,
            });
        }
        Ok(out)
    }

    /// The last match `reviewer` has seen in the queue, if any.
    pub fn review_seen(&self, reviewer: &str) -> Result<Option<MatchId>, StoreError> {
        self.conn
            .query_row(
                "SELECT seen_upto FROM review_marks WHERE reviewer = ?1",
                [reviewer],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.map(|v| v as u64))
            .map_err(self.sql())
    }
}
