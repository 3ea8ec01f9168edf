//! `homeward demo`: the whole flow on the bundled fixtures, no set-up.

use crate::output::{out, outln};
use std::path::{Path, PathBuf};

use clap::Args;
use homeward_core::faces::DetectOptions;
use homeward_core::intake::Limits;
use homeward_core::store::{CaseStatus, NewCase, NewSighting, PhotoMeta, Sex};
use homeward_match::ranking::{rate, Policy};
use homeward_match::{Analysis, Analyzer, Matcher};

use super::human::{candidate_line, case_label, Align, Table};
use super::review::match_json;
use super::sighting::outcome_text;
use super::{CliError, Outcome};

/// Register two demo cases from the fixture photos, submit six sightings
/// (a new photo of a registered person, two reposts of a case photo, a
/// repeat of that new photo, an unrelated face, and a child not yet
/// registered), then register a third case that surfaces that last
/// sighting, and print the ranked
/// review queue. Uses a throwaway registry unless --db is given (the demo
/// creates it there). The photos are built into the binary, so the demo
/// runs wherever it is installed. The people in the photos are public
/// figures standing in for children; names and dates are made up.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the registry here instead of a temporary directory.
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// The demo's photos, built into the binary (3.1 MB next to the 70 MB of
/// models): public-domain fixtures, provenance in `fixtures/README.md`.
const PHOTOS: &[(&str, &[u8])] = &[
    (
        "obama.jpg",
        include_bytes!("../../../../fixtures/obama.jpg"),
    ),
    (
        "obama2.jpg",
        include_bytes!("../../../../fixtures/obama2.jpg"),
    ),
    (
        "obama3.jpg",
        include_bytes!("../../../../fixtures/obama3.jpg"),
    ),
    (
        "obama_rot15.png",
        include_bytes!("../../../../fixtures/obama_rot15.png"),
    ),
    (
        "obama_partial_face.jpg",
        include_bytes!("../../../../fixtures/obama_partial_face.jpg"),
    ),
    (
        "biden.jpg",
        include_bytes!("../../../../fixtures/biden.jpg"),
    ),
    (
        "biden_gray.jpg",
        include_bytes!("../../../../fixtures/biden_gray.jpg"),
    ),
    (
        "grace_hopper.jpg",
        include_bytes!("../../../../fixtures/grace_hopper.jpg"),
    ),
    (
        "astronaut.png",
        include_bytes!("../../../../fixtures/astronaut.png"),
    ),
];

/// Writes the built-in photos into `dir` (a throwaway directory).
fn write_photos(dir: &Path) -> Result<(), CliError> {
    for (name, bytes) in PHOTOS {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| CliError::Io {
            context: format!(
                "cannot write the demo photo {}; check the temporary directory (TMPDIR)",
                path.display()
            ),
            source,
        })?;
    }
    Ok(())
}

struct DemoCase {
    name: &'static str,
    sex: Sex,
    born: &'static str,
    missing: &'static str,
    photos: &'static [(&'static str, f64)],
    /// Registered after the sightings (its family came forward later).
    late: bool,
}

const CASES: &[DemoCase] = &[
    DemoCase {
        name: "Demo child A",
        sex: Sex::Male,
        born: "2012-08-04",
        missing: "2019-06-01",
        photos: &[("obama.jpg", 6.0), ("obama3.jpg", 6.5)],
        late: false,
    },
    DemoCase {
        name: "Demo child B",
        sex: Sex::Male,
        born: "2013-11-20",
        missing: "2020-02-10",
        photos: &[("biden.jpg", 6.0)],
        late: true,
    },
    DemoCase {
        name: "张小花",
        sex: Sex::Female,
        born: "2014-12-09",
        missing: "2021-09-15",
        photos: &[("grace_hopper.jpg", 6.5)],
        late: false,
    },
];

const SIGHTINGS: &[(&str, &str, &str)] = &[
    ("obama2.jpg", "a new photo of case A's child", "2024-03-02"),
    (
        "obama_rot15.png",
        "case A's registered photo, rotated and reposted",
        "2024-03-05",
    ),
    (
        "obama_partial_face.jpg",
        "case A's registered photo, cropped through the face",
        "2024-03-05",
    ),
    (
        "obama2.jpg",
        "the first sighting again, sent by someone else",
        "2024-03-06",
    ),
    ("astronaut.png", "a child with no case", "2024-03-09"),
    (
        "biden_gray.jpg",
        "a child whose family has not registered yet",
        "2024-03-11",
    ),
];

pub fn run(a: &DemoArgs) -> Result<Outcome, CliError> {
    let tmp;
    let dir: &Path = match &a.db {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().map_err(|source| CliError::Io {
                context: "cannot create a temporary directory for the demo registry; check TMPDIR"
                    .into(),
                source,
            })?;
            tmp.path()
        }
    };
    let photos = tempfile::tempdir().map_err(|source| CliError::Io {
        context: "cannot create a temporary directory for the demo photos; check TMPDIR".into(),
        source,
    })?;
    write_photos(photos.path())?;
    let fixtures = photos.path();
    let policy = Policy::shipped().map_err(|e| CliError::Matching(e.into()))?;
    // The fixture faces are large: no upsampling keeps the demo quick.
    let detect = DetectOptions {
        upsample: 0,
        ..DetectOptions::default()
    };
    let analyzer = Analyzer::bundled(Analysis {
        limits: Limits {
            detect,
            ..Limits::default()
        },
        detect,
        jitter: 0,
    })?;
    let mut m = Matcher::open(dir, policy)?;
    let actor = "demo";
    outln!("registry: {}", dir.display());
    for c in CASES.iter().filter(|c| !c.late) {
        register(&mut m, &analyzer, fixtures, c)?;
    }
    for (file, what, when) in SIGHTINGS {
        outln!("\n== sighting: {file} ({what}), seen {when}");
        let photo = analyzer.photo_path(&fixtures.join(file))?;
        let s = NewSighting {
            seen_at: Some((*when).into()),
            ..NewSighting::default()
        };
        let out = m.submit_sighting(actor, &photo, &s, 3)?;
        out!("{}", outcome_text(m.registry(), &out));
    }
    for c in CASES.iter().filter(|c| c.late) {
        outln!();
        let id = register(&mut m, &analyzer, fixtures, c)?;
        let found = m.surface_sightings(actor, id)?;
        for s in &found {
            outln!(
                "  surfaced past sighting {} -> queued as match {}: {}",
                s.sighting_id,
                s.match_id,
                candidate_line(m.registry(), &s.candidate)
            );
        }
        if found.is_empty() {
            outln!("  no past sighting in a review band");
        }
    }
    outln!("\n== review queue (pending, best first; a person decides each one)");
    let mut table = Table::new(&[
        ("match", Align::Right),
        ("band", Align::Left),
        ("est. false-match", Align::Right),
        ("case", Align::Left),
        ("sighting", Align::Right),
    ]);
    for entry in m.registry().review_queue(false)? {
        let row = m.registry().match_row(entry.match_id)?;
        let v = match_json(m.registry(), &row);
        table.row(vec![
            row.id.to_string(),
            v["band"].as_str().unwrap_or("?").into(),
            v["case_fmr"].as_f64().map(rate).unwrap_or_default(),
            case_label(row.case_id, v["child_name"].as_str().unwrap_or("")),
            row.sighting_id.to_string(),
        ]);
    }
    for line in table.lines() {
        outln!("{line}");
    }
    outln!("\nnext: homeward review show ID / confirm ID / reject ID --db DIR (run with --db to keep the registry)");
    m.close()?;
    Ok(Outcome::Success)
}

fn register(
    m: &mut Matcher,
    analyzer: &Analyzer,
    fixtures: &Path,
    c: &DemoCase,
) -> Result<u64, CliError> {
    let actor = "demo";
    let id = m.register_case(
        actor,
        &NewCase {
            child_name: c.name.into(),
            sex: c.sex,
            birth_date: Some(c.born.into()),
            birth_year: None,
            missing_date: Some(c.missing.into()),
            missing_place: "demo".into(),
            missing_location: None,
            status: CaseStatus::Searching,
            contact_ref: None,
            notes: None,
        },
    )?;
    for (file, age) in c.photos {
        let photo = analyzer.photo_path(&fixtures.join(file))?;
        let meta = PhotoMeta {
            age_months: Some((age * 12.0) as u32),
            taken_date: None,
            source: Some("case".into()),
        };
        m.add_photo(actor, id, &photo, &meta)?;
    }
    outln!(
        "{} registered with {} photo(s)",
        case_label(id, c.name),
        c.photos.len()
    );
    Ok(id)
}
