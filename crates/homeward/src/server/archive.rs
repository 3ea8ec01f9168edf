//! Archive uploads while the server runs (issue 14): `POST /api/batches`
//! takes a batch name, photos and optionally the manifest CSV `homeward
//! batch` reads, checks all of it, stages it durably under
//! `<registry>/uploads/`, answers 202, and one background thread per
//! server records the items one at a time through the library path the
//! CLI batch uses (each with its batch mark: recorded once, however often
//! it is sent). `GET /api/batches/{name}` shows the progress, with the
//! items still `queued`.
//!
//! Layout of a staged upload: `uploads/<id>/job.json` (batch name, actor,
//! default day, items with their manifest fields) and `uploads/<id>/<n>`
//! (item n's bytes). It is written under `uploads/.partial-<id>/` and
//! renamed whole, so a crash never leaves half an acknowledged upload; on
//! start the partial ones are removed (never acknowledged) and the staged
//! ones are resumed, oldest first. A staged upload is removed once each of
//! its items is recorded or failed.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use homeward_core::intake::{self, Limits};
use homeward_core::store::{NewSighting, Sex};
use homeward_match::ingest::QueueItem;
use homeward_match::{manifest, ranking::Day};
use serde::{Deserialize, Serialize};

use super::admission::{Admission, Permit, Refusal};
use super::api::{check_upload_rate, drain, multipart_body};
use super::auth::Role;
use super::error::ApiError;
use super::multipart::{drain_form, read_form, Form, FormLimits, PhotoSink};
use super::service::{BatchView, ItemDone, Service};
use super::session::Caller;
use super::{blocking, AppState, Served};

/// Most photos in one upload.
pub const MAX_ITEMS: usize = 1000;
/// Most bytes of all photos of one upload together (each is also within
/// the server's `--max-bytes`).
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Longest batch name, characters.
const MAX_NAME_CHARS: usize = 200;
/// Largest manifest CSV, bytes.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Longest `name`, `csrf` or unknown field of the form, bytes.
const MAX_TEXT_BYTES: usize = 4096;
/// Most bytes of a refused form read and discarded before answering.
const MAX_DRAIN_BYTES: usize = 64 << 20;

/// One staged item.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StagedItem {
    /// The item's name in the batch.
    key: String,
    /// Its file in the staged upload's folder.
    file: String,
    when: Option<String>,
    place: Option<String>,
    age: Option<(f32, f32)>,
    sex: Option<String>,
}

/// `job.json` of a staged upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    batch: String,
    actor: String,
    /// The day the photos were taken when the manifest does not say.
    default_day: String,
    items: Vec<StagedItem>,
}

/// The archive queue of one server: where uploads are staged, the items
/// still waiting per batch, and the worker's wake-up.
pub struct Archive {
    /// `<registry>/uploads`; on PostgreSQL a folder of this process's
    /// own, holding an upload only while it is queued.
    root: Option<PathBuf>,
    /// On PostgreSQL: the job queue uploads go to.
    queue: Option<SharedQueue>,
    queued: Mutex<HashMap<String, u64>>,
    wake: Mutex<Sender<()>>,
}

/// The registry's job queue on PostgreSQL (`homeward_match::ingest`).
pub struct SharedQueue {
    /// `postgres://…` (never shown).
    pub url: String,
    /// The shared photo root (its `inbox/` holds queued photos).
    pub photo_root: PathBuf,
    /// One queue connection, made at first use and kept (uploads and
    /// progress reads share it); dropped after an error so the next call
    /// connects again.
    pub conn: Mutex<Option<homeward_pg::JobQueue>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("root", &self.root).finish()
    }
}

fn io_err(what: &str, e: std::io::Error) -> ApiError {
    tracing::warn!(event = "archive_io", what, error = %e, "archive staging failed");
    ApiError::internal("staging the upload (check the registry disk's free space)")
}

impl Archive {
    /// Opens the staging folder of `served`, drops uploads never
    /// acknowledged, counts the staged ones and starts the worker thread
    /// that resumes them.
    pub fn start(served: &Served, service: Arc<Service>, gate: Gate) -> Arc<Archive> {
        let (tx, rx) = mpsc::channel();
        let (root, queue) = match served {
            Served::Dir(d) => (Some(d.join("uploads")), None),
            // On PostgreSQL an upload goes to the shared job queue for
            // `homeward worker`s while the request runs; it is staged only
            // for that time, in this process's own folder.
            Served::Postgres { url, photo_root } => (
                Some(std::env::temp_dir().join(format!("homeward-uploads-{}", std::process::id()))),
                Some(SharedQueue {
                    url: url.clone(),
                    photo_root: photo_root.clone(),
                    conn: Mutex::new(None),
                }),
            ),
        };
        let shared = queue.is_some();
        let archive = Arc::new(Archive {
            root,
            queue,
            queued: Mutex::new(HashMap::new()),
            wake: Mutex::new(tx),
        });
        let Some(root) = archive.root.clone() else {
            return archive;
        };
        if shared {
            if let Err(e) = std::fs::create_dir_all(&root) {
                eprintln!("homeward serve: cannot create the archive staging folder: {e}");
            }
            return archive;
        }
        if let Err(e) = std::fs::create_dir_all(&root) {
            eprintln!("homeward serve: cannot create the archive staging folder: {e}");
            return archive;
        }
        let mut resumed = 0u64;
        for (_, job) in staged(&root) {
            resumed += job.items.len() as u64;
            *archive.lock_queued().entry(job.batch).or_default() += job.items.len() as u64;
        }
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".partial-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        if resumed > 0 {
            tracing::info!(
                event = "archive_resumed",
                items = resumed,
                "resuming staged archive uploads"
            );
        }
        let worker = archive.clone();
        let spawned = std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || worker.run(&root, &service, &gate, rx));
        if let Err(e) = spawned {
            eprintln!("homeward serve: cannot start the archive worker: {e}");
        }
        archive
    }

    fn lock_queued(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The items of `batch` not recorded yet: staged in this server, or,
    /// on PostgreSQL, the queue's unfinished jobs (blocks: call it off the
    /// async executor).
    pub fn left(&self, service: &Service, batch: &str) -> Result<u64, ApiError> {
        match &self.queue {
            Some(q) => service.queue_left(q, batch),
            None => Ok(self.queued(batch)),
        }
    }

    /// Items of `batch` staged and not yet processed.
    pub fn queued(&self, batch: &str) -> u64 {
        self.lock_queued().get(batch).copied().unwrap_or(0)
    }

    fn done_one(&self, batch: &str) {
        let mut q = self.lock_queued();
        if let Some(n) = q.get_mut(batch) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                q.remove(batch);
            }
        }
    }

    /// The worker: staged uploads oldest first, items one at a time;
    /// sleeps until woken (or 5 s); stops when the registry closes.
    fn run(&self, root: &Path, service: &Service, gate: &Gate, rx: Receiver<()>) {
        loop {
            for (dir, job) in staged(root) {
                let recorded = match service.batch_recorded(&job.batch) {
                    Ok(r) => r,
                    Err(e) => return stop(service, &e),
                };
                for it in &job.items {
                    if !recorded.contains(&it.key) {
                        if service.is_closed() {
                            return;
                        }
                        let s = sighting_of(&job, it);
                        let admitted = gate.admit(&dir.join(&it.file));
                        let (photo, permit) = match admitted {
                            Ok((bytes, permit)) => (Ok(bytes), Some(permit)),
                            Err(why) => (Err(why), None),
                        };
                        let done = service.archive_item(&job.actor, &job.batch, &it.key, photo, &s);
                        drop(permit);
                        match done {
                            Ok(ItemDone::Recorded | ItemDone::Failed) => {}
                            Err(e) => return stop(service, &e),
                        }
                    }
                    self.done_one(&job.batch);
                }
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    eprintln!("homeward serve: cannot remove a finished archive upload: {e}");
                }
            }
            if service.is_closed() {
                return;
            }
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// The server's analysis admission, for the archive thread: each staged
/// photo is checked against the intake limits and admitted by its
/// estimated memory, as an upload is (so archives and visitors share one
/// budget).
pub struct Gate {
    pub admission: Arc<Admission>,
    pub limits: Limits,
    /// The server's runtime (admission waits are async).
    pub handle: tokio::runtime::Handle,
}

impl Gate {
    /// The staged photo's bytes with its admission; Err(why) makes it a
    /// failed item.
    fn admit(&self, path: &Path) -> Result<(Vec<u8>, Permit), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read the staged photo: {e}"))?;
        let header = intake::inspect_bytes(&bytes, &self.limits).map_err(|e| e.to_string())?;
        loop {
            match self
                .handle
                .block_on(self.admission.admit(header.cost.peak_bytes))
            {
                Ok(p) => return Ok((bytes, p)),
                Err(Refusal::QueueFull { retry_after_secs }) => {
                    std::thread::sleep(Duration::from_secs(retry_after_secs.clamp(1, 10)))
                }
                Err(Refusal::NeverFits {
                    needed_mib,
                    budget_mib,
                }) => {
                    return Err(format!(
                        "analysing this {}x{} photo would need about {needed_mib} MiB, more than \
                         this server's analysis budget of {budget_mib} MiB; send a downscaled copy",
                        header.width, header.height
                    ))
                }
            }
        }
    }
}

fn stop(service: &Service, e: &ApiError) {
    if !service.is_closed() {
        eprintln!(
            "homeward serve: archive worker stopped: {}; staged uploads resume at the next start",
            e.message
        );
    }
}

/// Staged uploads, oldest first (their ids start with the time).
fn staged(root: &Path) -> Vec<(PathBuf, Job)> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|d| {
            let text = std::fs::read(d.join("job.json")).ok()?;
            match serde_json::from_slice::<Job>(&text) {
                Ok(j) => Some((d, j)),
                Err(e) => {
                    eprintln!(
                        "homeward serve: skipping unreadable archive upload {}: {e}",
                        d.display()
                    );
                    None
                }
            }
        })
        .collect()
}

fn sighting_of(job: &Job, it: &StagedItem) -> NewSighting {
    NewSighting {
        seen_at: Some(it.when.clone().unwrap_or_else(|| job.default_day.clone())),
        place: it.place.clone(),
        apparent_age: it.age,
        sex: it.sex.as_deref().and_then(|s| s.parse::<Sex>().ok()),
        ..NewSighting::default()
    }
}

/// A batch name: 1–200 characters, no control characters, not blank.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "give the batch a name in the field `name` (for example the archive's title)",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(format!(
            "the batch name is over {MAX_NAME_CHARS} characters; shorten it"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "the batch name has control characters; use plain text",
        ));
    }
    Ok(())
}

/// A staging folder removed on drop unless it was committed.
struct Partial {
    dir: PathBuf,
    committed: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The answer to an accepted upload.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub batch: String,
    /// Photos staged by this upload.
    pub items: usize,
    /// Items of the batch waiting (this upload's and earlier ones').
    pub queued: u64,
    /// Where the progress is (`GET`).
    pub progress_url: String,
}

/// A batch's progress: the registry's view plus the items still staged.
#[derive(Debug, Serialize)]
pub struct Progress {
    #[serde(flatten)]
    pub view: BatchView,
    /// Items uploaded and not yet processed.
    pub queued: u64,
    /// `queued` (none processed yet), `running` or `done`.
    pub state: &'static str,
}

/// `%XX` for everything outside the URL path's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /api/batches/{name}`: the registry's view of the batch and the
/// items still staged (404 when neither knows it).
pub(super) async fn get_batch(
    State(st): State<AppState>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let queued = blocking(|| st.archive.left(&st.service, &name))?;
    let view = match blocking(|| st.service.get_batch(&caller.actor(), &name)) {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::NOT_FOUND && queued > 0 => BatchView {
            status: super::service::BatchStatus {
                name: name.clone(),
                items: 0,
                recorded: 0,
                failed: 0,
                pending_matches: 0,
                last_done_at: None,
            },
            results: Vec::new(),
        },
        Err(e) => return Err(e),
    };
    let state = match (queued, view.status.items) {
        (0, _) => "done",
        (_, 0) => "queued",
        _ => "running",
    };
    Ok(Json(Progress {
        view,
        queued,
        state,
    })
    .into_response())
}

/// `POST /api/batches`: checks the caller (case worker or admin), stages
/// the upload within the limits and queues it.
pub(super) async fn post_batch(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    req: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let accepted = stage(&st, caller, req, false).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Checks and stages an upload (`from_page`: the CSRF token comes in the
/// form's `csrf` field, checked before anything is kept).
pub(super) async fn stage(
    st: &AppState,
    caller: Result<Caller, ApiError>,
    req: Request,
    from_page: bool,
) -> Result<Accepted, ApiError> {
    let checked = caller.and_then(|c| {
        c.require(Role::CaseWorker)?;
        check_upload_rate(st, &c)?;
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("multipart/form-data") {
            return Err(ApiError::unsupported_media(
                "send the batch as multipart/form-data: `name`, one `photo` part per photo \
                 (with its file name) and optionally `manifest` (the CSV `homeward batch` reads)",
            ));
        }
        Ok(c)
    });
    let caller = match checked {
        Ok(c) => c,
        Err(e) => {
            drain(req.into_body(), st.body_limit()).await;
            return Err(e);
        }
    };
    let Some(root) = st.archive.root.clone() else {
        return Err(ApiError::internal("archive staging"));
    };
    // No body limit (the route disables it): the form's own limits apply
    // as the photos stream to disk.
    let mut mp = multipart_body(req, None)?;
    let id = upload_id();
    let partial = Partial {
        dir: root.join(format!(".partial-{id}")),
        committed: false,
    };
    blocking(|| std::fs::create_dir_all(&partial.dir).map_err(|e| io_err("mkdir", e)))?;
    let limits = FormLimits {
        max_file: st.config.limits.max_file_bytes,
        max_total: MAX_TOTAL_BYTES,
        max_items: MAX_ITEMS,
        max_text: MAX_TEXT_BYTES,
        max_manifest: MAX_MANIFEST_BYTES,
    };
    let mut sink = Staging {
        dir: &partial.dir,
        out: None,
    };
    let form = match read_form(&mut mp, &mut sink, &limits).await {
        Ok(f) => f,
        Err(e) => {
            // A client that sends its whole upload before reading the
            // answer sees the refusal instead of a reset connection.
            drain_form(&mut mp, MAX_DRAIN_BYTES).await;
            return Err(e);
        }
    };
    drop(sink);
    if from_page {
        caller.check_csrf(form.csrf.as_deref())?;
    }
    let job = check_form(form, &caller.actor())?;
    let n = job.items.len();
    let batch = job.batch.clone();
    if let Some(q) = &st.archive.queue {
        // PostgreSQL: into the inbox and the job queue before the answer;
        // the staged copies go when `partial` drops.
        let items: Vec<QueueItem> = job
            .items
            .iter()
            .map(|it| QueueItem {
                key: it.key.clone(),
                path: partial.dir.join(&it.file),
                sighting: sighting_of(&job, it),
            })
            .collect();
        let limits = st.config.limits;
        let added = blocking(|| st.service.enqueue_upload(q, &batch, &items, &limits))?;
        blocking(|| {
            st.service
                .audit(&caller.actor(), "upload_batch", &format!("items:{n}"))
        })?;
        return Ok(Accepted {
            progress_url: format!("/api/batches/{}", percent_encode(&batch)),
            batch,
            items: n,
            queued: added as u64,
        });
    }
    let mut partial = partial;
    blocking(|| commit(&root, &id, &partial.dir, &job))?;
    partial.committed = true;
    let queued = {
        let mut q = st.archive.lock_queued();
        let e = q.entry(batch.clone()).or_default();
        *e += n as u64;
        *e
    };
    let _ = st
        .archive
        .wake
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(());
    blocking(|| {
        st.service
            .audit(&caller.actor(), "upload_batch", &format!("items:{n}"))
    })?;
    tracing::info!(
        event = "archive_accepted",
        items = n,
        "archive upload staged"
    );
    Ok(Accepted {
        progress_url: format!("/api/batches/{}", percent_encode(&batch)),
        batch,
        items: n,
        queued,
    })
}

/// A unique, time-ordered id for a staged upload.
fn upload_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut r = [0u8; 6];
    let _ = getrandom::fill(&mut r);
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    format!("{nanos:024}-{hex}")
}

/// The staging folder as the form's photo sink: photo `n` goes to the file
/// `n`, each synced once complete.
struct Staging<'a> {
    dir: &'a Path,
    out: Option<std::fs::File>,
}

impl PhotoSink for Staging<'_> {
    type Error = ApiError;
    fn start(&mut self, file: &str) -> Result<(), ApiError> {
        let path = self.dir.join(file);
        self.out = Some(blocking(|| {
            std::fs::File::create(&path).map_err(|e| io_err("create", e))
        })?);
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| ApiError::internal("staging the upload"))?;
        blocking(|| out.write_all(chunk).map_err(|e| io_err("write", e)))
    }
    fn finish(&mut self) -> Result<(), ApiError> {
        match self.out.take() {
            Some(out) => blocking(|| out.sync_all().map_err(|e| io_err("sync", e))),
            None => Ok(()),
        }
    }
}

/// Checks the whole form: a name, at least one photo, unique item names,
/// and a manifest (if any) that lists exactly the photos sent.
fn check_form(form: Form, actor: &str) -> Result<Job, ApiError> {
    let name = form.name.unwrap_or_default();
    check_name(&name)?;
    if form.photos.is_empty() {
        return Err(ApiError::unprocessable(
            "no photos: send one `photo` file part per photo",
        ));
    }
    let mut seen = HashSet::new();
    for (item, _) in &form.photos {
        if !seen.insert(item.as_str()) {
            return Err(ApiError::unprocessable(format!(
                "photo `{item}` is sent twice; give each photo its own file name"
            )));
        }
    }
    let mut rows: HashMap<String, manifest::ManifestItem> = HashMap::new();
    if let Some(text) = &form.manifest {
        let items =
            manifest::parse(text).map_err(|e| ApiError::unprocessable(format!("manifest: {e}")))?;
        for it in items {
            if !seen.contains(it.path.as_str()) {
                return Err(ApiError::unprocessable(format!(
                    "manifest lists `{}` but no photo with that file name was sent",
                    it.path
                )));
            }
            rows.insert(it.path.clone(), it);
        }
        if let Some((item, _)) = form.photos.iter().find(|(k, _)| !rows.contains_key(k)) {
            return Err(ApiError::unprocessable(format!(
                "photo `{item}` is not in the manifest; add a row for it or leave it out"
            )));
        }
    }
    let items = form
        .photos
        .into_iter()
        .map(|(key, file)| {
            let row = rows.remove(&key);
            StagedItem {
                when: row.as_ref().and_then(|r| r.when.clone()),
                place: row.as_ref().and_then(|r| r.place.clone()),
                age: row.as_ref().and_then(|r| r.age),
                sex: row.as_ref().and_then(|r| r.sex).map(|s| s.to_string()),
                key,
                file,
            }
        })
        .collect();
    Ok(Job {
        batch: name,
        actor: actor.to_string(),
        default_day: Day::today().iso(),
        items,
    })
}

/// Writes `job.json`, syncs, and renames the partial folder into place.
fn commit(root: &Path, id: &str, partial: &Path, job: &Job) -> Result<(), ApiError> {
    let path = partial.join("job.json");
    let text = serde_json::to_vec(job).map_err(|_| ApiError::internal("staging the upload"))?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::File::open(partial)?.sync_all()?;
        std::fs::rename(partial, root.join(id))?;
        std::fs::File::open(root)?.sync_all()
    };
    write().map_err(|e| io_err("commit", e))
}

#[cfg(test)]
mod tests {
    use super::super::multipart::check_item;
    use super::*;

    #[test]
    fn names_and_items() {
        assert!(check_name("market archive 2024").is_ok());
        assert!(check_name("  ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(201)).is_err());
        assert!(check_item("a.jpg").is_ok());
        assert!(check_item("day1/a.jpg").is_ok());
        for bad in [
            "",
            "../a.jpg",
            "/a.jpg",
            "a//b.jpg",
            "a\\b.jpg",
            "a\u{7}.jpg",
        ] {
            assert!(check_item(bad).is_err(), "{bad:?}");
        }
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
