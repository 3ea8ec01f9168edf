//! The static offline HTML report: one self-contained file, photos embedded
//! as data URIs (face crops, downscaled), inline CSS, no script, no
//! third-party asset.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use homeward_core::intake::{self, Limits};
use homeward_core::store::MatchStore;
use image::RgbImage;

use super::ItemResult;
use homeward_match::ranking::rate;

/// Longest side of an embedded thumbnail, in pixels.
const THUMB: u32 = 160;

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// A face crop (box plus half its size around it) as a JPEG data URI.
fn thumbnail(path: &Path, bbox: Option<[f32; 4]>) -> Option<String> {
    let photo = intake::load_path(path, &Limits::default()).ok()?;
    let img: RgbImage = photo.image;
    let (w, h) = img.dimensions();
    let crop = match bbox {
        Some([l, t, r, b]) => {
            let m = 0.5 * (r - l).max(b - t);
            let x0 = (l - m).max(0.0) as u32;
            let y0 = (t - m).max(0.0) as u32;
            let x1 = ((r + m) as u32).min(w);
            let y1 = ((b + m) as u32).min(h);
            if x1 <= x0 + 1 || y1 <= y0 + 1 {
                img
            } else {
                image::imageops::crop_imm(&img, x0, y0, x1 - x0, y1 - y0).to_image()
            }
        }
        None => img,
    };
    let (cw, ch) = crop.dimensions();
    let s = f64::from(THUMB) / f64::from(cw.max(ch));
    let small = if s < 1.0 {
        image::imageops::thumbnail(
            &crop,
            ((f64::from(cw) * s) as u32).max(1),
            ((f64::from(ch) * s) as u32).max(1),
        )
    } else {
        crop
    };
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 82)
        .encode_image(&small)
        .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&buf)
    ))
}

fn img_tag(uri: Option<String>, alt: &str) -> String {
    match uri {
        Some(u) => format!("<img src=\"{u}\" alt=\"{}\">", escape(alt)),
        None => format!("<div class=\"nophoto\">{}</div>", escape(alt)),
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}table{border-collapse:collapse}td{vertical-align:top;padding:.5em;border-top:1px solid #ccc}\
td:first-child{width:190px}\
img{display:block;max-width:160px;max-height:160px;border-radius:4px}\
.cands{display:flex;gap:.8em;flex-wrap:wrap}.cand{width:170px}\
.band{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-weight:600}\
.strong{background:#1b7f3b}.possible{background:#b8860b}.weak{background:#777}.below{background:#aaa}\
.kind{font-weight:600}.nophoto{width:120px;height:90px;background:#eee;color:#777;font-size:12px;padding:4px}\
.note{color:#555;max-width:60em}h2{font-size:1.1em}\
table.summary td{border-top:none;padding:.15em .5em}table.summary td.n{width:auto;text-align:right;font-weight:600}";

/// The summary at the head of the page: one line per count, those that
/// ask for a person first.
fn summary_html(s: &super::Summary) -> String {
    let rows = [
        (
            "strong",
            s.strong,
            "new sightings whose strongest candidate is strong",
        ),
        (
            "possible",
            s.possible,
            "new sightings whose strongest candidate is possible",
        ),
        (
            "weak",
            s.weak,
            "new sightings whose strongest candidate is weak",
        ),
        (
            "",
            s.no_candidate,
            "new sightings with no candidate in a review band",
        ),
        (
            "",
            s.duplicates,
            "duplicates of earlier sightings (they share its matches)",
        ),
        (
            "",
            s.poster_reposts,
            "reposts of a registered case photo (no match created)",
        ),
        (
            "",
            s.no_face,
            "photos without a detectable face (kept for a person to look at)",
        ),
        (
            "",
            s.failed,
            "failed (not recorded; see the error beside each)",
        ),
    ];
    let mut h = format!(
        "<section id=\"summary\"><h2>Summary: {} item(s)</h2><table class=\"summary\">",
        s.items
    );
    for (band, n, what) in rows {
        let mark = if band.is_empty() {
            String::new()
        } else {
            format!("<span class=\"band {band}\">{band}</span> ")
        };
        h.push_str(&format!(
            "<tr><td class=\"n\">{n}</td><td>{mark}{what}</td></tr>"
        ));
    }
    h.push_str("</table></section>\n");
    h
}

/// Writes the report for `items` to `path`, in the order given (the batch
/// command passes them [`super::strongest_first`]).
pub fn write_html(
    reg: &dyn MatchStore,
    path: &Path,
    title: &str,
    items: &[ItemResult],
) -> Result<(), super::ReportError> {
    let mut case_thumbs: HashMap<u64, Option<String>> = HashMap::new();
    let mut case_boxes: HashMap<u64, HashMap<u64, [f32; 4]>> = HashMap::new();
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut rows = String::new();
    for it in items {
        let mut sighting_cell = format!("<b>{}</b><br>", escape(&it.item));
        if let Some(id) = it.sighting_id {
            let bbox = reg.sighting_faces(id).ok().and_then(|f| {
                let want = it.candidates.first().and_then(|c| c.sighting_face_id);
                f.iter()
                    .find(|(fid, _)| Some(*fid) == want)
                    .or(f.first())
                    .map(|(_, r)| r.bbox)
            });
            let uri = reg
                .sighting(id)
                .ok()
                .and_then(|s| thumbnail(&reg.photo_path(&s.sha256), bbox));
            sighting_cell.push_str(&img_tag(uri, &format!("sighting {id}")));
            sighting_cell.push_str(&format!("sighting {id}, {} face(s)<br>", it.faces));
        }
        let kind = match it.kind {
            "poster_repost" => format!(
                "poster repost of case photo {} &mdash; not a sighting of the child",
                it.repost_of_photo.unwrap_or(0)
            ),
            "duplicate" => format!(
                "duplicate: joined group {}",
                it.duplicate_group.unwrap_or(0)
            ),
            "failed" => format!("failed: {}", escape(it.error.as_deref().unwrap_or(""))),
            "no_face" => "no face found".into(),
            _ if it.candidates.is_empty() => "no candidate in a review band".into(),
            _ => "candidates for review".into(),
        };
        sighting_cell.push_str(&format!("<span class=\"kind\">{kind}</span>"));
        let mut cands = String::new();
        for c in &it.candidates {
            let thumb = match c.best_photo_id {
                Some(p) => case_thumbs
                    .entry(p)
                    .or_insert_with(|| {
                        let (case, sha) = reg.photo(p).ok()?;
                        let boxes = case_boxes.entry(case).or_insert_with(|| {
                            reg.case_gallery(case)
                                .map(|g| g.into_iter().map(|r| (r.photo_id, r.bbox)).collect())
                                .unwrap_or_default()
                        });
                        thumbnail(&reg.photo_path(&sha), boxes.get(&p).copied())
                    })
                    .clone(),
                None => None,
            };
            let gap = c
                .age_gap_years
                .map(|g| format!(", age gap {g:.1} y"))
                .unwrap_or_default();
            let name = names
                .entry(c.case_id)
                .or_insert_with(|| {
                    reg.case(c.case_id)
                        .map(|k| k.data.child_name)
                        .unwrap_or_default()
                })
                .clone();
            let label = if name.trim().is_empty() {
                format!("case {}", c.case_id)
            } else {
                format!("case {} ({})", c.case_id, escape(&name))
            };
            cands.push_str(&format!(
                "<div class=\"cand\">{}<span class=\"band {b}\">{b}</span> {label}<br>\
                 est. false-match {}<br>score {:.3} (photo {} at {:.3}{gap})<br>match {} ({})</div>",
                img_tag(thumb, &format!("case {}", c.case_id)),
                rate(c.case_fmr),
                c.score,
                c.best_photo_id.unwrap_or(0),
                c.distance,
                c.match_id,
                c.state,
                b = escape(&c.band),
            ));
        }
        rows.push_str(&format!(
            "<tr><td>{sighting_cell}</td><td><div class=\"cands\">{cands}</div></td></tr>\n"
        ));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>{summary}<h2>Sightings, strongest first</h2>\
         <p class=\"note\">Each sighting beside the cases queued for review, best first. \
         These are candidates for a person to review, never matches. Bands: strong, possible, weak \
         by the estimated chance that a different child's case scores as well (est. false-match). \
         Use <code>homeward review show MATCH</code> for the details.</p>\
         <table>\n{rows}</table></body></html>\n",
        t = escape(title),
        summary = summary_html(&super::summarize(items)),
    );
    std::fs::write(path, html).map_err(|source| super::ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}
