//! The JSON API under `/api/`: request and response types, and handlers
//! that check the caller's role, then call the service.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use homeward_core::faces::Cancel;
use homeward_core::intake::{self, DecodeError};
use homeward_core::rules::{AgeRange, CalendarDate};
use homeward_core::store::{CaseStatus, MatchState, NewCase, PhotoMeta, ScoreBand, Sex};
use homeward_match::review::{Assignee, QueueFilter};
use serde::{Deserialize, Serialize};

use super::admission::Refusal;
use super::auth::{now, Role, User, SESSION_SECONDS};
use super::error::ApiError;
use super::service::{PhotoAdded, SightingInput};
use super::session::{set_cookie, Caller, Via};
use super::{blocking, openapi, AppState, Routes};
use homeward_match::matching::Analyzed;
use homeward_match::ranking::QueryMeta;

pub(super) fn routes(r: Routes) -> Routes {
    r.get("/api/openapi.json", openapi_json)
        .get("/api/health", health)
        .add(
            "post",
            "/api/session",
            axum::routing::post(login).layer(DefaultBodyLimit::max(LOGIN_BODY_BYTES)),
        )
        .delete("/api/session", logout)
        .get("/api/me", me)
        .post("/api/sightings", submit_sighting)
        .get("/api/sightings", list_sightings)
        .get("/api/sightings/{id}", get_sighting)
        .get("/api/sightings/{id}/photo", sighting_photo)
        .get("/api/receipts/{code}", get_receipt)
        .get("/api/cases", list_cases)
        .post("/api/cases", create_case)
        .get("/api/cases/{id}", get_case)
        .delete("/api/cases/{id}", erase_case)
        .post("/api/cases/{id}/status", set_case_status)
        .post("/api/cases/{id}/photos", add_case_photo)
        .post("/api/cases/{id}/notes", add_case_note)
        .get("/api/cases/{id}/timeline", case_timeline)
        .get("/api/cases/{id}/export.csv", case_csv)
        .get("/api/photos/{id}", get_photo)
        .post("/api/search", search)
        .get("/api/review", review_queue)
        .get("/api/review/export.csv", review_csv)
        .get("/api/review/{id}", review_item)
        .post("/api/review/{id}/assign", assign)
        .post("/api/review/{id}/confirm", confirm)
        .post("/api/review/{id}/reject", reject)
        .post("/api/review/{id}/undo", undo)
        .get("/api/batches", list_batches)
        .add(
            "post",
            "/api/batches",
            // Streamed to disk within the archive's own limits (archive.rs).
            axum::routing::post(super::archive::post_batch).layer(DefaultBodyLimit::disable()),
        )
        .get("/api/batches/{name}", super::archive::get_batch)
        .get("/api/users", list_users)
        .post("/api/users", create_user)
        .patch("/api/users/{id}", update_user)
        .get("/api/tokens", list_tokens)
        .post("/api/tokens", create_token)
        .delete("/api/tokens/{id}", revoke_token)
        .get("/api/audit", audit_log)
}

/// A JSON body; malformed bodies become the JSON 400/415/422 errors.
type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|e| {
        let status = e.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "bad_request",
        };
        ApiError::new(status, code, e.body_text())
    })
}

// ---------- uploads ----------

/// A multipart upload: the `photo` file and the text fields (read by
/// `multipart.rs`, which the `multipart` fuzz target runs).
pub(super) use super::multipart::Upload;
use super::multipart::{FormError, MAX_FIELD_BYTES};

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// The multipart parser over a request's body: the boundary from its
/// Content-Type (400 without one), the whole body within `body_limit`
/// bytes, if any (413 over it, as axum's body limit answered), and each
/// part's header block within `multipart::MAX_HEADER_BYTES` (413).
pub(super) fn multipart_body(
    req: Request,
    body_limit: Option<usize>,
) -> Result<multer::Multipart<'static>, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = super::multipart::boundary(ct)?;
    Ok(super::multipart::parser(
        req.into_body().into_data_stream(),
        boundary,
        body_limit.map(|n| n as u64),
    ))
}

/// Reads and discards a request body (at most `limit` bytes), so that a
/// client that sends its whole upload before reading the answer sees the
/// refusal instead of a reset connection.
pub(super) async fn drain(body: axum::body::Body, limit: usize) {
    use axum::body::HttpBody;
    let mut body = body;
    let mut seen = 0usize;
    while seen <= limit {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Checks an upload before reading it: the caller, the role, the upload
/// rate and the content type (415 unless multipart/form-data). On refusal
/// the body is drained first. Then reads the form (in memory, within the
/// server's body limit); a form refused while reading (too many parts, a
/// field too long) is drained too.
pub(super) async fn upload_gate(
    st: &AppState,
    caller: Result<Caller, ApiError>,
    role: Role,
    req: Request,
) -> Result<(Caller, Upload), ApiError> {
    let checked = caller.and_then(|c| {
        c.require(role)?;
        check_upload_rate(st, &c)?;
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("multipart/form-data") {
            return Err(ApiError::unsupported_media(
                "send the photo as multipart/form-data with the image in the field `photo`",
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
    let mut mp = multipart_body(req, Some(st.body_limit()))?;
    match super::multipart::read_upload(&mut mp, MAX_FIELD_BYTES).await {
        Ok(up) => Ok((caller, up)),
        Err(e) => {
            // As for the refusals above: a client that sends its whole form
            // before reading the answer sees the refusal, not a reset. The
            // parser still bounds it (body limit, header block limit).
            super::multipart::drain_form(&mut mp, st.body_limit()).await;
            Err(e.into())
        }
    }
}

/// Decodes and analyses a photo on the blocking pool.
///
/// The header is checked first (every intake limit, and the memory the
/// analysis will need); the analysis is then admitted by that estimate
/// against the server's budget, waiting in the bounded queue if need be.
/// If the request is dropped (timeout, client gone) while it runs, the
/// analysis is cancelled at its next pyramid level or network layer, and
/// its slot is freed when it stops.
pub(super) async fn analyze(st: &AppState, bytes: Vec<u8>) -> Result<Analyzed, ApiError> {
    let header = match intake::inspect_bytes(&bytes, &st.config.limits) {
        Ok(h) => h,
        Err(e) => {
            tracing::info!(
                event = "upload_refused",
                reason = refusal_kind(&e),
                bytes = bytes.len(),
                "photo refused before decoding"
            );
            return Err(e.into());
        }
    };
    let cost = header.cost.peak_bytes;
    let permit = match st.admission.admit(cost).await {
        Ok(p) => p,
        Err(refusal) => {
            let load = st.admission.load();
            tracing::warn!(
                event = "analysis_refused",
                cost_mib = cost >> 20,
                in_use_mib = load.in_use_mib,
                running = load.running,
                waiting = load.waiting,
                refusal = ?refusal,
                "analysis not admitted"
            );
            return Err(match refusal {
                Refusal::QueueFull { retry_after_secs } => ApiError::busy(retry_after_secs),
                Refusal::NeverFits {
                    needed_mib,
                    budget_mib,
                } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "analysing this {}x{} photo would need about {needed_mib} MiB, more than \
                         this server's whole analysis budget of {budget_mib} MiB; send a \
                         downscaled copy (12 megapixels or less)",
                        header.width, header.height
                    ),
                ),
            });
        }
    };
    let load = st.admission.load();
    tracing::info!(
        event = "analysis_admitted",
        width = header.width,
        height = header.height,
        cost_mib = cost >> 20,
        in_use_mib = load.in_use_mib,
        running = load.running,
        waiting = load.waiting,
        "analysis admitted"
    );
    let cancel = Cancel::new();
    let mut on_drop = CancelOnDrop(Some(cancel.clone()));
    let svc = st.service.clone();
    let result = tokio::task::spawn_blocking(move || {
        let result = cancel.scope(|| svc.analyze(bytes));
        if cancel.is_cancelled() {
            tracing::warn!(
                event = "analysis_cancelled",
                cost_mib = permit.cost() >> 20,
                held_ms = permit.held().as_millis() as u64,
                "analysis stopped: its request timed out or its client went away"
            );
        }
        drop(permit);
        result
    })
    .await;
    on_drop.0 = None; // finished: nothing to cancel
    result?
}

/// Cancels the analysis when the request future holding it is dropped
/// before the analysis has finished.
struct CancelOnDrop(Option<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.cancel();
        }
    }
}

/// A stable name for why intake refused a photo (for logs: no bytes, no names).
pub(super) fn refusal_kind(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::TooLarge { .. } => "too_large",
        DecodeError::TooManyPixels { .. } => "too_many_pixels",
        DecodeError::TooSmall { .. } => "too_small",
        DecodeError::AspectRatio { .. } => "aspect_ratio",
        DecodeError::OverBudget { .. } => "over_budget",
        DecodeError::UnsupportedFormat { .. } => "unsupported_format",
        DecodeError::Empty { .. } => "empty",
        DecodeError::ZeroSize { .. } => "zero_size",
        DecodeError::DecoderLimit { .. } => "decoder_limit",
        _ => "malformed",
    }
}

pub(super) fn check_upload_rate(st: &AppState, caller: &Caller) -> Result<(), ApiError> {
    st.uploads
        .check(&format!("user:{}", caller.user.id))
        .map_err(ApiError::rate_limited)
}

/// A sighting form field that could not be accepted. The API answers it
/// in English (as `ApiError`, 422); the page says it in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FieldError {
    #[error("`{field}` must be a number, got `{got}`")]
    NotNumber { field: &'static str, got: String },
    #[error("give both `lat` (-90..90) and `lon` (-180..180), or neither")]
    Location,
    #[error("`apparent_age`: {0}")]
    ApparentAge(String),
    #[error("`sex`: {0}")]
    Sex(String),
    #[error("`{field}` is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error(transparent)]
    SeenAt(#[from] super::i18n::SeenAtError),
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::unprocessable(e.to_string())
    }
}

fn parse_f64(up: &Upload, name: &'static str) -> Result<Option<f64>, FieldError> {
    up.text(name)
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| FieldError::NotNumber {
                    field: name,
                    got: s.chars().take(64).collect(),
                })
        })
        .transpose()
}

/// A sex under the one input rule (`homeward_core::rules::Sex`), as the CLI.
fn parse_sex(s: Option<&str>) -> Result<Option<Sex>, ApiError> {
    s.map(|v| {
        v.parse::<Sex>()
            .map_err(|e| ApiError::unprocessable(format!("`sex`: {e}")))
    })
    .transpose()
}

fn check_len(name: &str, s: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match s {
        Some(v) if v.chars().count() > max => Err(ApiError::unprocessable(format!(
            "`{name}` is longer than {max} characters"
        ))),
        other => Ok(other.map(str::to_string)),
    }
}

fn field_len(up: &Upload, name: &'static str, max: usize) -> Result<Option<String>, FieldError> {
    match up.text(name) {
        Some(v) if v.chars().count() > max => Err(FieldError::TooLong { field: name, max }),
        other => Ok(other.map(str::to_string)),
    }
}

/// Whether a form's yes/no field says yes (a ticked checkbox sends `on`).
fn ticked(up: &Upload, name: &str) -> bool {
    matches!(
        up.text(name).map(str::to_ascii_lowercase).as_deref(),
        Some("on" | "yes" | "true" | "1")
    )
}

/// The sighting fields of an upload form (API and page share them).
///
/// `seen_at` is read by [`super::i18n::normalize_seen_at`]: a
/// `datetime-local` value is a wall time in the organisation's zone, an
/// RFC 3339 time an instant; both are stored in UTC. The location is kept
/// only with the volunteer's consent: on the page, the `share_location`
/// box must be ticked (`consent_required`); on the API, a
/// `share_location` field that is present and not yes drops it.
pub(super) fn sighting_input(
    up: &Upload,
    consent_required: bool,
) -> Result<SightingInput, FieldError> {
    let consent = if consent_required || up.text("share_location").is_some() {
        ticked(up, "share_location")
    } else {
        true
    };
    let lat = parse_f64(up, "lat")?;
    let lon = parse_f64(up, "lon")?;
    let location = match (lat, lon) {
        (Some(a), Some(b)) if (-90.0..=90.0).contains(&a) && (-180.0..=180.0).contains(&b) => {
            Some((a, b))
        }
        (None, None) => None,
        _ => return Err(FieldError::Location),
    };
    let apparent_age = up
        .text("apparent_age")
        .map(|s| {
            s.parse::<AgeRange>()
                .map(|r| r.pair())
                .map_err(|e| FieldError::ApparentAge(e.to_string()))
        })
        .transpose()?;
    let sex = up
        .text("sex")
        .map(|v| v.parse::<Sex>().map_err(|e| FieldError::Sex(e.to_string())))
        .transpose()?;
    let seen_at = match field_len(up, "seen_at", 64)? {
        Some(s) => {
            let (name, tz) = super::i18n::zone();
            Some(super::i18n::normalize_seen_at(
                &s,
                tz,
                name,
                jiff::Timestamp::now(),
            )?)
        }
        None => None,
    };
    Ok(SightingInput {
        seen_at,
        place: field_len(up, "place", 200)?,
        location: location.filter(|_| consent),
        apparent_age,
        sex,
        note: field_len(up, "note", 1000)?,
    })
}

/// The photo fields of a case photo upload.
pub(super) fn photo_meta(up: &Upload) -> Result<PhotoMeta, ApiError> {
    let months = match (up.text("age_months"), up.text("age_years")) {
        (Some(m), _) => Some(m.parse::<u32>().ok().filter(|m| *m <= 300).ok_or_else(|| {
            ApiError::unprocessable(format!("age_months must be 0-300, got `{m}`"))
        })?),
        (None, Some(y)) => Some(
            y.parse::<f32>()
                .ok()
                .filter(|y| (0.0..=25.0).contains(y))
                .map(|y| (y * 12.0).round() as u32)
                .ok_or_else(|| {
                    ApiError::unprocessable(format!("age_years must be 0-25, got `{y}`"))
                })?,
        ),
        (None, None) => None,
    };
    Ok(PhotoMeta {
        age_months: months,
        taken_date: check_len("taken_date", up.text("taken_date"), 32)?,
        source: check_len("source", up.text("source"), 200)?,
    })
}

fn photo_response(bytes: Vec<u8>, mime: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, "inline"),
        ],
        bytes,
    )
        .into_response()
}

// ---------- public ----------

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Deserialize)]
struct LoginIn {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct MeOut {
    id: u64,
    username: String,
    role: &'static str,
    /// Send as `X-CSRF-Token` on writes made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

impl MeOut {
    fn new(u: &User, csrf: Option<String>) -> Self {
        MeOut {
            id: u.id,
            username: u.username.clone(),
            role: u.role.as_str(),
            csrf_token: csrf,
        }
    }
}

/// Longest user name accepted at sign-in, characters.
pub(super) const MAX_USERNAME_CHARS: usize = 256;
/// Longest password accepted at sign-in, bytes (as when it is set).
pub(super) const MAX_PASSWORD_BYTES: usize = 1024;
/// Largest sign-in body (JSON or form), bytes.
pub(super) const LOGIN_BODY_BYTES: usize = 4096;

/// Signs in; shared by the API and the sign-in page. Field lengths are
/// checked first, then the throttle (per address, per account, global),
/// before the password is.
pub(super) fn sign_in(
    st: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
) -> Result<(User, String, String), ApiError> {
    if username.chars().count() > MAX_USERNAME_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unprocessable(format!(
            "user names are at most {MAX_USERNAME_CHARS} characters and passwords at most \
             {MAX_PASSWORD_BYTES} bytes; check what was typed"
        )));
    }
    if let Err(t) = st.logins.check(ip, username) {
        // The address is the caller's; the user name is never logged.
        tracing::warn!(
            event = "sign_in_throttled",
            scope = t.scope(),
            %ip,
            retry_after_s = t.retry_after_secs(),
            "sign-in throttled"
        );
        return Err(ApiError::rate_limited(t.retry_after_secs()));
    }
    let auth = st.auth.clone();
    let user = blocking(|| auth.verify_password(username, password))?;
    st.logins.record(ip, username, user.is_some());
    let Some(user) = user else {
        let _ = blocking(|| {
            st.auth
                .log(&format!("anon:{ip}"), "sign_in_failed", "user:?")
        });
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong user name or password",
        ));
    };
    let (secret, csrf) = blocking(|| auth.create_session(user.id))?;
    blocking(|| {
        auth.log(
            &format!("web:{}", user.username),
            "sign_in",
            &format!("user:{}", user.id),
        )
    })?;
    Ok((user, secret, csrf))
}

pub(super) fn session_cookie_header(st: &AppState, secret: &str) -> String {
    set_cookie(
        st.session_cookie(),
        secret,
        SESSION_SECONDS,
        st.config.secure_cookies,
    )
}

async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    b: Body<LoginIn>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let ip = st.client_ip(peer, &headers);
    let (user, secret, csrf) = sign_in(&st, ip, &b.username, &b.password)?;
    let cookie = session_cookie_header(&st, &secret);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(MeOut::new(&user, Some(csrf))),
    )
        .into_response())
}

async fn logout(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if let Via::Session { secret, .. } = &caller.via {
        blocking(|| st.auth.end_session(secret))?;
    }
    let clear = set_cookie(st.session_cookie(), "", 0, st.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

async fn me(caller: Caller) -> Json<MeOut> {
    let csrf = match &caller.via {
        Via::Session { csrf, .. } => Some(csrf.clone()),
        Via::Token => None,
    };
    Json(MeOut::new(&caller.user, csrf))
}

// ---------- volunteer ----------

/// What a volunteer gets back: proof of receipt, nothing about matches.
#[derive(Serialize)]
pub(super) struct ReceiptOut {
    pub receipt: String,
    pub received_at: i64,
    pub faces: u32,
    pub message: &'static str,
}

pub(super) const RECEIPT_MESSAGE: &str =
    "Thank you. Your report was received and will be looked at by a case worker.";

/// The receipt's message when no face was found: the report is kept all the same.
pub(super) const RECEIPT_NO_FACE_MESSAGE: &str = "Thank you. No face could be found in the photo; \
     your report is kept all the same and a case worker will look at the photo.";

/// Why a sighting submission failed: a form field (said in the reader's
/// language on the page), or anything else.
#[derive(Debug)]
pub(super) enum SubmitError {
    Field(FieldError),
    Other(ApiError),
}

impl From<FieldError> for SubmitError {
    fn from(e: FieldError) -> Self {
        SubmitError::Field(e)
    }
}

impl From<ApiError> for SubmitError {
    fn from(e: ApiError) -> Self {
        SubmitError::Other(e)
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Field(f) => f.into(),
            SubmitError::Other(a) => a,
        }
    }
}

/// The photo as it will be stored: EXIF, XMP and the like removed (GPS
/// included), orientation kept (`metadata::strip`). Nothing about the
/// photo is logged but its size.
pub(super) fn strip_photo(st: &AppState, photo: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let limits = st.config.limits;
    let before = photo.len();
    let out = tokio::task::block_in_place(|| super::metadata::strip(photo, &limits));
    match out {
        Ok(b) => {
            tracing::debug!(
                event = "metadata_stripped",
                bytes_before = before,
                bytes_after = b.len()
            );
            Ok(b)
        }
        Err(super::metadata::StripError::Decode(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(event = "metadata_strip_failed", error = %e);
            Err(ApiError::internal("preparing the photo"))
        }
    }
}

/// Stores a sighting upload and returns its receipt; shared with the page
/// (`from_page`: the location needs the volunteer's ticked consent).
pub(super) async fn do_submit(
    st: &AppState,
    caller: &Caller,
    mut up: Upload,
    from_page: bool,
) -> Result<ReceiptOut, SubmitError> {
    let input = sighting_input(&up, from_page)?;
    let photo = up.take_photo().map_err(ApiError::from)?;
    // Walking JPEG/PNG/WebP containers decodes nothing; the rare formats
    // that are re-encoded are decoded within the intake limits.
    let photo = strip_photo(st, photo)?;
    let analysis = analyze(st, photo).await?;
    let actor = caller.actor();
    let sub = blocking(|| st.service.submit_sighting(&actor, &analysis, &input))?;
    let code = blocking(|| {
        st.auth
            .add_receipt(sub.sighting_id, caller.user.id, sub.faces)
    })?;
    Ok(ReceiptOut {
        receipt: code,
        received_at: now(),
        faces: sub.faces,
        message: if sub.faces == 0 {
            RECEIPT_NO_FACE_MESSAGE
        } else {
            RECEIPT_MESSAGE
        },
    })
}

async fn submit_sighting(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    req: Request,
) -> Result<(StatusCode, Json<ReceiptOut>), ApiError> {
    let (caller, up) = upload_gate(&st, caller, Role::Volunteer, req).await?;
    let out = do_submit(&st, &caller, up, false).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Serialize)]
struct ReceiptView {
    receipt: String,
    received_at: i64,
    faces: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sighting_id: Option<u64>,
}

async fn get_receipt(
    State(st): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<ReceiptView>, ApiError> {
    caller.require(Role::Volunteer)?;
    let r = blocking(|| st.auth.receipt(&code))?;
    // A volunteer sees only their own receipts; others look "not found".
    let r = r
        .filter(|r| r.user_id == caller.user.id || caller.user.role >= Role::CaseWorker)
        .ok_or_else(|| ApiError::not_found("receipt"))?;
    Ok(Json(ReceiptView {
        receipt: r.code,
        received_at: r.created_at,
        faces: r.faces,
        status: "received",
        sighting_id: (caller.user.role >= Role::CaseWorker).then_some(r.sighting_id),
    }))
}

// ---------- case workers ----------

async fn list_sightings(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.list_sightings(&caller.actor()))?;
    Ok(Json(v).into_response())
}

async fn get_sighting(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.get_sighting(&caller.actor(), id))?;
    Ok(Json(v).into_response())
}

async fn sighting_photo(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let (bytes, mime) = blocking(|| st.service.sighting_photo(&caller.actor(), id))?;
    Ok(photo_response(bytes, mime))
}

async fn list_cases(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.list_cases(&caller.actor()))?;
    Ok(Json(v).into_response())
}

/// A new case, as JSON.
#[derive(Deserialize)]
pub(super) struct CaseIn {
    pub child_name: String,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    pub birth_year: Option<i32>,
    pub missing_date: Option<String>,
    #[serde(default)]
    pub missing_place: String,
    pub missing_location: Option<[f64; 2]>,
    pub status: Option<String>,
    pub contact_ref: Option<String>,
    pub notes: Option<String>,
}

/// A date under the one input rule (`CalendarDate`: `YYYY-MM-DD` or `YYYY`,
/// real days only), as the CLI; stored in its canonical form.
fn parse_date(name: &str, d: Option<String>) -> Result<Option<String>, ApiError> {
    d.map(|d| {
        d.trim()
            .parse::<CalendarDate>()
            .map(|d| d.to_string())
            .map_err(|e| ApiError::unprocessable(format!("`{name}`: {e}")))
    })
    .transpose()
}

impl CaseIn {
    /// The case as given; the library checks it against the input rules
    /// (`homeward_match::input::check_case`) when it is created.
    pub(super) fn into_new_case(self) -> Result<NewCase, ApiError> {
        let status = match self.status.as_deref() {
            None => CaseStatus::Searching,
            Some(s) => s
                .parse::<CaseStatus>()
                .map_err(|e| ApiError::unprocessable(format!("`status`: {e}")))?,
        };
        Ok(NewCase {
            child_name: self.child_name.trim().to_string(),
            sex: parse_sex(self.sex.as_deref())?.unwrap_or(Sex::Unknown),
            birth_date: parse_date("birth_date", self.birth_date)?,
            birth_year: self.birth_year,
            missing_date: parse_date("missing_date", self.missing_date)?,
            missing_place: self.missing_place.trim().to_string(),
            missing_location: self.missing_location.map(|[a, b]| (a, b)),
            status,
            contact_ref: self.contact_ref,
            notes: self.notes,
        })
    }
}

#[derive(Serialize)]
struct Created {
    id: u64,
}

async fn create_case(
    State(st): State<AppState>,
    caller: Caller,
    b: Body<CaseIn>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    caller.require(Role::CaseWorker)?;
    let case = body(b)?.into_new_case()?;
    let id = blocking(|| st.service.create_case(&caller.actor(), &case))?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

async fn get_case(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.get_case(&caller.actor(), id))?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusIn {
    status: String,
    /// Why, kept in the case's journal (optional).
    #[serde(default)]
    why: Option<String>,
}

#[derive(Serialize)]
struct StatusChange {
    case_id: u64,
    from: &'static str,
    to: &'static str,
}

async fn set_case_status(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    b: Body<StatusIn>,
) -> Result<Json<StatusChange>, ApiError> {
    caller.require(Role::CaseWorker)?;
    let b = body(b)?;
    let to = b
        .status
        .parse::<CaseStatus>()
        .map_err(|e| ApiError::unprocessable(format!("`status`: {e}")))?;
    let from = blocking(|| {
        st.service
            .set_case_status(&caller.actor(), id, to, b.why.as_deref())
    })?;
    Ok(Json(StatusChange {
        case_id: id,
        from: from.as_str(),
        to: to.as_str(),
    }))
}

async fn erase_case(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    blocking(|| st.service.erase_case(&caller.actor(), id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteIn {
    note: String,
}

#[derive(Serialize)]
struct NoteAdded {
    case_id: u64,
    note_id: u64,
}

/// Adds a case worker's note to the case's journal.
async fn add_case_note(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    b: Body<NoteIn>,
) -> Result<(StatusCode, Json<NoteAdded>), ApiError> {
    caller.require(Role::CaseWorker)?;
    let n = body(b)?;
    let note_id = blocking(|| st.service.add_case_note(&caller.actor(), id, &n.note))?;
    Ok((
        StatusCode::CREATED,
        Json(NoteAdded {
            case_id: id,
            note_id,
        }),
    ))
}

/// A CSV download: UTF-8 (the library writes a BOM), as an attachment.
fn csv_response(file_name: &str, text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

/// The case's whole life as JSON, oldest first
/// (`homeward_match::timeline::Timeline`, serialised by the library).
async fn case_timeline(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let t = blocking(|| st.service.case_timeline(&caller.actor(), id))?;
    Ok(Json(t).into_response())
}

/// The case's timeline as CSV.
async fn case_csv(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let text = blocking(|| st.service.case_csv(&caller.actor(), id))?;
    Ok(csv_response(&format!("case-{id}.csv"), text))
}

/// Adds a photo to a case; shared with the case page.
pub(super) async fn do_add_photo(
    st: &AppState,
    caller: &Caller,
    case: u64,
    mut up: Upload,
) -> Result<PhotoAdded, ApiError> {
    let meta = photo_meta(&up)?;
    let photo = up.take_photo()?;
    // Refuse an unknown case before the expensive analysis.
    blocking(|| st.service.get_case(&caller.actor(), case).map(|_| ()))?;
    let analysis = analyze(st, photo).await?;
    blocking(|| {
        st.service
            .add_case_photo(&caller.actor(), case, &analysis, &meta)
    })
}

async fn add_case_photo(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<u64>,
    req: Request,
) -> Result<(StatusCode, Json<PhotoAdded>), ApiError> {
    let (caller, up) = upload_gate(&st, caller, Role::CaseWorker, req).await?;
    let out = do_add_photo(&st, &caller, id, up).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn get_photo(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let (bytes, mime) = blocking(|| st.service.photo_bytes(&caller.actor(), id))?;
    Ok(photo_response(bytes, mime))
}

async fn search(
    State(st): State<AppState>,
    caller: Result<Caller, ApiError>,
    req: Request,
) -> Result<Response, ApiError> {
    let (caller, mut up) = upload_gate(&st, caller, Role::CaseWorker, req).await?;
    let k = match up.text("k") {
        None => 10,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|k| (1..=50).contains(k))
            .ok_or_else(|| ApiError::unprocessable(format!("k must be 1-50, got `{s}`")))?,
    };
    let include_closed = matches!(up.text("include_closed"), Some("true" | "1" | "on"));
    // Apparent age and sex are soft priors, as for a sighting.
    let input = sighting_input(&up, false)?;
    let meta = QueryMeta {
        day: Some(homeward_match::ranking::Day::today()),
        apparent_age: input
            .apparent_age
            .map(|(a, b)| (f64::from(a), f64::from(b))),
        sex: input.sex,
    };
    let photo = up.take_photo()?;
    let analysis = analyze(&st, photo).await?;
    let v = blocking(|| {
        st.service
            .search(&caller.actor(), &analysis, k, include_closed, &meta)
    })?;
    Ok(Json(v).into_response())
}

async fn list_batches(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.list_batches(&caller.actor()))?;
    Ok(Json(v).into_response())
}

/// The queue's query: `all`, and the filters `case`, `band`, `state`,
/// `assignee`, `mine`, `unassigned` and `new` (an empty value means "any").
#[derive(Deserialize, Default)]
pub(super) struct QueueQuery {
    #[serde(default)]
    pub all: Option<String>,
    #[serde(default)]
    pub case: Option<String>,
    #[serde(default)]
    pub band: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub mine: Option<String>,
    #[serde(default)]
    pub unassigned: Option<String>,
    #[serde(default)]
    pub new: Option<String>,
}

/// A yes/no query parameter, or a 400 naming it.
fn yes_no(name: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(bad_filter(format!(
            "`{name}` must be true or false, got `{}`",
            truncate(other)
        ))),
    }
}

/// A filter value that does not say what it should.
fn bad_filter(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_filter", message)
}

impl QueueQuery {
    /// The filter these parameters ask for, `me` being the caller's user
    /// name (for `mine`), or a 400 saying which value is wrong and what it
    /// may be.
    pub(super) fn filter(&self, me: &str) -> Result<QueueFilter, ApiError> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        let all = yes_no("all", given(&self.all))?;
        let mine = yes_no("mine", given(&self.mine))?;
        let unassigned = yes_no("unassigned", given(&self.unassigned))?;
        let new_only = yes_no("new", given(&self.new))?;
        let assignee = match (given(&self.assignee), mine) {
            (Some(_), _) | (_, true) if unassigned => {
                return Err(bad_filter(
                    "give `unassigned` or an assignee (`assignee`, `mine`), not both".to_string(),
                ))
            }
            _ if unassigned => Assignee::Unassigned,
            (Some(a), true) if a != me => {
                return Err(bad_filter(
                    "give `assignee` or `mine`, not both".to_string(),
                ))
            }
            (_, true) => Assignee::To(me.to_string()),
            (Some(a), false) if a.chars().count() > MAX_USERNAME_CHARS => {
                return Err(bad_filter(format!(
                    "`assignee` must be a user name, got `{}`",
                    truncate(a)
                )))
            }
            (Some(a), false) => Assignee::To(a.to_string()),
            (None, false) => Assignee::Anyone,
        };
        let case = match given(&self.case) {
            None => None,
            Some(c) => match c.parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(bad_filter(format!(
                        "`case` must be a case number such as 12, got `{}`",
                        truncate(c)
                    )))
                }
            },
        };
        let band = match given(&self.band) {
            None => None,
            Some("strong") => Some(ScoreBand::Strong),
            Some("possible") => Some(ScoreBand::Possible),
            Some("weak") => Some(ScoreBand::Weak),
            Some(b) => {
                return Err(bad_filter(format!(
                    "`band` must be strong, possible or weak, got `{}`",
                    truncate(b)
                )))
            }
        };
        let state = match given(&self.state) {
            None if all => None,
            None => Some(MatchState::Pending),
            Some("all") => None,
            Some("pending") => Some(MatchState::Pending),
            Some("confirmed") => Some(MatchState::Confirmed),
            Some("rejected") => Some(MatchState::Rejected),
            Some(x) => {
                return Err(bad_filter(format!(
                    "`state` must be pending, confirmed, rejected or all, got `{}`",
                    truncate(x)
                )))
            }
        };
        Ok(QueueFilter {
            case,
            band,
            state,
            assignee,
            new_only,
        })
    }
}

/// At most 40 characters of a bad value, to quote it back.
fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

async fn review_queue(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let f = q.filter(&caller.user.username)?;
    let v = blocking(|| st.service.review_queue_filtered(&caller.actor(), &f))?;
    Ok(Json(v).into_response())
}

/// The review queue as CSV, with the list's filters.
async fn review_csv(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let f = q.filter(&caller.user.username)?;
    let text = blocking(|| st.service.queue_csv(&caller.actor(), &f))?;
    Ok(csv_response("review-queue.csv", text))
}

/// The user names of active case-worker (and admin) accounts: the only
/// names a match may be assigned to.
pub(super) fn case_workers(st: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(blocking(|| st.auth.users())?
        .into_iter()
        .filter(|u| u.role >= Role::CaseWorker && !u.disabled)
        .map(|u| u.username)
        .collect())
}

/// Assigns a match to an active case worker, or (None) to nobody; shared
/// with the pages.
pub(super) fn do_assign(
    st: &AppState,
    caller: &Caller,
    id: u64,
    assignee: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(name) = assignee {
        if !case_workers(st)?.iter().any(|w| w == name) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_field",
                format!(
                    "`assignee` must be the user name of an active case-worker account (the review page lists them), or null to unassign; got `{}`",
                    truncate(name)
                ),
            ));
        }
    }
    blocking(|| st.service.assign(&caller.actor(), id, assignee))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignIn {
    #[serde(default)]
    assignee: Option<String>,
}

#[derive(Serialize)]
struct Assigned {
    match_id: u64,
    assignee: Option<String>,
}

async fn assign(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    b: Body<AssignIn>,
) -> Result<Json<Assigned>, ApiError> {
    caller.require(Role::CaseWorker)?;
    let a = body(b)?;
    do_assign(&st, &caller, id, a.assignee.as_deref())?;
    Ok(Json(Assigned {
        match_id: id,
        assignee: a.assignee,
    }))
}

async fn review_item(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    caller.require(Role::CaseWorker)?;
    let v = blocking(|| st.service.review_item(&caller.actor(), id))?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize, Default)]
struct DecisionIn {
    note: Option<String>,
}

#[derive(Serialize)]
struct DecisionOut {
    match_id: u64,
    state: &'static str,
}

/// Checks a reviewer's note and records the decision; shared with the page.
pub(super) fn do_decide(
    st: &AppState,
    caller: &Caller,
    id: u64,
    state: MatchState,
    note: Option<&str>,
) -> Result<(), ApiError> {
    let note = check_len("note", note.map(str::trim).filter(|n| !n.is_empty()), 2000)?;
    blocking(|| {
        st.service
            .decide(&caller.actor(), id, state, note.as_deref())
    })
}

/// An optional JSON body: empty means no note.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::unsupported_media(
            "send the body as application/json, e.g. {\"note\": \"...\"}",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::unprocessable(format!("invalid JSON body: {e}")))
}

async fn decide(
    st: AppState,
    caller: Caller,
    id: u64,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
    state: MatchState,
) -> Result<Json<DecisionOut>, ApiError> {
    caller.require(Role::CaseWorker)?;
    let d: DecisionIn = optional_json(&headers, &bytes)?;
    do_decide(&st, &caller, id, state, d.note.as_deref())?;
    Ok(Json(DecisionOut {
        match_id: id,
        state: if state == MatchState::Confirmed {
            "confirmed"
        } else {
            "rejected"
        },
    }))
}

async fn confirm(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Json<DecisionOut>, ApiError> {
    decide(st, caller, id, headers, bytes, MatchState::Confirmed).await
}

async fn reject(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Json<DecisionOut>, ApiError> {
    decide(st, caller, id, headers, bytes, MatchState::Rejected).await
}

#[derive(Serialize)]
struct UndoOut {
    match_id: u64,
    state: &'static str,
    was: &'static str,
}

/// Takes back a decision: the match is pending again and a confirmation's
/// enrolled face leaves the case's gallery.
async fn undo(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<UndoOut>, ApiError> {
    caller.require(Role::CaseWorker)?;
    let was = blocking(|| st.service.undo(&caller.actor(), id))?;
    Ok(Json(UndoOut {
        match_id: id,
        state: MatchState::Pending.as_str(),
        was: was.as_str(),
    }))
}

// ---------- admin ----------

#[derive(Serialize)]
struct UserOut {
    id: u64,
    username: String,
    role: &'static str,
    disabled: bool,
}

async fn list_users(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let users = blocking(|| st.auth.users())?;
    blocking(|| {
        st.auth.log(
            &caller.actor(),
            "list_users",
            &format!("users:{}", users.len()),
        )
    })?;
    let out: Vec<UserOut> = users
        .into_iter()
        .map(|u| UserOut {
            id: u.id,
            username: u.username,
            role: u.role.as_str(),
            disabled: u.disabled,
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
pub(super) struct UserIn {
    pub username: String,
    pub password: String,
    pub role: String,
}

pub(super) fn do_create_user(st: &AppState, caller: &Caller, u: &UserIn) -> Result<u64, ApiError> {
    let role = Role::parse(&u.role).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "role must be volunteer, caseworker or admin, got `{}`",
            u.role
        ))
    })?;
    let id = blocking(|| st.auth.create_user(&u.username, &u.password, role))?;
    blocking(|| {
        st.auth
            .log(&caller.actor(), "create_user", &format!("user:{id}"))
    })?;
    Ok(id)
}

async fn create_user(
    State(st): State<AppState>,
    caller: Caller,
    b: Body<UserIn>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    caller.require(Role::Admin)?;
    let u = body(b)?;
    let id = do_create_user(&st, &caller, &u)?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Deserialize)]
struct UserPatch {
    disabled: bool,
}

async fn update_user(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    b: Body<UserPatch>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let p = body(b)?;
    if id == caller.user.id && p.disabled {
        return Err(ApiError::conflict("you cannot disable your own account"));
    }
    blocking(|| st.auth.set_disabled(id, p.disabled))?;
    let action = if p.disabled {
        "disable_user"
    } else {
        "enable_user"
    };
    blocking(|| st.auth.log(&caller.actor(), action, &format!("user:{id}")))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct TokenOut {
    id: u64,
    user_id: u64,
    username: String,
    name: String,
    created_at: i64,
    revoked: bool,
}

async fn list_tokens(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let v = blocking(|| st.auth.tokens())?;
    let out: Vec<TokenOut> = v
        .into_iter()
        .map(|t| TokenOut {
            id: t.id,
            user_id: t.user_id,
            username: t.username,
            name: t.name,
            created_at: t.created_at,
            revoked: t.revoked,
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
pub(super) struct TokenIn {
    pub user_id: u64,
    pub name: String,
}

#[derive(Serialize)]
pub(super) struct TokenCreated {
    pub id: u64,
    /// Shown once; only its SHA-256 is stored.
    pub token: String,
}

pub(super) fn do_create_token(
    st: &AppState,
    caller: &Caller,
    t: &TokenIn,
) -> Result<TokenCreated, ApiError> {
    let (id, token) = blocking(|| st.auth.create_token(t.user_id, &t.name))?;
    blocking(|| {
        st.auth
            .log(&caller.actor(), "create_token", &format!("token:{id}"))
    })?;
    Ok(TokenCreated { id, token })
}

async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    b: Body<TokenIn>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    caller.require(Role::Admin)?;
    let t = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(do_create_token(&st, &caller, &t)?),
    ))
}

async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    blocking(|| st.auth.revoke_token(id))?;
    blocking(|| {
        st.auth
            .log(&caller.actor(), "revoke_token", &format!("token:{id}"))
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
}

#[derive(Serialize)]
struct AuditOut {
    id: u64,
    at: i64,
    actor: String,
    action: String,
    target: String,
}

async fn audit_log(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let limit = q.limit.unwrap_or(200).clamp(1, 10_000);
    blocking(|| {
        st.auth
            .log(&caller.actor(), "read_access_log", "access_log")
    })?;
    let v = blocking(|| st.auth.access_log(limit))?;
    let out: Vec<AuditOut> = v
        .into_iter()
        .map(|e| AuditOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
        })
        .collect();
    Ok(Json(out).into_response())
}
