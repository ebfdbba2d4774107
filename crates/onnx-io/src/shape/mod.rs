//! Static shape inference (and value folding for shape arithmetic) for every op
//! of the catalogue (`graph_ir::catalogue`), one module per shape family; the
//! dispatch goes through the catalogue, so an op has a rule exactly when it is
//! catalogued. Errors are plain reasons; the importer adds the file, node and op.

mod broadcast;
mod detection;
mod fold;
mod generator;
mod layout;
pub(crate) mod linear;
pub(crate) mod recurrent;
mod reduce;
mod resample;
mod window;

pub(crate) use fold::{fold_split, fold_values};
use graph_ir::catalogue::{self, Family};

use crate::attrs::Attrs;

/// What the inference of one node sees of one input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub shape: &'a [usize],
    /// Known values (constants only).
    pub values: Option<&'a [f64]>,
    /// A floating-point tensor (integer arithmetic truncates when folded).
    pub is_float: bool,
}

pub(super) type Shapes = Result<Vec<Vec<usize>>, String>;

pub(super) struct Ctx<'a, 'b> {
    pub(super) attrs: &'b Attrs<'a>,
    pub(super) inputs: &'b [Option<Operand<'b>>],
}

impl<'b> Ctx<'_, 'b> {
    pub(super) fn input(&self, i: usize) -> Result<Operand<'b>, String> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("required input {i} is missing"))
    }

    pub(super) fn shape(&self, i: usize) -> Result<&'b [usize], String> {
        Ok(self.input(i)?.shape)
    }

    pub(super) fn has(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    /// Integer values of a constant input (`None` when the input is absent).
    pub(super) fn const_ints(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        if !self.has(i) {
            return Ok(None);
        }
        let values = self.input(i)?.values.ok_or_else(|| {
            format!("input {i} must be a constant whose values are in the file (it is computed at run time or stripped)")
        })?;
        Ok(Some(values.iter().map(|&v| v as i64).collect()))
    }

    pub(super) fn const_floats(&self, i: usize) -> Result<Option<Vec<f64>>, String> {
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
    pub(super) fn axes(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        if let Some(a) = self.attrs.ints("axes") {
            return Ok(Some(a.to_vec()));
        }
        self.const_ints(i)
    }
}

pub(super) fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let norm = if a < 0 { a + r } else { a };
    if (0..r.max(1)).contains(&norm) {
        Ok(norm as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

pub(super) fn dim(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} {v} is negative"))
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

/// Whether an ONNX `TensorProto.DataType` code is a floating-point type
/// (float, float16, double, bfloat16 and the float8 types).
pub(crate) fn is_float_type(code: i64) -> bool {
    matches!(code, 1 | 10 | 11 | 16 | 17..=20)
}

fn no_rule(op: &str) -> String {
    format!("no shape inference for op '{op}'")
}

/// The first input's shape for every output, but for the statistics outputs
/// of the normalisations: `LayerNormalization`'s mean and inverse std dev
/// (the input's dims before `axis`, then ones), `BatchNormalization`'s running
/// mean and variance in training mode (`[C]`), `DynamicQuantizeLinear`'s
/// scale and zero point (scalars).
fn unary(op: &str, ctx: &Ctx, outputs: usize) -> Shapes {
    let x = ctx.shape(0)?.to_vec();
    let stats = match op {
        "LayerNormalization" => {
            let a = axis(ctx.attrs.int("axis").unwrap_or(-1), x.len())?;
            let mut s = x[..a].to_vec();
            s.resize(x.len(), 1);
            s
        }
        "BatchNormalization" => vec![*x.get(1).ok_or("BatchNormalization of a 1-D input")?],
        // y_scale and y_zero_point are scalars.
        "DynamicQuantizeLinear" => Vec::new(),
        _ => x.clone(),
    };
    let mut shapes = vec![x];
    shapes.extend(std::iter::repeat_n(stats, outputs.saturating_sub(1)));
    Ok(shapes)
}

fn infer_unchecked(op: &str, attrs: &Attrs, inputs: &[Option<Operand>], outputs: usize) -> Shapes {
    let ctx = Ctx { attrs, inputs };
    match catalogue::family(op) {
        Some(Family::Unary) => unary(op, &ctx, outputs),
        Some(Family::Broadcast) => broadcast::infer(&ctx, outputs),
        Some(Family::Window) => window::infer(op, &ctx, outputs),
        Some(Family::GlobalPool) => window::infer_global(op, &ctx, outputs),
        Some(Family::Linear) => linear::infer(op, &ctx, outputs),
        Some(Family::Layout) => layout::infer(op, &ctx, outputs),
        Some(Family::Reduce) => reduce::infer(op, &ctx, outputs),
        Some(Family::Resample) => resample::infer(op, &ctx, outputs),
        Some(Family::Generator) => generator::infer(op, &ctx, outputs),
        Some(Family::Recurrent) => recurrent::infer(op, &ctx, outputs),
        Some(Family::Detection) => detection::infer(&ctx, outputs),
        None => Err(no_rule(op)),
    }
}

/// Building nodes and operands for the shape rules' unit tests.
#[cfg(test)]
pub(super) mod test_util {
    use super::Operand;
    use crate::proto::{AttributeProto, NodeProto, attribute_proto::AttributeType};

    pub fn node(attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            attribute: attrs,
            ..Default::default()
        }
    }

    pub fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::Int as i32),
            i: Some(v),
            ..Default::default()
        }
    }

    pub fn string(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::String as i32),
            s: Some(v.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    /// A data operand of `shape`.
    pub fn op(shape: &[usize]) -> Option<Operand<'_>> {
        Some(Operand {
            shape,
            values: None,
            is_float: true,
        })
    }

    /// A constant float operand.
    pub fn floats<'a>(shape: &'a [usize], values: &'a [f64]) -> Option<Operand<'a>> {
        Some(Operand {
            shape,
            values: Some(values),
            is_float: true,
        })
    }

    /// A constant integer operand.
    pub fn ints<'a>(shape: &'a [usize], values: &'a [f64]) -> Option<Operand<'a>> {
        Some(Operand {
            shape,
            values: Some(values),
            is_float: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{int, ints, node, op, string};
    use super::*;

    /// Each new family's rules reject wrong input counts, bad attributes and
    /// mismatched shapes with a reason (the importer adds file, node and op).
    #[test]
    fn bad_inputs_of_every_family_are_named_errors() {
        let none = node(vec![]);
        let a = Attrs::of(&none);
        let expect = |op_type: &str, attrs: &Attrs, inputs: &[Option<Operand>], needle: &str| {
            let e = infer(op_type, attrs, inputs, 1).unwrap_err();
            assert!(e.contains(needle), "{op_type}: {e}");
        };
        // Missing inputs.
        expect("Add", &a, &[], "no inputs");
        for op_type in ["Conv", "MatMul", "Reshape", "ReduceSum", "Resize", "LSTM"] {
            expect(op_type, &a, &[], "missing");
        }
        // Mismatched shapes.
        expect("Sum", &a, &[op(&[2, 3]), op(&[4, 3])], "broadcast");
        expect(
            "QLinearMatMul",
            &a,
            &[op(&[2, 3]), None, None, op(&[4, 5])],
            "inner dims",
        );
        expect(
            "GridSample",
            &a,
            &[op(&[1, 3, 8, 8]), op(&[1, 4, 2])],
            "grid",
        );
        let gather = node(vec![int("batch_dims", 0)]);
        expect(
            "GatherND",
            &Attrs::of(&gather),
            &[op(&[2, 3]), op(&[4, 3])],
            "rank",
        );
        // Bad attributes.
        let bad_axis = node(vec![int("axis", 5)]);
        expect(
            "ArgMax",
            &Attrs::of(&bad_axis),
            &[op(&[2, 3])],
            "out of range",
        );
        let blocks = node(vec![int("blocksize", 2)]);
        expect(
            "DepthToSpace",
            &Attrs::of(&blocks),
            &[op(&[1, 3, 4, 4])],
            "blocks",
        );
        let reduction = node(vec![string("reduction", "median")]);
        expect(
            "NegativeLogLikelihoodLoss",
            &Attrs::of(&reduction),
            &[op(&[2, 3]), op(&[2])],
            "median",
        );
        let equation = node(vec![string("equation", "ij,jk->iz")]);
        expect(
            "Einsum",
            &Attrs::of(&equation),
            &[op(&[2, 3]), op(&[3, 4])],
            "z",
        );
        // A value a rule needs, computed at run time.
        expect("OneHot", &a, &[op(&[3]), op(&[1])], "constant");
        expect("TopK", &a, &[op(&[3, 5]), op(&[1])], "constant");
        // ... and given.
        let k = [2.0];
        assert_eq!(
            infer("TopK", &a, &[op(&[3, 5]), ints(&[1], &k)], 2).unwrap(),
            vec![vec![3, 2], vec![3, 2]]
        );
    }

    #[test]
    fn every_catalogued_op_has_a_shape_rule_and_no_other_op_does() {
        use crate::proto::NodeProto;
        let node = NodeProto::default();
        let attrs = Attrs::of(&node);
        let x = [1usize, 4, 8, 8];
        let values = [1.0f64; 4];
        let operand = Operand {
            shape: &x,
            values: Some(&values),
            is_float: true,
        };
        for entry in catalogue::CATALOGUE {
            // Missing attributes may still fail; what must not happen is an op with no rule.
            if let Err(e) = infer(entry.name, &attrs, &[Some(operand), Some(operand)], 1) {
                assert!(!e.contains("no shape inference"), "{}: {e}", entry.name);
            }
        }
        let e = infer("NoSuchOp", &attrs, &[Some(operand)], 1).unwrap_err();
        assert!(e.contains("no shape inference"), "{e}");
    }
}
