//! The resample family: `Resize` and `Upsample`, by constant scales or sizes.

use super::{Ctx, Shapes, dim, no_rule};

/// `Resize` (X, roi, scales, sizes; opset 10: X, scales) and `Upsample` (X, scales).
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let inputs = ctx.inputs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    let attrs = ctx.attrs;
    match op {
        "Resize" | "Upsample" => {
            let x = ctx.shape(0)?;
            // Resize: (X, roi, scales, sizes); opset 10 Resize and Upsample: (X, scales).
            let (scales_at, sizes_at) = if op == "Upsample" || inputs.len() == 2 {
                (1, None)
            } else {
                (2, Some(3))
            };
            if let Some(sizes) = sizes_at.map(|i| ctx.const_ints(i)).transpose()?.flatten() {
                if sizes.len() != x.len() {
                    return Err(format!("sizes {sizes:?} do not match rank {}", x.len()));
                }
                return one(sizes
                    .iter()
                    .map(|&s| dim(s, "size"))
                    .collect::<Result<_, _>>()?);
            }
            let scales = match ctx.const_floats(scales_at)? {
                Some(s) if !s.is_empty() => s,
                _ => attrs
                    .floats("scales")
                    .map(|f| f.iter().map(|&v| v as f64).collect())
                    .ok_or("neither scales nor sizes are given")?,
            };
            if scales.len() != x.len() {
                return Err(format!("scales {scales:?} do not match rank {}", x.len()));
            }
            one(x
                .iter()
                .zip(&scales)
                .map(|(&d, &s)| (d as f64 * s).floor().max(0.0) as usize)
                .collect())
        }
        _ => Err(no_rule(op)),
    }
}
