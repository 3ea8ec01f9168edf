//! The notifications' outbox on PostgreSQL: the core's
//! [`Outbox`](homeward_core::store::Outbox) with SQLite's semantics
//! (`homeward_core::store::SqliteOutbox`), on a connection of its own.
//!
//! Several servers share one registry: each claims a match with one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE` the row is free `RETURNING`.
//! PostgreSQL evaluates that `WHERE` on the row's latest committed version
//! under its row lock, so of two claimers exactly one gets the row back;
//! the other sees the lease and skips the match.

use homeward_core::store::{Outbox, OwedMatch, OwedQuery, StoreError};
use postgres::Client;

use crate::error::{self, PgError, Target};

/// The outbox of a PostgreSQL registry.
pub struct PgOutbox {
    client: Client,
    target: Target,
    /// To open a new connection when the database ended this one (never shown).
    config: postgres::Config,
}

impl std::fmt::Debug for PgOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOutbox")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl PgOutbox {
    /// Opens a connection of its own to the registry in the database `url`
    /// (as for [`PgStore::connect`](crate::PgStore::connect), which migrates:
    /// this does not).
    ///
    /// # Errors
    /// [`PgError::BadUrl`], [`PgError::Connect`]; [`PgError::NotARegistry`],
    /// [`PgError::TooNew`] or [`PgError::NotMigrated`] when the database does
    /// not hold this build's registry.
    pub fn connect(url: &str) -> Result<PgOutbox, PgError> {
        let (config, target) = crate::config_of(url)?;
        let mut client = crate::connect_client(&config, &target)?;
        crate::reads::check_schema(&mut client, &target)?;
        Ok(PgOutbox {
            client,
            target,
            config,
        })
    }

    /// Opens a new connection when the database ended this one (a restart,
    /// a failover): the notifier goes on at its next poll.
    fn live(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            self.client = crate::connect_client(&self.config, &self.target)
                .map_err(|e| e.into_store_error(&self.target))?;
        }
        Ok(())
    }

    /// Owed matches' ids, oldest first: `due` picks those claimable now
    /// (queued at or after `since`), else those queued before it.
    fn owed(&mut self, q: &OwedQuery<'_>, now: i64, due: bool) -> Result<Vec<u64>, StoreError> {
        self.live()?;
        let age = if due {
            "m.created_at >= $3"
        } else {
            "m.created_at < $3"
        };
        let next = if due { "AND d.next_at <= $2" } else { "" };
        let query = format!(
            "SELECT m.id FROM matches m
             LEFT JOIN notify_deliveries d ON d.match_id = m.id AND d.channel = $1
             WHERE m.state = 'pending'
               AND m.id > (SELECT value FROM registry_meta WHERE key = 'notify_floor')
               AND {age}
               AND (m.scores::json ->> 'band') = ANY($4)
               AND (d.match_id IS NULL OR (d.delivered_at IS NULL AND d.gave_up_at IS NULL
                    AND d.claimed_until <= $2 {next}))
             ORDER BY m.id LIMIT $5"
        );
        let bands: Vec<String> = q.bands.iter().map(|b| b.to_string()).collect();
        let limit = q.limit as i64;
        let rows = self
            .client
            .query(&query, &[&q.channel, &now, &q.since, &bands, &limit])
            .map_err(|e| error::store_error(e, &self.target))?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }
}

impl Outbox for PgOutbox {
    fn claim(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<OwedMatch>, StoreError> {
        if q.bands.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.owed(q, now, true)?;
        let until = now + q.lease_s;
        let mut out = Vec::new();
        for id in ids {
            let mid = id as i64;
            let row = self
                .client
                .query_opt(
                    "INSERT INTO notify_deliveries (match_id, channel, next_at, claimed_until)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (match_id, channel) DO UPDATE SET claimed_until = excluded.claimed_until
                     WHERE notify_deliveries.delivered_at IS NULL
                       AND notify_deliveries.gave_up_at IS NULL
                       AND notify_deliveries.claimed_until <= $3
                       AND notify_deliveries.next_at <= $3
                     RETURNING attempts",
                    &[&mid, &q.channel, &now, &until],
                )
                .map_err(|e| error::store_error(e, &self.target))?;
            let Some(row) = row else { continue };
            let attempts: i32 = row.get(0);
            let m = self
                .client
                .query_opt(
                    "SELECT sighting_id, case_id, scores::json ->> 'band', created_at
                     FROM matches WHERE id = $1",
                    &[&mid],
                )
                .map_err(|e| error::store_error(e, &self.target))?;
            // Erased since it was listed: its delivery row went with it.
            let Some(m) = m else { continue };
            out.push(OwedMatch {
                match_id: id,
                sighting_id: m.get::<_, i64>(0) as u64,
                case_id: m.get::<_, i64>(1) as u64,
                band: m.get::<_, Option<String>>(2).unwrap_or_default(),
                created_at: m.get(3),
                attempts: attempts.max(0) as u32,
            });
        }
        Ok(out)
    }

    fn delivered(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError> {
        self.live()?;
        self.client
            .execute(
                "UPDATE notify_deliveries SET delivered_at = $3, attempts = attempts + 1,
                 claimed_until = 0 WHERE match_id = $1 AND channel = $2",
                &[&(match_id as i64), &channel, &now],
            )
            .map_err(|e| error::store_error(e, &self.target))?;
        Ok(())
    }

    fn retry_at(&mut self, match_id: u64, channel: &str, next_at: i64) -> Result<(), StoreError> {
        self.live()?;
        self.client
            .execute(
                "UPDATE notify_deliveries SET next_at = $3, attempts = attempts + 1,
                 claimed_until = 0 WHERE match_id = $1 AND channel = $2",
                &[&(match_id as i64), &channel, &next_at],
            )
            .map_err(|e| error::store_error(e, &self.target))?;
        Ok(())
    }

    fn give_up(&mut self, match_id: u64, channel: &str, now: i64) -> Result<(), StoreError> {
        self.live()?;
        self.client
            .execute(
                "INSERT INTO notify_deliveries (match_id, channel, gave_up_at) VALUES ($1, $2, $3)
                 ON CONFLICT (match_id, channel) DO UPDATE SET gave_up_at = excluded.gave_up_at,
                 claimed_until = 0",
                &[&(match_id as i64), &channel, &now],
            )
            .map_err(|e| error::store_error(e, &self.target))?;
        Ok(())
    }

    fn overdue(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<u64>, StoreError> {
        if q.bands.is_empty() {
            return Ok(Vec::new());
        }
        self.owed(q, now, false)
    }
}
