//! HTTP API tests: the `homeward serve` binary is started on 127.0.0.1:0
//! with a fresh registry and driven over loopback. Covers every endpoint,
//! the authorisation matrix (anonymous, volunteer, case worker, admin),
//! sessions with CSRF, JSON errors with their status codes, limits, rate
//! limits, security headers, the access log and the startup rules.

#[allow(dead_code)]
mod common;

use std::io::Cursor;

use common::accounts::Auth;
use common::cli::{homeward, json_on};
use common::fixtures::{fixture, fixture_path, path, ADMIN_PASSWORD, PASSWORD};
use common::http::{Body, Resp};
use common::server::{self, Serve, Server};
use serde_json::{json, Value};

/// This file's limits beyond the quick flags: the tests of hostile input
/// change them.
const LIMITS: [(&str, Option<&str>); 3] = [
    ("--max-bytes", Some("400000")),
    ("--max-pixels", Some("1500000")),
    ("--analysis-workers", Some("2")),
];

impl Server {
    /// A server on a fresh registry; `extra` flags replace the defaults.
    fn start(extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// [`Server::start`] with the server's log (stderr) written to
    /// `server.log` in its directory; read it with [`Server::log`].
    fn start_logged(extra: &[&str]) -> Server {
        Serve::fresh(&server::args(&LIMITS, extra)).logged().start()
    }

    /// Serves the registry at `dir/db`, which may already hold data.
    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Serve::in_dir(dir, &server::args(&LIMITS, extra)).start()
    }

    fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.req("GET", path, auth, Body::Empty)
    }

    fn post_json(&self, path: &str, auth: &Auth, v: Value) -> Resp {
        self.req("POST", path, auth, Body::Json(v))
    }

    /// Signs in; returns the session secret and CSRF token.
    fn login(&self, user: &str, password: &str) -> (String, String) {
        let session = self.session(user, password);
        (session.secret().to_string(), session.csrf)
    }
}

/// Accounts, tokens and records every test needs.
struct World {
    admin: Auth,
    worker: Auth,
    volunteer: Auth,
    volunteer2: Auth,
    case_id: u64,
    photo_id: u64,
    sighting_id: u64,
    match_id: u64,
    receipt: String,
}

fn make_user(s: &Server, admin: &Auth, name: &str, role: &str) -> Auth {
    let token = s.add_user_with_token(admin, name, role);
    assert!(token.starts_with("hwt_"));
    Auth::Bearer(token)
}

fn submit(s: &Server, who: &Auth, photo: &str, place: &str) -> Resp {
    s.req(
        "POST",
        "/api/sightings",
        who,
        Body::Multipart(
            vec![
                ("place", place.to_string()),
                ("lat", "48.8566".into()),
                ("lon", "2.3522".into()),
                ("apparent_age", "8-11".into()),
                ("sex", "male".into()),
                ("note", "near the station".into()),
            ],
            Some(fixture(photo)),
        ),
    )
}

/// Signs in as the first admin and makes an admin API token.
fn admin_token(s: &Server) -> Auth {
    let admin_session = s.session("admin", ADMIN_PASSWORD).auth();
    let id = s.add_user(&admin_session, "root-script", "admin");
    Auth::Bearer(s.add_token(&admin_session, id, "admin script"))
}

/// Creates a case and adds one fixture photo to it; both must succeed.
fn case_with_photo(
    s: &Server,
    who: &Auth,
    case: Value,
    fields: Vec<(&'static str, String)>,
    photo: &str,
) -> (u64, Resp) {
    let r = s.post_json("/api/cases", who, case);
    assert_eq!(r.status, 201, "{}", r.text());
    let case_id = r.json()["id"].as_u64().unwrap();
    let r = s.req(
        "POST",
        &format!("/api/cases/{case_id}/photos"),
        who,
        Body::Multipart(fields, Some(fixture(photo))),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (case_id, r)
}

fn world(s: &Server) -> World {
    let admin = admin_token(s);
    let worker = make_user(s, &admin, "worker", "caseworker");
    let volunteer = make_user(s, &admin, "vol", "volunteer");
    let volunteer2 = make_user(s, &admin, "vol2", "volunteer");

    let (case_id, r) = case_with_photo(
        s,
        &worker,
        json!({ "child_name": "Barack Test", "sex": "male", "birth_year": 2015,
                "missing_date": "2024-03-01", "missing_place": "Lyon" }),
        vec![("age_months", "96".into()), ("source", "family".into())],
        "obama.jpg",
    );
    assert_eq!(r.json()["faces"], 1);
    let photo_id = r.json()["photo_id"].as_u64().unwrap();
    // Another case, to check the sighting lands beside the right one.
    case_with_photo(
        s,
        &worker,
        json!({ "child_name": "Grace Test", "sex": "female", "missing_place": "Nantes" }),
        vec![("age_years", "7".into())],
        "grace_hopper.jpg",
    );

    let r = submit(s, &volunteer, "obama2.jpg", "Gare de Lyon, quai 3");
    assert_eq!(r.status, 201, "{}", r.text());
    let receipt = r.json()["receipt"].as_str().unwrap().to_string();

    let q = s.get("/api/review", &worker).json();
    let item = q
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["case_id"] == case_id)
        .unwrap_or_else(|| panic!("no match beside case {case_id}: {q}"));
    World {
        admin,
        worker,
        volunteer,
        volunteer2,
        case_id,
        photo_id,
        sighting_id: item["sighting_id"].as_u64().unwrap(),
        match_id: item["match_id"].as_u64().unwrap(),
        receipt,
    }
}

/// Role columns of the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anon,
    Vol,
    Worker,
    Admin,
}

/// Least role an endpoint needs (None: public).
#[derive(Clone, Copy, Debug)]
enum Needs {
    Public,
    Volunteer,
    CaseWorker,
    Admin,
}

fn allowed(needs: Needs, who: Who) -> bool {
    let rank = |w: Who| match w {
        Who::Anon => 0,
        Who::Vol => 1,
        Who::Worker => 2,
        Who::Admin => 3,
    };
    let need = match needs {
        Needs::Public => 0,
        Needs::Volunteer => 1,
        Needs::CaseWorker => 2,
        Needs::Admin => 3,
    };
    rank(who) >= need
}

#[test]
fn authorisation_matrix() {
    let s = Server::start(&[]);
    let w = world(&s);
    let (c, m, sid, p) = (w.case_id, w.match_id, w.sighting_id, w.photo_id);
    // A case per caller for the erasure row, so each allowed erase has work to do.
    type Row = (&'static str, String, Needs, fn() -> Body);
    let rows: Vec<Row> = vec![
        ("GET", "/api/openapi.json".into(), Needs::Public, || {
            Body::Empty
        }),
        ("GET", "/api/health".into(), Needs::Public, || Body::Empty),
        ("GET", "/api/me".into(), Needs::Volunteer, || Body::Empty),
        ("POST", "/api/sightings".into(), Needs::Volunteer, || {
            Body::Multipart(
                vec![("place", "Somewhere".into())],
                Some(fixture("grace_hopper.jpg")),
            )
        }),
        (
            "GET",
            format!("/api/receipts/{}", w.receipt),
            Needs::Volunteer,
            || Body::Empty,
        ),
        ("GET", "/api/sightings".into(), Needs::CaseWorker, || {
            Body::Empty
        }),
        (
            "GET",
            format!("/api/sightings/{sid}"),
            Needs::CaseWorker,
            || Body::Empty,
        ),
        (
            "GET",
            format!("/api/sightings/{sid}/photo"),
            Needs::CaseWorker,
            || Body::Empty,
        ),
        ("GET", "/api/cases".into(), Needs::CaseWorker, || {
            Body::Empty
        }),
        ("POST", "/api/cases".into(), Needs::CaseWorker, || {
            Body::Json(json!({ "child_name": "Matrix Child", "missing_place": "X" }))
        }),
        ("GET", format!("/api/cases/{c}"), Needs::CaseWorker, || {
            Body::Empty
        }),
        (
            "GET",
            format!("/api/cases/{c}/timeline"),
            Needs::CaseWorker,
            || Body::Empty,
        ),
        (
            "POST",
            format!("/api/cases/{c}/status"),
            Needs::CaseWorker,
            || Body::Json(json!({ "status": "searching" })),
        ),
        (
            "POST",
            format!("/api/cases/{c}/photos"),
            Needs::CaseWorker,
            || {
                Body::Multipart(
                    vec![("age_months", "100".into())],
                    Some(fixture("obama2.jpg")),
                )
            },
        ),
        ("GET", format!("/api/photos/{p}"), Needs::CaseWorker, || {
            Body::Empty
        }),
        ("POST", "/api/search".into(), Needs::CaseWorker, || {
            Body::Multipart(vec![("k", "3".into())], Some(fixture("grace_hopper.jpg")))
        }),
        ("GET", "/api/review".into(), Needs::CaseWorker, || {
            Body::Empty
        }),
        ("GET", format!("/api/review/{m}"), Needs::CaseWorker, || {
            Body::Empty
        }),
        (
            "POST",
            format!("/api/review/{m}/reject"),
            Needs::CaseWorker,
            || Body::Json(json!({ "note": "matrix" })),
        ),
        (
            "POST",
            format!("/api/review/{m}/confirm"),
            Needs::CaseWorker,
            || Body::Empty,
        ),
        (
            "POST",
            format!("/api/review/{m}/undo"),
            Needs::CaseWorker,
            || Body::Empty,
        ),
        ("GET", "/api/batches".into(), Needs::CaseWorker, || {
            Body::Empty
        }),
        ("GET", "/api/batches/none".into(), Needs::CaseWorker, || {
            Body::Empty
        }),
        ("GET", "/api/users".into(), Needs::Admin, || Body::Empty),
        ("POST", "/api/users".into(), Needs::Admin, || {
            Body::Json(
                json!({ "username": "matrix-user", "password": PASSWORD, "role": "volunteer" }),
            )
        }),
        ("PATCH", "/api/users/999".into(), Needs::Admin, || {
            Body::Json(json!({ "disabled": true }))
        }),
        ("GET", "/api/tokens".into(), Needs::Admin, || Body::Empty),
        ("POST", "/api/tokens".into(), Needs::Admin, || {
            Body::Json(json!({ "user_id": 999, "name": "m" }))
        }),
        ("DELETE", "/api/tokens/999".into(), Needs::Admin, || {
            Body::Empty
        }),
        ("GET", "/api/audit".into(), Needs::Admin, || Body::Empty),
        ("DELETE", "/api/cases/999".into(), Needs::Admin, || {
            Body::Empty
        }),
        ("DELETE", "/api/session".into(), Needs::Volunteer, || {
            Body::Empty
        }),
    ];
    let callers = [
        (Who::Anon, Auth::None),
        (Who::Vol, w.volunteer.clone()),
        (Who::Worker, w.worker.clone()),
        (Who::Admin, w.admin.clone()),
    ];
    let mut failures = Vec::new();
    let mut table = String::new();
    for (method, path, needs, body) in &rows {
        table.push_str(&format!("{method:6} {path:32}"));
        for (who, auth) in &callers {
            let r = s.req(method, path, auth, body());
            let ok = allowed(*needs, *who);
            let denied = r.status == 401 || r.status == 403;
            table.push_str(&format!(" {:?}={}", who, r.status));
            if ok == denied {
                failures.push(format!(
                    "{method} {path} as {who:?}: got {} {}",
                    r.status,
                    r.text()
                ));
            }
            if denied {
                let expect = if *who == Who::Anon { 401 } else { 403 };
                assert_eq!(r.status, expect, "{method} {path} as {who:?}");
                assert!(r.json()["error"]["code"].is_string());
            }
            if ok && r.status >= 500 {
                failures.push(format!(
                    "{method} {path} as {who:?}: server error {}",
                    r.text()
                ));
            }
        }
        table.push('\n');
    }
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "authorisation matrix:\n{}",
        failures.join("\n")
    );

    // Every route in the matrix is documented.
    let doc = s.get("/api/openapi.json", &Auth::None).json();
    for (method, path, _, _) in &rows {
        let templ = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|k| {
                let a: Vec<&str> = k.split('/').collect();
                let b: Vec<&str> = path.split('/').collect();
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.starts_with('{') || x == y)
            })
            .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
        assert!(
            doc["paths"][templ][method.to_lowercase()].is_object(),
            "{method} {templ} is not in openapi.json"
        );
    }
}

#[test]
fn volunteers_never_see_sightings_places_or_photos() {
    let s = Server::start(&[]);
    let w = world(&s);
    // The receipt says it was received, nothing about places or matches.
    let r = s.get(&format!("/api/receipts/{}", w.receipt), &w.volunteer);
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        !text.contains("Gare de Lyon") && !text.contains("48.85") && !text.contains("sighting_id"),
        "{text}"
    );
    assert!(!text.contains("Barack"), "{text}");
    // Another volunteer cannot even see that receipt.
    assert_eq!(
        s.get(&format!("/api/receipts/{}", w.receipt), &w.volunteer2)
            .status,
        404
    );
    // No read of a sighting, its place or its photo, with a token or anonymously.
    for path in [
        format!("/api/sightings/{}", w.sighting_id),
        format!("/api/sightings/{}/photo", w.sighting_id),
        "/api/sightings".to_string(),
        format!("/api/review/{}", w.match_id),
        "/api/review".to_string(),
    ] {
        for auth in [&Auth::None, &w.volunteer] {
            let r = s.get(&path, auth);
            assert!(r.status == 401 || r.status == 403, "{path}: {}", r.status);
            let t = r.text();
            assert!(!t.contains("Gare de Lyon") && !t.contains("48.85"));
            assert_ne!(r.header("content-type").unwrap_or(""), "image/jpeg");
        }
    }
    // The submit response itself does not reveal whether a case matched.
    let r = submit(&s, &w.volunteer, "obama2.jpg", "Elsewhere");
    assert_eq!(r.status, 201);
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["faces", "message", "receipt", "received_at"]);
    // A case worker does see the place and the photo.
    let r = s.get(&format!("/api/sightings/{}", w.sighting_id), &w.worker);
    assert_eq!(r.json()["place"], "Gare de Lyon, quai 3");
    assert_eq!(r.json()["note"], "near the station");
    let r = s.get(
        &format!("/api/sightings/{}/photo", w.sighting_id),
        &w.worker,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    // The photo as sent, less its metadata (EXIF, IPTC, XMP: issue 15,
    // tests/volunteer.rs): the compressed image data is byte for byte the same.
    let scan = r.body.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    assert!(fixture("obama2.jpg").ends_with(&r.body[scan..]));
    assert!(!r.body.windows(6).any(|w| w == b"Exif\0\0"));
}

#[test]
fn sighting_review_flow_and_audit() {
    let s = Server::start(&[]);
    let w = world(&s);
    // The queue puts the sighting beside the right case, with band and why.
    let q = s.get("/api/review", &w.worker).json();
    let first = &q[0];
    assert_eq!(first["case_id"], w.case_id, "{q}");
    assert_eq!(first["child_name"], "Barack Test");
    assert!(["strong", "possible", "weak"].contains(&first["band"].as_str().unwrap()));
    assert!(first["why"].as_str().unwrap().contains("est. false-match"));
    assert!(first["est_false_match_rate"].as_f64().unwrap() <= 0.05);
    let d = first["distance"].as_f64().unwrap();
    assert!(d < 0.6, "same person should be near: {d}");

    let item = s
        .get(&format!("/api/review/{}", w.match_id), &w.worker)
        .json();
    assert_eq!(item["sighting"]["id"], w.sighting_id);
    assert_eq!(item["case"]["id"], w.case_id);
    assert_eq!(item["candidate_photos"][0]["photo_id"], w.photo_id);
    assert_eq!(item["candidate_photos"][0]["age_months"], 96);
    assert_eq!(item["state"], "pending");

    // Search ranks the same case first for another photo of the same person.
    let r = s.req(
        "POST",
        "/api/search",
        &w.worker,
        Body::Multipart(vec![("k", "5".into())], Some(fixture("obama2.jpg"))),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[0]["case_id"], w.case_id);

    // Case view: photos by age.
    let case = s
        .get(&format!("/api/cases/{}", w.case_id), &w.worker)
        .json();
    assert_eq!(case["child_name"], "Barack Test");
    assert_eq!(case["photos"][0]["age_months"], 96);
    let list = s.get("/api/cases", &w.worker).json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == w.case_id && c["pending_matches"] == 1));

    // Confirm with a note; deciding again is a conflict.
    let r = s.post_json(
        &format!("/api/review/{}/confirm", w.match_id),
        &w.worker,
        json!({ "note": "same child, checked scar" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "confirmed");
    let r = s.post_json(
        &format!("/api/review/{}/reject", w.match_id),
        &w.worker,
        json!({}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "conflict");
    let item = s
        .get(&format!("/api/review/{}", w.match_id), &w.worker)
        .json();
    assert_eq!(item["state"], "confirmed");
    assert_eq!(item["note"], "same child, checked scar");
    assert_eq!(item["reviewer"], "web:worker");
    assert!(s
        .get("/api/review", &w.worker)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["match_id"] != w.match_id));
    assert_eq!(
        s.get("/api/review?all=true", &w.worker)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["match_id"] == w.match_id)
            .count(),
        1
    );

    // Every read and write of personal data is in the access log.
    let log = s.get("/api/audit?limit=1000", &w.admin).json();
    let has = |actor: &str, action: &str, target: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["target"] == target)
    };
    assert!(has(
        "web:vol",
        "submit_sighting",
        &format!("sighting:{}", w.sighting_id)
    ));
    assert!(has(
        "web:worker",
        "read_match",
        &format!("match:{}", w.match_id)
    ));
    assert!(has(
        "web:worker",
        "confirm_match",
        &format!("match:{}", w.match_id)
    ));
    assert!(has(
        "web:worker",
        "read_case",
        &format!("case:{}", w.case_id)
    ));
    assert!(
        has("web:worker", "read_photo", &format!("photo:{}", w.photo_id)) || {
            let _ = s.get(&format!("/api/photos/{}", w.photo_id), &w.worker);
            let log = s.get("/api/audit?limit=1000", &w.admin).json();
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "read_photo")
        }
    );
    assert!(
        log.as_array().unwrap().iter().all(|e| {
            let t = e.to_string();
            !t.contains("Gare de Lyon") && !t.contains("Barack")
        }),
        "the access log holds no personal data"
    );

    // Erasure (admin): the case and its photos are gone.
    let r = s.req(
        "DELETE",
        &format!("/api/cases/{}", w.case_id),
        &w.admin,
        Body::Empty,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        s.get(&format!("/api/cases/{}", w.case_id), &w.worker)
            .status,
        404
    );
    assert_eq!(
        s.get(&format!("/api/photos/{}", w.photo_id), &w.worker)
            .status,
        404
    );
    let r = s.req(
        "DELETE",
        &format!("/api/cases/{}", w.case_id),
        &w.admin,
        Body::Empty,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn errors_are_json_with_the_right_status() {
    let s = Server::start(&[]);
    let w = world(&s);
    let check = |r: Resp, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{}",
            r.text()
        );
        let v = r.json();
        assert_eq!(v["error"]["status"], status);
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    };
    // 400: malformed JSON, bad path id, no photo.
    check(
        s.req(
            "POST",
            "/api/cases",
            &w.worker,
            Body::Raw("application/json", b"{not json".to_vec()),
        ),
        400,
        "bad_request",
    );
    check(s.get("/api/cases/abc", &w.worker), 400, "bad_request");
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(vec![("place", "x".into())], None),
        ),
        400,
        "bad_request",
    );
    // 401, 403.
    check(s.get("/api/cases", &Auth::None), 401, "unauthenticated");
    check(
        s.get("/api/cases", &Auth::Bearer("hwt_0000".into())),
        401,
        "unauthenticated",
    );
    check(s.get("/api/cases", &w.volunteer), 403, "forbidden");
    // 404: unknown route, unknown rows.
    check(s.get("/api/nothing-here", &w.worker), 404, "not_found");
    check(s.get("/api/cases/987654", &w.worker), 404, "not_found");
    check(s.get("/api/review/987654", &w.worker), 404, "not_found");
    check(
        s.post_json("/api/review/987654/confirm", &w.worker, json!({})),
        404,
        "not_found",
    );
    // 405: wrong method.
    check(
        s.req("PUT", "/api/cases", &w.worker, Body::Empty),
        405,
        "method_not_allowed",
    );
    // 409: existing user name.
    check(
        s.post_json(
            "/api/users",
            &w.admin,
            json!({ "username": "worker", "password": PASSWORD, "role": "volunteer" }),
        ),
        409,
        "conflict",
    );
    // 413: over the byte limit (400 kB here) and over the pixel limit (1.5 MP here).
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(vec![], Some(fixture("obama_partial_face.jpg"))),
        ),
        413,
        "too_large",
    );
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(vec![], Some(fixture("biden.jpg"))),
        ),
        413,
        "too_large",
    );
    // 415: not multipart; not an image; JSON endpoint without JSON.
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Raw("image/jpeg", fixture("grace_hopper.jpg")),
        ),
        415,
        "unsupported_media_type",
    );
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(vec![], Some(b"%PDF-1.4 not a photo".to_vec())),
        ),
        415,
        "unsupported_media_type",
    );
    check(
        s.req(
            "POST",
            "/api/cases",
            &w.worker,
            Body::Raw("text/plain", b"child".to_vec()),
        ),
        415,
        "unsupported_media_type",
    );
    // 422: no face; bad fields; short password.
    let mut blank = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        200,
        200,
        image::Rgb([128, 128, 128]),
    ))
    .write_to(&mut Cursor::new(&mut blank), image::ImageFormat::Png)
    .unwrap();
    // A sighting without a face is kept (issue 12), not refused.
    let r = s.req(
        "POST",
        "/api/sightings",
        &w.volunteer,
        Body::Multipart(vec![], Some(blank.clone())),
    );
    assert_eq!((r.status, r.json()["faces"].as_u64()), (201, Some(0)));
    check(
        s.req(
            "POST",
            "/api/search",
            &w.worker,
            Body::Multipart(vec![], Some(blank)),
        ),
        422,
        "unprocessable",
    );
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(
                vec![("lat", "95".into()), ("lon", "2".into())],
                Some(fixture("grace_hopper.jpg")),
            ),
        ),
        422,
        "unprocessable",
    );
    check(
        s.req(
            "POST",
            "/api/sightings",
            &w.volunteer,
            Body::Multipart(
                vec![("sex", "robot".into())],
                Some(fixture("grace_hopper.jpg")),
            ),
        ),
        422,
        "unprocessable",
    );
    check(
        s.post_json(
            "/api/cases",
            &w.worker,
            json!({ "child_name": "", "missing_place": "x" }),
        ),
        422,
        "unprocessable",
    );
    check(
        s.post_json(
            "/api/cases",
            &w.worker,
            json!({ "child_name": "A", "missing_date": "last year" }),
        ),
        422,
        "unprocessable",
    );
    check(
        s.post_json(
            "/api/users",
            &w.admin,
            json!({ "username": "shorty", "password": "short", "role": "volunteer" }),
        ),
        422,
        "unprocessable",
    );
    check(
        s.post_json(
            "/api/users",
            &w.admin,
            json!({ "username": "x", "password": PASSWORD, "role": "king" }),
        ),
        422,
        "unprocessable",
    );
    // 429: repeated wrong passwords for one account: after five, a delay
    // (4 s, then doubling), and Retry-After says the wait the message says.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            s.post_json(
                "/api/session",
                &Auth::None,
                json!({ "username": "worker", "password": "wrong password!!" }),
            )
            .status,
        );
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert_eq!(&statuses[5..], &[429; 3], "{statuses:?}");
    let r = s.post_json(
        "/api/session",
        &Auth::None,
        json!({ "username": "worker", "password": PASSWORD }),
    );
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=4).contains(&secs), "{secs}");
    assert!(r.text().contains(&format!("wait {secs} s")), "{}", r.text());
    check(r, 429, "rate_limited");
}

#[test]
fn per_user_rate_limits_apply() {
    let s = Server::start(&["--rate-per-minute", "60", "--rate-burst", "5"]);
    let (secret, _) = s.login("admin", ADMIN_PASSWORD);
    let admin = Auth::Cookie(secret, None);
    let statuses: Vec<u16> = (0..8).map(|_| s.get("/api/me", &admin).status).collect();
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
}

#[test]
fn sessions_cookies_and_csrf() {
    let s = Server::start(&[]);
    let r = s.post_json(
        "/api/session",
        &Auth::None,
        json!({ "username": "admin", "password": ADMIN_PASSWORD }),
    );
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let (secret, csrf) = s.login("admin", ADMIN_PASSWORD);
    // Reads work with the cookie alone; writes need the CSRF header.
    let no_csrf = Auth::Cookie(secret.clone(), None);
    let wrong = Auth::Cookie(secret.clone(), Some("0".repeat(64)));
    let good = Auth::Cookie(secret.clone(), Some(csrf.clone()));
    assert_eq!(s.get("/api/me", &no_csrf).json()["role"], "admin");
    let body = json!({ "child_name": "Csrf Child", "missing_place": "Paris" });
    let r = s.post_json("/api/cases", &no_csrf, body.clone());
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "csrf");
    assert_eq!(s.post_json("/api/cases", &wrong, body.clone()).status, 403);
    assert_eq!(s.post_json("/api/cases", &good, body).status, 201);
    // Page forms: a POST without the form's token is refused.
    let r = s.req(
        "POST",
        "/cases",
        &no_csrf,
        Body::Raw(
            "application/x-www-form-urlencoded",
            b"csrf=bad&child_name=X&missing_place=Y".to_vec(),
        ),
    );
    assert_eq!(r.status, 403);
    let form = format!("csrf={csrf}&child_name=Form+Child&missing_place=Y");
    let r = s.req(
        "POST",
        "/cases",
        &no_csrf,
        Body::Raw("application/x-www-form-urlencoded", form.into_bytes()),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    // Page login uses a double-submit token.
    let r = s.req(
        "POST",
        "/login",
        &Auth::None,
        Body::Raw(
            "application/x-www-form-urlencoded",
            format!(
                "username=admin&password={}&csrf=abc",
                ADMIN_PASSWORD.replace(' ', "+")
            )
            .into_bytes(),
        ),
    );
    assert_eq!(r.status, 403);
    // Sign out ends the session.
    assert_eq!(
        s.req("DELETE", "/api/session", &good, Body::Empty).status,
        204
    );
    assert_eq!(s.get("/api/me", &no_csrf).status, 401);
    // A disabled account's token stops working at once.
    let (secret, csrf) = s.login("admin", ADMIN_PASSWORD);
    let admin = Auth::Cookie(secret, Some(csrf));
    let vol = make_user(&s, &admin, "v1", "volunteer");
    assert_eq!(s.get("/api/me", &vol).status, 200);
    let users = s.get("/api/users", &admin).json();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "v1")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        s.req(
            "PATCH",
            &format!("/api/users/{id}"),
            &admin,
            Body::Json(json!({ "disabled": true }))
        )
        .status,
        204
    );
    assert_eq!(s.get("/api/me", &vol).status, 401);
    // Tokens are listed without their secrets; the disabled account's token
    // is revoked; the others can be revoked.
    let tokens = s.get("/api/tokens", &admin).json();
    assert!(!tokens.to_string().contains("hwt_"));
    let list = tokens.as_array().unwrap();
    let of_v1 = list.iter().find(|t| t["username"] == "v1").unwrap();
    assert_eq!(of_v1["revoked"], true, "{of_v1}");
    let other = make_user(&s, &admin, "v2", "volunteer");
    assert_eq!(s.get("/api/me", &other).status, 200);
    let tokens = s.get("/api/tokens", &admin).json();
    let tid = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "v2")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        s.req("DELETE", &format!("/api/tokens/{tid}"), &admin, Body::Empty)
            .status,
        204
    );
    assert_eq!(
        s.req("DELETE", &format!("/api/tokens/{tid}"), &admin, Body::Empty)
            .status,
        404
    );
}

#[test]
fn pages_and_photos_carry_security_headers() {
    let s = Server::start(&[]);
    let w = world(&s);
    let (secret, _) = s.login("worker", PASSWORD);
    let worker = Auth::Cookie(secret, None);
    let (vsecret, _) = s.login("vol", PASSWORD);
    let vol = Auth::Cookie(vsecret, None);
    for (path, auth, status) in [
        ("/login".to_string(), &Auth::None, 200),
        ("/submit".to_string(), &vol, 200),
        ("/review".to_string(), &worker, 200),
        (format!("/review/{}", w.match_id), &worker, 200),
        (format!("/cases/{}", w.case_id), &worker, 200),
        (format!("/api/photos/{}", w.photo_id), &worker, 200),
        (
            format!("/api/sightings/{}/photo", w.sighting_id),
            &worker,
            200,
        ),
        ("/api/cases".to_string(), &worker, 200),
        ("/admin".to_string(), &worker, 403),
        ("/review".to_string(), &vol, 403),
    ] {
        let r = s.get(&path, auth);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        if r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
        {
            let html = r.text();
            assert!(!html.contains("<script>"), "{path}: no inline script");
            assert!(!html.contains(" style="), "{path}: no inline style");
            // Map links of a located sighting (case timeline) lead off-site
            // on purpose; nothing else may name another site.
            let html: String = html
                .split("<a class=\"map-link\" href=\"")
                .enumerate()
                .map(|(i, part)| match part.split_once('"') {
                    Some((url, rest)) if i > 0 => {
                        assert!(url.starts_with("https://"), "{path}: {url}");
                        rest
                    }
                    _ => part,
                })
                .collect();
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{path}: no third-party assets"
            );
        }
    }
    // The mobile page asks for the camera and has the fields.
    let html = s.get("/submit", &vol).text();
    assert!(html.contains(r#"accept="image/*""#) && html.contains(r#"capture="environment""#));
    assert!(
        html.contains(r#"name="apparent_age""#)
            && html.contains(r#"name="note""#)
            && html.contains(r#"name="csrf""#)
    );
    // Unauthenticated pages redirect to sign-in.
    let r = s.get("/review", &Auth::None);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    // The review page shows the sighting beside the case's photos.
    let html = s.get(&format!("/review/{}", w.match_id), &worker).text();
    assert!(html.contains(&format!("/api/sightings/{}/photo", w.sighting_id)));
    assert!(html.contains(&format!("/api/photos/{}", w.photo_id)));
    assert!(html.contains("Barack Test") && html.contains("est. false-match"));
}

/// Submissions the access log records as flagged `action`.
fn flagged(s: &Server, admin: &Auth, action: &str) -> usize {
    let log = s.get("/api/audit?limit=10000", admin).json();
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

#[test]
fn batches_two_way_matching_reposts_enrolment_and_erasure() {
    // An archive matched with `homeward batch` before the case exists.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    for f in ["obama2.jpg", "biden.jpg"] {
        std::fs::write(archive.join(f), fixture(f)).unwrap();
    }
    let out = homeward()
        .args([
            "batch",
            "--name",
            "station archive",
            "--upsample",
            "0",
            "--when",
            "2026-01-10",
            "--create",
        ])
        .arg("--db")
        .arg(dir.path().join("db"))
        .arg("--out")
        .arg(dir.path().join("report"))
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start_in(dir, &[]);
    let admin = admin_token(&s);
    let worker = make_user(&s, &admin, "worker", "caseworker");
    let volunteer = make_user(&s, &admin, "vol", "volunteer");

    // Batch status: both items recorded, nothing matched yet.
    let list = s.get("/api/batches", &worker).json();
    assert_eq!(list[0]["name"], "station archive", "{list}");
    assert_eq!(
        (list[0]["items"].as_u64(), list[0]["recorded"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(list[0]["failed"], 0);
    assert_eq!(list[0]["pending_matches"], 0);
    let b = s.get("/api/batches/station%20archive", &worker);
    assert_eq!(b.status, 200, "{}", b.text());
    let items = b.json()["results"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["kind"] == "new"), "{items:?}");
    assert_eq!(s.get("/api/batches/unknown", &worker).status, 404);
    assert_eq!(s.get("/api/batches", &volunteer).status, 403);

    // A new case surfaces the old sighting of the same person.
    let (case_id, r) = case_with_photo(
        &s,
        &worker,
        json!({ "child_name": "Barack Test", "sex": "male", "birth_year": 2015, "missing_place": "Lyon" }),
        vec![("age_months", "96".into())],
        "obama.jpg",
    );
    assert_eq!(r.json()["surfaced_sightings"], 1, "{}", r.text());
    let q = s.get("/api/review", &worker).json();
    let m = q
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["case_id"] == case_id)
        .cloned();
    let m = m.unwrap_or_else(|| panic!("old sighting not queued: {q}"));
    assert_eq!(
        s.get("/api/batches", &worker).json()[0]["pending_matches"],
        1
    );

    // The family's own photo going round is a repost, never a sighting.
    let before = s
        .get("/api/review", &worker)
        .json()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(submit(&s, &volunteer, "obama.jpg", "Online").status, 201);
    assert_eq!(
        s.get("/api/review", &worker)
            .json()
            .as_array()
            .unwrap()
            .len(),
        before
    );
    assert_eq!(flagged(&s, &admin, "flag_poster_repost"), 1);
    // A repeat of a sighting joins its group.
    assert_eq!(submit(&s, &volunteer, "obama2.jpg", "Again").status, 201);
    assert_eq!(flagged(&s, &admin, "flag_duplicate"), 1);

    // Confirming enrols the sighting's face in the case's gallery.
    let r = s.post_json(
        &format!("/api/review/{}/confirm", m["match_id"]),
        &worker,
        json!({ "note": "same child" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let case = s.get(&format!("/api/cases/{case_id}"), &worker).json();
    assert_eq!(case["photos"].as_array().unwrap().len(), 2, "{case}");

    // After erasure its photo is no longer anyone's poster.
    let r = s.req(
        "DELETE",
        &format!("/api/cases/{case_id}"),
        &admin,
        Body::Empty,
    );
    assert_eq!(r.status, 204);
    assert_eq!(submit(&s, &volunteer, "obama.jpg", "Online").status, 201);
    assert_eq!(flagged(&s, &admin, "flag_poster_repost"), 1);
}

#[test]
fn startup_needs_an_admin_and_never_a_default_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let args = ["serve", "--addr", "127.0.0.1:0"].map(String::from);
    let out = Serve::on(&db, &args)
        .env_remove("HOMEWARD_ADMIN_USER")
        .env_remove("HOMEWARD_ADMIN_PASSWORD")
        .run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HOMEWARD_ADMIN_PASSWORD"), "{err}");
    // A short password is refused too.
    let out = Serve::on(&db, &args)
        .env("HOMEWARD_ADMIN_PASSWORD", "admin")
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
}

#[test]
fn passwords_are_stored_hashed() {
    let s = Server::start(&[]);
    let _ = s.login("admin", ADMIN_PASSWORD);
    let bytes = std::fs::read(s.db().join("auth.sqlite")).unwrap();
    let wal = std::fs::read(s.db().join("auth.sqlite-wal")).unwrap_or_default();
    for b in [&bytes, &wal] {
        let text = String::from_utf8_lossy(b);
        assert!(!text.contains(ADMIN_PASSWORD));
    }
    assert!(
        String::from_utf8_lossy(&bytes).contains("$argon2id$")
            || String::from_utf8_lossy(&wal).contains("$argon2id$")
    );
}

// ---------- hostile input and overload (issue 13) ----------

/// A grey PNG of `w × h` pixels, compressed as far as it goes.
fn grey_png(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let pixels = vec![0u8; (w as usize) * (h as usize)];
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(&pixels, w, h, image::ExtendedColorType::L8)
    .unwrap();
    out
}

fn upload(s: &Server, who: &Auth, photo: Vec<u8>) -> Resp {
    s.req(
        "POST",
        "/api/sightings",
        who,
        Body::Multipart(vec![("place", "x".into())], Some(photo)),
    )
}

/// Finding 1: a tiny, very wide PNG drove the detector to gigabytes. Now
/// strips, slivers and photos whose analysis would not fit the memory
/// budget are refused from the header, with the limit in the message, and
/// the refusal is logged without the photo or the caller's data.
#[test]
fn photos_that_cannot_fit_are_refused_from_their_header() {
    let s = Server::start_logged(&["--max-pixels", "50000000", "--max-bytes", "2000000"]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "strip-vol", "volunteer");
    // 1,000,000 x 1 (1.7 GB before): a side under 32 px.
    let wide = grey_png(1_000_000, 1);
    assert!(wide.len() < 10_000, "{}", wide.len());
    let r = upload(&s, &vol, wide);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("minimum of 32 pixels"), "{}", r.text());
    // 2000 x 40: long enough sides, but 50:1.
    let r = upload(&s, &vol, grey_png(2000, 40));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("longer than 20:1"), "{}", r.text());
    // Finding 5: an all-black 7000 x 7000 PNG (2.7 GB, 30 s before) is over
    // the per-photo budget.
    let black = grey_png(7000, 7000);
    assert!(black.len() < 1_000_000, "{}", black.len());
    let r = upload(&s, &vol, black);
    assert_eq!(r.status, 413, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MiB per photo"),
        "{v}"
    );
    // An ordinary photo still goes through.
    assert_eq!(submit(&s, &vol, "obama.jpg", "Quai 3").status, 201);
    let log = s.log();
    assert!(
        log.contains("event=\"upload_refused\" reason=\"too_small\""),
        "{log}"
    );
    assert!(log.contains("reason=\"over_budget\""), "{log}");
    assert!(log.contains("event=\"analysis_admitted\""), "{log}");
    assert!(
        !log.contains("Quai 3") && !log.contains("strip-vol"),
        "{log}"
    );
}

/// The server's whole budget bounds any one analysis: a photo that would
/// need more than all of it is refused (413), not queued forever.
#[test]
fn an_analysis_larger_than_the_server_budget_is_refused() {
    let s = Server::start(&["--analysis-budget-mib", "100"]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "vol", "volunteer");
    let r = submit(&s, &vol, "obama.jpg", "x");
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("whole analysis budget of 100 MiB"),
        "{}",
        r.text()
    );
}

/// Finding 2: a timed-out request's analysis kept its worker and ran to the
/// end. Now it is cancelled at the next pyramid level or network layer, and
/// its slot freed (the log records how long it was held), so the next
/// upload on the single worker runs.
#[test]
fn a_timed_out_analysis_is_cancelled_and_frees_its_slot() {
    let s = Server::start_logged(&[
        "--request-timeout",
        "1",
        "--analysis-workers",
        "1",
        "--upsample",
        "1",
        "--max-pixels",
        "4000000",
        "--max-bytes",
        "3000000",
        "--max-analysis-mib",
        "4096",
    ]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "vol", "volunteer");
    // 1600 x 2000 upsampled once: a 13-megapixel detection, many seconds.
    let img = image::load_from_memory(&fixture("obama.jpg")).unwrap();
    let big = img.resize_exact(1600, 2000, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    big.to_rgb8()
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let r = upload(&s, &vol, jpeg);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "timeout");
    // The analysis stops on its own; wait for it (bounded), not for a time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !s.log().contains("event=\"analysis_cancelled\"") {
        assert!(
            std::time::Instant::now() < deadline,
            "the analysis was never cancelled: {}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = s.log();
    assert!(log.contains("event=\"request_timeout\""), "{log}");
}

/// Finding 3: sign-in bodies of 30 MB were accepted and their user names
/// kept. Now the body is at most 4 KB and the user name 256 characters.
#[test]
fn sign_in_bodies_and_fields_are_small() {
    let s = Server::start(&[]);
    let huge = "u".repeat(30_000);
    let r = s.post_json(
        "/api/session",
        &Auth::None,
        json!({ "username": huge, "password": "x" }),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    let r = s.post_json(
        "/api/session",
        &Auth::None,
        json!({ "username": "u".repeat(300), "password": "x" }),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("256 characters"), "{}", r.text());
}

/// Issue 13's leftover: a photo upload form of any number of parts was
/// read (only the body limit bounded them), each costing a parse and a
/// field. Now at most 64 parts, each named in at most 64 bytes: beyond
/// either, 413 with the limit in the message, before any analysis.
#[test]
fn upload_forms_have_a_part_count_and_a_name_length() {
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "parts-vol", "volunteer");
    let send = |fields: Vec<(&'static str, String)>, photo: bool| {
        s.req(
            "POST",
            "/api/sightings",
            &vol,
            Body::Multipart(fields, photo.then(|| fixture("obama.jpg"))),
        )
    };
    // 64 parts (the photo and 63 text fields) is the largest form taken.
    let r = send(vec![("place", "Quai 3".to_string()); 63], true);
    assert_eq!(r.status, 201, "{}", r.text());
    // 65 parts (1,000 would cost as little to send) is refused.
    for n in [65, 1000] {
        let r = send(vec![("place", "x".to_string()); n], false);
        assert_eq!(r.status, 413, "{n}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["code"], "too_large", "{v}");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("more than 64 parts"), "{v}");
    }
    // A field name of 65 bytes is refused and not echoed.
    let long: &'static str = Box::leak("n".repeat(65).into_boxed_str());
    let r = send(vec![(long, "x".to_string())], false);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("field name is over 64 bytes"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains(long), "{}", r.text());
    // One of 64 bytes is an unknown field like any other.
    let ok: &'static str = Box::leak("n".repeat(64).into_boxed_str());
    let r = send(
        vec![(ok, "x".to_string()), ("place", "Quai 3".to_string())],
        true,
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// A form refused part-way (here at its 65th part) is drained: a client
/// that writes its whole body before reading the answer, as this one and
/// many phone uploaders do, reads the 413 rather than a reset connection.
/// The photo after the refusal is larger than loopback's socket buffers,
/// and within the body limit (beyond it the drain stops, as it must).
#[test]
fn a_form_refused_part_way_is_drained_so_the_client_reads_the_refusal() {
    let s = Server::start(&["--max-bytes", "30000000"]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "drain-vol", "volunteer");
    let big = vec![0x5a_u8; 24 << 20];
    for _ in 0..2 {
        let r = s.req(
            "POST",
            "/api/sightings",
            &vol,
            Body::Multipart(vec![("place", "x".to_string()); 65], Some(big.clone())),
        );
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.text().contains("more than 64 parts"), "{}", r.text());
    }
}

/// Finding 4: spraying one password over 50 names never met a 429, and
/// behind a proxy every client shared one address. Now failures from one
/// address are limited whatever the name, and a trusted proxy's
/// X-Forwarded-For names the client.
#[test]
fn password_spraying_is_limited_per_client_behind_a_trusted_proxy() {
    let s = Server::start(&["--trusted-proxy", "127.0.0.1"]);
    let attempt = |name: String, client: &str| {
        let url = format!("{}/api/session", s.base);
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", format!("{client}, 127.0.0.1"))
            .body(json!({ "username": name, "password": "Summer2026!!" }).to_string())
            .unwrap();
        let res = s.agent.run(req).unwrap();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (res.status().as_u16(), retry)
    };
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(attempt(format!("user{i}"), "192.0.2.10"));
    }
    let first_429 = statuses.iter().position(|(st, _)| *st == 429);
    assert_eq!(first_429, Some(20), "{statuses:?}");
    assert!(statuses[..20].iter().all(|(st, _)| *st == 401));
    // Retry-After: when the next failure is allowed (one per 30 s refills).
    let secs: u64 = statuses[20].1.as_deref().unwrap().parse().unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    // Another client behind the same proxy is not affected.
    assert_eq!(attempt("user0".into(), "198.51.100.20").0, 401);
    // The admin still signs in from elsewhere.
    let _ = s.login("admin", ADMIN_PASSWORD);
}

/// Finding 7: re-enabling a disabled user revived their API tokens.
#[test]
fn disabling_a_user_revokes_their_tokens_for_good() {
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let vol = make_user(&s, &admin, "v1", "volunteer");
    assert_eq!(s.get("/api/me", &vol).status, 200);
    let id = s.get("/api/me", &vol).json()["id"].as_u64().unwrap();
    for disabled in [true, false] {
        let r = s.req(
            "PATCH",
            &format!("/api/users/{id}"),
            &admin,
            Body::Json(json!({ "disabled": disabled })),
        );
        assert_eq!(r.status, 204, "{}", r.text());
    }
    assert_eq!(s.get("/api/me", &vol).status, 401);
}

/// Finding 8: a page form without its CSRF field got a JSON 422; it gets an
/// HTML page now, like every other page error.
#[test]
fn a_form_without_its_csrf_field_gets_an_html_page() {
    let s = Server::start(&[]);
    let (secret, _) = s.login("admin", ADMIN_PASSWORD);
    let r = s.req(
        "POST",
        "/logout",
        &Auth::Cookie(secret, None),
        Body::Raw("application/x-www-form-urlencoded", b"other=1".to_vec()),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.header("content-type").unwrap().starts_with("text/html"),
        "{:?}",
        r.header("content-type")
    );
    assert!(r.text().contains("reload the page"), "{}", r.text());
}

/// Issue 12: a sighting with no detectable face is kept through both fronts,
/// with the same answer: recorded, 0 faces, nothing queued.
#[test]
fn a_sighting_without_a_face_is_kept_by_both_fronts() {
    let photo = "noface/brick.jpg";
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let worker = make_user(&s, &admin, "worker", "caseworker");
    let volunteer = make_user(&s, &admin, "vol", "volunteer");
    let r = s.req(
        "POST",
        "/api/sightings",
        &volunteer,
        Body::Multipart(vec![], Some(fixture(photo))),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["faces"], 0);
    let listed = s.get("/api/sightings", &worker).json();
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["faces"], 0);

    let tmp = tempfile::tempdir().unwrap();
    let out = json_on(
        tmp.path(),
        &[
            "sighting",
            "add",
            path(&fixture_path(photo)),
            "--when",
            "2024-03-02",
        ],
    );
    assert_eq!(out["faces"], 0, "{out}");
    assert!(out["sighting_id"].as_u64().is_some(), "{out}");
    assert_eq!(out["queued"].as_array().map(Vec::len), Some(0));
}

/// Issue 12: one face analysis through every front. The same case photo and
/// the same query photo give the same distance through the API and the CLI
/// (both flip-average; the CLI's registry commands have no --flip), with
/// the test server's `--upsample 0` on both sides.
#[test]
fn the_cli_and_the_api_read_a_photo_the_same_way() {
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let worker = make_user(&s, &admin, "worker", "caseworker");
    let (case_id, _) = case_with_photo(
        &s,
        &worker,
        json!({ "child_name": "Barack Test", "sex": "male", "missing_place": "Lyon" }),
        vec![],
        "obama.jpg",
    );
    let r = s.req(
        "POST",
        "/api/search",
        &worker,
        Body::Multipart(vec![("k", "1".into())], Some(fixture("obama2.jpg"))),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let api = r.json()[0].clone();
    assert_eq!(api["case_id"], case_id);

    let tmp = tempfile::tempdir().unwrap();
    let added = json_on(
        tmp.path(),
        &[
            "case",
            "add",
            "--name",
            "Barack Test",
            "--sex",
            "male",
            "--photo",
            path(&fixture_path("obama.jpg")),
            "--upsample=0",
        ],
    );
    assert_eq!(added["photos"][0]["faces"], 1, "{added}");
    let found = json_on(
        tmp.path(),
        &[
            "search",
            path(&fixture_path("obama2.jpg")),
            "--top",
            "1",
            "--upsample=0",
        ],
    );
    let cli_distance = found["candidates"][0]["why"]["best"]["distance"]
        .as_f64()
        .expect("a distance");
    let api_distance = api["distance"].as_f64().expect("a distance");
    assert!(
        (cli_distance - api_distance).abs() < 1e-5,
        "CLI {cli_distance} vs API {api_distance}"
    );
    assert!(
        homeward()
            .args(["search", "x.jpg", "--flip"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(false),
        "registry commands take no --flip"
    );
}

/// Runs `homeward ARGS --db DB` and returns whether it succeeded and what it
/// said (stdout and stderr).
fn cli_try(db: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = homeward()
        .args(args)
        .arg("--db")
        .arg(db)
        .arg("--create")
        .output()
        .expect("homeward runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// Issue 12: one set of input rules. The same case or sighting is accepted
/// or refused alike by the API and the CLI, and the refusal names the same
/// rule.
#[test]
fn the_cli_and_the_api_apply_the_same_input_rules() {
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let worker = make_user(&s, &admin, "worker", "caseworker");
    let volunteer = make_user(&s, &admin, "vol", "volunteer");
    let tmp = tempfile::tempdir().unwrap();
    let photo = fixture_path("obama.jpg");

    // (API case JSON, CLI extra args, the rule's words, or None if accepted).
    let cases: Vec<(Value, Vec<&str>, Option<&str>)> = vec![
        (
            json!({ "child_name": "Li Wei", "sex": "girl" }),
            vec!["--name", "Li Wei", "--sex", "girl"],
            None,
        ),
        (
            json!({ "child_name": "Li Wei", "birth_date": "2015-02-30" }),
            vec!["--name", "Li Wei", "--born", "2015-02-30"],
            Some("is not a day of the calendar"),
        ),
        (
            json!({ "child_name": "Li Wei", "birth_date": "2020-01-01", "missing_date": "2019-06-01" }),
            vec![
                "--name",
                "Li Wei",
                "--born",
                "2020-01-01",
                "--missing-date",
                "2019-06-01",
            ],
            Some("after the date the child went missing"),
        ),
        (
            json!({ "child_name": "Li\u{7}Wei" }),
            vec!["--name", "Li\u{7}Wei"],
            Some("control character"),
        ),
        (
            json!({ "child_name": "Li Wei", "sex": "x" }),
            vec!["--name", "Li Wei", "--sex", "x"],
            Some("female"),
        ),
    ];
    for (body, args, rule) in cases {
        let r = s.post_json("/api/cases", &worker, body.clone());
        let mut cli_args = vec!["case", "add", "--photo", path(&photo), "--upsample=0"];
        cli_args.extend(args.iter().copied());
        let (ok, said) = cli_try(tmp.path(), &cli_args);
        match rule {
            None => {
                assert_eq!(r.status, 201, "{body}: {}", r.text());
                assert!(ok, "{args:?}: {said}");
            }
            Some(words) => {
                assert_eq!(r.status, 422, "{body}: {}", r.text());
                assert!(r.text().contains(words), "{body}: {}", r.text());
                assert!(!ok, "{args:?} was accepted");
                assert!(said.contains(words), "{args:?}: {said}");
            }
        }
    }

    // Sightings: a day in the future and an adult's apparent age.
    // (API form fields, CLI extra args, the rule's words).
    type Refused<'a> = (Vec<(&'a str, String)>, Vec<&'a str>, &'a str);
    let sightings: Vec<Refused> = vec![
        (
            vec![("seen_at", "2100-01-01".into())],
            vec!["--when", "2100-01-01"],
            "after today",
        ),
        (
            vec![("apparent_age", "30".into())],
            vec!["--age-range", "30"],
            "from 0 to 25",
        ),
    ];
    for (fields, args, words) in sightings {
        let r = s.req(
            "POST",
            "/api/sightings",
            &volunteer,
            Body::Multipart(fields.clone(), Some(fixture("obama2.jpg"))),
        );
        assert_eq!(r.status, 422, "{fields:?}: {}", r.text());
        assert!(r.text().contains(words), "{fields:?}: {}", r.text());
        let mut cli_args = vec!["sighting", "add", path(&photo), "--upsample=0"];
        cli_args.extend(args.iter().copied());
        let (ok, said) = cli_try(tmp.path(), &cli_args);
        assert!(!ok, "{args:?} was accepted");
        assert!(said.contains(words), "{args:?}: {said}");
    }
}

/// A case worker ends a case's search and reopens it; the case leaves and
/// rejoins the searches, and bad requests say what to do.
#[test]
fn a_case_is_found_and_reopened_through_the_api() {
    let s = Server::start(&[]);
    let admin = admin_token(&s);
    let worker = make_user(&s, &admin, "worker", "caseworker");
    let (case_id, _) = case_with_photo(
        &s,
        &worker,
        json!({ "child_name": "Status Test", "missing_place": "Lyon" }),
        vec![("age_years", "7".into())],
        "obama.jpg",
    );
    let status = |v: &str| {
        s.post_json(
            &format!("/api/cases/{case_id}/status"),
            &worker,
            json!({ "status": v }),
        )
    };
    let searched = || {
        let r = s.req(
            "POST",
            "/api/search",
            &worker,
            Body::Multipart(vec![], Some(fixture("obama2.jpg"))),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["case_id"] == case_id)
    };
    assert!(searched());
    let r = status("found");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "case_id": case_id, "from": "searching", "to": "found" })
    );
    assert_eq!(
        s.get(&format!("/api/cases/{case_id}"), &worker).json()["status"],
        "found"
    );
    assert!(!searched(), "a found case is not searched for");
    let r = status("searching");
    assert_eq!(r.json()["from"], "found");
    assert!(searched(), "a reopened case is searched for again");

    let r = status("lost");
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("searching, found or closed"),
        "{}",
        r.text()
    );
    let r = s.post_json(
        "/api/cases/9999/status",
        &worker,
        json!({ "status": "closed" }),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.post_json(
        &format!("/api/cases/{case_id}/status"),
        &worker,
        json!({ "status": "closed", "extra": 1 }),
    );
    assert!(r.status == 400 || r.status == 422, "{}", r.text());
}

/// A mistaken confirmation is taken back: the match is pending again, the
/// enrolled face leaves the case's photos, and it can be decided anew.
#[test]
fn a_confirmation_is_undone_and_decided_again() {
    let s = Server::start(&[]);
    let w = world(&s);
    let (c, m) = (w.case_id, w.match_id);
    let photos = || {
        s.get(&format!("/api/cases/{c}"), &w.worker).json()["photos"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = photos();
    let undo = || {
        s.req(
            "POST",
            &format!("/api/review/{m}/undo"),
            &w.worker,
            Body::Empty,
        )
    };
    let r = undo();
    assert_eq!(r.status, 409, "nothing to undo while pending: {}", r.text());
    let r = s.req(
        "POST",
        &format!("/api/review/{m}/confirm"),
        &w.worker,
        Body::Empty,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        photos(),
        before + 1,
        "confirming enrols the sighting's face"
    );
    let r = s.post_json(&format!("/api/review/{m}/reject"), &w.worker, json!({}));
    assert_eq!(r.status, 409);
    assert!(
        r.text().contains("undo"),
        "the conflict says what to do: {}",
        r.text()
    );
    let r = undo();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "match_id": m, "state": "pending", "was": "confirmed" })
    );
    assert_eq!(photos(), before, "the enrolled face left the case");
    let queue = s.get("/api/review", &w.worker).json();
    assert!(queue.as_array().unwrap().iter().any(|i| i["match_id"] == m));
    let r = s.post_json(
        &format!("/api/review/{m}/reject"),
        &w.worker,
        json!({ "note": "other child" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.req("POST", "/api/review/99999/undo", &w.worker, Body::Empty);
    assert_eq!(r.status, 404, "{}", r.text());
}
