//! "Who should hear that a strong or possible match is waiting?"
//!
//! A [`Notification`] says that a match was queued for review: its ids, its
//! band and a link to the review page. It never carries a child's name, a
//! photo, a place or a submitter: whoever receives it signs in to see more.
//!
//! A [`Notifier`] owns a background thread, so sending never blocks or fails
//! the request that queued the match. What it owes is kept in an [`Outbox`]:
//! with a registry ([`Notifier::with_outbox`]) the registry itself is the
//! outbox (`homeward_core::store::SqliteOutbox`, `homeward_pg::PgOutbox`):
//! every pending match of a notified band ([`worth_notifying`]: strong and
//! possible, never weak) is owed on every configured [`Channel`] until it is
//! delivered there, so a notification survives a restart and a receiver's
//! long outage, and of several servers on one PostgreSQL registry exactly one
//! sends each. The thread re-derives what is owed at start, whenever a match
//! is queued ([`Notifier::notify`] only wakes it) and every
//! [`Delivery::poll`]; it retries with a doubling wait up to
//! [`Delivery::retry_max`] and gives up, logged, once a match is older than
//! [`Delivery::give_up_after`]. Without a registry ([`Notifier::start`]) the
//! outbox is this process's memory.
//!
//! Channels: a [`Webhook`] (HTTP POST of JSON over `http://` or `https://`,
//! verified against the bundled Mozilla roots plus an optional private CA; a
//! timeout, bounded immediate retries, an HMAC-SHA256 signature when a secret
//! is set) and [`Smtp`] email (STARTTLS, implicit TLS, or plain for a local
//! relay when the URL says so). Failures are logged with the match id and a
//! short reason, never a name, a place, a URL or an address.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use homeward_core::store::StoreError;
pub use homeward_core::store::{Outbox, OwedMatch, OwedQuery};
use serde::{Deserialize, Serialize};

use crate::ranking::Band;

/// Whether a match in `band` is worth a notification: strong and possible
/// matches are; weak ones wait in the queue without paging anyone.
pub fn worth_notifying(band: Band) -> bool {
    matches!(band, Band::Strong | Band::Possible)
}

/// "A match is waiting for review": ids, band and link only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `match_queued`.
    pub event: String,
    /// The queued match.
    pub match_id: u64,
    /// The sighting it came from.
    pub sighting_id: u64,
    /// The case it was ranked beside.
    pub case_id: u64,
    /// Its review band (`strong` or `possible`).
    pub band: Band,
    /// The review page (`{public_url}/review/{match_id}`).
    pub link: String,
    /// When it was queued, seconds since the Unix epoch (UTC).
    pub queued_at: i64,
}

impl Notification {
    /// A notification for match `match_id`, linking to `public_url`'s review page.
    pub fn queued(
        public_url: &str,
        match_id: u64,
        sighting_id: u64,
        case_id: u64,
        band: Band,
        queued_at: i64,
    ) -> Notification {
        Notification {
            event: "match_queued".to_string(),
            match_id,
            sighting_id,
            case_id,
            band,
            link: format!("{}/review/{match_id}", public_url.trim_end_matches('/')),
            queued_at,
        }
    }

    /// The idempotency key a receiver can use to drop a retried delivery.
    pub fn delivery_id(&self) -> String {
        format!("match-{}", self.match_id)
    }
}

/// Why a notification could not be configured or delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The webhook URL is not `http(s)://host[:port]/path`.
    #[error("the webhook URL must start with https:// (or http:// for a receiver on a trusted network); got a URL starting `{scheme}`")]
    WebhookScheme {
        /// What the URL started with.
        scheme: String,
    },
    /// The extra CA certificate file is not PEM certificates.
    #[error("the notification CA file holds no usable PEM certificate ({why}); give the private CA's certificate as `-----BEGIN CERTIFICATE-----` PEM")]
    Ca {
        /// What is wrong with it.
        why: String,
    },
    /// The SMTP URL is not `smtp[s]://[user:password@]host[:port][?tls=…]`.
    #[error("the SMTP URL must look like smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465 (TLS) or smtp://relay:25?tls=none (plain, a local relay only): {why}")]
    SmtpUrl {
        /// What is wrong with it.
        why: String,
    },
    /// An email address (sender or recipient) did not parse.
    #[error("`{address}` is not an email address; give addresses like team@example.org")]
    Address {
        /// The address as given.
        address: String,
    },
    /// Email is configured without a recipient.
    #[error("SMTP is configured but no recipient is: give at least one --notify-email address")]
    NoRecipient,
    /// The receiver answered with a status that will not change on retry.
    #[error("the webhook answered HTTP {status}")]
    Status {
        /// HTTP status.
        status: u16,
    },
    /// The receiver could not be reached or did not answer in time.
    #[error("the webhook could not be reached: {kind}")]
    Transport {
        /// A short reason without the URL (`timeout`, `connection refused` …).
        kind: String,
    },
    /// The SMTP server refused or could not be reached.
    #[error("email could not be sent: {kind}")]
    Smtp {
        /// A short reason without addresses.
        kind: String,
    },
}

/// One way of delivering notifications.
pub trait Channel: Send + Sync {
    /// Short name for logs (`webhook`, `email`).
    fn name(&self) -> &'static str;
    /// Delivers one notification, retrying as the channel sees fit.
    fn send(&self, n: &Notification) -> Result<(), NotifyError>;
}

/// The webhook's settings.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://host[:port]/path`.
    pub url: String,
    /// When set, every request carries `X-Homeward-Signature: sha256=<hex>`,
    /// the HMAC-SHA256 of the body under this key.
    pub secret: Option<Vec<u8>>,
    /// Longest time one attempt may take, connection included.
    pub timeout: Duration,
    /// Attempts in all (1–5); retried on no answer, 429 and 5xx.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each next one.
    pub backoff: Duration,
    /// PEM certificates of a private CA trusted for `https://` beside the
    /// bundled Mozilla roots (the organisation's own receiver).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a token and the secret is a secret.
        f.debug_struct("WebhookConfig")
            .field("url", &"<set>")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("extra_ca", &self.extra_ca_pem.is_some())
            .finish()
    }
}

impl WebhookConfig {
    /// Settings for `url` with the defaults: 10 s per attempt, 3 attempts, 1 s backoff.
    pub fn new(url: &str, secret: Option<Vec<u8>>) -> WebhookConfig {
        WebhookConfig {
            url: url.to_string(),
            secret,
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_secs(1),
            extra_ca_pem: None,
        }
    }
}

/// The certificates of a PEM file (at least one).
fn pem_certs(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, NotifyError> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(_) => {
                return Err(NotifyError::Ca {
                    why: "it is not valid PEM".into(),
                })
            }
        }
    }
    if out.is_empty() {
        return Err(NotifyError::Ca {
            why: "no CERTIFICATE block".into(),
        });
    }
    Ok(out)
}

/// The roots a webhook trusts: Mozilla's (webpki), plus `extra` when given.
fn webhook_roots(extra: Option<&[u8]>) -> Result<ureq::tls::RootCerts, NotifyError> {
    let Some(pem) = extra else {
        return Ok(ureq::tls::RootCerts::WebPki);
    };
    let mut roots = pem_certs(pem)?;
    roots.extend(
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()),
    );
    Ok(ureq::tls::RootCerts::new_with_certs(&roots))
}

/// HTTP POST of the notification as JSON.
pub struct Webhook {
    config: WebhookConfig,
    agent: ureq::Agent,
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as sent in
/// `X-Homeward-Signature`. A receiver computes the same over the raw body
/// and compares in constant time.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

impl Webhook {
    /// A webhook sender; refuses a URL that is not `https://` or `http://`,
    /// and an extra CA file without a certificate.
    pub fn new(mut config: WebhookConfig) -> Result<Webhook, NotifyError> {
        if !(config.url.starts_with("https://") || config.url.starts_with("http://")) {
            let scheme: String = config
                .url
                .chars()
                .take_while(|c| *c != ':')
                .take(10)
                .collect();
            return Err(NotifyError::WebhookScheme { scheme });
        }
        config.attempts = config.attempts.clamp(1, 5);
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(webhook_roots(config.extra_ca_pem.as_deref())?)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Ok(Webhook { config, agent })
    }

    fn attempt(&self, body: &[u8], n: &Notification) -> Result<(), NotifyError> {
        let mut req = self
            .agent
            .post(&self.config.url)
            .header("Content-Type", "application/json")
            .header("X-Homeward-Event", n.event.as_str())
            .header("X-Homeward-Delivery", n.delivery_id());
        if let Some(secret) = &self.config.secret {
            req = req.header("X-Homeward-Signature", signature(secret, body));
        }
        match req.send(body) {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(NotifyError::Status {
                status: res.status().as_u16(),
            }),
            Err(e) => Err(NotifyError::Transport {
                kind: transport_kind(&e),
            }),
        }
    }
}

/// A reason for a failed request that names no URL.
fn transport_kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            "TLS failed (is the receiver's certificate trusted? see the notification CA setting)"
                .into()
        }
        ureq::Error::Io(io) => format!("{:?}", io.kind()),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => {
            "TLS failed (is the receiver's certificate trusted? see the notification CA setting)"
                .into()
        }
        _ => "request failed".into(),
    }
}

/// Whether another attempt may succeed.
fn retryable(e: &NotifyError) -> bool {
    match e {
        NotifyError::Status { status } => *status == 429 || *status >= 500,
        NotifyError::Transport { .. } => true,
        _ => false,
    }
}

impl Channel for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(n).map_err(|_| NotifyError::Transport {
            kind: "could not encode the notification".into(),
        })?;
        let mut wait = self.config.backoff;
        let mut last = None;
        for i in 0..self.config.attempts {
            if i > 0 {
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
            match self.attempt(&body, n) {
                Ok(()) => return Ok(()),
                Err(e) if retryable(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(NotifyError::Transport {
            kind: "no attempt made".into(),
        }))
    }
}

/// An email's subject and plain-text body.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailText {
    /// Subject line (UTF-8; encoded for the wire by the sender).
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub body: String,
}

impl EmailText {
    /// English text from the notification alone (fronts with translations
    /// give [`Smtp`] their own renderer).
    pub fn plain(n: &Notification) -> EmailText {
        EmailText {
            subject: format!("Homeward: a {} match is waiting for review", n.band.name()),
            body: format!(
                "Match {} (sighting {}, case {}) was queued for review as {}.\n\
                 Open it to compare the photos: {}\n\n\
                 Homeward ranks candidates for people to review; it never decides a match.\n",
                n.match_id,
                n.sighting_id,
                n.case_id,
                n.band.name(),
                n.link
            ),
        }
    }
}

/// How an email is worded.
pub type Render = Box<dyn Fn(&Notification) -> EmailText + Send + Sync>;

/// The SMTP settings.
#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtp://[user:password@]host[:port]`: STARTTLS required (port 587 by
    /// default); `smtps://…` implicit TLS (port 465); `smtp://host[:port]?tls=none`
    /// plain SMTP (port 25), for a relay on the same machine or network only.
    pub url: String,
    /// Sender address.
    pub from: String,
    /// Recipients (one message each, so no one sees the others' addresses).
    pub to: Vec<String>,
    /// Longest time one message may take.
    pub timeout: Duration,
    /// PEM certificates of a private CA trusted beside the bundled Mozilla roots.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &"<set>")
            .field("recipients", &self.to.len())
            .finish()
    }
}

/// Email through an SMTP server.
pub struct Smtp {
    transport: lettre::SmtpTransport,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    render: Render,
}

/// A user name and password for SMTP AUTH.
type Login = (String, String);

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS, required (the message is not sent without it).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: plain text, for a local relay only.
    None,
}

/// A parsed SMTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SmtpUrl {
    tls: SmtpTls,
    host: String,
    port: u16,
    login: Option<Login>,
}

/// `smtp[s]://[user:password@]host[:port][/][?tls=starttls|none]`.
fn parse_smtp_url(url: &str) -> Result<SmtpUrl, NotifyError> {
    let bad = |why: &str| NotifyError::SmtpUrl { why: why.into() };
    let (implicit, rest) = match url.strip_prefix("smtps://") {
        Some(r) => (true, r),
        None => (
            false,
            url.strip_prefix("smtp://")
                .ok_or_else(|| bad("it must start with smtp:// or smtps://"))?,
        ),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let tls = match (implicit, query) {
        (true, None) => SmtpTls::Implicit,
        (false, None) | (false, Some("tls=starttls")) | (false, Some("tls=required")) => {
            SmtpTls::StartTls
        }
        (false, Some("tls=none")) => SmtpTls::None,
        _ => {
            return Err(bad(
                "the only options are ?tls=starttls and ?tls=none (smtp:// only)",
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    let (creds, hostport) = match rest.rsplit_once('@') {
        Some((c, h)) => {
            let (u, p) = c
                .split_once(':')
                .ok_or_else(|| bad("give the credentials as user:password@"))?;
            (Some((u.to_string(), p.to_string())), h)
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| bad("the port must be a number from 1 to 65535"))?,
        ),
        None => (
            hostport,
            match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Implicit => 465,
                SmtpTls::None => 25,
            },
        ),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err(bad("the host is missing"));
    }
    Ok(SmtpUrl {
        tls,
        host: host.to_string(),
        port,
        login: creds,
    })
}

/// TLS parameters for `host`: Mozilla's roots plus the private CA's.
fn smtp_tls(
    host: &str,
    extra: Option<&[u8]>,
) -> Result<lettre::transport::smtp::client::TlsParameters, NotifyError> {
    use lettre::transport::smtp::client::{Certificate, TlsParameters};
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(pem) = extra {
        // Checked here so the error names the file's problem, not lettre's.
        for c in pem_certs(pem)? {
            let cert = Certificate::from_der(c.der().to_vec()).map_err(|_| NotifyError::Ca {
                why: "a certificate does not parse".into(),
            })?;
            b = b.add_root_certificate(cert);
        }
    }
    b.build_rustls().map_err(|_| NotifyError::Smtp {
        kind: "could not set up TLS".into(),
    })
}

fn mailbox(address: &str) -> Result<lettre::message::Mailbox, NotifyError> {
    address.trim().parse().map_err(|_| NotifyError::Address {
        address: address.to_string(),
    })
}

impl Smtp {
    /// An SMTP sender wording each message with `render`.
    pub fn new(config: &SmtpConfig, render: Render) -> Result<Smtp, NotifyError> {
        use lettre::transport::smtp::client::Tls;
        let url = parse_smtp_url(&config.url)?;
        if config.to.is_empty() {
            return Err(NotifyError::NoRecipient);
        }
        let tls = match url.tls {
            SmtpTls::StartTls => {
                Tls::Required(smtp_tls(&url.host, config.extra_ca_pem.as_deref())?)
            }
            SmtpTls::Implicit => Tls::Wrapper(smtp_tls(&url.host, config.extra_ca_pem.as_deref())?),
            SmtpTls::None => Tls::None,
        };
        let mut b = lettre::SmtpTransport::builder_dangerous(url.host.as_str())
            .port(url.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some((u, p)) = url.login {
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                u, p,
            ));
        }
        Ok(Smtp {
            transport: b.build(),
            from: mailbox(&config.from)?,
            to: config
                .to
                .iter()
                .map(|a| mailbox(a))
                .collect::<Result<_, _>>()?,
            render,
        })
    }
}

impl Channel for Smtp {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        use lettre::Transport;
        let text = (self.render)(n);
        for to in &self.to {
            let msg = lettre::Message::builder()
                .from(self.from.clone())
                .to(to.clone())
                .subject(text.subject.clone())
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(text.body.clone())
                .map_err(|_| NotifyError::Smtp {
                    kind: "could not build the message".into(),
                })?;
            self.transport.send(&msg).map_err(|e| NotifyError::Smtp {
                kind: match e.status() {
                    Some(code) => format!("server answered {code}"),
                    None if e.is_timeout() => "timeout".into(),
                    None if e.is_tls() || tls_refused(&e) => {
                        "TLS failed (is the server's certificate trusted? see the notification CA setting)"
                            .into()
                    }
                    None => "connection failed".into(),
                },
            })?;
        }
        Ok(())
    }
}

/// Whether `e` came from a TLS handshake that was refused (rustls reports
/// a bad certificate as invalid data on the stream).
fn tls_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        src = s.source();
    }
    false
}

/// What [`Notifier::notify`] did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Owed and the delivery thread woken.
    Queued,
    /// Weak (or below): no one is paged.
    NotWorthIt,
    /// This match was already taken once by this notifier.
    AlreadySent,
    /// The notifier is closed, or (in memory) holds `capacity` owed
    /// notifications already; dropped and logged. A registry's outbox is
    /// never full: the match row is the record.
    QueueFull,
}

/// Counts since start, for tests and health checks.
#[derive(Debug, Default)]
pub struct Counts {
    /// Deliveries that succeeded (per channel).
    pub delivered: AtomicU64,
    /// Attempts that failed (per channel; each is retried later until given up).
    pub failed: AtomicU64,
    /// Notifications dropped because the memory outbox was full or closed.
    pub dropped: AtomicU64,
    /// Notifications given up (per channel) after [`Delivery::give_up_after`].
    pub gave_up: AtomicU64,
}

/// When the delivery thread looks, retries and gives up.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// How often what is owed is re-derived from the outbox without a wake-up
    /// (another server's matches, retries that came due).
    pub poll: Duration,
    /// How long a claim keeps other servers off a match; longer than one
    /// delivery may take (a webhook's attempts × timeout plus backoff, an
    /// email's timeout × recipients).
    pub lease: Duration,
    /// Wait after the first failed delivery; doubled after each next one.
    pub retry_first: Duration,
    /// The longest wait between two deliveries.
    pub retry_max: Duration,
    /// A match not delivered this long after it was queued is given up
    /// (logged with its id and the reason).
    pub give_up_after: Duration,
    /// Matches claimed at a time.
    pub batch: usize,
}

impl Default for Delivery {
    /// Polls every 10 s; retries after 30 s, doubling up to 1 h; gives up
    /// after 3 days; leases of 5 min.
    fn default() -> Delivery {
        Delivery {
            poll: Duration::from_secs(10),
            lease: Duration::from_secs(300),
            retry_first: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            batch: 50,
        }
    }
}

impl Delivery {
    /// The wait after `attempts` failed deliveries (1, 2, …).
    fn retry_wait(&self, attempts: u32) -> Duration {
        let doubled = self
            .retry_first
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        doubled.min(self.retry_max)
    }
}

/// An owed notification kept in memory (a notifier without a registry).
#[derive(Debug, Clone)]
struct MemEntry {
    owed: OwedMatch,
    /// As given (its link included).
    note: Notification,
    channels: Vec<(String, MemState)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct MemState {
    attempts: u32,
    next_at: i64,
    claimed_until: i64,
    done: bool,
}

/// The outbox of a notifier without a registry: this process's memory, at
/// most `capacity` notifications not yet delivered or given up.
#[derive(Debug, Clone)]
pub struct MemoryOutbox {
    entries: Arc<Mutex<Vec<MemEntry>>>,
    capacity: usize,
    channels: usize,
}

impl MemoryOutbox {
    /// An empty outbox for at most `capacity` notifications owed on
    /// `channels` channels.
    pub fn new(capacity: usize, channels: usize) -> MemoryOutbox {
        MemoryOutbox {
            entries: Arc::new(Mutex::new(Vec::new())),
            capacity: capacity.max(1),
            channels,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MemEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `n`; false when full.
    fn offer(&self, n: &Notification) -> bool {
        let channels = self.channels;
        let mut e = self.lock();
        // Finished: delivered or given up on every channel.
        e.retain(|m| m.channels.len() < channels || m.channels.iter().any(|(_, s)| !s.done));
        if e.len() >= self.capacity {
            return false;
        }
        e.push(MemEntry {
            owed: OwedMatch {
                match_id: n.match_id,
                sighting_id: n.sighting_id,
                case_id: n.case_id,
                band: n.band.name().to_string(),
                // Aged from when it was taken, whatever time it carries.
                created_at: now_s(),
                attempts: 0,
            },
            note: n.clone(),
            channels: Vec::new(),
        });
        true
    }

    fn state<'a>(e: &'a mut MemEntry, channel: &str) -> &'a mut MemState {
        let i = match e.channels.iter().position(|(c, _)| c == channel) {
            Some(i) => i,
            None => {
                e.channels.push((channel.to_string(), MemState::default()));
                e.channels.len() - 1
            }
        };
        &mut e.channels[i].1
    }

    /// The notification as given for `match_id`.
    fn note(&self, match_id: u64) -> Option<Notification> {
        self.lock()
            .iter()
            .find(|m| m.owed.match_id == match_id)
            .map(|m| m.note.clone())
    }

    fn update(&self, match_id: u64, channel: &str, f: impl FnOnce(&mut MemState)) {
        let mut e = self.lock();
        if let Some(m) = e.iter_mut().find(|m| m.owed.match_id == match_id) {
            f(MemoryOutbox::state(m, channel));
        }
    }

    fn owed(&self, q: &OwedQuery<'_>, now: i64, due: bool) -> Vec<u64> {
        let mut e = self.lock();
        let mut out = Vec::new();
        for m in e.iter_mut() {
            if !q.bands.contains(&m.owed.band.as_str()) || (m.owed.created_at >= q.since) != due {
                continue;
            }
            let s = MemoryOutbox::state(m, q.channel);
            if !s.done && s.claimed_until <= now && (!due || s.next_at <= now) {
                out.push(m.owed.match_id);
            }
        }
        out.truncate(q.limit);
        out
    }
}

impl Outbox for MemoryOutbox {
    fn claim(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<OwedMatch>, StoreError> {
        let ids = self.owed(q, now, true);
        let mut e = self.lock();
        let mut out = Vec::new();
        for m in e.iter_mut().filter(|m| ids.contains(&m.owed.match_id)) {
            let s = MemoryOutbox::state(m, q.channel);
            s.claimed_until = now + q.lease_s;
            let attempts = s.attempts;
            out.push(OwedMatch {
                attempts,
                ..m.owed.clone()
            });
        }
        Ok(out)
    }

    fn delivered(&mut self, match_id: u64, channel: &str, _now: i64) -> Result<(), StoreError> {
        self.update(match_id, channel, |s| {
            s.done = true;
            s.attempts += 1;
        });
        Ok(())
    }

    fn retry_at(&mut self, match_id: u64, channel: &str, next_at: i64) -> Result<(), StoreError> {
        self.update(match_id, channel, |s| {
            s.next_at = next_at;
            s.claimed_until = 0;
            s.attempts += 1;
        });
        Ok(())
    }

    fn give_up(&mut self, match_id: u64, channel: &str, _now: i64) -> Result<(), StoreError> {
        self.update(match_id, channel, |s| s.done = true);
        Ok(())
    }

    fn overdue(&mut self, q: &OwedQuery<'_>, now: i64) -> Result<Vec<u64>, StoreError> {
        Ok(self.owed(q, now, false))
    }
}

/// The band of a stored band word.
fn band_named(word: &str) -> Option<Band> {
    [Band::Strong, Band::Possible, Band::Weak, Band::Below]
        .into_iter()
        .find(|b| b.name() == word)
}

/// The notified bands' words.
fn notified_bands() -> Vec<&'static str> {
    [Band::Strong, Band::Possible, Band::Weak, Band::Below]
        .into_iter()
        .filter(|b| worth_notifying(*b))
        .map(Band::name)
        .collect()
}

/// Seconds since the Unix epoch.
fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What the caller and the delivery thread share.
struct Shared {
    /// Set by `notify` (something new is owed) and `close`.
    wake: Mutex<bool>,
    cond: Condvar,
    closed: AtomicBool,
    counts: Counts,
}

impl Shared {
    fn wake(&self) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cond.notify_all();
    }

    /// Waits until woken or `limit` passed.
    fn wait(&self, limit: Duration) {
        let mut woken = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + limit;
        while !*woken {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            woken = match self.cond.wait_timeout(woken, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        *woken = false;
    }
}

/// The delivery thread's state.
struct Deliverer {
    outbox: Box<dyn Outbox>,
    /// The memory outbox's notifications, as given (links included).
    memory: Option<MemoryOutbox>,
    channels: Vec<Box<dyn Channel>>,
    public_url: String,
    delivery: Delivery,
    shared: Arc<Shared>,
}

impl Deliverer {
    fn run(mut self) {
        loop {
            // Read before the round: a close during it gets one more round.
            let closing = self.shared.closed.load(Ordering::Acquire);
            self.round();
            if closing {
                return;
            }
            self.shared.wait(self.delivery.poll);
        }
    }

    /// Gives up what is too old, then delivers everything owed and due.
    fn round(&mut self) {
        let bands = notified_bands();
        for c in 0..self.channels.len() {
            let channel = self.channels[c].name();
            let now = now_s();
            let q = OwedQuery {
                channel,
                bands: &bands,
                since: now - self.delivery.give_up_after.as_secs() as i64,
                lease_s: self.delivery.lease.as_secs().max(1) as i64,
                limit: self.delivery.batch.max(1),
            };
            match self.outbox.expire(&q, now) {
                Ok(ids) => {
                    for id in ids {
                        self.shared.counts.gave_up.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            event = "notify_gave_up",
                            channel,
                            match_id = id,
                            reason = "not delivered within the give-up time",
                            "a notification was given up; the match is still in the review queue"
                        );
                    }
                }
                Err(e) => return self.outbox_failed(&e),
            }
            loop {
                let now = now_s();
                let claimed = match self.outbox.claim(&q, now) {
                    Ok(c) => c,
                    Err(e) => return self.outbox_failed(&e),
                };
                if claimed.is_empty() {
                    break;
                }
                for owed in claimed {
                    if let Err(e) = self.deliver(c, &owed) {
                        return self.outbox_failed(&e);
                    }
                }
            }
        }
    }

    fn outbox_failed(&self, e: &StoreError) {
        let kind = match e {
            StoreError::Database { .. } => "database unreachable or refused",
            _ => "registry error",
        };
        tracing::warn!(
            event = "notify_outbox_failed",
            reason = kind,
            "could not read or mark the notifications owed; trying again at the next poll"
        );
    }

    /// One delivery of `owed` on channel `c`, recorded in the outbox.
    fn deliver(&mut self, c: usize, owed: &OwedMatch) -> Result<(), StoreError> {
        let channel = self.channels[c].name();
        let Some(band) = band_named(&owed.band) else {
            return self.outbox.give_up(owed.match_id, channel, now_s());
        };
        let given = self.memory.as_ref().and_then(|m| m.note(owed.match_id));
        let n = given.unwrap_or_else(|| {
            Notification::queued(
                &self.public_url,
                owed.match_id,
                owed.sighting_id,
                owed.case_id,
                band,
                owed.created_at,
            )
        });
        match self.channels[c].send(&n) {
            Ok(()) => {
                self.shared.counts.delivered.fetch_add(1, Ordering::Relaxed);
                self.outbox.delivered(owed.match_id, channel, now_s())
            }
            Err(e) => {
                self.shared.counts.failed.fetch_add(1, Ordering::Relaxed);
                let attempts = owed.attempts + 1;
                let next = now_s() + self.delivery.retry_wait(attempts).as_secs().max(1) as i64;
                let give_up_at = owed.created_at + self.delivery.give_up_after.as_secs() as i64;
                if next > give_up_at {
                    self.shared.counts.gave_up.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        event = "notify_gave_up",
                        channel,
                        match_id = owed.match_id,
                        attempts,
                        reason = %e,
                        "a notification was given up; the match is still in the review queue"
                    );
                    return self.outbox.give_up(owed.match_id, channel, now_s());
                }
                tracing::warn!(
                    event = "notify_failed",
                    channel,
                    match_id = owed.match_id,
                    attempts,
                    retry_in_s = next - now_s(),
                    reason = %e,
                    "a notification was not delivered yet; it will be tried again"
                );
                self.outbox.retry_at(owed.match_id, channel, next)
            }
        }
    }
}

/// Sends notifications from a background thread through every channel.
pub struct Notifier {
    memory: Option<MemoryOutbox>,
    taken: Mutex<HashSet<u64>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts a notifier without a registry: what it owes is kept in this
    /// process's memory (at most `capacity` notifications) and lost when it
    /// stops. Notifications carry the link each was given.
    pub fn start(channels: Vec<Box<dyn Channel>>, capacity: usize) -> Notifier {
        let memory = MemoryOutbox::new(capacity, channels.len());
        let delivery = Delivery {
            poll: Duration::from_secs(1),
            retry_first: Duration::from_secs(5),
            ..Delivery::default()
        };
        Notifier::spawn(
            channels,
            Box::new(memory.clone()),
            Some(memory),
            String::new(),
            delivery,
        )
    }

    /// Starts a notifier whose outbox is a registry's
    /// (`SqliteOutbox::open`, `homeward_pg::PgOutbox::connect`): it sends
    /// what is owed there, links under `public_url`, on the `delivery`
    /// schedule, beginning at once with what an earlier process left.
    pub fn with_outbox(
        channels: Vec<Box<dyn Channel>>,
        outbox: Box<dyn Outbox>,
        public_url: &str,
        delivery: Delivery,
    ) -> Notifier {
        Notifier::spawn(channels, outbox, None, public_url.to_string(), delivery)
    }

    fn spawn(
        channels: Vec<Box<dyn Channel>>,
        outbox: Box<dyn Outbox>,
        memory: Option<MemoryOutbox>,
        public_url: String,
        delivery: Delivery,
    ) -> Notifier {
        let shared = Arc::new(Shared {
            wake: Mutex::new(false),
            cond: Condvar::new(),
            closed: AtomicBool::new(false),
            counts: Counts::default(),
        });
        let d = Deliverer {
            outbox,
            memory: memory.clone(),
            channels,
            public_url,
            delivery,
            shared: Arc::clone(&shared),
        };
        let worker = std::thread::Builder::new()
            .name("homeward-notify".into())
            .spawn(move || d.run())
            .ok();
        if worker.is_none() {
            shared.closed.store(true, Ordering::Release);
            tracing::warn!(
                event = "notify_disabled",
                "could not start the notification thread"
            );
        }
        Notifier {
            memory,
            taken: Mutex::new(HashSet::new()),
            worker: Mutex::new(worker),
            shared,
        }
    }

    /// Says that a match was queued: only strong and possible matches are
    /// owed. With a registry the match's row already makes it owed and this
    /// only wakes the delivery thread; in memory it is kept (once per match).
    /// Never blocks.
    pub fn notify(&self, n: Notification) -> Taken {
        if !worth_notifying(n.band) {
            return Taken::NotWorthIt;
        }
        if self.shared.closed.load(Ordering::Acquire) {
            self.shared.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return Taken::QueueFull;
        }
        if !self
            .taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n.match_id)
        {
            return Taken::AlreadySent;
        }
        if let Some(m) = &self.memory {
            if !m.offer(&n) {
                self.shared.counts.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    event = "notify_dropped",
                    match_id = n.match_id,
                    "the notification queue is full; the match is still in the review queue"
                );
                return Taken::QueueFull;
            }
        }
        self.shared.wake();
        Taken::Queued
    }

    /// Deliveries so far.
    pub fn counts(&self) -> &Counts {
        &self.shared.counts
    }

    /// Stops taking notifications and waits at most `limit` for one last
    /// round of deliveries; returns whether it finished. Past the limit the
    /// delivery thread is left to finish on its own (a receiver that does
    /// not answer must not hold a server's shutdown for minutes). With a
    /// registry nothing is lost: what was not delivered is owed at the next
    /// start.
    pub fn close_within(&self, limit: Duration) -> bool {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake();
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(w) = worker else { return true };
        let (done_tx, done_rx) = mpsc::channel();
        let joiner = std::thread::Builder::new()
            .name("homeward-notify-close".into())
            .spawn(move || {
                let _ = w.join();
                let _ = done_tx.send(());
            });
        if joiner.is_err() {
            return false;
        }
        let done = done_rx.recv_timeout(limit).is_ok();
        if !done {
            tracing::warn!(
                event = "notify_unfinished",
                limit_s = limit.as_secs(),
                "stopped waiting for notifications still being delivered; their matches are in the review queue"
            );
        }
        done
    }

    /// Stops taking notifications and waits for one last round of deliveries.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake();
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = worker {
            let _ = w.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// The requests a receiver got: (head, body).
    type Got = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// A loopback HTTP receiver answering `status`; returns its URL and
    /// the requests it received.
    fn receiver(status: u16) -> (String, Got) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                g.lock().unwrap().push((head, body));
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        (url, got)
    }

    fn note(id: u64, band: Band) -> Notification {
        Notification::queued("http://hw.example/", id, 7, 3, band, 1_700_000_000)
    }

    fn fast(url: &str, secret: Option<&[u8]>) -> WebhookConfig {
        WebhookConfig {
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(10),
            ..WebhookConfig::new(url, secret.map(<[u8]>::to_vec))
        }
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn one_webhook_per_strong_or_possible_match_none_for_weak_none_twice() {
        let (url, got) = receiver(200);
        let hook = Webhook::new(fast(&url, Some(b"s3cret"))).unwrap();
        let n = Notifier::start(vec![Box::new(hook)], 16);
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::Queued);
        assert_eq!(n.notify(note(2, Band::Possible)), Taken::Queued);
        assert_eq!(n.notify(note(3, Band::Weak)), Taken::NotWorthIt);
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::AlreadySent);
        n.close();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        for (i, (head, body)) in got.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["match_id"], (i + 1) as u64);
            assert_eq!(v["event"], "match_queued");
            assert_eq!(v["link"], format!("http://hw.example/review/{}", i + 1));
            // Ids, band, link and time only: nothing personal.
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(keys.len(), 7, "unexpected fields in the payload: {keys:?}");
            let sig = signature(b"s3cret", body);
            assert!(
                head.to_ascii_lowercase()
                    .contains(&format!("x-homeward-signature: {sig}")),
                "{head}"
            );
            assert!(head.contains(&format!("match-{}", i + 1)), "{head}");
        }
        assert_eq!(n.counts().delivered.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn server_errors_are_retried_a_bounded_number_of_times() {
        let (url, got) = receiver(503);
        let hook = Webhook::new(fast(&url, None)).unwrap();
        let e = hook.send(&note(9, Band::Strong)).unwrap_err();
        assert!(matches!(e, NotifyError::Status { status: 503 }), "{e}");
        assert_eq!(got.lock().unwrap().len(), 3);
        // A 4xx will not change on retry: one attempt.
        let (url, got) = receiver(400);
        let hook = Webhook::new(fast(&url, None)).unwrap();
        assert!(hook.send(&note(9, Band::Strong)).is_err());
        assert_eq!(got.lock().unwrap().len(), 1);
        assert!(!got.lock().unwrap()[0]
            .0
            .to_ascii_lowercase()
            .contains("x-homeward-signature"));
    }

    #[test]
    fn an_unreachable_webhook_fails_without_blocking_the_caller() {
        // A port nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hook = Webhook::new(fast(&format!("http://127.0.0.1:{port}/x"), None)).unwrap();
        let n = Notifier::start(vec![Box::new(hook)], 4);
        let t = std::time::Instant::now();
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::Queued);
        assert!(t.elapsed() < Duration::from_millis(50));
        n.close();
        assert_eq!(n.counts().failed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn closing_waits_a_bounded_time_for_a_receiver_that_never_answers() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/slow", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in l.incoming().flatten() {
                held.push(c); // accepted, never answered
            }
        });
        let hook = Webhook::new(WebhookConfig {
            timeout: Duration::from_secs(3),
            ..fast(&url, None)
        })
        .unwrap();
        let n = Notifier::start(vec![Box::new(hook)], 4);
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::Queued);
        let t = std::time::Instant::now();
        assert!(!n.close_within(Duration::from_millis(200)));
        assert!(t.elapsed() < Duration::from_secs(2));
        // Closed: nothing more is taken.
        assert_eq!(n.notify(note(2, Band::Strong)), Taken::QueueFull);
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        assert!(Webhook::new(WebhookConfig::new("https://x.example/h", None)).is_ok());
        let e = Webhook::new(WebhookConfig::new("ftp://x.example/h", None))
            .err()
            .unwrap();
        assert!(e.to_string().contains("https://"), "{e}");
        let e = Webhook::new(WebhookConfig {
            extra_ca_pem: Some(b"not a certificate".to_vec()),
            ..WebhookConfig::new("https://x.example/h", None)
        })
        .err()
        .unwrap();
        assert!(matches!(e, NotifyError::Ca { .. }), "{e}");
        assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");
        let cfg = |url: &str, to: &[&str]| SmtpConfig {
            url: url.into(),
            from: "hw@example.org".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(1),
            extra_ca_pem: None,
        };
        let r = |c: &SmtpConfig| Smtp::new(c, Box::new(EmailText::plain)).err().unwrap();
        assert!(matches!(
            r(&cfg("http://x", &["a@b.c"])),
            NotifyError::SmtpUrl { .. }
        ));
        assert!(matches!(
            r(&cfg("smtp://x:port", &["a@b.c"])),
            NotifyError::SmtpUrl { .. }
        ));
        assert!(matches!(r(&cfg("smtp://x", &[])), NotifyError::NoRecipient));
        assert!(matches!(
            r(&cfg("smtp://x", &["not an address"])),
            NotifyError::Address { .. }
        ));
        assert!(matches!(
            r(&cfg("smtp://x?tls=maybe", &["a@b.c"])),
            NotifyError::SmtpUrl { .. }
        ));
        assert_eq!(
            parse_smtp_url("smtp://u:p@relay.example:587").unwrap(),
            SmtpUrl {
                tls: SmtpTls::StartTls,
                host: "relay.example".into(),
                port: 587,
                login: Some(("u".into(), "p".into()))
            }
        );
        let port_tls = |u: &str| {
            let p = parse_smtp_url(u).unwrap();
            (p.port, p.tls)
        };
        assert_eq!(port_tls("smtp://relay"), (587, SmtpTls::StartTls));
        assert_eq!(port_tls("smtps://relay"), (465, SmtpTls::Implicit));
        assert_eq!(port_tls("smtp://relay?tls=none"), (25, SmtpTls::None));
        assert_eq!(
            port_tls("smtp://relay:2525/?tls=none"),
            (2525, SmtpTls::None)
        );
    }

    /// A minimal SMTP receiver on loopback: returns its port and the DATA
    /// of every message.
    fn smtp_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let _ = write!(s, "220 test ESMTP\r\n");
                let mut data: Option<String> = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            g.lock().unwrap().push(data.take().unwrap_or_default());
                            let _ = write!(s, "250 queued\r\n");
                        } else {
                            d.push_str(&line);
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply = if cmd.starts_with("EHLO") {
                        "250-test\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        data = Some(String::new());
                        "354 go on\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = write!(s, "221 bye\r\n");
                        break;
                    } else {
                        "250 ok\r\n"
                    };
                    let _ = write!(s, "{reply}");
                }
            }
        });
        (port, got)
    }

    #[test]
    fn one_email_per_strong_or_possible_match_to_each_recipient() {
        let (port, got) = smtp_receiver();
        let smtp = Smtp::new(
            &SmtpConfig {
                url: format!("smtp://127.0.0.1:{port}?tls=none"),
                from: "homeward@example.org".into(),
                to: vec!["team@example.org".into()],
                timeout: Duration::from_secs(5),
                extra_ca_pem: None,
            },
            Box::new(|n: &Notification| EmailText {
                subject: format!("强匹配 {}", n.match_id),
                body: format!("请复核：{}", n.link),
            }),
        )
        .unwrap();
        let n = Notifier::start(vec![Box::new(smtp)], 8);
        n.notify(note(5, Band::Strong));
        n.notify(note(5, Band::Strong));
        n.notify(note(6, Band::Weak));
        n.close();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        let m = &got[0];
        assert!(m.contains("To: team@example.org"), "{m}");
        // The subject is RFC 2047-encoded UTF-8; the body names the link.
        assert!(m.contains("Subject: =?utf-8?"), "{m}");
        assert!(m.contains("review/5") || m.contains("review/=\r\n5"), "{m}");
        assert_eq!(n.counts().delivered.load(Ordering::Relaxed), 1);
    }

    /// A CA made now, and a certificate it signed for 127.0.0.1 and
    /// localhost: (CA PEM, server rustls config).
    fn test_ca() -> (String, Arc<rustls::ServerConfig>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Homeward test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), ca.der().clone()], der)
            .unwrap();
        (ca.pem(), Arc::new(cfg))
    }

    /// A loopback HTTPS receiver answering 200: its URL, the requests'
    /// bodies, and how many TLS handshakes failed.
    fn tls_receiver(cfg: Arc<rustls::ServerConfig>) -> (String, Got, Arc<AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/hook", l.local_addr().unwrap());
        let got: Got = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicU64::new(0));
        let (g, f) = (Arc::clone(&got), Arc::clone(&refused));
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(tcp) = conn else { continue };
                let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut head = String::new();
                let mut len = 0;
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                let mut ok = true;
                loop {
                    match tls.read(&mut byte) {
                        Ok(1) => line.push(byte[0]),
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                    if line.ends_with(b"\n") {
                        let l = String::from_utf8_lossy(&line).to_string();
                        line.clear();
                        if l == "\r\n" {
                            break;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&l);
                    }
                }
                if !ok {
                    f.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let mut body = vec![0; len];
                let _ = tls.read_exact(&mut body);
                g.lock().unwrap().push((head, body));
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        (url, got, refused)
    }

    #[test]
    fn an_https_webhook_is_delivered_once_with_the_private_ca_and_refused_without_it() {
        let (ca_pem, cfg) = test_ca();
        let (url, got, refused) = tls_receiver(cfg);
        // Trusted through the extra CA: delivered exactly once.
        let hook = Webhook::new(WebhookConfig {
            extra_ca_pem: Some(ca_pem.into_bytes()),
            ..fast(&url, Some(b"k"))
        })
        .unwrap();
        let n = Notifier::start(vec![Box::new(hook)], 8);
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::Queued);
        assert_eq!(n.notify(note(1, Band::Strong)), Taken::AlreadySent);
        n.close();
        assert_eq!(n.counts().delivered.load(Ordering::Relaxed), 1);
        {
            let got = got.lock().unwrap();
            assert_eq!(got.len(), 1, "{got:?}");
            let v: serde_json::Value = serde_json::from_slice(&got[0].1).unwrap();
            assert_eq!(v["match_id"], 1);
        }
        // Only the Mozilla roots: the handshake fails, nothing is delivered,
        // and the failure says why without the URL.
        let hook = Webhook::new(fast(&url, None)).unwrap();
        let e = hook.send(&note(2, Band::Strong)).unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        assert!(!e.to_string().contains("127.0.0.1"), "{e}");
        let n = Notifier::start(vec![Box::new(hook)], 8);
        n.notify(note(3, Band::Strong));
        n.close();
        assert_eq!(n.counts().delivered.load(Ordering::Relaxed), 0);
        assert_eq!(n.counts().failed.load(Ordering::Relaxed), 1);
        assert_eq!(got.lock().unwrap().len(), 1);
        assert!(refused.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn smtps_delivers_with_the_private_ca_and_refuses_without_it() {
        let (ca_pem, cfg) = test_ca();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::<String>::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(tcp) = conn else { continue };
                let c = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
                let mut s = rustls::StreamOwned::new(c, tcp);
                if write!(s, "220 test ESMTP\r\n")
                    .and_then(|_| s.flush())
                    .is_err()
                {
                    continue;
                }
                let mut data: Option<String> = None;
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while let Ok(1) = s.read(&mut byte) {
                    buf.push(byte[0]);
                    if !buf.ends_with(b"\n") {
                        continue;
                    }
                    let line = String::from_utf8_lossy(&buf).to_string();
                    buf.clear();
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            g.lock().unwrap().push(data.take().unwrap_or_default());
                            let _ = write!(s, "250 queued\r\n");
                            let _ = s.flush();
                        } else {
                            d.push_str(&line);
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply = if cmd.starts_with("EHLO") {
                        "250-test\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        data = Some(String::new());
                        "354 go on\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = write!(s, "221 bye\r\n");
                        let _ = s.flush();
                        break;
                    } else {
                        "250 ok\r\n"
                    };
                    let _ = write!(s, "{reply}");
                    let _ = s.flush();
                }
            }
        });
        let config = |ca: Option<Vec<u8>>| SmtpConfig {
            url: format!("smtps://127.0.0.1:{port}"),
            from: "homeward@example.org".into(),
            to: vec!["team@example.org".into()],
            timeout: Duration::from_secs(5),
            extra_ca_pem: ca,
        };
        let smtp = Smtp::new(
            &config(Some(ca_pem.into_bytes())),
            Box::new(EmailText::plain),
        )
        .unwrap();
        smtp.send(&note(4, Band::Possible)).unwrap();
        assert_eq!(got.lock().unwrap().len(), 1);
        let smtp = Smtp::new(&config(None), Box::new(EmailText::plain)).unwrap();
        let e = smtp.send(&note(5, Band::Possible)).unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        assert_eq!(got.lock().unwrap().len(), 1);
    }
}
