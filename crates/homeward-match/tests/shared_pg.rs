//! Matchers sharing one PostgreSQL registry, as `homeward worker`s and
//! servers do: what one records, the other's duplicate index learns at its
//! next [`Matcher::refresh`], from that sighting's rows alone.
//!
//! Each test makes its own database on a throwaway cluster; without
//! PostgreSQL installed they pass as skipped (and say so) unless
//! `HOMEWARD_REQUIRE_PG=1`.

use std::path::{Path, PathBuf};

use homeward_core::faces::DetectOptions;
use homeward_core::intake::Limits;
use homeward_core::store::NewSighting;
use homeward_match::matching::Repeat;
use homeward_match::{Analysis, Analyzer, Matcher, Policy};
use homeward_pg::cluster::TestDb;
use homeward_pg::PgStore;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn analyzer() -> Analyzer {
    // The fixture faces are large: no upsampling.
    let detect = DetectOptions {
        upsample: 0,
        ..DetectOptions::default()
    };
    let analysis = Analysis {
        limits: Limits {
            detect,
            ..Limits::default()
        },
        detect,
        jitter: 0,
    };
    Analyzer::bundled(analysis).expect("the bundled models load")
}

fn matcher(db: &TestDb, photos: &Path) -> Matcher {
    let store = PgStore::connect_shared(&db.url(), photos).unwrap_or_else(|e| panic!("{e}"));
    Matcher::from_store(Box::new(store), Policy::shipped().expect("calibration"))
        .expect("matcher opens")
}

#[test]
fn a_sighting_recorded_by_one_matcher_is_a_duplicate_for_the_other() {
    let Some(db) = TestDb::new_or_skip("match_shared_dupes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (matcher(&db, dir.path()), matcher(&db, dir.path()));
    // One analysis, submitted three times: the same photo each time.
    let photo = analyzer()
        .photo_path(&fixture("obama.jpg"))
        .expect("fixture reads");
    let seen = NewSighting::default();
    let recorded = a.submit_sighting("v1", &photo, &seen, 5).unwrap();
    assert_eq!(recorded.repeat, None);

    // B learns A's sighting at its refresh: the same photo through B is a
    // repeat of it, not a new sighting to rank.
    b.refresh().unwrap();
    let dup = b.submit_sighting("v2", &photo, &seen, 5).unwrap();
    assert!(
        matches!(dup.repeat, Some(Repeat::Duplicate { of, .. }) if of == recorded.sighting_id),
        "{:?}",
        dup.repeat
    );
    assert!(dup.candidates.is_empty());

    // A learns B's sighting (and sees its own in the log); refreshing twice
    // adds nothing twice. A third copy joins the first sighting's group.
    a.refresh().unwrap();
    a.refresh().unwrap();
    let out = a.submit_sighting("v3", &photo, &seen, 5).unwrap();
    assert!(
        matches!(out.repeat, Some(Repeat::Duplicate { group, .. }) if group == recorded.sighting_id),
        "{:?}",
        out.repeat
    );
}
