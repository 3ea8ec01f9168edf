//! From YuNet's per-anchor outputs to faces: scores, boxes and points
//! ([`decode`]), then greedy non-maximum suppression ([`nms`]).
//!
//! Every level of stride `s` has one anchor per `s × s` cell; the anchor in
//! row `r`, column `c` predicts
//! - score `sqrt(cls · obj)` (each clamped to [0, 1]);
//! - box centre `((c + dx)·s, (r + dy)·s)` and size `(e^dw·s, e^dh·s)`;
//! - point `k` at `((c + px_k)·s, (r + py_k)·s)`.

use super::{RawOutputs, YuNetDetection};

/// Every anchor of every level scoring at least `score_threshold`, decoded
/// in input coordinates, strongest first, at most `top_k` of them. Anchors
/// whose values are missing or not finite are skipped.
pub fn decode(raw: &RawOutputs, score_threshold: f32, top_k: usize) -> Vec<YuNetDetection> {
    let mut found = Vec::new();
    for level in &raw.levels {
        let s = level.stride as f32;
        let anchors = level.rows.saturating_mul(level.cols);
        for i in 0..anchors.min(level.cls.len()) {
            let (Some(&cls), Some(&obj)) = (level.cls.get(i), level.obj.get(i)) else {
                break;
            };
            let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
            if score
                .partial_cmp(&score_threshold)
                .is_none_or(|o| o.is_lt())
            {
                continue;
            }
            let (Some(b), Some(k)) = (
                level.bbox.get(4 * i..4 * i + 4),
                level.kps.get(10 * i..10 * i + 10),
            ) else {
                break;
            };
            let (r, c) = ((i / level.cols) as f32, (i % level.cols) as f32);
            let (cx, cy) = ((c + b[0]) * s, (r + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let d = YuNetDetection {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                width: w,
                height: h,
                score,
                points: std::array::from_fn(|n| [(c + k[2 * n]) * s, (r + k[2 * n + 1]) * s]),
            };
            let finite = [d.x, d.y, d.width, d.height]
                .iter()
                .chain(d.points.iter().flatten())
                .all(|v| v.is_finite());
            if finite {
                found.push(d);
            }
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    found.truncate(top_k);
    found
}

/// Greedy non-maximum suppression: takes `candidates` strongest first and
/// keeps each one that overlaps no kept box by an IoU above `iou_threshold`,
/// up to `keep` boxes.
pub fn nms(
    mut candidates: Vec<YuNetDetection>,
    iou_threshold: f32,
    keep: usize,
) -> Vec<YuNetDetection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<YuNetDetection> = Vec::new();
    for d in candidates {
        if kept.len() >= keep {
            break;
        }
        if kept.iter().all(|k| k.iou(&d) <= iou_threshold) {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::super::Level;
    use super::*;

    fn det(x: f32, y: f32, side: f32, score: f32) -> YuNetDetection {
        YuNetDetection {
            x,
            y,
            width: side,
            height: side,
            score,
            points: [[0.0; 2]; 5],
        }
    }

    /// A 64×32 input: stride 8 has 8×4 anchors, 16 has 4×2, 32 has 2×1.
    fn raw_with(level: usize, anchor: usize, cls: f32, obj: f32, b: [f32; 4]) -> RawOutputs {
        let levels = [8usize, 16, 32]
            .iter()
            .enumerate()
            .map(|(l, &s)| {
                let (cols, rows) = (64 / s, 32 / s);
                let n = cols * rows;
                let mut lv = Level {
                    stride: s,
                    cols,
                    rows,
                    cls: vec![0.0; n],
                    obj: vec![0.0; n],
                    bbox: vec![0.0; 4 * n],
                    kps: (0..10 * n).map(|v| (v % 10) as f32 * 0.1).collect(),
                };
                if l == level {
                    lv.cls[anchor] = cls;
                    lv.obj[anchor] = obj;
                    lv.bbox[4 * anchor..4 * anchor + 4].copy_from_slice(&b);
                }
                lv
            })
            .collect();
        RawOutputs {
            width: 64,
            height: 32,
            levels,
        }
    }

    #[test]
    fn decodes_an_anchor_by_the_definition() {
        // Stride 16, anchor 5 = row 1, column 1.
        let raw = raw_with(1, 5, 0.81, 1.0, [0.5, 0.25, 0.0, 2f32.ln()]);
        let d = decode(&raw, 0.5, 10);
        assert_eq!(d.len(), 1);
        let d = d[0];
        assert!((d.score - 0.9).abs() < 1e-6);
        // Centre (1.5·16, 1.25·16) = (24, 20); size 16 × 32.
        assert_eq!((d.x, d.y, d.width, d.height), (16.0, 4.0, 16.0, 32.0));
        // Point 2: offsets (0.4, 0.5) from the anchor (1, 1).
        assert!((d.points[2][0] - 1.4 * 16.0).abs() < 1e-4);
        assert!((d.points[2][1] - 1.5 * 16.0).abs() < 1e-4);
        // Scores are clamped before the square root; below the threshold is dropped.
        assert!(decode(&raw_with(0, 3, 1.7, 0.25, [0.0; 4]), 0.5, 10)[0].score == 0.5);
        assert!(decode(&raw, 0.95, 10).is_empty());
        assert!(decode(&raw_with(0, 0, -1.0, 1.0, [0.0; 4]), 0.0, 100)
            .iter()
            .all(|d| d.score == 0.0));
    }

    #[test]
    fn decode_skips_short_or_non_finite_outputs() {
        let mut raw = raw_with(2, 1, 1.0, 1.0, [0.0, 0.0, f32::INFINITY, 0.0]);
        assert!(decode(&raw, 0.5, 10).is_empty());
        raw.levels[2].bbox[6] = 0.0;
        assert_eq!(decode(&raw, 0.5, 10).len(), 1);
        raw.levels[2].kps.truncate(12); // anchor 1 has no points now
        assert!(decode(&raw, 0.5, 10).is_empty());
        raw.levels[2].rows = usize::MAX; // inconsistent sizes do not panic
        assert!(decode(&raw, 0.5, 10).is_empty());
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let boxes = vec![
            det(0.0, 0.0, 10.0, 0.8),
            det(1.0, 1.0, 10.0, 0.95), // IoU with the first: 81/119 = 0.68
            det(50.0, 50.0, 10.0, 0.7),
            det(6.0, 0.0, 10.0, 0.9), // IoU with the second: 45/155 = 0.29
        ];
        let kept = nms(boxes.clone(), 0.3, 10);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, [0.95, 0.9, 0.7]);
        // A stricter threshold also drops the 0.29 overlap; `keep` caps the count.
        assert_eq!(nms(boxes.clone(), 0.2, 10).len(), 2);
        assert_eq!(nms(boxes, 0.3, 1).len(), 1);
        let a = det(0.0, 0.0, 10.0, 1.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&det(20.0, 0.0, 10.0, 1.0)), 0.0);
    }
}
