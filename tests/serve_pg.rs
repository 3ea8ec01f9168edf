//! Two `homeward serve` processes and two workers on one PostgreSQL
//! registry, as a deployment behind a proxy runs them:
//! - a 200-photo batch drained by two workers while searches come in on
//!   both servers: every photo recorded exactly once, every search answered;
//! - a case registered through one server is found through the other, and
//!   an erased case leaves the other's answers, within the stated bound;
//! - accounts are shared: a token made on one server works on the other;
//! - a server killed (`kill -9`) during uploads: every receipt it
//!   acknowledged is there afterwards.
//!
//! Each test makes its own database on a throwaway cluster; without
//! PostgreSQL installed they pass as skipped, and say so, unless
//! `HOMEWARD_REQUIRE_PG=1`. Faces in the fixtures are large, so every
//! analysis runs with `--upsample 0`.

use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use homeward_pg::cluster::TestDb;
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "admin password for tests";
const PASSWORD: &str = "a long test password";
/// How soon a change made through one server shows through the other
/// (the follower wakes on each announcement, or polls every 500 ms).
const BOUND: Duration = Duration::from_secs(2);

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// One test's registry: its database and shared photo root.
struct Pg {
    db: TestDb,
    root: tempfile::TempDir,
}

impl Pg {
    fn new(test: &str) -> Option<Pg> {
        let pg = Pg {
            db: TestDb::new_or_skip(test)?,
            root: tempfile::tempdir().expect("temp dir"),
        };
        let out = pg.command(&["init"]).output().expect("homeward init runs");
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_homeward"));
        c.args(args)
            .env("HOMEWARD_DB", self.db.url())
            .env("HOMEWARD_PHOTO_ROOT", self.root.path())
            .env("HOMEWARD_ADMIN_USER", "admin")
            .env("HOMEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null());
        c
    }

    /// Starts a server on a free loopback port.
    fn serve(&self) -> Server {
        let mut child = self
            .command(&[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--insecure-cookies",
                "--upsample",
                "0",
                "--rate-per-minute",
                "100000",
                "--rate-burst",
                "100000",
                "--upload-per-minute",
                "100000",
                "--upload-burst",
                "10000",
                "--analysis-queue",
                "64",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .trim()
            .strip_prefix("homeward serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Server { child, base }
    }

    fn worker(&self) -> Child {
        self.command(&["worker", "--until-idle", "--upsample=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker starts")
    }
}

/// A running server, stopped (SIGTERM) on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

struct Resp {
    status: u16,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A request with a bearer token (or none), a JSON body or a photo
/// upload with form fields. `None` when the server could not be reached.
fn request(base: &str, method: &str, path: &str, token: Option<&str>, body: Body) -> Option<Resp> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(t) = token {
        b = b.header("Authorization", format!("Bearer {t}"));
    }
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Json(v) => {
            b = b.header("Content-Type", "application/json");
            v.to_string().into_bytes()
        }
        Body::Photo(fields, photo) => {
            let boundary = "homewardpgtestboundary";
            b = b.header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            );
            let mut out = Vec::new();
            for (k, v) in fields {
                out.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                    )
                    .as_bytes(),
                );
            }
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
                     filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(&photo);
            out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            out
        }
    };
    let mut res = agent().run(b.body(bytes).ok()?).ok()?;
    let status = res.status().as_u16();
    let body = res
        .body_mut()
        .with_config()
        .limit(20_000_000)
        .read_to_vec()
        .ok()?;
    Some(Resp { status, body })
}

enum Body {
    Empty,
    Json(Value),
    Photo(Vec<(&'static str, String)>, Vec<u8>),
}

impl Server {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        request(&self.base, method, path, token, body)
            .unwrap_or_else(|| panic!("{method} {path}: no answer from {}", self.base))
    }

    /// Signs in as the admin and makes a user of `role` with an API token.
    fn user_token(&self, name: &str, role: &str) -> String {
        let admin = self.admin_token();
        let r = self.call(
            "POST",
            "/api/users",
            Some(&admin),
            Body::Json(json!({"username": name, "password": PASSWORD, "role": role})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_u64().expect("user id");
        let r = self.call(
            "POST",
            "/api/tokens",
            Some(&admin),
            Body::Json(json!({"user_id": id, "name": "tests"})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["token"].as_str().expect("token").to_string()
    }

    /// An admin token, made once per server from a cookie session.
    fn admin_token(&self) -> String {
        let res = agent()
            .post(format!("{}/api/session", self.base))
            .header("Content-Type", "application/json")
            .send(json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string())
            .expect("login");
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("session cookie")
            .to_string();
        let mut res = res;
        let login: Value =
            serde_json::from_slice(&res.body_mut().read_to_vec().expect("body")).expect("JSON");
        let secret = cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_string())
            .expect("cookie value");
        let csrf = login["csrf_token"].as_str().expect("csrf").to_string();
        let users: Value = {
            let mut r = agent()
                .get(format!("{}/api/users", self.base))
                .header("Cookie", format!("hw_session={secret}"))
                .call()
                .expect("users");
            serde_json::from_slice(&r.body_mut().read_to_vec().expect("body")).expect("JSON")
        };
        let admin_id = users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["username"] == "admin"))
            .and_then(|u| u["id"].as_u64())
            .expect("admin's id");
        let mut r = agent()
            .post(format!("{}/api/tokens", self.base))
            .header("Cookie", format!("hw_session={secret}"))
            .header("X-CSRF-Token", csrf)
            .header("Content-Type", "application/json")
            .send(json!({"user_id": admin_id, "name": "admin script"}).to_string())
            .expect("token");
        let v: Value =
            serde_json::from_slice(&r.body_mut().read_to_vec().expect("body")).expect("JSON");
        v["token"].as_str().expect("admin token").to_string()
    }

    /// The case ids a search with `photo` returns (top 5).
    fn search(&self, token: &str, photo: &[u8]) -> Option<Vec<u64>> {
        let r = request(
            &self.base,
            "POST",
            "/api/search",
            Some(token),
            Body::Photo(vec![("k", "5".into())], photo.to_vec()),
        )?;
        if r.status != 200 {
            return None;
        }
        Some(
            r.json()
                .as_array()
                .map(|a| a.iter().filter_map(|c| c["case_id"].as_u64()).collect())
                .unwrap_or_default(),
        )
    }
}

/// `n` different small photos of one face: scaled, shifted and re-encoded
/// copies of a fixture, each a few kilobytes.
fn small_photos(n: usize) -> Vec<Vec<u8>> {
    let img = image::load_from_memory(&fixture("obama2.jpg")).expect("fixture decodes");
    (0..n)
        .map(|i| {
            let w = 120 + (i % 40) as u32;
            let (iw, ih) = (img.width(), img.height());
            let dx = (i as u32 * 3) % (iw / 10).max(1);
            let view = img.crop_imm(dx, 0, iw - dx, ih);
            let small = view.resize(w, w * 5 / 4, image::imageops::FilterType::Triangle);
            let mut out = Vec::new();
            small
                .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
                .expect("encodes");
            out
        })
        .collect()
}

/// Polls `f` until it says yes or `limit` passes; returns how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_servers_and_two_workers_share_one_registry() {
    let Some(pg) = Pg::new("two_servers_and_two_workers_share_one_registry") else {
        return;
    };
    let a = pg.serve();
    let b = pg.serve();
    // Accounts are shared: a token made through A works on B.
    let worker = a.user_token("worker", "caseworker");
    let me = b.call("GET", "/api/me", Some(&worker), Body::Empty);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["username"], "worker");

    // A case registered through A is found through B within the bound.
    let r = a.call(
        "POST",
        "/api/cases",
        Some(&worker),
        Body::Json(json!({"child_name": "A", "sex": "male", "missing_place": "Lyon"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let case = r.json()["id"].as_u64().expect("case id");
    let r = a.call(
        "POST",
        &format!("/api/cases/{case}/photos"),
        Some(&worker),
        Body::Photo(vec![("age_years", "6".into())], fixture("obama.jpg")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let query = fixture("obama2.jpg");
    let seen = within(BOUND, || {
        b.search(&worker, &query)
            .is_some_and(|ids| ids.first() == Some(&case))
    });
    assert!(
        seen.is_some(),
        "case {case} not found through B within {BOUND:?}"
    );
    eprintln!("a case registered through A was found through B after {seen:?}");

    // 200 photos, queued, drained by two workers while searches come in.
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = small_photos(200);
    for (i, p) in photos.iter().enumerate() {
        std::fs::write(dir.path().join(format!("p{i:03}.jpg")), p).expect("write photo");
    }
    let out = pg
        .command(&[
            "batch",
            dir.path().to_str().expect("UTF-8"),
            "--name",
            "archive",
            "--upsample=0",
        ])
        .output()
        .expect("batch runs");
    assert!(
        out.status.success(),
        "batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut workers = [pg.worker(), pg.worker()];
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let searchers: Vec<_> = [a.base.clone(), b.base.clone()]
        .into_iter()
        .map(|base| {
            let (done, answered, failed) = (done.clone(), answered.clone(), failed.clone());
            let (token, query) = (worker.clone(), query.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let r = request(
                        &base,
                        "POST",
                        "/api/search",
                        Some(&token),
                        Body::Photo(vec![("k", "5".into())], query.clone()),
                    );
                    match r {
                        Some(r) if r.status == 200 => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(r) => failed.lock().expect("lock").push(r.status),
                        None => failed.lock().expect("lock").push(0),
                    }
                }
            })
        })
        .collect();
    for w in &mut workers {
        let status = w.wait().expect("worker ends");
        assert!(status.success(), "a worker failed: {status}");
    }
    done.store(true, Ordering::SeqCst);
    for s in searchers {
        s.join().expect("searcher");
    }
    let failed = failed.lock().expect("lock").clone();
    assert!(failed.is_empty(), "searches not answered: {failed:?}");
    assert!(answered.load(Ordering::SeqCst) >= 2, "no search ran");

    // Every photo recorded exactly once, seen through either server.
    for s in [&a, &b] {
        let batch = s
            .call("GET", "/api/batches/archive", Some(&worker), Body::Empty)
            .json();
        assert_eq!(batch["items"], 200, "{batch}");
        assert_eq!(batch["recorded"], 200, "{batch}");
        assert_eq!(batch["failed"], 0, "{batch}");
        let sightings = s
            .call("GET", "/api/sightings", Some(&worker), Body::Empty)
            .json();
        assert_eq!(
            sightings.as_array().map(Vec::len),
            Some(200),
            "one sighting per photo"
        );
    }

    // An erasure through A (an admin's) leaves B's answers within the bound.
    let admin = a.admin_token();
    let r = a.call(
        "DELETE",
        &format!("/api/cases/{case}"),
        Some(&admin),
        Body::Empty,
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    let gone = within(BOUND, || {
        b.search(&worker, &query)
            .is_some_and(|ids| !ids.contains(&case))
    });
    eprintln!("an erasure through A left B's answers after {gone:?}");
    assert!(
        gone.is_some(),
        "erased case {case} still answered by B after {BOUND:?}"
    );
}

#[test]
fn a_server_killed_during_uploads_keeps_every_acknowledged_receipt() {
    let Some(pg) = Pg::new("a_server_killed_during_uploads_keeps_every_receipt") else {
        return;
    };
    let mut a = pg.serve();
    let admin = a.admin_token();
    let r = a.call(
        "POST",
        "/api/users",
        Some(&admin),
        Body::Json(json!({"username": "vol", "password": PASSWORD, "role": "volunteer"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_u64().expect("id");
    let r = a.call(
        "POST",
        "/api/tokens",
        Some(&admin),
        Body::Json(json!({"user_id": id, "name": "phone"})),
    );
    let volunteer = r.json()["token"].as_str().expect("token").to_string();

    let photos = Arc::new(small_photos(40));
    let receipts = Arc::new(Mutex::new(Vec::<String>::new()));
    let uploaders: Vec<_> = (0..3)
        .map(|t| {
            let (base, token) = (a.base.clone(), volunteer.clone());
            let (photos, receipts) = (photos.clone(), receipts.clone());
            std::thread::spawn(move || {
                for i in (t..photos.len()).step_by(3) {
                    let fields = vec![("place", format!("street {i}"))];
                    let r = request(
                        &base,
                        "POST",
                        "/api/sightings",
                        Some(&token),
                        Body::Photo(fields, photos[i].clone()),
                    );
                    match r {
                        Some(r) if r.status == 201 => {
                            let code = r.json()["receipt"].as_str().map(str::to_owned);
                            receipts.lock().expect("lock").extend(code);
                        }
                        // Refused or cut off by the kill: not acknowledged.
                        _ => {}
                    }
                }
            })
        })
        .collect();
    // Kill the server once a few uploads were acknowledged.
    let some = within(Duration::from_secs(300), || {
        receipts.lock().expect("lock").len() >= 5
    });
    assert!(some.is_some(), "no upload was acknowledged");
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();
    for u in uploaders {
        u.join().expect("uploader");
    }
    let acknowledged = receipts.lock().expect("lock").clone();
    eprintln!(
        "{} of {} uploads acknowledged before the kill",
        acknowledged.len(),
        photos.len()
    );
    drop(a);

    // Every acknowledged receipt is there, through a new server.
    let b = pg.serve();
    for code in &acknowledged {
        let r = b.call(
            "GET",
            &format!("/api/receipts/{code}"),
            Some(&volunteer),
            Body::Empty,
        );
        assert_eq!(r.status, 200, "receipt {code} lost: {}", r.text());
        assert_eq!(r.json()["status"], "received");
    }
    let admin_b = b.admin_token();
    let sightings = b
        .call("GET", "/api/sightings", Some(&admin_b), Body::Empty)
        .json();
    let n = sightings.as_array().map(Vec::len).unwrap_or(0);
    assert!(
        n >= acknowledged.len(),
        "{n} sightings for {} receipts",
        acknowledged.len()
    );

    // The database ends every connection (a restart): the server connects
    // again. A call may fail on finding its connection gone; the next works.
    let mut sql = pg.db.cluster().client(pg.db.name()).expect("SQL client");
    let ended: i64 = sql
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert!(ended >= 3, "{ended} connections ended");
    let again = within(Duration::from_secs(10), || {
        request(
            &b.base,
            "GET",
            "/api/sightings",
            Some(&admin_b),
            Body::Empty,
        )
        .is_some_and(|r| r.status == 200)
    });
    assert!(again.is_some(), "reads did not come back");
    let upload = |photo: &[u8]| {
        request(
            &b.base,
            "POST",
            "/api/sightings",
            Some(&volunteer),
            Body::Photo(vec![("place", "after the restart".into())], photo.to_vec()),
        )
        .map(|r| r.status)
    };
    let first = upload(&photos[0]);
    let status = if first == Some(201) {
        first
    } else {
        upload(&photos[1])
    };
    assert_eq!(
        status,
        Some(201),
        "writes did not come back ({first:?} first)"
    );
}

/// An archive uploaded on the web to a server on PostgreSQL goes to the
/// job queue: `homeward worker`s record it, the batch's progress shows what
/// is left, and the same upload again queues nothing twice.
#[test]
fn an_archive_uploaded_to_a_server_is_queued_for_workers() {
    let Some(pg) = Pg::new("an_archive_uploaded_to_a_server_is_queued_for_workers") else {
        return;
    };
    let a = pg.serve();
    let worker = a.user_token("worker", "caseworker");
    let mut files: Vec<(String, Vec<u8>)> = small_photos(3)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("p{i}.jpg"), p))
        .collect();
    files.push(("broken.jpg".into(), b"not a photo".to_vec()));
    let upload = || {
        let boundary = "homewardpgarchiveboundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nweb-1\r\n"
        )
        .into_bytes();
        for (name, bytes) in &files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
                     filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/api/batches", a.base))
            .header("Authorization", format!("Bearer {worker}"))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .expect("request");
        let mut res = agent().run(req).expect("upload answered");
        let status = res.status().as_u16();
        let v: Value =
            serde_json::from_slice(&res.body_mut().read_to_vec().expect("body")).expect("JSON");
        (status, v)
    };
    let (status, v) = upload();
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["queued"], 4, "{v}");
    let progress = || {
        a.call("GET", "/api/batches/web-1", Some(&worker), Body::Empty)
            .json()
    };
    let p = progress();
    assert_eq!(
        (p["queued"].as_u64(), p["state"].as_str()),
        (Some(4), Some("queued")),
        "{p}"
    );
    // Nothing was analysed by the server: the workers do it.
    // Exit status 1: some item failed (the broken photo).
    let status = pg.worker().wait().expect("worker ends");
    assert_eq!(status.code(), Some(1), "{status}");
    let p = progress();
    assert_eq!(p["queued"], 0, "{p}");
    assert_eq!(p["state"], "done", "{p}");
    assert_eq!(p["recorded"], 3, "{p}");
    assert_eq!(p["failed"], 1, "{p}");
    // The same upload again: the recorded photos are not queued again.
    let (status, v) = upload();
    assert_eq!(status, 202, "{v}");
    let again = v["queued"].as_u64().expect("queued");
    assert!(again <= 1, "only the failed item may be tried again: {v}");
    let inbox = pg.root.path().join("inbox");
    let waiting = std::fs::read_dir(&inbox)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0);
    assert_eq!(waiting as u64, again, "inbox holds only what is queued");
}
