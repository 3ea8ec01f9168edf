//! One conformance suite for every [`Store`] implementation (the contract is
//! written on the trait). Each implementation is one line of
//! `store_suite!`; a PostgreSQL store adds its own line.

use std::path::Path;

use homeward_core::store::{
    CaseStatus, FaceRecord, MatchOrigin, MatchState, NewCase, NewMatch, NewSighting, PhotoMeta,
    Registry, ScoreBand, Sex, SightingExtras, Store, StoreError, StoredScores,
};

const SCORES: &str = r#"{"case_id":0,"score":0.41,"pair_fmr":0.002,"case_fmr":KEY,"band":"possible",
    "why":{"sighting_face":0,"best":{"photo_id":1,"face_id":1,"distance":0.4},
    "nearest":[],"photos_compared":1,"fusion":"calibrated","fused_distance":0.41,"priors":[]}}"#;

fn face(x: f32) -> FaceRecord {
    let mut embedding = [0f32; 128];
    embedding[0] = x;
    FaceRecord {
        bbox: [0.0, 0.0, 10.0, 10.0],
        landmarks: [[1.0, 1.0]; 5],
        embedding,
        chip_hash: None,
        model: "test-model".into(),
    }
}

fn new_case(name: &str) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex: Sex::Female,
        birth_date: Some("2015-01-01".into()),
        birth_year: None,
        missing_date: Some("2020-05-01".into()),
        missing_place: "Lyon".into(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

fn candidate(case_id: u64, face: u64, key: f64) -> NewMatch {
    NewMatch {
        case_id,
        sighting_face: face,
        origin: MatchOrigin::Sighting,
        rank_key: key,
        scores_json: SCORES.replace("KEY", &key.to_string()),
    }
}

pub fn cases_and_photos_read_back<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    for (bytes, age) in [(&b"p1"[..], Some(90)), (b"p2", None), (b"p3", Some(30))] {
        let meta = PhotoMeta {
            age_months: age,
            ..PhotoMeta::default()
        };
        s.add_photo("t", a, bytes, &meta, &[face(0.1)]).unwrap();
    }
    let list = s.case_summaries().unwrap();
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b, a]);
    let sa = s.case_summary(a).unwrap();
    assert_eq!(
        (sa.photos, sa.sex, sa.status),
        (3, Sex::Female, CaseStatus::Searching)
    );
    let ages: Vec<_> = s
        .case_photos(a)
        .unwrap()
        .iter()
        .map(|p| p.age_months)
        .collect();
    assert_eq!(ages, vec![Some(30), Some(90), None]);
    s.set_case_status("t", b, CaseStatus::Found).unwrap();
    assert_eq!(s.case(b).unwrap().data.status, CaseStatus::Found);
    assert!(matches!(
        s.case_summary(999),
        Err(StoreError::NotFound { .. })
    ));
}

pub fn sighting_with_matches_is_atomic_and_queued_in_order<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    s.add_photo("t", a, b"case", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.02), candidate(b, 1, 0.001)],
        batch_item: Some(("run".into(), "x.jpg".into())),
        ..SightingExtras::default()
    };
    let seen = NewSighting {
        seen_at: Some("2024-01-02".into()),
        sex: Some(Sex::Male),
        apparent_age: Some((6.0, 9.0)),
        ..NewSighting::default()
    };
    let (sid, faces, ms) = s
        .record_sighting("t", b"seen", &seen, &[face(0.4), face(0.9)], &extras)
        .unwrap();
    assert_eq!((faces.len(), ms.len()), (2, 2));
    let queue = s.review_queue(false).unwrap();
    assert_eq!(
        queue.iter().map(|q| q.case_id).collect::<Vec<_>>(),
        vec![b, a]
    );
    assert_eq!(queue[0].scores.as_ref().unwrap().band, ScoreBand::Possible);
    // A match naming a face the sighting lacks: nothing of the call is written.
    let bad = SightingExtras {
        matches: vec![candidate(a, 7, 0.1)],
        batch_item: Some(("run".into(), "y.jpg".into())),
        ..SightingExtras::default()
    };
    assert!(s
        .record_sighting("t", b"bad", &NewSighting::default(), &[face(0.3)], &bad)
        .is_err());
    assert_eq!(s.sighting_summaries(10).unwrap().len(), 1);
    let run = s.batch_status("run").unwrap().unwrap();
    assert_eq!(
        (run.items, run.recorded, run.failed, run.pending_matches),
        (1, 1, 0, 2)
    );
    s.record_batch_failure("run", "z.jpg", "unreadable")
        .unwrap();
    assert_eq!(s.batch_status("run").unwrap().unwrap().failed, 1);
    assert_eq!(s.batches().unwrap().len(), 1);
    assert!(s.batch_status("none").unwrap().is_none());
    // The sighting view, with its note.
    s.set_sighting_note("t", sid, Some("near the market"))
        .unwrap();
    let v = s.sighting_summary(sid).unwrap();
    assert_eq!(
        (v.faces, v.sex, v.apparent_age),
        (2, Some(Sex::Male), Some((6.0, 9.0)))
    );
    assert_eq!(v.note.as_deref(), Some("near the market"));
    // The review item: the case photo's distance to the sighting's nearest face.
    let item = s.review_item(ms[0]).unwrap();
    assert_eq!((item.case.id, item.sighting.id), (a, sid));
    assert_eq!(item.photos.len(), 1);
    assert!((item.photos[0].distance - 0.1).abs() < 1e-6);
    // Deciding takes a match out of the pending queue, not out of `all`.
    s.review_match("rev", ms[1], MatchState::Rejected, None)
        .unwrap();
    assert_eq!(s.review_queue(false).unwrap().len(), 1);
    assert_eq!(s.review_queue(true).unwrap().len(), 2);
    let (_, enrolled) = s
        .confirm_and_enrol("rev", ms[0], Some("same child"), &PhotoMeta::default())
        .unwrap();
    assert_eq!(s.match_row(ms[0]).unwrap().state, MatchState::Confirmed);
    let hits = s
        .search_with(&face(0.4).embedding, &Default::default(), 1, 1)
        .unwrap();
    assert_eq!(hits[0].photos[0].face_id, enrolled);
}

pub fn unreadable_scores_are_an_error_not_a_band<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let mut m = candidate(a, 0, 0.1);
    m.scores_json = r#"{"embedding_distance":0.4}"#.into();
    let extras = SightingExtras {
        matches: vec![m],
        ..SightingExtras::default()
    };
    s.record_sighting("t", b"seen", &NewSighting::default(), &[face(0.2)], &extras)
        .unwrap();
    let q = s.review_queue(false).unwrap();
    assert!(q[0].scores.is_err());
    assert!(StoredScores::parse(r#"{"embedding_distance":0.4}"#).is_err());
}

pub fn erasure_removes_the_case_and_keeps_only_its_audit_line<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Secret Name")).unwrap();
    s.add_photo("t", a, b"case photo", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (sid, _, _) = s
        .record_sighting("t", b"seen", &NewSighting::default(), &[face(0.5)], &extras)
        .unwrap();
    s.erase_case("t", a).unwrap();
    assert!(matches!(s.case(a), Err(StoreError::NotFound { .. })));
    assert!(s.case_summaries().unwrap().is_empty());
    assert!(s.review_queue(true).unwrap().is_empty());
    assert!(s
        .search_with(&face(0.5).embedding, &Default::default(), 5, 3)
        .unwrap()
        .is_empty());
    assert!(
        s.sighting_summary(sid).is_ok(),
        "sightings are not the case's"
    );
    let log = s.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "erase_case" && e.target == format!("case:{a}")));
    assert!(log
        .iter()
        .all(|e| !e.target.contains("Secret") && !e.actor.contains("Secret")));
    assert!(matches!(
        s.erase_case("t", a),
        Err(StoreError::NotFound { .. })
    ));
}

/// Runs every check of the suite against one implementation.
macro_rules! store_suite {
    ($name:ident, $open:expr) => {
        mod $name {
            use super::*;

            fn open(dir: &Path) -> impl Store {
                let f: fn(&Path) -> _ = $open;
                f(dir)
            }

            #[test]
            fn cases_and_photos_read_back() {
                let dir = tempfile::tempdir().unwrap();
                super::cases_and_photos_read_back(&mut open(dir.path()));
            }

            #[test]
            fn sighting_with_matches_is_atomic_and_queued_in_order() {
                let dir = tempfile::tempdir().unwrap();
                super::sighting_with_matches_is_atomic_and_queued_in_order(&mut open(dir.path()));
            }

            #[test]
            fn unreadable_scores_are_an_error_not_a_band() {
                let dir = tempfile::tempdir().unwrap();
                super::unreadable_scores_are_an_error_not_a_band(&mut open(dir.path()));
            }

            #[test]
            fn erasure_removes_the_case_and_keeps_only_its_audit_line() {
                let dir = tempfile::tempdir().unwrap();
                super::erasure_removes_the_case_and_keeps_only_its_audit_line(&mut open(
                    dir.path(),
                ));
            }
        }
    };
}

store_suite!(sqlite, |dir| Registry::open(dir).unwrap());
