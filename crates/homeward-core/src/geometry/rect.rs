//! Integer boxes with dlib's semantics (inclusive corners).

/// A box in pixel coordinates with dlib's inclusive corners: it covers columns
/// `left..=right` and rows `top..=bottom`, so `width = right - left + 1`.
/// Corners may lie outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// First column.
    pub left: i64,
    /// First row.
    pub top: i64,
    /// Last column (inclusive).
    pub right: i64,
    /// Last row (inclusive).
    pub bottom: i64,
}

impl Rect {
    /// A box from its inclusive corners.
    pub fn new(left: i64, top: i64, right: i64, bottom: i64) -> Self {
        Rect {
            left,
            top,
            right,
            bottom,
        }
    }

    /// `right - left + 1`, or 0 for an empty box.
    pub fn width(&self) -> i64 {
        if self.right < self.left {
            0
        } else {
            self.right.saturating_sub(self.left).saturating_add(1)
        }
    }

    /// `bottom - top + 1`, or 0 for an empty box.
    pub fn height(&self) -> i64 {
        if self.bottom < self.top {
            0
        } else {
            self.bottom.saturating_sub(self.top).saturating_add(1)
        }
    }
}

impl Rect {
    /// Number of pixels covered; 0 when empty.
    pub fn area(&self) -> i64 {
        self.width().saturating_mul(self.height())
    }

    /// The overlap of two boxes (possibly empty).
    pub fn intersect(&self, other: &Rect) -> Rect {
        Rect::new(
            self.left.max(other.left),
            self.top.max(other.top),
            self.right.min(other.right),
            self.bottom.min(other.bottom),
        )
    }

    /// The smallest box holding both (dlib's `a + b`); an empty box adds nothing.
    pub fn bounding_union(&self, other: &Rect) -> Rect {
        if self.area() == 0 {
            return *other;
        }
        if other.area() == 0 {
            return *self;
        }
        Rect::new(
            self.left.min(other.left),
            self.top.min(other.top),
            self.right.max(other.right),
            self.bottom.max(other.bottom),
        )
    }

    /// Whether the pixel `(x, y)` is inside.
    pub fn contains(&self, x: i64, y: i64) -> bool {
        self.left <= x && x <= self.right && self.top <= y && y <= self.bottom
    }

    /// Intersection over union (true union, not dlib's bounding union).
    pub fn iou(&self, other: &Rect) -> f64 {
        let inner = self.intersect(other).area() as f64;
        let union = (self.area() + other.area()) as f64 - inner;
        if union <= 0.0 {
            0.0
        } else {
            inner / union
        }
    }
}

/// dlib's `test_box_overlap`: two boxes overlap when their intersection over
/// bounding union, or the share of either box they cover, passes a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoxOverlap {
    /// Intersection over bounding union above which boxes overlap.
    pub iou_thresh: f64,
    /// Share of either box covered above which boxes overlap.
    pub percent_covered_thresh: f64,
}

impl BoxOverlap {
    /// Whether `a` and `b` overlap under these thresholds.
    pub fn overlaps(&self, a: &Rect, b: &Rect) -> bool {
        let inner = a.intersect(b).area() as f64;
        if inner == 0.0 {
            return false;
        }
        let outer = a.bounding_union(b).area() as f64;
        inner / outer > self.iou_thresh
            || inner / a.area() as f64 > self.percent_covered_thresh
            || inner / b.area() as f64 > self.percent_covered_thresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_intersection_and_iou() {
        let a = Rect::new(0, 0, 9, 9);
        let b = Rect::new(5, 5, 14, 14);
        assert_eq!(a.area(), 100);
        assert_eq!(a.intersect(&b), Rect::new(5, 5, 9, 9));
        assert!((a.iou(&b) - 25.0 / 175.0).abs() < 1e-12);
        assert_eq!(a.intersect(&Rect::new(20, 20, 30, 30)).area(), 0);
    }

    #[test]
    fn overlap_uses_bounding_union_and_coverage() {
        let nms = BoxOverlap {
            iou_thresh: 0.4,
            percent_covered_thresh: 1.0,
        };
        let a = Rect::new(0, 0, 9, 9);
        assert!(nms.overlaps(&a, &Rect::new(2, 2, 11, 11)));
        assert!(!nms.overlaps(&a, &Rect::new(8, 8, 17, 17)));
    }
}
