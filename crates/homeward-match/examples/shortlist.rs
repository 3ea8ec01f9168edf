//! Photo in, ranked shortlist out: registers two cases from the repository's
//! fixture photos in a throwaway registry, then ranks them for a sighting.
//!
//! ```sh
//! cargo run --release -p homeward-match --example shortlist [PHOTO]
//! ```
//!
//! The people in the fixtures are public figures standing in for children;
//! names and dates are made up. Nothing here is a match: the shortlist is for
//! a person to review.

use std::path::{Path, PathBuf};

use homeward_core::store::{CaseStatus, NewCase, NewSighting, PhotoMeta, Sex};
use homeward_match::{Analysis, Analyzer, Matcher, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let sighting_photo = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures.join("obama2.jpg"));

    let dir = tempfile::tempdir()?;
    let analyzer = Analyzer::bundled(Analysis::default())?;
    let mut matcher = Matcher::open(dir.path(), Policy::shipped()?)?;

    for (name, born, photos) in [
        (
            "Example child A",
            "2012-08-04",
            &["obama.jpg", "obama3.jpg"][..],
        ),
        ("Example child C", "2014-12-09", &["grace_hopper.jpg"][..]),
    ] {
        let case = matcher.register_case(
            "example",
            &NewCase {
                child_name: name.into(),
                sex: Sex::Unknown,
                birth_date: Some(born.into()),
                birth_year: None,
                missing_date: Some("2019-06-01".into()),
                missing_place: "example".into(),
                missing_location: None,
                status: CaseStatus::Searching,
                contact_ref: None,
                notes: None,
            },
        )?;
        for p in photos {
            let photo = analyzer.photo_path(&fixtures.join(p))?;
            let meta = PhotoMeta {
                age_months: Some(72),
                ..PhotoMeta::default()
            };
            matcher.add_photo("example", case, &photo, &meta)?;
        }
        println!("registered case {case}: {name}");
    }

    let photo = analyzer.photo_path(&sighting_photo)?;
    let out = matcher.submit_sighting(
        "example",
        &photo,
        &NewSighting {
            seen_at: Some("2024-03-02".into()),
            ..NewSighting::default()
        },
        5,
    )?;
    println!(
        "sighting {} recorded, {} face(s); candidates for review (not matches):",
        out.sighting_id, out.faces
    );
    for (i, c) in out.candidates.iter().enumerate() {
        println!("  {}. {}", i + 1, c.summary());
    }
    if out.faces == 0 {
        println!("  no face found: kept for a case worker to look at");
    }
    matcher.close()?;
    Ok(())
}
