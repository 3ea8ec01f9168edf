//! The model slot in the SQLite registry: enabling a model, storing each
//! face's vector with it, re-embedding faces stored before, one index per
//! model kept in step with every write, and refusing vectors it cannot
//! compare.

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    CaseStatus, FaceRecord, FaceTable, MatchOrigin, ModelSpec, ModelVector, NewMatch, NewSighting,
    PhotoMeta, Registry, SightingExtras, Store, StoreError,
};

#[path = "support/models.rs"]
mod models;
use models::{case, sface};

/// A unit vector along axis `k`.
fn axis(k: usize) -> Vec<f32> {
    let mut v = vec![0.0; 128];
    v[k] = 1.0;
    v
}

fn face(dlib: f32, second: Option<Vec<f32>>) -> FaceRecord {
    FaceRecord {
        bbox: [10.0, 12.0, 90.0, 100.0],
        landmarks: [
            [30.0, 40.0],
            [60.0, 40.0],
            [45.0, 55.0],
            [35.0, 70.0],
            [55.0, 70.0],
        ],
        embedding: [dlib; 128],
        chip_hash: None,
        model: "dlib_face_recognition_resnet_model_v1".into(),
        vectors: second
            .map(|vector| ModelVector {
                model: "sface".into(),
                version: "test-v1".into(),
                vector,
            })
            .into_iter()
            .collect(),
    }
}

fn searching() -> SearchFilter {
    SearchFilter {
        statuses: vec![CaseStatus::Searching],
        ..SearchFilter::default()
    }
}

fn vectors_stored(dir: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(dir.join("registry.sqlite")).unwrap();
    c.query_row(
        "SELECT (SELECT count(*) FROM face_vectors) + (SELECT count(*) FROM sighting_face_vectors)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn faces_stored_before_a_model_are_re_embedded_and_found_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    assert!(!reg.models_chosen().unwrap());
    let a = reg.add_case("w", &case("A")).unwrap();
    let b = reg.add_case("w", &case("B")).unwrap();
    // Before the model is enabled its vectors are not kept.
    let (_, fa) = reg
        .add_photo(
            "w",
            a,
            b"photo a",
            &PhotoMeta::default(),
            &[face(0.1, Some(axis(1)))],
        )
        .unwrap();
    let (_, fb) = reg
        .add_photo(
            "w",
            b,
            b"photo b",
            &PhotoMeta::default(),
            &[face(0.2, None)],
        )
        .unwrap();
    assert_eq!(vectors_stored(dir.path()), 0);
    let e = reg.pending_faces("sface", 10).unwrap_err();
    assert!(e.to_string().contains("models add sface"), "{e}");

    reg.enable_models("w", &[sface()]).unwrap();
    assert!(reg.models_chosen().unwrap());
    let status = reg.model_status().unwrap();
    assert_eq!(status[0].case_faces, (2, 0));
    assert!(!status[0].complete());
    let pending = reg.pending_faces("sface", 10).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].landmarks[2], [45.0, 55.0]);
    // Nothing is found by the new model until its vectors are stored.
    assert!(reg
        .search_model("sface", &axis(1), &searching(), 5)
        .unwrap()
        .is_empty());

    // One batch at a time, as a resumable job does.
    let stored = reg
        .store_vectors("sface", &[(FaceTable::Case, fa[0], axis(1))])
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(reg.pending_faces("sface", 10).unwrap().len(), 1);
    reg.store_vectors("sface", &[(FaceTable::Case, fb[0], axis(3))])
        .unwrap();
    // Storing again replaces the vector, in the rows and the index.
    reg.store_vectors("sface", &[(FaceTable::Case, fb[0], axis(2))])
        .unwrap();
    assert!(reg.pending_faces("sface", 10).unwrap().is_empty());
    assert!(reg.model_status().unwrap()[0].complete());
    let hits = reg
        .search_model("sface", &axis(2), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0].0, b);
    let got = reg
        .vectors_of(FaceTable::Case, "sface", &[fa[0], fb[0]])
        .unwrap();
    assert_eq!(got[&fa[0]][1], 1.0);

    // The index is rebuilt from the rows at the next open.
    reg.close().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.models(), &[sface()]);
    let hits = reg
        .search_model("sface", &axis(1), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0].0, a);

    // A found case leaves the search of every model; erasing takes its vectors.
    reg.set_case_status("w", a, CaseStatus::Found, None)
        .unwrap();
    let hits = reg
        .search_model("sface", &axis(1), &searching(), 5)
        .unwrap();
    assert!(hits.iter().all(|h| h.0 != a));
    reg.erase_case("w", b).unwrap();
    assert_eq!(vectors_stored(dir.path()), 1);
    assert!(reg
        .search_model("sface", &axis(2), &SearchFilter::default(), 5)
        .unwrap()
        .iter()
        .all(|h| h.0 != b));
}

#[test]
fn sighting_vectors_follow_a_confirmed_face_into_the_gallery_and_back_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    reg.enable_models("w", &[sface()]).unwrap();
    let c = reg.add_case("w", &case("C")).unwrap();
    reg.add_photo(
        "w",
        c,
        b"photo c",
        &PhotoMeta::default(),
        &[face(0.1, Some(axis(3)))],
    )
    .unwrap();
    let m = NewMatch {
        case_id: c,
        sighting_face: 0,
        origin: MatchOrigin::Sighting,
        rank_key: 0.1,
        scores_json: "{}".into(),
    };
    let (sid, sfaces, mids) = reg
        .record_sighting(
            "v",
            b"sighting photo",
            &NewSighting::default(),
            &[face(0.11, Some(axis(4)))],
            &SightingExtras {
                matches: vec![m],
                ..SightingExtras::default()
            },
        )
        .unwrap();
    let got = reg
        .vectors_of(FaceTable::Sighting, "sface", &sfaces)
        .unwrap();
    assert_eq!(got[&sfaces[0]][4], 1.0);
    assert_eq!(
        reg.sighting_faces(sid).unwrap()[0].1.vectors[0].vector[4],
        1.0
    );

    let (_, enrolled) = reg
        .confirm_and_enrol("r", mids[0], None, &PhotoMeta::default())
        .unwrap();
    let got = reg
        .vectors_of(FaceTable::Case, "sface", &[enrolled])
        .unwrap();
    assert_eq!(got[&enrolled][4], 1.0);
    let hits = reg
        .search_model("sface", &axis(4), &searching(), 1)
        .unwrap();
    assert_eq!(hits[0], (c, 0.0));

    reg.undo_decision("r", mids[0]).unwrap();
    let hits = reg
        .search_model("sface", &axis(4), &searching(), 1)
        .unwrap();
    assert!(
        hits[0].1 > 1.0,
        "the enrolled face left the index: {hits:?}"
    );
}

#[test]
fn vectors_it_cannot_compare_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(dir.path()).unwrap();
    reg.enable_models("w", &[sface()]).unwrap();
    // Enabling is idempotent, but never at another version or length.
    reg.enable_models("w", &[sface()]).unwrap();
    let other = ModelSpec {
        version: "test-v2".into(),
        ..sface()
    };
    let e = reg.enable_models("w", &[other]).unwrap_err();
    assert!(e.to_string().contains("test-v1"), "{e}");
    // Any dimension an index holds is a model of its own (`third_model.rs`),
    // but not one no index holds.
    let huge = ModelSpec {
        name: "huge".into(),
        dim: 100_000,
        ..sface()
    };
    let e = reg.enable_models("w", &[huge]).unwrap_err();
    assert!(e.to_string().contains("100000-d"), "{e}");

    let c = reg.add_case("w", &case("D")).unwrap();
    let mut wrong_version = face(0.1, Some(axis(1)));
    wrong_version.vectors[0].version = "test-v0".into();
    let e = reg
        .add_photo("w", c, b"x", &PhotoMeta::default(), &[wrong_version])
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid { .. }), "{e}");
    let e = reg
        .add_photo(
            "w",
            c,
            b"x",
            &PhotoMeta::default(),
            &[face(0.1, Some(vec![1.0; 3]))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("length 3"), "{e}");
    let mut nan = axis(1);
    nan[5] = f32::NAN;
    let e = reg
        .add_photo(
            "w",
            c,
            b"x",
            &PhotoMeta::default(),
            &[face(0.1, Some(nan.clone()))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let (_, f) = reg
        .add_photo("w", c, b"x", &PhotoMeta::default(), &[face(0.1, None)])
        .unwrap();
    let e = reg
        .store_vectors("sface", &[(FaceTable::Case, f[0], nan)])
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let e = reg
        .store_vectors("nope", &[(FaceTable::Case, f[0], axis(1))])
        .unwrap_err();
    assert!(e.to_string().contains("not enabled"), "{e}");
    // A face erased while a job embedded it is skipped, not an error.
    assert_eq!(
        reg.store_vectors("sface", &[(FaceTable::Case, 9999, axis(1))])
            .unwrap(),
        0
    );
}

fn origin_of(reg: &Registry, model: &str) -> homeward_core::store::IndexOrigin {
    reg.model_index_origins()
        .iter()
        .find(|(n, _)| n == model)
        .map(|(_, o)| o.clone())
        .expect("an origin for every enabled model")
}

fn nearest(reg: &Registry, k: usize) -> Option<u64> {
    reg.search_model("sface", &axis(k), &searching(), 1)
        .unwrap()
        .first()
        .map(|(c, _)| *c)
}

/// A second model's index is snapshotted at close and loaded at the next
/// open (newer faces added on top); a replaced vector or an erasure makes
/// the snapshot unusable, so the index is rebuilt and never answers with
/// an old vector or an erased face.
#[test]
fn a_second_models_index_is_snapshotted_and_never_stale() {
    use homeward_core::store::IndexOrigin;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.enable_models("t", &[sface()]).unwrap();
        let a = reg.add_case("t", &case("A")).unwrap();
        let b = reg.add_case("t", &case("B")).unwrap();
        reg.add_photo(
            "t",
            a,
            b"a",
            &PhotoMeta::default(),
            &[face(0.1, Some(axis(1)))],
        )
        .unwrap();
        reg.add_photo(
            "t",
            b,
            b"b",
            &PhotoMeta::default(),
            &[face(0.2, Some(axis(2)))],
        )
        .unwrap();
        reg.close().unwrap();
        (a, b)
    };
    assert!(
        std::fs::read_dir(dir.path().join("index"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("model-")),
        "a model snapshot directory is written at close"
    );
    // Reopened from the snapshot; a face added now is added on top next time.
    let c = {
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(origin_of(&reg, "sface"), IndexOrigin::Snapshot { added: 0 });
        assert_eq!((nearest(&reg, 1), nearest(&reg, 2)), (Some(a), Some(b)));
        let c = reg.add_case("t", &case("C")).unwrap();
        reg.add_photo(
            "t",
            c,
            b"c",
            &PhotoMeta::default(),
            &[face(0.3, Some(axis(3)))],
        )
        .unwrap();
        // Dropped without close: the old snapshot stays on disk.
        c
    };
    let a_face = {
        let reg = Registry::open(dir.path()).unwrap();
        assert_eq!(origin_of(&reg, "sface"), IndexOrigin::Snapshot { added: 1 });
        assert_eq!(nearest(&reg, 3), Some(c));
        let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
        let id: i64 = conn
            .query_row(
                "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.case_id = ?1",
                [a as i64],
                |r| r.get(0),
            )
            .unwrap();
        id as u64
    };
    // Replacing a stored vector after the snapshot, then a crash (no close).
    {
        let reg = Registry::open(dir.path()).unwrap();
        reg.close().unwrap(); // a fresh snapshot holding axis 1 for A
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.store_vectors("sface", &[(FaceTable::Case, a_face, axis(7))])
            .unwrap();
        assert_eq!(nearest(&reg, 7), Some(a));
    }
    {
        let reg = Registry::open(dir.path()).unwrap();
        assert!(
            matches!(origin_of(&reg, "sface"), IndexOrigin::Rebuilt { .. }),
            "a snapshot older than a replaced vector is not used"
        );
        assert_eq!(nearest(&reg, 7), Some(a));
        let old = reg
            .search_model("sface", &axis(1), &searching(), 5)
            .unwrap();
        assert!(
            old.iter().all(|(_, d)| *d > 1.0),
            "the old vector is gone: {old:?}"
        );
        reg.close().unwrap();
    }
    // An erasure deletes the snapshot at once; the next one lacks the face.
    {
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.erase_case("t", b).unwrap();
        reg.close().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        assert!(matches!(
            origin_of(&reg, "sface"),
            IndexOrigin::Snapshot { .. }
        ));
        assert_ne!(nearest(&reg, 2), Some(b));
    }
}
