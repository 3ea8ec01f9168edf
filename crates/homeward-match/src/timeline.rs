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
//!
//! A [`Timeline`] serialises (serde) as the JSON the fronts send:
//! `{"case": {...}, "events": [{"at", "event", ...}]}`, with lower_snake
//! names, `event` one of `registered`, `photo_added`, `sighting_matched`,
//! `match_decided`, `status` and `note` (as in the CSV export), times as
//! RFC 3339 UTC, a sighting's `location` as `[latitude, longitude]` and
//! its `map_links` as `[{"label", "url"}]`.

use homeward_core::store::{
    CaseEventKind, CaseId, CaseStatus, CaseSummary, MatchId, MatchState, PhotoId, ScoreBand,
    SightingId, Store,
};
use serde::{Serialize, Serializer};

use crate::MatchError;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
    #[serde(rename = "sighting_matched")]
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
        /// Where, as (latitude, longitude) in WGS 84 (serialised as
        /// `location` and `map_links`).
        #[serde(flatten, serialize_with = "location_and_links")]
        location: Option<(f64, f64)>,
    },
    /// A match was confirmed or rejected.
    #[serde(rename = "match_decided")]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When it was recorded (seconds since the Unix epoch; serialised as
    /// RFC 3339 UTC).
    #[serde(serialize_with = "rfc3339")]
    pub at: i64,
    /// What happened.
    #[serde(flatten)]
    pub what: Happening,
}

/// A case and its events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The case.
    #[serde(serialize_with = "case_json")]
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

/// Seconds since the epoch as RFC 3339 UTC, or null when out of range.
fn rfc3339<S: Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    jiff::Timestamp::from_second(*secs)
        .ok()
        .map(|t| t.to_string())
        .serialize(s)
}

/// A sighting's `location` (`[latitude, longitude]` or null) and its
/// `map_links` (empty without a location), side by side.
fn location_and_links<S: Serializer>(loc: &Option<(f64, f64)>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Link {
        label: &'static str,
        url: String,
    }
    #[derive(Serialize)]
    struct Where {
        location: Option<[f64; 2]>,
        map_links: Vec<Link>,
    }
    Where {
        location: loc.map(|(lat, lon)| [lat, lon]),
        map_links: loc
            .map(|(lat, lon)| map_links(lat, lon))
            .unwrap_or_default()
            .into_iter()
            .map(|(label, url)| Link { label, url })
            .collect(),
    }
    .serialize(s)
}

/// The case, as the API's case summary names its fields, with when it
/// was registered in RFC 3339 UTC.
fn case_json<S: Serializer>(c: &CaseSummary, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Case<'a> {
        id: CaseId,
        child_name: &'a str,
        sex: homeward_core::store::Sex,
        birth_year: Option<i32>,
        missing_date: Option<&'a str>,
        missing_place: &'a str,
        status: CaseStatus,
        photos: u32,
        pending_matches: u32,
        #[serde(serialize_with = "rfc3339")]
        created_at: i64,
    }
    Case {
        id: c.id,
        child_name: &c.child_name,
        sex: c.sex,
        birth_year: c.birth_year,
        missing_date: c.missing_date.as_deref(),
        missing_place: &c.missing_place,
        status: c.status,
        photos: c.photos,
        pending_matches: c.pending_matches,
        created_at: c.created_at,
    }
    .serialize(s)
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

    #[test]
    fn serialises_with_stable_names_utc_times_and_map_links() {
        use homeward_core::store::Sex;
        let t = Timeline {
            case: CaseSummary {
                id: 3,
                child_name: "小明".into(),
                sex: Sex::Male,
                birth_year: Some(2015),
                missing_date: Some("2020-05-01".into()),
                missing_place: "西安".into(),
                status: CaseStatus::Found,
                photos: 1,
                pending_matches: 0,
                created_at: 0,
            },
            events: vec![
                Event {
                    at: 0,
                    what: Happening::Registered,
                },
                Event {
                    at: 60,
                    what: Happening::PhotoAdded {
                        photo_id: 7,
                        age_months: Some(72),
                        taken_date: None,
                    },
                },
                Event {
                    at: 120,
                    what: Happening::Matched {
                        match_id: 2,
                        sighting_id: 5,
                        band: Some(ScoreBand::Strong),
                        state: MatchState::Confirmed,
                        assignee: Some("li".into()),
                        seen_at: Some("2024-03-02".into()),
                        place: Some("market".into()),
                        location: Some((34.2610, 108.9423)),
                    },
                },
                Event {
                    at: 130,
                    what: Happening::Matched {
                        match_id: 4,
                        sighting_id: 6,
                        band: None,
                        state: MatchState::Pending,
                        assignee: None,
                        seen_at: None,
                        place: None,
                        location: None,
                    },
                },
                Event {
                    at: 180,
                    what: Happening::Decided {
                        match_id: 2,
                        state: MatchState::Confirmed,
                        reviewer: Some("li".into()),
                    },
                },
                Event {
                    at: 240,
                    what: Happening::Status {
                        status: CaseStatus::Found,
                        actor: "li".into(),
                        why: Some("Home".into()),
                    },
                },
                Event {
                    at: 300,
                    what: Happening::Note {
                        actor: "wang".into(),
                        text: "called".into(),
                    },
                },
            ],
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v["case"],
            serde_json::json!({"id": 3, "child_name": "小明", "sex": "male", "birth_year": 2015,
                "missing_date": "2020-05-01", "missing_place": "西安", "status": "found",
                "photos": 1, "pending_matches": 0, "created_at": "1970-01-01T00:00:00Z"})
        );
        let e = v["events"].as_array().unwrap();
        let kinds: Vec<&str> = e.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "registered",
                "photo_added",
                "sighting_matched",
                "sighting_matched",
                "match_decided",
                "status",
                "note"
            ]
        );
        assert_eq!(
            e[0],
            serde_json::json!({"at": "1970-01-01T00:00:00Z", "event": "registered"})
        );
        assert_eq!(e[1]["photo_id"], 7);
        assert_eq!(e[1]["age_months"], 72);
        assert!(e[1]["taken_date"].is_null());
        let m = &e[2];
        assert_eq!(m["at"], "1970-01-01T00:02:00Z");
        assert_eq!(
            (m["match_id"].as_u64(), m["sighting_id"].as_u64()),
            (Some(2), Some(5))
        );
        assert_eq!(
            (m["band"].as_str(), m["state"].as_str()),
            (Some("strong"), Some("confirmed"))
        );
        assert_eq!(m["location"], serde_json::json!([34.2610, 108.9423]));
        assert_eq!(m["map_links"][0]["label"], "OpenStreetMap");
        assert!(m["map_links"][1]["url"]
            .as_str()
            .unwrap()
            .contains("position=108.942300,34.261000"));
        assert!(e[3]["band"].is_null() && e[3]["location"].is_null());
        assert_eq!(e[3]["map_links"], serde_json::json!([]));
        assert_eq!(
            (e[4]["state"].as_str(), e[4]["reviewer"].as_str()),
            (Some("confirmed"), Some("li"))
        );
        assert_eq!(
            (
                e[5]["status"].as_str(),
                e[5]["actor"].as_str(),
                e[5]["why"].as_str()
            ),
            (Some("found"), Some("li"), Some("Home"))
        );
        assert_eq!(
            (e[6]["actor"].as_str(), e[6]["text"].as_str()),
            (Some("wang"), Some("called"))
        );
        // An instant past jiff's range is null rather than a wrong date.
        let far = Event {
            at: i64::MAX,
            what: Happening::Registered,
        };
        assert!(serde_json::to_value(&far).unwrap()["at"].is_null());
    }
}
