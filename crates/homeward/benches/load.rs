//! Load generator for `homeward serve`, loopback only and bounded in time.
//!
//! Starts the release or test binary with a temporary registry of synthetic
//! cases, then runs concurrent searches and sighting uploads for a fixed
//! time and reports throughput and p50/p99 latency per kind. Any error
//! response fails the run. Searches and uploads each analyse a photo;
//! readers fetch the review queue and the case list (no inference), which
//! shows the HTTP, auth, audit and SQLite cost alone.
//!
//! `--models dlib` makes the registry with dlib's model alone (what is
//! stored and ranked; the server's analysis still embeds every face with
//! every bundled model); the default is a new registry's (`dlib,sface`).
//!
//! With `--hostile N` it is the soak of issue 13: N more clients send every
//! hostile request of that review (`load/hostile.rs`: the 3,000,000×1 and
//! 1,000,000×4 PNGs, the black 7000×7000 one, a 30 MB sign-in, password
//! spraying, a non-form, a cut-short upload and a form of a million empty
//! parts) for the whole run. Then a
//! 503 from the analysis queue is an intended answer for the ordinary
//! uploads too, each hostile kind has its own intended answers, and the
//! report adds the server's peak resident memory against its analysis
//! budget. Any other answer is counted as an error and fails the run.
//!
//! ```text
//! cargo bench -p homeward --bench load -- [--seconds 20] [--searchers 4] [--uploaders 2] [--readers 2] [--cases 10]
//!     [--hostile 2] [--analysis-budget-mib 2048]
//! ```

#[path = "load/hostile.rs"]
mod hostile;

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

/// Sends a request and returns its status (0 when no answer came).
fn status_of(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    match res {
        Ok(mut r) => {
            let _ = r.body_mut().read_to_vec();
            r.status().as_u16()
        }
        Err(_) => 0,
    }
}

/// Prints one kind's line; returns how many answers were not intended.
fn report(
    kind: &str,
    mut lat: Vec<(Duration, u16)>,
    secs: f64,
    intended: &dyn Fn(u16) -> bool,
) -> usize {
    let mut statuses: std::collections::BTreeMap<u16, usize> = Default::default();
    for (_, s) in &lat {
        *statuses.entry(*s).or_default() += 1;
    }
    let errors = lat.iter().filter(|(_, s)| !intended(*s)).count();
    let mut lat: Vec<Duration> = lat.drain(..).map(|(d, _)| d).collect();
    lat.sort();
    let answers: Vec<String> = statuses
        .iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("none×{n}")
            } else {
                format!("{s}×{n}")
            }
        })
        .collect();
    println!(
        "{kind:9} {:6} requests  {:8.1} req/s  p50 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms  answers {}{}",
        lat.len(),
        lat.len() as f64 / secs,
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        answers.join(" "),
        if errors > 0 { format!("  ERRORS {errors}") } else { String::new() },
    );
    errors
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
    let hostiles = arg(&args, "--hostile", 0) as usize;
    let budget_mib = arg(&args, "--analysis-budget-mib", 0);

    // `--models dlib`: a registry of dlib alone (a new registry's default
    // since the model slot is `dlib,sface`).
    let models = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "dlib,sface".into());

    let dir = tempfile::tempdir().expect("temp dir");
    let init = Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args(["init", "--models", &models, "--db"])
        .arg(dir.path().join("db"))
        .stdout(Stdio::null())
        .status()
        .expect("run homeward init");
    assert!(init.success(), "homeward init --models {models} failed");
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
        .args(["--analysis-budget-mib", &budget_mib.to_string()])
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
                    let s = status_of(
                        a.get(format!("{base}{path}"))
                            .header("Authorization", format!("Bearer {token}"))
                            .call(),
                    );
                    lat.push((t.elapsed(), s));
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
                        let s = status_of(
                            a.post(format!("{base}{path}"))
                                .header("Authorization", format!("Bearer {token}"))
                                .content_type(ct.as_str())
                                .send(&body[..]),
                        );
                        lat.push((t.elapsed(), s));
                    }
                    lat
                }),
            ));
        }
    }
    // The hostile clients: each sends every hostile kind in turn.
    let hostile = Arc::new(hostile::requests(multipart));
    let mut hostile_handles = Vec::new();
    for h in 0..hostiles {
        let (stop, base, token, hostile) =
            (stop.clone(), base.clone(), vol.clone(), hostile.clone());
        hostile_handles.push(std::thread::spawn(move || {
            let mut lat: Vec<(&'static str, Duration, u16)> = Vec::new();
            let mut n = h as u64 * 1_000_003;
            while !stop.load(Ordering::Relaxed) {
                for r in hostile.iter() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    n += 1;
                    let body = if r.kind == "h-spray" {
                        hostile::spray_body(n)
                    } else {
                        r.body.clone()
                    };
                    let t = Instant::now();
                    let s = hostile::post_status(
                        &base,
                        r.path,
                        &r.content_type,
                        r.signed_in.then_some(token.as_str()),
                        &body,
                    );
                    lat.push((r.kind, t.elapsed(), s));
                }
            }
            lat
        }));
    }
    // The server's memory, sampled while the load runs.
    let pid = server.0.id();
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some((now, _)) = hostile::rss_mib(pid) {
                    peak = peak.max(now);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        })
    };
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut by_kind: std::collections::BTreeMap<&str, Vec<(Duration, u16)>> = Default::default();
    for (kind, h) in handles {
        by_kind
            .entry(kind)
            .or_default()
            .extend(h.join().unwrap_or_default());
    }
    let mut hostile_by_kind: std::collections::BTreeMap<&str, Vec<(Duration, u16)>> =
        Default::default();
    for h in hostile_handles {
        for (kind, d, s) in h.join().unwrap_or_default() {
            hostile_by_kind.entry(kind).or_default().push((d, s));
        }
    }
    let sampled_peak = sampler.join().unwrap_or(0);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "load: {seconds} s, {searchers} searchers, {uploaders} uploaders, {readers} readers, {hostiles} hostile clients, {workers} analysis workers, upsample 0, loopback"
    );
    let soak = hostiles > 0;
    let mut errors = 0;
    for (kind, lat) in by_kind {
        let ok = move |s: u16| (200..300).contains(&s) || (soak && kind != "read" && s == 503);
        errors += report(kind, lat, secs, &ok);
    }
    for (kind, lat) in hostile_by_kind {
        let intended = hostile
            .iter()
            .find(|h| h.kind == kind)
            .map(|h| h.intended)
            .unwrap_or(&[]);
        errors += report(kind, lat, secs, &|s| intended.contains(&s));
    }
    let (_, hwm) = hostile::rss_mib(pid).unwrap_or((0, 0));
    let budget = if budget_mib == 0 {
        "the server's default (half the RAM)".to_string()
    } else {
        format!("{budget_mib} MiB")
    };
    println!("server memory: peak resident {hwm} MiB (sampled during the load: {sampled_peak} MiB); analysis budget {budget}");
    drop(server);
    if errors > 0 {
        eprintln!("load: {errors} answers were not the intended ones (see ERRORS above)");
        std::process::exit(1);
    }
}
