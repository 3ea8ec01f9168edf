//! `homeward case add`: register a missing child with photos; past
//! sightings are matched against the new case at once.

use crate::output::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use homeward_core::rules::{AgeRange, CalendarDate};
use homeward_core::store::{CaseStatus, MatchStore, NewCase, PhotoMeta, Sex};
use homeward_match::ranking::{Day, Policy};
use homeward_match::{Analyzer, Matcher, Surfaced};
use serde::Serialize;

use super::human::{candidate_line, case_label, Align, Table};
use super::{CliError, Outcome};
use crate::face_args::AnalysisArgs;

pub use super::db::DbArgs;

/// Parses a sex under the one input rule (`homeward_core::rules::Sex`).
pub fn parse_sex(s: &str) -> Result<Sex, String> {
    s.parse::<Sex>().map_err(|e| e.to_string())
}

/// Parses a date `YYYY-MM-DD` (or `YYYY`) under the one input rule
/// (`homeward_core::rules::CalendarDate`: real days only).
pub fn parse_day(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<CalendarDate>()
        .map(|d| d.to_string())
        .map_err(|e| e.to_string())
}

/// Parses an apparent age `LO-HI` or a single age, in years, under the one
/// input rule (`homeward_core::rules::AgeRange`: 0 to 25).
pub fn parse_age_range(s: &str) -> Result<(f32, f32), String> {
    s.parse::<AgeRange>()
        .map(|r| r.pair())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    Add(CaseAddArgs),
    Photo(CasePhotoArgs),
    List(CaseListArgs),
    Status(CaseStatusArgs),
    Note(super::case_life::NoteArgs),
    Show(super::case_life::ShowArgs),
    Export(super::case_life::ExportArgs),
}

/// Add photos to an existing case; past sightings are matched against the
/// case again with its enlarged gallery.
#[derive(Debug, Args)]
pub struct CasePhotoArgs {
    /// The case.
    #[arg(long = "case")]
    pub case_id: u64,
    /// A photo of the child (repeat for several).
    #[arg(long = "photo", required = true)]
    pub photos: Vec<PathBuf>,
    /// The child's age in years in the matching --photo.
    #[arg(long = "age")]
    pub ages: Vec<f64>,
    /// The date of the matching --photo.
    #[arg(long = "taken", value_parser = parse_day)]
    pub taken: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

/// Register a missing child. Each `--photo` may be followed by `--age`
/// (the child's age in years in that photo) and `--taken` (its date); the
/// i-th `--age`/`--taken` goes with the i-th photo. Past sightings are
/// matched against the new case and queued for review.
#[derive(Debug, Args)]
pub struct CaseAddArgs {
    /// The child's name.
    #[arg(long)]
    pub name: String,
    /// female, male or unknown.
    #[arg(long, value_parser = parse_sex, default_value = "unknown")]
    pub sex: Sex,
    /// Birth date YYYY-MM-DD (or YYYY).
    #[arg(long, value_parser = parse_day)]
    pub born: Option<String>,
    /// Date the child went missing.
    #[arg(long, value_parser = parse_day)]
    pub missing_date: Option<String>,
    /// Age in years when the child went missing (gives the birth year when
    /// --born is not known).
    #[arg(long)]
    pub missing_age: Option<f64>,
    /// Where the child went missing.
    #[arg(long, default_value = "")]
    pub place: String,
    /// A photo of the child (repeat for several).
    #[arg(long = "photo", required = true)]
    pub photos: Vec<PathBuf>,
    /// The child's age in years in the matching --photo.
    #[arg(long = "age")]
    pub ages: Vec<f64>,
    /// The date of the matching --photo.
    #[arg(long = "taken", value_parser = parse_day)]
    pub taken: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

/// Change a case's status: `found` or `closed` ends the search (the case
/// leaves searches and the matching of new sightings), `searching` reopens
/// it. Who and when are kept in the audit log.
#[derive(Debug, Args)]
pub struct CaseStatusArgs {
    /// The case.
    #[arg(long = "case")]
    pub case_id: u64,
    /// The new status: searching, found or closed.
    #[arg(value_parser = parse_status)]
    pub status: CaseStatus,
    /// Why (kept in the case's journal with who and when).
    #[arg(long)]
    pub why: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

fn parse_status(s: &str) -> Result<CaseStatus, String> {
    s.parse::<CaseStatus>().map_err(|e| e.to_string())
}

/// List the cases in the registry.
#[derive(Debug, Args)]
pub struct CaseListArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Serialize)]
struct PhotoReport {
    path: String,
    photo_id: Option<u64>,
    faces: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Debug, Serialize)]
struct CaseReport {
    case_id: u64,
    /// For the text output only (the JSON shape is unchanged).
    #[serde(skip)]
    name: String,
    photos: Vec<PhotoReport>,
    surfaced_sightings: Vec<Surfaced>,
}

pub fn run(cmd: CaseCommand) -> Result<Outcome, CliError> {
    match cmd {
        CaseCommand::Add(a) => add(&a),
        CaseCommand::Photo(a) => add_photo(&a),
        CaseCommand::List(a) => list(&a),
        CaseCommand::Status(a) => set_status(&a),
        CaseCommand::Note(a) => super::case_life::note(&a),
        CaseCommand::Show(a) => super::case_life::show(&a),
        CaseCommand::Export(a) => super::case_life::export_csv(&a),
    }
}

fn add(a: &CaseAddArgs) -> Result<Outcome, CliError> {
    a.db.check()?;
    if a.ages.len() > a.photos.len() || a.taken.len() > a.photos.len() {
        return Err(CliError::Usage(
            "more --age/--taken values than --photo values".into(),
        ));
    }
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let mut m =
        a.db.matcher(Policy::shipped().map_err(|e| CliError::Matching(e.into()))?)?;
    let actor = a.db.actor();
    let birth_year = match (&a.born, a.missing_age, &a.missing_date) {
        (None, Some(age), Some(d)) => Day::parse(d).map(|d| {
            let born = d.plus_years(-age);
            born.iso()[..4].parse::<i32>().unwrap_or(0)
        }),
        _ => None,
    };
    let case_id = m.register_case(
        &actor,
        &NewCase {
            child_name: a.name.clone(),
            sex: a.sex,
            birth_date: a.born.clone(),
            birth_year,
            missing_date: a.missing_date.clone(),
            missing_place: a.place.clone(),
            missing_location: None,
            status: CaseStatus::Searching,
            contact_ref: None,
            notes: None,
        },
    )?;
    let report = add_photos(
        &mut m, &analyzer, &actor, case_id, &a.photos, &a.ages, &a.taken,
    )?;
    print_report(m.registry(), &report, a.db.json, "registered");
    m.close()?;
    Ok(if report.photos.iter().any(|p| p.photo_id.is_none()) {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

fn add_photo(a: &CasePhotoArgs) -> Result<Outcome, CliError> {
    a.db.check()?;
    if a.ages.len() > a.photos.len() || a.taken.len() > a.photos.len() {
        return Err(CliError::Usage(
            "more --age/--taken values than --photo values".into(),
        ));
    }
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let mut m =
        a.db.matcher(Policy::shipped().map_err(|e| CliError::Matching(e.into()))?)?;
    m.registry().case(a.case_id)?;
    let actor = a.db.actor();
    let report = add_photos(
        &mut m, &analyzer, &actor, a.case_id, &a.photos, &a.ages, &a.taken,
    )?;
    print_report(m.registry(), &report, a.db.json, "updated");
    m.close()?;
    Ok(if report.photos.iter().any(|p| p.photo_id.is_none()) {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

fn print_report(reg: &dyn MatchStore, report: &CaseReport, json: bool, verb: &str) {
    let case_id = report.case_id;
    if json {
        outln!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        outln!("{} {verb}", case_label(case_id, &report.name));
        for p in &report.photos {
            match (p.photo_id, &p.warning) {
                (Some(id), None) => outln!("  photo {id}: {} ({} face)", p.path, p.faces),
                (Some(id), Some(w)) => outln!("  photo {id}: {}: {w}", p.path),
                (None, w) => outln!("  {}: {}", p.path, w.as_deref().unwrap_or("failed")),
            }
        }
        if report.surfaced_sightings.is_empty() {
            outln!("no past sighting in a review band");
        } else {
            outln!("past sightings queued for review:");
            for s in &report.surfaced_sightings {
                outln!(
                    "  match {:>4}  sighting {:>5}  {}",
                    s.match_id,
                    s.sighting_id,
                    candidate_line(reg, &s.candidate)
                );
            }
        }
    }
}

/// Adds photos to a case (largest face of each), stores their hashes, then
/// matches the case against past sightings.
fn add_photos(
    m: &mut Matcher,
    analyzer: &Analyzer,
    actor: &str,
    case_id: u64,
    photos: &[PathBuf],
    ages: &[f64],
    taken: &[String],
) -> Result<CaseReport, CliError> {
    let mut out = Vec::new();
    let models = m.registry().models().to_vec();
    for (i, path) in photos.iter().enumerate() {
        let shown = path.display().to_string();
        let analyzed = match analyzer.photo_path_for(path, &models) {
            Ok(x) => x,
            Err(e) => {
                out.push(PhotoReport {
                    path: shown,
                    photo_id: None,
                    faces: 0,
                    warning: Some(e.to_string()),
                });
                continue;
            }
        };
        let meta = PhotoMeta {
            age_months: ages.get(i).map(|a| (a * 12.0).round().max(0.0) as u32),
            taken_date: taken.get(i).cloned(),
            source: Some("case".into()),
        };
        let e = m.add_photo(actor, case_id, &analyzed, &meta)?;
        let (photo_id, faces, warning) = (e.photo_id, e.faces, e.warning);
        out.push(PhotoReport {
            path: shown,
            photo_id: Some(photo_id),
            faces,
            warning,
        });
    }
    let surfaced = m.surface_sightings(actor, case_id)?;
    Ok(CaseReport {
        case_id,
        name: super::human::case_name(m.registry(), case_id),
        photos: out,
        surfaced_sightings: surfaced,
    })
}

fn set_status(a: &CaseStatusArgs) -> Result<Outcome, CliError> {
    let mut m =
        a.db.matcher(Policy::shipped().map_err(|e| CliError::Matching(e.into()))?)?;
    let before = m.set_case_status(&a.db.actor(), a.case_id, a.status, a.why.as_deref())?;
    let name = m.registry().case(a.case_id)?.data.child_name;
    let (from, to) = (before.as_str(), a.status.as_str());
    if a.db.json {
        let v = serde_json::json!({"case_id": a.case_id, "name": name, "from": from, "to": to});
        outln!("{v}");
    } else if before == a.status {
        outln!(
            "{} is already {to}; nothing changed",
            case_label(a.case_id, &name)
        );
    } else {
        outln!("{}: {from} -> {to}", case_label(a.case_id, &name));
    }
    m.close()?;
    Ok(Outcome::Success)
}

fn list(a: &CaseListArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let mut cases = reg.case_summaries()?;
    cases.sort_by_key(|c| c.id);
    let mut table = Table::new(&[
        ("case", Align::Right),
        ("name", Align::Left),
        ("status", Align::Left),
        ("faces", Align::Right),
        ("missing since", Align::Left),
    ]);
    for c in &cases {
        let n = reg
            .case_gallery(c.id)
            .map_err(|e| CliError::Matching(e.into()))?
            .len();
        let status = match c.status {
            CaseStatus::Searching => "searching",
            CaseStatus::Found => "found",
            CaseStatus::Closed => "closed",
        };
        if a.db.json {
            let v = serde_json::json!({"case_id": c.id, "name": c.child_name, "status": status, "faces": n});
            outln!("{v}");
        } else {
            table.row(vec![
                c.id.to_string(),
                c.child_name.clone(),
                status.into(),
                n.to_string(),
                c.missing_date.clone().unwrap_or_default(),
            ]);
        }
    }
    if !a.db.json {
        outln!("{} case(s)", cases.len());
        if !cases.is_empty() {
            for line in table.lines() {
                outln!("{line}");
            }
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_repeated_photos_with_ages() {
        let cli = Cli::try_parse_from([
            "homeward",
            "case",
            "add",
            "--name",
            "A",
            "--sex",
            "f",
            "--born",
            "2015-03-02",
            "--photo",
            "a.jpg",
            "--age",
            "4",
            "--photo",
            "b.jpg",
            "--age",
            "6",
            "--db",
            "d",
        ])
        .unwrap();
        let Command::Case(CaseCommand::Add(a)) = cli.command else {
            panic!("not case add")
        };
        assert_eq!(a.photos.len(), 2);
        assert_eq!(a.ages, vec![4.0, 6.0]);
        assert_eq!(a.sex, Sex::Female);
        assert_eq!(
            a.db.at.db,
            super::super::db::RegistryAt::Dir(PathBuf::from("d"))
        );
    }

    #[test]
    fn refuses_bad_values() {
        assert!(Cli::try_parse_from(["homeward", "case", "add", "--name", "A"]).is_err());
        assert!(Cli::try_parse_from([
            "homeward", "case", "add", "--name", "A", "--photo", "a", "--born", "soon"
        ])
        .is_err());
        assert!(parse_age_range("9-6").is_err());
        assert_eq!(parse_age_range("6-9"), Ok((6.0, 9.0)));
        assert_eq!(parse_age_range("7"), Ok((7.0, 7.0)));
        assert!(parse_sex("x").is_err());
    }
}
