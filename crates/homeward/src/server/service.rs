//! What the server does with the registry and the face engine, behind one
//! seam: decode and analyse photos, record cases, photos and sightings,
//! propose candidate matches, and read views for the API and the pages.
//!
//! **Matching** is the library's: the service holds one
//! [`homeward_match::Matcher`] (registry, duplicate index and ranking
//! policy, kept in step) under a lock and calls its use cases (register a
//! case, add a photo and surface past sightings, submit a sighting, search,
//! confirm / reject / undo, case status and notes, assignment, erase). The
//! front only parses, calls the library and renders.
//!
//! **Reads.** Lists and views come from the store's typed reads
//! ([`homeward_core::store::Reads`]) on a pool of read-only connections
//! ([`Reader`]), which read while the registry writes. This file holds no
//! SQL; it turns the store's types into the API's and the pages' views.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use homeward_core::store::{
    self as store, CaseId, CaseStatus, MatchState, MatchStore, NewCase, NewSighting, PhotoMeta,
    ReadStore, ScoresError, Sex, SightingId, StoreError, StoredScores,
};
use serde::Serialize;

use homeward_match::batch as report;
use homeward_match::matching::{
    self, Analyzed, EnrolledPhoto, MatchError, Repeat, SightingOutcome,
};
use homeward_match::notify::{Notification, Notifier};
use homeward_match::ranking::{self, Policy, QueryMeta};
use homeward_match::{Analyzer, Matcher};

use super::auth::AuthStore;
use super::error::ApiError;

mod archive;
mod case_life;

pub use archive::ItemDone;

/// Cases ranked per sighting before the review queue takes the banded ones.
const RANKED_PER_SIGHTING: usize = matching::QUEUE_PER_SIGHTING;

/// What a stored match's scores say, for the queue and review views: the
/// candidate as ranked when the match was queued, or, when the stored
/// scores cannot be read, band `unknown` and the reason.
struct ScoresView {
    distance: Option<f64>,
    score: Option<f64>,
    fmr: Option<f64>,
    band: &'static str,
    why: String,
    /// The ranked candidate as stored (None when unreadable).
    candidate: Option<ranking::Candidate>,
}

impl ScoresView {
    fn new(stored: &Result<StoredScores, ScoresError>) -> ScoresView {
        match stored {
            Ok(s) => {
                // The ranking's own candidate; its JSON is the stored shape.
                let candidate = serde_json::from_str::<ranking::Candidate>(&s.to_json()).ok();
                ScoresView {
                    distance: Some(s.why.best.distance),
                    score: Some(s.score),
                    fmr: Some(s.case_fmr),
                    band: s.band.as_str(),
                    why: candidate
                        .as_ref()
                        .map(|c| c.summary())
                        .unwrap_or_else(|| format!("case {}: compare the photos", s.case_id)),
                    candidate,
                }
            }
            Err(e) => ScoresView {
                distance: None,
                score: None,
                fmr: None,
                band: "unknown",
                why: e.to_string(),
                candidate: None,
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
    /// The case worker it is assigned to (an account's user name).
    pub assignee: Option<String>,
    /// Queued after the caller last listed the queue.
    pub new: bool,
}

/// One match with everything a reviewer needs.
#[derive(Debug, Serialize)]
pub struct ReviewView {
    pub match_id: u64,
    pub state: &'static str,
    pub reviewer: Option<String>,
    /// The case worker it is assigned to (an account's user name).
    pub assignee: Option<String>,
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
    /// The ranking's evidence, structured (None when the stored scores
    /// cannot be read).
    pub explanation: Option<ranking::Why>,
    /// About one in how many different children's cases score this close
    /// (the reciprocal of the estimated false-match rate, rounded).
    pub one_in: Option<u64>,
    /// The sighting face that decided the ranking, boxed in its photo.
    pub sighting_face: Option<FaceBox>,
    /// The case photo face it was nearest to, boxed in its photo.
    pub case_face: Option<FaceBox>,
}

/// A face's box in a stored photo, in the upright photo's pixels.
#[derive(Debug, Clone, Serialize)]
pub struct FaceBox {
    /// The photo (`/api/sightings/{id}/photo` or `/api/photos/{id}`).
    pub photo_url: String,
    /// Upright width and height of the photo, pixels.
    pub width: u32,
    pub height: u32,
    /// `[left, top, right, bottom]`, pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl FaceBox {
    /// A square around the box, `margin` times its larger side, clamped to
    /// the photo where it fits: `[x, y, side]`, for equal-size crops.
    pub fn square(&self, margin: f32) -> [f32; 3] {
        let [l, t, r, b] = self.bbox;
        let side = ((r - l).max(b - t) * margin).max(1.0);
        let (cx, cy) = ((l + r) / 2.0, (t + b) / 2.0);
        let (w, h) = (self.width as f32, self.height as f32);
        let clamp = |c: f32, max: f32| {
            if side >= max {
                c - side / 2.0
            } else {
                (c - side / 2.0).clamp(0.0, max - side)
            }
        };
        [clamp(cx, w), clamp(cy, h), side]
    }
}

/// One line of the registry's audit log, for the audit page.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: u64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// Where notifications of new strong and possible matches go.
struct Notify {
    notifier: Arc<Notifier>,
    public_url: String,
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

fn case_summary(c: store::CaseSummary) -> CaseSummary {
    CaseSummary {
        id: c.id,
        child_name: c.child_name,
        sex: c.sex.as_str(),
        birth_year: c.birth_year,
        missing_date: c.missing_date,
        missing_place: c.missing_place,
        status: c.status.as_str(),
        photos: c.photos,
        pending_matches: c.pending_matches,
    }
}

fn sighting_view(s: store::SightingSummary) -> SightingView {
    SightingView {
        id: s.id,
        seen_at: s.seen_at,
        place: s.place,
        location: s.location.map(|(a, b)| [a, b]),
        apparent_age: s.apparent_age.map(|(a, b)| [a, b]),
        sex: s.sex.map(|x| x.to_string()),
        submitter: s.submitter,
        note: s.note,
        faces: s.faces,
        added_at: s.added_at,
        photo_url: format!("/api/sightings/{}/photo", s.id),
    }
}

fn candidate_photo(p: store::PhotoDistance) -> CandidatePhoto {
    CandidatePhoto {
        photo_id: p.photo_id,
        distance: p.distance,
        age_months: p.age_months,
        url: format!("/api/photos/{}", p.photo_id),
    }
}

fn batch_status(b: store::BatchStatus) -> BatchStatus {
    BatchStatus {
        name: b.name,
        items: b.items,
        recorded: b.recorded,
        failed: b.failed,
        pending_matches: b.pending_matches,
        last_done_at: b.last_done_at,
    }
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

/// Opens one more read connection for the pool: a SQLite [`store::Reader`]
/// beside the registry file, or a PostgreSQL reader (`homeward_pg::PgReader`).
pub type OpenReader = Box<dyn Fn() -> Result<Box<dyn ReadStore + Send>, StoreError> + Send + Sync>;

/// Registry, face engine and read connections, shared by all requests.
/// Every method blocks (database, inference); the handlers call them off
/// the async executor.
pub struct Service {
    matcher: Mutex<Option<Matcher>>,
    analyzer: Analyzer,
    /// Where the registry is, for messages (no password).
    location: String,
    readers: Mutex<Vec<Box<dyn ReadStore + Send>>>,
    open_reader: OpenReader,
    audit: Arc<AuthStore>,
    notify: OnceLock<Notify>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("db", &self.location)
            .finish()
    }
}

/// A read connection borrowed from the pool, returned on drop.
struct Read<'a> {
    reader: Option<Box<dyn ReadStore + Send>>,
    pool: &'a Mutex<Vec<Box<dyn ReadStore + Send>>>,
}

impl Read<'_> {
    fn reads(&self) -> &dyn ReadStore {
        match &self.reader {
            Some(r) => r.as_ref(),
            None => unreachable!("the reader is present until drop"),
        }
    }
}

impl Drop for Read<'_> {
    /// Puts the connection back, unless the database ended it (the next
    /// read opens a new one instead of failing on it).
    fn drop(&mut self) {
        if let Some(c) = self.reader.take().filter(|c| !c.is_lost()) {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        }
    }
}

impl Service {
    /// Serves a registry: `store` for matching and writes, `open_reader`
    /// for the pool of read connections the lists and views use.
    /// A registry that has never chosen its face models and holds no face
    /// yet gets the library's defaults (SFace beside dlib).
    pub fn new(
        store: Box<dyn MatchStore + Send>,
        open_reader: OpenReader,
        analyzer: Analyzer,
        audit: Arc<AuthStore>,
    ) -> Result<Service, String> {
        let location = store.location();
        let first = open_reader().map_err(|e| format!("cannot open a registry reader: {e}"))?;
        let policy =
            Policy::shipped().map_err(|e| format!("the ranking calibration is unusable: {e}"))?;
        // Chooses the face models of a new registry and loads the
        // duplicate hashes.
        let matcher = Matcher::from_store(store, policy)
            .map_err(|e| format!("cannot open the registry for matching: {e}"))?;
        let svc = Service {
            matcher: Mutex::new(Some(matcher)),
            analyzer,
            location,
            readers: Mutex::new(vec![first]),
            open_reader,
            audit,
            notify: OnceLock::new(),
        };
        Ok(svc)
    }

    /// Applies what other processes sharing the registry committed (the
    /// face indexes and the duplicate hashes); a no-op on a registry only
    /// this process writes. Err once the registry is closed.
    pub fn refresh(&self) -> Result<(), ApiError> {
        self.with_matcher(|m| m.refresh())
    }

    /// Whether [`Service::close`] has run.
    pub fn is_closed(&self) -> bool {
        self.matcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Sends a notification for every new strong or possible match from now
    /// on, with links under `public_url`. Set once; later calls are ignored.
    pub fn set_notifier(&self, notifier: Arc<Notifier>, public_url: String) {
        let _ = self.notify.set(Notify {
            notifier,
            public_url,
        });
    }

    /// Stops taking notifications and waits (at most 15 s) for the queued
    /// ones to be tried.
    pub fn close_notifier(&self) {
        if let Some(n) = self.notify.get() {
            n.notifier.close_within(std::time::Duration::from_secs(15));
        }
    }

    /// Logs what a recorded sighting turned out to be (a poster's repost, a
    /// duplicate, or new matches queued) and hands its queued matches to
    /// the notifier.
    fn announce(&self, actor: &str, out: &SightingOutcome) -> Result<(), ApiError> {
        let sid = out.sighting_id;
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
        for q in &out.queued {
            self.notify_queued(q.match_id, sid, q.case_id, q.band);
        }
        Ok(())
    }

    /// Hands a queued match to the notifier (off the request path: it only
    /// enqueues). Weak matches and matches already sent are skipped there.
    fn notify_queued(&self, match_id: u64, sighting_id: u64, case_id: u64, band: ranking::Band) {
        if let Some(n) = self.notify.get() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            n.notifier.notify(Notification::queued(
                &n.public_url,
                match_id,
                sighting_id,
                case_id,
                band,
                now,
            ));
        }
    }

    fn read(&self) -> Result<Read<'_>, ApiError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let reader = match pooled {
            Some(r) => r,
            None => (self.open_reader)()?,
        };
        Ok(Read {
            reader: Some(reader),
            pool: &self.readers,
        })
    }

    /// Reads the registry under the lock (writes go through the
    /// [`Matcher`]'s use cases: [`Service::with_matcher`]).
    fn with_registry<T>(
        &self,
        f: impl FnOnce(&dyn MatchStore) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        self.with_matcher(|m| Ok(f(m.registry())?))
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
    pub fn close(&self) -> Result<(), MatchError> {
        let m = self
            .matcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match m {
            Some(m) => m.close(),
            None => Ok(()),
        }
    }

    /// Decodes an upload within the limits, finds its faces (flip-averaged
    /// embeddings, from each model the registry has enabled, and chip
    /// hashes) and hashes the whole photo. The registry is locked only to
    /// read its models, not for the analysis.
    pub fn analyze(&self, bytes: Vec<u8>) -> Result<Analyzed, ApiError> {
        let models = self.with_registry(|r| Ok(r.models().to_vec()))?;
        Ok(self.analyzer.photo_bytes_for(bytes, &models)?)
    }

    /// One step of the background job that gives stored faces their vector
    /// from every enabled second model (a registry that added SFace): at
    /// most `batch` faces, under the registry lock, so searches and
    /// submissions go on between steps. Returns the faces still waiting.
    pub fn reembed_step(&self, batch: usize) -> Result<u64, ApiError> {
        let names: Vec<String> =
            self.with_registry(|r| Ok(r.models().iter().map(|m| m.name.clone()).collect()))?;
        let mut left = 0;
        for name in names {
            let Some(model) = self.analyzer.second_model(&name) else {
                continue; // a model this build cannot run stays as it is
            };
            let p = self.with_matcher(|m| m.reembed(model, batch, batch))?;
            left += p.left;
            if p.embedded == 0 && p.left > 0 {
                // Only unreadable photos remain: stop rather than spin.
                left -= p.left;
            }
        }
        Ok(left)
    }

    /// Adds a case.
    pub fn create_case(&self, actor: &str, case: &NewCase) -> Result<CaseId, ApiError> {
        let id = self.with_matcher(|m| m.register_case(actor, case))?;
        self.audit(actor, "create_case", &format!("case:{id}"))?;
        Ok(id)
    }

    /// Every case, newest first.
    pub fn list_cases(&self, actor: &str) -> Result<Vec<CaseSummary>, ApiError> {
        let rows: Vec<CaseSummary> = self
            .read()?
            .reads()
            .case_summaries()?
            .into_iter()
            .map(case_summary)
            .collect();
        self.audit(actor, "list_cases", &format!("cases:{}", rows.len()))?;
        Ok(rows)
    }

    /// A case with its photos, youngest age first.
    pub fn get_case(&self, actor: &str, id: CaseId) -> Result<CaseView, ApiError> {
        let case = self.with_registry(|r| r.case(id))?;
        let photos = self
            .read()?
            .reads()
            .case_photos(id)?
            .into_iter()
            .map(|p| PhotoView {
                id: p.id,
                age_months: p.age_months,
                taken_date: p.taken_date,
                source: p.source,
                faces: p.faces,
                url: format!("/api/photos/{}", p.id),
            })
            .collect();
        self.audit(actor, "read_case", &format!("case:{id}"))?;
        let d = case.data;
        Ok(CaseView {
            id,
            child_name: d.child_name,
            sex: d.sex.as_str(),
            birth_date: d.birth_date,
            birth_year: d.birth_year,
            missing_date: d.missing_date,
            missing_place: d.missing_place,
            missing_location: d.missing_location.map(|(a, b)| [a, b]),
            status: d.status.as_str(),
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
            let enrolled = m.add_photo(actor, case, analysis, meta)?;
            let surfaced = m.surface_sightings(actor, case)?;
            Ok((enrolled, surfaced))
        })?;
        let (enrolled, surfaced) = added;
        for s in &surfaced {
            self.notify_queued(s.match_id, s.sighting_id, case, s.candidate.band);
        }
        let added = PhotoAdded {
            enrolled,
            surfaced_sightings: surfaced.len(),
        };
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
        let out = self
            .with_matcher(|m| m.submit_sighting(actor, analysis, &sighting, RANKED_PER_SIGHTING))?;
        let sid = out.sighting_id;
        if let Some(note) = input.note.as_deref().filter(|n| !n.trim().is_empty()) {
            self.with_matcher(|m| m.set_sighting_note(actor, sid, Some(note)))?;
        }
        self.audit(actor, "submit_sighting", &format!("sighting:{sid}"))?;
        self.announce(actor, &out)?;
        Ok(Submitted {
            sighting_id: sid,
            faces: out.faces as u32,
        })
    }

    /// Every sighting, newest first.
    pub fn list_sightings(&self, actor: &str) -> Result<Vec<SightingView>, ApiError> {
        let rows: Vec<SightingView> = self
            .read()?
            .reads()
            .sighting_summaries(500)?
            .into_iter()
            .map(sighting_view)
            .collect();
        self.audit(
            actor,
            "list_sightings",
            &format!("sightings:{}", rows.len()),
        )?;
        Ok(rows)
    }

    /// One sighting.
    pub fn get_sighting(&self, actor: &str, id: u64) -> Result<SightingView, ApiError> {
        let v = sighting_view(self.read()?.reads().sighting_summary(id)?);
        self.audit(actor, "read_sighting", &format!("sighting:{id}"))?;
        Ok(v)
    }

    /// The photo of a sighting.
    pub fn sighting_photo(
        &self,
        actor: &str,
        id: u64,
    ) -> Result<(Vec<u8>, &'static str), ApiError> {
        let sha = self.read()?.reads().sighting_photo_hash(id)?;
        let path = self.with_registry(|r| Ok(r.photo_path(&sha)))?;
        let bytes = read_photo(&path)?;
        self.audit(actor, "read_sighting_photo", &format!("sighting:{id}"))?;
        let mime = image_mime(&bytes);
        Ok((bytes, mime))
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
        let statuses = if include_closed {
            Vec::new()
        } else {
            vec![CaseStatus::Searching]
        };
        let ranked = self.with_matcher(|m| m.search(analysis, meta, k, &statuses))?;
        let read = self.read()?;
        let reads = read.reads();
        let mut out = Vec::with_capacity(ranked.len());
        for c in ranked {
            let summary = match reads.case_summary(c.case_id) {
                Ok(s) => case_summary(s),
                // Erased since it was ranked.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut photos = Vec::with_capacity(c.why.nearest.len());
            for p in &c.why.nearest {
                let age_months = match reads.photo_age_months(p.photo_id) {
                    Err(StoreError::NotFound { .. }) => None,
                    other => other?,
                };
                photos.push(CandidatePhoto {
                    photo_id: p.photo_id,
                    distance: p.distance as f32,
                    age_months,
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

    /// One match with the sighting, the case and the case's nearest photos.
    pub fn review_item(&self, actor: &str, id: u64) -> Result<ReviewView, ApiError> {
        let item = self.read()?.reads().review_item(id)?;
        let sc = ScoresView::new(&item.scores);
        let why = sc.candidate.as_ref().map(|c| c.why.clone());
        let (sighting_face, case_face) = match &why {
            Some(w) => self.face_boxes(item.sighting.id, item.case.id, w)?,
            None => (None, None),
        };
        self.audit(actor, "read_match", &format!("match:{id}"))?;
        Ok(ReviewView {
            one_in: sc
                .fmr
                .filter(|f| *f > 0.0 && f.is_finite())
                .map(|f| (1.0 / f).round().max(1.0) as u64),
            explanation: why,
            sighting_face,
            case_face,
            match_id: id,
            state: item.state.as_str(),
            reviewer: item.reviewer,
            assignee: item.assignee,
            note: item.note,
            decided_at: item.decided_at,
            distance: sc.distance,
            score: sc.score,
            est_false_match_rate: sc.fmr,
            band: sc.band,
            why: sc.why,
            sighting: sighting_view(item.sighting),
            case: case_summary(item.case),
            candidate_photos: item.photos.into_iter().map(candidate_photo).collect(),
        })
    }

    /// The boxes of the two faces the ranking compared: the sighting's
    /// deciding face and the case photo face nearest to it, each with its
    /// photo's upright size. A face or photo that is gone (erased, or a
    /// stored row that no longer reads) is None, never an error.
    fn face_boxes(
        &self,
        sighting: u64,
        case: u64,
        why: &ranking::Why,
    ) -> Result<(Option<FaceBox>, Option<FaceBox>), ApiError> {
        let (s_box, s_path, c_box, c_path) = self.with_registry(|r| {
            let s_box = r
                .sighting_faces(sighting)?
                .get(why.sighting_face)
                .map(|(_, f)| f.bbox);
            let s_path = match r.sighting(sighting) {
                Ok(s) => Some(r.photo_path(&s.sha256)),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let c_box = r
                .case_gallery(case)?
                .into_iter()
                .find(|g| g.face_id == why.best.face_id && g.photo_id == why.best.photo_id)
                .map(|g| g.bbox);
            let c_path = match r.photo(why.best.photo_id) {
                Ok((_, sha)) => Some(r.photo_path(&sha)),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            Ok((s_box, s_path, c_box, c_path))
        })?;
        let boxed = |bbox: Option<[f32; 4]>, path: Option<PathBuf>, url: String| {
            let (bbox, path) = (bbox?, path?);
            let (width, height) = upright_size(&path)?;
            Some(FaceBox {
                photo_url: url,
                width,
                height,
                bbox,
            })
        };
        Ok((
            boxed(s_box, s_path, format!("/api/sightings/{sighting}/photo")),
            boxed(c_box, c_path, format!("/api/photos/{}", why.best.photo_id)),
        ))
    }

    /// The registry's audit log, newest first: every entry, or those about
    /// `case` (the case itself, its photos, its matches and their sightings).
    /// Names no person: actors, actions and row ids only.
    pub fn registry_audit(
        &self,
        actor: &str,
        case: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, ApiError> {
        let entries = self.with_registry(|r| r.audit_log())?;
        let wanted: Option<std::collections::HashSet<String>> = match case {
            None => None,
            Some(c) => {
                let read = self.read()?;
                let reads = read.reads();
                // A case that does not exist is a 404, as everywhere else.
                reads.case_summary(c)?;
                let mut w = std::collections::HashSet::new();
                w.insert(format!("case:{c}"));
                for p in reads.case_photos(c)? {
                    w.insert(format!("photo:{}", p.id));
                }
                for q in reads
                    .review_queue(true)?
                    .into_iter()
                    .filter(|q| q.case_id == c)
                {
                    w.insert(format!("match:{}", q.match_id));
                }
                Some(w)
            }
        };
        let rows: Vec<AuditRow> = entries
            .into_iter()
            .rev()
            .filter(|e| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.contains(e.target.as_str()))
            })
            .take(limit)
            .map(|e| AuditRow {
                id: e.id,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
            })
            .collect();
        let target = match case {
            Some(c) => format!("case:{c}"),
            None => "registry".to_string(),
        };
        self.audit(actor, "read_audit_log", &target)?;
        Ok(rows)
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
            let current = m.registry().match_row(id)?.state;
            if current != MatchState::Pending {
                return Ok(Err(ApiError::conflict(format!(
                    "match {id} was already decided; undo the decision first (POST /api/review/{id}/undo) if it was wrong"
                ))));
            }
            match state {
                MatchState::Confirmed => {
                    m.confirm(actor, id, note)?;
                }
                MatchState::Rejected => m.reject(actor, id, note)?,
                MatchState::Pending => {
                    return Ok(Err(ApiError::bad_request(
                        "a decision is confirm or reject; to take one back, undo it",
                    )))
                }
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

    /// Takes back the decision on a match (`homeward_match::matching::undo`);
    /// returns the state it had. A pending match is a conflict.
    pub fn undo(&self, actor: &str, id: u64) -> Result<MatchState, ApiError> {
        let was = self.with_matcher(|m| {
            if m.registry().match_row(id)?.state == MatchState::Pending {
                return Ok(Err(ApiError::conflict(format!(
                    "match {id} is pending; there is no decision to undo"
                ))));
            }
            Ok(Ok(m.undo(actor, id)?))
        })??;
        self.audit(actor, "undo_decision", &format!("match:{id}"))?;
        Ok(was)
    }

    /// Moves a case to `status`, with why when given
    /// (`homeward_match::lifecycle`), and returns the status it had; the
    /// same status again writes nothing.
    pub fn set_case_status(
        &self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<CaseStatus, ApiError> {
        let was = self.with_matcher(|m| {
            Ok(m.set_case_status(actor, id, status, why)
                .map_err(case_life::field_error))
        })??;
        self.audit(actor, "set_case_status", &format!("case:{id}"))?;
        Ok(was)
    }

    /// Erases a case and everything derived from it, including the hashes
    /// held in memory for duplicate checks.
    pub fn erase_case(&self, actor: &str, id: CaseId) -> Result<(), ApiError> {
        self.with_matcher(|m| m.erase_case(actor, id))?;
        self.audit(actor, "erase_case", &format!("case:{id}"))
    }

    /// Every batch run against this registry by `homeward batch`, newest first.
    pub fn list_batches(&self, actor: &str) -> Result<Vec<BatchStatus>, ApiError> {
        let rows: Vec<BatchStatus> = self
            .read()?
            .reads()
            .batches()?
            .into_iter()
            .map(batch_status)
            .collect();
        self.audit(actor, "list_batches", &format!("batches:{}", rows.len()))?;
        Ok(rows)
    }

    /// One batch with each item's outcome and candidates.
    pub fn get_batch(&self, actor: &str, name: &str) -> Result<BatchView, ApiError> {
        let status = self
            .read()?
            .reads()
            .batch_status(name)?
            .map(batch_status)
            .ok_or_else(|| ApiError::not_found("batch"))?;
        let results = self.with_matcher(|m| m.batch_results(name))?;
        self.audit(
            actor,
            "read_batch",
            &format!("batch_items:{}", results.len()),
        )?;
        Ok(BatchView { status, results })
    }
}

/// The upright width and height of a stored photo, from its header (the
/// EXIF orientation kept on storing turns it); None if it cannot be read.
fn upright_size(path: &Path) -> Option<(u32, u32)> {
    let bytes = std::fs::read(path).ok()?;
    let limits = homeward_core::intake::Limits {
        // Stored photos passed the limits once; only the header is wanted.
        max_file_bytes: u64::MAX,
        max_pixels: u64::MAX,
        min_side: 1,
        max_aspect_ratio: u32::MAX,
        max_analysis_bytes: u64::MAX,
        ..homeward_core::intake::Limits::default()
    };
    let h = homeward_core::intake::inspect_bytes(&bytes, &limits).ok()?;
    Some((h.width, h.height))
}

fn read_photo(path: &Path) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|e| {
        eprintln!("homeward serve: photo file {}: {e}", path.display());
        ApiError::internal("reading a photo file")
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
        let s = ScoresView::new(&StoredScores::parse(json));
        assert_eq!(s.band, "possible");
        assert_eq!(s.distance, Some(0.4));
        assert_eq!(s.fmr, Some(0.004));
        assert!(
            s.why.contains("photo 3 at 0.400") && s.why.contains("age gap 2.5 y"),
            "{}",
            s.why
        );
        let bad = ScoresView::new(&StoredScores::parse(r#"{"embedding_distance":0.4}"#));
        assert_eq!((bad.band, bad.fmr), ("unknown", None));
        assert!(bad.why.contains("compare the photos"), "{}", bad.why);
    }

    #[test]
    fn mime_from_magic() {
        assert_eq!(image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(image_mime(b"\x89PNG\r\n"), "image/png");
        assert_eq!(image_mime(b"RIFF1234WEBPVP8 "), "image/webp");
        assert_eq!(image_mime(b"<svg"), "application/octet-stream");
    }
}
