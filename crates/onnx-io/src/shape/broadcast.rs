//! The broadcast family: NumPy (multidirectional) broadcasting of every input.

use super::{Ctx, Shapes};

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

/// Arithmetic, comparisons, logic, `Where`, `PRelu` and the variadic `Sum`,
/// `Mean`, `Max`, `Min`: the broadcast of every present input (one rule for
/// the whole family, so every op the catalogue puts here has it).
pub(super) fn infer(ctx: &Ctx, outputs: usize) -> Shapes {
    let shapes: Vec<&[usize]> = ctx.inputs.iter().flatten().map(|o| o.shape).collect();
    if shapes.is_empty() {
        return Err("has no inputs".into());
    }
    Ok(vec![broadcast(shapes)?; outputs.max(1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast([&[2, 1, 4][..], &[3, 1]]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast([&[2, 3][..], &[4, 3]]).is_err());
    }
}
