//! The layout family: ops that move data without computing on it (reshape,
//! flatten, transpose, concat, split, slice, squeeze, unsqueeze, gather, pad,
//! expand, tile).

use super::broadcast::broadcast;
use super::{Ctx, Shapes, axis, check_size, dim, no_rule};

/// Output shapes of the data-movement ops.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let attrs = ctx.attrs;
    let inputs = ctx.inputs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    match op {
        "Flatten" => {
            let x = ctx.shape(0)?;
            // The axis may equal the rank (everything in the first dim);
            // negative axes count from the rank.
            let raw = attrs.int("axis").unwrap_or(1);
            let a = if raw < 0 { raw + x.len() as i64 } else { raw };
            if !(0..=x.len() as i64).contains(&a) {
                return Err(format!("axis {raw} is out of range for rank {}", x.len()));
            }
            let a = a as usize;
            one(vec![x[..a].iter().product(), x[a..].iter().product()])
        }
        "Reshape" => {
            let x = ctx.shape(0)?;
            let target = ctx
                .const_ints(1)?
                .or_else(|| attrs.ints("shape").map(<[i64]>::to_vec))
                .ok_or("the target shape is missing")?;
            one(reshape(
                x,
                &target,
                attrs.int("allowzero").unwrap_or(0) != 0,
            )?)
        }
        "Transpose" => {
            let x = ctx.shape(0)?;
            let perm: Vec<usize> = match attrs.ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&a| axis(a, x.len()))
                    .collect::<Result<_, _>>()?,
                None => (0..x.len()).rev().collect(),
            };
            if perm.len() != x.len() {
                return Err(format!("perm {perm:?} does not match rank {}", x.len()));
            }
            one(perm.iter().map(|&p| x[p]).collect())
        }
        "Concat" => {
            let shapes: Vec<&[usize]> = inputs.iter().flatten().map(|o| o.shape).collect();
            let first = shapes.first().ok_or("has no inputs")?;
            let a = axis(attrs.int("axis").ok_or("axis is missing")?, first.len())?;
            let mut out = first.to_vec();
            out[a] = 0;
            for s in &shapes {
                if s.len() != first.len() {
                    return Err(format!("inputs of different rank: {first:?} and {s:?}"));
                }
                out[a] += s[a];
            }
            one(out)
        }
        "Split" => {
            let x = ctx.shape(0)?;
            let a = axis(attrs.int("axis").unwrap_or(0), x.len())?;
            let sizes: Vec<usize> = match ctx
                .const_ints(1)?
                .or_else(|| attrs.ints("split").map(<[i64]>::to_vec))
            {
                Some(s) => s
                    .iter()
                    .map(|&v| dim(v, "split"))
                    .collect::<Result<_, _>>()?,
                None => {
                    let parts = outputs.max(1);
                    let chunk = x[a].div_ceil(parts);
                    (0..parts)
                        .map(|i| chunk.min(x[a].saturating_sub(i * chunk)))
                        .collect()
                }
            };
            if sizes.iter().sum::<usize>() != x[a] || sizes.len() != outputs.max(1) {
                return Err(format!(
                    "split {sizes:?} does not cover axis of {} into {outputs} outputs",
                    x[a]
                ));
            }
            Ok(sizes
                .into_iter()
                .map(|s| {
                    let mut o = x.to_vec();
                    o[a] = s;
                    o
                })
                .collect())
        }
        "Slice" => {
            let x = ctx.shape(0)?;
            let (starts, ends, axes, steps) = if let Some(starts) = attrs.ints("starts") {
                (
                    starts.to_vec(),
                    attrs.ints("ends").ok_or("ends is missing")?.to_vec(),
                    attrs.ints("axes").map(<[i64]>::to_vec),
                    None,
                )
            } else {
                (
                    ctx.const_ints(1)?.ok_or("starts is missing")?,
                    ctx.const_ints(2)?.ok_or("ends is missing")?,
                    ctx.const_ints(3)?,
                    ctx.const_ints(4)?,
                )
            };
            let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
            if ends.len() != starts.len() || axes.len() != starts.len() {
                return Err("starts, ends and axes differ in length".into());
            }
            let mut out = x.to_vec();
            for (i, &ax) in axes.iter().enumerate() {
                let a = axis(ax, x.len())?;
                let step = steps.as_ref().and_then(|s| s.get(i)).copied().unwrap_or(1);
                out[a] = slice_len(x[a], starts[i], ends[i], step)?;
            }
            one(out)
        }
        "Squeeze" => {
            let x = ctx.shape(0)?;
            let out = match ctx.axes(1)? {
                Some(axes) => {
                    let axes: Vec<usize> = axes
                        .iter()
                        .map(|&a| axis(a, x.len()))
                        .collect::<Result<_, _>>()?;
                    if let Some(&a) = axes.iter().find(|&&a| x[a] != 1) {
                        return Err(format!("cannot squeeze axis {a} of {x:?}"));
                    }
                    x.iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, &d)| d)
                        .collect()
                }
                None => x.iter().copied().filter(|&d| d != 1).collect(),
            };
            one(out)
        }
        "Unsqueeze" => {
            let x = ctx.shape(0)?;
            let axes = ctx.axes(1)?.ok_or("axes is missing")?;
            let rank = x.len() + axes.len();
            let mut axes: Vec<usize> = axes
                .iter()
                .map(|&a| axis(a, rank))
                .collect::<Result<_, _>>()?;
            axes.sort_unstable();
            let mut out = x.to_vec();
            for a in axes {
                out.insert(a, 1);
            }
            one(out)
        }
        "GatherElements" => one(ctx.shape(1)?.to_vec()),
        "GatherND" => {
            // data rank r, indices rank q, batch_dims b: indices.shape[..q-1]
            // then data.shape[b + indices.shape[-1]..].
            let (data, idx) = (ctx.shape(0)?, ctx.shape(1)?);
            let b = usize::try_from(attrs.int("batch_dims").unwrap_or(0))
                .map_err(|_| "batch_dims is negative")?;
            let last = *idx.last().ok_or("indices is a scalar")?;
            if b + last > data.len() {
                return Err(format!("indices {idx:?} index past the rank of {data:?}"));
            }
            let mut out = idx[..idx.len() - 1].to_vec();
            out.extend_from_slice(&data[b + last..]);
            one(out)
        }
        "DepthToSpace" | "SpaceToDepth" => {
            let x = ctx.shape(0)?;
            let b = dim(
                attrs.int("blocksize").ok_or("blocksize is missing")?,
                "blocksize",
            )?
            .max(1);
            if x.len() != 4 {
                return Err(format!("expects [N, C, H, W], got {x:?}"));
            }
            one(if op == "DepthToSpace" {
                if x[1] % (b * b) != 0 {
                    return Err(format!(
                        "{} channels do not split into blocks of {b}x{b}",
                        x[1]
                    ));
                }
                vec![x[0], x[1] / (b * b), x[2] * b, x[3] * b]
            } else {
                if x[2] % b != 0 || x[3] % b != 0 {
                    return Err(format!("{x:?} does not tile into blocks of {b}"));
                }
                vec![x[0], x[1] * b * b, x[2] / b, x[3] / b]
            })
        }
        "TopK" => {
            // values and indices: the input with `k` along `axis` (default -1).
            let x = ctx.shape(0)?;
            let k = match ctx.const_ints(1)? {
                Some(k) => *k.first().ok_or("k is empty")?,
                None => attrs.int("k").ok_or("k is missing")?,
            };
            let a = axis(attrs.int("axis").unwrap_or(-1), x.len())?;
            let mut out = x.to_vec();
            out[a] = dim(k, "k")?.min(x[a]);
            one(out)
        }
        "Compress" => {
            let x = ctx.shape(0)?;
            let condition = ctx
                .const_floats(1)?
                .ok_or("the kept count is known only for a constant condition")?;
            let kept = condition.iter().filter(|&&c| c != 0.0).count();
            match attrs.int("axis") {
                Some(a) => {
                    let a = axis(a, x.len())?;
                    let mut out = x.to_vec();
                    out[a] = kept.min(x[a]);
                    one(out)
                }
                None => one(vec![kept.min(x.iter().product())]),
            }
        }
        "Gather" => {
            let (x, idx) = (ctx.shape(0)?, ctx.shape(1)?);
            if x.is_empty() {
                return Err("cannot gather from a scalar".into());
            }
            let a = axis(attrs.int("axis").unwrap_or(0), x.len())?;
            let mut out = x[..a].to_vec();
            out.extend_from_slice(idx);
            out.extend_from_slice(&x[a + 1..]);
            one(out)
        }
        "Pad" => {
            let x = ctx.shape(0)?;
            let pads = ctx
                .const_ints(1)?
                .or_else(|| attrs.ints("pads").map(<[i64]>::to_vec))
                .ok_or("pads is missing")?;
            let axes: Vec<usize> = match ctx.const_ints(3)? {
                Some(a) => a
                    .iter()
                    .map(|&v| axis(v, x.len()))
                    .collect::<Result<_, _>>()?,
                None => (0..x.len()).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
            }
            let mut out = x.to_vec();
            for (i, &a) in axes.iter().enumerate() {
                let len = (out[a] as i64)
                    .saturating_add(pads[i])
                    .saturating_add(pads[i + axes.len()]);
                out[a] = dim(len, "padded extent")?;
            }
            one(out)
        }
        "Expand" => {
            let x = ctx.shape(0)?;
            let target: Vec<usize> = ctx
                .const_ints(1)?
                .ok_or("shape is missing")?
                .iter()
                .map(|&v| dim(v, "shape"))
                .collect::<Result<_, _>>()?;
            one(broadcast([x, target.as_slice()])?)
        }
        "Tile" => {
            let x = ctx.shape(0)?;
            let reps = ctx.const_ints(1)?.ok_or("repeats is missing")?;
            if reps.len() != x.len() {
                return Err(format!("repeats {reps:?} do not match rank {}", x.len()));
            }
            one(x
                .iter()
                .zip(&reps)
                .map(|(&d, &r)| Ok(d * dim(r, "repeat")?))
                .collect::<Result<_, String>>()?)
        }
        _ => Err(no_rule(op)),
    }
}

fn reshape(x: &[usize], target: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total: usize = x.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *x.get(i)
                    .ok_or("0 in the target shape past the input rank")?,
            ),
            t => out.push(dim(t, "target dim")?),
        }
    }
    check_size(&out)?;
    let known: usize = out.iter().product();
    if let Some(i) = infer_at {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {x:?} to {target:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {x:?} ({total} elements) to {target:?}"
        ));
    }
    Ok(out)
}

fn slice_len(len: usize, start: i64, end: i64, step: i64) -> Result<usize, String> {
    if step == 0 {
        return Err("slice step is 0".into());
    }
    let n = len as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (s, e) = (norm(start), norm(end));
    let count = if step > 0 {
        let (s, e) = (s.clamp(0, n), e.clamp(0, n));
        if e > s { (e - s + step - 1) / step } else { 0 }
    } else {
        let (s, e) = (s.clamp(-1, n - 1), e.clamp(-1, n - 1));
        if s > e {
            (s - e + (-step) - 1) / (-step)
        } else {
            0
        }
    };
    Ok(count as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_and_slice() {
        assert_eq!(
            reshape(&[1, 512, 1, 1], &[1, -1], false).unwrap(),
            vec![1, 512]
        );
        assert_eq!(reshape(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert!(reshape(&[2, 3], &[4, -1], false).is_err());
        assert_eq!(slice_len(10, 0, i64::MAX, 1).unwrap(), 10);
        assert_eq!(slice_len(10, -3, i64::MAX, 1).unwrap(), 3);
        assert_eq!(slice_len(10, 1, 8, 3).unwrap(), 3);
        assert_eq!(slice_len(10, -1, i64::MIN, -1).unwrap(), 10);
    }
}
