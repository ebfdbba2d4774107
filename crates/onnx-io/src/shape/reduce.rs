//! The reduce family: reductions over axes given as an attribute (older
//! opsets) or a constant input, with `keepdims` and `noop_with_empty_axes`;
//! `ArgMax`/`ArgMin` over their one `axis`; and the losses, which reduce to a
//! scalar unless `reduction = none`.

use super::{Ctx, Shapes, axis};

/// `x` without (or, with `keep`, with ones at) `axes`.
fn reduced(x: &[usize], axes: &[usize], keep: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(x.len());
    for (i, &d) in x.iter().enumerate() {
        if !axes.contains(&i) {
            out.push(d);
        } else if keep {
            out.push(1);
        }
    }
    out
}

pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let attrs = ctx.attrs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    let x = ctx.shape(0)?;
    let keep = attrs.int("keepdims").unwrap_or(1) != 0;
    match op {
        "ArgMax" | "ArgMin" => {
            let a = axis(attrs.int("axis").unwrap_or(0), x.len())?;
            one(reduced(x, &[a], keep))
        }
        "Det" => {
            if x.len() < 2 || x[x.len() - 1] != x[x.len() - 2] {
                return Err(format!("expects [..., M, M], got {x:?}"));
            }
            one(x[..x.len() - 2].to_vec())
        }
        "NegativeLogLikelihoodLoss" | "SoftmaxCrossEntropyLoss" => {
            // input [N, C, d...], target [N, d...]; SoftmaxCrossEntropyLoss's
            // optional second output (log-probabilities) has the input's shape.
            let target = ctx.shape(1)?;
            let loss = match attrs.string("reduction").unwrap_or("mean") {
                "none" => target.to_vec(),
                "mean" | "sum" => Vec::new(),
                other => return Err(format!("reduction {other:?} is not none, mean or sum")),
            };
            let mut shapes = vec![loss];
            shapes.extend(std::iter::repeat_n(x.to_vec(), outputs.saturating_sub(1)));
            Ok(shapes)
        }
        _ => {
            let axes: Vec<usize> = match ctx.axes(1)? {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(|&v| axis(v, x.len()))
                    .collect::<Result<_, _>>()?,
                _ if attrs.int("noop_with_empty_axes").unwrap_or(0) != 0 => return one(x.to_vec()),
                _ => (0..x.len()).collect(),
            };
            one(reduced(x, &axes, keep))
        }
    }
}
