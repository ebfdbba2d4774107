//! The linear family: `Gemm` and `MatMul` (NumPy matmul semantics, batch
//! dimensions broadcast).

use super::broadcast::broadcast;
use super::{Ctx, Shapes, no_rule};

/// `Gemm` (2-D, optional transposes), `MatMul`, the quantised matmuls and `Einsum`.
pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let attrs = ctx.attrs;
    let one = |s: Vec<usize>| -> Shapes { Ok(vec![s; outputs.max(1)]) };
    match op {
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
        "MatMul" | "MatMulInteger" => one(matmul(ctx.shape(0)?, ctx.shape(1)?)?),
        "QLinearMatMul" => one(matmul(ctx.shape(0)?, ctx.shape(3)?)?),
        "Einsum" => {
            let shapes: Vec<&[usize]> = ctx.inputs.iter().flatten().map(|o| o.shape).collect();
            one(einsum(
                ctx.attrs.string("equation").ok_or("equation is missing")?,
                &shapes,
            )?
            .0)
        }
        _ => Err(no_rule(op)),
    }
}

/// The multiply-accumulates per output element of an `Einsum`: the product
/// of the sizes of the labels summed out (`"bhid,bhjd->bhij"`: `d`).
pub(crate) fn einsum_contracted(equation: &str, shapes: &[&[usize]]) -> Option<usize> {
    einsum(equation, shapes)
        .ok()
        .map(|(_, contracted)| contracted)
}

/// The output shape of an `Einsum` equation (`"ij,jk->ik"`; without `->`,
/// the labels used once, in alphabetical order; `...` broadcasts), and the
/// product of the sizes of the labels it sums out.
fn einsum(equation: &str, shapes: &[&[usize]]) -> Result<(Vec<usize>, usize), String> {
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != shapes.len() {
        return Err(format!("{} terms for {} inputs", terms.len(), shapes.len()));
    }
    let mut sizes: std::collections::BTreeMap<char, usize> = Default::default();
    let mut counts: std::collections::BTreeMap<char, usize> = Default::default();
    let mut ellipsis: Vec<usize> = Vec::new();
    for (term, shape) in terms.iter().zip(shapes) {
        let labels: Vec<char> = term.replace("...", "").chars().collect();
        let dots = shape
            .len()
            .checked_sub(labels.len())
            .ok_or_else(|| format!("term {term:?} has more labels than {shape:?} has dims"))?;
        let (mut at, broadcast) = (0, term.contains("..."));
        if !broadcast && dots != 0 {
            return Err(format!("term {term:?} does not match {shape:?}"));
        }
        for part in term.split("...").enumerate() {
            if part.0 == 1 {
                ellipsis =
                    super::broadcast::broadcast([ellipsis.as_slice(), &shape[at..at + dots]])?;
                at += dots;
            }
            for c in part.1.chars() {
                let d = shape[at];
                at += 1;
                let e = sizes.entry(c).or_insert(d);
                if *e == 1 {
                    *e = d;
                } else if d != 1 && d != *e {
                    return Err(format!("label {c} is {e} and {d}"));
                }
                *counts.entry(c).or_default() += 1;
            }
        }
    }
    let out_labels: String = match rhs {
        Some(r) => r.to_string(),
        None => {
            let once: String = counts
                .iter()
                .filter(|(_, n)| **n == 1)
                .map(|(c, _)| *c)
                .collect();
            if ellipsis.is_empty() {
                once
            } else {
                format!("...{once}")
            }
        }
    };
    let mut out = Vec::new();
    for (i, part) in out_labels.split("...").enumerate() {
        if i == 1 {
            out.extend_from_slice(&ellipsis);
        }
        for c in part.chars() {
            out.push(
                *sizes
                    .get(&c)
                    .ok_or_else(|| format!("output label {c} is not an input's"))?,
            );
        }
    }
    let contracted = sizes
        .iter()
        .filter(|(c, _)| !out_labels.contains(**c))
        .map(|(_, &d)| d)
        .product();
    Ok((out, contracted))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn einsum_equations() {
        assert_eq!(
            einsum("ij,jk->ik", &[&[2, 3], &[3, 4]]).unwrap(),
            (vec![2, 4], 3)
        );
        // Implicit output: the labels used once, sorted (b is summed, as in NumPy).
        assert_eq!(
            einsum("bij,bjk", &[&[5, 2, 3], &[5, 3, 4]]).unwrap(),
            (vec![2, 4], 15)
        );
        assert_eq!(
            einsum("...ii->...i", &[&[7, 3, 3]]).unwrap(),
            (vec![7, 3], 1)
        );
        assert_eq!(einsum("i,i", &[&[3], &[3]]).unwrap(), (vec![], 3));
        // Attention scores (MaxViT): the head dim is summed out.
        assert_eq!(
            einsum_contracted("bhid,bhjd->bhij", &[&[1, 2, 49, 32], &[1, 2, 49, 32]]),
            Some(32)
        );
        assert!(einsum("ij,jk->ik", &[&[2, 3], &[4, 4]]).is_err());
        assert!(einsum("ij->ik", &[&[2, 3]]).is_err());
        assert!(einsum("ij,jk", &[&[2, 3]]).is_err());
    }
}
