//! A case's whole life on one line of time: registration, photos, the
//! sightings matched to it and their decisions, status changes with why,
//! and case workers' notes.
//!
//! ```
//! use homeward_core::store::{CaseStatus, NewCase, Registry, Sex};
//! use homeward_match::lifecycle;
//! use homeward_match::timeline::{case_timeline, Happening};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut reg = Registry::open(dir.path())?;
//! let case = reg.add_case("worker", &NewCase {
//!     child_name: "A. Child".into(), sex: Sex::Female, birth_date: None, birth_year: None,
//!     missing_date: None, missing_place: "Xi'an".into(), missing_location: None,
//!     status: CaseStatus::Searching, contact_ref: None, notes: None,
//! })?;
//! lifecycle::add_case_note(&mut reg, "worker", case, "Family called")?;
//! lifecycle::set_case_status(&mut reg, "worker", case, CaseStatus::Found, Some("Home"))?;
//! let t = case_timeline(&reg, case)?;
//! assert!(matches!(t.events[0].what, Happening::Registered));
//! assert!(matches!(t.events.last().unwrap().what, Happening::Status { .. }));
//! # Ok(()) }
//! ```

use homeward_core::store::{
    CaseEventKind, CaseId, CaseStatus, CaseSummary, MatchId, MatchState, PhotoId, ScoreBand,
    SightingId, Store,
};

use crate::MatchError;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// The case was registered.
    Registered,
    /// A photo of the child was added.
    PhotoAdded {
        /// The photo.
        photo_id: PhotoId,
        /// The child's age in it, in months.
        age_months: Option<u32>,
        /// When it was taken, as entered.
        taken_date: Option<String>,
    },
    /// A sighting was queued for review against the case.
    Matched {
        /// The match.
        match_id: MatchId,
        /// The sighting.
        sighting_id: SightingId,
        /// Its band when queued (`None` when the stored scores are unreadable).
        band: Option<ScoreBand>,
        /// Its review state now.
        state: MatchState,
        /// The case worker it is assigned to.
        assignee: Option<String>,
        /// When the child was seen, as the volunteer gave it.
        seen_at: Option<String>,
        /// Where, as text.
        place: Option<String>,
        /// Where, as (latitude, longitude) in WGS 84.
        location: Option<(f64, f64)>,
    },
    /// A match was confirmed or rejected.
    Decided {
        /// The match.
        match_id: MatchId,
        /// The decision.
        state: MatchState,
        /// Who decided.
        reviewer: Option<String>,
    },
    /// The case's status changed.
    Status {
        /// The new status.
        status: CaseStatus,
        /// Who changed it.
        actor: String,
        /// Why, when given.
        why: Option<String>,
    },
    /// A case worker's note.
    Note {
        /// Who wrote it.
        actor: String,
        /// The note.
        text: String,
    },
}

/// One event of a case's life.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it was recorded (seconds since the Unix epoch).
    pub at: i64,
    /// What happened.
    pub what: Happening,
}

/// A case and its events, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The case.
    pub case: CaseSummary,
    /// Its events, oldest first (events recorded in the same second keep
    /// the order above: registration, photos, matches, decisions, journal).
    pub events: Vec<Event>,
}

/// Reads case `id`'s timeline from any store.
///
/// # Errors
/// [`MatchError::Store`] when the case does not exist or the store fails.
pub fn case_timeline<S: Store + ?Sized>(store: &S, id: CaseId) -> Result<Timeline, MatchError> {
    let case = store.case_summary(id)?;
    let mut events = vec![Event {
        at: case.created_at,
        what: Happening::Registered,
    }];
    for p in store.case_photos(id)? {
        events.push(Event {
            at: p.added_at,
            what: Happening::PhotoAdded {
                photo_id: p.id,
                age_months: p.age_months,
                taken_date: p.taken_date,
            },
        });
    }
    for q in store.review_queue(true)? {
        if q.case_id != id {
            continue;
        }
        let row = store.match_row(q.match_id)?;
        let seen = store.sighting_summary(q.sighting_id)?;
        events.push(Event {
            at: q.created_at,
            what: Happening::Matched {
                match_id: q.match_id,
                sighting_id: q.sighting_id,
                band: q.scores.as_ref().ok().map(|s| s.band),
                state: q.state,
                assignee: q.assignee.clone(),
                seen_at: seen.seen_at,
                place: seen.place,
                location: seen.location,
            },
        });
        if let (Some(at), MatchState::Confirmed | MatchState::Rejected) = (row.decided_at, q.state)
        {
            events.push(Event {
                at,
                what: Happening::Decided {
                    match_id: q.match_id,
                    state: q.state,
                    reviewer: row.reviewer,
                },
            });
        }
    }
    for e in store.case_events(id)? {
        let what = match e.kind {
            CaseEventKind::Status(status) => Happening::Status {
                status,
                actor: e.actor,
                why: e.text,
            },
            CaseEventKind::Note => Happening::Note {
                actor: e.actor,
                text: e.text.unwrap_or_default(),
            },
        };
        events.push(Event { at: e.at, what });
    }
    // Stable: same-second events keep the order they were pushed in.
    events.sort_by_key(|e| e.at);
    Ok(Timeline { case, events })
}

/// Map links for a WGS 84 location: OpenStreetMap, and Amap (高德), which
/// is told the coordinates are WGS 84 so that it shifts them to its own
/// GCJ-02 grid itself. Returns (label, URL) pairs.
pub fn map_links(lat: f64, lon: f64) -> Vec<(&'static str, String)> {
    if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        return Vec::new();
    }
    vec![
        (
            "OpenStreetMap",
            format!("https://www.openstreetmap.org/?mlat={lat:.6}&mlon={lon:.6}#map=16/{lat:.6}/{lon:.6}"),
        ),
        (
            "Amap",
            format!("https://uri.amap.com/marker?position={lon:.6},{lat:.6}&coordinate=wgs84"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_links_name_the_point_and_refuse_off_globe() {
        let links = map_links(34.341_6, 108.939_8);
        assert_eq!(links.len(), 2);
        assert!(links[0].1.contains("mlat=34.341600&mlon=108.939800"));
        assert!(links[1].1.contains("position=108.939800,34.341600"));
        assert!(links[1].1.ends_with("coordinate=wgs84"));
        assert!(map_links(91.0, 0.0).is_empty());
        assert!(map_links(f64::NAN, 0.0).is_empty());
    }
}
