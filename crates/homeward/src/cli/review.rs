//! `homeward review`: the queue of candidate matches waiting for a person.

use crate::output::outln;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use homeward_core::store::{MatchRow, MatchState, MatchStore, ScoreBand, StoredScores};
use homeward_match::ranking::Band;
use serde_json::{json, Value};

use super::case::DbArgs;
use super::human::{case_label, Align, Table};
use super::sighting::StateName;
use super::{CliError, Outcome};
use homeward_match::export;
use homeward_match::ranking::{rate, Policy};
use homeward_match::review::{self, Assignee, QueueFilter};

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    List(ListArgs),
    Show(ShowArgs),
    Confirm(DecideArgs),
    Reject(DecideArgs),
    Undo(UndoArgs),
    Assign(AssignArgs),
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
    /// Only this case's matches.
    #[arg(long = "case")]
    pub case_id: Option<u64>,
    /// Only this band.
    #[arg(long, value_enum)]
    pub band: Option<BandArg>,
    /// Only matches assigned to this case worker.
    #[arg(long)]
    pub assignee: Option<String>,
    /// Only matches assigned to nobody.
    #[arg(long, conflicts_with = "assignee")]
    pub unassigned: bool,
    /// Only matches new since you (--actor) last listed the queue.
    #[arg(long)]
    pub new: bool,
    /// Write the listed matches as CSV (UTF-8, for spreadsheets) to this
    /// file instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A review band, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BandArg {
    Strong,
    Possible,
    Weak,
}

/// Assign a match to a case worker (or, with --nobody, to no one).
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Match id.
    pub id: u64,
    /// The case worker's user name.
    #[arg(required_unless_present = "nobody", conflicts_with = "nobody")]
    pub assignee: Option<String>,
    /// Leave the match to nobody.
    #[arg(long)]
    pub nobody: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Show one match: the case, the sighting, why they were paired, and the
/// two photos to compare.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Match id.
    pub id: u64,
    /// Copy the sighting photo and the closest case photo into this
    /// directory, named by match and with their file endings
    /// (`match-7-sighting.jpg`, `match-7-case-photo-3.png`), to open in any
    /// viewer. (The registry stores photos by content hash, without endings.)
    #[arg(long, value_name = "DIR")]
    pub save_photos: Option<PathBuf>,
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

/// Take back a decision: the match is pending again, and a confirmation's
/// enrolled face leaves the case's photos.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Match id.
    pub id: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(cmd: ReviewCommand) -> Result<Outcome, CliError> {
    match cmd {
        ReviewCommand::List(a) => list(&a),
        ReviewCommand::Show(a) => show(&a),
        ReviewCommand::Confirm(a) => decide(&a, true),
        ReviewCommand::Reject(a) => decide(&a, false),
        ReviewCommand::Undo(a) => undo(&a),
        ReviewCommand::Assign(a) => assign(&a),
    }
}

fn store(e: homeward_core::store::StoreError) -> CliError {
    CliError::Matching(e.into())
}

/// The summary fields of a stored match.
pub fn match_json(reg: &dyn MatchStore, m: &MatchRow) -> Value {
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
        "assignee": m.assignee,
        "note": m.note,
    })
}

fn list(a: &ListArgs) -> Result<Outcome, CliError> {
    let mut reg = a.db.open()?;
    let filter = QueueFilter {
        case: a.case_id,
        band: a.band.map(|b| match b {
            BandArg::Strong => ScoreBand::Strong,
            BandArg::Possible => ScoreBand::Possible,
            BandArg::Weak => ScoreBand::Weak,
        }),
        state: match a.state {
            StateArg::Pending => Some(MatchState::Pending),
            StateArg::Confirmed => Some(MatchState::Confirmed),
            StateArg::Rejected => Some(MatchState::Rejected),
            StateArg::All => None,
        },
        assignee: match (&a.assignee, a.unassigned) {
            (_, true) => Assignee::Unassigned,
            (Some(name), false) => Assignee::To(name.clone()),
            (None, false) => Assignee::Anyone,
        },
        new_only: a.new,
    };
    let actor = a.db.actor();
    let rows = review::queue_for(&*reg, &actor, &filter)?;
    if let Some(path) = &a.csv {
        let entries: Vec<_> = rows.iter().map(|r| r.entry.clone()).collect();
        let text = export::queue_csv(&entries)?;
        std::fs::write(path, text).map_err(|source| CliError::Io {
            context: format!(
                "cannot write {}; check the path and free space",
                path.display()
            ),
            source,
        })?;
        outln!("{} match(es) written to {}", rows.len(), path.display());
        return Ok(Outcome::Success);
    }
    if !a.db.json {
        outln!("{} match(es)", rows.len());
    }
    let mut table = Table::new(&[
        ("", Align::Left),
        ("match", Align::Right),
        ("state", Align::Left),
        ("band", Align::Left),
        ("est. false-match", Align::Right),
        ("case", Align::Right),
        ("name", Align::Left),
        ("sighting", Align::Right),
        ("assigned", Align::Left),
        ("from new", Align::Left),
    ]);
    for r in &rows {
        let m = reg.match_row(r.entry.match_id).map_err(store)?;
        let mut v = match_json(&*reg, &m);
        v["new"] = json!(r.new);
        if a.db.json {
            outln!("{v}");
        } else {
            table.row(vec![
                if r.new { "new".into() } else { String::new() },
                m.id.to_string(),
                m.state_name().into(),
                v["band"].as_str().unwrap_or("?").into(),
                v["case_fmr"].as_f64().map(rate).unwrap_or_default(),
                m.case_id.to_string(),
                v["child_name"].as_str().unwrap_or("").into(),
                m.sighting_id.to_string(),
                m.assignee.clone().unwrap_or_default(),
                m.origin.as_deref().unwrap_or("?").into(),
            ]);
        }
    }
    if !a.db.json && !rows.is_empty() {
        for line in table.lines() {
            outln!("{line}");
        }
    }
    // Listing the queue is looking at it: what was shown is no longer new.
    review::mark_seen(&mut *reg, &actor, &rows)?;
    Ok(Outcome::Success)
}

fn assign(a: &AssignArgs) -> Result<Outcome, CliError> {
    let mut reg = a.db.open()?;
    let who = if a.nobody {
        None
    } else {
        a.assignee.as_deref()
    };
    review::assign(&mut *reg, &a.db.actor(), a.id, who)?;
    let m = reg.match_row(a.id).map_err(store)?;
    let name = super::human::case_name(&*reg, m.case_id);
    if a.db.json {
        outln!("{}", json!({"match_id": a.id, "assignee": m.assignee}));
    } else {
        match &m.assignee {
            Some(p) => outln!(
                "match {} ({}) assigned to {p}",
                a.id,
                case_label(m.case_id, &name)
            ),
            None => outln!(
                "match {} ({}) assigned to nobody",
                a.id,
                case_label(m.case_id, &name)
            ),
        }
    }
    Ok(Outcome::Success)
}

/// The band's plain words, as the ranking says them.
fn band_words(b: ScoreBand) -> &'static str {
    match b {
        ScoreBand::Strong => Band::Strong.plain(),
        ScoreBand::Possible => Band::Possible.plain(),
        ScoreBand::Weak => Band::Weak.plain(),
        ScoreBand::Below => Band::Below.plain(),
    }
}

/// A stored photo's format, read from its first bytes ("file" when unknown).
fn photo_kind(path: &Path) -> (&'static str, &'static str) {
    use std::io::Read as _;
    let mut head = [0u8; 32];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    match image::guess_format(&head[..n]) {
        Ok(image::ImageFormat::Jpeg) => ("JPEG", "jpg"),
        Ok(image::ImageFormat::Png) => ("PNG", "png"),
        Ok(image::ImageFormat::WebP) => ("WebP", "webp"),
        Ok(image::ImageFormat::Bmp) => ("BMP", "bmp"),
        Ok(image::ImageFormat::Tiff) => ("TIFF", "tif"),
        Ok(image::ImageFormat::Gif) => ("GIF", "gif"),
        _ => ("file", "bin"),
    }
}

/// Copies a stored photo to `dir/stem.EXT`, the ending from its contents.
fn save_photo(from: &Path, dir: &Path, stem: &str) -> Result<PathBuf, CliError> {
    let to = dir.join(format!("{stem}.{}", photo_kind(from).1));
    std::fs::copy(from, &to).map_err(|source| CliError::Io {
        context: format!(
            "cannot copy the photo to {}; check that --save-photos names a writable directory",
            to.display()
        ),
        source,
    })?;
    Ok(to)
}

/// An absolute form of `p` when it can be had, so a printed path works
/// from any directory.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn show(a: &ShowArgs) -> Result<Outcome, CliError> {
    let reg = a.db.open()?;
    let m = reg.match_row(a.id).map_err(store)?;
    let c = reg.case(m.case_id).map_err(store)?;
    let s = reg.sighting(m.sighting_id).map_err(store)?;
    let why: Value = serde_json::from_str(&m.scores_json).unwrap_or(Value::Null);
    let sighting_photo = absolute(&reg.photo_path(&s.sha256));
    let best_id = why["why"]["best"]["photo_id"].as_u64();
    let best_photo = best_id
        .and_then(|p| reg.photo(p).ok())
        .map(|(_, h)| absolute(&reg.photo_path(&h)));
    let mut saved = Vec::new();
    if let Some(dir) = &a.save_photos {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            context: format!(
                "cannot create {}; check that --save-photos names a writable place",
                dir.display()
            ),
            source,
        })?;
        saved.push(save_photo(
            &sighting_photo,
            dir,
            &format!("match-{}-sighting", m.id),
        )?);
        if let (Some(p), Some(id)) = (&best_photo, best_id) {
            saved.push(save_photo(
                p,
                dir,
                &format!("match-{}-case-photo-{id}", m.id),
            )?);
        }
    }
    if a.db.json {
        let mut v = json!({
            "match": match_json(&*reg, &m),
            "case": {
                "id": c.id, "name": c.data.child_name, "born": c.data.birth_date, "birth_year": c.data.birth_year,
                "missing_date": c.data.missing_date, "missing_place": c.data.missing_place,
            },
            "sighting": {
                "id": s.id, "seen_at": s.data.seen_at, "place": s.data.place,
                "apparent_age": s.data.apparent_age, "duplicate_group": s.data.duplicate_group,
                "photo_file": sighting_photo.display().to_string(),
            },
            "best_case_photo_file": best_photo.as_ref().map(|p| p.display().to_string()),
            "why": why,
        });
        if a.save_photos.is_some() {
            v["saved_photos"] = json!(saved
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>());
        }
        outln!("{v}");
        return Ok(Outcome::Success);
    }

    // For people: what was paired, why, and where the photos are.
    let decided = match (&m.reviewer, &m.note) {
        (Some(r), Some(n)) => format!(" by {r}: {n}"),
        (Some(r), None) => format!(" by {r}"),
        _ => String::new(),
    };
    outln!("match {}: {}{decided}", m.id, m.state_name());
    match StoredScores::parse(&m.scores_json) {
        Ok(sc) => {
            let w = &sc.why;
            outln!("  {}: {}", sc.band.as_str(), band_words(sc.band));
            let mut evidence = format!(
                "  est. false-match {}; closest: case photo {} at distance {:.3}",
                rate(sc.case_fmr),
                w.best.photo_id,
                w.best.distance
            );
            if let Some(g) = w.best.age_gap_years {
                evidence.push_str(&format!(", age gap {g:.1} years"));
            }
            if let Some(sid) = w.best.enrolled_from_sighting {
                evidence.push_str(&format!(" (enrolled from sighting {sid})"));
            }
            evidence.push_str(&format!(
                "; {} photo(s) compared; score {:.3}",
                w.photos_compared, sc.score
            ));
            outln!("{evidence}");
            for p in &w.priors {
                outln!("  prior {} ({}) added {:.3}", p.name, p.detail, p.penalty);
            }
        }
        Err(e) => outln!("  {e}"),
    }
    outln!();
    let d = &c.data;
    outln!("{}", case_label(c.id, &d.child_name));
    let mut facts = vec![format!("sex {}", d.sex)];
    match (&d.birth_date, d.birth_year) {
        (Some(b), _) => facts.push(format!("born {b}")),
        (None, Some(y)) => facts.push(format!("born about {y}")),
        _ => {}
    }
    if let Some(md) = &d.missing_date {
        facts.push(format!("missing since {md}"));
    }
    if !d.missing_place.is_empty() {
        facts.push(format!("from {}", d.missing_place));
    }
    outln!("  {}", facts.join("; "));
    outln!();
    outln!("sighting {}", s.id);
    let sd = &s.data;
    let mut facts = Vec::new();
    if let Some(w) = &sd.seen_at {
        facts.push(format!("seen {w}"));
    }
    if let Some(p) = sd.place.as_deref().filter(|p| !p.is_empty()) {
        facts.push(format!("at {p}"));
    }
    if let Some((lo, hi)) = sd.apparent_age {
        facts.push(if lo == hi {
            format!("looks {lo} years old")
        } else {
            format!("looks {lo}-{hi} years old")
        });
    }
    if let Some(x) = sd.sex {
        facts.push(format!("looks {x}"));
    }
    if let Some(g) = sd.duplicate_group.filter(|g| *g as u64 != s.id) {
        facts.push(format!("a repeat of sighting {g}"));
    }
    if facts.is_empty() {
        facts.push("no details given".into());
    }
    outln!("  {}", facts.join("; "));
    outln!();
    outln!("photos");
    let mut photos = vec![("sighting:".to_string(), sighting_photo.clone())];
    if let (Some(p), Some(id)) = (&best_photo, best_id) {
        photos.push((format!("closest case photo {id}:"), p.clone()));
    }
    let w = photos.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, p) in &photos {
        outln!("  {label:<w$}  {} ({})", p.display(), photo_kind(p).0);
    }
    if saved.is_empty() {
        outln!(
            "  (stored by content hash without a file ending; add --save-photos DIR to copy them with one)"
        );
    } else {
        outln!("  copied to:");
        for p in &saved {
            outln!("    {}", p.display());
        }
    }
    if m.state == MatchState::Pending {
        outln!();
        outln!(
            "next: homeward review confirm {id} --db {db}   or   homeward review reject {id} --db {db}",
            id = m.id,
            db = a.db.at.db
        );
    }
    Ok(Outcome::Success)
}

fn undo(a: &UndoArgs) -> Result<Outcome, CliError> {
    let policy = Policy::shipped().map_err(|e| CliError::Matching(e.into()))?;
    let mut m = a.db.matcher(policy)?;
    let was = m.undo(&a.db.actor(), a.id)?;
    if a.db.json {
        outln!(
            "{}",
            json!({"match_id": a.id, "state": "pending", "was": was.as_str()})
        );
    } else if was == MatchState::Confirmed {
        outln!(
            "match {}: confirmation undone; it is pending again and the sighting's face left the case's photos",
            a.id
        );
    } else {
        outln!(
            "match {}: {} undone; it is pending again",
            a.id,
            was.as_str()
        );
    }
    m.close()?;
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
