//! The typed reads of the pages, the API and the CLI (the core's
//! [`ReadStore`]) on PostgreSQL, with the SQLite registry's semantics: the
//! same orders, counts, errors for unknown ids, and nothing of an erased
//! case (checked by the store conformance suite).
//!
//! The queries are here once, used by [`PgStore`](crate::PgStore)'s
//! [`Store`](homeward_core::store::Store) reads on its own connection and
//! by [`PgReader`], a read-only connection of its own that a server pools
//! (`Box<dyn ReadStore + Send>`) and that also works against a hot
//! standby. Each read is one statement, or one `REPEATABLE READ READ ONLY`
//! transaction when it needs several (the review item), so it sees one
//! snapshot.

use std::sync::{Mutex, MutexGuard};

use homeward_core::index::Embedding;
use homeward_core::store::{
    BatchStatus, CaseId, CasePhoto, CaseSummary, MatchId, PhotoDistance, PhotoId, QueueEntry,
    ReadStore, ReviewItem, SightingId, SightingSummary, StoreError, StoredScores,
};
use postgres::{Client, GenericClient, IsolationLevel};

use crate::error::{self, PgError, Target};
use crate::rows::*;
use crate::schema::{APPLICATION, SCHEMA_VERSION};

/// A read-only connection to a registry on PostgreSQL, for the typed reads
/// ([`ReadStore`]). It holds no index and no lock: open as many as needed,
/// against the primary or a hot standby.
///
/// Every transaction of the connection is read-only
/// (`default_transaction_read_only`), so a read can never write.
pub struct PgReader {
    client: Mutex<Client>,
    target: Target,
}

impl std::fmt::Debug for PgReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReader")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl PgReader {
    /// Opens a read-only connection to the registry in the database `url`
    /// (as for [`PgStore::connect`](crate::PgStore::connect); no error
    /// repeats it).
    ///
    /// # Errors
    /// [`PgError::BadUrl`], [`PgError::Connect`]; [`PgError::NotARegistry`]
    /// when the database holds no registry, [`PgError::TooNew`] or
    /// [`PgError::NotMigrated`] when its schema is not this build's (a
    /// reader never migrates).
    pub fn connect(url: &str) -> Result<PgReader, PgError> {
        let (config, target) = crate::config_of(url)?;
        PgReader::open(&config, target)
    }

    pub(crate) fn open(config: &postgres::Config, target: Target) -> Result<PgReader, PgError> {
        let mut client = crate::connect_client(config, &target)?;
        let db = |e| PgError::Store(error::store_error(e, &target));
        client
            .batch_execute("SET SESSION default_transaction_read_only = on")
            .map_err(db)?;
        check_schema(&mut client, &target)?;
        Ok(PgReader {
            client: Mutex::new(client),
            target,
        })
    }

    /// The database, without password.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether the connection is gone (the server restarted or closed it):
    /// every read fails then, and a pool should open a new reader.
    pub fn is_closed(&self) -> bool {
        self.lock().is_closed()
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        // A panic while holding the client leaves no transaction open
        // (dropping one rolls it back), so the client is still sound.
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Refuses a database that is not a registry of this build's schema
/// version, reading only (a reader cannot migrate).
pub(crate) fn check_schema(client: &mut Client, target: &Target) -> Result<(), PgError> {
    let db = |e| PgError::Store(error::store_error(e, target));
    let ours: bool = client
        .query_one("SELECT to_regclass('homeward_schema') IS NOT NULL", &[])
        .map_err(db)?
        .get(0);
    let row = if ours {
        client
            .query_opt("SELECT application, version FROM homeward_schema", &[])
            .map_err(db)?
    } else {
        None
    };
    let not_ours = |why: String| PgError::NotARegistry {
        target: target.clone(),
        why,
    };
    let Some(row) = row else {
        return Err(not_ours(if ours {
            "homeward_schema is empty".into()
        } else {
            "no homeward_schema".into()
        }));
    };
    let (application, version): (String, i32) = (row.get(0), row.get(1));
    if application != APPLICATION {
        return Err(not_ours(format!(
            "homeward_schema names application {application:?}"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(PgError::TooNew {
            target: target.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < SCHEMA_VERSION {
        return Err(PgError::NotMigrated {
            target: target.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

impl ReadStore for PgReader {
    fn is_lost(&self) -> bool {
        self.is_closed()
    }
    fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError> {
        case_summaries(&mut *self.lock(), &self.target)
    }
    fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError> {
        case_summary_of(&mut *self.lock(), &self.target, id)
    }
    fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError> {
        case_photos(&mut *self.lock(), &self.target, case)
    }
    fn photo_age_months(&self, photo: PhotoId) -> Result<Option<u32>, StoreError> {
        photo_age_months(&mut *self.lock(), &self.target, photo)
    }
    fn case_photo_distances(
        &self,
        case: CaseId,
        query: &[Embedding],
    ) -> Result<Vec<PhotoDistance>, StoreError> {
        case_photo_distances(&mut *self.lock(), &self.target, case, query)
    }
    fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError> {
        sighting_summaries(&mut *self.lock(), &self.target, limit)
    }
    fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError> {
        sighting_summary_of(&mut *self.lock(), &self.target, id)
    }
    fn sighting_photo_hash(&self, id: SightingId) -> Result<[u8; 32], StoreError> {
        sighting_photo_hash(&mut *self.lock(), &self.target, id)
    }
    fn sighting_embeddings(&self, id: SightingId) -> Result<Vec<Embedding>, StoreError> {
        sighting_embeddings(&mut *self.lock(), &self.target, id)
    }
    fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError> {
        review_queue(&mut *self.lock(), &self.target, all)
    }
    fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError> {
        review_item(&mut self.lock(), &self.target, id)
    }
    fn batches(&self) -> Result<Vec<BatchStatus>, StoreError> {
        batches(&mut *self.lock(), &self.target)
    }
    fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError> {
        batch_status_of(&mut *self.lock(), &self.target, name)
    }
}

fn db(target: &Target) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| error::store_error(e, target)
}

/// Every case, newest first.
pub(crate) fn case_summaries(
    c: &mut impl GenericClient,
    t: &Target,
) -> Result<Vec<CaseSummary>, StoreError> {
    let rows = c
        .query(&format!("{CASE_SUMMARY} ORDER BY c.id DESC"), &[])
        .map_err(db(t))?;
    rows.iter().map(case_summary).collect()
}

/// One case in list form.
pub(crate) fn case_summary_of(
    c: &mut impl GenericClient,
    t: &Target,
    id: CaseId,
) -> Result<CaseSummary, StoreError> {
    let row = c
        .query_opt(
            &format!("{CASE_SUMMARY} WHERE c.id = $1"),
            &[&sql_id(id, "case")?],
        )
        .map_err(db(t))?
        .ok_or(StoreError::NotFound { what: "case", id })?;
    case_summary(&row)
}

/// A case's photos, youngest age first, photos of unknown age last.
pub(crate) fn case_photos(
    c: &mut impl GenericClient,
    t: &Target,
    case: CaseId,
) -> Result<Vec<CasePhoto>, StoreError> {
    // An id beyond i64 names no row (SQLite reads it as a negative id): none.
    let Ok(case) = i64::try_from(case) else {
        return Ok(Vec::new());
    };
    let rows = c
        .query(
            "SELECT p.id, p.age_months, p.taken_date, p.source,
                    (SELECT count(*) FROM faces f WHERE f.photo_id = p.id), p.added_at
             FROM photos p WHERE p.case_id = $1
             ORDER BY p.age_months IS NULL, p.age_months, p.id",
            &[&case],
        )
        .map_err(db(t))?;
    rows.iter()
        .map(|r| {
            Ok(CasePhoto {
                id: id(r.get(0)),
                age_months: age_months(r.get(1))?,
                taken_date: r.get(2),
                source: r.get(3),
                faces: count(r.get(4)),
                added_at: r.get(5),
            })
        })
        .collect()
}

/// The child's age in a photo, in months.
pub(crate) fn photo_age_months(
    c: &mut impl GenericClient,
    t: &Target,
    photo: PhotoId,
) -> Result<Option<u32>, StoreError> {
    let row = c
        .query_opt(
            "SELECT age_months FROM photos WHERE id = $1",
            &[&sql_id(photo, "photo")?],
        )
        .map_err(db(t))?
        .ok_or(StoreError::NotFound {
            what: "photo",
            id: photo,
        })?;
    age_months(row.get(0))
}

/// A case's photos with their smallest distance to any of `query`, nearest
/// first (ties by photo id).
pub(crate) fn case_photo_distances(
    c: &mut impl GenericClient,
    t: &Target,
    case: CaseId,
    query: &[Embedding],
) -> Result<Vec<PhotoDistance>, StoreError> {
    // An id beyond i64 names no row (SQLite reads it as a negative id): none.
    let Ok(case) = i64::try_from(case) else {
        return Ok(Vec::new());
    };
    let rows = c
        .query(
            "SELECT p.id, p.age_months, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id
             WHERE p.case_id = $1",
            &[&case],
        )
        .map_err(db(t))?;
    let mut faces = Vec::with_capacity(rows.len());
    for r in &rows {
        faces.push((
            id(r.get(0)),
            age_months(r.get(1))?,
            bytes_embedding(r.get(2)),
        ));
    }
    Ok(PhotoDistance::nearest(faces, query))
}

/// The newest `limit` sightings, newest first.
pub(crate) fn sighting_summaries(
    c: &mut impl GenericClient,
    t: &Target,
    limit: u32,
) -> Result<Vec<SightingSummary>, StoreError> {
    let rows = c
        .query(
            &format!("{SIGHTING_SUMMARY} ORDER BY s.id DESC LIMIT $1"),
            &[&i64::from(limit)],
        )
        .map_err(db(t))?;
    rows.iter().map(sighting_summary).collect()
}

/// One sighting.
pub(crate) fn sighting_summary_of(
    c: &mut impl GenericClient,
    t: &Target,
    id: SightingId,
) -> Result<SightingSummary, StoreError> {
    let row = c
        .query_opt(
            &format!("{SIGHTING_SUMMARY} WHERE s.id = $1"),
            &[&sql_id(id, "sighting")?],
        )
        .map_err(db(t))?
        .ok_or(StoreError::NotFound {
            what: "sighting",
            id,
        })?;
    sighting_summary(&row)
}

/// Content hash of a sighting's photo.
pub(crate) fn sighting_photo_hash(
    c: &mut impl GenericClient,
    t: &Target,
    id: SightingId,
) -> Result<[u8; 32], StoreError> {
    c.query_opt(
        "SELECT sha256 FROM sightings WHERE id = $1",
        &[&sql_id(id, "sighting")?],
    )
    .map_err(db(t))?
    .and_then(|r| hash32(r.get(0)))
    .ok_or(StoreError::NotFound {
        what: "sighting",
        id,
    })
}

/// Embeddings of a sighting's faces, in face order.
pub(crate) fn sighting_embeddings(
    c: &mut impl GenericClient,
    t: &Target,
    id: SightingId,
) -> Result<Vec<Embedding>, StoreError> {
    // An id beyond i64 names no row (SQLite reads it as a negative id): none.
    let Ok(id) = i64::try_from(id) else {
        return Ok(Vec::new());
    };
    let rows = c
        .query(
            "SELECT embedding FROM sighting_faces WHERE sighting_id = $1 ORDER BY id",
            &[&id],
        )
        .map_err(db(t))?;
    Ok(rows
        .iter()
        .filter_map(|r| bytes_embedding(r.get(0)))
        .collect())
}

/// The review queue in queue order (pending only unless `all`).
pub(crate) fn review_queue(
    c: &mut impl GenericClient,
    t: &Target,
    all: bool,
) -> Result<Vec<QueueEntry>, StoreError> {
    let rows = c
        .query(
            "SELECT m.id, m.sighting_id, m.case_id, c.child_name, m.scores, m.state,
                    m.created_at, m.assignee
             FROM matches m JOIN cases c ON c.id = m.case_id
             WHERE ($1 OR m.state = 'pending')
             ORDER BY m.rank_key IS NULL, m.rank_key, m.id",
            &[&all],
        )
        .map_err(db(t))?;
    rows.iter()
        .map(|r| {
            Ok(QueueEntry {
                match_id: id(r.get(0)),
                sighting_id: id(r.get(1)),
                case_id: id(r.get(2)),
                child_name: r.get(3),
                scores: StoredScores::parse(r.get(4)),
                state: word(r.get(5), "matches.state")?,
                created_at: r.get(6),
                assignee: r.get(7),
            })
        })
        .collect()
}

/// One match with its sighting, its case and the case's photos nearest the
/// sighting's faces, read in one `REPEATABLE READ READ ONLY` transaction
/// (one snapshot, also on a hot standby).
pub(crate) fn review_item(
    c: &mut Client,
    t: &Target,
    id: MatchId,
) -> Result<ReviewItem, StoreError> {
    let mid = sql_id(id, "match")?;
    let mut tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db(t))?;
    let row = tx
        .query_opt(
            "SELECT sighting_id, case_id, scores, state, reviewer, note, decided_at, assignee
             FROM matches WHERE id = $1",
            &[&mid],
        )
        .map_err(db(t))?
        .ok_or(StoreError::NotFound { what: "match", id })?;
    let (sid, cid) = (crate::rows::id(row.get(0)), crate::rows::id(row.get(1)));
    let sighting = sighting_summary_of(&mut tx, t, sid)?;
    let case = case_summary_of(&mut tx, t, cid)?;
    let query = sighting_embeddings(&mut tx, t, sid)?;
    let photos = case_photo_distances(&mut tx, t, cid, &query)?;
    tx.commit().map_err(db(t))?;
    Ok(ReviewItem {
        match_id: id,
        state: word(row.get(3), "matches.state")?,
        reviewer: row.get(4),
        assignee: row.get(7),
        note: row.get(5),
        decided_at: row.get(6),
        scores: StoredScores::parse(row.get(2)),
        sighting,
        case,
        photos,
    })
}

/// Every batch, most recently active first, ties by name bytewise (as
/// SQLite compares text, whatever the cluster's locale).
pub(crate) fn batches(
    c: &mut impl GenericClient,
    t: &Target,
) -> Result<Vec<BatchStatus>, StoreError> {
    let rows = c
        .query(
            &format!(
                "{BATCH_STATUS} GROUP BY b.batch
                 ORDER BY max(b.done_at) DESC NULLS LAST, b.batch COLLATE \"C\""
            ),
            &[],
        )
        .map_err(db(t))?;
    Ok(rows.iter().map(batch_status).collect())
}

/// One batch's progress.
pub(crate) fn batch_status_of(
    c: &mut impl GenericClient,
    t: &Target,
    name: &str,
) -> Result<Option<BatchStatus>, StoreError> {
    let row = c
        .query_opt(
            &format!("{BATCH_STATUS} WHERE b.batch = $1 GROUP BY b.batch"),
            &[&name],
        )
        .map_err(db(t))?;
    Ok(row.as_ref().map(batch_status))
}
