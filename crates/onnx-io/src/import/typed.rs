//! From an ONNX node to graph-ir's typed op (attributes normalised, defaults
//! filled in), and `Constant` nodes to constants.

use crate::attrs::Attrs;
use crate::constant::Const;
use crate::proto::NodeProto;
use crate::shape::{self, Operand};
use graph_ir::{ConvAttrs, Op, Perm, PoolAttrs, RecurrentAttrs, RecurrentCell};

pub(super) fn constant_node(attrs: &Attrs) -> Result<Const, String> {
    if let Some(t) = attrs.tensor("value") {
        return Const::from_proto(t);
    }
    if let Some(v) = attrs.int("value_int") {
        return Ok(Const::ints(vec![v], vec![]));
    }
    if let Some(v) = attrs.ints("value_ints") {
        return Ok(Const::ints(v.to_vec(), vec![v.len()]));
    }
    if let Some(v) = attrs.float("value_float") {
        return Ok(Const {
            dims: vec![],
            values: Some(vec![v as f64]),
            is_float: true,
        });
    }
    if let Some(v) = attrs.floats("value_floats") {
        return Ok(Const {
            dims: vec![v.len()],
            values: Some(v.iter().map(|&x| x as f64).collect()),
            is_float: true,
        });
    }
    Err("Constant without a value, value_int(s) or value_float(s) attribute".into())
}

fn first_or(attrs: &Attrs, name: &str, default: usize) -> usize {
    attrs
        .ints(name)
        .and_then(|v| v.first())
        .map(|&v| v.max(0) as usize)
        .unwrap_or(default)
}

/// Normalised conv attributes (reference `predictor/feature/`): kernel from the weight when
/// absent; first element of each list; `bias` = a third input is present.
fn conv_attrs(attrs: &Attrs, inputs: &[Option<Operand>]) -> ConvAttrs {
    let weight_kernel = inputs
        .get(1)
        .copied()
        .flatten()
        .and_then(|w| w.shape.get(2).copied())
        .unwrap_or(1);
    ConvAttrs {
        kernel: first_or(attrs, "kernel_shape", weight_kernel),
        stride: first_or(attrs, "strides", 1),
        pad: first_or(attrs, "pads", 0),
        dilation: first_or(attrs, "dilations", 1),
        group: attrs.int("group").unwrap_or(1).max(1) as usize,
        bias: matches!(inputs.get(2), Some(Some(_))),
    }
}

/// The typed op of a node, or `None` when the op is outside the vocabulary.
pub(super) fn to_op(node: &NodeProto, attrs: &Attrs, inputs: &[Option<Operand>]) -> Option<Op> {
    Some(match node.op_type() {
        "Conv" => Op::Conv(conv_attrs(attrs, inputs)),
        "ConvTranspose" => Op::ConvTranspose {
            conv: conv_attrs(attrs, inputs),
            output_padding: first_or(attrs, "output_padding", 0),
        },
        op @ ("MaxPool" | "AveragePool") => {
            let p = PoolAttrs {
                kernel: first_or(attrs, "kernel_shape", 1),
                stride: first_or(attrs, "strides", 1),
                pad: first_or(attrs, "pads", 0),
            };
            if op == "MaxPool" {
                Op::MaxPool(p)
            } else {
                Op::AveragePool(p)
            }
        }
        "Einsum" => {
            let shapes: Vec<&[usize]> = inputs.iter().flatten().map(|o| o.shape).collect();
            // A bad equation is shape inference's error to report.
            let equation = attrs.string("equation").unwrap_or_default();
            Op::Einsum {
                contracted: shape::linear::einsum_contracted(equation, &shapes).unwrap_or(1),
            }
        }
        "Gemm" => Op::Gemm {
            bias: matches!(inputs.get(2), Some(Some(_))),
        },
        "Transpose" => {
            let rank = inputs
                .first()
                .copied()
                .flatten()
                .map(|o| o.shape.len())
                .unwrap_or(0);
            let perm: Vec<usize> = match attrs.ints("perm") {
                Some(p) => p.iter().map(|&a| a.max(0) as usize).collect(),
                None => (0..rank).rev().collect(),
            };
            Op::Transpose(Perm::new(&perm)?)
        }
        op @ ("RNN" | "GRU" | "LSTM") => {
            let ctx = shape::Ctx { attrs, inputs };
            Op::Recurrent(RecurrentAttrs {
                cell: match op {
                    "RNN" => RecurrentCell::Rnn,
                    "GRU" => RecurrentCell::Gru,
                    _ => RecurrentCell::Lstm,
                },
                hidden: shape::recurrent::hidden_size(&ctx).ok()?,
                bidirectional: shape::recurrent::directions(&ctx).ok()? == 2,
                batch_first: attrs.int("layout").unwrap_or(0) != 0,
            })
        }
        other => Op::without_attrs(other)?,
    })
}
