//! The resample family: `Resize` and `Upsample`, by constant scales or sizes.

use super::{Ctx, Shapes, axis, dim, no_rule};

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
            // Opset 18: scales or sizes for the listed axes only.
            let axes: Vec<usize> = match attrs.ints("axes") {
                Some(a) => a
                    .iter()
                    .map(|&v| axis(v, x.len()))
                    .collect::<Result<_, _>>()?,
                None => (0..x.len()).collect(),
            };
            let mut out = x.to_vec();
            if let Some(sizes) = sizes_at.map(|i| ctx.const_ints(i)).transpose()?.flatten() {
                if sizes.len() != axes.len() {
                    return Err(format!("sizes {sizes:?} do not match {} axes", axes.len()));
                }
                let sizes: Vec<usize> = sizes
                    .iter()
                    .map(|&s| dim(s, "size"))
                    .collect::<Result<_, _>>()?;
                let ratio = |i: usize| sizes[i] as f64 / x[axes[i]].max(1) as f64;
                let policy = attrs
                    .string("keep_aspect_ratio_policy")
                    .unwrap_or("stretch");
                let scale = match policy {
                    "stretch" => None,
                    "not_larger" => Some((0..axes.len()).map(ratio).fold(f64::INFINITY, f64::min)),
                    "not_smaller" => Some((0..axes.len()).map(ratio).fold(0.0, f64::max)),
                    other => return Err(format!("keep_aspect_ratio_policy {other:?} is unknown")),
                };
                for (i, &a) in axes.iter().enumerate() {
                    out[a] = match scale {
                        None => sizes[i],
                        Some(s) => (x[a] as f64 * s).round() as usize,
                    };
                }
                return one(out);
            }
            let scales = match ctx.const_floats(scales_at)? {
                Some(s) if !s.is_empty() => s,
                _ => attrs
                    .floats("scales")
                    .map(|f| f.iter().map(|&v| v as f64).collect())
                    .ok_or("neither scales nor sizes are given")?,
            };
            if scales.len() != axes.len() {
                return Err(format!(
                    "scales {scales:?} do not match {} axes",
                    axes.len()
                ));
            }
            for (i, &a) in axes.iter().enumerate() {
                out[a] = (x[a] as f64 * scales[i]).floor().max(0.0) as usize;
            }
            one(out)
        }
        "GridSample" => {
            // [N, C] of the input, then the grid's [N, H_out, W_out(, D_out), coords].
            let (x, grid) = (ctx.shape(0)?, ctx.shape(1)?);
            if x.len() < 3 || grid.len() != x.len() {
                return Err(format!("grid {grid:?} does not match input {x:?}"));
            }
            let mut out = x[..2].to_vec();
            out.extend_from_slice(&grid[1..grid.len() - 1]);
            one(out)
        }
        "AffineGrid" => {
            // size = [N, C, H, W(, D)] -> [N, H, W(, D), spatial axes]
            let size = ctx.const_ints(1)?.ok_or("size is missing")?;
            if size.len() < 3 {
                return Err(format!("size {size:?} is not [N, C, spatial...]"));
            }
            let mut out = vec![dim(size[0], "size")?];
            for &d in &size[2..] {
                out.push(dim(d, "size")?);
            }
            out.push(size.len() - 2);
            one(out)
        }
        "Col2Im" => {
            // [N, C * prod(block), L] -> [N, C, image...]
            let x = ctx.shape(0)?;
            let image = ctx.const_ints(1)?.ok_or("image_shape is missing")?;
            let block = ctx.const_ints(2)?.ok_or("block_shape is missing")?;
            let per: usize = block
                .iter()
                .map(|&b| dim(b, "block"))
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .product();
            if x.len() != 3 || per == 0 || x[1] % per != 0 {
                return Err(format!("input {x:?} does not hold blocks of {block:?}"));
            }
            let mut out = vec![x[0], x[1] / per];
            for &d in &image {
                out.push(dim(d, "image_shape")?);
            }
            one(out)
        }
        _ => Err(no_rule(op)),
    }
}
