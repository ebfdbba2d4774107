//! The generator family: outputs computed from the inputs' shapes or values
//! (`Shape`, `ConstantOfShape`, `Range`).

use super::{Ctx, Shapes, dim, no_rule};
use crate::attrs::Attrs;

/// `Shape` (with `start`/`end`), `ConstantOfShape`, `Range`.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    let attrs = ctx.attrs;
    match op {
        "Shape" => {
            let x = ctx.shape(0)?;
            let (start, end) = shape_range(attrs, x.len())?;
            one(vec![end - start])
        }
        "ConstantOfShape" => {
            let dims = ctx.const_ints(0)?.ok_or("shape is missing")?;
            one(dims
                .iter()
                .map(|&v| dim(v, "shape"))
                .collect::<Result<_, _>>()?)
        }
        "Range" => {
            let v = |i| -> Result<f64, String> {
                ctx.const_floats(i)?
                    .and_then(|v| v.first().copied())
                    .ok_or_else(|| format!("input {i} is missing"))
            };
            let (start, limit, delta) = (v(0)?, v(1)?, v(2)?);
            if delta == 0.0 {
                return Err("delta is 0".into());
            }
            one(vec![((limit - start) / delta).ceil().max(0.0) as usize])
        }
        _ => Err(no_rule(op)),
    }
}

pub(super) fn shape_range(attrs: &Attrs, rank: usize) -> Result<(usize, usize), String> {
    let clamp = |v: i64| -> usize {
        let v = if v < 0 { v + rank as i64 } else { v };
        v.clamp(0, rank as i64) as usize
    };
    let start = clamp(attrs.int("start").unwrap_or(0));
    let end = clamp(attrs.int("end").unwrap_or(rank as i64));
    Ok((start, end.max(start)))
}
