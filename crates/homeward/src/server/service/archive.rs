//! Archive uploads (`POST /api/batches`): each staged item goes through
//! the library path `homeward batch` uses, one at a time, recorded with
//! its batch mark (so an item is recorded once however often it is sent).

use std::collections::HashSet;

use homeward_core::intake::Limits;
use homeward_core::store::NewSighting;
use homeward_match::ingest::{self, Inbox, QueueItem};
use homeward_match::matching::MatchError;
use homeward_pg::JobQueue;

use crate::server::archive::SharedQueue;

use super::{ApiError, Service, RANKED_PER_SIGHTING};

/// Runs `f` on the server's queue connection, connecting first when there
/// is none; after an error the connection is dropped (it may be the one
/// that failed) and the next call connects again.
fn with_queue<T>(
    q: &SharedQueue,
    f: impl FnOnce(&mut JobQueue) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut conn = q.conn.lock().unwrap_or_else(|p| p.into_inner());
    let mut queue = match conn.take() {
        Some(queue) => queue,
        None => {
            let worker = format!("serve:{}", std::process::id());
            JobQueue::connect(&q.url, &worker).map_err(MatchError::Queue)?
        }
    };
    let out = f(&mut queue);
    if out.is_ok() {
        *conn = Some(queue);
    }
    out
}

/// What became of one archive item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDone {
    /// Recorded as a sighting.
    Recorded,
    /// Could not be read or recorded; kept as the batch's failed item
    /// (tried again when the batch is sent again).
    Failed,
}

impl Service {
    /// Queues an upload's photos for `homeward worker`s (PostgreSQL): each
    /// photo into the shared inbox, then the jobs, as `homeward batch
    /// --db postgres://…` does; items the batch holds already are skipped.
    /// The matcher is held only to read the batch's recorded items and to
    /// record unreadable ones, never while photos are written, so searches
    /// go on meanwhile. Returns the jobs added.
    pub fn enqueue_upload(
        &self,
        q: &SharedQueue,
        batch: &str,
        items: &[QueueItem],
        limits: &Limits,
    ) -> Result<usize, ApiError> {
        let inbox = Inbox::new(&q.photo_root)?;
        let recorded = self.batch_recorded(batch)?;
        let done = with_queue(q, |queue| {
            let staged = ingest::stage(
                queue,
                &inbox,
                batch,
                items,
                &recorded,
                RANKED_PER_SIGHTING,
                limits,
            )?;
            if !staged.unreadable.is_empty() {
                self.with_matcher(|m| {
                    for (key, why) in &staged.unreadable {
                        m.record_batch_failure(batch, key, why)?;
                    }
                    Ok(())
                })?;
            }
            Ok(ingest::queue_staged(queue, batch, staged)?)
        })?;
        Ok(done.added)
    }

    /// The jobs of `batch` not finished yet (queued, running or stalled).
    pub fn queue_left(&self, q: &SharedQueue, batch: &str) -> Result<u64, ApiError> {
        let p = with_queue(q, |queue| {
            queue
                .progress(batch)
                .map_err(|e| MatchError::Queue(e).into())
        })?;
        Ok(p.queued + p.running + p.stalled)
    }

    /// The items of `batch` already recorded (skipped on a re-upload).
    pub fn batch_recorded(&self, batch: &str) -> Result<HashSet<String>, ApiError> {
        self.with_matcher(|m| Ok(m.batch_done(batch)?.into_keys().collect()))
    }

    /// Analyses a staged photo (its bytes, or why they could not be
    /// admitted) with the analyzer `homeward batch` uses and records it as item `item`
    /// of `batch`, as `homeward batch` does; a photo that cannot be
    /// decoded or recorded becomes a failed item. Err only when the
    /// registry itself fails or is closed (the item stays staged).
    pub fn archive_item(
        &self,
        actor: &str,
        batch: &str,
        item: &str,
        photo: Result<Vec<u8>, String>,
        sighting: &NewSighting,
    ) -> Result<ItemDone, ApiError> {
        let analysed = match photo {
            Ok(bytes) => {
                let models = self.with_registry(|r| Ok(r.models().to_vec()))?;
                self.analyzer
                    .photo_bytes_for(bytes, &models)
                    .map_err(|e| e.to_string())
            }
            Err(why) => Err(why),
        };
        let recorded = {
            let mut guard = self.matcher.lock().unwrap_or_else(|p| p.into_inner());
            let m = guard
                .as_mut()
                .ok_or_else(|| ApiError::internal("the registry is closed (shutting down)"))?;
            analysed.and_then(|photo| {
                m.submit_batch_item(actor, &photo, sighting, RANKED_PER_SIGHTING, batch, item)
                    .map_err(|e| e.to_string())
            })
        };
        match recorded {
            Ok(out) => {
                let sid = out.sighting_id;
                self.audit(actor, "batch_item", &format!("sighting:{sid}"))?;
                self.announce(actor, &out)?;
                Ok(ItemDone::Recorded)
            }
            Err(why) => {
                self.with_matcher(|m| m.record_batch_failure(batch, item, &why))?;
                Ok(ItemDone::Failed)
            }
        }
    }
}
