//! Batch status: the result of every item of a named batch, read back from
//! the registry (so a resumed batch reports every item). Sighting places and
//! children's names are left out; ids lead back to the review queue.

use homeward_core::store::{MatchStore, StoreError};
use serde::Serialize;
use serde_json::Value;

/// One candidate of a batch item (a queued match).
#[derive(Debug, Clone, Serialize)]
pub struct ReportCandidate {
    /// The queued match.
    pub match_id: u64,
    /// Its case.
    pub case_id: u64,
    /// `pending`, `confirmed` or `rejected`.
    pub state: &'static str,
    /// Review band name.
    pub band: String,
    /// Estimated false-match rate of the case.
    pub case_fmr: f64,
    /// Ranking score.
    pub score: f64,
    /// Embedding distance of the best photo pair.
    pub distance: f64,
    /// The case photo nearest the sighting.
    pub best_photo_id: Option<u64>,
    /// Years between the case photo and the sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_gap_years: Option<f64>,
    /// The sighting face that was matched.
    #[serde(skip)]
    pub sighting_face_id: Option<u64>,
}

/// One batch item's result.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    /// The item's key in the batch (its path or CSV row).
    pub item: String,
    /// The recorded sighting, unless the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sighting_id: Option<u64>,
    /// `new`, `duplicate`, `poster_repost`, `no_face` or `failed`.
    pub kind: &'static str,
    /// The duplicate group it joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_group: Option<u64>,
    /// The case photo it reposts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repost_of_photo: Option<u64>,
    /// Faces found.
    pub faces: usize,
    /// Its queued matches.
    pub candidates: Vec<ReportCandidate>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn state_name(s: homeward_core::store::MatchState) -> &'static str {
    match s {
        homeward_core::store::MatchState::Pending => "pending",
        homeward_core::store::MatchState::Confirmed => "confirmed",
        homeward_core::store::MatchState::Rejected => "rejected",
    }
}

/// The result of one recorded sighting.
pub fn sighting_result(
    reg: &dyn MatchStore,
    item: &str,
    id: u64,
) -> Result<ItemResult, StoreError> {
    let s = reg.sighting(id)?;
    let faces = reg.sighting_faces(id)?.len();
    let group = s
        .data
        .duplicate_group
        .map(|g| g as u64)
        .filter(|g| *g != id);
    let kind = if s.repost_of_photo.is_some() {
        "poster_repost"
    } else if group.is_some() {
        "duplicate"
    } else if faces == 0 {
        "no_face"
    } else {
        "new"
    };
    let matches = reg.matches_of_sighting(group.unwrap_or(id))?;
    let candidates = matches
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.scores_json).unwrap_or(Value::Null);
            let best = &v["why"]["best"];
            ReportCandidate {
                match_id: m.id,
                case_id: m.case_id,
                state: state_name(m.state),
                band: v["band"].as_str().unwrap_or("?").to_string(),
                case_fmr: v["case_fmr"].as_f64().unwrap_or(f64::NAN),
                score: v["score"].as_f64().unwrap_or(f64::NAN),
                distance: best["distance"].as_f64().unwrap_or(f64::NAN),
                best_photo_id: best["photo_id"].as_u64(),
                age_gap_years: best["age_gap_years"].as_f64(),
                sighting_face_id: m.sighting_face_id,
            }
        })
        .collect();
    Ok(ItemResult {
        item: item.to_string(),
        sighting_id: Some(id),
        kind,
        duplicate_group: group,
        repost_of_photo: s.repost_of_photo,
        faces,
        candidates,
        error: None,
    })
}

/// Results of every item of a batch, in item order.
pub fn collect(reg: &dyn MatchStore, batch: &str) -> Result<Vec<ItemResult>, StoreError> {
    reg.batch_items(batch)?
        .into_iter()
        .map(|b| match b.sighting_id {
            Some(id) => sighting_result(reg, &b.item, id),
            None => Ok(ItemResult {
                item: b.item,
                sighting_id: None,
                kind: "failed",
                duplicate_group: None,
                repost_of_photo: None,
                faces: 0,
                candidates: Vec::new(),
                error: b.error,
            }),
        })
        .collect()
}
