//! Review a team can share (issue 15): the queue's filters, the review item
//! with the compared face boxed and its evidence in plain words in both
//! languages, confirm / undo / close from the pages, the audit page, and the
//! notifications of new strong and possible matches (a webhook and email,
//! each checked against a receiver on loopback started by the test).

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::accounts::Auth;
use common::server::{self, Serve, Server};
use serde_json::{json, Value};

impl Server {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
        Serve::fresh(&server::args(&[], extra))
            .env_remove("HOMEWARD_SMTP_URL")
            .env_remove("HOMEWARD_NOTIFY_WEBHOOK")
            .env_remove("HOMEWARD_WEBHOOK_SECRET")
            .envs(env)
            .start()
    }

    fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self.send_as("GET", path, token, "en", None);
        (r.status, r.json_or_null())
    }

    fn page(&self, path: &str, token: &str, lang: &str) -> (u16, String) {
        let r = self.send_as("GET", path, token, lang, None);
        (r.status, r.text())
    }

    fn post_json(&self, path: &str, token: &str, v: Value) -> (u16, Value) {
        let r = self.send_as(
            "POST",
            path,
            token,
            "en",
            Some(("application/json", v.to_string().into_bytes())),
        );
        (r.status, r.json_or_null())
    }

    /// A page form: the status and where it redirects to.
    fn post_form(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let r = self.post_form_as(path, token, fields);
        (r.status, r.header_or_empty("location").to_string())
    }
}

/// An admin token, a case worker's and a volunteer's.
fn tokens(s: &Server) -> (String, String, String) {
    let admin = s.first_admin_token();
    let bearer = Auth::Bearer(admin.clone());
    let worker = s.add_user_with_token(&bearer, "worker", "caseworker");
    let vol = s.add_user_with_token(&bearer, "vol", "volunteer");
    (admin, worker, vol)
}

/// A case with one photo; returns its id.
fn case(s: &Server, worker: &str, name: &str, sex: &str, photo: &str, months: &str) -> u64 {
    let (st, c) = s.post_json(
        "/api/cases",
        worker,
        json!({"child_name": name, "sex": sex, "missing_date": "2024-03-01", "missing_place": "Lyon"}),
    );
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_u64().unwrap();
    s.post_photo(
        &format!("/api/cases/{id}/photos"),
        worker,
        &[("age_months", months)],
        photo,
    );
    id
}

fn sighting(s: &Server, vol: &str, photo: &str) -> Value {
    s.post_photo(
        "/api/sightings",
        vol,
        &[
            ("place", "Gare de Lyon, quai 3"),
            ("note", "near the station"),
        ],
        photo,
    )
}

/// Every match in the queue, any state: match id → band.
fn all_bands(s: &Server, worker: &str) -> BTreeMap<u64, String> {
    let (st, q) = s.get_json("/api/review?state=all", worker);
    assert_eq!(st, 200, "{q}");
    q.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["match_id"].as_u64().unwrap(),
                i["band"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A loopback HTTP receiver answering 200; the requests it got (head, body).
type Got = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn webhook_receiver() -> (String, Got) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got: Got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let (mut head, mut len) = (String::new(), 0usize);
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
            let _ = c.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// A minimal SMTP receiver on loopback: its port and each message's DATA.
fn smtp_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let _ = c.write_all(b"220 test ESMTP\r\n");
            let mut data: Option<String> = None;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(d) = data.as_mut() {
                    if line == ".\r\n" {
                        g.lock().unwrap().push(data.take().unwrap_or_default());
                        let _ = c.write_all(b"250 queued\r\n");
                    } else {
                        d.push_str(&line);
                    }
                    continue;
                }
                let cmd = line.to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") {
                    b"250-test\r\n250 8BITMIME\r\n"
                } else if cmd.starts_with("DATA") {
                    data = Some(String::new());
                    b"354 go on\r\n"
                } else if cmd.starts_with("QUIT") {
                    let _ = c.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = c.write_all(reply);
            }
        }
    });
    (port, got)
}

/// Waits until `f` holds (deliveries happen off the request path).
fn eventually(what: &str, f: impl Fn() -> bool) {
    common::wait::eventually(what, Duration::from_secs(60), Duration::from_millis(100), f);
}

#[test]
fn one_webhook_and_one_email_per_new_strong_or_possible_match() {
    let (hook, got) = webhook_receiver();
    let (smtp_port, mail) = smtp_receiver();
    // A local relay: plain SMTP, said in the URL.
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}?tls=none");
    let s = Server::start(
        &[
            "--notify-webhook",
            &hook,
            "--public-url",
            "https://homeward.example.org",
            "--notify-email",
            "team@example.org",
        ],
        &[
            ("HOMEWARD_WEBHOOK_SECRET", "webhook test secret"),
            ("HOMEWARD_SMTP_URL", &smtp_url),
        ],
    );
    let (_admin, worker, vol) = tokens(&s);
    case(&s, &worker, "Barack Secretname", "male", "obama.jpg", "96");
    case(
        &s,
        &worker,
        "Grace Secretname",
        "female",
        "grace_hopper.jpg",
        "84",
    );
    // A sighting, then the same photo again (a duplicate queues nothing),
    // then a new case photo that surfaces the past sighting (two-way).
    sighting(&s, &vol, "obama2.jpg");
    sighting(&s, &vol, "obama2.jpg");
    case(&s, &worker, "Later Secretname", "male", "obama3.jpg", "100");

    let bands = all_bands(&s, &worker);
    let expected: Vec<u64> = bands
        .iter()
        .filter(|(_, b)| *b == "strong" || *b == "possible")
        .map(|(id, _)| *id)
        .collect();
    assert!(
        expected.len() >= 2,
        "the fixtures should queue strong or possible matches from both sides: {bands:?}"
    );
    eventually("one webhook per strong or possible match", || {
        got.lock().unwrap().len() >= expected.len()
    });
    eventually("one email per strong or possible match", || {
        mail.lock().unwrap().len() >= expected.len()
    });
    // Nothing more arrives later (no retry of a delivered notification).
    std::thread::sleep(Duration::from_millis(1500));
    let got = got.lock().unwrap().clone();
    let mut ids: Vec<u64> = Vec::new();
    for (head, body) in &got {
        let v: Value = serde_json::from_slice(body).unwrap();
        let id = v["match_id"].as_u64().unwrap();
        ids.push(id);
        assert_eq!(v["event"], "match_queued");
        assert_eq!(
            v["link"],
            format!("https://homeward.example.org/review/{id}")
        );
        assert_eq!(v["band"].as_str(), bands.get(&id).map(String::as_str));
        // No names, places, notes or photos in the payload.
        let text = String::from_utf8_lossy(body);
        for secret in ["Secretname", "Gare", "station", "Lyon", "photo"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let sig = homeward_match::notify::signature(b"webhook test secret", body);
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("x-homeward-signature: {sig}")),
            "{head}"
        );
    }
    ids.sort_unstable();
    assert_eq!(
        ids, expected,
        "exactly one webhook per strong or possible match, none for weak: {bands:?}"
    );

    let mail = mail.lock().unwrap().clone();
    assert_eq!(mail.len(), expected.len(), "{mail:?}");
    for m in &mail {
        assert!(m.contains("To: team@example.org"), "{m}");
        assert!(
            m.contains("Subject: =?utf-8?"),
            "subject is encoded UTF-8: {m}"
        );
        assert!(!m.contains("Secretname") && !m.contains("Gare"), "{m}");
    }
}

#[test]
fn a_bad_notification_setting_stops_the_server_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |flag: &str, value: &str| {
        let args = [
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--insecure-cookies",
            flag,
            value,
        ];
        Serve::on(&dir.path().join("db"), &args.map(String::from))
            .env_remove("HOMEWARD_SMTP_URL")
            .run()
    };
    let out = refused("--notify-webhook", "ftp://hooks.example.org/x");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("https://"), "{err}");
    let out = refused(
        "--notify-ca",
        dir.path().join("no-such-ca.pem").to_str().unwrap(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notification CA file"), "{err}");
    let out = refused("--notify-email", "team@example.org");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOMEWARD_SMTP_URL"));
}

#[test]
fn the_review_queue_filters_boxes_the_face_and_speaks_both_languages() {
    let s = Server::start(&[], &[]);
    let (_admin, worker, vol) = tokens(&s);
    let barack = case(&s, &worker, "Barack Test", "male", "obama.jpg", "96");
    let grace = case(
        &s,
        &worker,
        "Grace Test",
        "female",
        "grace_hopper.jpg",
        "84",
    );
    sighting(&s, &vol, "obama2.jpg");

    // Filters: bad values are clear 400s; good ones narrow the queue.
    for (q, says) in [
        ("band=great", "`band` must be strong, possible or weak"),
        ("case=abc", "`case` must be a case number"),
        ("case=0", "`case` must be a case number"),
        (
            "state=open",
            "`state` must be pending, confirmed, rejected or all",
        ),
        ("all=maybe", "`all` must be true or false"),
    ] {
        let (st, e) = s.get_json(&format!("/api/review?{q}"), &worker);
        assert_eq!(st, 400, "{q}: {e}");
        assert_eq!(e["error"]["code"], "bad_filter", "{q}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "{q}: {m}");
    }
    let (_, q) = s.get_json(&format!("/api/review?case={barack}"), &worker);
    let q = q.as_array().unwrap().clone();
    assert!(!q.is_empty());
    assert!(q.iter().all(|i| i["case_id"] == barack));
    let m = q[0]["match_id"].as_u64().unwrap();
    let band = q[0]["band"].as_str().unwrap().to_string();
    let (_, q) = s.get_json(&format!("/api/review?case={barack}&band={band}"), &worker);
    assert!(q.as_array().unwrap().iter().any(|i| i["match_id"] == m));
    let other = if band == "strong" { "weak" } else { "strong" };
    let (_, q) = s.get_json(&format!("/api/review?case={barack}&band={other}"), &worker);
    assert!(q.as_array().unwrap().iter().all(|i| i["match_id"] != m));
    let (_, q) = s.get_json(
        &format!("/api/review?case={grace}&state=confirmed"),
        &worker,
    );
    assert_eq!(q.as_array().unwrap().len(), 0);
    // The page shows the same error in Chinese, and the filter form.
    let (st, html) = s.page("/review?band=great", &worker, "zh-CN");
    assert_eq!(st, 400);
    assert!(html.contains("筛选条件无法识别"), "{html}");
    let (st, html) = s.page(
        &format!("/review?case={barack}&state=all"),
        &worker,
        "zh-CN",
    );
    assert_eq!(st, 200);
    assert!(html.contains("id=\"filters\"") && html.contains(&format!("data-match=\"{m}\"")));

    // The item: the deciding faces' boxes lie inside their photos.
    let (st, item) = s.get_json(&format!("/api/review/{m}"), &worker);
    assert_eq!(st, 200, "{item}");
    for side in ["sighting_face", "case_face"] {
        let f = &item[side];
        let (w, h) = (f["width"].as_f64().unwrap(), f["height"].as_f64().unwrap());
        let b: Vec<f64> = f["box"]
            .as_array()
            .unwrap_or_else(|| panic!("{side}: {item}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            b[0] >= -1.0 && b[1] >= -1.0 && b[2] <= w + 1.0 && b[3] <= h + 1.0,
            "{side}: {f}"
        );
        assert!(b[2] - b[0] > 20.0 && b[3] - b[1] > 20.0, "{side}: {f}");
    }
    assert!(item["sighting_face"]["photo_url"]
        .as_str()
        .unwrap()
        .ends_with("/photo"));
    let one_in = item["one_in"].as_u64().unwrap();
    let fmr = item["est_false_match_rate"].as_f64().unwrap();
    assert!((one_in as f64 - 1.0 / fmr).abs() <= 1.0);
    assert!(item["explanation"]["best"]["face_id"].is_u64());

    // The page: evidence in plain words, numbers under details, the box.
    let (_, en) = s.page(&format!("/review/{m}"), &worker, "en");
    let (_, zh) = s.page(&format!("/review/{m}"), &worker, "zh-CN");
    let (en_word, zh_word) = match band.as_str() {
        "strong" => ("Strong: fewer than 1 in 1,000", "强："),
        "possible" => ("Possible: fewer than 1 in 100", "可能："),
        _ => ("Weak: up to 1 in 20", "弱："),
    };
    assert!(en.contains(en_word), "{en}");
    assert!(zh.contains(zh_word) && zh.contains("具体数字"), "{zh}");
    for page in [&en, &zh] {
        assert!(page.contains("<rect class=\"face-box\" id=\"face-box\""));
        assert!(page.contains("<details class=\"numbers\""));
        assert!(page.contains("id=\"zoom-sighting\"") && page.contains("id=\"zoom-case\""));
        assert!(
            page.contains("id=\"submitter\">vol<"),
            "the submitter is shown"
        );
    }
    // The English engine line sits only under the numbers, marked English.
    assert!(zh.contains("<dd lang=\"en\">"));

    // Confirm, undo, close the case: from the page forms.
    let (st, loc) = s.post_form(&format!("/review/{m}"), &worker, &[("decision", "confirm")]);
    assert_eq!((st, loc.as_str()), (303, format!("/review/{m}").as_str()));
    assert_eq!(
        s.get_json(&format!("/api/review/{m}"), &worker).1["state"],
        "confirmed"
    );
    let (st, _) = s.post_form(&format!("/review/{m}"), &worker, &[("decision", "undo")]);
    assert_eq!(st, 303);
    assert_eq!(
        s.get_json(&format!("/api/review/{m}"), &worker).1["state"],
        "pending"
    );
    let (st, _) = s.post_form(&format!("/review/{m}"), &worker, &[("decision", "maybe")]);
    assert_eq!(st, 400);
    let next = format!("/review/{m}");
    let (st, loc) = s.post_form(
        &format!("/cases/{barack}/status"),
        &worker,
        &[("status", "closed"), ("next", &next.replace('/', "%2F"))],
    );
    assert_eq!((st, loc.as_str()), (303, next.as_str()));
    assert_eq!(
        s.get_json(&format!("/api/cases/{barack}"), &worker).1["status"],
        "closed"
    );
    // An off-site `next` goes to the case instead.
    let (_, loc) = s.post_form(
        &format!("/cases/{barack}/status"),
        &worker,
        &[("status", "searching"), ("next", "%2F%2Fevil.example")],
    );
    assert_eq!(loc, format!("/cases/{barack}"));
    let (st, _) = s.post_form(
        &format!("/cases/{barack}/status"),
        &worker,
        &[("status", "lost")],
    );
    assert_eq!(st, 400);

    // The audit page: translated, per case, no names; volunteers may not.
    let (st, zh) = s.page(&format!("/audit?case={barack}"), &worker, "zh-CN");
    assert_eq!(st, 200);
    assert!(zh.contains(&format!("案件 {barack} 的操作记录")), "{zh}");
    assert!(
        zh.contains("登记案件")
            && zh.contains("审核结论: 已确认")
            && zh.contains("审核结论: 已撤销"),
        "{zh}"
    );
    assert!(
        zh.contains("案件状态: 已结案") || zh.contains("案件状态: closed"),
        "{zh}"
    );
    assert!(!zh.contains("Barack Test") && !zh.contains("Gare de Lyon"));
    assert!(!zh.contains(&format!("case:{grace}")) && !zh.contains(&format!("/cases/{grace}\"")));
    let (_, en) = s.page("/audit", &worker, "en");
    assert!(en.contains("case registered") && en.contains(&format!("/cases/{grace}\"")));
    let (st, _) = s.page("/audit?case=x", &worker, "en");
    assert_eq!(st, 400);
    let (st, _) = s.page("/audit?case=999", &worker, "en");
    assert_eq!(st, 404);
    let (st, _) = s.page("/audit", &vol, "en");
    assert_eq!(st, 403);
}
