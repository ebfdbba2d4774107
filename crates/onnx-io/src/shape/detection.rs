//! The detection family: `NonMaxSuppression`, whose output
//! (`[selected, 3]`: batch, class, box) counts the boxes kept. With the boxes
//! and scores known (constants) the count is computed exactly, as an engine
//! folding the node would; with them computed at run time it is the most the
//! node can keep (`min(max_output_boxes_per_class, boxes)` per batch and
//! class), the buffer an engine allocates for it.

use super::{Ctx, Shapes, dim};

pub(super) fn infer(ctx: &Ctx, outputs: usize) -> Shapes {
    let boxes = ctx.shape(0)?;
    let scores = ctx.shape(1)?;
    if boxes.len() != 3 || boxes[2] != 4 || scores.len() != 3 || scores[0] != boxes[0] {
        return Err(format!(
            "boxes {boxes:?} and scores {scores:?} are not [N, B, 4] and [N, C, B]"
        ));
    }
    if scores[2] != boxes[1] {
        return Err(format!(
            "{} scores per class for {} boxes",
            scores[2], boxes[1]
        ));
    }
    let (batches, classes, count) = (boxes[0], scores[1], boxes[1]);
    // A missing max_output_boxes_per_class keeps nothing (the ONNX default, 0).
    let max_out = match ctx.const_ints(2)? {
        Some(v) => dim(
            v.first().copied().unwrap_or(0).max(0),
            "max_output_boxes_per_class",
        )?,
        None if ctx.has(2) => {
            return Err("max_output_boxes_per_class is computed at run time".into());
        }
        None => 0,
    };
    let scalar = |i: usize| -> Result<Option<f64>, String> {
        Ok(ctx.const_floats(i)?.and_then(|v| v.first().copied()))
    };
    let known = (
        ctx.input(0)?.values,
        ctx.input(1)?.values,
        scalar(3).ok(),
        scalar(4).ok(),
    );
    let selected = match known {
        (Some(b), Some(s), Some(iou), Some(score)) => {
            let center = ctx.attrs.int("center_point_box").unwrap_or(0) != 0;
            let problem = Problem {
                boxes: b,
                scores: s,
                count,
                classes,
                center,
            };
            (0..batches)
                .flat_map(|n| (0..classes).map(move |c| (n, c)))
                .map(|(n, c)| problem.kept(n, c, max_out, iou.unwrap_or(0.0), score))
                .sum()
        }
        _ => batches * classes * max_out.min(count),
    };
    Ok(vec![vec![selected, 3]; outputs.max(1)])
}

/// Known boxes and scores.
struct Problem<'a> {
    boxes: &'a [f64],
    scores: &'a [f64],
    count: usize,
    classes: usize,
    center: bool,
}

impl Problem<'_> {
    /// `[x0, y0, x1, y1]` of box `i` of batch `n`, corners ordered.
    fn corners(&self, n: usize, i: usize) -> [f64; 4] {
        let b = &self.boxes[(n * self.count + i) * 4..][..4];
        if self.center {
            let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
            [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
        } else {
            // [y1, x1, y2, x2], any two opposite corners.
            [
                b[1].min(b[3]),
                b[0].min(b[2]),
                b[1].max(b[3]),
                b[0].max(b[2]),
            ]
        }
    }

    fn iou(&self, n: usize, i: usize, j: usize) -> f64 {
        let (a, b) = (self.corners(n, i), self.corners(n, j));
        let w = a[2].min(b[2]) - a[0].max(b[0]);
        let h = a[3].min(b[3]) - a[1].max(b[1]);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let inter = w * h;
        let area = |c: [f64; 4]| (c[2] - c[0]) * (c[3] - c[1]);
        let union = area(a) + area(b) - inter;
        if area(a) <= 0.0 || area(b) <= 0.0 || union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// How many boxes greedy suppression keeps for batch `n`, class `c`:
    /// highest score first (ties: lower index), a box dropped when its IoU
    /// with a kept one exceeds `iou`; with `score`, only scores above it.
    fn kept(&self, n: usize, c: usize, max_out: usize, iou: f64, score: Option<f64>) -> usize {
        let scores = &self.scores[(n * self.classes + c) * self.count..][..self.count];
        let mut order: Vec<usize> = (0..self.count)
            .filter(|&i| score.is_none_or(|t| scores[i] > t))
            .collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut kept: Vec<usize> = Vec::new();
        for i in order {
            if kept.len() >= max_out {
                break;
            }
            if kept.iter().all(|&k| self.iou(n, i, k) <= iou) {
                kept.push(i);
            }
        }
        kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::infer;
    use super::super::test_util::{floats, ints, node, op};
    use crate::attrs::Attrs;

    #[test]
    fn known_boxes_are_counted_and_run_time_ones_bounded() {
        let n = node(vec![]);
        let a = Attrs::of(&n);
        // Two overlapping boxes and one apart, one class; keep at most 3, IoU 0.5.
        let boxes = [0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 5.0, 1.0, 6.0];
        let scores = [0.9, 0.8, 0.7];
        let inputs = [
            floats(&[1, 3, 4], &boxes),
            floats(&[1, 1, 3], &scores),
            ints(&[1], &[3.0]),
            floats(&[1], &[0.5]),
            floats(&[1], &[0.0]),
        ];
        assert_eq!(
            infer("NonMaxSuppression", &a, &inputs, 1).unwrap(),
            vec![vec![2, 3]]
        );
        // Boxes computed at run time: at most min(3, boxes) per batch and class.
        let runtime = [op(&[2, 3, 4]), op(&[2, 4, 3]), ints(&[1], &[3.0])];
        assert_eq!(
            infer("NonMaxSuppression", &a, &runtime, 1).unwrap(),
            vec![vec![24, 3]]
        );
        // Mismatched boxes and scores.
        let bad = [op(&[1, 3, 4]), op(&[1, 1, 5])];
        assert!(
            infer("NonMaxSuppression", &a, &bad, 1)
                .unwrap_err()
                .contains("scores")
        );
    }
}
