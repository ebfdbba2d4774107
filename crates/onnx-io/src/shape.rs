//! Static shape inference (and value folding for shape arithmetic) for every op
//! in the extended vocabulary. Errors are plain reasons; the importer adds the
//! file, node and op.

use crate::attrs::Attrs;

/// What the inference of one node sees of one input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub shape: &'a [usize],
    /// Known values (constants only).
    pub values: Option<&'a [f64]>,
}

type Shapes = Result<Vec<Vec<usize>>, String>;

struct Ctx<'a, 'b> {
    attrs: &'b Attrs<'a>,
    inputs: &'b [Option<Operand<'b>>],
}

impl<'b> Ctx<'_, 'b> {
    fn input(&self, i: usize) -> Result<Operand<'b>, String> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("required input {i} is missing"))
    }

    fn shape(&self, i: usize) -> Result<&'b [usize], String> {
        Ok(self.input(i)?.shape)
    }

    fn has(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    /// Integer values of a constant input (`None` when the input is absent).
    fn const_ints(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        if !self.has(i) {
            return Ok(None);
        }
        let values = self.input(i)?.values.ok_or_else(|| {
            format!("input {i} must be a constant whose values are in the file (it is computed at run time or stripped)")
        })?;
        Ok(Some(values.iter().map(|&v| v as i64).collect()))
    }

    fn const_floats(&self, i: usize) -> Result<Option<Vec<f64>>, String> {
        if !self.has(i) {
            return Ok(None);
        }
        let values = self
            .input(i)?
            .values
            .ok_or_else(|| format!("input {i} must be a constant whose values are in the file"))?;
        Ok(Some(values.to_vec()))
    }

    /// Axes from the attribute (older opsets) or from constant input `i`.
    fn axes(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        if let Some(a) = self.attrs.ints("axes") {
            return Ok(Some(a.to_vec()));
        }
        self.const_ints(i)
    }
}

fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let norm = if a < 0 { a + r } else { a };
    if (0..r.max(1)).contains(&norm) {
        Ok(norm as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

fn dim(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} {v} is negative"))
}

/// Multidirectional (numpy) broadcasting.
pub(crate) fn broadcast<'s>(
    shapes: impl IntoIterator<Item = &'s [usize]>,
) -> Result<Vec<usize>, String> {
    let mut out: Vec<usize> = Vec::new();
    for s in shapes {
        if s.len() > out.len() {
            let mut grown = vec![1; s.len() - out.len()];
            grown.extend_from_slice(&out);
            out = grown;
        }
        let offset = out.len() - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[offset + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes do not broadcast ({d} against {o})"));
            }
        }
    }
    Ok(out)
}

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
        same,
    })
}

fn windowed(x: &[usize], channels: usize, w: &Window, ceil: bool) -> Result<Vec<usize>, String> {
    let mut out = vec![x[0], channels];
    for (i, &len) in x[2..].iter().enumerate() {
        out.push(if w.same {
            len.div_ceil(w.strides[i].max(1))
        } else {
            window_out(
                len,
                w.kernel[i],
                w.strides[i],
                w.pads[i],
                w.dilations[i],
                ceil,
            )?
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

/// Largest tensor (in elements) a shape may describe: beyond it a file is
/// corrupt or hostile, and products of its dims could overflow.
pub(crate) const MAX_ELEMENTS: u128 = 1 << 40;

/// Rejects shapes of more than [`MAX_ELEMENTS`] elements.
pub(crate) fn check_size(shape: &[usize]) -> Result<(), String> {
    let numel = shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
    match numel {
        Some(n) if n <= MAX_ELEMENTS => Ok(()),
        _ => Err(format!("shape {shape:?} is implausibly large")),
    }
}

/// The output shapes of an ONNX op, one per output, each checked by [`check_size`].
pub(crate) fn infer(op: &str, attrs: &Attrs, inputs: &[Option<Operand>], outputs: usize) -> Shapes {
    let shapes = infer_unchecked(op, attrs, inputs, outputs)?;
    for s in &shapes {
        check_size(s)?;
    }
    Ok(shapes)
}

fn infer_unchecked(op: &str, attrs: &Attrs, inputs: &[Option<Operand>], outputs: usize) -> Shapes {
    let ctx = Ctx { attrs, inputs };
    let one = |s: Vec<usize>| Ok(vec![s; outputs.max(1)]);
    match op {
        "Relu"
        | "Sigmoid"
        | "Tanh"
        | "Sqrt"
        | "Clip"
        | "Softmax"
        | "LogSoftmax"
        | "BatchNormalization"
        | "LayerNormalization"
        | "InstanceNormalization"
        | "Gelu"
        | "Erf"
        | "HardSwish"
        | "HardSigmoid"
        | "Identity"
        | "Dropout"
        | "Exp"
        | "Log"
        | "Neg"
        | "Abs"
        | "Reciprocal"
        | "LeakyRelu"
        | "Elu"
        | "Softplus"
        | "Cast"
        | "Floor"
        | "Ceil"
        | "Mish"
        | "Not"
        | "Sin"
        | "Cos" => one(ctx.shape(0)?.to_vec()),
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Pow" | "Max" | "Min" | "Where" | "Equal"
        | "Less" | "Greater" | "PRelu" => {
            let shapes: Vec<&[usize]> = inputs.iter().flatten().map(|o| o.shape).collect();
            if shapes.is_empty() {
                return Err("has no inputs".into());
            }
            one(broadcast(shapes)?)
        }
        "Conv" => {
            let x = image(ctx.shape(0)?)?;
            let w = ctx.shape(1)?;
            if w.len() != x.len() {
                return Err(format!("weight {w:?} does not match input {x:?}"));
            }
            let group = dim(attrs.int("group").unwrap_or(1), "group")?.max(1);
            if Some(x[1]) != w[1].checked_mul(group) {
                return Err(format!(
                    "input has {} channels but weight {w:?} with group {group} expects {}",
                    x[1],
                    w[1].saturating_mul(group)
                ));
            }
            let win = window(&ctx, x.len() - 2, Some(&w[2..]))?;
            one(windowed(x, w[0], &win, false)?)
        }
        "ConvTranspose" => {
            let x = image(ctx.shape(0)?)?;
            let w = ctx.shape(1)?;
            if w.len() != x.len() {
                return Err(format!("weight {w:?} does not match input {x:?}"));
            }
            let group = dim(attrs.int("group").unwrap_or(1), "group")?.max(1);
            let win = window(&ctx, x.len() - 2, Some(&w[2..]))?;
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
        "MaxPool" | "AveragePool" => {
            let x = image(ctx.shape(0)?)?;
            let win = window(&ctx, x.len() - 2, None)?;
            let ceil = attrs.int("ceil_mode").unwrap_or(0) != 0;
            one(windowed(x, x[1], &win, ceil)?)
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let x = image(ctx.shape(0)?)?;
            let mut out = x[..2].to_vec();
            out.extend(std::iter::repeat_n(1, x.len() - 2));
            one(out)
        }
        "Gemm" => {
            let (a, b) = (ctx.shape(0)?, ctx.shape(1)?);
            if a.len() != 2 || b.len() != 2 {
                return Err(format!("expects 2-D operands, got {a:?} and {b:?}"));
            }
            let (m, ka) = if attrs.int("transA").unwrap_or(0) != 0 {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let (kb, n) = if attrs.int("transB").unwrap_or(0) != 0 {
                (b[1], b[0])
            } else {
                (b[0], b[1])
            };
            if ka != kb {
                return Err(format!("inner dims differ: {a:?} x {b:?}"));
            }
            one(vec![m, n])
        }
        "MatMul" => one(matmul(ctx.shape(0)?, ctx.shape(1)?)?),
        "Flatten" => {
            let x = ctx.shape(0)?;
            let a = axis(attrs.int("axis").unwrap_or(1), x.len() + 1)?;
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
        _ => Err(format!("no shape inference for op '{op}'")),
    }
}

fn shape_range(attrs: &Attrs, rank: usize) -> Result<(usize, usize), String> {
    let clamp = |v: i64| -> usize {
        let v = if v < 0 { v + rank as i64 } else { v };
        v.clamp(0, rank as i64) as usize
    };
    let start = clamp(attrs.int("start").unwrap_or(0));
    let end = clamp(attrs.int("end").unwrap_or(rank as i64));
    Ok((start, end.max(start)))
}

fn matmul(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(format!("inner dims differ: {a:?} x {b:?}"));
    }
    let mut out = broadcast([&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
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

/// Folded constants larger than this keep only their dims (shape arithmetic is tiny).
const MAX_FOLDED: usize = 4096;

/// Values of a node whose inputs are all constants, for the ops that do shape
/// arithmetic. `None` when the op is not one of them (the dims are still known).
pub(crate) fn fold_values(
    op: &str,
    attrs: &Attrs,
    inputs: &[Option<Operand>],
    out_shape: &[usize],
) -> Option<Vec<f64>> {
    let vals = |i: usize| inputs.get(i).copied().flatten().and_then(|o| o.values);
    let numel = out_shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_FOLDED)?;
    let values: Vec<f64> = match op {
        "Shape" => {
            let x = inputs.first().copied().flatten()?.shape;
            let (s, e) = shape_range(attrs, x.len()).ok()?;
            x[s..e].iter().map(|&d| d as f64).collect()
        }
        "Identity" | "Cast" | "Reshape" | "Squeeze" | "Unsqueeze" | "Flatten" => vals(0)?.to_vec(),
        "Floor" => vals(0)?.iter().map(|v| v.floor()).collect(),
        "Ceil" => vals(0)?.iter().map(|v| v.ceil()).collect(),
        "Neg" => vals(0)?.iter().map(|v| -v).collect(),
        "Sqrt" => vals(0)?.iter().map(|v| v.sqrt()).collect(),
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Max" | "Min" | "Equal" => {
            let (a, b) = (vals(0)?, vals(1)?);
            let f = |x: f64, y: f64| match op {
                "Add" => x + y,
                "Sub" => x - y,
                "Mul" => x * y,
                "Div" => x / y,
                "Mod" => x % y,
                "Max" => x.max(y),
                "Min" => x.min(y),
                _ => f64::from(u8::from(x == y)),
            };
            match (a.len(), b.len()) {
                (n, m) if n == m => a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect(),
                (1, _) => b.iter().map(|&y| f(a[0], y)).collect(),
                (_, 1) => a.iter().map(|&x| f(x, b[0])).collect(),
                _ => return None,
            }
        }
        "Where" => {
            let (c, a, b) = (vals(0)?, vals(1)?, vals(2)?);
            let at = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
            if [c.len(), a.len(), b.len()]
                .iter()
                .any(|&l| l != 1 && l != numel)
            {
                return None;
            }
            (0..numel)
                .map(|i| if at(c, i) != 0.0 { at(a, i) } else { at(b, i) })
                .collect()
        }
        "Gather" => {
            let (data, idx) = (vals(0)?, vals(1)?);
            let x = inputs.first().copied().flatten()?.shape;
            if x.len() != 1 {
                return None;
            }
            idx.iter()
                .map(|&i| {
                    let i = if i < 0.0 { i + data.len() as f64 } else { i } as usize;
                    data.get(i).copied()
                })
                .collect::<Option<_>>()?
        }
        "Concat" => {
            let mut out = Vec::new();
            for o in inputs.iter().flatten() {
                if o.shape.len() > 1 {
                    return None;
                }
                out.extend_from_slice(o.values?);
            }
            out
        }
        "Slice" => {
            let data = vals(0)?;
            let x = inputs.first().copied().flatten()?.shape;
            if x.len() != 1 {
                return None;
            }
            let get = |i: usize| vals(i).and_then(|v| v.first().copied()).map(|v| v as i64);
            let (start, end, step) = match attrs.ints("starts") {
                Some(s) => (s[0], attrs.ints("ends")?[0], 1),
                None => (get(1)?, get(2)?, get(4).unwrap_or(1)),
            };
            let n = data.len() as i64;
            let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
            if step <= 0 {
                return None;
            }
            let (s, e) = (norm(start).clamp(0, n), norm(end).clamp(0, n));
            (s..e)
                .step_by(step as usize)
                .map(|i| data[i as usize])
                .collect()
        }
        "ConstantOfShape" => {
            let fill = attrs
                .tensor("value")
                .and_then(|t| crate::constant::Const::from_proto(t).ok())
                .and_then(|c| c.values)
                .and_then(|v| v.first().copied())
                .unwrap_or(0.0);
            vec![fill; numel]
        }
        "Range" => {
            let v = |i: usize| vals(i).and_then(|v| v.first().copied());
            let (start, delta) = (v(0)?, v(2)?);
            (0..numel).map(|i| start + delta * i as f64).collect()
        }
        "Expand" => {
            let data = vals(0)?;
            if data.len() != 1 {
                return None;
            }
            vec![data[0]; numel]
        }
        _ => return None,
    };
    (values.len() == numel).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_of_the_extended_vocabulary_has_shape_inference() {
        use crate::proto::NodeProto;
        let node = NodeProto::default();
        let attrs = Attrs::of(&node);
        let x = [1usize, 4, 8, 8];
        let values = [1.0f64; 4];
        let operand = Operand {
            shape: &x,
            values: Some(&values),
        };
        for op in tokenizer::NetworkVocab::Extended.op_names() {
            if op == "Input" {
                continue;
            }
            // Missing attributes may still fail; what must not happen is an op with no rule.
            if let Err(e) = infer(op, &attrs, &[Some(operand), Some(operand)], 1) {
                assert!(!e.contains("no shape inference"), "{op}: {e}");
            }
        }
        assert!(infer("NoSuchOp", &attrs, &[Some(operand)], 1).is_err());
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast([&[2, 1, 4][..], &[3, 1]]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast([&[2, 3][..], &[4, 3]]).is_err());
    }

    #[test]
    fn window_sizes() {
        // ResNet stem: 224, k7 s2 p3+3 -> 112; max pool k3 s2 p1+1 -> 56.
        assert_eq!(window_out(224, 7, 2, 6, 1, false).unwrap(), 112);
        assert_eq!(window_out(112, 3, 2, 2, 1, false).unwrap(), 56);
        // ceil mode (SqueezeNet): 109, k3 s2 -> 54.
        assert_eq!(window_out(109, 3, 2, 0, 1, true).unwrap(), 54);
        assert!(window_out(2, 5, 1, 0, 1, false).is_err());
    }

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

    #[test]
    fn matmul_broadcasts_batch_dims() {
        assert_eq!(
            matmul(&[1, 3, 50, 64], &[1, 3, 64, 50]).unwrap(),
            vec![1, 3, 50, 50]
        );
        assert_eq!(
            matmul(&[1, 50, 192], &[192, 768]).unwrap(),
            vec![1, 50, 768]
        );
        assert!(matmul(&[2, 3], &[4, 5]).is_err());
    }
}
