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
