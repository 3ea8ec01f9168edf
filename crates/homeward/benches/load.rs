//! Load generator for `homeward serve`, loopback only and bounded in time.
//!
//! Starts the release or test binary with a temporary registry of synthetic
//! cases, then runs concurrent searches and sighting uploads for a fixed
//! time and reports throughput and p50/p99 latency per kind. Any error
//! response fails the run. Searches and uploads each analyse a photo;
//! readers fetch the review queue and the case list (no inference), which
//! shows the HTTP, auth, audit and SQLite cost alone.
//!
//! ```text
//! cargo bench -p homeward --bench load -- [--seconds 20] [--searchers 4] [--uploaders 2] [--readers 2] [--cases 10]
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "load test admin password";

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        eprintln!("load: cannot read {}: {e}", p.display());
        std::process::exit(2)
    })
}

fn multipart(fields: &[(&str, &str)], photo: &[u8]) -> (String, Vec<u8>) {
    let boundary = "homewardloadboundary51";
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p\"\r\n\r\n").as_bytes());
    b.extend_from_slice(photo);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn check(
    res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> serde_json::Value {
    match res {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            if status >= 400 {
                eprintln!("load: {what}: HTTP {status}: {body}");
                std::process::exit(1);
            }
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
        }
        Err(e) => {
            eprintln!("load: {what}: {e}");
            std::process::exit(1);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(kind: &str, mut lat: Vec<Duration>, secs: f64) {
    lat.sort();
    println!(
        "{kind:8} {:6} requests  {:8.1} req/s  p50 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms",
        lat.len(),
        lat.len() as f64 / secs,
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // cargo bench --list
    }
    let seconds = arg(&args, "--seconds", 20);
    let searchers = arg(&args, "--searchers", 4) as usize;
    let uploaders = arg(&args, "--uploaders", 2) as usize;
    let readers = arg(&args, "--readers", 2) as usize;
    let cases = arg(&args, "--cases", 10);
    let workers = arg(&args, "--analysis-workers", 2);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--insecure-cookies",
            "--upsample",
            "0",
        ])
        .args(["--rate-per-minute", "1000000", "--rate-burst", "1000000"])
        .args(["--upload-per-minute", "1000000", "--upload-burst", "100000"])
        .args(["--analysis-workers", &workers.to_string()])
        .arg("--db")
        .arg(dir.path().join("db"))
        .env("HOMEWARD_ADMIN_USER", "admin")
        .env("HOMEWARD_ADMIN_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start homeward serve");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    let server = Server(child);
    let base = line
        .trim()
        .strip_prefix("homeward serve: listening on ")
        .unwrap_or_else(|| {
            eprintln!("load: server did not start: {line:?}");
            std::process::exit(2)
        })
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "loopback only");

    // Setup: an admin session, a token per role, cases with one photo each.
    let a = agent();
    let login = check(
        a.post(format!("{base}/api/session"))
            .content_type("application/json")
            .send(serde_json::json!({ "username": "admin", "password": PASSWORD }).to_string()),
        "sign in",
    );
    let _ = login;
    let admin_token = {
        // Use the session cookie once to mint a bearer token for the admin.
        let r = a
            .post(format!("{base}/api/session"))
            .content_type("application/json")
            .send(serde_json::json!({ "username": "admin", "password": PASSWORD }).to_string())
            .expect("sign in");
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .to_string();
        let mut r = r;
        let me: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                .unwrap_or_default();
        let csrf = me["csrf_token"].as_str().unwrap_or("").to_string();
        let v = check(
            a.post(format!("{base}/api/tokens"))
                .header("Cookie", &cookie)
                .header("X-CSRF-Token", &csrf)
                .content_type("application/json")
                .send(serde_json::json!({ "user_id": me["id"], "name": "load" }).to_string()),
            "admin token",
        );
        v["token"].as_str().unwrap_or("").to_string()
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let mut tokens = Vec::new();
    for (name, role) in [("worker", "caseworker"), ("vol", "volunteer")] {
        let u = check(
            a.post(format!("{base}/api/users"))
                .header("Authorization", bearer(&admin_token))
                .content_type("application/json")
                .send(
                    serde_json::json!({ "username": name, "password": PASSWORD, "role": role })
                        .to_string(),
                ),
            "create user",
        );
        let t = check(
            a.post(format!("{base}/api/tokens"))
                .header("Authorization", bearer(&admin_token))
                .content_type("application/json")
                .send(serde_json::json!({ "user_id": u["id"], "name": "load" }).to_string()),
            "create token",
        );
        tokens.push(t["token"].as_str().unwrap_or("").to_string());
    }
    let (worker, vol) = (tokens[0].clone(), tokens[1].clone());
    let photos = ["obama.jpg", "grace_hopper.jpg"].map(fixture);
    let t0 = Instant::now();
    for i in 0..cases {
        let c = check(
            a.post(format!("{base}/api/cases"))
                .header("Authorization", bearer(&worker))
                .content_type("application/json")
                .send(serde_json::json!({ "child_name": format!("Load Case {i}"), "missing_place": "Test" }).to_string()),
            "create case",
        );
        let (ct, body) = multipart(&[("age_months", "100")], &photos[i as usize % photos.len()]);
        check(
            a.post(format!("{base}/api/cases/{}/photos", c["id"]))
                .header("Authorization", bearer(&worker))
                .content_type(ct)
                .send(body),
            "add photo",
        );
    }
    println!(
        "setup: {cases} cases with a photo each in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // The load: searches by case workers, sighting uploads by volunteers.
    let stop = Arc::new(AtomicBool::new(false));
    let query = Arc::new(fixture("obama2.jpg"));
    let upload = Arc::new(fixture("grace_hopper.jpg"));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..readers {
        let (stop, base, token) = (stop.clone(), base.clone(), worker.clone());
        handles.push((
            "read",
            std::thread::spawn(move || {
                let a = agent();
                let mut lat = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let path = if i.is_multiple_of(2) {
                        "/api/review"
                    } else {
                        "/api/cases"
                    };
                    i += 1;
                    let t = Instant::now();
                    check(
                        a.get(format!("{base}{path}"))
                            .header("Authorization", format!("Bearer {token}"))
                            .call(),
                        "read",
                    );
                    lat.push(t.elapsed());
                }
                lat
            }),
        ));
    }
    for (n, kind) in [(searchers, "search"), (uploaders, "upload")] {
        for _ in 0..n {
            let (stop, base) = (stop.clone(), base.clone());
            let (token, photo) = if kind == "search" {
                (worker.clone(), query.clone())
            } else {
                (vol.clone(), upload.clone())
            };
            handles.push((
                kind,
                std::thread::spawn(move || {
                    let a = agent();
                    let mut lat = Vec::new();
                    let path = if kind == "search" {
                        "/api/search"
                    } else {
                        "/api/sightings"
                    };
                    let (ct, body) = multipart(&[("place", "load test")], &photo);
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        check(
                            a.post(format!("{base}{path}"))
                                .header("Authorization", format!("Bearer {token}"))
                                .content_type(ct.as_str())
                                .send(&body[..]),
                            kind,
                        );
                        lat.push(t.elapsed());
                    }
                    lat
                }),
            ));
        }
    }
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut by_kind: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for (kind, h) in handles {
        by_kind
            .entry(kind)
            .or_default()
            .extend(h.join().unwrap_or_default());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "load: {seconds} s, {searchers} searchers, {uploaders} uploaders, {readers} readers, {workers} analysis workers, upsample 0, loopback; no errors"
    );
    for (kind, lat) in by_kind {
        report(kind, lat, secs);
    }
    drop(server);
}
