//! Typed reads for the pages, the API and the CLI: case lists and views,
//! sightings, the review queue and one review item, and batch progress.
//!
//! The same queries run on the registry's own connection
//! ([`Registry::reads`]) or on a separate read-only connection
//! ([`Registry::reader`]), which WAL lets read while the registry writes:
//! a reader sees every transaction committed before its statement began,
//! and none of a transaction in progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::codec::blob_to_embedding;
use super::registry::Registry;
use super::scores::{ScoresError, StoredScores};
use super::types::{CaseId, MatchId, PhotoId, SightingId};
use super::StoreError;
use crate::index::{l2, Embedding};
use crate::rules::{CaseStatus, MatchState, Sex};

/// A case in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// Row id.
    pub id: CaseId,
    /// The child's name.
    pub child_name: String,
    /// Recorded sex.
    pub sex: Sex,
    /// Birth year, if known.
    pub birth_year: Option<i32>,
    /// Date the child went missing, as entered.
    pub missing_date: Option<String>,
    /// Where the child went missing.
    pub missing_place: String,
    /// Status.
    pub status: CaseStatus,
    /// Number of photos.
    pub photos: u32,
    /// Matches waiting for review.
    pub pending_matches: u32,
    /// When it was registered (seconds since the Unix epoch).
    pub created_at: i64,
}

/// A photo of a case, without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CasePhoto {
    /// Row id.
    pub id: PhotoId,
    /// The child's age in the photo, in months.
    pub age_months: Option<u32>,
    /// When it was taken.
    pub taken_date: Option<String>,
    /// Where it came from.
    pub source: Option<String>,
    /// Faces stored for it.
    pub faces: u32,
    /// When it was added (seconds since the Unix epoch).
    pub added_at: i64,
}

/// A case photo's distance to a set of query faces.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoDistance {
    /// The photo.
    pub photo_id: PhotoId,
    /// Smallest Euclidean distance between its faces and the queries.
    pub distance: f32,
    /// The child's age in the photo, in months.
    pub age_months: Option<u32>,
}

impl PhotoDistance {
    /// Each photo's smallest distance between its faces and any of
    /// `query`, nearest first (ties by photo id), from `(photo, age in
    /// months, face embedding)` rows; a face whose embedding did not decode
    /// (`None`) is skipped. Both stores' `case_photo_distances` end here.
    pub fn nearest(
        faces: impl IntoIterator<Item = (PhotoId, Option<u32>, Option<Embedding>)>,
        query: &[Embedding],
    ) -> Vec<PhotoDistance> {
        let mut best: HashMap<PhotoId, PhotoDistance> = HashMap::new();
        for (photo_id, age_months, e) in faces {
            let Some(e) = e else { continue };
            let d = query
                .iter()
                .map(|q| l2(q, &e))
                .fold(f32::INFINITY, f32::min);
            let entry = best.entry(photo_id).or_insert(PhotoDistance {
                photo_id,
                distance: d,
                age_months,
            });
            entry.distance = entry.distance.min(d);
        }
        let mut v: Vec<PhotoDistance> = best.into_values().collect();
        v.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.photo_id.cmp(&b.photo_id))
        });
        v
    }
}

/// A sighting as case workers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SightingSummary {
    /// Row id.
    pub id: SightingId,
    /// When it was seen, as entered.
    pub seen_at: Option<String>,
    /// Where, as text.
    pub place: Option<String>,
    /// Where, as (latitude, longitude).
    pub location: Option<(f64, f64)>,
    /// Apparent age range in years.
    pub apparent_age: Option<(f32, f32)>,
    /// Apparent sex.
    pub sex: Option<Sex>,
    /// Who submitted it.
    pub submitter: Option<String>,
    /// The submitter's note.
    pub note: Option<String>,
    /// Faces found in its photo.
    pub faces: u32,
    /// When it was recorded (seconds since the Unix epoch).
    pub added_at: i64,
}

/// A match in the review queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    /// The match.
    pub match_id: MatchId,
    /// The sighting.
    pub sighting_id: SightingId,
    /// The case.
    pub case_id: CaseId,
    /// The case's child.
    pub child_name: String,
    /// The scores recorded when it was queued, or why they cannot be read.
    pub scores: Result<StoredScores, ScoresError>,
    /// Review state.
    pub state: MatchState,
    /// When it was queued (seconds since the Unix epoch).
    pub created_at: i64,
    /// The case worker it is assigned to.
    pub assignee: Option<String>,
}

/// One match with what a reviewer needs to decide it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewItem {
    /// The match.
    pub match_id: MatchId,
    /// Review state.
    pub state: MatchState,
    /// Who decided.
    pub reviewer: Option<String>,
    /// The case worker it is assigned to.
    pub assignee: Option<String>,
    /// Their note.
    pub note: Option<String>,
    /// When decided (seconds since the Unix epoch).
    pub decided_at: Option<i64>,
    /// The scores recorded when it was queued, or why they cannot be read.
    pub scores: Result<StoredScores, ScoresError>,
    /// The sighting.
    pub sighting: SightingSummary,
    /// The case.
    pub case: CaseSummary,
    /// The case's photos, nearest to the sighting's faces first.
    pub photos: Vec<PhotoDistance>,
}

/// Progress of a batch run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatus {
    /// Batch name.
    pub name: String,
    /// Items processed (recorded or failed).
    pub items: u64,
    /// Items recorded as sightings.
    pub recorded: u64,
    /// Items that failed.
    pub failed: u64,
    /// Matches of its sightings waiting for review.
    pub pending_matches: u64,
    /// Unix time of the last processed item.
    pub last_done_at: Option<i64>,
}

/// A read-only connection to a registry, for reading while it writes.
/// Holds no lock; open as many as needed.
pub struct Reader {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

impl Reader {
    pub(super) fn open(path: &Path) -> Result<Reader, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
            .map_err(sql)?;
        Ok(Reader {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// The typed reads.
    pub fn reads(&self) -> Reads<'_> {
        Reads {
            conn: &self.conn,
            path: &self.path,
        }
    }
}

impl Registry {
    /// The typed reads, on the registry's own connection.
    pub fn reads(&self) -> Reads<'_> {
        Reads {
            conn: &self.conn,
            path: &self.db_path,
        }
    }

    /// A separate read-only connection (see the module docs for what it sees).
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::open(&self.db_path)
    }

    /// [`Registry::reader`] by the registry's directory, for a pool that
    /// opens readers without holding the registry (it must be open, or
    /// have been, so the file exists).
    pub fn reader_at(dir: &Path) -> Result<Reader, StoreError> {
        Reader::open(&Registry::db_file(dir))
    }
}

/// The typed reads over one connection.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    pub(super) conn: &'a Connection,
    pub(super) path: &'a Path,
}

impl std::fmt::Debug for Reads<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads").field("path", &self.path).finish()
    }
}

const CASE_SUMMARY: &str =
    "SELECT c.id, c.child_name, c.sex, c.birth_year, c.missing_date, c.missing_place, c.status,
        (SELECT count(*) FROM photos p WHERE p.case_id = c.id),
        (SELECT count(*) FROM matches m WHERE m.case_id = c.id AND m.state = 'pending'),
        c.created_at
     FROM cases c";

fn case_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseSummary> {
    Ok(CaseSummary {
        id: r.get::<_, i64>(0)? as u64,
        child_name: r.get(1)?,
        sex: r.get(2)?,
        birth_year: r.get(3)?,
        missing_date: r.get(4)?,
        missing_place: r.get(5)?,
        status: r.get(6)?,
        photos: r.get(7)?,
        pending_matches: r.get(8)?,
        created_at: r.get(9)?,
    })
}

const SIGHTING_SUMMARY: &str =
    "SELECT s.id, s.seen_at, s.place, s.lat, s.lon, s.age_min, s.age_max, s.sex, s.submitter,
        s.added_at, (SELECT count(*) FROM sighting_faces f WHERE f.sighting_id = s.id), s.note
     FROM sightings s";

fn sighting_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<SightingSummary> {
    let lat: Option<f64> = r.get(3)?;
    let lon: Option<f64> = r.get(4)?;
    let amin: Option<f64> = r.get(5)?;
    let amax: Option<f64> = r.get(6)?;
    Ok(SightingSummary {
        id: r.get::<_, i64>(0)? as u64,
        seen_at: r.get(1)?,
        place: r.get(2)?,
        location: lat.zip(lon),
        apparent_age: amin.zip(amax).map(|(a, b)| (a as f32, b as f32)),
        sex: r.get(7)?,
        submitter: r.get(8)?,
        added_at: r.get(9)?,
        faces: r.get(10)?,
        note: r.get(11)?,
    })
}

const BATCH_STATUS: &str = "SELECT b.batch, count(*), count(b.sighting_id), count(b.error),
        (SELECT count(*) FROM matches m JOIN batch_items i ON i.sighting_id = m.sighting_id
          WHERE i.batch = b.batch AND m.state = 'pending'),
        max(b.done_at)
     FROM batch_items b";

fn batch_status(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchStatus> {
    Ok(BatchStatus {
        name: r.get(0)?,
        items: r.get::<_, i64>(1)? as u64,
        recorded: r.get::<_, i64>(2)? as u64,
        failed: r.get::<_, i64>(3)? as u64,
        pending_matches: r.get::<_, i64>(4)? as u64,
        last_done_at: r.get(5)?,
    })
}

impl Reads<'_> {
    pub(super) fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Every case, newest first.
    pub fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{CASE_SUMMARY} ORDER BY c.id DESC"))
            .map_err(self.sql())?;
        let rows = st.query_map([], case_summary).map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// One case in list form.
    pub fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError> {
        self.conn
            .prepare_cached(&format!("{CASE_SUMMARY} WHERE c.id = ?1"))
            .and_then(|mut st| st.query_row([id as i64], case_summary).optional())
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound { what: "case", id })
    }

    /// A case's photos, youngest age first, photos of unknown age last.
    pub fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.id, p.age_months, p.taken_date, p.source,
                        (SELECT count(*) FROM faces f WHERE f.photo_id = p.id), p.added_at
                 FROM photos p WHERE p.case_id = ?1
                 ORDER BY p.age_months IS NULL, p.age_months, p.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([case as i64], |r| {
                Ok(CasePhoto {
                    id: r.get::<_, i64>(0)? as u64,
                    age_months: r.get(1)?,
                    taken_date: r.get(2)?,
                    source: r.get(3)?,
                    faces: r.get(4)?,
                    added_at: r.get(5)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// The child's age in a photo, in months (`None` when unknown).
    pub fn photo_age_months(&self, photo: PhotoId) -> Result<Option<u32>, StoreError> {
        self.conn
            .prepare_cached("SELECT age_months FROM photos WHERE id = ?1")
            .and_then(|mut st| {
                st.query_row([photo as i64], |r| r.get::<_, Option<u32>>(0))
                    .optional()
            })
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound {
                what: "photo",
                id: photo,
            })
    }

    /// A case's photos with their smallest distance to any of `query`,
    /// nearest first (ties by photo id).
    pub fn case_photo_distances(
        &self,
        case: CaseId,
        query: &[Embedding],
    ) -> Result<Vec<PhotoDistance>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.id, p.age_months, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id
                 WHERE p.case_id = ?1",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([case as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Option<u32>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(self.sql())?;
        let faces = rows
            .map(|row| row.map(|(p, age, blob)| (p, age, blob_to_embedding(&blob))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        Ok(PhotoDistance::nearest(faces, query))
    }

    /// The newest `limit` sightings, newest first.
    pub fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{SIGHTING_SUMMARY} ORDER BY s.id DESC LIMIT ?1"))
            .map_err(self.sql())?;
        let rows = st
            .query_map([i64::from(limit)], sighting_summary)
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// One sighting.
    pub fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError> {
        self.conn
            .prepare_cached(&format!("{SIGHTING_SUMMARY} WHERE s.id = ?1"))
            .and_then(|mut st| st.query_row([id as i64], sighting_summary).optional())
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound {
                what: "sighting",
                id,
            })
    }

    /// Content hash of a sighting's photo.
    pub fn sighting_photo_hash(&self, id: SightingId) -> Result<[u8; 32], StoreError> {
        let h: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT sha256 FROM sightings WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        h.and_then(super::codec::hash32)
            .ok_or(StoreError::NotFound {
                what: "sighting",
                id,
            })
    }

    /// Embeddings of a sighting's faces, in face order.
    pub fn sighting_embeddings(&self, id: SightingId) -> Result<Vec<Embedding>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT embedding FROM sighting_faces WHERE sighting_id = ?1 ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([id as i64], |r| r.get::<_, Vec<u8>>(0))
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for b in rows {
            if let Some(e) = blob_to_embedding(&b.map_err(self.sql())?) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The review queue: pending matches (every match with `all`), in queue
    /// order: lowest rank key (estimated false-match rate) first, matches
    /// without one last, then by id.
    pub fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT m.id, m.sighting_id, m.case_id, c.child_name, m.scores, m.state, m.created_at,
                        m.assignee
                 FROM matches m JOIN cases c ON c.id = m.case_id
                 WHERE (?1 OR m.state = 'pending')
                 ORDER BY m.rank_key IS NULL, m.rank_key, m.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([all], |r| {
                Ok(QueueEntry {
                    match_id: r.get::<_, i64>(0)? as u64,
                    sighting_id: r.get::<_, i64>(1)? as u64,
                    case_id: r.get::<_, i64>(2)? as u64,
                    child_name: r.get(3)?,
                    scores: StoredScores::parse(&r.get::<_, String>(4)?),
                    state: r.get(5)?,
                    created_at: r.get(6)?,
                    assignee: r.get(7)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// One match with its sighting, its case and the case's photos nearest
    /// the sighting's faces.
    pub fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError> {
        type Row = (
            u64,
            u64,
            String,
            MatchState,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT sighting_id, case_id, scores, state, reviewer, note, decided_at, assignee
                 FROM matches WHERE id = ?1",
                [id as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .optional()
            .map_err(self.sql())?;
        let (sid, cid, scores, state, reviewer, note, decided_at, assignee) =
            row.ok_or(StoreError::NotFound { what: "match", id })?;
        let sighting = self.sighting_summary(sid)?;
        let case = self.case_summary(cid)?;
        let query = self.sighting_embeddings(sid)?;
        let photos = self.case_photo_distances(cid, &query)?;
        Ok(ReviewItem {
            match_id: id,
            state,
            reviewer,
            assignee,
            note,
            decided_at,
            scores: StoredScores::parse(&scores),
            sighting,
            case,
            photos,
        })
    }

    /// Every batch run against this registry, most recently active first
    /// (ties by name, bytewise).
    pub fn batches(&self) -> Result<Vec<BatchStatus>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "{BATCH_STATUS} GROUP BY b.batch ORDER BY 6 DESC, b.batch"
            ))
            .map_err(self.sql())?;
        let rows = st.query_map([], batch_status).map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// One batch's progress.
    pub fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "{BATCH_STATUS} WHERE b.batch = ?1 GROUP BY b.batch"
            ))
            .and_then(|mut st| st.query_row([name], batch_status).optional())
            .map_err(self.sql())
    }
}
