//! Index snapshots on PostgreSQL: a store opened from a snapshot and the
//! change log answers as one rebuilt from the rows; a damaged, foreign,
//! other-models or pruned-past snapshot is not used and the reason is
//! given; an erasure deletes older snapshots, a store that loads one that
//! survived never answers with the erased faces, and a snapshot written
//! after an erasure does not hold them. Without PostgreSQL installed the
//! tests pass as skipped unless `HOMEWARD_REQUIRE_PG=1`.

use std::fs;
use std::path::{Path, PathBuf};

use homeward_core::index::SearchFilter;
use homeward_core::store::{
    CaseStatus, FaceRecord, FaceTable, IndexOrigin, Metric, ModelSpec, ModelVector, NewCase,
    PhotoMeta, Sex, Store,
};
use homeward_pg::cluster::TestDb;
use homeward_pg::{PgStore, SnapshotPolicy, SNAPSHOT_DIR};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    fn vector(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..128).map(|_| self.next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn sface() -> ModelSpec {
    ModelSpec {
        name: "sface".into(),
        version: "snap-v1".into(),
        dim: 128,
        metric: Metric::Cosine,
    }
}

fn face(rng: &mut Rng) -> FaceRecord {
    let e = rng.vector();
    let mut embedding = [0f32; 128];
    embedding.copy_from_slice(&e);
    FaceRecord {
        bbox: [1.0, 2.0, 30.0, 40.0],
        landmarks: [[1.0, 1.5]; 5],
        embedding,
        chip_hash: None,
        model: "test-model".into(),
        vectors: vec![ModelVector {
            model: "sface".into(),
            version: "snap-v1".into(),
            vector: rng.vector(),
        }],
    }
}

fn case(i: usize) -> NewCase {
    NewCase {
        child_name: format!("Child {i}"),
        sex: [Sex::Female, Sex::Male][i % 2],
        birth_date: None,
        birth_year: Some(2010 + (i % 8) as i32),
        missing_date: Some("2022-03-01".into()),
        missing_place: "Lyon".into(),
        missing_location: Some((45.76, 4.83)),
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

fn open(db: &TestDb, root: &Path) -> PgStore {
    PgStore::connect_shared(&db.url(), root).unwrap_or_else(|e| panic!("{e}"))
}

/// `cases` cases of three photos with one face each; returns each case
/// with its face ids.
fn fill(s: &mut PgStore, rng: &mut Rng, from: usize, cases: usize) -> Vec<(u64, Vec<u64>)> {
    (from..from + cases)
        .map(|i| {
            let c = s.add_case("t", &case(i)).unwrap();
            let faces = (0..3)
                .flat_map(|p| {
                    let bytes = format!("photo {i} {p}");
                    s.add_photo(
                        "t",
                        c,
                        bytes.as_bytes(),
                        &PhotoMeta::default(),
                        &[face(rng)],
                    )
                    .unwrap()
                    .1
                })
                .collect();
            (c, faces)
        })
        .collect()
}

fn rebuilt_reason(s: &PgStore) -> String {
    match s.index_origin() {
        IndexOrigin::Rebuilt { reason } => reason.clone(),
        other => panic!("expected a rebuild, got {other:?}"),
    }
}

fn snapshots(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join(SNAPSHOT_DIR))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Every answer a search can give: dlib's (cases, photos, distances) and
/// the model index's, for a set of queries and filters.
fn answers(s: &PgStore, queries: &[(Vec<f32>, Vec<f32>)]) -> Vec<String> {
    let filters = [
        SearchFilter::default(),
        SearchFilter {
            statuses: vec![CaseStatus::Searching],
            ..SearchFilter::default()
        },
    ];
    let mut out = Vec::new();
    for (e, v) in queries {
        let mut q = [0f32; 128];
        q.copy_from_slice(e);
        let mut mv = [0f32; 128];
        mv.copy_from_slice(v);
        for f in &filters {
            out.push(format!("{:?}", s.search_with(&q, f, 10, 3).unwrap()));
            out.push(format!(
                "{:?}",
                s.search_model("sface", &mv, f, 10).unwrap()
            ));
        }
    }
    out
}

#[test]
fn a_store_opened_from_a_snapshot_and_the_log_answers_as_a_rebuild() {
    let Some(db) = TestDb::new_or_skip("snap_same") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED);
    let mut a = open(&db, dir.path());
    assert_eq!(rebuilt_reason(&a), "no snapshot");
    a.enable_models("t", &[sface()]).unwrap();
    let first = fill(&mut a, &mut rng, 0, 20);
    let written = a.write_snapshot().unwrap();
    assert_eq!(written.faces, 60);
    assert_eq!(snapshots(dir.path()), vec![written.path.clone()]);

    // After the snapshot: new faces, a status change, a replaced vector,
    // a store opened meanwhile that follows the log.
    let later = fill(&mut a, &mut rng, 20, 5);
    a.set_case_status("t", first[3].0, CaseStatus::Found, None)
        .unwrap();
    let replaced = first[4].1[0];
    a.store_vectors("sface", &[(FaceTable::Case, replaced, rng.vector())])
        .unwrap();

    let b = open(&db, dir.path());
    assert_eq!(b.index_origin(), &IndexOrigin::Snapshot { added: 15 });
    assert_eq!(b.position(), a.catch_up().unwrap().to);
    assert_eq!(b.index().len(), 75);
    let mut c = open(&db, dir.path());
    c.rebuild_index().unwrap();

    let queries: Vec<_> = (0..12).map(|_| (rng.vector(), rng.vector())).collect();
    let from_snapshot = answers(&b, &queries);
    assert_eq!(from_snapshot, answers(&c, &queries));
    assert_eq!(from_snapshot, answers(&a, &queries));
    // Each face is found as its own nearest, in dlib's index and the model's.
    let probe = later[2].1[1];
    let rows = c.vectors_of(FaceTable::Case, "sface", &[probe]).unwrap();
    let hits = b
        .search_model("sface", &rows[&probe], &SearchFilter::default(), 1)
        .unwrap();
    assert_eq!(hits[0].0, later[2].0);
    assert_eq!(
        b.index().meta(first[3].1[0]).map(|m| m.status),
        Some(CaseStatus::Found)
    );
}

#[test]
fn a_damaged_foreign_other_models_or_pruned_past_snapshot_is_not_used_and_says_why() {
    let Some(db) = TestDb::new_or_skip("snap_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng(7);
    let mut a = open(&db, root);
    a.enable_models("t", &[sface()]).unwrap();
    fill(&mut a, &mut rng, 0, 4);

    // A changed byte in the manifest.
    let w = a.write_snapshot().unwrap();
    let m = w.path.join("manifest");
    let mut bytes = fs::read(&m).unwrap();
    let at = bytes.iter().position(|c| *c == b'\n').unwrap() + 3;
    bytes[at] ^= 1;
    fs::write(&m, bytes).unwrap();
    let b = open(&db, root);
    let why = rebuilt_reason(&b);
    assert!(why.contains("checksum"), "{why}");
    assert!(snapshots(root).is_empty(), "a damaged snapshot is deleted");
    assert_eq!(b.index().len(), 12);
    drop(b);

    // A damaged index file.
    let w = a.write_snapshot().unwrap();
    let faces_dir = w.path.join("faces");
    let snap = fs::read_dir(&faces_dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let data = snap.join("faces.hnsw.data");
    let mut bytes = fs::read(&data).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&data, bytes).unwrap();
    let why = rebuilt_reason(&open(&db, root));
    assert!(why.contains("corrupt"), "{why}");

    // Another database's snapshot under the same photo root: not used, and
    // left for its own registry.
    let Some(other) = TestDb::new_or_skip("snap_foreign") else {
        return;
    };
    let mut o = open(&other, root);
    o.enable_models("t", &[sface()]).unwrap();
    fill(&mut o, &mut rng, 0, 1);
    let theirs = o.write_snapshot().unwrap();
    let why = rebuilt_reason(&open(&db, root));
    assert!(why.contains("another database"), "{why}");
    assert!(theirs.path.exists());
    drop(o);
    fs::remove_dir_all(root.join(SNAPSHOT_DIR)).unwrap();

    // Written for another set of models.
    a.write_snapshot().unwrap();
    let extra = ModelSpec {
        name: "other".into(),
        version: "v1".into(),
        dim: 128,
        metric: Metric::Euclidean,
    };
    a.enable_models("t", &[extra]).unwrap();
    let why = rebuilt_reason(&open(&db, root));
    assert!(why.contains("written for models [sface snap-v1]"), "{why}");

    // The log pruned past its position.
    a.write_snapshot().unwrap();
    fill(&mut a, &mut rng, 10, 1);
    let head = a.catch_up().unwrap().to;
    a.prune_changes_upto(head).unwrap();
    let b = open(&db, root);
    let why = rebuilt_reason(&b);
    assert!(why.contains("pruned past it"), "{why}");
    assert_eq!(b.index().len(), 15);
    assert!(snapshots(root).is_empty());
}

/// Whether any file under `dir` holds `needle`'s bytes.
fn holds(dir: &Path, needle: &[u8]) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            holds(&p, needle)
        } else {
            let b = fs::read(&p).unwrap();
            b.windows(needle.len()).any(|w| w == needle)
        }
    })
}

fn le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn an_erasure_deletes_older_snapshots_and_a_store_loading_one_that_survived_never_answers_with_it()
{
    let Some(db) = TestDb::new_or_skip("snap_erase") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng(99);
    let mut a = open(&db, root);
    a.enable_models("t", &[sface()]).unwrap();
    let cases = fill(&mut a, &mut rng, 0, 6);
    let (gone, gone_faces) = cases[2].clone();
    let gone_vectors = a.vectors_of(FaceTable::Case, "sface", &gone_faces).unwrap();
    let w = a.write_snapshot().unwrap();
    // A copy of it, as a snapshot whose writer died before it saw the
    // erasure would be.
    let survivor = root.join("survivor");
    copy_dir(&w.path, &survivor);

    a.erase_case("t", gone).unwrap();
    assert!(snapshots(root).is_empty(), "the erasure deleted it");

    fs::rename(&survivor, &w.path).unwrap();
    let b = open(&db, root);
    assert!(matches!(b.index_origin(), IndexOrigin::Snapshot { .. }));
    assert_eq!(b.index().len(), 15);
    for f in &gone_faces {
        assert!(b.index().meta(*f).is_none());
        let hits = b
            .search_model("sface", &gone_vectors[f], &SearchFilter::default(), 20)
            .unwrap();
        assert!(hits.iter().all(|(c, _)| *c != gone), "{hits:?}");
    }
    assert!(
        snapshots(root).is_empty(),
        "the loader deleted the survivor"
    );

    // A snapshot written after the erasure by a store that had not caught
    // up with it does not hold it.
    let mut c = open(&db, root);
    let d = open(&db, root);
    c.erase_case("t", cases[3].0).unwrap();
    drop(c);
    let mut d = d;
    assert!(d.index().meta(cases[3].1[0]).is_some(), "not caught up yet");
    let w = d.write_snapshot().unwrap();
    assert_eq!(w.faces, 12);
    for f in &cases[3].1 {
        assert!(d.index().meta(*f).is_none());
    }
    let erased = d.vectors_of(FaceTable::Case, "sface", &cases[4].1).unwrap();
    assert!(
        holds(&root.join(SNAPSHOT_DIR), &le(&erased[&cases[4].1[0]])),
        "the byte scan finds a kept face"
    );
    for v in gone_vectors.values() {
        assert!(!holds(&root.join(SNAPSHOT_DIR), &le(v)));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn a_store_writes_a_snapshot_at_close_when_its_policy_says_so() {
    let Some(db) = TestDb::new_or_skip("snap_policy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng(3);
    let mut a = open(&db, root);
    fill(&mut a, &mut rng, 0, 2);
    // The default policy: six faces are not worth a snapshot.
    assert_eq!(a.close().unwrap(), None);
    assert!(snapshots(root).is_empty());

    let policy = SnapshotPolicy {
        min_faces: 1,
        every_changes: 5,
    };
    let mut a = open(&db, root);
    a.set_snapshot_policy(policy);
    drop(a); // none on disk: one is written
    assert_eq!(snapshots(root).len(), 1);
    let mut a = open(&db, root);
    a.set_snapshot_policy(policy);
    fill(&mut a, &mut rng, 2, 1); // 3 entries: not yet due
    assert_eq!(a.close().unwrap(), None);
    let mut a = open(&db, root);
    assert_eq!(a.index_origin(), &IndexOrigin::Snapshot { added: 3 });
    a.set_snapshot_policy(policy);
    fill(&mut a, &mut rng, 3, 1);
    let w = a.close().unwrap().expect("due after 6 entries");
    assert_eq!(w.faces, 12);
    assert_eq!(snapshots(root), vec![w.path]);
}
