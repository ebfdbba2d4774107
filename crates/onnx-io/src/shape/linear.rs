//! The linear family: `Gemm` and `MatMul` (NumPy matmul semantics, batch
//! dimensions broadcast).

use super::broadcast::broadcast;
use super::{Ctx, Shapes, no_rule};

/// `Gemm` (2-D, optional transposes) and `MatMul`.
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
        "MatMul" => one(matmul(ctx.shape(0)?, ctx.shape(1)?)?),
        _ => Err(no_rule(op)),
    }
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
}
