//! Batch results: JSON lines, CSV and a static offline HTML page showing
//! each sighting beside its top candidates' photos. Written from the
//! registry, so a resumed batch reports every item. Sighting places and
//! children's names are left out; ids lead back to `homeward review show`.

mod html;

pub use html::write_html;

use std::path::Path;

use homeward_core::store::{Registry, StoreError};
use serde::Serialize;
use serde_json::Value;

/// One candidate of a batch item (a queued match).
#[derive(Debug, Clone, Serialize)]
pub struct ReportCandidate {
    pub match_id: u64,
    pub case_id: u64,
    pub state: &'static str,
    pub band: String,
    pub case_fmr: f64,
    pub score: f64,
    pub distance: f64,
    pub best_photo_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_gap_years: Option<f64>,
    #[serde(skip)]
    pub sighting_face_id: Option<u64>,
}

/// One batch item's result.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub item: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sighting_id: Option<u64>,
    /// `new`, `duplicate`, `poster_repost`, `no_face` or `failed`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_group: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repost_of_photo: Option<u64>,
    pub faces: usize,
    pub candidates: Vec<ReportCandidate>,
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
pub fn sighting_result(reg: &Registry, item: &str, id: u64) -> Result<ItemResult, StoreError> {
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
pub fn collect(reg: &Registry, batch: &str) -> Result<Vec<ItemResult>, StoreError> {
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

fn io(path: &Path) -> impl Fn(std::io::Error) -> crate::cli::CliError + '_ {
    move |source| crate::cli::CliError::Io {
        context: format!("cannot write {}", path.display()),
        source,
    }
}

/// One JSON object per line per item.
pub fn write_jsonl(path: &Path, items: &[ItemResult]) -> Result<(), crate::cli::CliError> {
    let mut s = String::new();
    for it in items {
        s.push_str(&serde_json::to_string(it).unwrap_or_default());
        s.push('\n');
    }
    std::fs::write(path, s).map_err(io(path))
}

/// One row per (item, candidate); items without candidates get one row.
pub fn write_csv(path: &Path, items: &[ItemResult]) -> Result<(), crate::cli::CliError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| crate::cli::CliError::Usage(format!("CSV: {e}"));
    w.write_record([
        "item",
        "sighting_id",
        "kind",
        "rank",
        "match_id",
        "case_id",
        "state",
        "band",
        "est_false_match_rate",
        "score",
        "distance",
        "case_photo_id",
        "age_gap_years",
        "error",
    ])
    .map_err(csv_err)?;
    let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    for it in items {
        let base = [it.item.clone(), opt(it.sighting_id), it.kind.to_string()];
        if it.candidates.is_empty() {
            let mut row: Vec<String> = base.to_vec();
            row.extend(std::iter::repeat_n(String::new(), 10));
            row.push(it.error.clone().unwrap_or_default());
            w.write_record(&row).map_err(csv_err)?;
        }
        for (k, c) in it.candidates.iter().enumerate() {
            let mut row: Vec<String> = base.to_vec();
            row.extend([
                (k + 1).to_string(),
                c.match_id.to_string(),
                c.case_id.to_string(),
                c.state.to_string(),
                c.band.clone(),
                format!("{:.6}", c.case_fmr),
                format!("{:.4}", c.score),
                format!("{:.4}", c.distance),
                opt(c.best_photo_id),
                c.age_gap_years
                    .map(|g| format!("{g:.1}"))
                    .unwrap_or_default(),
                String::new(),
            ]);
            w.write_record(&row).map_err(csv_err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::cli::CliError::Usage(e.to_string()))?;
    std::fs::write(path, bytes).map_err(io(path))
}
