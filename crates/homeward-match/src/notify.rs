//! "Who should hear that a strong or possible match is waiting?"
//!
//! A [`Notification`] says that a match was queued for review: its ids, its
//! band and a link to the review page. It never carries a child's name, a
//! photo, a place or a submitter: whoever receives it signs in to see more.
//!
//! A [`Notifier`] owns a background thread and a bounded queue, so sending
//! never blocks or fails the request that queued the match. It sends each
//! match at most once per process ([`Notifier::notify`] remembers the match
//! ids it took), only for the bands people are paged for
//! ([`worth_notifying`]: strong and possible, never weak), through every
//! configured [`Channel`]: a [`Webhook`] (HTTP POST of JSON, a timeout,
//! bounded retries, an HMAC-SHA256 signature when a secret is set) and
//! [`Smtp`] email. Failures are logged with the match id and a short reason,
//! never a name, a place, a URL or an address.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// The webhook URL is not `http://host[:port]/path`.
    #[error("the webhook URL must start with http:// (this build sends plain HTTP; put a local relay in front of an https:// receiver); got a URL starting `{scheme}`")]
    WebhookScheme {
        /// What the URL started with.
        scheme: String,
    },
    /// The SMTP URL is not `smtp://[user:password@]host[:port]`.
    #[error("the SMTP URL must look like smtp://user:password@host:587 or smtp://host:25: {why}")]
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
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a token and the secret is a secret.
        f.debug_struct("WebhookConfig")
            .field("url", &"<set>")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
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
        }
    }
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
    /// A webhook sender; refuses a URL that is not plain `http://`.
    pub fn new(mut config: WebhookConfig) -> Result<Webhook, NotifyError> {
        if !config.url.starts_with("http://") {
            let scheme: String = config
                .url
                .chars()
                .take_while(|c| *c != ':')
                .take(10)
                .collect();
            return Err(NotifyError::WebhookScheme { scheme });
        }
        config.attempts = config.attempts.clamp(1, 5);
        let agent: ureq::Agent = ureq::Agent::config_builder()
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
        ureq::Error::Io(io) => format!("{:?}", io.kind()),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
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
    /// `smtp://[user:password@]host[:port]` (port 25 by default). Plain SMTP:
    /// point it at the organisation's relay.
    pub url: String,
    /// Sender address.
    pub from: String,
    /// Recipients (one message each, so no one sees the others' addresses).
    pub to: Vec<String>,
    /// Longest time one message may take.
    pub timeout: Duration,
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

/// `(host, port, credentials)` of `smtp://[user:password@]host[:port]`.
fn parse_smtp_url(url: &str) -> Result<(String, u16, Option<Login>), NotifyError> {
    let bad = |why: &str| NotifyError::SmtpUrl { why: why.into() };
    let rest = url
        .strip_prefix("smtp://")
        .ok_or_else(|| bad("it must start with smtp://"))?;
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
        None => (hostport, 25),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err(bad("the host is missing"));
    }
    Ok((host.to_string(), port, creds))
}

fn mailbox(address: &str) -> Result<lettre::message::Mailbox, NotifyError> {
    address.trim().parse().map_err(|_| NotifyError::Address {
        address: address.to_string(),
    })
}

impl Smtp {
    /// An SMTP sender wording each message with `render`.
    pub fn new(config: &SmtpConfig, render: Render) -> Result<Smtp, NotifyError> {
        let (host, port, creds) = parse_smtp_url(&config.url)?;
        if config.to.is_empty() {
            return Err(NotifyError::NoRecipient);
        }
        let mut b = lettre::SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(config.timeout));
        if let Some((u, p)) = creds {
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
                    None => "connection failed".into(),
                },
            })?;
        }
        Ok(())
    }
}

/// What [`Notifier::notify`] did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Queued for delivery.
    Queued,
    /// Weak (or below): no one is paged.
    NotWorthIt,
    /// This match was already taken once.
    AlreadySent,
    /// The queue was full; dropped and logged.
    QueueFull,
}

/// Counts since start, for tests and health checks.
#[derive(Debug, Default)]
pub struct Counts {
    /// Deliveries that succeeded (per channel).
    pub delivered: AtomicU64,
    /// Deliveries that failed after their retries (per channel).
    pub failed: AtomicU64,
    /// Notifications dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// Sends notifications from a background thread through every channel.
pub struct Notifier {
    tx: Mutex<Option<SyncSender<Notification>>>,
    taken: Mutex<HashSet<u64>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn deliver(rx: Receiver<Notification>, channels: Vec<Box<dyn Channel>>, counts: Arc<Counts>) {
    for n in rx {
        for c in &channels {
            match c.send(&n) {
                Ok(()) => {
                    counts.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        event = "notify_failed",
                        channel = c.name(),
                        match_id = n.match_id,
                        reason = %e,
                        "a notification was not delivered; the match is still in the review queue"
                    );
                }
            }
        }
    }
}

impl Notifier {
    /// Starts the delivery thread with a queue of `capacity` notifications.
    pub fn start(channels: Vec<Box<dyn Channel>>, capacity: usize) -> Notifier {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let counts = Arc::new(Counts::default());
        let c = Arc::clone(&counts);
        let worker = std::thread::Builder::new()
            .name("homeward-notify".into())
            .spawn(move || deliver(rx, channels, c))
            .ok();
        if worker.is_none() {
            tracing::warn!(
                event = "notify_disabled",
                "could not start the notification thread"
            );
        }
        Notifier {
            tx: Mutex::new(worker.as_ref().map(|_| tx)),
            taken: Mutex::new(HashSet::new()),
            worker: Mutex::new(worker),
            counts,
        }
    }

    /// Takes a notification: queued once per match, only for strong and
    /// possible matches. Never blocks.
    pub fn notify(&self, n: Notification) -> Taken {
        if !worth_notifying(n.band) {
            return Taken::NotWorthIt;
        }
        if !self
            .taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n.match_id)
        {
            return Taken::AlreadySent;
        }
        let id = n.match_id;
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let sent = match guard.as_ref() {
            Some(tx) => tx.try_send(n),
            None => Err(TrySendError::Disconnected(n)),
        };
        match sent {
            Ok(()) => Taken::Queued,
            Err(_) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    event = "notify_dropped",
                    match_id = id,
                    "the notification queue is full or closed; the match is still in the review queue"
                );
                Taken::QueueFull
            }
        }
    }

    /// Deliveries so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Stops taking notifications and waits at most `limit` for the queued
    /// ones to be tried; returns whether they were. Past the limit the
    /// delivery thread is left to finish on its own (a receiver that does
    /// not answer must not hold a server's shutdown for minutes).
    pub fn close_within(&self, limit: Duration) -> bool {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
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

    /// Stops taking notifications and waits until the queued ones were tried.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
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
        let e = Webhook::new(WebhookConfig::new("https://x.example/h", None))
            .err()
            .unwrap();
        assert!(e.to_string().contains("http://"), "{e}");
        let cfg = |url: &str, to: &[&str]| SmtpConfig {
            url: url.into(),
            from: "hw@example.org".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(1),
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
        assert_eq!(
            parse_smtp_url("smtp://u:p@relay.example:587").unwrap(),
            ("relay.example".into(), 587, Some(("u".into(), "p".into())))
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
                url: format!("smtp://127.0.0.1:{port}"),
                from: "homeward@example.org".into(),
                to: vec!["team@example.org".into()],
                timeout: Duration::from_secs(5),
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
}
