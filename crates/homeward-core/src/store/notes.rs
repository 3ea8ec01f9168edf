//! The submitter's note on a sighting.

use rusqlite::params;

use super::registry::Registry;
use super::types::SightingId;
use super::StoreError;

impl Registry {
    /// Sets (or, with `None`, clears) the submitter's note on a sighting.
    /// The audit log records that a note was set, never its text.
    pub fn set_sighting_note(
        &mut self,
        actor: &str,
        id: SightingId,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute(
                "UPDATE sightings SET note = ?1 WHERE id = ?2",
                params![note, id as i64],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "sighting",
                id,
            });
        }
        Self::audit(&tx, actor, "set_note", &format!("sighting:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Moves notes kept outside the registry by older builds into it, in
    /// one transaction. A sighting that already has a note keeps it, and a
    /// note of a sighting that no longer exists is dropped (it was erased).
    /// Returns the ids handled, which the old store may then forget; running
    /// it twice changes nothing.
    pub fn adopt_sighting_notes(
        &mut self,
        actor: &str,
        notes: &[(SightingId, String)],
    ) -> Result<Vec<SightingId>, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let mut moved = 0usize;
        for (id, note) in notes {
            moved += tx
                .execute(
                    "UPDATE sightings SET note = ?1 WHERE id = ?2 AND note IS NULL",
                    params![note, *id as i64],
                )
                .map_err(sql)?;
        }
        if !notes.is_empty() {
            Self::audit(&tx, actor, "adopt_notes", &format!("sightings:{moved}")).map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(notes.iter().map(|(id, _)| *id).collect())
    }
}
