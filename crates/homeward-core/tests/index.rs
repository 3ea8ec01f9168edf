//! Face index tests: one behaviour suite run against every backend, filtered
//! search agreeing with exact search, per-case grouping, tombstones and
//! versioned snapshots.

#[path = "support/synth.rs"]
mod synth;

use homeward_core::index::{
    l2, FaceIndex, FaceMeta, FlatIndex, GeoRadius, HnswIndex, HnswParams, IndexError, SearchFilter,
    VectorIndex,
};
use homeward_core::store::{CaseStatus, Sex};
use synth::{dataset, queries, Rng};

// ---- generator sanity: distances look like dlib's ----

/// The median distance between near neighbours in generation order of the
/// same identity, and of different identities.
fn median_distances<V: AsRef<[f32]>, O: PartialEq>(vecs: &[V], owner: &[O]) -> (f32, f32) {
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..vecs.len() {
        for j in i + 1..vecs.len().min(i + 40) {
            let d = l2(vecs[i].as_ref(), vecs[j].as_ref());
            if owner[i] == owner[j] {
                same.push(d)
            } else {
                diff.push(d)
            }
        }
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut same), median(&mut diff))
}

#[test]
fn synthetic_vectors_have_dlib_like_distances() {
    let (_, vecs, owner) = dataset(1, 300, 4);
    let (ms, md) = median_distances(&vecs, &owner);
    assert!((0.35..=0.5).contains(&ms), "same-identity median {ms}");
    assert!((0.8..=1.0).contains(&md), "different-identity median {md}");
}

// ---- one suite for every backend ----

fn backend_suite(idx: &mut dyn VectorIndex) {
    let (_, vecs, _) = dataset(2, 400, 3);
    for (i, v) in vecs.iter().enumerate() {
        idx.insert(i as u64, v).unwrap();
    }
    assert_eq!(idx.len(), vecs.len());
    // A stored vector finds itself first at distance 0.
    let hits = idx.search(&vecs[17], 5, None).unwrap();
    assert_eq!(hits[0].id, 17);
    assert!(hits[0].distance.abs() < 1e-6);
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    // Duplicates and NaN are refused.
    assert!(matches!(
        idx.insert(17, &vecs[0]),
        Err(IndexError::DuplicateId { id: 17 })
    ));
    let mut bad = vecs[0];
    bad[5] = f32::NAN;
    assert!(matches!(
        idx.insert(100_000, &bad),
        Err(IndexError::NonFinite { position: 5, .. })
    ));
    // Removed vectors never come back.
    assert!(idx.remove(17));
    assert!(!idx.remove(17));
    assert!(idx
        .search(&vecs[17], 10, None)
        .unwrap()
        .iter()
        .all(|h| h.id != 17));
    assert_eq!(idx.len(), vecs.len() - 1);
    // Filters are honoured and never shrink the list below k when enough pass.
    let even = |id: u64| id.is_multiple_of(2);
    let hits = idx.search(&vecs[40], 10, Some(&even)).unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.id % 2 == 0));
    assert_eq!(hits[0].id, 40);
    // A vector of another dimension is a typed error, on insert and search.
    let dim = idx.dim();
    let short = vec![0.5f32; dim - 1];
    assert!(matches!(
        idx.insert(200_000, &short),
        Err(IndexError::WrongDimension { expected, found, .. }) if expected == dim && found == dim - 1
    ));
    assert!(matches!(
        idx.search(&short, 3, None),
        Err(IndexError::WrongDimension { .. })
    ));
}

/// The same suite at 512 dimensions (an ArcFace-sized model's index).
fn backend_suite_512(idx: &mut dyn VectorIndex) {
    assert_eq!(idx.dim(), 512);
    let (_, vecs, _) = homeward_support_synth_512();
    for (i, v) in vecs.iter().enumerate() {
        idx.insert(i as u64, v).unwrap();
    }
    let hits = idx.search(&vecs[17], 5, None).unwrap();
    assert_eq!(hits[0].id, 17);
    assert!(hits[0].distance.abs() < 1e-6);
    // The nearest other vector is the same identity's photo when it has one.
    let even = |id: u64| id.is_multiple_of(2);
    let hits = idx.search(&vecs[40], 10, Some(&even)).unwrap();
    assert_eq!(hits.len(), 10);
    assert_eq!(hits[0].id, 40);
    let err = idx.search(&vecs[0][..128], 1, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("holds 512-d vectors, but a 128-d vector was given"),
        "{err}"
    );
}

fn homeward_support_synth_512() -> (Vec<[f32; 512]>, Vec<[f32; 512]>, Vec<usize>) {
    synth::dataset_d::<512>(2, 400, 3)
}

#[test]
fn flat_backend_passes_suite() {
    backend_suite(&mut FlatIndex::new());
}

#[test]
fn hnsw_backend_passes_suite() {
    backend_suite(&mut HnswIndex::new(HnswParams::default(), 1000));
}

#[test]
fn flat_backend_at_512_dimensions() {
    backend_suite_512(&mut FlatIndex::for_model("wide", 512).unwrap());
}

#[test]
fn hnsw_backend_at_512_dimensions() {
    backend_suite_512(&mut HnswIndex::for_model("wide", 512, HnswParams::default()).unwrap());
}

#[test]
fn a_dimension_no_index_holds_is_refused() {
    for dim in [0, homeward_core::index::MAX_DIM + 1] {
        assert!(matches!(
            HnswIndex::for_model("odd", dim, HnswParams::default()),
            Err(IndexError::UnsupportedDimension { .. })
        ));
        assert!(FlatIndex::for_model("odd", dim).is_err());
        assert!(FaceIndex::for_model("odd", dim, HnswParams::default()).is_err());
    }
}

#[test]
fn synthetic_512_d_vectors_keep_dlib_like_distances() {
    let (_, vecs, owner) = synth::dataset_d::<512>(1, 300, 4);
    let (ms, md) = median_distances(&vecs, &owner);
    assert!((0.35..=0.5).contains(&ms), "same-identity median {ms}");
    assert!((0.8..=1.0).contains(&md), "different-identity median {md}");
}

// ---- filtered search agrees with exact search ----

fn meta_for(case: u64, rng: &mut Rng) -> FaceMeta {
    FaceMeta {
        case_id: case,
        sex: match rng.below(20) {
            0 => Sex::Unknown,
            x if x % 2 == 0 => Sex::Female,
            _ => Sex::Male,
        },
        birth_year: (rng.below(10) != 0).then(|| 2005 + rng.below(18) as i32),
        location: (rng.below(8) != 0).then(|| (43.0 + rng.unit() * 8.0, -1.0 + rng.unit() * 8.0)),
        status: match rng.below(10) {
            0 => CaseStatus::Found,
            1 => CaseStatus::Closed,
            _ => CaseStatus::Searching,
        },
    }
}

struct Fixture {
    index: FaceIndex,
    metas: Vec<FaceMeta>,
    vecs: Vec<[f32; 128]>,
    centres: Vec<[f32; 128]>,
    flat: FlatIndex,
}

fn fixture(seed: u64, ids: usize) -> Fixture {
    let (centres, vecs, owner) = dataset(seed, ids, 5);
    let mut rng = Rng(seed ^ 0xABCD);
    let case_meta: Vec<FaceMeta> = (0..ids).map(|c| meta_for(c as u64, &mut rng)).collect();
    let metas: Vec<FaceMeta> = owner.iter().map(|&c| case_meta[c]).collect();
    let items: Vec<_> = vecs
        .iter()
        .zip(&metas)
        .enumerate()
        .map(|(i, (v, m))| (i as u64, *v, *m))
        .collect();
    let mut index = FaceIndex::new(HnswParams::default());
    index.insert_batch(&items).unwrap();
    let mut flat = FlatIndex::new();
    for (i, v) in vecs.iter().enumerate() {
        flat.insert(i as u64, v).unwrap();
    }
    Fixture {
        index,
        metas,
        vecs,
        centres,
        flat,
    }
}

fn exact(fx: &Fixture, q: &[f32; 128], f: &SearchFilter, k: usize) -> Vec<u64> {
    let accept = |id: u64| f.accepts(&fx.metas[id as usize]);
    fx.flat
        .search(q, k, Some(&accept))
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn filtered_hnsw_matches_exact_search() {
    let fx = fixture(3, 2500);
    let filters = [
        ("none", SearchFilter::default()),
        (
            "sex",
            SearchFilter {
                sex: Some(Sex::Female),
                ..Default::default()
            },
        ),
        (
            "status",
            SearchFilter {
                statuses: vec![CaseStatus::Searching],
                ..Default::default()
            },
        ),
        (
            "born",
            SearchFilter {
                born_between: Some((2012, 2015)),
                ..Default::default()
            },
        ),
        (
            "region",
            SearchFilter {
                near: Some(GeoRadius {
                    lat: 45.0,
                    lon: 1.0,
                    km: 150.0,
                }),
                ..Default::default()
            },
        ),
        (
            "narrow",
            SearchFilter {
                sex: Some(Sex::Male),
                born_between: Some((2010, 2011)),
                statuses: vec![CaseStatus::Found],
                ..Default::default()
            },
        ),
    ];
    let qs = queries(33, &fx.centres, 60);
    for (name, f) in &filters {
        let passing = fx.metas.iter().filter(|m| f.accepts(m)).count();
        let (mut found, mut wanted) = (0usize, 0usize);
        for q in &qs {
            let truth = exact(&fx, q, f, 10);
            let got: Vec<u64> = fx
                .index
                .search(q, f, 10)
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(
                got.len(),
                truth.len().min(passing),
                "filter {name} shrank the result list"
            );
            assert!(
                got.iter().all(|id| f.accepts(&fx.metas[*id as usize])),
                "filter {name} leaked"
            );
            found += got.iter().filter(|id| truth.contains(id)).count();
            wanted += truth.len();
        }
        let recall = found as f64 / wanted as f64;
        assert!(
            recall >= 0.99,
            "filter {name} ({passing} pass): recall@10 {recall}"
        );
    }
}

// ---- per-case aggregation ----

#[test]
fn search_cases_returns_distinct_cases_with_their_best_faces() {
    let mut rng = Rng(9);
    let synth = synth::FaceSynth::new(&mut rng);
    let mut index = FaceIndex::new(HnswParams::default());
    let meta = |case_id| FaceMeta {
        case_id,
        sex: Sex::Female,
        birth_year: None,
        location: None,
        status: CaseStatus::Searching,
    };
    // Case 0 has 30 near-identical photos; cases 1..40 one photo each.
    let c0 = synth.identity(&mut rng);
    let mut id = 0;
    for _ in 0..30 {
        index
            .insert(id, &synth.photo(&c0, &mut rng), meta(0))
            .unwrap();
        id += 1;
    }
    for case in 1..40 {
        let c = synth.identity(&mut rng);
        index
            .insert(id, &synth.photo(&c, &mut rng), meta(case))
            .unwrap();
        id += 1;
    }
    let cases = index
        .search_cases(&c0, &SearchFilter::default(), 5, 3)
        .unwrap();
    assert_eq!(cases.len(), 5);
    assert_eq!(cases[0].case_id, 0);
    assert_eq!(cases[0].faces.len(), 3);
    let ids: std::collections::HashSet<u64> = cases.iter().map(|c| c.case_id).collect();
    assert_eq!(ids.len(), 5, "cases must be distinct");
    assert!(cases.windows(2).all(|w| w[0].distance <= w[1].distance));
}

// ---- tombstones ----

#[test]
fn tombstones_trigger_rebuild_past_ratio() {
    let fx = fixture(4, 300);
    let mut index = fx.index;
    let n = index.len();
    let mut removed = 0;
    for id in 0..n as u64 {
        if id % 4 == 0 {
            assert!(index.remove(id));
            removed += 1;
        }
    }
    assert_eq!(index.len(), n - removed);
    // 25% removed > 20% threshold: the graph was rebuilt at least once.
    assert!(index.graph().tombstone_ratio() <= homeward_core::index::COMPACT_RATIO);
    let hits = index
        .search(&fx.vecs[0], &SearchFilter::default(), 10)
        .unwrap();
    assert!(hits.iter().all(|h| h.id % 4 != 0));
    assert_eq!(hits.len(), 10);
}

// ---- snapshots ----

fn metas_of(fx: &Fixture) -> Vec<(u64, FaceMeta)> {
    fx.metas
        .iter()
        .enumerate()
        .map(|(i, m)| (i as u64, *m))
        .collect()
}

#[test]
fn snapshot_round_trip_gives_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut fx = fixture(5, 400);
    let info = fx.index.save(dir.path(), 7).unwrap();
    assert_eq!(info.count as usize, fx.vecs.len());
    let (loaded, newer) = FaceIndex::load(dir.path(), 7, metas_of(&fx)).unwrap();
    assert!(newer.is_empty());
    for q in queries(55, &fx.centres, 20) {
        let a = fx.index.search(&q, &SearchFilter::default(), 10).unwrap();
        let b = loaded.search(&q, &SearchFilter::default(), 10).unwrap();
        assert_eq!(a, b);
    }
    // Faces newer than the snapshot are reported for the caller to add.
    let mut metas = metas_of(&fx);
    metas.push((fx.vecs.len() as u64 + 5, fx.metas[0]));
    let (_, newer) = FaceIndex::load(dir.path(), 7, metas).unwrap();
    assert_eq!(newer, vec![fx.vecs.len() as u64 + 5]);
}

#[test]
fn stale_corrupt_old_and_foreign_snapshots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut fx = fixture(6, 150);
    fx.index.save(dir.path(), 1).unwrap();
    // Stale: an erasure happened since.
    assert!(matches!(
        FaceIndex::load(dir.path(), 2, metas_of(&fx)),
        Err(IndexError::Stale { .. })
    ));
    // Stale: the store lost a face the snapshot has.
    let mut fewer = metas_of(&fx);
    fewer.remove(3);
    assert!(matches!(
        FaceIndex::load(dir.path(), 1, fewer),
        Err(IndexError::Stale { .. })
    ));
    // Corrupt data file.
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("snap-"))
        .unwrap()
        .path();
    let data = snap.join("faces.hnsw.data");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let err = FaceIndex::load(dir.path(), 1, metas_of(&fx)).unwrap_err();
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    // Old format version (header rewritten with version 0 and a valid CRC).
    let hp = dir.path().join("snapshot.hwx");
    let mut h = std::fs::read(&hp).unwrap();
    h[8..12].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&hp, &h).unwrap();
    let err = FaceIndex::load(dir.path(), 1, metas_of(&fx)).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Incompatible {
                found: 0,
                current: homeward_core::index::SNAPSHOT_FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("rebuild"));
    // Foreign file.
    std::fs::write(&hp, b"PK\x03\x04 definitely a zip file").unwrap();
    assert!(matches!(
        FaceIndex::load(dir.path(), 1, metas_of(&fx)),
        Err(IndexError::NotASnapshot { .. })
    ));
    // Nothing at all.
    std::fs::remove_file(&hp).unwrap();
    assert!(matches!(
        FaceIndex::load(dir.path(), 1, metas_of(&fx)),
        Err(IndexError::NoSnapshot { .. })
    ));
}
