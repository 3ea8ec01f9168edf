//! `homeward sighting add`: record a photo of a child seen somewhere,
//! check it for reposts and duplicates, rank the cases and queue the
//! candidates for review.

use crate::output::{out, outln};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use homeward_core::store::{NewSighting, Sex};
use homeward_match::ranking::{Day, Policy};
use homeward_match::{Analyzer, Repeat, SightingOutcome};

use super::case::{parse_age_range, parse_day, parse_sex, DbArgs};
use super::human::{candidate_line, case_label_in};
use super::{CliError, Outcome};
use crate::face_args::{AnalysisArgs, FaceModel};

#[derive(Debug, Subcommand)]
pub enum SightingCommand {
    Add(SightingAddArgs),
}

/// Soft priors and hard filters shared by `sighting add`, `search` and `batch`.
#[derive(Debug, Args, Clone, Default)]
pub struct PriorArgs {
    /// Apparent age range in years, e.g. 6-9.
    #[arg(long, value_parser = parse_age_range)]
    pub age_range: Option<(f32, f32)>,
    /// Apparent sex: female, male or unknown.
    #[arg(long, value_parser = parse_sex)]
    pub sex: Option<Sex>,
    /// Drop cases of the other sex instead of ranking them lower.
    #[arg(long)]
    pub strict_sex: bool,
    /// Drop cases whose expected age is outside the apparent range (with
    /// slack) instead of ranking them lower.
    #[arg(long)]
    pub strict_age: bool,
    /// Face model(s) behind the scores: dlib and SFace fused (the default;
    /// a pair without an SFace vector is scored by dlib alone), or either
    /// one alone.
    #[arg(long, value_enum, default_value_t = FaceModel::Fusion)]
    pub model: FaceModel,
}

impl PriorArgs {
    pub fn policy(&self) -> Result<Policy, CliError> {
        let mut p = Policy::shipped().map_err(|e| CliError::Matching(e.into()))?;
        p.priors.hard_sex = self.strict_sex;
        p.priors.hard_age = self.strict_age;
        p.models = self.model.ranking();
        Ok(p)
    }
}

/// Record a sighting and print its ranked candidates. A repost of a case
/// photo is flagged and a repeat of an earlier sighting joins its group;
/// neither creates new matches. Candidates in a review band go to the
/// review queue; none is a match until a person confirms it.
#[derive(Debug, Args)]
pub struct SightingAddArgs {
    /// The photo.
    pub photo: PathBuf,
    /// When the child was seen (YYYY-MM-DD; default today).
    #[arg(long, value_parser = parse_day)]
    pub when: Option<String>,
    /// Where the child was seen (kept in the registry, never logged).
    #[arg(long = "where")]
    pub place: Option<String>,
    /// Who reported it (a reference).
    #[arg(long)]
    pub submitter: Option<String>,
    /// Candidates to print.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[command(flatten)]
    pub priors: PriorArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub face: AnalysisArgs,
}

pub fn run(cmd: SightingCommand) -> Result<Outcome, CliError> {
    match cmd {
        SightingCommand::Add(a) => add(&a),
    }
}

fn add(a: &SightingAddArgs) -> Result<Outcome, CliError> {
    a.db.check()?;
    let analyzer = Analyzer::bundled(a.face.analysis())?;
    let mut m = a.db.matcher(a.priors.policy()?)?;
    let photo = analyzer.photo_path_for(&a.photo, m.registry().models())?;
    let sighting = NewSighting {
        seen_at: Some(a.when.clone().unwrap_or_else(|| Day::today().iso())),
        place: a.place.clone(),
        apparent_age: a.priors.age_range,
        sex: a.priors.sex,
        submitter: a.submitter.clone(),
        ..NewSighting::default()
    };
    let out = m.submit_sighting(&a.db.actor(), &photo, &sighting, a.top)?;
    if a.db.json {
        outln!("{}", serde_json::to_string(&out).unwrap_or_default());
    } else {
        out!("{}", outcome_text(m.registry(), &out));
    }
    m.close()?;
    Ok(Outcome::Success)
}

/// The text shown for a recorded sighting.
pub fn outcome_text(reg: &dyn homeward_core::store::MatchStore, out: &SightingOutcome) -> String {
    let mut s = format!(
        "sighting {} recorded, {} face(s)\n",
        out.sighting_id, out.faces
    );
    match &out.repeat {
        Some(Repeat::PosterRepost {
            case_id,
            photo_id,
            by,
            bits,
        }) => {
            s.push_str(&format!(
                "poster repost: this is registered photo {photo_id} of {} ({by} hash, {bits} bits apart), \
                 not a new sighting of the child; no match created\n",
                case_label_in(reg, *case_id)
            ));
        }
        Some(Repeat::Duplicate {
            group,
            of,
            by,
            bits,
        }) => {
            s.push_str(&format!(
                "duplicate of sighting {of} ({by} hash, {bits} bits apart): joined group {group}; no new match created\n"
            ));
            if let Ok(ms) = reg.matches_of_sighting(*group) {
                for m in ms {
                    s.push_str(&format!(
                        "  group match {} with {} ({})\n",
                        m.id,
                        case_label_in(reg, m.case_id),
                        m.state_name()
                    ));
                }
            }
        }
        None if out.faces == 0 => {
            s.push_str("no face found: kept for a case worker to look at; nothing to rank\n")
        }
        None if out.candidates.is_empty() => s.push_str("no searching case to rank\n"),
        None => {
            s.push_str("candidates (for review; not matches):\n");
            for (i, c) in out.candidates.iter().enumerate() {
                let queued = out.queued.iter().find(|q| q.case_id == c.case_id);
                let mark = queued.map_or(String::new(), |q| {
                    format!("  -> queued as match {}", q.match_id)
                });
                s.push_str(&format!(
                    "  {}. {}{}\n",
                    i + 1,
                    candidate_line(reg, c),
                    mark
                ));
            }
        }
    }
    s
}

/// State name of a stored match.
pub trait StateName {
    fn state_name(&self) -> &'static str;
}

impl StateName for homeward_core::store::MatchRow {
    fn state_name(&self) -> &'static str {
        match self.state {
            homeward_core::store::MatchState::Pending => "pending",
            homeward_core::store::MatchState::Confirmed => "confirmed",
            homeward_core::store::MatchState::Rejected => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_sighting_fields() {
        let cli = Cli::try_parse_from([
            "homeward",
            "sighting",
            "add",
            "p.jpg",
            "--when",
            "2024-05-01",
            "--where",
            "station",
            "--age-range",
            "6-9",
            "--sex",
            "m",
            "--strict-sex",
            "--json",
        ])
        .unwrap();
        let Command::Sighting(SightingCommand::Add(a)) = cli.command else {
            panic!("not sighting add")
        };
        assert_eq!(a.priors.age_range, Some((6.0, 9.0)));
        assert_eq!(a.priors.sex, Some(Sex::Male));
        assert!(a.priors.strict_sex && !a.priors.strict_age && a.db.json);
        assert!(Cli::try_parse_from(["homeward", "sighting", "add"]).is_err());
        assert!(Cli::try_parse_from(["homeward", "sighting", "add", "p", "--when", "x"]).is_err());
    }
}
