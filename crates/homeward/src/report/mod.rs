//! Batch results rendered: JSON lines, CSV and a static offline HTML page
//! showing each sighting beside its top candidates' photos. The results
//! themselves come from the library (`homeward_match::batch`, read from the
//! registry, so a resumed batch reports every item). Every output opens
//! with the same [`Summary`] (the HTML page and the command's own text and
//! JSON) and lists the items in the same order, [`strongest_first`].
//! Sighting places are left out; the HTML page names the child beside each
//! case id for the case worker who reads it, while the JSONL and CSV files
//! keep ids only. Ids lead back to `homeward review show`.

mod html;

pub use html::write_html;

use std::path::Path;

pub use homeward_match::batch::{ItemResult, ReportCandidate};

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

/// What a batch found, counted once: the head of every batch output.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Items in the batch.
    pub items: usize,
    /// New sightings whose strongest candidate is in each band (each
    /// sighting counted once, by its best candidate).
    pub strong: usize,
    pub possible: usize,
    pub weak: usize,
    /// New sightings with a face but no candidate in a review band.
    pub no_candidate: usize,
    /// Repeats of an earlier sighting (they share its matches).
    pub duplicates: usize,
    /// Reposts of a registered case photo (no match created).
    pub poster_reposts: usize,
    /// Photos without a detectable face (kept for a person to look at).
    pub no_face: usize,
    /// Items that could not be read or recorded.
    pub failed: usize,
}

/// A candidate's estimated false-match rate, unknown as the weakest.
fn fmr(c: &ReportCandidate) -> f64 {
    if c.case_fmr.is_nan() {
        f64::INFINITY
    } else {
        c.case_fmr
    }
}

/// The strongest candidate of an item (lowest estimated false-match rate).
pub fn best(it: &ItemResult) -> Option<&ReportCandidate> {
    it.candidates
        .iter()
        .min_by(|a, b| fmr(a).total_cmp(&fmr(b)))
}

/// Counts `items` by what they turned out to be.
pub fn summarize(items: &[ItemResult]) -> Summary {
    let mut s = Summary {
        items: items.len(),
        ..Summary::default()
    };
    for it in items {
        match it.kind {
            "failed" => s.failed += 1,
            "no_face" => s.no_face += 1,
            "duplicate" => s.duplicates += 1,
            "poster_repost" => s.poster_reposts += 1,
            _ => match best(it).map(|c| c.band.as_str()) {
                Some("strong") => s.strong += 1,
                Some("possible") => s.possible += 1,
                Some("weak") => s.weak += 1,
                _ => s.no_candidate += 1,
            },
        }
    }
    s
}

impl Summary {
    /// The summary in two lines of plain text.
    pub fn text(&self) -> String {
        format!(
            "{} item(s). New sightings by strongest candidate: {} strong, {} possible, {} weak, {} with none.\n\
             {} duplicate(s) of earlier sightings, {} poster repost(s), {} without a face, {} failed.",
            self.items,
            self.strong,
            self.possible,
            self.weak,
            self.no_candidate,
            self.duplicates,
            self.poster_reposts,
            self.no_face,
            self.failed
        )
    }
}

/// Orders items for a person: new sightings with candidates, strongest
/// first (lowest estimated false-match rate of their best candidate); then
/// repeats of earlier sightings the same way; then photos without a face
/// (a person should look), new sightings without a candidate, poster
/// reposts, and failures. Ties keep the item name order. Each item's
/// candidates are put strongest first too.
pub fn strongest_first(items: &mut [ItemResult]) {
    for it in items.iter_mut() {
        it.candidates.sort_by(|a, b| fmr(a).total_cmp(&fmr(b)));
    }
    let class = |it: &ItemResult| match it.kind {
        "duplicate" => 1,
        "no_face" => 2,
        "poster_repost" => 4,
        "failed" => 5,
        _ if it.candidates.is_empty() => 3,
        _ => 0,
    };
    let key = |it: &ItemResult| (class(it), best(it).map_or(f64::INFINITY, fmr));
    items.sort_by(|a, b| {
        let (ca, fa) = key(a);
        let (cb, fb) = key(b);
        ca.cmp(&cb)
            .then(fa.total_cmp(&fb))
            .then_with(|| a.item.cmp(&b.item))
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(match_id: u64, band: &str, fmr: f64) -> ReportCandidate {
        ReportCandidate {
            match_id,
            case_id: match_id,
            state: "pending",
            band: band.into(),
            case_fmr: fmr,
            score: 0.4,
            distance: 0.4,
            best_photo_id: None,
            age_gap_years: None,
            sighting_face_id: None,
        }
    }

    fn item(name: &str, kind: &'static str, candidates: Vec<ReportCandidate>) -> ItemResult {
        ItemResult {
            item: name.into(),
            sighting_id: (kind != "failed").then_some(1),
            kind,
            duplicate_group: None,
            repost_of_photo: None,
            faces: 1,
            candidates,
            error: None,
        }
    }

    #[test]
    fn summary_counts_each_item_once_by_its_strongest_candidate() {
        let items = vec![
            item(
                "a",
                "new",
                vec![cand(1, "weak", 0.03), cand(2, "strong", 0.0005)],
            ),
            item("b", "new", vec![cand(3, "possible", 0.005)]),
            item("c", "new", vec![]),
            item("d", "duplicate", vec![cand(1, "weak", 0.03)]),
            item("e", "no_face", vec![]),
            item("f", "failed", vec![]),
            item("g", "poster_repost", vec![]),
        ];
        let s = summarize(&items);
        assert_eq!(
            s,
            Summary {
                items: 7,
                strong: 1,
                possible: 1,
                weak: 0,
                no_candidate: 1,
                duplicates: 1,
                poster_reposts: 1,
                no_face: 1,
                failed: 1,
            }
        );
        assert!(s
            .text()
            .starts_with("7 item(s). New sightings by strongest candidate: 1 strong"));
    }

    #[test]
    fn strongest_first_not_file_name_order() {
        let mut items = vec![
            item("a_failed", "failed", vec![]),
            item("b_weak", "new", vec![cand(1, "weak", 0.03)]),
            item("c_none", "new", vec![]),
            item("d_noface", "no_face", vec![]),
            item(
                "e_strong",
                "new",
                vec![cand(4, "possible", 0.004), cand(2, "strong", 0.0002)],
            ),
            item("f_dup", "duplicate", vec![cand(2, "strong", 0.0002)]),
            item("g_nan", "new", vec![cand(5, "?", f64::NAN)]),
        ];
        strongest_first(&mut items);
        let order: Vec<&str> = items.iter().map(|i| i.item.as_str()).collect();
        assert_eq!(
            order,
            ["e_strong", "b_weak", "g_nan", "f_dup", "d_noface", "c_none", "a_failed"]
        );
        assert_eq!(
            items[0].candidates[0].match_id, 2,
            "candidates strongest first"
        );
    }
}
