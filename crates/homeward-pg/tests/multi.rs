//! Several processes on one registry: stores opened shared follow each
//! other through the change log (a face added through one is found through
//! the other, an erasure leaves the other's answers within the bound, a
//! reopened store catches up from its rebuilt index and the log, and
//! `MatchStore::refresh` is that catching up), two stores adding the same
//! candidate match at once record it once, and the ingest queue hands each
//! job to one worker, takes up a dead worker's jobs after their lease, and
//! completes each exactly once.
//!
//! "Processes" are stores and queues with connections of their own in one
//! test process: to PostgreSQL they are separate sessions, as separate
//! processes would be. Each test makes its own database on a throwaway
//! cluster; without PostgreSQL installed they pass as skipped (and say so)
//! unless `HOMEWARD_REQUIRE_PG=1`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    CaseStatus, FaceRecord, FaceTable, MatchOrigin, MatchStore, Metric, ModelSpec, ModelVector,
    NewCase, NewMatch, NewSighting, PhotoMeta, Refreshed, SightingExtras, Store,
};
use homeward_pg::cluster::TestDb;
use homeward_pg::{
    ChangeListener, JobQueue, JobState, NewJob, PgError, PgStore, Wake, POLL_INTERVAL,
};

/// The stated bound for a change (an erasure above all) to leave every
/// following store's answers; asserted generously, not benchmarked.
const BOUND: Duration = Duration::from_secs(2);

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

fn sface() -> ModelSpec {
    ModelSpec {
        name: "sface".into(),
        version: "multi-v1".into(),
        dim: 128,
        metric: Metric::Cosine,
    }
}

fn with_vector(mut f: FaceRecord, k: usize) -> FaceRecord {
    let mut vector = vec![0.0; 128];
    vector[k] = 1.0;
    f.vectors.push(ModelVector {
        model: "sface".into(),
        version: "multi-v1".into(),
        vector,
    });
    f
}

fn axis(k: usize) -> Vec<f32> {
    let mut v = vec![0.0; 128];
    v[k] = 1.0;
    v
}

fn axis_q(k: usize) -> [f32; 128] {
    let mut v = [0f32; 128];
    v[k] = 1.0;
    v
}

fn case(name: &str) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex: homeward_core::store::Sex::Female,
        birth_date: None,
        birth_year: Some(2015),
        missing_date: Some("2022-03-01".into()),
        missing_place: "Lyon".into(),
        missing_location: Some((45.76, 4.83)),
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

fn shared(db: &TestDb, dir: &std::path::Path) -> PgStore {
    PgStore::connect_shared(&db.url(), dir).unwrap_or_else(|e| panic!("{e}"))
}

fn found(store: &PgStore, x: f32) -> Vec<u64> {
    store
        .search_with(&face(x).embedding, &SearchFilter::default(), 5, 3)
        .unwrap()
        .iter()
        .map(|h| h.case_id)
        .collect()
}

/// Waits for announcements and catches up until `done` holds; returns how
/// long it took from `since`. Fails past the bound.
fn follow_until(
    store: &mut PgStore,
    listener: &mut ChangeListener,
    since: Instant,
    done: impl Fn(&PgStore) -> bool,
) -> Duration {
    while !done(store) {
        assert!(
            since.elapsed() < BOUND,
            "not applied within {BOUND:?} (position {})",
            store.position()
        );
        listener.wait(POLL_INTERVAL);
        store.catch_up().unwrap_or_else(|e| panic!("{e}"));
    }
    since.elapsed()
}

#[test]
fn a_face_added_through_one_store_is_found_through_the_other_after_catching_up() {
    let Some(db) = TestDb::new_or_skip("multi_add") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b = shared(&db, dir.path());
    let mut listener = b.listen().unwrap();
    assert!(listener.is_listening());

    let c = a.add_case("t", &case("Lou")).unwrap();
    let start = Instant::now();
    let (_, faces) = a
        .add_photo("t", c, b"lou-1", &PhotoMeta::default(), &[face(0.3)])
        .unwrap();
    // B's index has not seen it yet.
    assert!(found(&b, 0.31).is_empty());
    assert_eq!(b.index().len(), 0);

    let took = follow_until(&mut b, &mut listener, start, |s| s.index().len() == 1);
    assert!(took < BOUND, "{took:?}");
    assert_eq!(found(&b, 0.31), vec![c]);
    let hits = b
        .search_with(&face(0.31).embedding, &SearchFilter::default(), 5, 3)
        .unwrap();
    assert_eq!(hits[0].photos[0].face_id, faces[0]);
    // Nothing left to apply: the next catch-up reads nothing.
    let again = b.catch_up().unwrap();
    assert_eq!((again.entries, again.faces_added), (0, 0));
    assert_eq!((again.from, again.to), (b.position(), b.position()));

    // A status change reaches B's filters.
    let only_searching = SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    };
    let start = Instant::now();
    a.set_case_status("t", c, CaseStatus::Found, Some("seen at school"))
        .unwrap();
    let took = follow_until(&mut b, &mut listener, start, |s| {
        s.index().meta(faces[0]).map(|m| m.status) == Some(CaseStatus::Found)
    });
    assert!(took < BOUND, "{took:?}");
    let hits = b
        .search_with(&face(0.31).embedding, &only_searching, 5, 3)
        .unwrap();
    assert!(hits.is_empty(), "a found case is filtered out on B too");

    // A's own writes come back through the log and change nothing there.
    let own = a.catch_up().unwrap();
    assert!(own.entries >= 2);
    assert_eq!((own.faces_added, own.faces_removed), (0, 0));
    assert_eq!(a.index().len(), 1);
}

#[test]
fn refresh_makes_a_face_another_store_added_searchable() {
    let Some(db) = TestDb::new_or_skip("multi_refresh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    // The matching library holds its store as a `MatchStore`.
    let mut b: Box<dyn MatchStore> = Box::new(shared(&db, dir.path()));
    let c = a.add_case("t", &case("Lou")).unwrap();
    let (_, faces) = a
        .add_photo("t", c, b"lou-1", &PhotoMeta::default(), &[face(0.3)])
        .unwrap();
    let search = |s: &dyn MatchStore| {
        s.search_with(&face(0.31).embedding, &SearchFilter::default(), 5, 3)
            .unwrap()
            .iter()
            .map(|h| h.case_id)
            .collect::<Vec<_>>()
    };
    assert!(search(&*b).is_empty(), "not before the refresh");
    b.refresh().unwrap();
    assert_eq!(search(&*b), vec![c]);
    assert_eq!(b.index().meta(faces[0]).map(|m| m.case_id), Some(c));
    // Nothing new: a second refresh changes nothing.
    b.refresh().unwrap();
    assert_eq!(b.index().len(), 1);
    // Rows the matching library reads come from the database: no refresh.
    let (sid, _, _) = a
        .record_sighting(
            "v",
            b"seen",
            &NewSighting::default(),
            &[face(0.32)],
            &SightingExtras::default(),
        )
        .unwrap();
    assert_eq!(
        b.sighting(sid).unwrap().sha256,
        homeward_core::store::sha256(b"seen")
    );
    // Where it is, for messages: the database, never the password.
    let place = b.location();
    assert_eq!(
        place,
        format!("homeward@127.0.0.1:{}/{}", db.cluster().port(), db.name())
    );
    assert!(!place.contains(db.cluster().password()));
    b.close().unwrap();
}

#[test]
fn refresh_reports_sightings_and_photo_hashes_recorded_elsewhere() {
    let Some(db) = TestDb::new_or_skip("multi_refresh_dupes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b: Box<dyn MatchStore> = Box::new(shared(&db, dir.path()));
    let c = a.add_case("t", &case("Lou")).unwrap();
    let (photos, _) = a
        .add_photo("t", c, b"lou-1", &PhotoMeta::default(), &[face(0.3)])
        .unwrap();
    // The case photo's face: B reads the case side again.
    let r = b.refresh().unwrap();
    assert!(r.case_photos);
    assert!(r.sightings.is_empty());
    assert_eq!(b.refresh().unwrap(), Refreshed::default());
    // Its PDQ hash comes in a transaction of its own, after B's refresh:
    // B must still hear of it (no new face, no new sighting).
    a.set_photo_hash("t", photos, [7; 32], 90).unwrap();
    assert!(b.refresh().unwrap().case_photos);
    // Sightings are named, in commit order, whoever recorded them (B's own
    // included: its caller skips those it knows).
    let record = |s: &mut dyn MatchStore, bytes: &[u8]| {
        s.record_sighting(
            "v",
            bytes,
            &NewSighting::default(),
            &[face(0.5)],
            &SightingExtras {
                pdq: Some(([9; 32], 80)),
                ..SightingExtras::default()
            },
        )
        .unwrap()
        .0
    };
    let s1 = record(&mut a, b"seen-1");
    let s2 = record(&mut *b, b"seen-2");
    let s3 = record(&mut a, b"seen-3");
    let r = b.refresh().unwrap();
    assert!(!r.case_photos, "no case photo changed");
    assert_eq!(r.sightings, vec![s1, s2, s3]);
    assert_eq!(
        b.hashes_of_sightings(&r.sightings).unwrap().pdq,
        vec![(s1, s1, [9; 32]), (s2, s2, [9; 32]), (s3, s3, [9; 32])]
    );
    assert_eq!(b.refresh().unwrap(), Refreshed::default());
}

#[test]
fn refresh_reads_nothing_on_a_store_opened_alone() {
    let Some(db) = TestDb::new_or_skip("multi_refresh_alone") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // No other writer: refresh reads nothing, not even the store's own
    // entries (catch_up would).
    let mut alone = PgStore::connect(&db.url(), dir.path()).unwrap();
    let at = alone.position();
    let c = alone.add_case("t", &case("Lou")).unwrap();
    alone
        .add_photo("t", c, b"lou", &PhotoMeta::default(), &[face(0.4)])
        .unwrap();
    MatchStore::refresh(&mut alone).unwrap();
    assert_eq!(alone.position(), at);
    assert!(alone.catch_up().unwrap().to > at);
}

#[test]
fn two_stores_adding_the_same_candidate_at_once_record_it_once() {
    let Some(db) = TestDb::new_or_skip("multi_candidate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b = shared(&db, dir.path());
    let cases: Vec<u64> = (0..20)
        .map(|i| a.add_case("t", &case(&format!("C{i}"))).unwrap())
        .collect();
    let (sid, faces, _) = a
        .record_sighting(
            "v",
            b"seen",
            &NewSighting::default(),
            &[face(0.5)],
            &SightingExtras::default(),
        )
        .unwrap();
    let together = Barrier::new(2);
    let run = |s: &mut PgStore| {
        cases
            .iter()
            .map(|c| {
                let m = NewMatch {
                    case_id: *c,
                    sighting_face: faces[0],
                    origin: MatchOrigin::Case,
                    rank_key: 0.1,
                    scores_json: "{}".into(),
                };
                together.wait();
                s.add_candidate("t", sid, &m).unwrap().is_some()
            })
            .collect::<Vec<bool>>()
    };
    let (got_a, got_b) = std::thread::scope(|scope| {
        let ta = scope.spawn(|| run(&mut a));
        let tb = scope.spawn(|| run(&mut b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for (i, (x, y)) in got_a.iter().zip(&got_b).enumerate() {
        assert!(x ^ y, "case {i}: added by a {x}, by b {y}");
    }
    assert_eq!(a.matches_of_sighting(sid).unwrap().len(), cases.len());
}

#[test]
fn an_erasure_through_one_store_leaves_the_others_answers_within_the_bound() {
    let Some(db) = TestDb::new_or_skip("multi_erase") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    a.enable_models("t", &[sface()]).unwrap();
    let mut b = shared(&db, dir.path());
    let mut listener = b.listen().unwrap();
    // A third store follows by polling only, as when LISTEN is unavailable.
    let mut p = shared(&db, dir.path());
    let mut poller = ChangeListener::polling_only(&p);
    assert!(!poller.is_listening());
    let keep = a.add_case("t", &case("Ana")).unwrap();
    let gone = a.add_case("t", &case("Eve")).unwrap();
    a.add_photo(
        "t",
        keep,
        b"ana",
        &PhotoMeta::default(),
        &[with_vector(face(0.9), 5)],
    )
    .unwrap();
    let (_, erased) = a
        .add_photo(
            "t",
            gone,
            b"eve",
            &PhotoMeta::default(),
            &[with_vector(face(0.1), 1), with_vector(face(0.12), 2)],
        )
        .unwrap();
    for s in [&mut b, &mut p] {
        let up = s.catch_up().unwrap();
        assert_eq!(up.faces_added, 3);
        assert_eq!(up.vectors_indexed, 3);
        assert_eq!(found(s, 0.11)[0], gone);
    }
    let sface_query = |k: usize| {
        let mut v = [0f32; 128];
        v[k] = 1.0;
        v
    };
    let sface_hits = |s: &PgStore| {
        s.search_model("sface", &sface_query(1), &SearchFilter::default(), 5)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c)
            .collect::<Vec<_>>()
    };
    assert_eq!(sface_hits(&b)[0], gone);

    let start = Instant::now();
    a.erase_case("t", gone).unwrap();
    // Before B catches up its index still holds the faces, but the rows
    // are gone and the dlib search checks every answer against them.
    assert_eq!(b.index().len(), 3);
    assert!(!found(&b, 0.11).contains(&gone));

    let no_erased = |s: &PgStore| erased.iter().all(|f| s.index().meta(*f).is_none());
    let listening = follow_until(&mut b, &mut listener, start, no_erased);
    assert!(listening < BOUND, "listening: {listening:?}");
    assert_eq!(b.index().len(), 1);
    assert_eq!(
        b.index().graph().tombstones(),
        0,
        "erased vectors left memory"
    );
    assert!(!sface_hits(&b).contains(&gone));
    assert_eq!(sface_hits(&b), vec![keep]);

    let polling = follow_until(&mut p, &mut poller, start, no_erased);
    assert!(polling < BOUND, "polling: {polling:?}");
    assert!(!sface_hits(&p).contains(&gone));
    assert_eq!(found(&p, 0.11), vec![keep]);
    // Figures for the ADR, not assertions (shared CI machines vary).
    println!("erasure left a listening follower in {listening:?}, a polling one in {polling:?}");
}

#[test]
fn every_index_changing_write_reaches_a_follower() {
    let Some(db) = TestDb::new_or_skip("multi_kinds") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b = shared(&db, dir.path());
    let c = a.add_case("t", &case("Mia")).unwrap();
    let (_, f) = a
        .add_photo("t", c, b"mia", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    // A model enabled and a vector stored for an existing face.
    a.enable_models("t", &[sface()]).unwrap();
    a.store_vectors("sface", &[(FaceTable::Case, f[0], axis(3))])
        .unwrap();
    let up = b.catch_up().unwrap();
    assert!(up.models_reloaded);
    assert_eq!(b.models(), &[sface()]);
    assert_eq!(
        b.search_model("sface", &axis_q(3), &SearchFilter::default(), 1)
            .unwrap()[0]
            .0,
        c
    );
    // The vector replaced: B's model index follows.
    a.store_vectors("sface", &[(FaceTable::Case, f[0], axis(9))])
        .unwrap();
    let up = b.catch_up().unwrap();
    assert_eq!(up.vectors_indexed, 1);
    let near = |s: &PgStore, k: usize| {
        s.search_model("sface", &axis_q(k), &SearchFilter::default(), 1)
            .unwrap()[0]
            .1
    };
    assert!(near(&b, 9) < 1e-3, "the new vector is indexed");
    assert!(near(&b, 3) > 0.5, "the old vector left the index");
    // A sighting confirmed and enrolled, then the decision undone.
    let extras = SightingExtras {
        matches: vec![NewMatch {
            case_id: c,
            sighting_face: 0,
            origin: MatchOrigin::Sighting,
            rank_key: 0.1,
            scores_json: "{}".into(),
        }],
        ..SightingExtras::default()
    };
    let (_, _, m) = a
        .record_sighting(
            "t",
            b"street",
            &NewSighting::default(),
            &[with_vector(face(0.55), 4)],
            &extras,
        )
        .unwrap();
    assert_eq!(
        b.catch_up().unwrap().faces_added,
        0,
        "sightings are not indexed"
    );
    let (_, enrolled) = a
        .confirm_and_enrol("t", m[0], None, &PhotoMeta::default())
        .unwrap();
    let up = b.catch_up().unwrap();
    assert_eq!((up.faces_added, up.vectors_indexed), (1, 1));
    assert_eq!(b.index().meta(enrolled).map(|m| m.case_id), Some(c));
    assert!(
        near(&b, 4) < 1e-3,
        "the enrolled face's vector came with it"
    );
    a.undo_decision("t", m[0]).unwrap();
    let up = b.catch_up().unwrap();
    assert_eq!(up.faces_removed, 1);
    assert!(b.index().meta(enrolled).is_none());
    assert_eq!(b.index().len(), 1);
    assert!(near(&b, 4) > 0.5);
}

#[test]
fn concurrent_writers_are_followed_without_a_gap() {
    let Some(db) = TestDb::new_or_skip("multi_writers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (url, root) = (url.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                let mut s = PgStore::connect_shared(&url, &root).unwrap();
                let c = s.add_case("t", &case(&format!("W{w}"))).unwrap();
                let mut faces = Vec::new();
                for i in 0..25 {
                    let x = w as f32 + i as f32 / 100.0;
                    let bytes = format!("w{w}-{i}");
                    let (_, f) = s
                        .add_photo("t", c, bytes.as_bytes(), &PhotoMeta::default(), &[face(x)])
                        .unwrap();
                    faces.extend(f);
                }
                faces
            })
        })
        .collect();
    // The follower reads the log while the writers commit, in any order.
    let mut b = shared(&db, dir.path());
    let mut listener = b.listen().unwrap();
    while !writers.iter().all(|h| h.is_finished()) {
        listener.wait(Duration::from_millis(20));
        b.catch_up().unwrap();
    }
    let all: HashSet<u64> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    b.catch_up().unwrap();
    assert_eq!(all.len(), 75);
    assert_eq!(b.index().len(), 75, "no entry skipped");
    assert!(all.iter().all(|f| b.index().meta(*f).is_some()));
}

#[test]
fn a_lost_listening_connection_turns_into_polling_then_listens_again() {
    let Some(db) = TestDb::new_or_skip("multi_relisten") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let b = shared(&db, dir.path());
    let mut listener = b.listen().unwrap();
    let mut sql = db.cluster().client(db.name()).unwrap();
    let killed: i64 = sql
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query = 'LISTEN homeward_changes'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let start = Instant::now();
    let wake = listener.wait(Duration::from_millis(300));
    assert!(matches!(wake, Wake::Polling { .. }), "{wake:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "the interval was slept"
    );
    assert!(!listener.is_listening());
    // The next wait listens again and hears the next change.
    assert_eq!(listener.wait(Duration::from_millis(50)), Wake::TimedOut);
    assert!(listener.is_listening());
    let c = a.add_case("t", &case("Noa")).unwrap();
    a.set_case_status("t", c, CaseStatus::Found, None).unwrap();
    assert!(matches!(
        listener.wait(BOUND),
        Wake::Notified(seq) if seq > 0
    ));
}

/// A store whose connection the database ended (a restart, an
/// administrator) connects again, with its writer lock, at its next call
/// after the one that found it gone, and misses nothing written meanwhile.
#[test]
fn a_store_whose_connection_was_ended_connects_again_and_misses_nothing() {
    let Some(db) = TestDb::new_or_skip("multi_reconnect") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b = shared(&db, dir.path());
    let mut sql = db.cluster().client(db.name()).unwrap();
    let end_all = |sql: &mut postgres::Client| -> i64 {
        sql.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(end_all(&mut sql) >= 2, "both stores' connections ended");
    // The first call may find the connection gone; the next reconnects.
    let c = match a.add_case("t", &case("Noa")) {
        Ok(c) => c,
        Err(_) => a
            .add_case("t", &case("Noa"))
            .unwrap_or_else(|e| panic!("not reconnected: {e}")),
    };
    a.add_photo("t", c, b"noa", &PhotoMeta::default(), &[face(0.7)])
        .unwrap();
    // The other store, ended too, catches up with what was written.
    let _ = b.catch_up();
    b.catch_up()
        .unwrap_or_else(|e| panic!("not reconnected: {e}"));
    assert_eq!(found(&b, 0.7).first(), Some(&c));
    // The writer lock was taken again: an exclusive open is still refused.
    assert!(PgStore::connect(&db.url(), dir.path()).is_err());
}

#[test]
fn a_reopened_store_catches_up_from_its_rebuilt_index_and_the_log() {
    let Some(db) = TestDb::new_or_skip("multi_reopen") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let c1 = a.add_case("t", &case("Ida")).unwrap();
    let c2 = a.add_case("t", &case("Uma")).unwrap();
    a.add_photo("t", c1, b"ida", &PhotoMeta::default(), &[face(0.2)])
        .unwrap();
    let b = shared(&db, dir.path());
    let before = b.position();
    assert!(before > 0);
    drop(b);
    // While B is closed: a face added, a case erased, a status changed.
    a.add_photo("t", c2, b"uma", &PhotoMeta::default(), &[face(0.6)])
        .unwrap();
    a.erase_case("t", c1).unwrap();
    a.set_case_status("t", c2, CaseStatus::Found, None).unwrap();

    let mut b = shared(&db, dir.path());
    assert!(b.position() > before);
    assert_eq!(b.index().len(), 1);
    assert_eq!(found(&b, 0.2), vec![c2]);
    let up = b.catch_up().unwrap();
    assert_eq!(up.entries, 0, "the rebuilt index is at the log's head");
    // Later writes arrive through the log.
    let (_, f3) = a
        .add_photo("t", c2, b"uma-2", &PhotoMeta::default(), &[face(0.7)])
        .unwrap();
    let up = b.catch_up().unwrap();
    assert_eq!((up.entries, up.faces_added), (1, 1));
    assert_eq!(
        b.index().meta(f3[0]).map(|m| m.status),
        Some(CaseStatus::Found)
    );
}

#[test]
fn a_store_behind_pruned_entries_rebuilds_and_new_stores_start_past_them() {
    let Some(db) = TestDb::new_or_skip("multi_prune") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let mut b = shared(&db, dir.path());
    let c1 = a.add_case("t", &case("Ivy")).unwrap();
    let c2 = a.add_case("t", &case("Ora")).unwrap();
    a.add_photo("t", c1, b"ivy", &PhotoMeta::default(), &[face(0.2)])
        .unwrap();
    assert_eq!(b.catch_up().unwrap().faces_added, 1);
    // B falls behind: a face added, a case erased, then the log pruned.
    a.add_photo("t", c2, b"ora", &PhotoMeta::default(), &[face(0.7)])
        .unwrap();
    a.erase_case("t", c1).unwrap();
    let head = a.catch_up().unwrap().to;
    assert_eq!(a.prune_changes_upto(head).unwrap(), 4);
    let mut sql = db.cluster().client(db.name()).unwrap();
    let left: i64 = sql
        .query_one("SELECT count(*) FROM changes", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let up = b.catch_up().unwrap();
    assert!(up.rebuilt);
    assert_eq!(b.position(), head);
    assert_eq!(b.index().len(), 1);
    assert_eq!(found(&b, 0.2), vec![c2]);
    // Up to date now: no second rebuild; a store opened now starts at the
    // horizon; later entries are numbered past it and followed.
    assert!(!b.catch_up().unwrap().rebuilt);
    let mut n = shared(&db, dir.path());
    assert_eq!(n.position(), head);
    a.set_case_status("t", c2, CaseStatus::Found, None).unwrap();
    for s in [&mut b, &mut n] {
        let up = s.catch_up().unwrap();
        assert!(!up.rebuilt);
        assert_eq!((up.entries, up.cases_updated), (1, 1));
        assert!(up.to > head);
    }
}

#[test]
fn the_log_names_ids_only_follows_commits_and_is_never_rewritten() {
    let Some(db) = TestDb::new_or_skip("multi_log") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = shared(&db, dir.path());
    let c = a.add_case("t", &case("Zoé Secret")).unwrap();
    let (_, faces) = a
        .add_photo("t", c, b"zoe", &PhotoMeta::default(), &[face(0.4)])
        .unwrap();
    // A write refused inside its transaction leaves no entry.
    assert!(a
        .set_case_status("t", c + 100, CaseStatus::Found, None)
        .is_err());
    a.set_case_status("t", c, CaseStatus::Closed, None).unwrap();
    a.erase_case("t", c).unwrap();
    let mut sql = db.cluster().client(db.name()).unwrap();
    let rows = sql
        .query(
            "SELECT seq, kind, case_id, face_id, model FROM changes ORDER BY seq",
            &[],
        )
        .unwrap();
    let got: Vec<(String, Option<i64>, Option<i64>)> = rows
        .iter()
        .map(|r| (r.get(1), r.get(2), r.get(3)))
        .collect();
    let (c, f) = (c as i64, faces[0] as i64);
    assert_eq!(
        got,
        vec![
            ("face_added".into(), Some(c), Some(f)),
            ("case_status".into(), Some(c), None),
            ("face_removed".into(), Some(c), Some(f)),
            ("case_erased".into(), Some(c), None),
        ]
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(a.catch_up().unwrap().to, *seqs.last().unwrap());
    // Nothing personal: the whole table as text holds no name.
    let text: String = sql
        .query_one("SELECT string_agg(changes::text, ' ') FROM changes", &[])
        .unwrap()
        .get(0);
    assert!(!text.contains("Secret"), "{text}");
    let err = sql
        .execute("UPDATE changes SET case_id = 0", &[])
        .unwrap_err();
    let why = err.as_db_error().map(|d| d.message().to_owned());
    assert_eq!(why.as_deref(), Some("changes is append-only"), "{err:?}");
}

#[test]
fn shared_stores_and_an_exclusive_one_exclude_each_other() {
    let Some(db) = TestDb::new_or_skip("multi_locks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s1 = shared(&db, dir.path());
    let s2 = shared(&db, dir.path());
    let err = PgStore::connect(&db.url(), dir.path()).unwrap_err();
    assert!(
        matches!(err, PgError::Locked { shared: false, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("connect_shared"), "{err}");
    drop((s1, s2));
    let mut alone = None;
    for _ in 0..50 {
        match PgStore::connect(&db.url(), dir.path()) {
            Ok(s) => {
                alone = Some(s);
                break;
            }
            Err(PgError::Locked { .. }) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        alone.is_some(),
        "the shared locks outlived their connections"
    );
    let err = PgStore::connect_shared(&db.url(), dir.path()).unwrap_err();
    assert!(matches!(err, PgError::Locked { shared: true, .. }), "{err}");
    assert!(err.to_string().contains("wait for it to end"), "{err}");
}

fn jobs(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob {
            key: format!("{i:064x}"),
            payload: format!(
                r#"{{"photo":"p/{i}.jpg","seen_at":"2024-05-0{}"}}"#,
                1 + i % 9
            ),
        })
        .collect()
}

#[test]
fn two_hundred_jobs_claimed_by_three_workers_are_each_completed_once() {
    let Some(db) = TestDb::new_or_skip("multi_queue") else {
        return;
    };
    // An idle worker sleeps until jobs are enqueued.
    let mut idle = JobQueue::connect(&db.url(), "idle").unwrap();
    assert!(!idle.wait_for_jobs(Duration::from_millis(50)).unwrap());
    let mut late = JobQueue::connect(&db.url(), "batch").unwrap();
    late.enqueue("b0", &jobs(1), 3).unwrap();
    assert!(idle.wait_for_jobs(BOUND).unwrap());
    assert_eq!(idle.claim(5, Duration::from_secs(60)).unwrap().len(), 1);
    // Enqueuing nothing new announces nothing.
    late.enqueue("b0", &jobs(1), 3).unwrap();
    assert!(!idle.wait_for_jobs(Duration::from_millis(100)).unwrap());

    let mut q = JobQueue::connect(&db.url(), "batch").unwrap();
    let e = q.enqueue("b1", &jobs(200), 3).unwrap();
    assert_eq!((e.added, e.already), (200, 0));
    // The same photos again: nothing new.
    let e = q.enqueue("b1", &jobs(210), 3).unwrap();
    assert_eq!((e.added, e.already), (10, 200));
    let p = q.progress("b1").unwrap();
    assert_eq!((p.queued, p.total()), (210, 210));

    let url = db.url();
    let start = Arc::new(Barrier::new(3));
    let clock = Instant::now();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let mut q = JobQueue::connect(&url, &format!("w{w}")).unwrap();
                start.wait();
                let mut done = Vec::new();
                loop {
                    let claimed = q.claim(7, Duration::from_secs(60)).unwrap();
                    if claimed.is_empty() {
                        break done;
                    }
                    for j in claimed {
                        assert_eq!(j.attempt, 1);
                        q.complete(&j, &format!(r#"{{"worker":{w}}}"#)).unwrap();
                        done.push(j.id);
                    }
                }
            })
        })
        .collect();
    let done: Vec<Vec<u64>> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    // A figure for the ADR, not an assertion.
    println!(
        "3 workers claimed and completed 210 jobs in {:?}",
        clock.elapsed()
    );
    let all: Vec<u64> = done.iter().flatten().copied().collect();
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), 210, "every job completed");
    assert_eq!(distinct.len(), 210, "no job completed twice");
    assert!(
        done.iter().filter(|d| !d.is_empty()).count() >= 2,
        "claims were spread: {:?}",
        done.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let p = q.progress("b1").unwrap();
    assert_eq!((p.done, p.queued, p.running, p.failed), (210, 0, 0, 0));
    // Each job's result names the worker that completed it.
    let by_worker: HashMap<u64, usize> = done
        .iter()
        .enumerate()
        .flat_map(|(w, ids)| ids.iter().map(move |i| (*i, w)))
        .collect();
    for r in q.reports("b1").unwrap() {
        assert_eq!(r.state, JobState::Done);
        assert_eq!(r.attempts, 1);
        assert_eq!(
            r.result.as_deref(),
            Some(format!(r#"{{"worker":{}}}"#, by_worker[&r.id]).as_str())
        );
    }
}

#[test]
fn a_dead_workers_jobs_are_claimed_again_after_their_lease_and_done_once() {
    let Some(db) = TestDb::new_or_skip("multi_lease") else {
        return;
    };
    let mut q = JobQueue::connect(&db.url(), "batch").unwrap();
    q.enqueue("b2", &jobs(5), 3).unwrap();
    let lease = Duration::from_millis(1000);
    let mut dying = JobQueue::connect(&db.url(), "dying").unwrap();
    let lost = dying.claim(10, lease).unwrap();
    assert_eq!(lost.len(), 5);
    drop(dying); // dies without completing

    let mut other = JobQueue::connect(&db.url(), "other").unwrap();
    assert!(
        other.claim(10, lease).unwrap().is_empty(),
        "leased jobs stay hidden"
    );
    let p = q.progress("b2").unwrap();
    assert_eq!((p.running, p.stalled), (5, 0));
    std::thread::sleep(lease + Duration::from_millis(200));
    let p = q.progress("b2").unwrap();
    assert_eq!((p.running, p.stalled), (0, 5));

    let again = other.claim(10, Duration::from_secs(60)).unwrap();
    assert_eq!(
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        lost.iter().map(|j| j.id).collect::<Vec<_>>()
    );
    assert!(again.iter().all(|j| j.attempt == 2));
    // The first worker wakes up: its claim is no longer the job's.
    let mut ghost = JobQueue::connect(&db.url(), "dying").unwrap();
    let err = ghost.complete(&lost[0], r#"{"ghost":true}"#).unwrap_err();
    assert!(
        matches!(err, PgError::JobLost { why, .. } if why.contains("another worker")),
        "{err}"
    );
    for j in &again {
        other.complete(j, r#"{"ok":true}"#).unwrap();
    }
    // A completed job cannot be completed again, nor failed, nor claimed.
    let err = other.complete(&again[0], r#"{"ok":2}"#).unwrap_err();
    assert!(
        matches!(err, PgError::JobLost { why, .. } if why.contains("completed already")),
        "{err}"
    );
    assert!(other.fail(&again[1], "late").is_err());
    assert!(other.claim(10, lease).unwrap().is_empty());
    let p = q.progress("b2").unwrap();
    assert_eq!((p.done, p.total()), (5, 5));
    let reports = q.reports("b2").unwrap();
    assert!(reports
        .iter()
        .all(|r| r.result.as_deref() == Some(r#"{"ok":true}"#) && r.attempts == 2));
}

#[test]
fn an_extended_lease_keeps_a_slow_job_its_workers() {
    let Some(db) = TestDb::new_or_skip("multi_extend") else {
        return;
    };
    let mut q = JobQueue::connect(&db.url(), "slow").unwrap();
    let mut other = JobQueue::connect(&db.url(), "other").unwrap();
    q.enqueue("b6", &jobs(1), 3).unwrap();
    let short = Duration::from_millis(200);
    let j = q.claim(1, short).unwrap().remove(0);
    q.extend(&j, Duration::from_secs(60)).unwrap();
    std::thread::sleep(short + Duration::from_millis(150));
    let p = q.progress("b6").unwrap();
    assert_eq!((p.running, p.stalled), (1, 0));
    assert!(other.claim(1, short).unwrap().is_empty());
    q.complete(&j, "{}").unwrap();
    let err = q.extend(&j, short).unwrap_err();
    assert!(matches!(err, PgError::JobLost { .. }), "{err}");
}

#[test]
fn failures_are_retried_up_to_max_attempts_then_failed() {
    let Some(db) = TestDb::new_or_skip("multi_fail") else {
        return;
    };
    let mut q = JobQueue::connect(&db.url(), "w").unwrap();
    q.enqueue("b3", &jobs(2), 2).unwrap();
    let short = Duration::from_millis(150);
    // Job 1 fails twice by its worker's word.
    let j = q.claim(1, Duration::from_secs(60)).unwrap().remove(0);
    assert_eq!(q.fail(&j, "decode error").unwrap(), JobState::Queued);
    let j2 = q.claim(1, Duration::from_secs(60)).unwrap().remove(0);
    assert_eq!((j2.id, j2.attempt), (j.id, 2));
    assert_eq!(q.fail(&j2, "decode error").unwrap(), JobState::Failed);
    // Job 2's worker dies twice: it is failed at the next claim.
    for attempt in 1..=2 {
        let k = q.claim(1, short).unwrap().remove(0);
        assert_eq!(k.attempt, attempt);
        std::thread::sleep(short + Duration::from_millis(100));
    }
    assert!(q.claim(5, short).unwrap().is_empty());
    let p = q.progress("b3").unwrap();
    assert_eq!(
        (p.failed, p.done, p.queued, p.running, p.stalled),
        (2, 0, 0, 0, 0)
    );
    let r = q.reports("b3").unwrap();
    assert_eq!(r[0].error.as_deref(), Some("decode error"));
    assert!(r[1].error.as_deref().unwrap().contains("stopped answering"));
    assert!(p.finished());
}

#[test]
fn a_sighting_job_is_recorded_with_its_completion_exactly_once() {
    let Some(db) = TestDb::new_or_skip("multi_sighting_job") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = shared(&db, dir.path());
    let mut q = store.job_queue("w1").unwrap();
    q.enqueue("b4", &jobs(1), 3).unwrap();
    let job = q.claim(1, Duration::from_secs(60)).unwrap().remove(0);
    let extras = SightingExtras {
        batch_item: Some(("b4".into(), job.key.clone())),
        ..SightingExtras::default()
    };
    let (sid, faces, _) = store
        .record_sighting_job(
            &job,
            "w1",
            b"street",
            &NewSighting::default(),
            &[face(0.5)],
            &extras,
        )
        .unwrap();
    assert_eq!(faces.len(), 1);
    let r = &q.reports("b4").unwrap()[0];
    assert_eq!(r.state, JobState::Done);
    assert_eq!(
        r.result.as_deref(),
        Some(format!(r#"{{"sighting":{sid},"faces":1,"matches":0}}"#).as_str())
    );
    // Done again (a retried worker): refused, and no second sighting.
    let err = store
        .record_sighting_job(
            &job,
            "w1",
            b"street",
            &NewSighting::default(),
            &[face(0.5)],
            &extras,
        )
        .unwrap_err();
    assert!(matches!(err, PgError::JobLost { .. }), "{err}");
    assert_eq!(store.sighting_summaries(10).unwrap().len(), 1);
    let batch = store.batch_status("b4").unwrap().unwrap();
    assert_eq!((batch.items, batch.recorded), (1, 1));
}

#[test]
fn bad_jobs_are_refused_whole_and_say_why() {
    let Some(db) = TestDb::new_or_skip("multi_bad_jobs") else {
        return;
    };
    let mut q = JobQueue::connect(&db.url(), "w").unwrap();
    let mut list = jobs(3);
    list[1].payload = "{not json".into();
    let err = q.enqueue("b5", &list, 3).unwrap_err();
    assert!(matches!(err, PgError::InvalidJob { .. }), "{err}");
    assert!(err.to_string().contains("job 1"), "{err}");
    assert!(
        !err.to_string().contains("not json"),
        "no payload in messages: {err}"
    );
    assert_eq!(q.progress("b5").unwrap().total(), 0);
    assert!(q.enqueue("", &jobs(1), 3).is_err());
    assert!(q.enqueue("b5", &jobs(1), 0).is_err());
    let listener_wake = {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(&db, dir.path());
        let mut l = s.listen().unwrap();
        l.wait(Duration::from_millis(50))
    };
    assert_eq!(listener_wake, Wake::TimedOut);
}
