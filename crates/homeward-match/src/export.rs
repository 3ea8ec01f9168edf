//! Exports for people and spreadsheets: a case's timeline and the review
//! queue as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs
//! read Chinese names right; times in UTC, RFC 3339).
//!
//! A cell that a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, tab or carriage return) is written with a leading `'`,
//! so an exported note cannot execute on a case worker's machine.

use homeward_core::store::QueueEntry;

use crate::matching::state_name;
use crate::timeline::{Happening, Timeline};
use crate::MatchError;

/// Byte-order mark written first.
const BOM: &str = "\u{feff}";

/// The timeline of a case as CSV, one row per event.
///
/// # Errors
/// [`MatchError::Export`] when the writer fails (it writes to memory).
pub fn case_csv(t: &Timeline) -> Result<String, MatchError> {
    let mut w = Writer::new(&[
        "case_id",
        "child_name",
        "at_utc",
        "event",
        "actor",
        "state",
        "band",
        "match_id",
        "sighting_id",
        "seen_at",
        "place",
        "latitude",
        "longitude",
        "text",
    ])?;
    let id = t.case.id.to_string();
    for e in &t.events {
        let at = utc(e.at);
        let mut row = vec![String::new(); 14];
        row[0] = id.clone();
        row[1] = t.case.child_name.clone();
        row[2] = at;
        match &e.what {
            Happening::Registered => row[3] = "registered".into(),
            Happening::PhotoAdded {
                photo_id,
                age_months,
                taken_date,
            } => {
                row[3] = "photo_added".into();
                row[13] = format!(
                    "photo {photo_id}{}{}",
                    age_months
                        .map(|m| format!(", age {:.1} y", f64::from(m) / 12.0))
                        .unwrap_or_default(),
                    taken_date
                        .as_deref()
                        .map(|d| format!(", taken {d}"))
                        .unwrap_or_default()
                );
            }
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
                row[3] = "sighting_matched".into();
                row[4] = assignee.clone().unwrap_or_default();
                row[5] = state_name(*state).into();
                row[6] = band.map(|b| b.as_str().to_string()).unwrap_or_default();
                row[7] = match_id.to_string();
                row[8] = sighting_id.to_string();
                row[9] = seen_at.clone().unwrap_or_default();
                row[10] = place.clone().unwrap_or_default();
                if let Some((lat, lon)) = location {
                    row[11] = format!("{lat:.6}");
                    row[12] = format!("{lon:.6}");
                }
            }
            Happening::Decided {
                match_id,
                state,
                reviewer,
            } => {
                row[3] = "match_decided".into();
                row[4] = reviewer.clone().unwrap_or_default();
                row[5] = state_name(*state).into();
                row[7] = match_id.to_string();
            }
            Happening::Status { status, actor, why } => {
                row[3] = "status".into();
                row[4] = actor.clone();
                row[5] = status.as_str().into();
                row[13] = why.clone().unwrap_or_default();
            }
            Happening::Note { actor, text } => {
                row[3] = "note".into();
                row[4] = actor.clone();
                row[13] = text.clone();
            }
        }
        w.row(&row)?;
    }
    w.finish()
}

/// Review-queue entries as CSV, one row per match, in the order given.
///
/// # Errors
/// [`MatchError::Export`] when the writer fails (it writes to memory).
pub fn queue_csv(entries: &[QueueEntry]) -> Result<String, MatchError> {
    let mut w = Writer::new(&[
        "match_id",
        "case_id",
        "child_name",
        "sighting_id",
        "band",
        "score",
        "case_false_match_rate",
        "state",
        "assignee",
        "queued_at_utc",
    ])?;
    for e in entries {
        let (band, score, fmr) = match &e.scores {
            Ok(s) => (
                s.band.as_str().to_string(),
                format!("{:.4}", s.score),
                format!("{:.6}", s.case_fmr),
            ),
            Err(_) => ("unreadable".into(), String::new(), String::new()),
        };
        w.row(&[
            e.match_id.to_string(),
            e.case_id.to_string(),
            e.child_name.clone(),
            e.sighting_id.to_string(),
            band,
            score,
            fmr,
            state_name(e.state).into(),
            e.assignee.clone().unwrap_or_default(),
            utc(e.created_at),
        ])?;
    }
    w.finish()
}

/// Seconds since the epoch as RFC 3339 UTC (empty when out of range).
pub fn utc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Defuses a cell a spreadsheet would evaluate.
fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

struct Writer(csv::Writer<Vec<u8>>);

impl Writer {
    fn new(header: &[&str]) -> Result<Writer, MatchError> {
        let mut w = csv::Writer::from_writer(BOM.as_bytes().to_vec());
        w.write_record(header).map_err(export)?;
        Ok(Writer(w))
    }

    fn row(&mut self, cells: &[String]) -> Result<(), MatchError> {
        self.0
            .write_record(cells.iter().map(|c| cell(c).into_owned()))
            .map_err(export)
    }

    fn finish(self) -> Result<String, MatchError> {
        let bytes = self
            .0
            .into_inner()
            .map_err(|e| MatchError::Export(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| MatchError::Export(e.to_string()))
    }
}

fn export(e: csv::Error) -> MatchError {
    MatchError::Export(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_plain_text_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM"), "'@SUM");
        assert_eq!(cell("李小明"), "李小明");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn utc_is_rfc3339() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(i64::MAX), "");
    }

    #[test]
    fn queue_csv_has_a_bom_a_header_and_quotes() {
        let out = queue_csv(&[]).unwrap();
        assert!(out.starts_with('\u{feff}'));
        assert!(out.contains("match_id,case_id,child_name"));
        let mut w = Writer::new(&["a"]).unwrap();
        w.row(&["x, \"y\"\nz".to_string()]).unwrap();
        let s = w.finish().unwrap();
        assert!(s.ends_with("\"x, \"\"y\"\"\nz\"\n"), "{s:?}");
    }
}
