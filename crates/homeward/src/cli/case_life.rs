//! `homeward case note | show | export`: a case's journal and its whole
//! life on one timeline, for people (text), machines (--json) and
//! spreadsheets (CSV).

use std::path::PathBuf;

use clap::Args;
use homeward_match::export::{self, utc};
use homeward_match::lifecycle;
use homeward_match::timeline::{case_timeline, map_links, Happening, Timeline};
use serde_json::json;

use super::case::DbArgs;
use super::human::case_label;
use super::{CliError, Outcome};
use crate::output::outln;

/// Add a note to a case's journal (who and when are kept with it).
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// The case.
    #[arg(long = "case")]
    pub case_id: u64,
    /// The note.
    pub text: String,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Show a case's whole life: registration, photos, matched sightings and
/// their decisions, status changes with why, and notes, oldest first.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The case.
    #[arg(long = "case")]
    pub case_id: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Write a case's timeline as CSV (UTF-8, for spreadsheets).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The case.
    #[arg(long = "case")]
    pub case_id: u64,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn note(a: &NoteArgs) -> Result<Outcome, CliError> {
    let mut reg = a.db.open()?;
    let id = lifecycle::add_case_note(&mut *reg, &a.db.actor(), a.case_id, &a.text)?;
    let name = super::human::case_name(&*reg, a.case_id);
    if a.db.json {
        outln!("{}", json!({"case_id": a.case_id, "note_id": id}));
    } else {
        outln!("note added to {}", case_label(a.case_id, &name));
    }
    Ok(Outcome::Success)
}

pub fn show(a: &ShowArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let t = case_timeline(&*reg, a.case_id)?;
    if a.db.json {
        outln!("{}", timeline_json(&t));
        return Ok(Outcome::Success);
    }
    let c = &t.case;
    outln!(
        "{} · {} · missing{}{}",
        case_label(c.id, &c.child_name),
        c.status.as_str(),
        c.missing_date
            .as_deref()
            .map(|d| format!(" since {d}"))
            .unwrap_or_default(),
        if c.missing_place.is_empty() {
            String::new()
        } else {
            format!(" in {}", c.missing_place)
        }
    );
    for e in &t.events {
        outln!("{}  {}", utc(e.at), line(&e.what));
    }
    Ok(Outcome::Success)
}

pub fn export_csv(a: &ExportArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let t = case_timeline(&*reg, a.case_id)?;
    let text = export::case_csv(&t)?;
    std::fs::write(&a.out, text).map_err(|source| CliError::Io {
        context: format!(
            "cannot write {}; check the path and free space",
            a.out.display()
        ),
        source,
    })?;
    outln!(
        "{} event(s) of {} written to {}",
        t.events.len(),
        case_label(t.case.id, &t.case.child_name),
        a.out.display()
    );
    Ok(Outcome::Success)
}

/// One event in words.
fn line(h: &Happening) -> String {
    match h {
        Happening::Registered => "registered".into(),
        Happening::PhotoAdded {
            photo_id,
            age_months,
            taken_date,
        } => format!(
            "photo {photo_id} added{}{}",
            age_months
                .map(|m| format!(", age {:.1} y", f64::from(m) / 12.0))
                .unwrap_or_default(),
            taken_date
                .as_deref()
                .map(|d| format!(", taken {d}"))
                .unwrap_or_default()
        ),
        Happening::Matched {
            match_id,
            sighting_id,
            band,
            state,
            assignee,
            seen_at,
            place,
            location,
        } => {
            let mut s = format!(
                "sighting {sighting_id} queued as match {match_id}: {}, {}",
                band.map(|b| b.as_str()).unwrap_or("unreadable scores"),
                homeward_match::matching::state_name(*state)
            );
            if let Some(d) = seen_at {
                s += &format!(", seen {d}");
            }
            if let Some(p) = place {
                s += &format!(" at {p}");
            }
            if let Some((lat, lon)) = location {
                if let Some((_, url)) = map_links(*lat, *lon).into_iter().next() {
                    s += &format!(" {url}");
                }
            }
            if let Some(p) = assignee {
                s += &format!(", assigned to {p}");
            }
            s
        }
        Happening::Decided {
            match_id,
            state,
            reviewer,
        } => format!(
            "match {match_id} {} by {}",
            homeward_match::matching::state_name(*state),
            reviewer.as_deref().unwrap_or("?")
        ),
        Happening::Status { status, actor, why } => format!(
            "status -> {} by {actor}{}",
            status.as_str(),
            why.as_deref().map(|w| format!(": {w}")).unwrap_or_default()
        ),
        Happening::Note { actor, text } => format!("note by {actor}: {text}"),
    }
}

fn timeline_json(t: &Timeline) -> serde_json::Value {
    let events: Vec<_> = t
        .events
        .iter()
        .map(|e| {
            let mut v = match &e.what {
                Happening::Registered => json!({"event": "registered"}),
                Happening::PhotoAdded {
                    photo_id,
                    age_months,
                    taken_date,
                } => json!({"event": "photo_added", "photo_id": photo_id,
                            "age_months": age_months, "taken_date": taken_date}),
                Happening::Matched {
                    match_id,
                    sighting_id,
                    band,
                    state,
                    assignee,
                    seen_at,
                    place,
                    location,
                } => json!({"event": "sighting_matched", "match_id": match_id,
                            "sighting_id": sighting_id, "band": band.map(|b| b.as_str()),
                            "state": homeward_match::matching::state_name(*state),
                            "assignee": assignee, "seen_at": seen_at, "place": place,
                            "location": location.map(|(a, b)| [a, b]),
                            "map_links": location.map(|(a, b)| map_links(a, b)
                                .into_iter().map(|(_, u)| u).collect::<Vec<_>>())}),
                Happening::Decided {
                    match_id,
                    state,
                    reviewer,
                } => json!({"event": "match_decided", "match_id": match_id,
                            "state": homeward_match::matching::state_name(*state),
                            "reviewer": reviewer}),
                Happening::Status { status, actor, why } => {
                    json!({"event": "status", "status": status.as_str(), "actor": actor, "why": why})
                }
                Happening::Note { actor, text } => {
                    json!({"event": "note", "actor": actor, "text": text})
                }
            };
            v["at"] = json!(utc(e.at));
            v
        })
        .collect();
    json!({
        "case_id": t.case.id,
        "name": t.case.child_name,
        "status": t.case.status.as_str(),
        "missing_date": t.case.missing_date,
        "missing_place": t.case.missing_place,
        "events": events,
    })
}
