//! The web front: HTTP API, server-rendered pages, accounts and roles,
//! sessions with CSRF protection, API tokens, rate limits, timeouts and
//! security headers. See `docs/adr-web.md`.
//!
//! Layout: `auth` (auth.sqlite: users, sessions, tokens, access log),
//! `session` (who is calling), `service` (the one seam over the registry
//! and face engine), `api` (JSON handlers), `pages` (HTML), `case_pages`
//! (a case's page, timeline and print page), `openapi`.

mod admission;
mod api;
mod archive;
mod archive_page;
mod auth;
mod case_pages;
mod error;
mod i18n;
mod login_throttle;
mod metadata;
mod multipart;
#[cfg(test)]
mod multipart_tests;
mod openapi;
mod pages;
mod ratelimit;
mod service;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use axum::Router;
use homeward_core::faces::{FaceEngine, FaceOptions};
use homeward_core::intake::Limits;
use homeward_core::sface::SFace;
use homeward_core::store::SqliteOutbox;
use homeward_core::store::{MatchStore, ReadStore, Registry, StoreError};
use homeward_match::notify::{
    Channel, Delivery, EmailText, Notification, Notifier, Outbox, Smtp, SmtpConfig, Webhook,
    WebhookConfig,
};
use homeward_match::{Analysis, Analyzer};
use homeward_pg::{ChangeListener, PgOutbox, PgReader, PgStore, POLL_INTERVAL};

pub use admission::default_analysis_budget;
use admission::Admission;
pub use auth::{AuthError, AuthStore, Role, MIN_PASSWORD_CHARS};
pub use error::ApiError;
use login_throttle::LoginThrottle;
use ratelimit::RateLimiter;
use service::Service;

/// Everything `homeward serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The registry served.
    pub registry: Served,
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Mark cookies `Secure` (serve behind TLS). Off only for plain-HTTP loopback tests.
    pub secure_cookies: bool,
    /// Longest time a request may take, body upload included.
    pub request_timeout: Duration,
    /// Requests per minute per account (burst: `rate_burst`).
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    /// Photo uploads (sightings, searches, case photos) per minute per account.
    pub upload_per_minute: u32,
    pub upload_burst: u32,
    /// Photos analysed at once; further uploads wait.
    pub analysis_workers: usize,
    /// Memory all analyses together may use, bytes (each is charged its
    /// estimate from `intake::AnalysisCost`).
    pub analysis_budget: u64,
    /// Uploads that may wait for an analysis slot; beyond it, 503.
    pub analysis_queue: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (the client is
    /// the address to the left of the last trusted hop).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Upload limits (bytes, pixels), as for the CLI.
    pub limits: Limits,
    /// Face pipeline options.
    pub face: FaceOptions,
    /// Where new strong and possible matches are announced.
    pub notify: NotifySettings,
}

/// Where the served registry is.
#[derive(Clone)]
pub enum Served {
    /// A registry directory (`registry.sqlite`, `auth.sqlite`, photos):
    /// this process owns it.
    Dir(PathBuf),
    /// A PostgreSQL database shared with other servers, workers and the
    /// CLI; photo files under `photo_root` (the same for every process).
    Postgres {
        /// `postgres://…` (may hold a password: never shown).
        url: String,
        /// The shared photo directory.
        photo_root: PathBuf,
    },
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Served::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            Served::Postgres { photo_root, .. } => f
                .debug_struct("Postgres")
                .field("url", &"<hidden>")
                .field("photo_root", photo_root)
                .finish(),
        }
    }
}

/// Notification channels of `homeward serve` (all optional).
#[derive(Debug, Clone, Default)]
pub struct NotifySettings {
    /// POST a JSON notification here.
    pub webhook: Option<WebhookConfig>,
    /// Email through this server.
    pub smtp: Option<SmtpConfig>,
    /// The address people open the pages at, for links; default the
    /// address the server listens on.
    pub public_url: Option<String>,
    /// A match not delivered this long after it was queued is given up
    /// (logged); `None`: the library's default (3 days).
    pub give_up_after: Option<Duration>,
}

impl NotifySettings {
    /// The configured channels; a bad setting stops the server at start.
    fn channels(&self) -> Result<Vec<Box<dyn Channel>>, ServerError> {
        let setup = |e: homeward_match::notify::NotifyError| ServerError::Setup(e.to_string());
        let mut out: Vec<Box<dyn Channel>> = Vec::new();
        if let Some(w) = &self.webhook {
            out.push(Box::new(Webhook::new(w.clone()).map_err(setup)?));
        }
        if let Some(m) = &self.smtp {
            out.push(Box::new(Smtp::new(m, Box::new(email_text)).map_err(setup)?));
        }
        Ok(out)
    }
}

/// A notification email in Simplified Chinese, then English.
fn email_text(n: &Notification) -> EmailText {
    let one = |l: i18n::Lang| {
        let band = i18n::tr(l, &format!("band-{}", n.band.name()));
        let args = [
            ("band", i18n::Arg::from(band.as_str())),
            ("id", n.match_id.into()),
            ("sighting", n.sighting_id.into()),
            ("case", n.case_id.into()),
            ("link", n.link.as_str().into()),
        ];
        (
            i18n::tr_args(l, "email-subject", &args),
            i18n::tr_args(l, "email-body", &args),
        )
    };
    let (zs, zb) = one(i18n::Lang::ZhCn);
    let (es, eb) = one(i18n::Lang::En);
    EmailText {
        subject: format!("{zs} / {es}"),
        body: format!("{zb}\n\n----\n\n{eb}\n"),
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("registry: {0}")]
    Store(#[from] homeward_core::store::StoreError),
    #[error("registry: {0}")]
    Match(#[from] homeward_match::MatchError),
    #[error("face models: {0}")]
    Model(#[from] homeward_core::dlib::ModelError),
    #[error("cannot listen on {addr}: {source}; is another server using the port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// What every handler can reach.
pub struct Shared {
    service: Arc<Service>,
    auth: Arc<AuthStore>,
    config: ServerConfig,
    rate: RateLimiter,
    uploads: RateLimiter,
    logins: LoginThrottle,
    admission: Arc<Admission>,
    archive: Arc<archive::Archive>,
}

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    fn session_cookie(&self) -> &'static str {
        if self.config.secure_cookies {
            "__Host-hw_session"
        } else {
            "hw_session"
        }
    }
    /// Largest request body: the photo limit plus room for the form fields.
    fn body_limit(&self) -> usize {
        usize::try_from(self.config.limits.max_file_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(256 * 1024)
    }
    /// The client's address: the peer, or what a trusted proxy forwarded.
    fn client_ip(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        login_throttle::client_ip(peer.ip(), xff, &self.config.trusted_proxies)
    }
    fn login_cookie(&self) -> &'static str {
        if self.config.secure_cookies {
            "__Host-hw_login"
        } else {
            "hw_login"
        }
    }
}

/// Runs blocking work (SQLite, argon2) on the current worker thread while
/// the runtime moves other tasks elsewhere.
fn blocking<T, E: Into<ApiError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, ApiError> {
    tokio::task::block_in_place(f).map_err(Into::into)
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid { field, why } => {
                ApiError::unprocessable(format!("invalid {field}: {why}"))
            }
            AuthError::Exists { .. } => ApiError::conflict(e.to_string()),
            AuthError::NotFound { what, .. } => ApiError::not_found(what),
            other => {
                eprintln!("homeward serve: auth store: {other}");
                ApiError::internal("using the account store")
            }
        }
    }
}

/// A router that remembers its routes, so the OpenAPI test can compare.
struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }
    fn add(mut self, method: &'static str, path: &'static str, mr: MethodRouter<AppState>) -> Self {
        self.list.push((method, path));
        self.router = self.router.route(path, mr);
        self
    }
    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("get", path, routing::get(h))
    }
    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("post", path, routing::post(h))
    }
    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("delete", path, routing::delete(h))
    }
    fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("patch", path, routing::patch(h))
    }
}

fn routes() -> Routes {
    let r = api::routes(Routes::new());
    archive_page::routes(case_pages::routes(pages::routes(r)))
}

/// Security headers on every response; `no-store` except on static assets.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/") || req.uri().path() == "/favicon.ico";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(self), geolocation=(self), microphone=()",
    );
    if is_static {
        set(h, "cache-control", "public, max-age=3600");
    } else {
        set(h, "cache-control", "no-store");
    }
    res
}

/// Gives every error response a JSON body, whatever produced it (extractor
/// rejections, unknown routes, wrong methods), unless it is already JSON or
/// an HTML page.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") || ct.starts_with("text/html") {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        _ if status.is_server_error() => "internal",
        _ => "error",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Bounds the time of a whole request, body included.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            // The route only: ids, never query strings or bodies.
            tracing::warn!(
                event = "request_timeout",
                %method,
                path = %path,
                timeout_s = state.config.request_timeout.as_secs(),
                "request timed out; its analysis (if any) is cancelled"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {} s; try a smaller photo or try again later",
                    state.config.request_timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::not_found("route").into_response()
    } else {
        pages::error_page(&ApiError::not_found("page"))
    }
}

/// The application with its middleware, ready to serve.
fn app(state: AppState) -> Router {
    let body_limit = state.body_limit();
    routes()
        .router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(i18n::scope))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Gives stored faces their vectors from a newly added model in the
/// background, a few at a time, while the server answers (a registry that
/// added SFace, or one whose job was interrupted). Ends when none is left,
/// at shutdown, or on an error (reported; the next start goes on).
fn spawn_reembed(service: Arc<Service>) {
    const BATCH: usize = 4;
    let spawned = std::thread::Builder::new()
        .name("reembed".into())
        .spawn(move || loop {
            match service.reembed_step(BATCH) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("homeward serve: re-embedding stopped: {}", e.message);
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("homeward serve: cannot start re-embedding: {e}");
    }
}

/// What [`open_registry`] opens.
type Opened = (
    Box<dyn MatchStore + Send>,
    service::OpenReader,
    Option<ChangeListener>,
);

/// The served registry, its read connections and, on a shared database,
/// a listener for other processes' changes. A SQLite registry first takes
/// over the sighting notes older builds kept in the account store.
/// The notifications' outbox of the served registry, on a connection of its
/// own (the registry is already open, and so migrated).
fn open_outbox(at: &Served) -> Result<Box<dyn Outbox>, ServerError> {
    match at {
        Served::Dir(dir) => Ok(Box::new(SqliteOutbox::open(dir).map_err(|e| {
            ServerError::Setup(format!("cannot open the notifications' outbox: {e}"))
        })?)),
        Served::Postgres { url, .. } => Ok(Box::new(PgOutbox::connect(url).map_err(|e| {
            ServerError::Setup(format!("cannot open the notifications' outbox: {e}"))
        })?)),
    }
}

fn open_registry(at: &Served, auth: &AuthStore) -> Result<Opened, ServerError> {
    match at {
        Served::Dir(dir) => {
            let mut registry = Registry::open(dir)?;
            auth.move_notes_to(&mut registry).map_err(|e| {
                ServerError::Setup(format!(
                    "cannot move the sighting notes into the registry: {e}"
                ))
            })?;
            // Readers open the registry file beside the writer (WAL).
            let dir = dir.clone();
            let open_reader: service::OpenReader = Box::new(move || {
                Ok(Box::new(Registry::reader_at(&dir)?) as Box<dyn ReadStore + Send>)
            });
            Ok((Box::new(registry), open_reader, None))
        }
        Served::Postgres { url, photo_root } => {
            let store = PgStore::connect_shared(url, photo_root)
                .map_err(|e| ServerError::Setup(e.to_string()))?;
            let listener = store
                .listen()
                .map_err(|e| ServerError::Setup(e.to_string()))?;
            let url = url.clone();
            let location = store.location();
            let open_reader: service::OpenReader = Box::new(move || {
                PgReader::connect(&url)
                    .map(|r| Box::new(r) as Box<dyn ReadStore + Send>)
                    .map_err(|e| StoreError::Database {
                        target: location.clone(),
                        hint: "the registry's database cannot be read; check that PostgreSQL \
                               is up, then reload"
                            .into(),
                        source: Box::new(e),
                    })
            });
            Ok((Box::new(store), open_reader, Some(listener)))
        }
    }
}

/// Follows the changes other servers, workers and the CLI commit to a
/// shared registry: each announcement (or every [`POLL_INTERVAL`] when
/// none comes) brings this process's indexes up to date, so a case
/// registered or erased elsewhere shows in (or leaves) this server's
/// answers within about a second. Stops when the registry is closed.
fn spawn_follower(service: Arc<Service>, mut listener: ChangeListener) {
    let spawned = std::thread::Builder::new()
        .name("follower".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                listener.wait(POLL_INTERVAL);
                if service.is_closed() {
                    break;
                }
                match service.refresh() {
                    Ok(()) => failing = false,
                    Err(e) => {
                        if !failing {
                            eprintln!(
                                "homeward serve: cannot follow the registry's changes: {}",
                                e.message
                            );
                        }
                        failing = true;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("homeward serve: cannot start following the registry's changes: {e}");
    }
}

/// Opens the registry and face engine, listens on `config.addr` and serves
/// until SIGINT/SIGTERM; then closes the registry cleanly. Prints
/// `listening on http://ADDR` on stdout once ready.
pub fn run(config: ServerConfig, auth: AuthStore) -> Result<(), ServerError> {
    i18n::check_time_zone().map_err(ServerError::Setup)?;
    let analyzer = Analyzer::with_models(
        FaceEngine::bundled()?,
        vec![Box::new(SFace::bundled()?)],
        Analysis {
            limits: config.limits,
            detect: config.face.detect,
            jitter: config.face.embed.jitter,
        },
    );
    let channels = config.notify.channels()?;
    let auth = Arc::new(auth);
    let (store, open_reader, listener) = open_registry(&config.registry, &auth)?;
    let service = Arc::new(
        Service::new(store, open_reader, analyzer, auth.clone()).map_err(ServerError::Setup)?,
    );
    if let Some(listener) = listener {
        spawn_follower(service.clone(), listener);
    }
    spawn_reembed(service.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Setup(format!("cannot start the async runtime: {e}")))?;
    let admission = Admission::new(
        config.analysis_budget,
        config.analysis_workers,
        config.analysis_queue,
    );
    let gate = archive::Gate {
        admission: admission.clone(),
        limits: config.limits,
        handle: rt.handle().clone(),
    };
    let archive = archive::Archive::start(&config.registry, service.clone(), gate);
    let state = AppState(Arc::new(Shared {
        service: service.clone(),
        auth,
        rate: RateLimiter::new(config.rate_per_minute, config.rate_burst),
        uploads: RateLimiter::new(config.upload_per_minute, config.upload_burst),
        logins: LoginThrottle::new(),
        admission,
        // Kept here too: its queue connection (PostgreSQL) must close
        // after the runtime, whose context a blocking client refuses.
        archive: archive.clone(),
        config: config.clone(),
    }));
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.addr,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        tracing::info!(
            event = "serving",
            analysis_budget_mib = state.admission.budget() >> 20,
            analysis_workers = state.config.analysis_workers,
            analysis_queue = state.config.analysis_queue,
            max_analysis_mib = state.config.limits.max_analysis_bytes >> 20,
            trusted_proxies = state.config.trusted_proxies.len(),
            "admission control"
        );
        if !channels.is_empty() {
            let public = config
                .notify
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{local}"));
            let mut delivery = Delivery::default();
            if let Some(g) = config.notify.give_up_after {
                delivery.give_up_after = g;
            }
            tracing::info!(
                event = "notifications",
                channels = channels.len(),
                give_up_after_h = delivery.give_up_after.as_secs() / 3600,
                "strong and possible matches will be announced (owed ones kept in the registry)"
            );
            let outbox = open_outbox(&config.registry)?;
            state.service.set_notifier(
                Arc::new(Notifier::with_outbox(channels, outbox, &public, delivery)),
                public,
            );
        }
        if let Served::Dir(dir) = &config.registry {
            // A CLI that finds the registry held names this server.
            Registry::note_holder(dir, &format!("listening on http://{local}"));
        }
        println!("homeward serve: listening on http://{local}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(
            listener,
            app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| ServerError::Setup(format!("server stopped: {e}")))
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(archive);
    service.close_notifier();
    service.close()?;
    eprintln!("homeward serve: stopped, registry closed");
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_api_route_is_in_the_openapi_document_and_back() {
        let doc = openapi::document();
        let mut documented = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().expect("paths object") {
            for method in ops.as_object().expect("path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<(String, String)> = routes()
            .list
            .iter()
            .filter(|(_, p)| p.starts_with("/api/"))
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json documents unrouted paths: {extra:?}"
        );
        assert!(routed.len() >= 20, "{} API routes", routed.len());
        // Every operation states who may call it.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (m, op) in ops.as_object().unwrap() {
                assert!(
                    op["x-roles"].is_array(),
                    "{m} {path} does not state its roles (x-roles)"
                );
            }
        }
    }
}
