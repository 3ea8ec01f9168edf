//! The conformance suite of the [`Store`] contract and of [`MatchStore`],
//! shared by every implementation (feature `contract-suite`, for tests
//! only).
//!
//! Each check is a function generic over [`Store`] (or [`MatchStore`]);
//! the checks of the typed reads also take a function that opens a read
//! connection of the store ([`OpenReader`], giving a [`ReadStore`]). The
//! [`store_suite!`] macro turns them into one `#[test]` each for an
//! implementation:
//!
//! ```ignore
//! homeward_core::store_suite!(sqlite, |dir| Registry::open(dir).unwrap(), |s| {
//!     Box::new(s.reader().unwrap())
//! });
//! // An opener that may skip (returns None) or needs a guard kept alive
//! // until the store is dropped (a throwaway database server):
//! homeward_core::store_suite!(guarded postgres, |dir| open_pg(dir), |s| {
//!     Box::new(s.reader().unwrap())
//! });
//! ```
//!
//! [`store_suite!`]: crate::store_suite

#![allow(missing_docs)]

use std::collections::HashMap;

use super::{
    sha256, BatchItem, CaseEventKind, CaseStatus, FaceRecord, FaceTable, MatchOrigin, MatchState,
    MatchStore, Metric, ModelSpec, ModelVector, NewCase, NewMatch, NewSighting, PhotoMeta,
    ReadStore, Refreshed, ScoreBand, Sex, SightingExtras, SightingHashes, Store, StoreError,
    StoredScores,
};
use crate::index::{Embedding, SearchFilter};

/// A temporary directory for one check (the photo root of the store).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory for the store suite")
}

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
        vectors: Vec::new(),
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
    // The birth year is derived from the birth date.
    assert_eq!(sa.birth_year, Some(2015));
    let ages: Vec<_> = s
        .case_photos(a)
        .unwrap()
        .iter()
        .map(|p| p.age_months)
        .collect();
    assert_eq!(ages, vec![Some(30), Some(90), None]);
    s.set_case_status("t", b, CaseStatus::Found, None).unwrap();
    assert_eq!(s.case(b).unwrap().data.status, CaseStatus::Found);
    assert!(matches!(
        s.case_summary(999),
        Err(StoreError::NotFound { .. })
    ));
}

/// Every field of a case and a sighting reads back as written.
pub fn fields_round_trip<S: Store>(s: &mut S) {
    let mut c = new_case("Zoé N'Diaye");
    c.birth_date = None;
    c.birth_year = Some(2012);
    c.missing_location = Some((45.764_043_123, 4.835_659_987));
    c.contact_ref = Some("ref-17".into());
    c.notes = Some("scar on the left hand".into());
    c.sex = Sex::Unknown;
    let id = s.add_case("t", &c).unwrap();
    let back = s.case(id).unwrap();
    assert_eq!((back.id, &back.data), (id, &c));
    let meta = PhotoMeta {
        age_months: Some(131),
        taken_date: Some("2023-06-01".into()),
        source: Some("family".into()),
    };
    let (p, f) = s.add_photo("t", id, b"photo", &meta, &[face(0.3)]).unwrap();
    assert_eq!(f.len(), 1);
    let photos = s.case_photos(id).unwrap();
    assert_eq!(photos.len(), 1);
    assert_eq!(
        (
            photos[0].id,
            photos[0].age_months,
            photos[0].taken_date.as_deref(),
            photos[0].source.as_deref(),
            photos[0].faces
        ),
        (p, Some(131), Some("2023-06-01"), Some("family"), 1)
    );
    let seen = NewSighting {
        seen_at: Some("2024-03-04".into()),
        place: Some("Gare de Lyon".into()),
        location: Some((48.844_3, 2.374_3)),
        apparent_age: Some((10.5, 13.0)),
        sex: Some(Sex::Female),
        submitter: Some("volunteer-3".into()),
        duplicate_group: None,
    };
    let (sid, faces, _) = s
        .record_sighting("t", b"seen", &seen, &[], &SightingExtras::default())
        .unwrap();
    assert!(faces.is_empty(), "a sighting with no face is kept");
    let v = s.sighting_summary(sid).unwrap();
    assert_eq!(
        (
            v.seen_at.as_deref(),
            v.place.as_deref(),
            v.location,
            v.apparent_age,
            v.sex,
            v.submitter.as_deref(),
            v.note.as_deref(),
            v.faces
        ),
        (
            Some("2024-03-04"),
            Some("Gare de Lyon"),
            Some((48.844_3, 2.374_3)),
            Some((10.5, 13.0)),
            Some(Sex::Female),
            Some("volunteer-3"),
            None,
            0
        )
    );
    assert!(v.added_at > 1_600_000_000, "seconds since the Unix epoch");
    s.set_sighting_note("t", sid, Some("note")).unwrap();
    s.set_sighting_note("t", sid, None).unwrap();
    assert_eq!(s.sighting_summary(sid).unwrap().note, None);
    assert_eq!(s.sighting_summaries(10).unwrap()[0].id, sid);
    assert!(s.sighting_summaries(0).unwrap().is_empty());
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
    // The match names the sighting face it was given by index.
    let row = s.match_row(ms[1]).unwrap();
    assert_eq!(
        (
            row.sighting_id,
            row.case_id,
            row.sighting_face_id,
            row.state,
            row.origin.as_deref(),
            row.rank_key
        ),
        (
            sid,
            b,
            Some(faces[1]),
            MatchState::Pending,
            Some("sighting"),
            Some(0.001)
        )
    );
    assert_eq!(row.scores_json, candidate(b, 1, 0.001).scores_json);
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
    let decided = s.match_row(ms[0]).unwrap();
    assert_eq!(decided.state, MatchState::Confirmed);
    assert_eq!(
        (decided.reviewer.as_deref(), decided.note.as_deref()),
        (Some("rev"), Some("same child"))
    );
    let item = s.review_item(ms[0]).unwrap();
    assert!(item.decided_at.is_some());
    let hits = s
        .search_with(&face(0.4).embedding, &Default::default(), 1, 1)
        .unwrap();
    assert_eq!(hits[0].photos[0].face_id, enrolled);
    // The enrolled photo is the case's, from the sighting.
    let sources: Vec<_> = s
        .case_photos(a)
        .unwrap()
        .into_iter()
        .map(|p| p.source)
        .collect();
    assert!(sources.contains(&Some(format!("sighting:{sid}"))));
    // A decided match cannot be confirmed again.
    assert!(matches!(
        s.confirm_and_enrol("rev", ms[0], None, &PhotoMeta::default()),
        Err(StoreError::Invalid { .. })
    ));
}

pub fn undoing_a_decision_takes_back_its_enrolment<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    s.add_photo("t", a, b"case", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (sid, _, ms) = s
        .record_sighting("t", b"seen", &NewSighting::default(), &[face(0.2)], &extras)
        .unwrap();
    // Nothing to undo while pending; nothing is written.
    let audit = s.audit_log().unwrap().len();
    assert!(matches!(
        s.undo_decision("rev", ms[0]),
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        s.undo_decision("rev", 999),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.audit_log().unwrap().len(), audit);
    // Confirm, then undo: pending again, the enrolled photo and face gone.
    s.confirm_and_enrol("rev", ms[0], Some("same"), &PhotoMeta::default())
        .unwrap();
    assert_eq!(s.case_photos(a).unwrap().len(), 2);
    assert_eq!(
        s.undo_decision("lead", ms[0]).unwrap(),
        MatchState::Confirmed
    );
    let row = s.match_row(ms[0]).unwrap();
    assert_eq!(
        (row.state, row.reviewer, row.note),
        (MatchState::Pending, None, None)
    );
    let photos = s.case_photos(a).unwrap();
    assert_eq!(photos.len(), 1);
    assert!(photos
        .iter()
        .all(|p| p.source != Some(format!("sighting:{sid}"))));
    let hits = s
        .search_with(&face(0.2).embedding, &Default::default(), 5, 5)
        .unwrap();
    assert!(
        hits.iter()
            .flat_map(|h| &h.photos)
            .all(|p| (p.distance - 0.3).abs() < 1e-6),
        "only the case's own photo is searched: {hits:?}"
    );
    assert_eq!(s.review_queue(false).unwrap().len(), 1);
    // The sighting keeps its photo; it can be decided again.
    assert_eq!(s.sighting_summary(sid).unwrap().faces, 1);
    s.review_match("rev", ms[0], MatchState::Rejected, None)
        .unwrap();
    assert_eq!(
        s.undo_decision("lead", ms[0]).unwrap(),
        MatchState::Rejected
    );
    assert_eq!(s.match_row(ms[0]).unwrap().state, MatchState::Pending);
    let log = s.audit_log().unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "review:undone" && e.target == format!("match:{}", ms[0]))
            .count(),
        2
    );
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

/// Missing rows are `NotFound`, refused input is `Invalid`, and a refused
/// call writes nothing.
pub fn errors_are_typed_and_write_nothing<S: Store>(s: &mut S) {
    let nf = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { .. }));
    assert!(nf(s.case(999).map(|_| ())));
    assert!(nf(s.set_case_status("t", 999, CaseStatus::Closed, None)));
    assert!(nf(s
        .add_photo("t", 999, b"x", &PhotoMeta::default(), &[])
        .map(|_| ())));
    assert!(nf(s.set_sighting_note("t", 999, Some("n"))));
    assert!(nf(s.review_match("t", 999, MatchState::Rejected, None)));
    assert!(nf(s.match_row(999).map(|_| ())));
    assert!(nf(s.review_item(999).map(|_| ())));
    assert!(nf(s.sighting_summary(999).map(|_| ())));
    assert!(nf(s
        .confirm_and_enrol("t", 999, None, &PhotoMeta::default())
        .map(|_| ())));
    assert!(nf(s.erase_case("t", 999)));
    let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid { .. }));
    assert!(invalid(s.add_case("t", &new_case("  ")).map(|_| ())));
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    assert!(invalid(
        s.add_photo("t", a, b"", &PhotoMeta::default(), &[face(0.1)])
            .map(|_| ())
    ));
    let mut nan = face(0.1);
    nan.embedding[5] = f32::NAN;
    assert!(invalid(
        s.add_photo("t", a, b"x", &PhotoMeta::default(), &[nan.clone()])
            .map(|_| ())
    ));
    let mut no_model = face(0.1);
    no_model.model = " ".into();
    assert!(invalid(
        s.add_photo("t", a, b"x", &PhotoMeta::default(), &[no_model])
            .map(|_| ())
    ));
    assert!(invalid(
        s.record_sighting(
            "t",
            b"s",
            &NewSighting::default(),
            &[nan],
            &SightingExtras::default()
        )
        .map(|_| ())
    ));
    assert!(invalid(
        s.record_sighting(
            "t",
            b"",
            &NewSighting::default(),
            &[],
            &SightingExtras::default()
        )
        .map(|_| ())
    ));
    assert_eq!(s.case_summaries().unwrap().len(), 1);
    assert_eq!(s.case_summary(a).unwrap().photos, 0);
    assert!(s.sighting_summaries(10).unwrap().is_empty());
    assert!(s
        .search_with(&face(0.1).embedding, &SearchFilter::default(), 5, 3)
        .unwrap()
        .is_empty());
    // Only the one case was written, with its audit line.
    let log = s.audit_log().unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.action.as_str(), e.target.as_str()))
            .collect::<Vec<_>>(),
        vec![("add_case", format!("case:{a}").as_str())]
    );
}

/// Search ranks cases by their nearest face, honours the filters, and
/// follows a status change without a rebuild.
pub fn search_ranks_cases_and_follows_filters<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let mut boy = new_case("Bo");
    boy.sex = Sex::Male;
    boy.birth_date = Some("2010-02-02".into());
    let b = s.add_case("t", &boy).unwrap();
    let (pa, fa) = s
        .add_photo(
            "t",
            a,
            b"a1",
            &PhotoMeta::default(),
            &[face(0.30), face(0.36)],
        )
        .unwrap();
    s.add_photo("t", a, b"a2", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    s.add_photo("t", b, b"b1", &PhotoMeta::default(), &[face(0.2)])
        .unwrap();
    let q = face(0.31).embedding;
    let hits = s.search_with(&q, &SearchFilter::default(), 5, 2).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.case_id).collect::<Vec<_>>(),
        vec![a, b]
    );
    assert_eq!(hits[0].photos.len(), 2);
    assert_eq!(
        (hits[0].photos[0].photo_id, hits[0].photos[0].face_id),
        (pa, fa[0])
    );
    assert!((hits[0].distance - 0.01).abs() < 1e-6);
    assert!(hits[0].photos[0].distance <= hits[0].photos[1].distance);
    // k limits the cases, per_case the photos.
    let one = s.search_with(&q, &SearchFilter::default(), 1, 1).unwrap();
    assert_eq!((one.len(), one[0].photos.len()), (1, 1));
    let girls = SearchFilter {
        sex: Some(Sex::Female),
        ..SearchFilter::default()
    };
    let only_b = SearchFilter {
        born_between: Some((2009, 2011)),
        ..SearchFilter::default()
    };
    assert_eq!(s.search_with(&q, &girls, 5, 1).unwrap().len(), 1);
    assert_eq!(s.search_with(&q, &only_b, 5, 1).unwrap()[0].case_id, b);
    let searching = SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    };
    s.set_case_status("t", a, CaseStatus::Found, None).unwrap();
    let left = s.search_with(&q, &searching, 5, 1).unwrap();
    assert_eq!(left.iter().map(|h| h.case_id).collect::<Vec<_>>(), vec![b]);
}

/// The audit log: one entry per write, oldest first, naming rows by id and
/// never the child, the place or a note.
pub fn audit_log_names_rows_not_people<S: Store>(s: &mut S) {
    let a = s.add_case("worker", &new_case("Secret Name")).unwrap();
    let (p, _) = s
        .add_photo("worker", a, b"ph", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (sid, _, ms) = s
        .record_sighting(
            "volunteer",
            b"s",
            &NewSighting::default(),
            &[face(0.5)],
            &extras,
        )
        .unwrap();
    s.set_sighting_note("volunteer", sid, Some("Secret note"))
        .unwrap();
    s.set_case_status("worker", a, CaseStatus::Closed, None)
        .unwrap();
    s.review_match("rev", ms[0], MatchState::Rejected, Some("Secret why"))
        .unwrap();
    let log = s.audit_log().unwrap();
    let got: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    let (case, photo, sighting, m) = (
        format!("case:{a}"),
        format!("photo:{p}"),
        format!("sighting:{sid}"),
        format!("match:{}", ms[0]),
    );
    assert_eq!(
        got,
        vec![
            ("worker", "add_case", case.as_str()),
            ("worker", "add_photo", photo.as_str()),
            ("volunteer", "add_sighting", sighting.as_str()),
            ("volunteer", "add_match", m.as_str()),
            ("volunteer", "set_note", sighting.as_str()),
            ("worker", "set_status:closed", case.as_str()),
            ("rev", "review:rejected", m.as_str()),
        ]
    );
    assert!(log
        .windows(2)
        .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    assert!(log
        .iter()
        .all(|e| !format!("{}{}{}", e.actor, e.action, e.target).contains("Secret")));
}

pub fn erasure_removes_the_case_and_keeps_only_its_audit_line<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Secret Name")).unwrap();
    s.add_photo("t", a, b"case photo", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let keep = s.add_case("t", &new_case("Other")).unwrap();
    s.add_photo(
        "t",
        keep,
        b"other photo",
        &PhotoMeta::default(),
        &[face(0.9)],
    )
    .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (sid, _, _) = s
        .record_sighting("t", b"seen", &NewSighting::default(), &[face(0.5)], &extras)
        .unwrap();
    s.add_case_note("t", a, "Secret note").unwrap();
    s.set_case_status("t", a, CaseStatus::Closed, Some("Secret why"))
        .unwrap();
    s.erase_case("t", a).unwrap();
    assert!(matches!(s.case(a), Err(StoreError::NotFound { .. })));
    assert!(matches!(s.case_events(a), Err(StoreError::NotFound { .. })));
    assert_eq!(
        s.case_summaries()
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![keep]
    );
    assert!(s.review_queue(true).unwrap().is_empty());
    let hits = s
        .search_with(&face(0.5).embedding, &Default::default(), 5, 3)
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.case_id).collect::<Vec<_>>(),
        vec![keep]
    );
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

// ---- A case's journal and shared review -----------------------------------

/// Status changes keep who and why, notes keep their text, in order; bad
/// text and unknown cases are refused and write nothing; the audit log
/// never holds a reason or a note.
pub fn case_journal_keeps_who_when_why_and_notes<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    assert!(s.case_events(a).unwrap().is_empty());
    s.set_case_status("li", a, CaseStatus::Found, Some("  Seen at home  "))
        .unwrap();
    let n = s.add_case_note("wang", a, "家人已确认\nline two").unwrap();
    s.set_case_status("li", a, CaseStatus::Searching, None)
        .unwrap();
    let ev = s.case_events(a).unwrap();
    let kinds: Vec<_> = ev.iter().map(|e| (e.kind, e.actor.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (CaseEventKind::Status(CaseStatus::Found), "li"),
            (CaseEventKind::Note, "wang"),
            (CaseEventKind::Status(CaseStatus::Searching), "li"),
        ]
    );
    assert_eq!(ev[0].text.as_deref(), Some("Seen at home"));
    assert_eq!(ev[1].id, n);
    assert_eq!(ev[1].text.as_deref(), Some("家人已确认\nline two"));
    assert_eq!(ev[2].text, None);
    assert!(ev
        .windows(2)
        .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    assert!(ev.iter().all(|e| e.case_id == a));
    // Refused, and nothing written.
    let invalid = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Invalid { .. }));
    assert!(invalid(s.add_case_note("t", a, "   ").map(|_| ())));
    assert!(invalid(s.add_case_note("t", a, "bell\u{7}").map(|_| ())));
    assert!(invalid(
        s.add_case_note("t", a, &"x".repeat(4001)).map(|_| ())
    ));
    assert!(invalid(s.set_case_status(
        "t",
        a,
        CaseStatus::Closed,
        Some("")
    )));
    assert_eq!(s.case(a).unwrap().data.status, CaseStatus::Searching);
    assert!(matches!(
        s.add_case_note("t", 999, "x"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.case_events(999),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.case_events(a).unwrap().len(), 3);
    let log = s.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "add_note" && e.target == format!("case:{a}")));
    assert!(log.iter().all(|e| !e.target.contains("home")
        && !e.action.contains("home")
        && !e.target.contains("家人")));
}

/// A match can be assigned and unassigned, visibly in every read; each
/// reviewer's "seen up to" mark only moves forward.
pub fn matches_are_assigned_and_marks_only_move_forward<S: Store>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    s.add_photo("t", a, b"p", &PhotoMeta::default(), &[face(0.2)])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    s.record_sighting("t", b"seen", &NewSighting::default(), &[face(0.2)], &extras)
        .unwrap();
    let m = s.review_queue(false).unwrap()[0].match_id;
    assert_eq!(s.review_queue(false).unwrap()[0].assignee, None);
    s.assign_match("lead", m, Some(" wang ")).unwrap();
    assert_eq!(
        s.review_queue(false).unwrap()[0].assignee.as_deref(),
        Some("wang")
    );
    assert_eq!(s.review_item(m).unwrap().assignee.as_deref(), Some("wang"));
    assert_eq!(s.match_row(m).unwrap().assignee.as_deref(), Some("wang"));
    s.assign_match("lead", m, None).unwrap();
    assert_eq!(s.match_row(m).unwrap().assignee, None);
    assert!(matches!(
        s.assign_match("lead", m + 100, Some("wang")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.assign_match("lead", m, Some("a\u{1b}[2J")),
        Err(StoreError::Invalid { .. })
    ));
    let log = s.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "assign" && e.target == format!("match:{m}")));
    assert!(log
        .iter()
        .any(|e| e.action == "unassign" && e.target == format!("match:{m}")));
    // Marks.
    assert_eq!(s.review_seen("li").unwrap(), None);
    s.mark_review_seen("li", 7).unwrap();
    s.mark_review_seen("li", 3).unwrap();
    assert_eq!(s.review_seen("li").unwrap(), Some(7));
    s.mark_review_seen("li", 9).unwrap();
    assert_eq!(s.review_seen("li").unwrap(), Some(9));
    assert_eq!(s.review_seen("wang").unwrap(), None);
    assert!(matches!(
        s.mark_review_seen("", 1),
        Err(StoreError::Invalid { .. })
    ));
}

// ---- The model slot -------------------------------------------------------

fn second_model() -> ModelSpec {
    ModelSpec {
        name: "sface".into(),
        version: "suite-v1".into(),
        dim: 128,
        metric: Metric::Cosine,
    }
}

/// A unit vector along axis `k`.
fn axis(k: usize) -> Vec<f32> {
    let mut v = vec![0.0; 128];
    v[k] = 1.0;
    v
}

fn emb(v: Vec<f32>) -> Embedding {
    Embedding::try_from(v).expect("a 128-d vector")
}

/// A face with distinct landmarks and, if given, its second model's vector.
fn model_face(x: f32, second: Option<Vec<f32>>) -> FaceRecord {
    FaceRecord {
        landmarks: [
            [30.0, 40.0],
            [60.0, 40.0],
            [45.0, 55.0],
            [35.0, 70.0],
            [55.0, 70.0],
        ],
        vectors: second
            .map(|vector| ModelVector {
                model: "sface".into(),
                version: "suite-v1".into(),
                vector,
            })
            .into_iter()
            .collect(),
        ..face(x)
    }
}

fn searching() -> SearchFilter {
    SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    }
}

/// A model's vectors are kept with the faces of an enabled model only;
/// faces stored before it are listed as pending until a job, one batch at
/// a time, stores theirs; its index finds each case and follows a status
/// change.
pub fn model_vectors_are_kept_for_enabled_models_and_re_embedded<S: Store>(s: &mut S) {
    let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid { .. }));
    assert!(!s.models_chosen().unwrap());
    assert!(s.models().is_empty());
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    let meta = PhotoMeta::default();
    // Before the model is enabled its vectors are not kept.
    let (_, fa) = s
        .add_photo("t", a, b"a1", &meta, &[model_face(0.1, Some(axis(1)))])
        .unwrap();
    let (_, fb) = s
        .add_photo("t", b, b"b1", &meta, &[model_face(0.2, None)])
        .unwrap();
    let (_, sf, _) = s
        .record_sighting(
            "t",
            b"s1",
            &NewSighting::default(),
            &[model_face(0.3, Some(axis(3)))],
            &SightingExtras::default(),
        )
        .unwrap();
    let q1 = emb(axis(1));
    assert!(invalid(s.pending_faces("sface", 10).map(|_| ())));
    assert!(invalid(
        s.search_model("sface", &q1, &searching(), 5).map(|_| ())
    ));
    assert!(invalid(
        s.store_vectors("sface", &[(FaceTable::Case, fa[0], axis(1))])
            .map(|_| ())
    ));
    assert!(s
        .vectors_of(FaceTable::Case, "sface", &fa)
        .unwrap()
        .is_empty());

    s.enable_models("t", &[second_model()]).unwrap();
    assert!(s.models_chosen().unwrap());
    assert_eq!(s.models(), &[second_model()]);
    // Enabling again changes nothing.
    s.enable_models("t", &[second_model()]).unwrap();
    let enabled = s
        .audit_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "enable_model")
        .map(|e| e.target)
        .collect::<Vec<_>>();
    assert_eq!(enabled, vec!["model:sface".to_string()]);
    assert!(s
        .vectors_of(FaceTable::Case, "sface", &fa)
        .unwrap()
        .is_empty());
    let status = s.model_status().unwrap();
    assert_eq!(
        (status.len(), status[0].case_faces, status[0].sighting_faces),
        (1, (2, 0), (1, 0))
    );
    assert!(!status[0].complete());
    // Pending: case faces first, each in id order, with its photo and landmarks.
    let pending = s.pending_faces("sface", 10).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.table, p.face_id))
            .collect::<Vec<_>>(),
        vec![
            (FaceTable::Case, fa[0]),
            (FaceTable::Case, fb[0]),
            (FaceTable::Sighting, sf[0])
        ]
    );
    assert_eq!(pending[0].sha256, sha256(b"a1"));
    assert_eq!(pending[2].sha256, sha256(b"s1"));
    assert_eq!(pending[0].landmarks, model_face(0.1, None).landmarks);
    assert_eq!(s.pending_faces("sface", 2).unwrap().len(), 2);
    assert!(s.pending_faces("sface", 0).unwrap().is_empty());
    // Nothing is found by the new model until its vectors are stored.
    assert!(s
        .search_model("sface", &q1, &searching(), 5)
        .unwrap()
        .is_empty());

    // A job stores one batch, stops, and resumes with what is left.
    let first = s.pending_faces("sface", 1).unwrap();
    let stored = s
        .store_vectors("sface", &[(first[0].table, first[0].face_id, axis(1))])
        .unwrap();
    assert_eq!(stored, 1);
    let rest = s.pending_faces("sface", 10).unwrap();
    assert_eq!(
        rest.iter().map(|p| p.face_id).collect::<Vec<_>>(),
        vec![fb[0], sf[0]]
    );
    let stored = s
        .store_vectors(
            "sface",
            &[
                (FaceTable::Case, fb[0], axis(2)),
                (FaceTable::Sighting, sf[0], axis(3)),
                // A face erased while the job embedded it is skipped.
                (FaceTable::Case, 999_999, axis(5)),
            ],
        )
        .unwrap();
    assert_eq!(stored, 2);
    assert!(s.pending_faces("sface", 10).unwrap().is_empty());
    let status = s.model_status().unwrap();
    assert_eq!(
        (status[0].case_faces, status[0].sighting_faces),
        ((2, 2), (1, 1))
    );
    assert!(status[0].complete());
    let got = s
        .vectors_of(FaceTable::Case, "sface", &[fa[0], fb[0], 999_999])
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[&fa[0]], got[&fb[0]]), (emb(axis(1)), emb(axis(2))));
    let got = s.vectors_of(FaceTable::Sighting, "sface", &sf).unwrap();
    assert_eq!(got[&sf[0]], emb(axis(3)));
    assert!(s
        .vectors_of(FaceTable::Case, "other", &fa)
        .unwrap()
        .is_empty());
    // Its index finds each case by its own vector (sighting faces are not cases).
    let hits = s
        .search_model("sface", &emb(axis(2)), &searching(), 1)
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].0, b);
    assert!(hits[0].1.abs() < 1e-6, "{hits:?}");
    let hits = s.search_model("sface", &q1, &searching(), 5).unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![a, b]);

    // New faces carry their vector from now on; a vector of a model not
    // enabled is neither kept nor checked.
    let mut f = model_face(0.4, Some(axis(4)));
    f.vectors.push(ModelVector {
        model: "other".into(),
        version: "x".into(),
        vector: vec![f32::NAN; 3],
    });
    let (_, fc) = s.add_photo("t", a, b"a2", &meta, &[f]).unwrap();
    assert_eq!(
        s.vectors_of(FaceTable::Case, "sface", &fc).unwrap()[&fc[0]],
        emb(axis(4))
    );
    assert!(s
        .vectors_of(FaceTable::Case, "other", &fc)
        .unwrap()
        .is_empty());
    assert_eq!(s.model_status().unwrap()[0].case_faces, (3, 3));
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0].0, a);
    assert!(hits[0].1.abs() < 1e-6, "{hits:?}");

    // A found case leaves the model's search as it leaves dlib's.
    s.set_case_status("t", a, CaseStatus::Found, None).unwrap();
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 5)
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![b]);
    let hits = s
        .search_model("sface", &emb(axis(4)), &SearchFilter::default(), 1)
        .unwrap();
    assert_eq!(hits[0].0, a);
    s.set_case_status("t", a, CaseStatus::Searching, None)
        .unwrap();
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0].0, a);
}

/// Vectors a store could not compare with its own are refused, and the
/// refused call writes nothing.
pub fn model_vectors_it_cannot_compare_are_refused<S: Store>(s: &mut S) {
    let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid { .. }));
    s.enable_models("t", &[second_model()]).unwrap();
    // Never at another version or length, and never a model the index cannot hold.
    let other = ModelSpec {
        version: "suite-v2".into(),
        ..second_model()
    };
    let e = s.enable_models("t", &[other]).unwrap_err();
    assert!(e.to_string().contains("suite-v1"), "{e}");
    for dim in [0, crate::index::MAX_DIM as u32 + 1] {
        let odd = ModelSpec {
            name: "odd".into(),
            dim,
            ..second_model()
        };
        assert!(invalid(s.enable_models("t", &[odd])));
    }
    let unnamed = ModelSpec {
        name: " ".into(),
        ..second_model()
    };
    assert!(invalid(s.enable_models("t", &[unnamed])));
    assert_eq!(s.models(), &[second_model()]);
    assert_eq!(s.model_status().unwrap().len(), 1);

    let c = s.add_case("t", &new_case("Dee")).unwrap();
    let meta = PhotoMeta::default();
    let mut wrong_version = model_face(0.1, Some(axis(1)));
    wrong_version.vectors[0].version = "suite-v0".into();
    let e = s
        .add_photo("t", c, b"x", &meta, &[wrong_version.clone()])
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("suite-v0"), "{e}");
    let e = s
        .add_photo("t", c, b"x", &meta, &[model_face(0.1, Some(vec![1.0; 3]))])
        .unwrap_err();
    assert!(e.to_string().contains("length 3"), "{e}");
    let mut nan = axis(1);
    nan[5] = f32::NAN;
    let e = s
        .add_photo(
            "t",
            c,
            b"x",
            &meta,
            &[model_face(0.1, None), model_face(0.2, Some(nan.clone()))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    for bad in [wrong_version, model_face(0.1, Some(nan.clone()))] {
        assert!(invalid(
            s.record_sighting(
                "t",
                b"s",
                &NewSighting::default(),
                &[bad],
                &SightingExtras::default()
            )
            .map(|_| ())
        ));
    }
    assert_eq!(s.case_summary(c).unwrap().photos, 0);
    assert!(s.sighting_summaries(10).unwrap().is_empty());

    // A re-embedding job's vectors: one bad vector refuses the whole call.
    let (_, f) = s
        .add_photo(
            "t",
            c,
            b"x",
            &meta,
            &[model_face(0.1, None), model_face(0.2, None)],
        )
        .unwrap();
    let e = s
        .store_vectors(
            "sface",
            &[
                (FaceTable::Case, f[0], axis(1)),
                (FaceTable::Case, f[1], nan),
            ],
        )
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    assert!(invalid(
        s.store_vectors("sface", &[(FaceTable::Case, f[0], vec![0.5; 127])])
            .map(|_| ())
    ));
    let e = s
        .store_vectors("nope", &[(FaceTable::Case, f[0], axis(1))])
        .unwrap_err();
    assert!(e.to_string().contains("not enabled"), "{e}");
    assert_eq!(s.pending_faces("sface", 10).unwrap().len(), 2);
    assert!(s
        .vectors_of(FaceTable::Case, "sface", &f)
        .unwrap()
        .is_empty());
    assert!(s
        .search_model("sface", &emb(axis(1)), &SearchFilter::default(), 5)
        .unwrap()
        .is_empty());
    // Refusals leave no audit line.
    let log = s.audit_log().unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["enable_model", "add_case", "add_photo"]
    );
}

/// A third model of another dimension (512, ArcFace-sized) beside dlib and
/// SFace: its vectors are kept at its dimension and searched through its
/// own index, which finds the case as dlib's does; a vector of another
/// dimension is refused, whether stored or searched.
pub fn a_model_of_another_dimension_is_searched_through_its_own_index<S: Store>(s: &mut S) {
    let wide = ModelSpec {
        name: "wide".into(),
        version: "suite-w1".into(),
        dim: 512,
        metric: Metric::Cosine,
    };
    s.enable_models("t", &[second_model(), wide.clone()])
        .unwrap();
    assert_eq!(s.models(), &[second_model(), wide.clone()]);
    let wide_axis = |k: usize| {
        let mut v = vec![0.0; 512];
        v[k] = 1.0;
        v
    };
    let with_wide = |x: f32, k: usize| {
        let mut f = model_face(x, Some(axis(k % 128)));
        f.vectors.push(ModelVector {
            model: "wide".into(),
            version: "suite-w1".into(),
            vector: wide_axis(k),
        });
        f
    };
    let meta = PhotoMeta::default();
    let mut cases = Vec::new();
    let mut faces = Vec::new();
    for (i, k) in [(0u8, 130usize), (1, 300), (2, 511)] {
        let c = s.add_case("t", &new_case(&format!("W{i}"))).unwrap();
        let x = 0.1 + 0.3 * f32::from(i);
        let (_, f) = s
            .add_photo("t", c, &[b'w', i], &meta, &[with_wide(x, k)])
            .unwrap();
        cases.push(c);
        faces.push(f[0]);
    }
    // Through its own index, and through dlib's, the same case.
    let hits = s
        .search_model("wide", &wide_axis(300), &searching(), 3)
        .unwrap();
    assert_eq!(hits[0], (cases[1], 0.0));
    let mut q = [0f32; 128];
    q[0] = 0.4;
    let dlib = s.search_with(&q, &searching(), 1, 1).unwrap();
    assert_eq!(dlib[0].case_id, cases[1]);
    // Its vectors read back whole; the 128-d reading refuses them.
    let got = s.model_vectors_of(FaceTable::Case, "wide", &faces).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[&faces[2]], wide_axis(511));
    let e = s.vectors_of(FaceTable::Case, "wide", &faces).unwrap_err();
    assert!(matches!(e, StoreError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("512-d"), "{e}");
    assert_eq!(
        s.vectors_of(FaceTable::Case, "sface", &faces)
            .unwrap()
            .len(),
        3
    );
    // A query of another dimension is a typed error naming both.
    let e = s
        .search_model("wide", &axis(1), &searching(), 3)
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Index(crate::index::IndexError::WrongDimension {
            model, expected: 512, found: 128 }) if model == "wide"),
        "{e}"
    );
    // So is a stored vector of another length, for a face or a job.
    let mut short = with_wide(0.9, 5);
    short.vectors[1].vector.truncate(128);
    let e = s
        .add_photo("t", cases[0], b"short", &meta, &[short])
        .unwrap_err();
    assert!(e.to_string().contains("length 128, expected 512"), "{e}");
    assert!(matches!(
        s.store_vectors("wide", &[(FaceTable::Case, faces[0], axis(3))]),
        Err(StoreError::Invalid { .. })
    ));
    // A re-embedding job's 512-d vector replaces the old one in the index.
    assert_eq!(
        s.store_vectors("wide", &[(FaceTable::Case, faces[0], wide_axis(200))])
            .unwrap(),
        1
    );
    let hits = s
        .search_model("wide", &wide_axis(200), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0], (cases[0], 0.0));
    assert!(s
        .search_model("wide", &wide_axis(130), &searching(), 1)
        .unwrap()
        .first()
        .is_some_and(|h| h.1 > 1.0));
}

/// A confirmed sighting face enters the gallery with its vectors and its
/// undo takes them out; erasing a case takes its faces' vectors, while the
/// sighting keeps its own.
pub fn model_vectors_follow_enrolment_undo_and_erasure<S: Store>(s: &mut S) {
    s.enable_models("t", &[second_model()]).unwrap();
    let c = s.add_case("t", &new_case("Cy")).unwrap();
    let meta = PhotoMeta::default();
    let (_, fc) = s
        .add_photo("t", c, b"case", &meta, &[model_face(0.1, Some(axis(3)))])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(c, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (_, sf, ms) = s
        .record_sighting(
            "v",
            b"seen",
            &NewSighting::default(),
            &[model_face(0.11, Some(axis(4)))],
            &extras,
        )
        .unwrap();
    assert_eq!(
        s.vectors_of(FaceTable::Sighting, "sface", &sf).unwrap()[&sf[0]],
        emb(axis(4))
    );
    // Sighting faces are not searched.
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 1)
        .unwrap();
    assert!(hits[0].1 > 1.0, "{hits:?}");

    let (_, enrolled) = s.confirm_and_enrol("r", ms[0], None, &meta).unwrap();
    assert_eq!(
        s.vectors_of(FaceTable::Case, "sface", &[enrolled]).unwrap()[&enrolled],
        emb(axis(4))
    );
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0].0, c);
    assert!(hits[0].1.abs() < 1e-6, "{hits:?}");
    assert_eq!(s.model_status().unwrap()[0].case_faces, (2, 2));

    s.undo_decision("r", ms[0]).unwrap();
    assert!(s
        .vectors_of(FaceTable::Case, "sface", &[enrolled])
        .unwrap()
        .is_empty());
    let hits = s
        .search_model("sface", &emb(axis(4)), &searching(), 1)
        .unwrap();
    assert!(
        hits[0].1 > 1.0,
        "the enrolled face left the index: {hits:?}"
    );
    assert_eq!(s.model_status().unwrap()[0].case_faces, (1, 1));
    assert_eq!(
        s.vectors_of(FaceTable::Sighting, "sface", &sf)
            .unwrap()
            .len(),
        1
    );

    // Confirmed again, then the case is erased: its vectors go, the sighting's stay.
    let (_, again) = s.confirm_and_enrol("r", ms[0], None, &meta).unwrap();
    let keep = s.add_case("t", &new_case("Other")).unwrap();
    s.add_photo(
        "t",
        keep,
        b"other",
        &meta,
        &[model_face(0.9, Some(axis(9)))],
    )
    .unwrap();
    s.erase_case("t", c).unwrap();
    assert!(s
        .vectors_of(FaceTable::Case, "sface", &[fc[0], again])
        .unwrap()
        .is_empty());
    for q in [axis(3), axis(4)] {
        let hits = s
            .search_model("sface", &emb(q), &SearchFilter::default(), 5)
            .unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![keep]);
    }
    let status = s.model_status().unwrap();
    assert_eq!(
        (status[0].case_faces, status[0].sighting_faces),
        ((1, 1), (1, 1))
    );
    assert_eq!(
        s.vectors_of(FaceTable::Sighting, "sface", &sf).unwrap()[&sf[0]],
        emb(axis(4))
    );
}

// ---- MatchStore: what the matching library reads and writes ---------------

/// A face with a face-chip hash of `chip` repeated.
fn chip_face(x: f32, chip: u8) -> FaceRecord {
    FaceRecord {
        chip_hash: Some([chip; 32]),
        ..face(x)
    }
}

/// Records a sighting with nothing but its photo and faces; returns its
/// id and its faces' ids.
fn plain_sighting<S: Store>(s: &mut S, bytes: &[u8], faces: &[FaceRecord]) -> (u64, Vec<u64>) {
    let (id, faces, _) = s
        .record_sighting(
            "v",
            bytes,
            &NewSighting::default(),
            faces,
            &SightingExtras::default(),
        )
        .unwrap();
    (id, faces)
}

/// A sighting reads back as written (its photo's hash, its facts, its
/// duplicate group and the poster it reposts), with its faces in id order,
/// each with its chip hash and its vectors of the enabled models.
pub fn sightings_and_their_faces_read_back<S: MatchStore>(s: &mut S) {
    s.enable_models("t", &[second_model()]).unwrap();
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let (poster, _) = s
        .add_photo("t", a, b"poster", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    assert_eq!(s.sighting_count().unwrap(), 0);
    let seen = NewSighting {
        seen_at: Some("2024-03-04".into()),
        place: Some("Gare de Lyon".into()),
        location: Some((48.844_3, 2.374_3)),
        apparent_age: Some((10.5, 13.0)),
        sex: Some(Sex::Female),
        submitter: Some("volunteer-3".into()),
        duplicate_group: None,
    };
    let first = FaceRecord {
        bbox: [1.0, 2.0, 30.0, 40.0],
        ..chip_face(0.1, 7)
    };
    let second = model_face(0.2, Some(axis(2)));
    let repost = SightingExtras {
        repost_of_photo: Some(poster),
        ..SightingExtras::default()
    };
    let (sid, faces, _) = s
        .record_sighting(
            "v",
            b"seen",
            &seen,
            &[first.clone(), second.clone()],
            &repost,
        )
        .unwrap();
    let got = s.sighting(sid).unwrap();
    assert_eq!(
        (got.id, got.sha256, &got.data, got.repost_of_photo),
        (sid, sha256(b"seen"), &seen, Some(poster))
    );
    assert!(got.added_at > 1_600_000_000, "seconds since the Unix epoch");
    assert_eq!(
        s.sighting_faces(sid).unwrap(),
        vec![(faces[0], first), (faces[1], second)]
    );
    let dup = NewSighting {
        duplicate_group: Some(sid as i64),
        ..NewSighting::default()
    };
    let (again, _, _) = s
        .record_sighting("v", b"again", &dup, &[], &SightingExtras::default())
        .unwrap();
    let got = s.sighting(again).unwrap();
    assert_eq!(
        (got.data.duplicate_group, got.repost_of_photo),
        (Some(sid as i64), None)
    );
    assert!(s.sighting_faces(again).unwrap().is_empty());
    assert_eq!(s.sighting_count().unwrap(), 2);
    assert!(matches!(
        s.sighting(999_999),
        Err(StoreError::NotFound {
            what: "sighting",
            ..
        })
    ));
    assert!(s.sighting_faces(999_999).unwrap().is_empty());
}

/// A new case is matched against one sighting per duplicate group (the
/// group's first) and never against a poster's repost; faces by id.
pub fn new_cases_see_one_sighting_per_group_and_no_reposts<S: MatchStore>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let (poster, _) = s
        .add_photo("t", a, b"poster", &PhotoMeta::default(), &[face(0.5)])
        .unwrap();
    let (first, ff) = plain_sighting(s, b"s1", &[face(0.1), face(0.15)]);
    let dup = NewSighting {
        duplicate_group: Some(first as i64),
        ..NewSighting::default()
    };
    s.record_sighting("v", b"s2", &dup, &[face(0.11)], &SightingExtras::default())
        .unwrap();
    let repost = SightingExtras {
        repost_of_photo: Some(poster),
        ..SightingExtras::default()
    };
    s.record_sighting("v", b"s3", &NewSighting::default(), &[face(0.5)], &repost)
        .unwrap();
    let (later, lf) = plain_sighting(s, b"s4", &[face(0.3)]);
    let got = s.matchable_sighting_faces().unwrap();
    assert_eq!(
        got.iter().map(|(f, s, _)| (*f, *s)).collect::<Vec<_>>(),
        vec![(ff[0], first), (ff[1], first), (lf[0], later)]
    );
    assert_eq!(got[1].2, face(0.15).embedding);
    assert_eq!(got[2].2, face(0.3).embedding);
}

/// PDQ hashes come in the order they were stored, sightings with their
/// duplicate group; face-chip hashes of case photos leave out the photos a
/// confirmation enrolled from a sighting (their chip hash is the
/// sighting's), and setting a photo's hash writes its audit line.
pub fn hashes_keep_their_order_and_groups_and_leave_out_enrolled_photos<S: MatchStore>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    let (pa, fa) = s
        .add_photo("t", a, b"a1", &PhotoMeta::default(), &[chip_face(0.5, 11)])
        .unwrap();
    let family = PhotoMeta {
        source: Some("family".into()),
        ..PhotoMeta::default()
    };
    // A face without a chip hash has none to list.
    let (pb, fb) = s
        .add_photo("t", b, b"b1", &family, &[chip_face(0.7, 12), face(0.8)])
        .unwrap();
    // A source that reads like an enrolment's is left out too: SQLite's
    // LIKE ignores the case of ASCII letters, and both stores agree.
    let lookalike = PhotoMeta {
        source: Some("SIGHTING: the market poster".into()),
        ..PhotoMeta::default()
    };
    s.add_photo("t", b, b"b2", &lookalike, &[chip_face(0.9, 13)])
        .unwrap();

    // Stored out of photo order: listed in the order stored.
    s.set_photo_hash("w", pb, [2; 32], 80).unwrap();
    s.set_photo_hash("w", pa, [1; 32], 90).unwrap();
    assert_eq!(
        s.photo_hashes().unwrap(),
        vec![(pb, b, [2; 32]), (pa, a, [1; 32])]
    );
    let log = s.audit_log().unwrap();
    let tail: Vec<_> = log[log.len() - 2..]
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.clone()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("w", "hash_photo", format!("photo:{pb}")),
            ("w", "hash_photo", format!("photo:{pa}")),
        ]
    );
    // A photo that does not exist: refused, nothing written.
    assert!(s.set_photo_hash("w", 999_999, [3; 32], 1).is_err());
    assert_eq!(s.audit_log().unwrap().len(), log.len());
    assert_eq!(s.photo_hashes().unwrap().len(), 2);

    // Sightings: the group is the duplicate group, or the sighting itself.
    let with_pdq = |pdq: u8| SightingExtras {
        pdq: Some(([pdq; 32], 70)),
        matches: vec![candidate(a, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (s1, sf1, ms) = s
        .record_sighting(
            "v",
            b"s1",
            &NewSighting::default(),
            &[chip_face(0.5, 14)],
            &with_pdq(5),
        )
        .unwrap();
    let dup = NewSighting {
        duplicate_group: Some(s1 as i64),
        ..NewSighting::default()
    };
    let (s2, sf2, _) = s
        .record_sighting("v", b"s2", &dup, &[chip_face(0.51, 15)], &with_pdq(6))
        .unwrap();
    // No PDQ hash and no chip hash: in neither list.
    plain_sighting(s, b"s3", &[face(0.2)]);
    assert_eq!(
        s.sighting_hashes().unwrap(),
        vec![(s1, s1, [5; 32]), (s2, s1, [6; 32])]
    );
    assert_eq!(
        s.sighting_chip_hashes().unwrap(),
        vec![
            (sf1[0], s1, s1, [14; 32], face(0.5).embedding),
            (sf2[0], s2, s1, [15; 32], face(0.51).embedding),
        ]
    );
    // The same rows for chosen sightings only (what a refresh reports):
    // unknown ids and sightings without hashes add nothing.
    let some = s.hashes_of_sightings(&[s2, 999_999]).unwrap();
    assert_eq!(some.pdq, vec![(s2, s1, [6; 32])]);
    assert_eq!(
        some.chips,
        vec![(sf2[0], s2, s1, [15; 32], face(0.51).embedding)]
    );
    let all = s.hashes_of_sightings(&[s2, s1]).unwrap();
    assert_eq!(all.pdq, s.sighting_hashes().unwrap());
    assert_eq!(all.chips, s.sighting_chip_hashes().unwrap());
    assert_eq!(
        s.hashes_of_sightings(&[]).unwrap(),
        SightingHashes::default()
    );

    // Enrolment copies the sighting face, chip hash included, into case a.
    let (enrolled, _) = s
        .confirm_and_enrol("rev", ms[0], None, &PhotoMeta::default())
        .unwrap();
    assert!(s
        .case_photos(a)
        .unwrap()
        .iter()
        .any(|p| p.id == enrolled && p.source == Some(format!("sighting:{s1}"))));
    assert_eq!(
        s.case_chip_hashes().unwrap(),
        vec![
            (fa[0], pa, a, [11; 32], face(0.5).embedding),
            (fb[0], pb, b, [12; 32], face(0.7).embedding),
        ]
    );
    assert_eq!(s.photo_hashes().unwrap().len(), 2);
}

/// `add_candidate` records a match of an existing sighting face with a
/// case once: a second call for the same sighting and case returns `None`
/// whatever the state of the first; matches of a sighting come in queue
/// order (rank key, then id); each new match has its audit line.
pub fn candidates_are_added_once_per_sighting_and_case<S: MatchStore>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    let c = s.add_case("t", &new_case("Cy")).unwrap();
    let d = s.add_case("t", &new_case("Dee")).unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.5)],
        ..SightingExtras::default()
    };
    let (sid, sf, ms) = s
        .record_sighting(
            "v",
            b"seen",
            &NewSighting::default(),
            &[face(0.4), face(0.6)],
            &extras,
        )
        .unwrap();
    let (other, _) = plain_sighting(s, b"other", &[face(0.9)]);
    let before = s.audit_log().unwrap().len();
    let mut late = candidate(b, sf[1], 0.2);
    late.origin = MatchOrigin::Case;
    let mb = s.add_candidate("lead", sid, &late).unwrap().unwrap();
    let mc = s
        .add_candidate("lead", sid, &candidate(c, sf[0], 0.2))
        .unwrap()
        .unwrap();
    let rows = s.matches_of_sighting(sid).unwrap();
    assert_eq!(
        rows.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![mb, mc, ms[0]]
    );
    let r = &rows[0];
    assert_eq!(
        (
            r.sighting_id,
            r.case_id,
            r.sighting_face_id,
            r.state,
            r.origin.as_deref(),
            r.rank_key,
            r.scores_json.as_str()
        ),
        (
            sid,
            b,
            Some(sf[1]),
            MatchState::Pending,
            Some("case"),
            Some(0.2),
            late.scores_json.as_str()
        )
    );
    assert!(s.matches_of_sighting(other).unwrap().is_empty());
    assert!(s.matches_of_sighting(999_999).unwrap().is_empty());

    // Once per sighting and case, whatever the face, the key or the state.
    assert_eq!(
        s.add_candidate("lead", sid, &candidate(b, sf[0], 0.01))
            .unwrap(),
        None
    );
    s.review_match("rev", ms[0], MatchState::Rejected, None)
        .unwrap();
    assert_eq!(
        s.add_candidate("lead", sid, &candidate(a, sf[1], 0.01))
            .unwrap(),
        None
    );
    s.confirm_and_enrol("rev", mc, None, &PhotoMeta::default())
        .unwrap();
    assert_eq!(
        s.add_candidate("lead", sid, &candidate(c, sf[0], 0.01))
            .unwrap(),
        None
    );
    assert_eq!(s.matches_of_sighting(sid).unwrap().len(), 3);
    // The same case with another sighting is another match.
    assert!(s
        .add_candidate("lead", other, &candidate(b, sf[0], 0.3))
        .unwrap()
        .is_some());

    // A sighting, face or case that does not exist: refused, nothing written.
    let written = s.audit_log().unwrap().len();
    for (sighting, m) in [
        (999_999, candidate(d, sf[0], 0.1)),
        (sid, candidate(d, 999_999, 0.1)),
        (sid, candidate(999_999, sf[0], 0.1)),
    ] {
        assert!(matches!(
            s.add_candidate("lead", sighting, &m),
            Err(StoreError::Invalid { field: "match", .. })
        ));
    }
    assert_eq!(s.audit_log().unwrap().len(), written);
    assert_eq!(s.matches_of_sighting(sid).unwrap().len(), 3);
    let md = s
        .add_candidate("lead", sid, &candidate(d, sf[0], 0.1))
        .unwrap()
        .unwrap();

    let added: Vec<_> = s.audit_log().unwrap()[before..]
        .iter()
        .filter(|e| e.action == "add_match")
        .map(|e| (e.actor.clone(), e.target.clone()))
        .collect();
    let lead = |m: u64| ("lead".to_string(), format!("match:{m}"));
    assert_eq!(added[..2], [lead(mb), lead(mc)]);
    assert_eq!(added.len(), 4);
    assert_eq!(added[3], lead(md));
}

/// Batch items come in item order (bytes, as SQLite compares text); an
/// item is done once recorded with a sighting, not when it failed, and a
/// later record or failure replaces the earlier.
pub fn batch_items_are_done_when_recorded_not_when_failed<S: MatchStore>(s: &mut S) {
    assert!(s.batch_items("run").unwrap().is_empty());
    assert!(s.batch_done("run").unwrap().is_empty());
    let mark = |batch: &str, item: &str| SightingExtras {
        batch_item: Some((batch.into(), item.into())),
        ..SightingExtras::default()
    };
    let none = NewSighting::default();
    let (s1, _, _) = s
        .record_sighting("v", b"1", &none, &[face(0.1)], &mark("run", "b.jpg"))
        .unwrap();
    let (s2, _, _) = s
        .record_sighting("v", b"2", &none, &[], &mark("run", "A.jpg"))
        .unwrap();
    s.record_batch_failure("run", "_c.jpg", "unreadable")
        .unwrap();
    s.record_batch_failure("run", "a.jpg", "no bytes").unwrap();
    let (s3, _, _) = s
        .record_sighting("v", b"3", &none, &[], &mark("other", "b.jpg"))
        .unwrap();
    let item = |name: &str, sighting: Option<u64>, error: Option<&str>| BatchItem {
        item: name.into(),
        sighting_id: sighting,
        error: error.map(str::to_owned),
    };
    assert_eq!(
        s.batch_items("run").unwrap(),
        vec![
            item("A.jpg", Some(s2), None),
            item("_c.jpg", None, Some("unreadable")),
            item("a.jpg", None, Some("no bytes")),
            item("b.jpg", Some(s1), None),
        ]
    );
    let done = |pairs: &[(&str, u64)]| -> HashMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        s.batch_done("run").unwrap(),
        done(&[("A.jpg", s2), ("b.jpg", s1)])
    );
    // The failed item, recorded on the next run: done, its error gone.
    let (s4, _, _) = s
        .record_sighting("v", b"4", &none, &[], &mark("run", "a.jpg"))
        .unwrap();
    assert_eq!(
        s.batch_items("run").unwrap()[2],
        item("a.jpg", Some(s4), None)
    );
    // A failure after a record: no longer done (tried again next run).
    s.record_batch_failure("run", "b.jpg", "moved").unwrap();
    assert_eq!(
        s.batch_done("run").unwrap(),
        done(&[("A.jpg", s2), ("a.jpg", s4)])
    );
    assert_eq!(s.batch_done("other").unwrap(), done(&[("b.jpg", s3)]));
    // One item's lookup agrees with the whole batch's.
    assert_eq!(s.batch_item_sighting("run", "a.jpg").unwrap(), Some(s4));
    assert_eq!(s.batch_item_sighting("run", "b.jpg").unwrap(), None);
    assert_eq!(s.batch_item_sighting("run", "_c.jpg").unwrap(), None);
    assert_eq!(s.batch_item_sighting("run", "nope.jpg").unwrap(), None);
    assert_eq!(s.batch_item_sighting("other", "b.jpg").unwrap(), Some(s3));
}

/// The store's face index holds the case faces, each photo's bytes are at
/// its path, `refresh` on a store no other process writes changes nothing,
/// and the store says where it is.
pub fn the_store_shows_its_index_photos_and_place<S: MatchStore>(s: &mut S) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let (_, f) = s
        .add_photo("t", a, b"case photo", &PhotoMeta::default(), &[face(0.3)])
        .unwrap();
    plain_sighting(s, b"seen photo", &[face(0.31)]);
    assert_eq!(s.index().len(), 1, "sighting faces are not indexed");
    assert_eq!(s.index().meta(f[0]).map(|m| m.case_id), Some(a));
    for bytes in [&b"case photo"[..], b"seen photo"] {
        let path = s.photo_path(&sha256(bytes));
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
    assert_eq!(s.refresh().unwrap(), Refreshed::default());
    assert_eq!(s.index().len(), 1);
    assert!(!s.location().is_empty());
}

// ---- The typed reads on a read connection (ReadStore) ---------------------

/// How the suite opens a read connection of a store ([`ReadStore`], what a
/// server pools): SQLite's `Registry::reader`, PostgreSQL's
/// `PgStore::reader`. It holds its own connection, so the store writes
/// while it is open.
pub type OpenReader<S> = fn(&S) -> Box<dyn ReadStore + Send>;

fn aged(age_months: Option<u32>, source: &str) -> PhotoMeta {
    PhotoMeta {
        age_months,
        taken_date: Some("2019-04-01".into()),
        source: Some(source.into()),
    }
}

/// The case list (newest first, with photo and pending-match counts), one
/// case, its photos (youngest first, unknown ages last, with face counts)
/// and a photo's age read the same on a read connection as on the store,
/// including what was written after the reader was opened; unknown ids are
/// `NotFound` or empty as on SQLite.
pub fn reads_list_cases_with_their_counts_and_photos<S: Store>(s: &mut S, open: OpenReader<S>) {
    let r = open(s);
    assert!(r.case_summaries().unwrap().is_empty());
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    let (p90, _) = s
        .add_photo("t", a, b"p90", &aged(Some(90), "school"), &[face(0.1)])
        .unwrap();
    let (pnone, _) = s
        .add_photo("t", a, b"pnone", &aged(None, "family"), &[face(0.2)])
        .unwrap();
    let (p30a, _) = s
        .add_photo(
            "t",
            a,
            b"p30a",
            &aged(Some(30), "police"),
            &[face(0.3), face(0.7)],
        )
        .unwrap();
    let (p30b, _) = s
        .add_photo("t", a, b"p30b", &aged(Some(30), "family"), &[])
        .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.02), candidate(b, 0, 0.01)],
        ..SightingExtras::default()
    };
    let (_, _, ms) = s
        .record_sighting(
            "t",
            b"seen",
            &NewSighting::default(),
            &[face(0.25)],
            &extras,
        )
        .unwrap();
    s.review_match("rev", ms[1], MatchState::Rejected, None)
        .unwrap();
    s.set_case_status("t", b, CaseStatus::Found, None).unwrap();

    // The reader opened before the writes sees them all.
    let list = r.case_summaries().unwrap();
    assert_eq!(list, s.case_summaries().unwrap());
    assert_eq!(
        list.iter()
            .map(|c| (c.id, c.photos, c.pending_matches, c.status))
            .collect::<Vec<_>>(),
        vec![
            (b, 0, 0, CaseStatus::Found),
            (a, 4, 1, CaseStatus::Searching)
        ]
    );
    let sa = r.case_summary(a).unwrap();
    assert_eq!(sa, list[1]);
    assert_eq!(
        (
            sa.child_name.as_str(),
            sa.sex,
            sa.birth_year,
            sa.missing_place.as_str()
        ),
        ("Ana", Sex::Female, Some(2015), "Lyon")
    );
    assert_eq!(sa.missing_date.as_deref(), Some("2020-05-01"));
    assert!(
        sa.created_at > 1_600_000_000,
        "seconds since the Unix epoch"
    );

    let photos = r.case_photos(a).unwrap();
    assert_eq!(photos, s.case_photos(a).unwrap());
    assert_eq!(
        photos
            .iter()
            .map(|p| (p.id, p.age_months, p.faces, p.source.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (p30a, Some(30), 2, Some("police")),
            (p30b, Some(30), 0, Some("family")),
            (p90, Some(90), 1, Some("school")),
            (pnone, None, 1, Some("family")),
        ]
    );
    assert_eq!(photos[0].taken_date.as_deref(), Some("2019-04-01"));
    assert!(r.case_photos(b).unwrap().is_empty());
    assert_eq!(r.photo_age_months(p90).unwrap(), Some(90));
    assert_eq!(r.photo_age_months(pnone).unwrap(), None);

    // Unknown ids, also beyond SQLite's integers.
    for id in [9_999, u64::MAX] {
        assert!(matches!(
            r.case_summary(id),
            Err(StoreError::NotFound { what: "case", .. })
        ));
        assert!(matches!(
            r.photo_age_months(id),
            Err(StoreError::NotFound { what: "photo", .. })
        ));
        assert!(r.case_photos(id).unwrap().is_empty());
        assert!(r
            .case_photo_distances(id, &[face(0.1).embedding])
            .unwrap()
            .is_empty());
    }
}

/// Sightings (newest first, limited), one sighting, its photo's hash and
/// its faces' embeddings in face order; the review queue (pending, or all)
/// in queue order, and one review item with its sighting, case and the
/// case's photos nearest the sighting's faces, read the same on a read
/// connection as on the store.
pub fn reads_show_sightings_the_review_queue_and_an_item<S: Store>(s: &mut S, open: OpenReader<S>) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let b = s.add_case("t", &new_case("Bo")).unwrap();
    let c = s.add_case("t", &new_case("Cy")).unwrap();
    let (near, _) = s
        .add_photo(
            "t",
            a,
            b"near",
            &aged(Some(40), "family"),
            &[face(0.9), face(0.45)],
        )
        .unwrap();
    let (far, _) = s
        .add_photo("t", a, b"far", &aged(None, "family"), &[face(0.0)])
        .unwrap();
    s.add_photo("t", a, b"faceless", &aged(Some(12), "family"), &[])
        .unwrap();
    let seen = NewSighting {
        seen_at: Some("2024-01-02".into()),
        place: Some("Gare".into()),
        location: Some((48.8, 2.3)),
        apparent_age: Some((6.0, 9.0)),
        sex: Some(Sex::Male),
        submitter: Some("volunteer-1".into()),
        duplicate_group: None,
    };
    let extras = SightingExtras {
        matches: vec![
            candidate(a, 1, 0.03),
            candidate(b, 0, 0.001),
            candidate(c, 1, 0.2),
        ],
        ..SightingExtras::default()
    };
    let (s1, _, ms) = s
        .record_sighting("t", b"seen 1", &seen, &[face(0.4), face(0.5)], &extras)
        .unwrap();
    let (s2, _) = plain_sighting(s, b"seen 2", &[]);
    let (s3, _) = plain_sighting(s, b"seen 3", &[face(0.6)]);
    s.set_sighting_note("t", s1, Some("near the market"))
        .unwrap();
    s.review_match("rev", ms[1], MatchState::Rejected, Some("not her"))
        .unwrap();
    s.assign_match("lead", ms[0], Some("li")).unwrap();
    let r = open(s);

    let all = r.sighting_summaries(10).unwrap();
    assert_eq!(all, s.sighting_summaries(10).unwrap());
    assert_eq!(
        all.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![s3, s2, s1]
    );
    assert_eq!(
        r.sighting_summaries(2)
            .unwrap()
            .iter()
            .map(|v| v.id)
            .collect::<Vec<_>>(),
        vec![s3, s2]
    );
    assert!(r.sighting_summaries(0).unwrap().is_empty());
    let v = r.sighting_summary(s1).unwrap();
    assert_eq!(v, all[2]);
    assert_eq!(
        (
            v.seen_at.as_deref(),
            v.place.as_deref(),
            v.location,
            v.apparent_age,
            v.sex,
            v.submitter.as_deref(),
            v.note.as_deref(),
            v.faces
        ),
        (
            Some("2024-01-02"),
            Some("Gare"),
            Some((48.8, 2.3)),
            Some((6.0, 9.0)),
            Some(Sex::Male),
            Some("volunteer-1"),
            Some("near the market"),
            2
        )
    );
    assert_eq!(r.sighting_summary(s2).unwrap().faces, 0);
    assert_eq!(r.sighting_photo_hash(s2).unwrap(), sha256(b"seen 2"));
    assert_eq!(
        r.sighting_embeddings(s1).unwrap(),
        vec![face(0.4).embedding, face(0.5).embedding]
    );
    assert!(r.sighting_embeddings(s2).unwrap().is_empty());
    for id in [9_999, u64::MAX] {
        assert!(matches!(
            r.sighting_summary(id),
            Err(StoreError::NotFound {
                what: "sighting",
                ..
            })
        ));
        assert!(matches!(
            r.sighting_photo_hash(id),
            Err(StoreError::NotFound {
                what: "sighting",
                ..
            })
        ));
        assert!(r.sighting_embeddings(id).unwrap().is_empty());
        assert!(matches!(
            r.review_item(id),
            Err(StoreError::NotFound { what: "match", .. })
        ));
    }

    // The queue: lowest rank key first; decided matches only with `all`.
    let pending = r.review_queue(false).unwrap();
    assert_eq!(pending, s.review_queue(false).unwrap());
    assert_eq!(
        pending
            .iter()
            .map(|q| (q.match_id, q.case_id, q.state))
            .collect::<Vec<_>>(),
        vec![
            (ms[0], a, MatchState::Pending),
            (ms[2], c, MatchState::Pending)
        ]
    );
    assert_eq!(
        (pending[0].sighting_id, pending[0].child_name.as_str()),
        (s1, "Ana")
    );
    assert_eq!(pending[0].assignee.as_deref(), Some("li"));
    assert_eq!(
        pending[0].scores.as_ref().unwrap().band,
        ScoreBand::Possible
    );
    let all = r.review_queue(true).unwrap();
    assert_eq!(all, s.review_queue(true).unwrap());
    assert_eq!(
        all.iter().map(|q| q.match_id).collect::<Vec<_>>(),
        vec![ms[1], ms[0], ms[2]]
    );
    assert_eq!(all[0].state, MatchState::Rejected);

    // The item: the case photos nearest the sighting's faces first, each
    // at its smallest distance; a photo without faces is not compared.
    let item = r.review_item(ms[0]).unwrap();
    assert_eq!(item, s.review_item(ms[0]).unwrap());
    assert_eq!((item.case.id, item.sighting.id), (a, s1));
    assert_eq!(item.case, r.case_summary(a).unwrap());
    assert_eq!(item.sighting, v);
    assert_eq!(
        (
            item.state,
            item.assignee.as_deref(),
            item.reviewer,
            item.decided_at
        ),
        (MatchState::Pending, Some("li"), None, None)
    );
    assert_eq!(
        item.photos
            .iter()
            .map(|p| (p.photo_id, p.age_months))
            .collect::<Vec<_>>(),
        vec![(near, Some(40)), (far, None)]
    );
    assert!((item.photos[0].distance - 0.05).abs() < 1e-6);
    assert!((item.photos[1].distance - 0.4).abs() < 1e-6);
    assert_eq!(
        item.photos,
        r.case_photo_distances(a, &r.sighting_embeddings(s1).unwrap())
            .unwrap()
    );
    let decided = r.review_item(ms[1]).unwrap();
    assert_eq!(
        (
            decided.state,
            decided.reviewer.as_deref(),
            decided.note.as_deref()
        ),
        (MatchState::Rejected, Some("rev"), Some("not her"))
    );
    assert!(decided.decided_at.is_some());
    assert!(decided.photos.is_empty(), "case b has no photo");
}

/// Batch progress: items, recorded, failed and pending matches per batch,
/// the most recently active first (ties by name, bytewise), read the same
/// on a read connection as on the store; an unknown batch is `None`.
pub fn reads_show_batch_progress<S: Store>(s: &mut S, open: OpenReader<S>) {
    let a = s.add_case("t", &new_case("Ana")).unwrap();
    let mark = |batch: &str, item: &str, matches: Vec<NewMatch>| SightingExtras {
        batch_item: Some((batch.into(), item.into())),
        matches,
        ..SightingExtras::default()
    };
    let none = NewSighting::default();
    let (_, _, ms) = s
        .record_sighting(
            "v",
            b"1",
            &none,
            &[face(0.1)],
            &mark("run", "1.jpg", vec![candidate(a, 0, 0.1)]),
        )
        .unwrap();
    s.record_sighting(
        "v",
        b"2",
        &none,
        &[face(0.2)],
        &mark("run", "2.jpg", vec![candidate(a, 0, 0.2)]),
    )
    .unwrap();
    s.record_batch_failure("run", "3.jpg", "unreadable")
        .unwrap();
    s.record_sighting("v", b"4", &none, &[], &mark("Run", "1.jpg", vec![]))
        .unwrap();
    s.record_batch_failure("other", "x.jpg", "no bytes")
        .unwrap();
    s.review_match("rev", ms[0], MatchState::Rejected, None)
        .unwrap();
    let r = open(s);
    let run = r.batch_status("run").unwrap().unwrap();
    assert_eq!(Some(&run), s.batch_status("run").unwrap().as_ref());
    assert_eq!(
        (
            run.name.as_str(),
            run.items,
            run.recorded,
            run.failed,
            run.pending_matches
        ),
        ("run", 3, 2, 1, 1)
    );
    assert!(run.last_done_at.is_some_and(|t| t > 1_600_000_000));
    let upper = r.batch_status("Run").unwrap().unwrap();
    assert_eq!((upper.items, upper.recorded, upper.failed), (1, 1, 0));
    assert!(r.batch_status("none").unwrap().is_none());
    assert!(r.batch_status("RUN").unwrap().is_none(), "names are exact");
    let list = r.batches().unwrap();
    assert_eq!(list, s.batches().unwrap());
    let mut names: Vec<_> = list.iter().map(|b| b.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["Run", "other", "run"]);
    assert!(
        list.windows(2).all(
            |w| (std::cmp::Reverse(w[0].last_done_at), w[0].name.as_bytes())
                < (std::cmp::Reverse(w[1].last_done_at), w[1].name.as_bytes())
        ),
        "most recent first, ties by name bytewise: {list:?}"
    );
}

/// An erased case is gone from every read of a read connection: the list,
/// its view, its photos and their ages, its distances, its matches in the
/// queue, their items and batch counts; the sighting stays, with its faces.
pub fn reads_leave_out_an_erased_case<S: Store>(s: &mut S, open: OpenReader<S>) {
    let a = s.add_case("t", &new_case("Secret Name")).unwrap();
    let (photo, _) = s
        .add_photo(
            "t",
            a,
            b"case photo",
            &aged(Some(50), "family"),
            &[face(0.5)],
        )
        .unwrap();
    let keep = s.add_case("t", &new_case("Other")).unwrap();
    s.add_photo(
        "t",
        keep,
        b"other photo",
        &PhotoMeta::default(),
        &[face(0.9)],
    )
    .unwrap();
    let extras = SightingExtras {
        matches: vec![candidate(a, 0, 0.01), candidate(keep, 0, 0.3)],
        batch_item: Some(("run".into(), "seen.jpg".into())),
        ..SightingExtras::default()
    };
    let (sid, _, ms) = s
        .record_sighting("t", b"seen", &NewSighting::default(), &[face(0.5)], &extras)
        .unwrap();
    let r = open(s);
    assert_eq!(r.batch_status("run").unwrap().unwrap().pending_matches, 2);
    assert_eq!(r.review_item(ms[0]).unwrap().case.id, a);
    s.erase_case("t", a).unwrap();

    assert_eq!(
        r.case_summaries()
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![keep]
    );
    assert!(matches!(
        r.case_summary(a),
        Err(StoreError::NotFound { what: "case", .. })
    ));
    assert!(r.case_photos(a).unwrap().is_empty());
    assert!(matches!(
        r.photo_age_months(photo),
        Err(StoreError::NotFound { what: "photo", .. })
    ));
    assert!(r
        .case_photo_distances(a, &[face(0.5).embedding])
        .unwrap()
        .is_empty());
    for all in [false, true] {
        let q = r.review_queue(all).unwrap();
        assert_eq!(
            q.iter().map(|q| q.match_id).collect::<Vec<_>>(),
            vec![ms[1]]
        );
        assert!(q.iter().all(|q| q.child_name != "Secret Name"));
    }
    assert!(matches!(
        r.review_item(ms[0]),
        Err(StoreError::NotFound { what: "match", .. })
    ));
    assert_eq!(r.review_item(ms[1]).unwrap().case.id, keep);
    let run = r.batch_status("run").unwrap().unwrap();
    assert_eq!((run.items, run.recorded, run.pending_matches), (1, 1, 1));
    assert_eq!(r.sighting_summary(sid).unwrap().faces, 1);
    assert_eq!(
        r.sighting_embeddings(sid).unwrap(),
        vec![face(0.5).embedding]
    );
    assert_eq!(r.sighting_photo_hash(sid).unwrap(), sha256(b"seen"));
}

/// Runs every check of [`self`](crate::store::contract_suite) against one
/// implementation, one `#[test]` per check, each on a fresh store in a
/// fresh temporary directory.
///
/// - `store_suite!(name, |dir| open(dir), |store| reader(store))`: the
///   opener returns the store; the second function opens a read
///   connection of it ([`OpenReader`]) for the checks of the typed reads.
/// - `store_suite!(guarded name, |dir| open(dir), |store| reader(store))`:
///   the opener returns `Option<(store, guard)>`; `None` skips the check
///   (the opener says why), and the guard (e.g. a throwaway database
///   server) is dropped after the store.
#[macro_export]
macro_rules! store_suite {
    (guarded $name:ident, $open:expr, $reader:expr) => {
        $crate::store_suite!(@tests $name, $open, $reader;
            [
                cases_and_photos_read_back,
                fields_round_trip,
                sighting_with_matches_is_atomic_and_queued_in_order,
                undoing_a_decision_takes_back_its_enrolment,
                unreadable_scores_are_an_error_not_a_band,
                errors_are_typed_and_write_nothing,
                search_ranks_cases_and_follows_filters,
                audit_log_names_rows_not_people,
                erasure_removes_the_case_and_keeps_only_its_audit_line,
                model_vectors_are_kept_for_enabled_models_and_re_embedded,
                model_vectors_it_cannot_compare_are_refused,
                model_vectors_follow_enrolment_undo_and_erasure,
                a_model_of_another_dimension_is_searched_through_its_own_index,
                case_journal_keeps_who_when_why_and_notes,
                matches_are_assigned_and_marks_only_move_forward,
                sightings_and_their_faces_read_back,
                new_cases_see_one_sighting_per_group_and_no_reposts,
                hashes_keep_their_order_and_groups_and_leave_out_enrolled_photos,
                candidates_are_added_once_per_sighting_and_case,
                batch_items_are_done_when_recorded_not_when_failed,
                the_store_shows_its_index_photos_and_place,
            ];
            [
                reads_list_cases_with_their_counts_and_photos,
                reads_show_sightings_the_review_queue_and_an_item,
                reads_show_batch_progress,
                reads_leave_out_an_erased_case,
            ]
        );
    };
    (@tests $name:ident, $open:expr, $reader:expr;
        [$($check:ident),* $(,)?]; [$($read:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let dir = $crate::store::contract_suite::tempdir();
                    if let ::std::option::Option::Some((mut store, guard)) = ($open)(dir.path()) {
                        $crate::store::contract_suite::$check(&mut store);
                        drop(store);
                        drop(guard);
                    }
                }
            )*
            $(
                #[test]
                fn $read() {
                    let dir = $crate::store::contract_suite::tempdir();
                    if let ::std::option::Option::Some((mut store, guard)) = ($open)(dir.path()) {
                        $crate::store::contract_suite::$read(&mut store, $reader);
                        drop(store);
                        drop(guard);
                    }
                }
            )*
        }
    };
    ($name:ident, $open:expr, $reader:expr) => {
        $crate::store_suite!(guarded $name, |dir: &::std::path::Path| {
            ::std::option::Option::Some((($open)(dir), ()))
        }, $reader);
    };
}
