//! What the server does with the registry and the face engine, behind one
//! seam: decode and analyse photos, record cases, photos and sightings,
//! propose candidate matches, and read views for the API and the pages.
//!
//! **Matching** is the front's: a sighting goes through
//! [`matching::submit_sighting`] (duplicates and poster reposts first, then
//! per-case ranking with calibrated bands), a new case photo is matched
//! against every past sighting, and confirming a match enrols the sighting's
//! face. The server keeps one [`DupIndex`] beside the registry, under the
//! same lock, so that both always agree.
//!
//! **Reads.** The registry exposes writes, search and single-row reads; the
//! lists and joins the pages need are read here through separate
//! `query_only` connections to `registry.sqlite` (WAL lets them read while
//! the registry writes). They depend on schema version 3 and are checked
//! against it at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use homeward_core::faces::{FaceEngine, FaceOptions};
use homeward_core::index::{l2, Embedding, DIM};
use homeward_core::intake::Limits;
use homeward_core::store::{
    CaseId, CaseStatus, MatchState, NewCase, NewSighting, PhotoMeta, Registry, Sex, SightingId,
    StoreError, SCHEMA_VERSION,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use homeward_match::batch as report;
use homeward_match::matching::{self, Analyzed, DupIndex, EnrolledPhoto, MatchError, Repeat};
use homeward_match::ranking::{self, Policy, QueryMeta};

use super::auth::AuthStore;
use super::error::ApiError;

/// Cases ranked per sighting before the review queue takes the banded ones.
const RANKED_PER_SIGHTING: usize = matching::QUEUE_PER_SIGHTING;

/// What a stored match's scores say: the candidate as ranked when the match
/// was queued.
struct StoredScores {
    distance: Option<f64>,
    score: Option<f64>,
    fmr: Option<f64>,
    band: &'static str,
    why: String,
}

impl StoredScores {
    fn parse(scores: &str) -> StoredScores {
        match serde_json::from_str::<ranking::Candidate>(scores) {
            Ok(c) => StoredScores {
                distance: Some(c.why.best.distance),
                score: Some(c.score),
                fmr: Some(c.case_fmr),
                band: c.band.name(),
                why: c.summary(),
            },
            Err(_) => StoredScores {
                distance: None,
                score: None,
                fmr: None,
                band: "weak",
                why: "no ranking was recorded for this match; compare the photos".into(),
            },
        }
    }
}

/// A case in a list.
#[derive(Debug, Serialize)]
pub struct CaseSummary {
    pub id: u64,
    pub child_name: String,
    pub sex: &'static str,
    pub birth_year: Option<i32>,
    pub missing_date: Option<String>,
    pub missing_place: String,
    pub status: &'static str,
    pub photos: u32,
    pub pending_matches: u32,
}

/// A case with its photos.
#[derive(Debug, Serialize)]
pub struct CaseView {
    pub id: u64,
    pub child_name: String,
    pub sex: &'static str,
    pub birth_date: Option<String>,
    pub birth_year: Option<i32>,
    pub missing_date: Option<String>,
    pub missing_place: String,
    pub missing_location: Option<[f64; 2]>,
    pub status: &'static str,
    pub contact_ref: Option<String>,
    pub notes: Option<String>,
    /// Oldest age first; photos of unknown age last.
    pub photos: Vec<PhotoView>,
}

/// A case photo.
#[derive(Debug, Serialize)]
pub struct PhotoView {
    pub id: u64,
    pub age_months: Option<u32>,
    pub taken_date: Option<String>,
    pub source: Option<String>,
    pub faces: u32,
    pub url: String,
}

/// A sighting, as case workers see it.
#[derive(Debug, Serialize)]
pub struct SightingView {
    pub id: u64,
    pub seen_at: Option<String>,
    pub place: Option<String>,
    pub location: Option<[f64; 2]>,
    pub apparent_age: Option<[f32; 2]>,
    pub sex: Option<String>,
    pub submitter: Option<String>,
    pub note: Option<String>,
    pub faces: u32,
    pub added_at: i64,
    pub photo_url: String,
}

/// A case photo next to a query face.
#[derive(Debug, Clone, Serialize)]
pub struct CandidatePhoto {
    pub photo_id: u64,
    pub distance: f32,
    pub age_months: Option<u32>,
    pub url: String,
}

/// A case ranked for review against a photo: never a verdict.
#[derive(Debug, Serialize)]
pub struct Candidate {
    pub case_id: u64,
    pub child_name: String,
    pub status: &'static str,
    /// Which face of the photo decided it (0 = strongest detection).
    pub face: usize,
    /// Distance of the deciding photo pair.
    pub distance: f64,
    /// Score after fusing the case's photos and applying priors; lower ranks first.
    pub score: f64,
    /// Estimated chance that a different child's case scores this well.
    pub est_false_match_rate: f64,
    /// `strong`, `possible`, `weak` or `below` (not queued).
    pub band: &'static str,
    /// One line: the photo pair, distance, age gap and priors.
    pub why: String,
    /// The same, structured.
    pub explanation: ranking::Why,
    /// The case's nearest photos.
    pub photos: Vec<CandidatePhoto>,
}

/// A match waiting in (or decided from) the review queue.
#[derive(Debug, Serialize)]
pub struct QueueItem {
    pub match_id: u64,
    pub sighting_id: u64,
    pub case_id: u64,
    pub child_name: String,
    /// Distance of the deciding photo pair.
    pub distance: Option<f64>,
    /// Ranking score (see [`Candidate::score`]).
    pub score: Option<f64>,
    /// Estimated chance that a different child's case scores this well.
    pub est_false_match_rate: Option<f64>,
    pub band: &'static str,
    pub why: String,
    pub state: &'static str,
    pub created_at: i64,
}

/// One match with everything a reviewer needs.
#[derive(Debug, Serialize)]
pub struct ReviewView {
    pub match_id: u64,
    pub state: &'static str,
    pub reviewer: Option<String>,
    pub note: Option<String>,
    pub decided_at: Option<i64>,
    pub distance: Option<f64>,
    pub score: Option<f64>,
    pub est_false_match_rate: Option<f64>,
    pub band: &'static str,
    pub why: String,
    pub sighting: SightingView,
    pub case: CaseSummary,
    /// The case's photos, nearest to the sighting's faces first.
    pub candidate_photos: Vec<CandidatePhoto>,
}

/// A sighting as submitted.
#[derive(Debug, Clone, Default)]
pub struct SightingInput {
    pub seen_at: Option<String>,
    pub place: Option<String>,
    pub location: Option<(f64, f64)>,
    pub apparent_age: Option<(f32, f32)>,
    pub sex: Option<Sex>,
    pub note: Option<String>,
}

/// What a submission produced.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub sighting_id: SightingId,
    pub faces: u32,
}

/// A case photo as stored.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoAdded {
    #[serde(flatten)]
    pub enrolled: EnrolledPhoto,
    /// Past sightings this photo put in the review queue.
    pub surfaced_sightings: usize,
}

/// Progress of a batch run by `homeward batch`.
#[derive(Debug, Serialize)]
pub struct BatchStatus {
    pub name: String,
    /// Items processed (recorded or failed).
    pub items: u64,
    pub recorded: u64,
    pub failed: u64,
    /// Matches of its sightings still waiting for review.
    pub pending_matches: u64,
    /// Unix time of the last processed item.
    pub last_done_at: Option<i64>,
}

/// A batch with its items.
#[derive(Debug, Serialize)]
pub struct BatchView {
    #[serde(flatten)]
    pub status: BatchStatus,
    pub results: Vec<report::ItemResult>,
}

fn sex_str(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Unknown => "unknown",
    }
}

fn status_str(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Searching => "searching",
        CaseStatus::Found => "found",
        CaseStatus::Closed => "closed",
    }
}

fn static_status(s: &str) -> &'static str {
    match s {
        "found" => "found",
        "closed" => "closed",
        _ => "searching",
    }
}

fn static_state(s: &str) -> &'static str {
    match s {
        "confirmed" => "confirmed",
        "rejected" => "rejected",
        _ => "pending",
    }
}

fn static_sex(s: &str) -> &'static str {
    match s {
        "female" => "female",
        "male" => "male",
        _ => "unknown",
    }
}

fn blob_embedding(b: &[u8]) -> Option<Embedding> {
    if b.len() != DIM * 4 {
        return None;
    }
    let mut e = [0f32; DIM];
    for (o, c) in e.iter_mut().zip(b.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(e)
}

/// The MIME type of stored photo bytes, from their first bytes.
pub fn image_mime(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// Registry, face engine and read connections, shared by all requests.
/// Every method blocks (SQLite, inference); the handlers call them off the
/// async executor.
pub struct Service {
    matcher: Mutex<Option<Matcher>>,
    policy: Policy,
    engine: FaceEngine,
    face_options: FaceOptions,
    limits: Limits,
    db_path: PathBuf,
    reads: Mutex<Vec<Connection>>,
    audit: Arc<AuthStore>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("db", &self.db_path)
            .finish()
    }
}

/// The registry and the hash indexes over it, kept in step under one lock.
struct Matcher {
    reg: Registry,
    dupes: DupIndex,
}

/// A read connection borrowed from the pool, returned on drop.
struct Read<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl std::ops::Deref for Read<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        }
    }
}

impl Service {
    /// Wraps an open registry. Fails if the registry's schema is not the one
    /// the read queries were written for.
    pub fn new(
        registry: Registry,
        engine: FaceEngine,
        face_options: FaceOptions,
        limits: Limits,
        audit: Arc<AuthStore>,
    ) -> Result<Service, String> {
        // Versions 2 and 3 only added tables and columns and cleared old
        // chip hashes, so the version-1 reads hold.
        if SCHEMA_VERSION != 3 {
            return Err(format!(
                "the server's registry reads know schema version 3, the store is at {SCHEMA_VERSION}; update server/service.rs"
            ));
        }
        let db_path = registry.dir().join("registry.sqlite");
        let policy =
            Policy::shipped().map_err(|e| format!("the ranking calibration is unusable: {e}"))?;
        let dupes = DupIndex::load(&registry)
            .map_err(|e| format!("cannot load the duplicate hashes: {e}"))?;
        let svc = Service {
            matcher: Mutex::new(Some(Matcher {
                reg: registry,
                dupes,
            })),
            policy,
            engine,
            face_options,
            limits,
            db_path,
            reads: Mutex::new(Vec::new()),
            audit,
        };
        svc.read().map_err(|e| e.to_string())?;
        Ok(svc)
    }

    fn read(&self) -> Result<Read<'_>, ApiError> {
        let pooled = self.reads.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.db_path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
                c
            }
        };
        Ok(Read {
            conn: Some(conn),
            pool: &self.reads,
        })
    }

    fn with_registry<T>(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        self.with_matcher(|m| Ok(f(&mut m.reg)?))
    }

    fn with_matcher<T>(
        &self,
        f: impl FnOnce(&mut Matcher) -> Result<T, MatchError>,
    ) -> Result<T, ApiError> {
        let mut guard = self.matcher.lock().unwrap_or_else(|p| p.into_inner());
        let m = guard
            .as_mut()
            .ok_or_else(|| ApiError::internal("the registry is closed (shutting down)"))?;
        Ok(f(m)?)
    }

    /// Appends to the access log; a failure to log fails the request.
    pub fn audit(&self, actor: &str, action: &str, target: &str) -> Result<(), ApiError> {
        self.audit.log(actor, action, target).map_err(|e| {
            eprintln!("homeward serve: access log: {e}");
            ApiError::internal("writing the access log")
        })
    }

    /// Closes the registry cleanly (saves the index snapshot).
    pub fn close(&self) -> Result<(), StoreError> {
        let m = self
            .matcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match m {
            Some(m) => m.reg.close(),
            None => Ok(()),
        }
    }

    /// Decodes an upload within the limits, finds its faces (flip-averaged
    /// embeddings and chip hashes) and hashes the whole photo.
    pub fn analyze(&self, bytes: Vec<u8>) -> Result<Analyzed, ApiError> {
        Ok(Analyzed::from_bytes(
            &self.engine,
            bytes,
            &self.limits,
            &self.face_options,
        )?)
    }

    /// Adds a case.
    pub fn create_case(&self, actor: &str, case: &NewCase) -> Result<CaseId, ApiError> {
        let id = self.with_registry(|r| r.add_case(actor, case))?;
        self.audit(actor, "create_case", &format!("case:{id}"))?;
        Ok(id)
    }

    fn case_summary(&self, conn: &Connection, id: u64) -> Result<Option<CaseSummary>, ApiError> {
        let mut st = conn.prepare_cached(
            "SELECT c.id, c.child_name, c.sex, c.birth_year, c.missing_date, c.missing_place, c.status,
                    (SELECT count(*) FROM photos p WHERE p.case_id = c.id),
                    (SELECT count(*) FROM matches m WHERE m.case_id = c.id AND m.state = 'pending')
             FROM cases c WHERE c.id = ?1",
        )?;
        Ok(st.query_row([id as i64], row_case_summary).optional()?)
    }

    /// Every case, newest first.
    pub fn list_cases(&self, actor: &str) -> Result<Vec<CaseSummary>, ApiError> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT c.id, c.child_name, c.sex, c.birth_year, c.missing_date, c.missing_place, c.status,
                    (SELECT count(*) FROM photos p WHERE p.case_id = c.id),
                    (SELECT count(*) FROM matches m WHERE m.case_id = c.id AND m.state = 'pending')
             FROM cases c ORDER BY c.id DESC",
        )?;
        let rows = st
            .query_map([], row_case_summary)?
            .collect::<Result<Vec<_>, _>>()?;
        self.audit(actor, "list_cases", &format!("cases:{}", rows.len()))?;
        Ok(rows)
    }

    /// A case with its photos, youngest age first.
    pub fn get_case(&self, actor: &str, id: CaseId) -> Result<CaseView, ApiError> {
        let case = self.with_registry(|r| r.case(id))?;
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT p.id, p.age_months, p.taken_date, p.source,
                    (SELECT count(*) FROM faces f WHERE f.photo_id = p.id)
             FROM photos p WHERE p.case_id = ?1
             ORDER BY p.age_months IS NULL, p.age_months, p.id",
        )?;
        let photos = st
            .query_map([id as i64], |r| {
                let pid = r.get::<_, i64>(0)? as u64;
                Ok(PhotoView {
                    id: pid,
                    age_months: r.get(1)?,
                    taken_date: r.get(2)?,
                    source: r.get(3)?,
                    faces: r.get(4)?,
                    url: format!("/api/photos/{pid}"),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        self.audit(actor, "read_case", &format!("case:{id}"))?;
        let d = case.data;
        Ok(CaseView {
            id,
            child_name: d.child_name,
            sex: sex_str(d.sex),
            birth_date: d.birth_date,
            birth_year: d.birth_year,
            missing_date: d.missing_date,
            missing_place: d.missing_place,
            missing_location: d.missing_location.map(|(a, b)| [a, b]),
            status: status_str(d.status),
            contact_ref: d.contact_ref,
            notes: d.notes,
            photos,
        })
    }

    /// Adds an analysed photo to a case (its largest face joins the gallery)
    /// and matches the case against every past sighting. Refuses a photo
    /// with no face: on the server, a case photo is for matching.
    pub fn add_case_photo(
        &self,
        actor: &str,
        case: CaseId,
        analysis: &Analyzed,
        meta: &PhotoMeta,
    ) -> Result<PhotoAdded, ApiError> {
        if analysis.faces.is_empty() {
            return Err(ApiError::unprocessable(
                "no face was found in the photo; use a photo where the child's face is visible and at least about 80 pixels wide",
            ));
        }
        let added = self.with_matcher(|m| {
            let enrolled = matching::enrol_case_photo(
                &mut m.reg,
                Some(&mut m.dupes),
                actor,
                case,
                analysis,
                meta,
            )?;
            let surfaced =
                matching::match_case_against_sightings(&mut m.reg, &self.policy, actor, case)?;
            Ok(PhotoAdded {
                enrolled,
                surfaced_sightings: surfaced.len(),
            })
        })?;
        self.audit(
            actor,
            "add_photo",
            &format!("photo:{}", added.enrolled.photo_id),
        )?;
        Ok(added)
    }

    /// The bytes and MIME type of a case photo.
    pub fn photo_bytes(&self, actor: &str, id: u64) -> Result<(Vec<u8>, &'static str), ApiError> {
        let path = self.with_registry(|r| {
            let (_, sha) = r.photo(id)?;
            Ok(r.photo_path(&sha))
        })?;
        let bytes = read_photo(&path)?;
        self.audit(actor, "read_photo", &format!("photo:{id}"))?;
        let mime = image_mime(&bytes);
        Ok((bytes, mime))
    }

    /// Records a sighting: a repost of a case photo or a repeat of an
    /// earlier sighting is flagged and grouped; otherwise the cases are
    /// ranked and those in a review band queued. Nothing is a match until a
    /// case worker confirms it.
    pub fn submit_sighting(
        &self,
        actor: &str,
        analysis: &Analyzed,
        input: &SightingInput,
    ) -> Result<Submitted, ApiError> {
        // Without a date, the report's own day: ranking needs it for age.
        let sighting = NewSighting {
            seen_at: input
                .seen_at
                .clone()
                .or_else(|| Some(ranking::Day::today().iso())),
            place: input.place.clone(),
            location: input.location,
            apparent_age: input.apparent_age,
            sex: input.sex,
            submitter: Some(actor.to_string()),
            duplicate_group: None,
        };
        let out = self.with_matcher(|m| {
            matching::submit_sighting(
                &mut m.reg,
                &mut m.dupes,
                &self.policy,
                actor,
                analysis,
                &sighting,
                RANKED_PER_SIGHTING,
                None,
            )
        })?;
        let sid = out.sighting_id;
        if let Some(note) = input.note.as_deref().filter(|n| !n.trim().is_empty()) {
            self.audit.set_note(sid, note).map_err(|e| {
                eprintln!("homeward serve: sighting note: {e}");
                ApiError::internal("storing the note")
            })?;
        }
        self.audit(actor, "submit_sighting", &format!("sighting:{sid}"))?;
        match &out.repeat {
            Some(Repeat::PosterRepost { photo_id, .. }) => self.audit(
                actor,
                "flag_poster_repost",
                &format!("sighting:{sid} photo:{photo_id}"),
            )?,
            Some(Repeat::Duplicate { group, .. }) => self.audit(
                actor,
                "flag_duplicate",
                &format!("sighting:{sid} group:{group}"),
            )?,
            None if !out.queued.is_empty() => self.audit(
                actor,
                "queue_matches",
                &format!("sighting:{sid} matches:{}", out.queued.len()),
            )?,
            None => {}
        }
        Ok(Submitted {
            sighting_id: sid,
            faces: out.faces as u32,
        })
    }

    fn sighting_view(&self, conn: &Connection, id: u64) -> Result<Option<SightingView>, ApiError> {
        let mut st = conn.prepare_cached(
            "SELECT s.id, s.seen_at, s.place, s.lat, s.lon, s.age_min, s.age_max, s.sex, s.submitter,
                    s.added_at, (SELECT count(*) FROM sighting_faces f WHERE f.sighting_id = s.id)
             FROM sightings s WHERE s.id = ?1",
        )?;
        let v = st.query_row([id as i64], row_sighting).optional()?;
        match v {
            Some(mut v) => {
                v.note = self.audit.note(id).map_err(|e| {
                    eprintln!("homeward serve: sighting note: {e}");
                    ApiError::internal("reading the note")
                })?;
                Ok(Some(v))
            }
            None => Ok(None),
        }
    }

    /// Every sighting, newest first.
    pub fn list_sightings(&self, actor: &str) -> Result<Vec<SightingView>, ApiError> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT s.id, s.seen_at, s.place, s.lat, s.lon, s.age_min, s.age_max, s.sex, s.submitter,
                    s.added_at, (SELECT count(*) FROM sighting_faces f WHERE f.sighting_id = s.id)
             FROM sightings s ORDER BY s.id DESC LIMIT 500",
        )?;
        let mut rows = st
            .query_map([], row_sighting)?
            .collect::<Result<Vec<_>, _>>()?;
        for v in &mut rows {
            v.note = self.audit.note(v.id).ok().flatten();
        }
        self.audit(
            actor,
            "list_sightings",
            &format!("sightings:{}", rows.len()),
        )?;
        Ok(rows)
    }

    /// One sighting.
    pub fn get_sighting(&self, actor: &str, id: u64) -> Result<SightingView, ApiError> {
        let conn = self.read()?;
        let v = self
            .sighting_view(&conn, id)?
            .ok_or_else(|| ApiError::not_found("sighting"))?;
        self.audit(actor, "read_sighting", &format!("sighting:{id}"))?;
        Ok(v)
    }

    /// The photo of a sighting.
    pub fn sighting_photo(
        &self,
        actor: &str,
        id: u64,
    ) -> Result<(Vec<u8>, &'static str), ApiError> {
        let sha: Option<Vec<u8>> = {
            let conn = self.read()?;
            conn.query_row(
                "SELECT sha256 FROM sightings WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?
        };
        let sha = sha
            .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
            .ok_or_else(|| ApiError::not_found("sighting"))?;
        let path = self.with_registry(|r| Ok(r.photo_path(&sha)))?;
        let bytes = read_photo(&path)?;
        self.audit(actor, "read_sighting_photo", &format!("sighting:{id}"))?;
        let mime = image_mime(&bytes);
        Ok((bytes, mime))
    }

    fn candidate_photos(
        &self,
        conn: &Connection,
        case: u64,
        query: &[Embedding],
    ) -> Result<Vec<CandidatePhoto>, ApiError> {
        let mut st = conn.prepare_cached(
            "SELECT p.id, p.age_months, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id
             WHERE p.case_id = ?1",
        )?;
        let rows = st.query_map([case as i64], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, Option<u32>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut best: HashMap<u64, CandidatePhoto> = HashMap::new();
        for row in rows {
            let (pid, age, blob) = row?;
            let Some(e) = blob_embedding(&blob) else {
                continue;
            };
            let d = query
                .iter()
                .map(|q| l2(q, &e))
                .fold(f32::INFINITY, f32::min);
            let entry = best.entry(pid).or_insert(CandidatePhoto {
                photo_id: pid,
                distance: d,
                age_months: age,
                url: format!("/api/photos/{pid}"),
            });
            entry.distance = entry.distance.min(d);
        }
        let mut v: Vec<CandidatePhoto> = best.into_values().collect();
        v.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.photo_id.cmp(&b.photo_id))
        });
        Ok(v)
    }

    /// Ranks cases against the faces of an uploaded photo with the
    /// front's policy (nothing is stored). Cases still searched only,
    /// unless `include_closed`.
    pub fn search(
        &self,
        actor: &str,
        analysis: &Analyzed,
        k: usize,
        include_closed: bool,
        meta: &QueryMeta,
    ) -> Result<Vec<Candidate>, ApiError> {
        if analysis.faces.is_empty() {
            return Err(ApiError::unprocessable(
                "no face was found in the photo; use a photo where a face is visible",
            ));
        }
        let faces: Vec<Embedding> = analysis.faces.iter().map(|f| f.embedding).collect();
        let statuses = if include_closed {
            Vec::new()
        } else {
            vec![CaseStatus::Searching]
        };
        let ranked = self.with_registry(|r| {
            matching::search_among(r, &self.policy, &faces, meta, k, &statuses)
        })?;
        let conn = self.read()?;
        let mut out = Vec::with_capacity(ranked.len());
        for c in ranked {
            let Some(summary) = self.case_summary(&conn, c.case_id)? else {
                continue;
            };
            let mut photos = Vec::with_capacity(c.why.nearest.len());
            for p in &c.why.nearest {
                photos.push(CandidatePhoto {
                    photo_id: p.photo_id,
                    distance: p.distance as f32,
                    age_months: photo_age(&conn, p.photo_id)?,
                    url: format!("/api/photos/{}", p.photo_id),
                });
            }
            out.push(Candidate {
                case_id: c.case_id,
                child_name: summary.child_name,
                status: summary.status,
                face: c.why.sighting_face,
                distance: c.why.best.distance,
                score: c.score,
                est_false_match_rate: c.case_fmr,
                band: c.band.name(),
                why: c.summary(),
                explanation: c.why,
                photos,
            });
        }
        self.audit(actor, "search", &format!("candidates:{}", out.len()))?;
        Ok(out)
    }

    /// The review queue: pending matches (or all, with `all`), strongest
    /// (lowest estimated false-match rate) first.
    pub fn review_queue(&self, actor: &str, all: bool) -> Result<Vec<QueueItem>, ApiError> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached(
            "SELECT m.id, m.sighting_id, m.case_id, c.child_name, m.scores, m.state, m.created_at
             FROM matches m JOIN cases c ON c.id = m.case_id
             WHERE (?1 OR m.state = 'pending') ORDER BY m.id",
        )?;
        let mut rows = st
            .query_map([all], |r| {
                let sc = StoredScores::parse(&r.get::<_, String>(4)?);
                Ok(QueueItem {
                    match_id: r.get::<_, i64>(0)? as u64,
                    sighting_id: r.get::<_, i64>(1)? as u64,
                    case_id: r.get::<_, i64>(2)? as u64,
                    child_name: r.get(3)?,
                    distance: sc.distance,
                    score: sc.score,
                    est_false_match_rate: sc.fmr,
                    band: sc.band,
                    why: sc.why,
                    state: static_state(&r.get::<_, String>(5)?),
                    created_at: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_by(|a, b| {
            let (x, y) = (
                a.est_false_match_rate.unwrap_or(f64::MAX),
                b.est_false_match_rate.unwrap_or(f64::MAX),
            );
            x.total_cmp(&y).then(a.match_id.cmp(&b.match_id))
        });
        self.audit(actor, "review_queue", &format!("matches:{}", rows.len()))?;
        Ok(rows)
    }

    /// One match with the sighting, the case and the case's nearest photos.
    pub fn review_item(&self, actor: &str, id: u64) -> Result<ReviewView, ApiError> {
        let conn = self.read()?;
        type Row = (
            u64,
            u64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Row> = conn
            .query_row(
                "SELECT sighting_id, case_id, scores, state, reviewer, note, decided_at FROM matches WHERE id = ?1",
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
                    ))
                },
            )
            .optional()?;
        let (sid, cid, scores, state, reviewer, note, decided_at) =
            row.ok_or_else(|| ApiError::not_found("match"))?;
        let sighting = self
            .sighting_view(&conn, sid)?
            .ok_or_else(|| ApiError::not_found("sighting"))?;
        let case = self
            .case_summary(&conn, cid)?
            .ok_or_else(|| ApiError::not_found("case"))?;
        let query: Vec<Embedding> = {
            let mut st =
                conn.prepare_cached("SELECT embedding FROM sighting_faces WHERE sighting_id = ?1")?;
            let rows: Vec<Embedding> = st
                .query_map([sid as i64], |r| r.get::<_, Vec<u8>>(0))?
                .filter_map(|b| b.ok().and_then(|b| blob_embedding(&b)))
                .collect();
            rows
        };
        let photos = self.candidate_photos(&conn, cid, &query)?;
        let sc = StoredScores::parse(&scores);
        self.audit(actor, "read_match", &format!("match:{id}"))?;
        Ok(ReviewView {
            match_id: id,
            state: static_state(&state),
            reviewer,
            note,
            decided_at,
            distance: sc.distance,
            score: sc.score,
            est_false_match_rate: sc.fmr,
            band: sc.band,
            why: sc.why,
            sighting,
            case,
            candidate_photos: photos,
        })
    }

    /// Confirms or rejects a pending match. Confirming enrols the
    /// sighting's face into the case's gallery, dated to the sighting. A
    /// decided match is a conflict.
    pub fn decide(
        &self,
        actor: &str,
        id: u64,
        state: MatchState,
        note: Option<&str>,
    ) -> Result<(), ApiError> {
        self.with_matcher(|m| {
            let current = m.reg.match_state(id)?;
            if current != MatchState::Pending {
                return Ok(Err(ApiError::conflict(format!(
                    "match {id} was already decided; a decision is final, open a new review if it was wrong"
                ))));
            }
            match state {
                MatchState::Confirmed => {
                    matching::confirm(&mut m.reg, actor, id, note)?;
                }
                _ => m.reg.review_match(actor, id, state, note)?,
            }
            Ok(Ok(()))
        })??;
        let action = match state {
            MatchState::Confirmed => "confirm_match",
            MatchState::Rejected => "reject_match",
            MatchState::Pending => "reopen_match",
        };
        self.audit(actor, action, &format!("match:{id}"))
    }

    /// Erases a case and everything derived from it, including the hashes
    /// held in memory for duplicate checks.
    pub fn erase_case(&self, actor: &str, id: CaseId) -> Result<(), ApiError> {
        self.with_matcher(|m| {
            m.reg.erase_case(actor, id)?;
            m.dupes = DupIndex::load(&m.reg)?;
            Ok(())
        })?;
        self.audit(actor, "erase_case", &format!("case:{id}"))
    }

    /// Every batch run against this registry by `homeward batch`, newest first.
    pub fn list_batches(&self, actor: &str) -> Result<Vec<BatchStatus>, ApiError> {
        let conn = self.read()?;
        let mut st =
            conn.prepare_cached(&format!("{BATCH_STATUS} GROUP BY b.batch ORDER BY 6 DESC"))?;
        let rows = st
            .query_map([], row_batch)?
            .collect::<Result<Vec<_>, _>>()?;
        self.audit(actor, "list_batches", &format!("batches:{}", rows.len()))?;
        Ok(rows)
    }

    /// One batch with each item's outcome and candidates.
    pub fn get_batch(&self, actor: &str, name: &str) -> Result<BatchView, ApiError> {
        let status = {
            let conn = self.read()?;
            let mut st = conn.prepare_cached(&format!(
                "{BATCH_STATUS} WHERE b.batch = ?1 GROUP BY b.batch"
            ))?;
            st.query_row([name], row_batch)
                .optional()?
                .ok_or_else(|| ApiError::not_found("batch"))?
        };
        let results = self.with_registry(|r| report::collect(r, name))?;
        self.audit(
            actor,
            "read_batch",
            &format!("batch_items:{}", results.len()),
        )?;
        Ok(BatchView { status, results })
    }
}

/// Per-batch counts; `{BATCH_STATUS} [WHERE ..] GROUP BY b.batch`.
const BATCH_STATUS: &str = "SELECT b.batch, count(*), count(b.sighting_id), count(b.error),
        (SELECT count(*) FROM matches m JOIN batch_items i ON i.sighting_id = m.sighting_id
          WHERE i.batch = b.batch AND m.state = 'pending'),
        max(b.done_at)
     FROM batch_items b";

fn row_batch(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchStatus> {
    Ok(BatchStatus {
        name: r.get(0)?,
        items: r.get::<_, i64>(1)? as u64,
        recorded: r.get::<_, i64>(2)? as u64,
        failed: r.get::<_, i64>(3)? as u64,
        pending_matches: r.get::<_, i64>(4)? as u64,
        last_done_at: r.get(5)?,
    })
}

fn photo_age(conn: &Connection, photo: u64) -> Result<Option<u32>, ApiError> {
    Ok(conn
        .prepare_cached("SELECT age_months FROM photos WHERE id = ?1")?
        .query_row([photo as i64], |r| r.get::<_, Option<u32>>(0))
        .optional()?
        .flatten())
}

fn read_photo(path: &Path) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|e| {
        eprintln!("homeward serve: photo file {}: {e}", path.display());
        ApiError::internal("reading a photo file")
    })
}

fn row_case_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseSummary> {
    Ok(CaseSummary {
        id: r.get::<_, i64>(0)? as u64,
        child_name: r.get(1)?,
        sex: static_sex(&r.get::<_, String>(2)?),
        birth_year: r.get(3)?,
        missing_date: r.get(4)?,
        missing_place: r.get(5)?,
        status: static_status(&r.get::<_, String>(6)?),
        photos: r.get(7)?,
        pending_matches: r.get(8)?,
    })
}

fn row_sighting(r: &rusqlite::Row<'_>) -> rusqlite::Result<SightingView> {
    let id = r.get::<_, i64>(0)? as u64;
    let lat: Option<f64> = r.get(3)?;
    let lon: Option<f64> = r.get(4)?;
    let amin: Option<f64> = r.get(5)?;
    let amax: Option<f64> = r.get(6)?;
    Ok(SightingView {
        id,
        seen_at: r.get(1)?,
        place: r.get(2)?,
        location: lat.zip(lon).map(|(a, b)| [a, b]),
        apparent_age: amin.zip(amax).map(|(a, b)| [a as f32, b as f32]),
        sex: r.get(7)?,
        submitter: r.get(8)?,
        note: None,
        added_at: r.get(9)?,
        faces: r.get(10)?,
        photo_url: format!("/api/sightings/{id}/photo"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_scores_read_back_the_ranked_candidate() {
        let json = r#"{"case_id":7,"score":0.41,"pair_fmr":0.002,"case_fmr":0.004,"band":"possible",
            "why":{"sighting_face":0,"best":{"photo_id":3,"face_id":5,"distance":0.4,"age_gap_years":2.5},
            "nearest":[],"photos_compared":2,"fusion":"age_min","fused_distance":0.41,"priors":[]}}"#;
        let s = StoredScores::parse(json);
        assert_eq!(s.band, "possible");
        assert_eq!(s.distance, Some(0.4));
        assert_eq!(s.fmr, Some(0.004));
        assert!(
            s.why.contains("photo 3 at 0.400") && s.why.contains("age gap 2.5 y"),
            "{}",
            s.why
        );
        let bad = StoredScores::parse(r#"{"embedding_distance":0.4}"#);
        assert_eq!((bad.band, bad.fmr), ("weak", None));
    }

    #[test]
    fn mime_from_magic() {
        assert_eq!(image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(image_mime(b"\x89PNG\r\n"), "image/png");
        assert_eq!(image_mime(b"RIFF1234WEBPVP8 "), "image/webp");
        assert_eq!(image_mime(b"<svg"), "application/octet-stream");
    }
}
