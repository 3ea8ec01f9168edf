//! "Which notifications are owed, and who sends each one?"
//!
//! The registry is the notifications' outbox (docs/adr-notify.md): a
//! notification is owed, per channel, for every pending match of a notified
//! band (the caller names the bands: that is policy) whose id is above the
//! registry's `notify_floor` and that has been neither delivered nor given up
//! on that channel. `notify_deliveries` keeps one row per match and channel:
//! the claim's lease, the attempts, when to try next, and the outcome.
//!
//! A claim is one statement (`INSERT … ON CONFLICT DO UPDATE … WHERE` the
//! row is free, `RETURNING`), so of several processes sharing a PostgreSQL
//! registry exactly one holds a match's lease at a time; the lease outlasts
//! one delivery attempt. Nothing here names a person: ids, band and times.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags};

use super::error::StoreError;
use super::schema::SCHEMA_VERSION;

/// A match owed a notification on one channel, claimed for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedMatch {
    /// The match.
    pub match_id: u64,
    /// Its sighting.
    pub sighting_id: u64,
    /// Its case.
    pub case_id: u64,
    /// Its band's word, as stored in its scores (`strong`, `possible` …).
    pub band: String,
    /// When the match was queued (seconds since the Unix epoch).
    pub created_at: i64,
    /// Attempts already made on this channel.
    pub attempts: u32,
}

/// What to claim.
#[derive(Debug, Clone)]
pub struct OwedQuery<'a> {
    /// The channel (`webhook`, `email`).
    pub channel: &'a str,
    /// The bands notified (the caller's policy).
    pub bands: &'a [&'a str],
    /// Matches queued before this (seconds) are no longer claimed: they are
    /// given up by [`Outbox::expire`].
    pub since: i64,
    /// How long a claim keeps other processes off the match (seconds).
    pub lease_s: i64,
    /// At most this many.
    pub limit: usize,
}

/// The notifications' outbox: the SQLite registry ([`SqliteOutbox`]), a
/// PostgreSQL registry (`homeward_pg::PgOutbox`) or a test's memory.
pub trait Outbox: Send {
    /// Claims up to `q.limit` owed matches on `q.channel` whose next attempt
    /// is due at `now`, oldest first; each is leased until `now + q.lease_s`.
    fn claim(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<OwedMatch>, StoreError>;
    /// Records a delivery: the match is never claimed on `channel` again.
    fn delivered(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError>;
    /// Records a failed attempt; the match is due again at `next_at`.
    fn retry_at(&mut self, match_id: u64, channel: &str, next_at: i64) -> Result<(), StoreError>;
    /// Gives up on `match_id` on `channel` (never claimed again).
    fn give_up(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError>;
    /// The owed matches queued before `q.since` that no one holds a lease
    /// on, oldest first.
    fn overdue(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<u64>, StoreError>;
    /// Gives up on every owed match queued before `q.since` that no one holds
    /// a lease on, and returns their ids (for the log).
    fn expire(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<u64>, StoreError> {
        let ids = self.overdue(q, now)?;
        for id in &ids {
            self.give_up(*id, q.channel, now)?;
        }
        Ok(ids)
    }
}

/// The outbox of a SQLite registry, on a connection of its own (the
/// notifier's thread), beside the registry's.
pub struct SqliteOutbox {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for SqliteOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOutbox")
            .field("path", &self.path)
            .finish()
    }
}

/// The band list as SQL placeholders `?N, ?N+1, …` from `first`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqliteOutbox {
    /// Opens the outbox of the registry in `dir` (already opened, and so
    /// migrated, by [`super::Registry::open`]).
    pub fn open(dir: &Path) -> Result<SqliteOutbox, StoreError> {
        let path = dir.join("registry.sqlite");
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
            .map_err(sql)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(SqliteOutbox { path, conn })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The owed matches' ids, oldest first: `due` picks those claimable now
    /// (queued at or after `since`), else those queued before it.
    fn owed(&self, q: &OwedQuery<'_>, now: i64, due: bool) -> Result<Vec<u64>, StoreError> {
        let age = if due {
            "m.created_at >= ?3"
        } else {
            "m.created_at < ?3"
        };
        let next = if due { "AND d.next_at <= ?2" } else { "" };
        let query = format!(
            "SELECT m.id FROM matches m
             LEFT JOIN notify_deliveries d ON d.match_id = m.id AND d.channel = ?1
             WHERE m.state = 'pending'
               AND m.id > (SELECT value FROM registry_meta WHERE key = 'notify_floor')
               AND {age}
               AND json_extract(m.scores, '$.band') IN ({bands})
               AND (d.match_id IS NULL OR (d.delivered_at IS NULL AND d.gave_up_at IS NULL
                    AND d.claimed_until <= ?2 {next}))
             ORDER BY m.id LIMIT ?4",
            bands = placeholders(5, q.bands.len())
        );
        let mut values: Vec<rusqlite::types::Value> = vec![
            q.channel.to_string().into(),
            now.into(),
            q.since.into(),
            (q.limit as i64).into(),
        ];
        values.extend(q.bands.iter().map(|b| b.to_string().into()));
        let mut st = self.conn.prepare(&query).map_err(self.sql())?;
        let rows = st
            .query_map(rusqlite::params_from_iter(values), |r| r.get::<_, i64>(0))
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(self.sql())? as u64);
        }
        Ok(out)
    }
}

impl Outbox for SqliteOutbox {
    fn claim(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<OwedMatch>, StoreError> {
        if q.bands.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.owed(q, now, true)?;
        let mut out = Vec::new();
        for id in ids {
            // Free and due, or taken by no one: the claim is ours.
            let claimed = self
                .conn
                .query_row(
                    "INSERT INTO notify_deliveries (match_id, channel, next_at, claimed_until)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (match_id, channel) DO UPDATE SET claimed_until = excluded.claimed_until
                     WHERE notify_deliveries.delivered_at IS NULL
                       AND notify_deliveries.gave_up_at IS NULL
                       AND notify_deliveries.claimed_until <= ?3
                       AND notify_deliveries.next_at <= ?3
                     RETURNING attempts",
                    params![id as i64, q.channel, now, now + q.lease_s],
                    |r| r.get::<_, i64>(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(self.sql())?;
            let Some(attempts) = claimed else { continue };
            let row = self
                .conn
                .query_row(
                    "SELECT sighting_id, case_id, json_extract(scores, '$.band'), created_at
                     FROM matches WHERE id = ?1",
                    params![id as i64],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    },
                )
                .map_err(self.sql())?;
            out.push(OwedMatch {
                match_id: id,
                sighting_id: row.0 as u64,
                case_id: row.1 as u64,
                band: row.2,
                created_at: row.3,
                attempts: attempts.max(0) as u32,
            });
        }
        Ok(out)
    }

    fn delivered(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE notify_deliveries SET delivered_at = ?3, attempts = attempts + 1,
                 claimed_until = 0 WHERE match_id = ?1 AND channel = ?2",
                params![match_id as i64, channel, now],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    fn retry_at(&mut self, match_id: u64, channel: &str, next_at: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE notify_deliveries SET next_at = ?3, attempts = attempts + 1,
                 claimed_until = 0 WHERE match_id = ?1 AND channel = ?2",
                params![match_id as i64, channel, next_at],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    fn give_up(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO notify_deliveries (match_id, channel, gave_up_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (match_id, channel) DO UPDATE SET gave_up_at = excluded.gave_up_at,
                 claimed_until = 0",
                params![match_id as i64, channel, now],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    fn overdue(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<u64>, StoreError> {
        if q.bands.is_empty() {
            return Ok(Vec::new());
        }
        self.owed(q, now, false)
    }
}
