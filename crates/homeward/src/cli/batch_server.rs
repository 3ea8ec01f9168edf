//! `homeward batch DIR --server URL`: the batch uploaded to a running
//! `homeward serve` (`POST /api/batches`), which records it; then its
//! progress followed until every item is recorded or failed. The API token
//! comes from `HOMEWARD_TOKEN` only (never a flag: it would land in shell
//! history) and is never printed.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use homeward_core::store::Sex;
use serde_json::{json, Value};

use super::{CliError, Outcome};
use crate::output::{errln, outln};

/// Photos per request (the server takes at most 1000).
const PER_UPLOAD: usize = 100;
/// Bytes of photos per request (the server takes at most 1 GiB): small
/// enough to arrive within the server's request timeout (default 120 s)
/// over a slow link (64 MiB at 10 Mbit/s: about 55 s).
const BYTES_PER_UPLOAD: u64 = 64 << 20;
/// How long a batch may show no progress before the command gives up.
const STALL: Duration = Duration::from_secs(600);

/// One photo to upload: its key in the batch and its file.
#[derive(Debug, Clone)]
pub struct UploadItem {
    pub key: String,
    pub path: PathBuf,
    /// Its manifest row when the input was a CSV.
    pub row: Option<Row>,
}

/// A manifest row's fields.
#[derive(Debug, Clone)]
pub struct Row {
    pub when: Option<String>,
    pub place: Option<String>,
    pub age: Option<(f32, f32)>,
    pub sex: Option<Sex>,
}

/// Why an upload to a server failed, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "set HOMEWARD_TOKEN to a case worker's API token (an administrator makes one on the \
         server's admin page, /admin); it is not taken as a flag so that it stays out of shell \
         history"
    )]
    NoToken,
    #[error("--server must be an http:// URL such as http://127.0.0.1:8080 (this build speaks plain HTTP; put TLS in front of the server and use its inside address)")]
    BadUrl,
    #[error("cannot reach the server at {url}: {why}; is `homeward serve` running there?")]
    Unreachable { url: String, why: String },
    #[error(
        "the server refused the token ({status}: {message}); make a case worker's token on the \
         server's tokens page (/admin) and set HOMEWARD_TOKEN to it"
    )]
    Refused { status: u16, message: String },
    #[error("the server refused the upload as too large: {0}")]
    TooLarge(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the batch made no progress for {} s; it goes on on the server: see /batches there", STALL.as_secs())]
    Stalled,
}

impl From<RemoteError> for CliError {
    fn from(e: RemoteError) -> Self {
        CliError::Usage(e.to_string())
    }
}

struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(url: &str) -> Result<Client, RemoteError> {
        let token = std::env::var("HOMEWARD_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or(RemoteError::NoToken)?;
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(RemoteError::BadUrl);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Client { base, token, agent })
    }

    /// Sends a request; the status and the JSON body (errors mapped).
    fn call(
        &self,
        req: ureq::http::request::Builder,
        body: ureq::SendBody,
    ) -> Result<Value, RemoteError> {
        let req = req
            .header("Authorization", format!("Bearer {}", self.token))
            .body(body)
            .map_err(|_| RemoteError::BadUrl)?;
        let mut res = self.agent.run(req).map_err(|e| RemoteError::Unreachable {
            url: self.base.clone(),
            why: e.to_string(),
        })?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let message = v["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(match status {
            401 | 403 => RemoteError::Refused { status, message },
            413 => RemoteError::TooLarge(message),
            _ => RemoteError::Server { status, message },
        })
    }
}

/// Reads several parts one after the other (bounded memory: files are
/// streamed from disk).
struct Parts {
    parts: std::collections::VecDeque<Box<dyn Read + Send>>,
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(p) = self.parts.front_mut() {
            let n = p.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.parts.pop_front();
        }
        Ok(0)
    }
}

const BOUNDARY: &str = "homeward-batch-7f2c9d1e4b";

fn text_part(name: &str, value: &str) -> Vec<u8> {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        .into_bytes()
}

/// Quotes a file name for Content-Disposition (no quotes or line breaks).
fn quoted(s: &str) -> String {
    s.replace(['"', '\r', '\n'], "_")
}

/// The manifest rows of `items`, as `homeward batch` reads them.
fn manifest_text(items: &[&UploadItem]) -> Result<String, CliError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let row_err = |e: csv::Error| CliError::Usage(format!("cannot write the manifest: {e}"));
    w.write_record(["path", "when", "where", "age_range", "sex"])
        .map_err(row_err)?;
    for it in items {
        let r = it.row.clone().unwrap_or(Row {
            when: None,
            place: None,
            age: None,
            sex: None,
        });
        let age = r.age.map(|(a, b)| format!("{a}-{b}")).unwrap_or_default();
        let sex = r.sex.map(|s| s.to_string()).unwrap_or_default();
        w.write_record([
            it.key.as_str(),
            r.when.as_deref().unwrap_or(""),
            r.place.as_deref().unwrap_or(""),
            &age,
            &sex,
        ])
        .map_err(row_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::Usage(format!("cannot write the manifest: {e}")))?;
    String::from_utf8(bytes).map_err(|_| CliError::Usage("the manifest is not UTF-8".into()))
}

/// Uploads `items` under batch `name` in parts, then follows the progress.
pub fn run(url: &str, name: &str, items: &[UploadItem], json: bool) -> Result<Outcome, CliError> {
    let client = Client::new(url)?;
    if items.is_empty() {
        return Err(CliError::Usage("no photos to upload in the input".into()));
    }
    // Parts of at most PER_UPLOAD photos and BYTES_PER_UPLOAD bytes.
    let mut chunks: Vec<Vec<&UploadItem>> = vec![Vec::new()];
    let mut bytes = 0u64;
    for it in items {
        let size = std::fs::metadata(&it.path)
            .map_err(|source| RemoteError::Read {
                path: it.path.display().to_string(),
                source,
            })?
            .len();
        let last = chunks.last().map_or(0, Vec::len);
        if last > 0 && (last >= PER_UPLOAD || bytes + size > BYTES_PER_UPLOAD) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(c) = chunks.last_mut() {
            c.push(it);
        }
    }
    let mut progress_url = String::new();
    for chunk in &chunks {
        let mut parts: std::collections::VecDeque<Box<dyn Read + Send>> = Default::default();
        parts.push_back(Box::new(std::io::Cursor::new(text_part("name", name))));
        if chunk.iter().any(|it| it.row.is_some()) {
            let m = manifest_text(chunk)?;
            parts.push_back(Box::new(std::io::Cursor::new(text_part("manifest", &m))));
        }
        for it in chunk {
            let f = std::fs::File::open(&it.path).map_err(|source| RemoteError::Read {
                path: it.path.display().to_string(),
                source,
            })?;
            let head = format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                quoted(&it.key)
            );
            parts.push_back(Box::new(std::io::Cursor::new(head.into_bytes())));
            parts.push_back(Box::new(f));
            parts.push_back(Box::new(std::io::Cursor::new(b"\r\n".to_vec())));
        }
        parts.push_back(Box::new(std::io::Cursor::new(
            format!("--{BOUNDARY}--\r\n").into_bytes(),
        )));
        let mut reader = Parts { parts };
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/api/batches", client.base))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            );
        let v = client.call(req, ureq::SendBody::from_reader(&mut reader))?;
        progress_url = v["progress_url"].as_str().unwrap_or_default().to_string();
        if !json {
            errln!(
                "uploaded {} photo(s); the server is recording them",
                chunk.len()
            );
        }
    }
    // Follow the progress until nothing is queued.
    let mut last = (u64::MAX, Instant::now());
    let view = loop {
        let req = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{}{progress_url}", client.base));
        let v = client.call(req, ureq::SendBody::none())?;
        let done = v["items"].as_u64().unwrap_or(0);
        if v["queued"].as_u64() == Some(0) {
            break v;
        }
        if done != last.0 {
            last = (done, Instant::now());
            if !json {
                errln!(
                    "{done} processed, {} waiting",
                    v["queued"].as_u64().unwrap_or(0)
                );
            }
        } else if last.1.elapsed() > STALL {
            return Err(RemoteError::Stalled.into());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let n = |k: &str| view[k].as_u64().unwrap_or(0);
    let (recorded, failed) = (n("recorded"), n("failed"));
    if json {
        outln!(
            "{}",
            json!({"event": "done", "batch": name, "items": n("items"), "recorded": recorded,
                   "failed": failed, "pending_matches": n("pending_matches"),
                   "server": client.base})
        );
    } else {
        for r in view["results"].as_array().into_iter().flatten() {
            if r["kind"] == "failed" {
                errln!(
                    "{}: {}",
                    r["item"].as_str().unwrap_or("?"),
                    r["error"].as_str().unwrap_or("failed")
                );
            }
        }
        outln!(
            "batch on {}: {} item(s), {recorded} recorded, {failed} failed; {} match(es) waiting for review (see {}/batches)",
            client.base,
            n("items"),
            n("pending_matches"),
            client.base
        );
    }
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}
