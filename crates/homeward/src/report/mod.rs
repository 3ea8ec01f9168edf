//! Batch results rendered: JSON lines, CSV and a static offline HTML page
//! showing each sighting beside its top candidates' photos. The results
//! themselves come from the library (`homeward_match::batch`, read from the
//! registry, so a resumed batch reports every item). Sighting places and
//! children's names are left out; ids lead back to `homeward review show`.

mod html;

pub use html::write_html;

use std::path::Path;

pub use homeward_match::batch::ItemResult;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be written.
    #[error(
        "cannot write {path}: {source}; check that the output directory exists and is writable"
    )]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("writing the CSV report: {0}")]
    Csv(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// One JSON object per line per item.
pub fn write_jsonl(path: &Path, items: &[ItemResult]) -> Result<(), ReportError> {
    let mut s = String::new();
    for it in items {
        s.push_str(&serde_json::to_string(it).unwrap_or_default());
        s.push('\n');
    }
    std::fs::write(path, s).map_err(io(path))
}

/// One row per (item, candidate); items without candidates get one row.
pub fn write_csv(path: &Path, items: &[ItemResult]) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReportError::Csv(e.to_string());
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
        .map_err(|e| ReportError::Csv(e.to_string()))?;
    std::fs::write(path, bytes).map_err(io(path))
}
