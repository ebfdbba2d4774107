//! Value folding: the values of a node whose inputs are all constants, for
//! the ops that do shape arithmetic (so that a later `Reshape` or `Slice` sees
//! constant operands).

use super::Operand;
use super::generator::shape_range;
use crate::attrs::Attrs;

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
        "Size" => vec![
            inputs
                .first()
                .copied()
                .flatten()?
                .shape
                .iter()
                .product::<usize>() as f64,
        ],
        "Cast" if !attrs.int("to").is_none_or(super::is_float_type) => {
            vals(0)?.iter().map(|v| v.trunc()).collect()
        }
        "Identity" | "Cast" | "CastLike" | "Reshape" | "Squeeze" | "Unsqueeze" | "Flatten" => {
            vals(0)?.to_vec()
        }
        "Floor" => vals(0)?.iter().map(|v| v.floor()).collect(),
        "Ceil" => vals(0)?.iter().map(|v| v.ceil()).collect(),
        "Neg" => vals(0)?.iter().map(|v| -v).collect(),
        "Sqrt" => vals(0)?.iter().map(|v| v.sqrt()).collect(),
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Max" | "Min" | "Equal" => {
            let (a, b) = (vals(0)?, vals(1)?);
            // Integer tensors divide as integers (ONNX truncates).
            let integer = inputs.iter().flatten().all(|o| !o.is_float);
            let f = |x: f64, y: f64| match op {
                "Div" if integer => (x / y).trunc(),
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
        "Slice" => slice_values(attrs, inputs, out_shape)?,
        "Transpose" => {
            let x = inputs.first().copied().flatten()?;
            let perm: Vec<usize> = match attrs.ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&a| usize::try_from(a).ok())
                    .collect::<Option<_>>()?,
                None => (0..x.shape.len()).rev().collect(),
            };
            if perm.len() != x.shape.len() {
                return None;
            }
            let strides = row_major_strides(x.shape);
            let axes: Vec<(usize, i64, i64)> = perm
                .iter()
                .map(|&a| Some((*x.shape.get(a)?, 0, strides[a])))
                .collect::<Option<_>>()?;
            strided(x.values?, &axes)?
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

/// Row-major element strides of `shape`.
fn row_major_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1].saturating_mul(shape[a + 1] as i64);
    }
    strides
}

/// The elements of `data` at `offset_a + i_a * stride_a` (summed over axes)
/// for every output index, axes given as `(count, offset, stride)` in output
/// order; `None` when an index falls outside `data`.
fn strided(data: &[f64], axes: &[(usize, i64, i64)]) -> Option<Vec<f64>> {
    let total = axes.iter().map(|a| a.0).product::<usize>();
    let base: i64 = axes.iter().map(|a| a.1).sum();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; axes.len()];
    for _ in 0..total {
        let at = base
            + index
                .iter()
                .zip(axes)
                .map(|(&i, a)| i as i64 * a.2)
                .sum::<i64>();
        out.push(*data.get(usize::try_from(at).ok()?)?);
        for a in (0..axes.len()).rev() {
            index[a] += 1;
            if index[a] < axes[a].0 {
                break;
            }
            index[a] = 0;
        }
    }
    Some(out)
}

/// A `Slice` of a constant, any rank and step (negative steps read backwards:
/// exporters reverse pad lists that way), starts/ends/axes/steps as inputs
/// (opset 10+) or attributes (before).
fn slice_values(
    attrs: &Attrs,
    inputs: &[Option<Operand>],
    out_shape: &[usize],
) -> Option<Vec<f64>> {
    let x = inputs.first().copied().flatten()?;
    let ints = |i: usize, attr: &str| -> Option<Vec<i64>> {
        match attrs.ints(attr) {
            Some(v) => Some(v.to_vec()),
            None => inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|o| o.values)
                .map(|v| v.iter().map(|&f| f as i64).collect()),
        }
    };
    let (starts, ends) = (ints(1, "starts")?, ints(2, "ends")?);
    let rank = x.shape.len() as i64;
    let axes = ints(3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints(4, "steps").unwrap_or_else(|| vec![1; starts.len()]);
    if [ends.len(), axes.len(), steps.len()]
        .iter()
        .any(|&l| l != starts.len())
    {
        return None;
    }
    let strides = row_major_strides(x.shape);
    // (count, first index, step) per axis; untouched axes are whole.
    let mut per_axis: Vec<(usize, i64, i64)> = x.shape.iter().map(|&d| (d, 0, 1)).collect();
    for k in 0..starts.len() {
        let a = if axes[k] < 0 { axes[k] + rank } else { axes[k] };
        let dim = *x.shape.get(usize::try_from(a).ok()?)? as i64;
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let step = steps[k];
        let (first, count) = match step {
            0 => return None,
            s if s > 0 => {
                let (b, e) = (norm(starts[k]).clamp(0, dim), norm(ends[k]).clamp(0, dim));
                (b, ((e - b).max(0) as u64).div_ceil(s as u64) as i64)
            }
            s => {
                let (b, e) = (
                    norm(starts[k]).clamp(-1, dim - 1),
                    norm(ends[k]).clamp(-1, dim - 1),
                );
                (b, ((b - e).max(0) as u64).div_ceil(s.unsigned_abs()) as i64)
            }
        };
        per_axis[a as usize] = (count as usize, first, step);
    }
    if per_axis.iter().map(|a| a.0).ne(out_shape.iter().copied()) {
        return None;
    }
    let axes: Vec<(usize, i64, i64)> = per_axis
        .iter()
        .zip(&strides)
        .map(|(&(count, first, step), &stride)| (count, first * stride, step * stride))
        .collect();
    strided(x.values?, &axes)
}

/// The values of each output of a `Split` of a constant: the input's values
/// cut along `axis` into the inferred `shapes`.
pub(crate) fn fold_split(
    attrs: &Attrs,
    inputs: &[Option<Operand>],
    shapes: &[Vec<usize>],
) -> Option<Vec<Vec<f64>>> {
    let x = inputs.first().copied().flatten()?;
    let values = x.values?;
    let a = super::axis(attrs.int("axis").unwrap_or(0), x.shape.len()).ok()?;
    // Row-major: `outer` blocks, each `x.shape[a] * inner` values long.
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a + 1..].iter().product();
    let mut parts = vec![Vec::new(); shapes.len()];
    for o in 0..outer {
        let mut at = o * x.shape[a] * inner;
        for (part, shape) in parts.iter_mut().zip(shapes) {
            let len = shape.get(a)? * inner;
            part.extend_from_slice(values.get(at..at + len)?);
            at += len;
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::NodeProto;

    fn int(shape: &'static [usize], values: &'static [f64]) -> Option<Operand<'static>> {
        Some(Operand {
            shape,
            values: Some(values),
            is_float: false,
        })
    }

    #[test]
    fn transpose_and_reversing_slices_fold() {
        let node = NodeProto::default();
        let attrs = Attrs::of(&node);
        let x = int(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            fold_values("Transpose", &attrs, &[x], &[3, 2]),
            Some(vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        );
        // The exporters' pad reversal: [[a, b], [c, d]] read backwards on axis 0.
        let pads = int(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let inputs = [
            pads,
            int(&[1], &[-1.0]),
            int(&[1], &[-9.223_372_036_854_776e18]),
            int(&[1], &[0.0]),
            int(&[1], &[-1.0]),
        ];
        assert_eq!(
            fold_values("Slice", &attrs, &inputs, &[2, 2]),
            Some(vec![3.0, 4.0, 1.0, 2.0])
        );
        // A forward slice with a step on the last axis.
        let inputs = [
            x,
            int(&[1], &[0.0]),
            int(&[1], &[3.0]),
            int(&[1], &[1.0]),
            int(&[1], &[2.0]),
        ];
        assert_eq!(
            fold_values("Slice", &attrs, &inputs, &[2, 2]),
            Some(vec![1.0, 3.0, 4.0, 6.0])
        );
        // An inferred shape that disagrees folds nothing.
        assert_eq!(fold_values("Slice", &attrs, &inputs, &[2, 3]), None);
    }
}
