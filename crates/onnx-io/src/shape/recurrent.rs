//! The recurrent family: `RNN`, `GRU`, `LSTM` over `X = [seq, batch, input]`
//! (`layout = 1`: `[batch, seq, input]`), with their optional outputs: `Y`
//! (`[seq, directions, batch, hidden]`, or `[batch, seq, directions, hidden]`),
//! `Y_h` and, for LSTM, `Y_c` (`[directions, batch, hidden]`, or batch first).

use super::{Ctx, Shapes, dim};

/// The number of directions the `direction` attribute asks for.
pub(crate) fn directions(ctx: &Ctx) -> Result<usize, String> {
    match ctx.attrs.string("direction").unwrap_or("forward") {
        "forward" | "reverse" => Ok(1),
        "bidirectional" => Ok(2),
        other => Err(format!(
            "direction {other:?} is not forward, reverse or bidirectional"
        )),
    }
}

/// The hidden size: the `hidden_size` attribute, else the last dim of `R`.
pub(crate) fn hidden_size(ctx: &Ctx) -> Result<usize, String> {
    match ctx.attrs.int("hidden_size") {
        Some(h) => dim(h, "hidden_size"),
        None => ctx
            .shape(2)?
            .get(2)
            .copied()
            .ok_or_else(|| "hidden_size is missing and R is not 3-D".into()),
    }
}

pub(super) fn infer(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let x = ctx.shape(0)?;
    let w = ctx.shape(1)?;
    if x.len() != 3 {
        return Err(format!("X must be 3-D, got {x:?}"));
    }
    let batch_first = ctx.attrs.int("layout").unwrap_or(0) != 0;
    let (seq, batch) = if batch_first {
        (x[1], x[0])
    } else {
        (x[0], x[1])
    };
    let dirs = directions(ctx)?;
    let hidden = hidden_size(ctx)?;
    let gates = match op {
        "RNN" => 1,
        "GRU" => 3,
        _ => 4,
    };
    if w.len() != 3 || w[0] != dirs || w[1] != gates * hidden || w[2] != x[2] {
        return Err(format!(
            "W {w:?} does not match {dirs} direction(s) x {gates} gate(s) x hidden {hidden} \
             over input size {}",
            x[2]
        ));
    }
    let y = if batch_first {
        vec![batch, seq, dirs, hidden]
    } else {
        vec![seq, dirs, batch, hidden]
    };
    let state = if batch_first {
        vec![batch, dirs, hidden]
    } else {
        vec![dirs, batch, hidden]
    };
    let mut shapes = vec![y];
    shapes.extend(std::iter::repeat_n(state, outputs.saturating_sub(1)));
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    use super::super::infer;
    use super::super::test_util::{int, node, op, string};
    use crate::attrs::Attrs;

    #[test]
    fn lstm_outputs_follow_layout_and_direction() {
        // seq 7, batch 2, input 5, hidden 3, bidirectional: W [2, 12, 5], R [2, 12, 3].
        let n = node(vec![
            int("hidden_size", 3),
            string("direction", "bidirectional"),
        ]);
        let a = Attrs::of(&n);
        let shapes = infer(
            "LSTM",
            &a,
            &[op(&[7, 2, 5]), op(&[2, 12, 5]), op(&[2, 12, 3])],
            3,
        );
        assert_eq!(
            shapes.unwrap(),
            vec![vec![7, 2, 2, 3], vec![2, 2, 3], vec![2, 2, 3]]
        );
        // Batch first, forward GRU: X [2, 7, 5], W [1, 9, 5].
        let n = node(vec![int("hidden_size", 3), int("layout", 1)]);
        let a = Attrs::of(&n);
        let shapes = infer(
            "GRU",
            &a,
            &[op(&[2, 7, 5]), op(&[1, 9, 5]), op(&[1, 9, 3])],
            2,
        );
        assert_eq!(shapes.unwrap(), vec![vec![2, 7, 1, 3], vec![2, 1, 3]]);
    }

    #[test]
    fn bad_recurrent_inputs_are_named_errors() {
        let n = node(vec![int("hidden_size", 3)]);
        let a = Attrs::of(&n);
        // W sized for LSTM given to an RNN.
        let e = infer(
            "RNN",
            &a,
            &[op(&[7, 2, 5]), op(&[1, 12, 5]), op(&[1, 12, 3])],
            1,
        );
        assert!(e.unwrap_err().contains("does not match"));
        // A 2-D X, and a missing W.
        assert!(infer("RNN", &a, &[op(&[7, 5]), op(&[1, 3, 5])], 1).is_err());
        assert!(
            infer("RNN", &a, &[op(&[7, 2, 5])], 1)
                .unwrap_err()
                .contains("missing")
        );
        let n = node(vec![int("hidden_size", 3), string("direction", "sideways")]);
        let a = Attrs::of(&n);
        let e = infer(
            "RNN",
            &a,
            &[op(&[7, 2, 5]), op(&[1, 3, 5]), op(&[1, 3, 3])],
            1,
        );
        assert!(e.unwrap_err().contains("sideways"));
    }
}
