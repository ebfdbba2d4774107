//! The reduce family: reductions over axes given as an attribute (older
//! opsets) or a constant input, with `keepdims` and `noop_with_empty_axes`.

use super::{Ctx, Shapes, axis, no_rule};

/// `ReduceMean`, `ReduceMax`, `ReduceSum`.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let attrs = ctx.attrs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    match op {
        "ReduceMean" | "ReduceMax" | "ReduceSum" => {
            let x = ctx.shape(0)?;
            let keep = attrs.int("keepdims").unwrap_or(1) != 0;
            let axes: Vec<usize> = match ctx.axes(1)? {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(|&v| axis(v, x.len()))
                    .collect::<Result<_, _>>()?,
                _ if attrs.int("noop_with_empty_axes").unwrap_or(0) != 0 => return one(x.to_vec()),
                _ => (0..x.len()).collect(),
            };
            let mut out = Vec::new();
            for (i, &d) in x.iter().enumerate() {
                if !axes.contains(&i) {
                    out.push(d);
                } else if keep {
                    out.push(1);
                }
            }
            one(out)
        }
        _ => Err(no_rule(op)),
    }
}
