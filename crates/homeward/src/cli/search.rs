//! `homeward search`: rank the registry's cases for a photo without
//! recording anything.

use crate::output::outln;
use std::path::PathBuf;

use clap::Args;
use homeward_core::store::CaseStatus;
use homeward_match::ranking::{rate, Candidate, Day, QueryMeta};
use homeward_match::Analyzer;
use serde::Serialize;

use super::case::{parse_day, DbArgs};
use super::human::candidate_line;
use super::sighting::PriorArgs;
use super::{CliError, Outcome};
use crate::face_args::AnalysisArgs;

/// Rank the searching cases for the faces in a photo (read-only: nothing is
/// recorded or queued). Shows every candidate, including those below the
/// review bands, with the photo pair, distance, age gap and priors behind
/// each score.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The photo.
    pub photo: PathBuf,
    /// Candidates to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Day the photo was taken (for the expected ages; default today).
    #[arg(long, value_parser = parse_day)]
    pub when: Option<String>,
    #[command(flatten)]
    pub priors: PriorArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

#[derive(Debug, Serialize)]
struct SearchReport {
    faces: usize,
    candidates: Vec<Candidate>,
}

pub fn run(a: &SearchArgs) -> Result<Outcome, CliError> {
    a.db.check()?;
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let m = a.db.matcher(a.priors.policy()?)?;
    let photo = analyzer.photo_path_for(&a.photo, m.registry().models())?;
    let meta = QueryMeta {
        day: Some(
            a.when
                .as_deref()
                .and_then(Day::parse)
                .unwrap_or_else(Day::today),
        ),
        apparent_age: a
            .priors
            .age_range
            .map(|(x, y)| (f64::from(x), f64::from(y))),
        sex: a.priors.sex,
    };
    let candidates = m.search(&photo, &meta, a.top, &[CaseStatus::Searching])?;
    let faces = photo.faces.len();
    if a.db.json {
        let r = SearchReport { faces, candidates };
        outln!("{}", serde_json::to_string(&r).unwrap_or_default());
    } else {
        outln!("{faces} face(s); candidates for review (not matches):");
        for (i, c) in candidates.iter().enumerate() {
            outln!("  {}. {}", i + 1, candidate_line(m.registry(), c));
        }
        let policy = m.policy();
        let edges = policy.calibration.band_edges(policy.population);
        let shown: Vec<String> = edges
            .iter()
            .map(|(b, f, d)| format!("{} <= {} (one photo at <= {d:.2})", b.name(), rate(*f)))
            .collect();
        outln!("bands by estimated false-match rate: {}", shown.join(", "));
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn parses_search() {
        let cli = Cli::try_parse_from([
            "homeward",
            "search",
            "p.jpg",
            "--top",
            "3",
            "--sex",
            "f",
            "--age-range",
            "4-6",
        ])
        .unwrap();
        let Command::Search(a) = cli.command else {
            panic!("not search")
        };
        assert_eq!(a.top, 3);
        assert!(Cli::try_parse_from(["homeward", "search"]).is_err());
    }
}
