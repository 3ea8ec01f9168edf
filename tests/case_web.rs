//! A case's whole life and review a team can share, on the web (issue 15):
//! a status change with why and case notes on the case's timeline (newest
//! first, map links per located sighting), the printable page, the CSV
//! exports (BOM, formulas defused, logged), assignment of matches to case
//! workers with the queue's assignee and unassigned filters, the "new"
//! marker that clears once the queue was listed, the timeline as JSON, and
//! volunteers kept out of all of it.

#[allow(dead_code)]
mod common;

use common::accounts::Auth;
use common::forms::form_encode;
use common::http::Resp;
use common::server::{self, Serve, Server};
use serde_json::{json, Value};

impl Server {
    fn start() -> Server {
        Serve::fresh(&server::args(&[], &[]))
            .env_remove("HOMEWARD_SMTP_URL")
            .env_remove("HOMEWARD_NOTIFY_WEBHOOK")
            .start()
    }

    fn get(&self, path: &str, token: &str) -> Resp {
        self.send_as("GET", path, token, "en", None)
    }

    fn page(&self, path: &str, token: &str, lang: &str) -> Resp {
        self.send_as("GET", path, token, lang, None)
    }

    fn post_json(&self, path: &str, token: &str, v: Value) -> Resp {
        self.send_as(
            "POST",
            path,
            token,
            "en",
            Some(("application/json", v.to_string().into_bytes())),
        )
    }

    /// A page form, its values encoded.
    fn post_form(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> Resp {
        let values: Vec<String> = fields.iter().map(|(_, v)| form_encode(v)).collect();
        let encoded: Vec<(&str, &str)> = fields
            .iter()
            .zip(&values)
            .map(|((k, _), v)| (*k, v.as_str()))
            .collect();
        self.post_form_as(path, token, &encoded)
    }
}

/// Tokens of: admin, two case workers, a volunteer.
struct Team {
    admin: String,
    worker: String,
    worker2: String,
    vol: String,
}

fn team(s: &Server) -> Team {
    let admin = s.first_admin_token();
    let mk =
        |name: &str, role: &str| s.add_user_with_token(&Auth::Bearer(admin.clone()), name, role);
    Team {
        worker: mk("worker", "caseworker"),
        worker2: mk("worker2", "caseworker"),
        vol: mk("vol", "volunteer"),
        admin,
    }
}

/// A case with one photo; returns its id.
fn case(s: &Server, worker: &str, name: &str, photo: &str) -> u64 {
    let c = s.post_json(
        "/api/cases",
        worker,
        json!({"child_name": name, "sex": "male", "missing_date": "2024-03-01", "missing_place": "Xi'an"}),
    );
    assert_eq!(c.status, 201, "{}", c.text());
    let id = c.json_or_null()["id"].as_u64().unwrap();
    s.post_photo(
        &format!("/api/cases/{id}/photos"),
        worker,
        &[("age_months", "96")],
        photo,
    );
    id
}

/// The pending queue as `token` sees it (this moves their "new" mark).
fn queue(s: &Server, token: &str, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/review?{query}"), token);
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json_or_null().as_array().unwrap().clone()
}

/// A located sighting (the Bell Tower) that matches the case of
/// obama.jpg.
fn located_sighting(s: &Server, vol: &str) {
    s.post_photo(
        "/api/sightings",
        vol,
        &[
            ("place", "Bell Tower"),
            ("lat", "34.2610"),
            ("lon", "108.9423"),
        ],
        "obama2.jpg",
    );
}

#[test]
fn a_case_page_tells_its_whole_life_and_exports_it() {
    let s = Server::start();
    let t = team(&s);
    let id = case(&s, &t.worker, "Barack Test", "obama.jpg");
    located_sighting(&s, &t.vol);
    let m = queue(&s, &t.worker, &format!("case={id}"));
    assert!(
        !m.is_empty(),
        "the sighting should be queued against the case"
    );

    // A note, then a status change with why (JSON API).
    let n = s.post_json(
        &format!("/api/cases/{id}/notes"),
        &t.worker,
        json!({"note": "=1+2 family called back"}),
    );
    assert_eq!(n.status, 201, "{}", n.text());
    assert_eq!(n.json_or_null()["case_id"], id);
    assert!(n.json_or_null()["note_id"].is_u64());
    let st = s.post_json(
        &format!("/api/cases/{id}/status"),
        &t.worker,
        json!({"status": "found", "why": "Seen at school by the teacher"}),
    );
    assert_eq!(st.status, 200, "{}", st.text());
    assert_eq!(
        (
            st.json_or_null()["from"].clone(),
            st.json_or_null()["to"].clone()
        ),
        (json!("searching"), json!("found"))
    );

    // Refusals name the field; an unknown case is a 404.
    for (body, says) in [
        (json!({"note": "   "}), "`note`"),
        (json!({"note": "x".repeat(4001)}), "`note`"),
    ] {
        let r = s.post_json(&format!("/api/cases/{id}/notes"), &t.worker, body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json_or_null()["error"]["code"], "bad_field");
        assert!(r.json_or_null()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(says));
    }
    let r = s.post_json(
        &format!("/api/cases/{id}/status"),
        &t.worker,
        json!({"status": "closed", "why": ""}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("`why`"));
    let r = s.post_json("/api/cases/999/notes", &t.worker, json!({"note": "hello"}));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.get("/api/cases/999/export.csv", &t.worker);
    assert_eq!(r.status, 404);

    // The page form adds a note too, and the status form takes a why.
    let r = s.post_form(
        &format!("/cases/{id}/notes"),
        &t.worker,
        &[("note", "Page note: poster put up")],
    );
    assert_eq!(
        (r.status, r.header_or_empty("location")),
        (303, format!("/cases/{id}#timeline").as_str())
    );
    let r = s.post_form(
        &format!("/cases/{id}/status"),
        &t.worker,
        &[("status", "closed"), ("why", "Family asked to close")],
    );
    assert_eq!(r.status, 303);

    // The timeline: newest first, who and why, the notes, the sighting's
    // map links opened without a referrer.
    let page = s.page(&format!("/cases/{id}"), &t.worker, "en");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("id=\"timeline\""), "{html}");
    for text in [
        "Seen at school by the teacher",
        "=1+2 family called back",
        "Page note: poster put up",
        "Family asked to close",
        "Bell Tower",
    ] {
        assert!(
            html.contains(text),
            "{text} missing from the timeline: {html}"
        );
    }
    let pos = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} not on the page"))
    };
    assert!(
        pos("Family asked to close") < pos("Page note: poster put up")
            && pos("Page note: poster put up") < pos("Seen at school by the teacher")
            && pos("Seen at school by the teacher") < pos("data-kind=\"registered\""),
        "newest first"
    );
    assert!(html.contains("https://www.openstreetmap.org/?mlat=34.261000&amp;mlon=108.942300"));
    assert!(html.contains(
        "https://uri.amap.com/marker?position=108.942300,34.261000&amp;coordinate=wgs84"
    ));
    assert!(html.contains("rel=\"noopener noreferrer\""));
    assert!(html.contains("id=\"note-form\"") && html.contains("name=\"why\""));
    assert!(html.contains(&format!("/api/cases/{id}/export.csv")));
    // In Chinese too.
    let zh = s.page(&format!("/cases/{id}"), &t.worker, "zh-CN").text();
    assert!(zh.contains("案件经过") && zh.contains("备注"), "{zh}");

    // The printable page: details, photos and the timeline, no forms.
    let print = s.page(&format!("/cases/{id}/print"), &t.worker, "en");
    assert_eq!(print.status, 200);
    let p = print.text();
    assert!(
        p.contains("Barack Test") && p.contains("id=\"timeline\"") && p.contains("/api/photos/")
    );
    assert!(p.contains("Family asked to close"));
    assert!(!p.contains("<form method=\"post\""), "{p}");

    // The CSV: a spreadsheet download, BOM first, the formula defused.
    let csv = s.get(&format!("/api/cases/{id}/export.csv"), &t.worker);
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(
        csv.header_or_empty("content-type"),
        "text/csv; charset=utf-8"
    );
    assert!(
        csv.header_or_empty("content-disposition")
            .starts_with("attachment;"),
        "{}",
        csv.header_or_empty("content-disposition")
    );
    assert!(csv
        .header_or_empty("content-disposition")
        .contains(&format!("case-{id}.csv")));
    assert!(csv.body.starts_with("\u{feff}".as_bytes()));
    let text = csv.text();
    assert!(text.contains("'=1+2 family called back"), "{text}");
    assert!(!text.contains(",=1+2"), "{text}");
    assert!(text.contains("Seen at school by the teacher") && text.contains("sighting_matched"));
    // The review queue as CSV, with the queue's filters.
    let q = s.get(
        &format!("/api/review/export.csv?case={id}&state=all"),
        &t.worker,
    );
    assert_eq!(q.status, 200, "{}", q.text());
    assert_eq!(q.header_or_empty("content-type"), "text/csv; charset=utf-8");
    assert!(q
        .header_or_empty("content-disposition")
        .starts_with("attachment;"));
    assert!(q.body.starts_with("\u{feff}".as_bytes()));
    assert!(q.text().contains("Barack Test"));
    let bad = s.get("/api/review/export.csv?band=great", &t.worker);
    assert_eq!(bad.status, 400);

    // Reading and exporting are in the access log (ids only).
    let log = s.get("/api/audit?limit=500", &t.admin);
    let actions: Vec<String> = log
        .json_or_null()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        format!("export_case_csv case:{id}"),
        format!("add_case_note case:{id}"),
        format!("read_case_timeline case:{id}"),
    ] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
    assert!(actions.iter().any(|a| a.starts_with("export_review_csv ")));
    assert!(!log.text().contains("family called") && !log.text().contains("Bell Tower"));

    // Volunteers see none of it.
    for path in [
        format!("/cases/{id}"),
        format!("/cases/{id}/print"),
        format!("/api/cases/{id}/export.csv"),
        "/api/review/export.csv".to_string(),
    ] {
        let r = s.get(&path, &t.vol);
        assert_eq!(r.status, 403, "{path}");
        assert!(!r.text().contains("family called") && !r.text().contains("Bell Tower"));
    }
    let r = s.post_json(
        &format!("/api/cases/{id}/notes"),
        &t.vol,
        json!({"note": "hi"}),
    );
    assert_eq!(r.status, 403);
    let r = s.post_form(&format!("/cases/{id}/notes"), &t.vol, &[("note", "hi")]);
    assert_eq!(r.status, 403);
}

/// `GET /api/cases/{id}/timeline`: the case's whole life as JSON, oldest
/// first, for case workers only.
#[test]
fn the_timeline_is_json_for_case_workers_only() {
    let s = Server::start();
    let t = team(&s);
    let id = case(&s, &t.worker, "Barack Test", "obama.jpg");
    located_sighting(&s, &t.vol);
    let n = s.post_json(
        &format!("/api/cases/{id}/notes"),
        &t.worker,
        json!({"note": "Family called back"}),
    );
    assert_eq!(n.status, 201, "{}", n.text());
    let st = s.post_json(
        &format!("/api/cases/{id}/status"),
        &t.worker,
        json!({"status": "found", "why": "Seen at school"}),
    );
    assert_eq!(st.status, 200, "{}", st.text());

    let r = s.get(&format!("/api/cases/{id}/timeline"), &t.worker);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header_or_empty("content-type")
            .starts_with("application/json"),
        "{}",
        r.header_or_empty("content-type")
    );
    let v = r.json_or_null();
    assert_eq!(v["case"]["id"], id);
    assert_eq!(v["case"]["child_name"], "Barack Test");
    assert_eq!(v["case"]["status"], "found");
    let events = v["events"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "photo_added",
            "sighting_matched",
            "note",
            "status"
        ],
        "{v}"
    );
    // Times are RFC 3339 UTC, oldest first.
    let at: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        at.iter()
            .all(|a| a.len() == 20 && a.ends_with('Z') && a.as_bytes()[10] == b'T'),
        "{at:?}"
    );
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
    assert_eq!(v["case"]["created_at"], at[0]);
    assert!(events[1]["photo_id"].is_u64() && events[1]["age_months"] == 96);
    let m = &events[2];
    assert!(m["match_id"].is_u64() && m["sighting_id"].is_u64());
    assert_eq!(
        (m["state"].as_str(), m["place"].as_str()),
        (Some("pending"), Some("Bell Tower"))
    );
    assert_eq!(m["location"], json!([34.261, 108.9423]));
    assert_eq!(m["map_links"][0]["label"], "OpenStreetMap");
    assert!(m["map_links"][0]["url"]
        .as_str()
        .unwrap()
        .contains("mlat=34.261000&mlon=108.942300"));
    assert!(m["map_links"][1]["url"]
        .as_str()
        .unwrap()
        .ends_with("coordinate=wgs84"));
    assert_eq!(
        (events[3]["actor"].as_str(), events[3]["text"].as_str()),
        (Some("web:worker"), Some("Family called back"))
    );
    assert_eq!(
        (events[4]["status"].as_str(), events[4]["why"].as_str()),
        (Some("found"), Some("Seen at school"))
    );

    // A volunteer is refused, as for the case page and its CSV, and sees nothing of it.
    let r = s.get(&format!("/api/cases/{id}/timeline"), &t.vol);
    assert_eq!(r.status, 403);
    assert_eq!(r.json_or_null()["error"]["code"], "forbidden");
    assert!(!r.text().contains("Bell Tower") && !r.text().contains("Family called"));
    // An unknown case is a JSON 404.
    let r = s.get("/api/cases/999/timeline", &t.worker);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json_or_null()["error"]["code"], "not_found");
    // Reading it is logged, with ids only.
    let log = s.get("/api/audit?limit=100", &t.admin);
    assert!(
        log.text().contains(&format!("case:{id}")) && log.text().contains("read_case_timeline")
    );
    assert!(!log.text().contains("Family called") && !log.text().contains("Bell Tower"));
}

#[test]
fn matches_are_assigned_filtered_and_new_until_listed() {
    let s = Server::start();
    let t = team(&s);
    let id = case(&s, &t.worker, "Barack Test", "obama.jpg");
    s.post_photo("/api/sightings", &t.vol, &[], "obama2.jpg");

    // New to each reviewer until they list the queue.
    let first = queue(&s, &t.worker, "");
    assert!(!first.is_empty());
    assert!(first.iter().all(|i| i["new"] == true), "{first:?}");
    assert!(first.iter().all(|i| i["assignee"].is_null()));
    let again = queue(&s, &t.worker, "");
    assert!(again.iter().all(|i| i["new"] == false), "{again:?}");
    // worker2 has not looked yet: the page marks the items new, once.
    let page = s.page("/review", &t.worker2, "en").text();
    assert!(page.contains("class=\"new-marker\""), "{page}");
    let page = s.page("/review", &t.worker2, "en").text();
    assert!(!page.contains("class=\"new-marker\""), "{page}");
    // A later match is new again.
    s.post_photo("/api/sightings", &t.vol, &[], "obama3.jpg");
    let later = queue(&s, &t.worker, "");
    let fresh: Vec<&Value> = later.iter().filter(|i| i["new"] == true).collect();
    assert!(!fresh.is_empty(), "{later:?}");
    assert!(fresh.iter().all(
        |i| i["match_id"].as_u64() > first.iter().filter_map(|f| f["match_id"].as_u64()).max()
    ));

    // Assign to another case worker; the filters follow.
    let m = first[0]["match_id"].as_u64().unwrap();
    let r = s.post_json(
        &format!("/api/review/{m}/assign"),
        &t.worker,
        json!({"assignee": "worker2"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json_or_null()["assignee"], "worker2");
    let mine2 = queue(&s, &t.worker2, "mine=true");
    assert_eq!(
        mine2
            .iter()
            .map(|i| i["match_id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [m]
    );
    assert_eq!(mine2[0]["assignee"], "worker2");
    let by_name = queue(&s, &t.worker, "assignee=worker2");
    assert_eq!(by_name.len(), 1);
    assert!(queue(&s, &t.worker, "mine=true").is_empty());
    assert!(queue(&s, &t.worker, "assignee=worker").is_empty());
    let item = s.get(&format!("/api/review/{m}"), &t.worker).json_or_null();
    assert_eq!(item["assignee"], "worker2");
    // The queue page shows who has it and offers only case workers.
    let page = s
        .page(&format!("/review?case={id}"), &t.worker, "en")
        .text();
    assert!(page.contains("data-assignee=\"worker2\""), "{page}");
    assert!(page.contains("<option value=\"worker2\"") && !page.contains("<option value=\"vol\""));
    let csv = s
        .get("/api/review/export.csv?assignee=worker2", &t.worker)
        .text();
    assert!(csv.contains(",worker2,"), "{csv}");

    // Unassigned: everything pending but the assigned match, on the API,
    // the CSV and the page (in both languages); never with an assignee.
    let ids = |items: Vec<Value>| -> Vec<u64> {
        items
            .iter()
            .map(|i| i["match_id"].as_u64().unwrap())
            .collect()
    };
    let all = ids(queue(&s, &t.worker, ""));
    let unassigned = ids(queue(&s, &t.worker, "unassigned=true"));
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(
        unassigned,
        all.iter().copied().filter(|&i| i != m).collect::<Vec<_>>()
    );
    let csv = s
        .get("/api/review/export.csv?unassigned=true", &t.worker)
        .text();
    assert!(
        !csv.contains(",worker2,") && csv.lines().count() == 1 + unassigned.len(),
        "{csv}"
    );
    for q in [
        "unassigned=true&assignee=worker2",
        "unassigned=true&mine=true",
        "unassigned=perhaps",
    ] {
        let r = s.get(&format!("/api/review?{q}"), &t.worker);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.json_or_null()["error"]["code"], "bad_filter");
        assert!(r.text().contains("`unassigned`"), "{q}: {}", r.text());
    }
    let page = s.page("/review?unassigned=true", &t.worker, "en");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("value=\"true\" checked")
            && html.contains("id=\"filter-unassigned\"")
            && html.contains("Only unassigned"),
        "{html}"
    );
    assert!(!html.contains(&format!("data-match=\"{m}\"")));
    let zh = s.page("/review", &t.worker, "zh-CN").text();
    assert!(
        zh.contains("只看未分配") && zh.contains(&format!("data-match=\"{m}\"")),
        "{zh}"
    );

    // Only existing, active case workers; names are checked; null unassigns.
    for who in [json!("vol"), json!("nobody-here"), json!("")] {
        let r = s.post_json(
            &format!("/api/review/{m}/assign"),
            &t.worker,
            json!({"assignee": who}),
        );
        assert_eq!(r.status, 400, "{who}: {}", r.text());
        assert!(r.text().contains("assignee"), "{}", r.text());
    }
    let r = s.post_json(
        "/api/review/9999/assign",
        &t.worker,
        json!({"assignee": "worker"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.post_json(
        &format!("/api/review/{m}/assign"),
        &t.vol,
        json!({"assignee": "vol"}),
    );
    assert_eq!(r.status, 403);
    let r = s.post_json(
        &format!("/api/review/{m}/assign"),
        &t.worker,
        json!({"assignee": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(queue(&s, &t.worker2, "mine=true").is_empty());
    assert!(ids(queue(&s, &t.worker, "unassigned=true")).contains(&m));

    // Assign to me from the page.
    let r = s.post_form(
        &format!("/review/{m}/assign"),
        &t.worker,
        &[("assignee", "worker"), ("next", "/review")],
    );
    assert_eq!((r.status, r.header_or_empty("location")), (303, "/review"));
    let mine = queue(&s, &t.worker, "mine=true");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["match_id"], m);
    // The registry's audit log says who assigned, not to whom.
    let audit = s.page(&format!("/audit?case={id}"), &t.worker, "en").text();
    assert!(audit.contains("data-action=\"assign\""), "{audit}");
}
