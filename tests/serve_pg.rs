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

#[allow(dead_code)]
mod common;

use std::io::Cursor;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::accounts::Auth;
use common::fixtures::{fixture, ADMIN_PASSWORD, PASSWORD};
use common::forms;
use common::http::{self, Body, Resp};
use common::pg::Pg;
use common::server::{self, Serve, Server};
use serde_json::json;

/// How soon a change made through one server shows through the other
/// (the follower wakes on each announcement, or polls every 500 ms).
const BOUND: Duration = Duration::from_secs(2);

impl Pg {
    /// The registry of `test`, made with `homeward init`.
    fn initialised(test: &str) -> Option<Pg> {
        let pg = Pg::new(test)?;
        let out = pg.admin(&["init"]).output().expect("homeward init runs");
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    /// `homeward ARGS` with the first admin in its environment.
    fn admin(&self, args: &[&str]) -> Command {
        let mut c = self.command(args);
        c.env("HOMEWARD_ADMIN_USER", "admin")
            .env("HOMEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null());
        c
    }

    /// Starts a server on a free loopback port.
    fn serve(&self) -> Server {
        let more = [("--analysis-queue", Some("64"))];
        let args = server::args(&more, &["--upload-burst", "10000"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut s = Serve::command(self.admin(&args)).start();
        s.agent = patient();
        s
    }

    fn worker(&self) -> Child {
        self.admin(&["worker", "--until-idle", "--upsample=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker starts")
    }
}

/// An agent that gives up on a request after two minutes.
fn patient() -> ureq::Agent {
    http::agent_within(Some(Duration::from_secs(120)))
}

/// A request with a bearer token (or none), a JSON body or a photo
/// upload with form fields. `None` when the server could not be reached.
fn request(base: &str, method: &str, path: &str, token: Option<&str>, body: Body) -> Option<Resp> {
    let auth = token.map_or(Auth::None, |t| Auth::Bearer(t.to_string()));
    http::try_send(
        &patient(),
        base,
        method,
        path,
        &auth.headers(),
        body.encode(),
    )
    .ok()
}

impl Server {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        request(&self.base, method, path, token, body)
            .unwrap_or_else(|| panic!("{method} {path}: no answer from {}", self.base))
    }

    /// Signs in as the admin and makes a user of `role` with an API token.
    fn user_token(&self, name: &str, role: &str) -> String {
        let admin = Auth::Bearer(self.admin_token());
        self.add_user_with_token(&admin, name, role)
    }

    /// An admin token, made once per server from a cookie session.
    fn admin_token(&self) -> String {
        let session = self.session("admin", ADMIN_PASSWORD);
        let cookie = Auth::Cookie(session.secret().to_string(), None);
        let users = self.req("GET", "/api/users", &cookie, Body::Empty).json();
        let admin_id = users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["username"] == "admin"))
            .and_then(|u| u["id"].as_u64())
            .expect("admin's id");
        self.add_token(&session.auth(), admin_id, "admin script")
    }

    /// The case ids a search with `photo` returns (top 5).
    fn search(&self, token: &str, photo: &[u8]) -> Option<Vec<u64>> {
        let r = request(
            &self.base,
            "POST",
            "/api/search",
            Some(token),
            Body::Multipart(vec![("k", "5".into())], Some(photo.to_vec())),
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
fn within(limit: Duration, f: impl FnMut() -> bool) -> Option<Duration> {
    common::wait::within(limit, Duration::from_millis(50), f)
}

#[test]
fn two_servers_and_two_workers_share_one_registry() {
    let Some(pg) = Pg::initialised("two_servers_and_two_workers_share_one_registry") else {
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
        Body::Multipart(vec![("age_years", "6".into())], Some(fixture("obama.jpg"))),
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
        .admin(&[
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
                        Body::Multipart(vec![("k", "5".into())], Some(query.clone())),
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
    let Some(pg) = Pg::initialised("a_server_killed_during_uploads_keeps_every_receipt") else {
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
                        Body::Multipart(fields, Some(photos[i].clone())),
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
            Body::Multipart(
                vec![("place", "after the restart".into())],
                Some(photo.to_vec()),
            ),
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
    let Some(pg) = Pg::initialised("an_archive_uploaded_to_a_server_is_queued_for_workers") else {
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
        let photos: Vec<(&str, &str, &[u8])> = files
            .iter()
            .map(|(name, bytes)| ("photo", name.as_str(), bytes.as_slice()))
            .collect();
        let body = forms::multipart(&[("name", "web-1")], &photos);
        let bearer = [("Authorization", format!("Bearer {worker}"))];
        let r = a.send("POST", "/api/batches", &bearer, Some(body));
        (r.status, r.json())
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
