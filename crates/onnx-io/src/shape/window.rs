//! The window and global-pool families: convolutions and pools slide a window
//! over the spatial axes of an `[N, C, spatial...]` input; global pools take
//! each spatial axis to 1.

use super::{Ctx, Shapes, dim, no_rule};

/// `floor((len + pads - dilated kernel) / stride) + 1`, or with `ceil`.
fn window_out(
    len: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    ceil: bool,
) -> Result<usize, String> {
    let span = dilation.saturating_mul(kernel.max(1) - 1).saturating_add(1);
    let padded = len.saturating_add(pad);
    if padded < span {
        return Err(format!(
            "window of {span} does not fit a padded extent of {padded}"
        ));
    }
    let stride = stride.max(1);
    let steps = if ceil {
        (padded - span).div_ceil(stride)
    } else {
        (padded - span) / stride
    };
    Ok(steps + 1)
}

struct Window {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    /// begin + end padding per spatial axis.
    pads: Vec<usize>,
    /// Begin padding per spatial axis.
    pads_begin: Vec<usize>,
    same: bool,
}

fn window(
    ctx: &Ctx,
    spatial: usize,
    kernel_from_weight: Option<&[usize]>,
) -> Result<Window, String> {
    let kernel: Vec<usize> = match (ctx.attrs.ints("kernel_shape"), kernel_from_weight) {
        (Some(k), _) => k
            .iter()
            .map(|&v| dim(v, "kernel"))
            .collect::<Result<_, _>>()?,
        (None, Some(k)) => k.to_vec(),
        (None, None) => return Err("kernel_shape is missing".into()),
    };
    let per_axis = |name: &str, default: usize| -> Result<Vec<usize>, String> {
        match ctx.attrs.ints(name) {
            Some(v) => v.iter().map(|&x| dim(x, name)).collect(),
            None => Ok(vec![default; spatial]),
        }
    };
    let strides = per_axis("strides", 1)?;
    let dilations = per_axis("dilations", 1)?;
    let raw_pads = per_axis("pads", 0)?;
    if kernel.len() != spatial || strides.len() != spatial || dilations.len() != spatial {
        return Err(format!(
            "kernel/strides/dilations do not match {spatial} spatial axes"
        ));
    }
    let pads_begin = if raw_pads.len() == 2 * spatial {
        raw_pads[..spatial].to_vec()
    } else {
        vec![0; spatial]
    };
    let pads = if raw_pads.len() == 2 * spatial {
        (0..spatial)
            .map(|i| raw_pads[i] + raw_pads[i + spatial])
            .collect()
    } else if raw_pads.iter().all(|&p| p == 0) {
        vec![0; spatial]
    } else {
        return Err(format!(
            "pads has {} values for {spatial} spatial axes",
            raw_pads.len()
        ));
    };
    let auto_pad = ctx.attrs.string("auto_pad").unwrap_or("NOTSET");
    let same = matches!(auto_pad, "SAME_UPPER" | "SAME_LOWER");
    Ok(Window {
        kernel,
        strides,
        dilations,
        pads,
        pads_begin,
        same,
    })
}

fn windowed(x: &[usize], channels: usize, w: &Window, ceil: bool) -> Result<Vec<usize>, String> {
    let mut out = vec![x[0], channels];
    for (i, &len) in x[2..].iter().enumerate() {
        out.push(if w.same {
            len.div_ceil(w.strides[i].max(1))
        } else {
            let n = window_out(
                len,
                w.kernel[i],
                w.strides[i],
                w.pads[i],
                w.dilations[i],
                ceil,
            )?;
            // In ceil mode a last window that would start in the end padding
            // is dropped (the ONNX and PyTorch rule).
            if ceil && n > 1 && (n - 1) * w.strides[i].max(1) >= len + w.pads_begin[i] {
                n - 1
            } else {
                n
            }
        });
    }
    Ok(out)
}

fn image(shape: &[usize]) -> Result<&[usize], String> {
    if shape.len() < 3 {
        Err(format!(
            "expects an [N, C, spatial...] input, got {shape:?}"
        ))
    } else {
        Ok(shape)
    }
}

/// `Conv`, `ConvTranspose`, `MaxPool`, `AveragePool`.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let attrs = ctx.attrs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    match op {
        // The quantised convolutions read their weight from another slot.
        "Conv" | "ConvInteger" | "DeformConv" => one(conv(ctx, 1)?),
        "QLinearConv" => one(conv(ctx, 3)?),
        "ConvTranspose" => {
            let x = image(ctx.shape(0)?)?;
            let w = ctx.shape(1)?;
            if w.len() != x.len() {
                return Err(format!("weight {w:?} does not match input {x:?}"));
            }
            let group = dim(attrs.int("group").unwrap_or(1), "group")?.max(1);
            let win = window(ctx, x.len() - 2, Some(&w[2..]))?;
            let mut out = vec![x[0], w[1].saturating_mul(group)];
            if let Some(shape) = attrs.ints("output_shape") {
                for &s in shape.iter().rev().take(x.len() - 2).rev() {
                    out.push(dim(s, "output_shape")?);
                }
                return one(out);
            }
            let output_padding = attrs.ints("output_padding");
            for (i, &len) in x[2..].iter().enumerate() {
                let op = output_padding.and_then(|p| p.get(i)).copied().unwrap_or(0);
                let full = win.strides[i]
                    .saturating_mul(len.max(1) - 1)
                    .saturating_add(dim(op, "output_padding")?)
                    .saturating_add(win.dilations[i].saturating_mul(win.kernel[i].max(1) - 1))
                    .saturating_add(1);
                out.push(if win.same {
                    len.saturating_mul(win.strides[i])
                } else {
                    full.checked_sub(win.pads[i])
                        .ok_or("padding is larger than the output")?
                });
            }
            one(out)
        }
        "MaxUnpool" => {
            let x = image(ctx.shape(0)?)?;
            if let Some(shape) = ctx.const_ints(2)? {
                return one(shape
                    .iter()
                    .map(|&d| dim(d, "output_shape"))
                    .collect::<Result<_, _>>()?);
            }
            let win = window(ctx, x.len() - 2, None)?;
            let mut out = x[..2].to_vec();
            for (i, &len) in x[2..].iter().enumerate() {
                let full = (len.max(1) - 1)
                    .saturating_mul(win.strides[i].max(1))
                    .saturating_add(win.kernel[i]);
                out.push(
                    full.checked_sub(win.pads[i])
                        .ok_or("padding is larger than the output")?,
                );
            }
            one(out)
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let x = image(ctx.shape(0)?)?;
            let win = window(ctx, x.len() - 2, None)?;
            let ceil = attrs.int("ceil_mode").unwrap_or(0) != 0;
            one(windowed(x, x[1], &win, ceil)?)
        }
        _ => Err(no_rule(op)),
    }
}

/// A convolution of input slot 0 by the weight in slot `w_slot` (`DeformConv`
/// takes its output size from its offsets, which a consistent file matches).
fn conv(ctx: &Ctx, w_slot: usize) -> Result<Vec<usize>, String> {
    let x = image(ctx.shape(0)?)?;
    let w = ctx.shape(w_slot)?;
    if w.len() != x.len() {
        return Err(format!("weight {w:?} does not match input {x:?}"));
    }
    let group = dim(ctx.attrs.int("group").unwrap_or(1), "group")?.max(1);
    if Some(x[1]) != w[1].checked_mul(group) {
        return Err(format!(
            "input has {} channels but weight {w:?} with group {group} expects {}",
            x[1],
            w[1].saturating_mul(group)
        ));
    }
    let win = window(ctx, x.len() - 2, Some(&w[2..]))?;
    windowed(x, w[0], &win, false)
}

/// `GlobalAveragePool`, `GlobalMaxPool`, `GlobalLpPool`.
pub(super) fn infer_global(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    match op {
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let x = image(ctx.shape(0)?)?;
            let mut out = x[..2].to_vec();
            out.extend(std::iter::repeat_n(1, x.len() - 2));
            one(out)
        }
        _ => Err(no_rule(op)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes() {
        // ResNet stem: 224, k7 s2 p3+3 -> 112; max pool k3 s2 p1+1 -> 56.
        assert_eq!(window_out(224, 7, 2, 6, 1, false).unwrap(), 112);
        assert_eq!(window_out(112, 3, 2, 2, 1, false).unwrap(), 56);
        // ceil mode (SqueezeNet): 109, k3 s2 -> 54.
        assert_eq!(window_out(109, 3, 2, 0, 1, true).unwrap(), 54);
        assert!(window_out(2, 5, 1, 0, 1, false).is_err());
    }
}
