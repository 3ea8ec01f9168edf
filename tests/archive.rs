//! Archive uploads while the server runs (issue 14): `POST /api/batches`
//! with a running `homeward serve` on a registry directory, its progress,
//! refusals, a re-upload, a restart in the middle, `homeward batch
//! --server`, and the lock error naming the server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "admin password for tests";
const PASSWORD: &str = "a long test password";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// A running `homeward serve` on `dir/db`, stopped (SIGTERM) on drop.
struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let db = dir.join("db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_homeward"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--insecure-cookies",
                "--upsample",
                "0",
                "--max-bytes",
                "400000",
                "--rate-per-minute",
                "100000",
                "--rate-burst",
                "100000",
                "--upload-per-minute",
                "100000",
                "--upload-burst",
                "1000",
                "--db",
            ])
            .arg(&db)
            .env("HOMEWARD_ADMIN_USER", "admin")
            .env("HOMEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("homeward serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Server {
            child,
            base,
            dir: dir.to_path_buf(),
            agent,
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One request; the status, the `set-cookie` header and the JSON body.
    fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        ct: Option<String>,
        body: Vec<u8>,
    ) -> (u16, String, Value) {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(ct) = ct {
            b = b.header("Content-Type", ct);
        }
        let mut res = self.agent.run(b.body(body).unwrap()).unwrap();
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        // The session cookie, or where a page redirects to.
        let session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("hw_session="))
            .unwrap_or("")
            .to_string();
        let cookie = format!("{session}{}", header("location"));
        let text = res.body_mut().read_to_string().unwrap();
        // Pages answer HTML: kept as a JSON string.
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, cookie, v)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        ct: Option<String>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let (st, _, v) = self.raw(
            method,
            path,
            &[("Authorization", format!("Bearer {token}"))],
            ct,
            body,
        );
        (st, v)
    }

    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send("GET", path, token, None, Vec::new())
    }

    /// `POST /api/batches` with these text fields and files.
    fn upload(
        &self,
        token: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, Vec<u8>)],
    ) -> (u16, Value) {
        let auth = [("Authorization", format!("Bearer {token}"))];
        let (st, _, v) = self.post_form("/api/batches", &auth, fields, files);
        (st, v)
    }

    /// A multipart POST; the status, the redirect (if any) and the body.
    fn post_form(
        &self,
        path: &str,
        headers: &[(&str, String)],
        fields: &[(&str, &str)],
        files: &[(&str, &str, Vec<u8>)],
    ) -> (u16, String, Value) {
        let boundary = "homewardarchiveboundary1f3e";
        let mut b = Vec::new();
        for (k, v) in fields {
            b.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (part, file, bytes) in files {
            b.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            b.extend_from_slice(bytes);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = Some(format!("multipart/form-data; boundary={boundary}"));
        self.raw("POST", path, headers, ct, b)
    }

    /// Polls the batch until nothing is queued; its final view.
    fn wait_done(&self, url: &str, token: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let (status, v) = self.get(url, token);
            if status == 200 && v["queued"] == 0 {
                return v;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "batch not done: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Signs in as the first admin: the cookie (`name=value`) and the CSRF token.
    fn session(&self) -> (String, String) {
        let json = Some("application/json".to_string());
        let login = json!({ "username": "admin", "password": ADMIN_PASSWORD });
        let (st, cookie, v) = self.raw(
            "POST",
            "/api/session",
            &[],
            json,
            login.to_string().into_bytes(),
        );
        assert_eq!(st, 200, "{v}");
        let secret = cookie.split(';').next().unwrap().to_string();
        (secret, v["csrf_token"].as_str().unwrap().to_string())
    }

    /// Tokens for an admin, a case worker and a volunteer.
    fn tokens(&self) -> (String, String, String) {
        let json = Some("application/json".to_string());
        let (secret, csrf) = self.session();
        let call = |path: &str, v: Value| -> Value {
            let h = [("Cookie", secret.clone()), ("X-CSRF-Token", csrf.clone())];
            let (st, _, v) = self.raw("POST", path, &h, json.clone(), v.to_string().into_bytes());
            assert_eq!(st, 201, "{v}");
            v
        };
        let mk = |name: &str, role: &str| -> String {
            let u = call(
                "/api/users",
                json!({ "username": name, "password": PASSWORD, "role": role }),
            );
            let t = call(
                "/api/tokens",
                json!({ "user_id": u["id"], "name": "tests" }),
            );
            t["token"].as_str().unwrap().to_string()
        };
        (
            mk("root", "admin"),
            mk("worker", "caseworker"),
            mk("vol", "volunteer"),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn archive_files() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("photo", "obama.jpg", fixture("obama.jpg")),
        ("photo", "day2/obama2.jpg", fixture("obama2.jpg")),
        ("photo", "grace_hopper.jpg", fixture("grace_hopper.jpg")),
        ("photo", "notes.txt", b"not a photo at all".to_vec()),
    ]
}

#[test]
fn upload_is_recorded_once_with_progress_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (admin, worker, vol) = s.tokens();

    // Volunteers may not upload archives.
    let (st, v) = s.upload(&vol, &[("name", "street archive")], &archive_files());
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden", "{v}");

    // Refusals, each with the JSON error shape and nothing staged.
    let one = || vec![("photo", "obama.jpg", fixture("obama.jpg"))];
    for (fields, files, want) in [
        (vec![("name", "  ")], one(), 422),
        (vec![("name", "bad\u{1}name")], one(), 422),
        (vec![("name", "x")], vec![], 422),
        (
            vec![("name", "x")],
            vec![("photo", "../up.jpg", fixture("obama.jpg"))],
            422,
        ),
        (
            vec![("name", "x")],
            vec![("photo", "empty.jpg", Vec::new())],
            422,
        ),
        (
            vec![("name", "x")],
            vec![("photo", "big.png", fixture("astronaut.png"))],
            413,
        ),
        (
            vec![("name", "x")],
            vec![
                ("photo", "a.jpg", fixture("obama.jpg")),
                ("photo", "a.jpg", fixture("obama.jpg")),
            ],
            422,
        ),
        (
            vec![("name", "x"), ("manifest", "other.jpg,2024-05-01\n")],
            one(),
            422,
        ),
    ] {
        let (st, v) = s.upload(&worker, &fields, &files);
        assert_eq!(st, want, "{fields:?}: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert_eq!(v["error"]["status"], want, "{v}");
    }
    assert_eq!(s.get("/api/batches/x", &worker).0, 404);
    let staged: Vec<_> = std::fs::read_dir(s.db().join("uploads")).unwrap().collect();
    assert!(staged.is_empty(), "refused uploads left files: {staged:?}");

    // Three photos and a file that is not one.
    let (st, v) = s.upload(&worker, &[("name", "street archive")], &archive_files());
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["items"], 4);
    assert_eq!(v["progress_url"], "/api/batches/street%20archive");
    let url = v["progress_url"].as_str().unwrap().to_string();
    let done = s.wait_done(&url, &worker);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["items"], 4, "{done}");
    assert_eq!(done["recorded"], 3, "{done}");
    assert_eq!(done["failed"], 1, "{done}");
    let failed: Vec<_> = done["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "failed")
        .map(|r| r["item"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed, ["notes.txt"]);
    let sightings = |t: &str| s.get("/api/sightings", t).1.as_array().unwrap().len();
    assert_eq!(sightings(&admin), 3);

    // The same archive again: nothing is recorded twice.
    let (st, v) = s.upload(&admin, &[("name", "street archive")], &archive_files());
    assert_eq!(st, 202, "{v}");
    let again = s.wait_done(&url, &worker);
    assert_eq!(
        (again["items"].clone(), again["recorded"].clone()),
        (json!(4), json!(3)),
        "{again}"
    );
    assert_eq!(sightings(&admin), 3);

    // With a manifest: its fields go to the sighting.
    let (st, v) = s.upload(
        &worker,
        &[
            ("name", "with manifest"),
            (
                "manifest",
                "path,when,where,age_range,sex\nobama3.jpg,2024-05-01,market,6-9,m\n",
            ),
        ],
        &[("photo", "obama3.jpg", fixture("obama2.jpg"))],
    );
    assert_eq!(st, 202, "{v}");
    let m = s.wait_done(v["progress_url"].as_str().unwrap(), &worker);
    assert_eq!(m["items"], 1, "{m}");
    let sid = m["results"][0]["sighting_id"].as_u64().expect("recorded");
    let (_, sv) = s.get(&format!("/api/sightings/{sid}"), &worker);
    assert_eq!(sv["seen_at"], "2024-05-01", "{sv}");

    // The list shows both batches.
    let (_, list) = s.get("/api/batches", &worker);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn a_crash_after_acceptance_is_resumed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (_, worker, _) = s.tokens();
    let (st, v) = s.upload(&worker, &[("name", "resumed")], &archive_files());
    assert_eq!(st, 202, "{v}");
    s.crash();
    // Whatever was done before the crash stays done; the rest is resumed.
    // The tokens live in the account store: still valid.
    let s = Server::start(dir.path());
    let worker2 = worker;
    let done = s.wait_done("/api/batches/resumed", &worker2);
    assert_eq!(done["items"], 4, "{done}");
    assert_eq!(done["recorded"], 3, "{done}");
    assert_eq!(
        s.get("/api/sightings", &worker2)
            .1
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let left: Vec<_> = std::fs::read_dir(s.db().join("uploads")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_batches_page_uploads_and_shows_progress() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (cookie, csrf) = s.session();
    let h = [("Cookie", cookie.clone())];
    let (st, _, page) = s.raw("GET", "/batches", &h, None, Vec::new());
    assert_eq!(st, 200);
    let html = page.as_str().unwrap();
    assert!(
        html.contains(r#"enctype="multipart/form-data""#) && html.contains("multiple"),
        "{html}"
    );
    assert!(html.contains(&csrf), "the form carries the CSRF token");

    // Without the CSRF token: refused, nothing staged.
    let files = [("photo", "obama.jpg", fixture("obama.jpg"))];
    let (st, _, _) = s.post_form("/batches", &h, &[("name", "page batch")], &files);
    assert_eq!(st, 403);
    assert_eq!(
        std::fs::read_dir(s.db().join("uploads")).unwrap().count(),
        0
    );

    let (st, to, _) = s.post_form(
        "/batches",
        &h,
        &[("csrf", &csrf), ("name", "page batch")],
        &files,
    );
    assert_eq!(st, 303, "{to}");
    assert_eq!(to.as_str(), "/batches?name=page%20batch");
    let t0 = Instant::now();
    loop {
        let (_, _, page) = s.raw("GET", &to, &h, None, Vec::new());
        let html = page.as_str().unwrap().to_string();
        assert!(html.contains("batch-progress"), "{html}");
        if !html.contains("http-equiv=\"refresh\"") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "still refreshing");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Anonymous callers get the sign-in page, not the form.
    let (_, _, page) = s.raw("GET", "/batches", &[], None, Vec::new());
    let html = page.as_str().unwrap_or("");
    assert!(!html.contains(r#"action="/batches""#), "{html}");
}

/// `homeward ARGS` with `HOMEWARD_TOKEN` (if any): exit code, stdout, stderr.
fn cli(args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_homeward"));
    c.args(args).env_remove("HOMEWARD_TOKEN");
    if let Some(t) = token {
        c.env("HOMEWARD_TOKEN", t);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_batch_uploads_to_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (_, worker, vol) = s.tokens();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("day2")).unwrap();
    std::fs::copy(fixture_path("obama.jpg"), photos.join("obama.jpg")).unwrap();
    std::fs::copy(fixture_path("obama2.jpg"), photos.join("day2/obama2.jpg")).unwrap();
    std::fs::copy(fixture_path("grace_hopper.jpg"), photos.join("grace.jpg")).unwrap();
    std::fs::write(photos.join("broken.jpg"), b"not a photo").unwrap();
    let p = photos.to_str().unwrap();
    let base = s.base.clone();
    let args = [
        "batch", p, "--server", &base, "--name", "from cli", "--json",
    ];

    // No token, a volunteer's token, no server: clear errors, no token shown.
    let (code, _, err) = cli(&args, None);
    assert_ne!(code, 0);
    assert!(err.contains("HOMEWARD_TOKEN"), "{err}");
    let (code, _, err) = cli(&args, Some(&vol));
    assert_ne!(code, 0);
    assert!(err.contains("403") && err.contains("tokens page"), "{err}");
    assert!(!err.contains(&vol), "the token is never printed: {err}");
    let (code, _, err) = cli(
        &["batch", p, "--server", "http://127.0.0.1:9", "--json"],
        Some(&worker),
    );
    assert_ne!(code, 0);
    assert!(err.contains("cannot reach the server"), "{err}");

    let (_, out, err) = cli(&args, Some(&worker));
    let done: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(done["items"], 4, "{done}");
    assert_eq!(done["recorded"], 3, "{done}");
    assert_eq!(done["failed"], 1, "{done}");
    assert!(!err.contains(&worker) && !out.contains(&worker));
    // Again: nothing recorded twice.
    let (_, out, _) = cli(&args, Some(&worker));
    let again: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(again["recorded"], 3, "{again}");
    assert_eq!(
        s.get("/api/sightings", &worker).1.as_array().unwrap().len(),
        3
    );

    // A CSV input sends its manifest: the rows' dates reach the sightings.
    let csv = photos.join("list.csv");
    std::fs::write(
        &csv,
        "path,when,where,age_range,sex\nobama.jpg,2023-04-05,market,6-9,m\n",
    )
    .unwrap();
    let (_, out, err) = cli(
        &[
            "batch",
            csv.to_str().unwrap(),
            "--server",
            &base,
            "--name",
            "csv",
            "--json",
        ],
        Some(&worker),
    );
    let done: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(done["items"], 1, "{done}");
    let (_, v) = s.get("/api/batches/csv", &worker);
    let sid = v["results"][0]["sighting_id"].as_u64().expect("recorded");
    assert_eq!(
        s.get(&format!("/api/sightings/{sid}"), &worker).1["seen_at"],
        "2023-04-05"
    );
}

#[test]
fn batch_on_a_served_registry_names_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let db = s.db();
    let (code, _, err) = cli(
        &[
            "batch",
            fixture_path("obama.jpg")
                .parent()
                .unwrap()
                .join("noface")
                .to_str()
                .unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("homeward serve"), "{err}");
    assert!(err.contains(&format!("--server {}", s.base)), "{err}");
}
