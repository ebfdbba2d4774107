//! The generator family: outputs computed from the inputs' shapes or values
//! (`Shape`, `Size`, `ConstantOfShape`, `Range`, `OneHot`, the window
//! functions, and `NonZero` of a known tensor).

use super::{Ctx, Shapes, dim, no_rule};
use crate::attrs::Attrs;

/// Output shapes of the generators.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    let attrs = ctx.attrs;
    match op {
        "Shape" => {
            let x = ctx.shape(0)?;
            let (start, end) = shape_range(attrs, x.len())?;
            one(vec![end - start])
        }
        "Size" => one(Vec::new()),
        "HannWindow" | "HammingWindow" | "BlackmanWindow" => {
            let size = ctx.const_ints(0)?.ok_or("size is missing")?;
            one(vec![dim(*size.first().ok_or("size is empty")?, "size")?])
        }
        "OneHot" => {
            // indices shape with `depth` inserted at `axis` (default -1, the end).
            let indices = ctx.shape(0)?;
            let depth = ctx
                .const_floats(1)?
                .and_then(|d| d.first().copied())
                .ok_or("depth is missing")?;
            let rank = indices.len() + 1;
            let a = super::axis(attrs.int("axis").unwrap_or(-1), rank)?;
            let mut out = indices.to_vec();
            out.insert(a, dim(depth as i64, "depth")?);
            one(out)
        }
        "MelWeightMatrix" => {
            // [dft_length / 2 + 1, num_mel_bins]
            let scalar = |i: usize, what: &str| -> Result<usize, String> {
                let v = ctx
                    .const_ints(i)?
                    .ok_or_else(|| format!("{what} is missing"))?;
                dim(*v.first().ok_or_else(|| format!("{what} is empty"))?, what)
            };
            one(vec![
                scalar(1, "dft_length")? / 2 + 1,
                scalar(0, "num_mel_bins")?,
            ])
        }
        "NonZero" => {
            let x = ctx.shape(0)?;
            let values = ctx
                .const_floats(0)?
                .ok_or("the count of non-zeros is known only for a constant input")?;
            one(vec![x.len(), values.iter().filter(|&&v| v != 0.0).count()])
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
