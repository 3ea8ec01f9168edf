//! `homeward review`: the queue of candidate matches waiting for a person.

use crate::output::outln;
use clap::{Args, Subcommand, ValueEnum};
use homeward_core::store::{MatchRow, MatchState, Registry};
use serde_json::{json, Value};

use super::case::DbArgs;
use super::sighting::StateName;
use super::{CliError, Outcome};
use homeward_match::ranking::{rate, Policy};

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    List(ListArgs),
    Show(ShowArgs),
    Confirm(DecideArgs),
    Reject(DecideArgs),
}

/// Which matches to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Pending,
    Confirmed,
    Rejected,
    All,
}

/// List matches: pending ones in queue order (lowest estimated
/// false-match rate first).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which matches.
    #[arg(long, value_enum, default_value_t = StateArg::Pending)]
    pub state: StateArg,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Show one match: the case, the sighting, and why they were paired.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Match id.
    pub id: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Decide on a match. Confirming adds the sighting's face to the case's
/// photos, dated to the sighting, so later searches use it.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Match id.
    pub id: u64,
    /// A note kept with the decision.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(cmd: ReviewCommand) -> Result<Outcome, CliError> {
    match cmd {
        ReviewCommand::List(a) => list(&a),
        ReviewCommand::Show(a) => show(&a),
        ReviewCommand::Confirm(a) => decide(&a, true),
        ReviewCommand::Reject(a) => decide(&a, false),
    }
}

fn store(e: homeward_core::store::StoreError) -> CliError {
    CliError::Matching(e.into())
}

/// The summary fields of a stored match.
pub fn match_json(reg: &Registry, m: &MatchRow) -> Value {
    let scores: Value = serde_json::from_str(&m.scores_json).unwrap_or(Value::Null);
    let name = reg
        .case(m.case_id)
        .map(|c| c.data.child_name)
        .unwrap_or_default();
    json!({
        "match_id": m.id,
        "state": m.state_name(),
        "case_id": m.case_id,
        "child_name": name,
        "sighting_id": m.sighting_id,
        "origin": m.origin,
        "band": scores.get("band"),
        "case_fmr": scores.get("case_fmr"),
        "score": scores.get("score"),
        "reviewer": m.reviewer,
        "note": m.note,
    })
}

fn list(a: &ListArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let state = match a.state {
        StateArg::Pending => Some(MatchState::Pending),
        StateArg::Confirmed => Some(MatchState::Confirmed),
        StateArg::Rejected => Some(MatchState::Rejected),
        StateArg::All => None,
    };
    let rows = reg.matches(state).map_err(store)?;
    if !a.db.json {
        outln!("{} match(es)", rows.len());
    }
    for m in &rows {
        let v = match_json(&reg, m);
        if a.db.json {
            outln!("{v}");
        } else {
            outln!(
                "match {:>4}  {:<9} {:<8} est. false-match {:>7}  case {:>4} {:<20}  sighting {:>4}  (from new {})",
                m.id,
                m.state_name(),
                v["band"].as_str().unwrap_or("?"),
                v["case_fmr"].as_f64().map(rate).unwrap_or_default(),
                m.case_id,
                v["child_name"].as_str().unwrap_or(""),
                m.sighting_id,
                m.origin.as_deref().unwrap_or("?"),
            );
        }
    }
    Ok(Outcome::Success)
}

fn show(a: &ShowArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let m = reg.match_row(a.id).map_err(store)?;
    let c = reg.case(m.case_id).map_err(store)?;
    let s = reg.sighting(m.sighting_id).map_err(store)?;
    let why: Value = serde_json::from_str(&m.scores_json).unwrap_or(Value::Null);
    let sighting_photo = reg.photo_path(&s.sha256);
    let best_photo = why["why"]["best"]["photo_id"]
        .as_u64()
        .and_then(|p| reg.photo(p).ok())
        .map(|(_, h)| reg.photo_path(&h).display().to_string());
    let v = json!({
        "match": match_json(&reg, &m),
        "case": {
            "id": c.id, "name": c.data.child_name, "born": c.data.birth_date, "birth_year": c.data.birth_year,
            "missing_date": c.data.missing_date, "missing_place": c.data.missing_place,
        },
        "sighting": {
            "id": s.id, "seen_at": s.data.seen_at, "place": s.data.place,
            "apparent_age": s.data.apparent_age, "duplicate_group": s.data.duplicate_group,
            "photo_file": sighting_photo.display().to_string(),
        },
        "best_case_photo_file": best_photo,
        "why": why,
    });
    if a.db.json {
        outln!("{v}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    Ok(Outcome::Success)
}

fn decide(a: &DecideArgs, confirm: bool) -> Result<Outcome, CliError> {
    let policy = Policy::shipped().map_err(|e| CliError::Matching(e.into()))?;
    let mut m = a.db.matcher(policy)?;
    let actor = a.db.actor();
    let out = if confirm {
        let (photo, face) = m.confirm(&actor, a.id, a.note.as_deref())?;
        json!({"match_id": a.id, "state": "confirmed", "enrolled_photo_id": photo, "enrolled_face_id": face})
    } else {
        m.reject(&actor, a.id, a.note.as_deref())?;
        json!({"match_id": a.id, "state": "rejected"})
    };
    if a.db.json {
        outln!("{out}");
    } else if confirm {
        outln!(
            "match {} confirmed; the sighting's face was added to the case as photo {}",
            a.id,
            out["enrolled_photo_id"]
        );
    } else {
        outln!("match {} rejected", a.id);
    }
    m.close()?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_review_commands() {
        let cli =
            Cli::try_parse_from(["homeward", "review", "confirm", "7", "--note", "seen"]).unwrap();
        let Command::Review(ReviewCommand::Confirm(a)) = cli.command else {
            panic!("not confirm")
        };
        assert_eq!((a.id, a.note.as_deref()), (7, Some("seen")));
        let cli = Cli::try_parse_from(["homeward", "review", "list", "--state", "all"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Review(ReviewCommand::List(ListArgs {
                state: StateArg::All,
                ..
            }))
        ));
        assert!(Cli::try_parse_from(["homeward", "review", "show"]).is_err());
    }
}
