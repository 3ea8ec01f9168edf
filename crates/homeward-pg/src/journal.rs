//! A case's journal, match assignment and review marks on PostgreSQL, as in
//! the SQLite registry (`homeward_core::store`'s `journal.rs`), with the
//! core's checks so both stores refuse the same input with the same words.

use homeward_core::rules::CaseStatus;
use homeward_core::store::{
    check_event_text, check_person_name, event_kind, CaseEvent, CaseEventId, CaseId, MatchId,
    StoreError,
};
use postgres::GenericClient;

use crate::rows::{audit, id, now, sql_id};
use crate::{error, PgStore};

/// Writes the journal entry of a status change (inside the caller's
/// transaction).
pub(crate) fn journal_status(
    c: &mut impl GenericClient,
    actor: &str,
    case: i64,
    status: CaseStatus,
    why: Option<&str>,
) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO case_events (case_id, at, actor, kind, status, body)
         VALUES ($1, $2, $3, 'status', $4, $5)",
        &[&case, &now(), &actor, &status.as_str(), &why],
    )
    .map(|_| ())
}

impl PgStore {
    pub(crate) fn add_case_note_pg(
        &mut self,
        actor: &str,
        case: CaseId,
        text: &str,
    ) -> Result<CaseEventId, StoreError> {
        let text = check_event_text("note", text)?;
        let key = sql_id(case, "case")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        // Locks the case row, so an erasure cannot slip in between.
        let exists = tx
            .query_opt("SELECT id FROM cases WHERE id = $1 FOR SHARE", &[&key])
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: "case",
                id: case,
            });
        }
        let row = tx
            .query_one(
                "INSERT INTO case_events (case_id, at, actor, kind, body)
                 VALUES ($1, $2, $3, 'note', $4) RETURNING id",
                &[&key, &now(), &actor, &text],
            )
            .map_err(db)?;
        audit(&mut tx, actor, "add_note", &format!("case:{case}")).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(id(row.get(0)))
    }

    pub(crate) fn case_events_pg(&self, case: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        let key = sql_id(case, "case")?;
        let mut c = self.lock();
        let db = |e| error::store_error(e, &self.target);
        let exists = c
            .query_opt("SELECT id FROM cases WHERE id = $1", &[&key])
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: "case",
                id: case,
            });
        }
        let rows = c
            .query(
                "SELECT id, at, actor, kind, status, body FROM case_events
                 WHERE case_id = $1 ORDER BY id",
                &[&key],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let eid = id(r.get(0));
                let kind: String = r.get(3);
                let status: Option<String> = r.get(4);
                let kind = event_kind(&kind, status.as_deref()).ok_or(StoreError::Corrupt {
                    what: "case_events",
                    why: format!("event {eid} has kind {kind:?} and status {status:?}"),
                })?;
                Ok(CaseEvent {
                    id: eid,
                    case_id: case,
                    at: r.get(1),
                    actor: r.get(2),
                    kind,
                    text: r.get(5),
                })
            })
            .collect()
    }

    pub(crate) fn assign_match_pg(
        &mut self,
        actor: &str,
        m: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), StoreError> {
        let assignee = assignee
            .map(|a| check_person_name("assignee", a))
            .transpose()?;
        let key = sql_id(m, "match")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        let n = tx
            .execute(
                "UPDATE matches SET assignee = $1 WHERE id = $2",
                &[&assignee, &key],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "match",
                id: m,
            });
        }
        let action = if assignee.is_some() {
            "assign"
        } else {
            "unassign"
        };
        audit(&mut tx, actor, action, &format!("match:{m}")).map_err(db)?;
        tx.commit().map_err(db)
    }

    pub(crate) fn mark_review_seen_pg(
        &mut self,
        reviewer: &str,
        upto: MatchId,
    ) -> Result<(), StoreError> {
        let reviewer = check_person_name("reviewer", reviewer)?;
        let upto = sql_id(upto, "match")?;
        let (client, target) = self.parts();
        client
            .execute(
                "INSERT INTO review_marks (reviewer, seen_upto, at) VALUES ($1, $2, $3)
                 ON CONFLICT (reviewer) DO UPDATE
                 SET seen_upto = greatest(review_marks.seen_upto, excluded.seen_upto),
                     at = excluded.at",
                &[&reviewer, &upto, &now()],
            )
            .map_err(|e| error::store_error(e, target))?;
        Ok(())
    }

    pub(crate) fn review_seen_pg(&self, reviewer: &str) -> Result<Option<MatchId>, StoreError> {
        let row = self
            .lock()
            .query_opt(
                "SELECT seen_upto FROM review_marks WHERE reviewer = $1",
                &[&reviewer],
            )
            .map_err(|e| error::store_error(e, &self.target))?;
        Ok(row.map(|r| id(r.get(0))))
    }
}
