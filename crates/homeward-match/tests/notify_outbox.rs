//! The registry as the notifications' outbox (docs/adr-notify.md): a
//! notification owed survives a receiver's outage and a restart, is never
//! sent twice, and of two notifiers on one registry (two servers on one
//! PostgreSQL database) exactly one sends it. Each test runs on SQLite and,
//! when PostgreSQL is installed (or `HOMEWARD_REQUIRE_PG=1`), on PostgreSQL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use homeward_core::store::{
    CaseStatus, FaceRecord, MatchOrigin, MatchStore, NewCase, NewMatch, NewSighting, Outbox,
    Registry, SightingExtras, SqliteOutbox,
};
use homeward_match::notify::{Delivery, Notifier, Webhook, WebhookConfig};
use homeward_pg::cluster::TestDb;
use homeward_pg::{PgOutbox, PgStore};

/// A loopback webhook receiver answering `status` (changeable): the match
/// ids of the requests it answered 2xx, with how often each came.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<HashMap<u64, u32>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let st = Arc::new(AtomicU16::new(status));
        let got = Arc::new(Mutex::new(HashMap::new()));
        let (s2, g2) = (Arc::clone(&st), Arc::clone(&got));
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let status = s2.load(Ordering::SeqCst);
                if (200..300).contains(&status) {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let id = v["match_id"].as_u64().unwrap();
                    *g2.lock().unwrap().entry(id).or_insert(0) += 1;
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver {
            url,
            status: st,
            got,
        }
    }

    fn got(&self) -> HashMap<u64, u32> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `ids` were each received.
    fn wait_for(&self, ids: &[u64]) -> HashMap<u64, u32> {
        let t = Instant::now();
        loop {
            let got = self.got();
            if ids.iter().all(|i| got.contains_key(i)) || t.elapsed() > Duration::from_secs(20) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn fast_delivery() -> Delivery {
    Delivery {
        poll: Duration::from_millis(100),
        lease: Duration::from_secs(30),
        retry_first: Duration::from_secs(1),
        retry_max: Duration::from_secs(1),
        give_up_after: Duration::from_secs(3600),
        batch: 10,
    }
}

fn notifier(url: &str, outbox: Box<dyn Outbox>) -> Notifier {
    let hook = Webhook::new(WebhookConfig {
        timeout: Duration::from_secs(5),
        attempts: 1,
        backoff: Duration::from_millis(10),
        ..WebhookConfig::new(url, None)
    })
    .unwrap();
    Notifier::with_outbox(
        vec![Box::new(hook)],
        outbox,
        "http://hw.example",
        fast_delivery(),
    )
}

fn face(x: f32) -> FaceRecord {
    let mut embedding = [0f32; 128];
    embedding[0] = x;
    FaceRecord {
        bbox: [1.0, 2.0, 30.0, 40.0],
        landmarks: [[1.0, 1.5]; 5],
        embedding,
        chip_hash: None,
        model: "test-model".into(),
        vectors: Vec::new(),
    }
}

fn case() -> NewCase {
    NewCase {
        child_name: "Test".into(),
        sex: homeward_core::store::Sex::Female,
        birth_date: None,
        birth_year: Some(2015),
        missing_date: Some("2022-01-01".into()),
        missing_place: "Somewhere".into(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

/// Records a sighting queued beside a new case in `band`; returns the match id.
fn queue_match(s: &mut dyn MatchStore, n: u8, band: &str) -> u64 {
    let c = s.add_case("t", &case()).unwrap();
    let extras = SightingExtras {
        matches: vec![NewMatch {
            case_id: c,
            sighting_face: 0,
            origin: MatchOrigin::Sighting,
            rank_key: 0.001,
            scores_json: format!(r#"{{"case_id":{c},"band":"{band}"}}"#),
        }],
        ..SightingExtras::default()
    };
    let (_, _, m) = s
        .record_sighting(
            "t",
            &[n, 1, 2],
            &NewSighting::default(),
            &[face(0.1 * n as f32)],
            &extras,
        )
        .unwrap();
    m[0]
}

/// A registry on each store this machine has: its writer and a way to open
/// an outbox on it (a new connection, as a new process would).
struct Reg {
    store: Box<dyn MatchStore>,
    open_outbox: Box<dyn Fn() -> Box<dyn Outbox>>,
    _keep: (tempfile::TempDir, Option<TestDb>),
}

fn registries(test: &str) -> Vec<Reg> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let store: Box<dyn MatchStore> = Box::new(Registry::open(dir.path()).unwrap());
    let p = dir.path().to_path_buf();
    out.push(Reg {
        store,
        open_outbox: Box::new(move || Box::new(SqliteOutbox::open(Path::new(&p)).unwrap())),
        _keep: (dir, None),
    });
    if let Some(db) = TestDb::new_or_skip(test) {
        let dir = tempfile::tempdir().unwrap();
        let url = db.url();
        let store: Box<dyn MatchStore> = Box::new(PgStore::connect(&url, dir.path()).unwrap());
        out.push(Reg {
            store,
            open_outbox: Box::new(move || Box::new(PgOutbox::connect(&url).unwrap())),
            _keep: (dir, Some(db)),
        });
    }
    out
}

#[test]
fn a_notification_queued_while_the_receiver_is_down_is_delivered_once_it_is_back() {
    for mut reg in registries("notify_down") {
        let rx = Receiver::start(503);
        let n = notifier(&rx.url, (reg.open_outbox)());
        let m = queue_match(reg.store.as_mut(), 1, "strong");
        let weak = queue_match(reg.store.as_mut(), 2, "weak");
        // Down for a while: attempts fail and are retried.
        let t = Instant::now();
        while n.counts().failed.load(Ordering::Relaxed) < 2 && t.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(n.counts().failed.load(Ordering::Relaxed) >= 2);
        assert!(rx.got().is_empty());
        rx.status.store(200, Ordering::SeqCst);
        let got = rx.wait_for(&[m]);
        n.close();
        assert_eq!(got.get(&m), Some(&1), "{got:?}");
        assert!(
            !got.contains_key(&weak),
            "weak matches page no one: {got:?}"
        );
    }
}

#[test]
fn a_restarted_notifier_delivers_what_the_old_one_did_not_and_nothing_twice() {
    for mut reg in registries("notify_restart") {
        let rx = Receiver::start(200);
        let first = queue_match(reg.store.as_mut(), 1, "strong");
        let old = notifier(&rx.url, (reg.open_outbox)());
        rx.wait_for(&[first]);
        old.close();
        drop(old);
        // Queued while no notifier runs (the process was down).
        let second = queue_match(reg.store.as_mut(), 2, "possible");
        let new = notifier(&rx.url, (reg.open_outbox)());
        let got = rx.wait_for(&[second]);
        // A few more polls: nothing is sent again.
        std::thread::sleep(Duration::from_millis(500));
        new.close();
        let got2 = rx.got();
        assert_eq!(got, got2);
        assert_eq!(got2.get(&first), Some(&1), "{got2:?}");
        assert_eq!(got2.get(&second), Some(&1), "{got2:?}");
        assert_eq!(got2.len(), 2, "{got2:?}");
    }
}

#[test]
fn two_notifiers_on_one_registry_deliver_each_match_exactly_once() {
    for mut reg in registries("notify_two") {
        let rx = Receiver::start(200);
        let a = notifier(&rx.url, (reg.open_outbox)());
        let b = notifier(&rx.url, (reg.open_outbox)());
        let ids: Vec<u64> = (1..=12)
            .map(|i| {
                queue_match(
                    reg.store.as_mut(),
                    i,
                    if i % 2 == 0 { "strong" } else { "possible" },
                )
            })
            .collect();
        let got = rx.wait_for(&ids);
        std::thread::sleep(Duration::from_millis(500));
        a.close();
        b.close();
        let got = {
            let later = rx.got();
            assert_eq!(got, later);
            later
        };
        assert_eq!(got.len(), ids.len(), "{got:?}");
        assert!(got.values().all(|c| *c == 1), "{got:?}");
        let sent = a.counts().delivered.load(Ordering::Relaxed)
            + b.counts().delivered.load(Ordering::Relaxed);
        assert_eq!(sent, ids.len() as u64);
    }
}

#[test]
fn a_match_older_than_the_give_up_time_is_given_up_not_sent() {
    for mut reg in registries("notify_give_up") {
        let rx = Receiver::start(503);
        let m = queue_match(reg.store.as_mut(), 1, "strong");
        let hook = Webhook::new(WebhookConfig {
            attempts: 1,
            ..WebhookConfig::new(&rx.url, None)
        })
        .unwrap();
        // Every match is already too old: given up at the first round, logged.
        let n = Notifier::with_outbox(
            vec![Box::new(hook)],
            (reg.open_outbox)(),
            "http://hw.example",
            Delivery {
                give_up_after: Duration::ZERO,
                ..fast_delivery()
            },
        );
        let t = Instant::now();
        while n.counts().gave_up.load(Ordering::Relaxed) < 1
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        rx.status.store(200, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(400));
        n.close();
        assert_eq!(n.counts().gave_up.load(Ordering::Relaxed), 1);
        assert!(!rx.got().contains_key(&m));
    }
}
