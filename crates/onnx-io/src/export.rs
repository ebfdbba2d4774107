//! [`graph_ir::Graph`] -> ONNX model, the inverse of the importer: every node
//! becomes one ONNX node (inputs become graph inputs), each op's weight
//! tensors are rebuilt from its attributes and operand shapes, and every
//! output shape is declared in `value_info`.

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
    type_proto,
};
use graph_ir::{ConvAttrs, Graph, NodeId, Op, PlainOp, PoolAttrs};
use prost::Message;
use std::collections::HashSet;
use std::path::Path;
use thiserror::Error;

/// The default-domain opset written files import.
pub const EXPORT_OPSET: i64 = 17;

/// What the weight tensors hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Dims and type only, no values (the NNLQP storage format; small files).
    Stripped,
    /// Deterministic pseudo-random values from a seed, for running the model.
    Random { seed: u64 },
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("node #{node} '{name}': {op} has no ONNX form ({reason})")]
    Unsupported {
        node: usize,
        name: String,
        op: String,
        reason: &'static str,
    },
    #[error("node #{node} '{name}': {reason}")]
    Node {
        node: usize,
        name: String,
        reason: String,
    },
    #[error("writing {0}")]
    Io(#[from] sysio::FileError),
}

/// The ONNX model of `graph`.
pub fn export_model(graph: &Graph, weights: Weights) -> Result<ModelProto, ExportError> {
    let names = tensor_names(graph);
    let mut out = GraphProto {
        name: Some("narformer".into()),
        ..Default::default()
    };
    let mut rng = SplitMix(match weights {
        Weights::Random { seed } => seed,
        Weights::Stripped => 0,
    });
    for &id in graph.topological_order() {
        let node = graph.node(id);
        let shape = node.shape.as_deref().ok_or_else(|| ExportError::Node {
            node: id.0,
            name: node.name.clone(),
            reason: "has no inferred shape".into(),
        })?;
        let info = value_info(&names[id.0], shape);
        if node.op == Op::Input {
            out.input.push(info);
            continue;
        }
        let operands = graph.operands(id);
        let in_shape = |slot: usize| -> Vec<usize> {
            operands
                .get(slot)
                .and_then(|&n| graph.node(n).shape.clone())
                .unwrap_or_default()
        };
        let unsupported = |reason| ExportError::Unsupported {
            node: id.0,
            name: node.name.clone(),
            op: node.op.to_string(),
            reason,
        };
        let (attributes, weight_dims) = match &node.op {
            Op::Conv(c) => {
                let x = in_shape(0);
                let cin = x.get(1).copied().unwrap_or(0) / c.group.max(1);
                let cout = shape.get(1).copied().unwrap_or(0);
                let mut dims = vec![kernel_dims(&[cout, cin], c.kernel, x.len())];
                if c.bias {
                    dims.push(vec![cout]);
                }
                (conv_attributes(c, x.len()), dims)
            }
            Op::ConvTranspose {
                conv,
                output_padding,
            } => {
                let x = in_shape(0);
                let cout = shape.get(1).copied().unwrap_or(0);
                let cin = x.get(1).copied().unwrap_or(0);
                let mut dims = vec![kernel_dims(
                    &[cin, cout / conv.group.max(1)],
                    conv.kernel,
                    x.len(),
                )];
                if conv.bias {
                    dims.push(vec![cout]);
                }
                let spatial = x.len().saturating_sub(2);
                let mut attrs = conv_attributes(conv, x.len());
                attrs.push(ints(
                    "output_padding",
                    vec![*output_padding as i64; spatial],
                ));
                (attrs, dims)
            }
            Op::AveragePool(p) | Op::MaxPool(p) => (pool_attributes(p, shape.len()), vec![]),
            Op::BatchNormalization => {
                let c = shape.get(1).copied().unwrap_or(0);
                (vec![], vec![vec![c]; 4])
            }
            Op::Gemm { bias } => {
                let ci = in_shape(0).last().copied().unwrap_or(0);
                let co = shape.last().copied().unwrap_or(0);
                let mut dims = vec![vec![co, ci]];
                if *bias {
                    dims.push(vec![co]);
                }
                (vec![int("transB", 1)], dims)
            }
            Op::Transpose(perm) => (
                vec![ints("perm", perm.axes().map(|a| a as i64).collect())],
                vec![],
            ),
            Op::Recurrent(r) => {
                let input = in_shape(0).last().copied().unwrap_or(0);
                let dirs = if r.bidirectional { 2 } else { 1 };
                let gh = r.cell.gates() * r.hidden;
                let mut dims = vec![vec![dirs, gh, input], vec![dirs, gh, r.hidden]];
                if node.params > (dirs * gh * (input + r.hidden)) as u64 {
                    dims.push(vec![dirs, 2 * gh]);
                }
                let mut attrs = vec![int("hidden_size", r.hidden as i64)];
                if r.bidirectional {
                    attrs.push(AttributeProto {
                        name: Some("direction".into()),
                        r#type: Some(AttributeType::String as i32),
                        s: Some(b"bidirectional".to_vec()),
                        ..Default::default()
                    });
                }
                if r.batch_first {
                    attrs.push(int("layout", 1));
                }
                (attrs, dims)
            }
            Op::Plain(PlainOp::LayerNormalization) => {
                let c = shape.last().copied().unwrap_or(0);
                (vec![int("axis", -1)], vec![vec![c], vec![c]])
            }
            Op::Plain(PlainOp::Concat) => (vec![int("axis", 1)], vec![]),
            Op::Plain(PlainOp::Softmax) => (vec![int("axis", -1)], vec![]),
            Op::Plain(PlainOp::ReduceMean) => {
                let (axes, keep) = reduced_axes(&in_shape(0), shape);
                (vec![ints("axes", axes), int("keepdims", keep)], vec![])
            }
            Op::Plain(PlainOp::Clip) if node.params == 2 => (vec![], vec![vec![], vec![]]),
            Op::Plain(PlainOp::MatMul) if node.params > 0 => {
                let k = in_shape(0).last().copied().unwrap_or(0);
                let m = shape.last().copied().unwrap_or(0);
                (vec![], vec![vec![k, m]])
            }
            Op::Relu
            | Op::Add
            | Op::Identity
            | Op::Plain(_)
            | Op::Einsum { .. }
            | Op::Unknown(_) => {
                let dims = if node.params > 0 {
                    vec![constant_dims(node.params as usize, shape)]
                } else {
                    vec![]
                };
                (vec![], dims)
            }
            Op::Output => return Err(unsupported("cell output nodes are not network ops")),
            Op::Zero => return Err(unsupported("NAS-Bench-201 `none` is removed, not exported")),
            Op::ReluConvBn(_) | Op::ConvBnRelu(_) => {
                return Err(unsupported(
                    "fused cell ops exist only in cell graphs; networks use plain ops",
                ));
            }
            Op::Input => unreachable!("handled above"),
        };
        let found: u64 = weight_dims
            .iter()
            .map(|d| d.iter().product::<usize>() as u64)
            .sum();
        if found != node.params {
            return Err(ExportError::Node {
                node: id.0,
                name: node.name.clone(),
                reason: format!(
                    "{} owns {} weights, but its attributes and shapes give {found}",
                    node.op, node.params
                ),
            });
        }
        let mut inputs: Vec<String> = operands.iter().map(|n| names[n.0].clone()).collect();
        for (k, dims) in weight_dims.iter().enumerate() {
            let name = format!("{}.w{k}", names[id.0]);
            let fill = Fill::of(&node.op, k, dims);
            out.initializer
                .push(weight_tensor(&name, dims, weights, fill, &mut rng));
            inputs.push(name);
        }
        if node.op == Op::Plain(PlainOp::Reshape) {
            // The target shape is data, not a weight: an int64 constant.
            let name = format!("{}.shape", names[id.0]);
            out.initializer.push(TensorProto {
                dims: vec![shape.len() as i64],
                data_type: Some(DataType::Int64 as i32),
                name: Some(name.clone()),
                int64_data: shape.iter().map(|&d| d as i64).collect(),
                ..Default::default()
            });
            inputs.push(name);
        }
        out.node.push(NodeProto {
            input: inputs,
            output: vec![names[id.0].clone()],
            name: Some(node.name.clone()),
            op_type: Some(node.op.name().to_string()),
            attribute: attributes,
            ..Default::default()
        });
        if graph.successors(id).is_empty() {
            out.output.push(info);
        } else {
            out.value_info.push(info);
        }
    }
    Ok(ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(EXPORT_OPSET),
        }],
        producer_name: Some("narformer".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(out),
        ..Default::default()
    })
}

/// The ONNX file bytes of `graph`.
pub fn export_bytes(graph: &Graph, weights: Weights) -> Result<Vec<u8>, ExportError> {
    Ok(export_model(graph, weights)?.encode_to_vec())
}

/// Writes `graph` to `path` atomically ([`sysio::write_atomic`]), so a crash
/// never leaves half a model.
pub fn write_file(graph: &Graph, weights: Weights, path: &Path) -> Result<(), ExportError> {
    let bytes = export_bytes(graph, weights)?;
    Ok(sysio::write_atomic(path, &bytes)?)
}

/// One tensor name per node: its name, made unique with `_<id>` where names repeat.
fn tensor_names(graph: &Graph) -> Vec<String> {
    let mut seen = HashSet::new();
    graph
        .node_ids()
        .map(|id: NodeId| {
            let name = &graph.node(id).name;
            let name = if name.is_empty() || !seen.insert(name.clone()) {
                format!("{name}_{}", id.0)
            } else {
                name.clone()
            };
            seen.insert(name.clone());
            name
        })
        .collect()
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `[lead..., k, k, ...]` with one `k` per spatial axis of a rank-`rank` input.
fn kernel_dims(lead: &[usize], kernel: usize, rank: usize) -> Vec<usize> {
    let mut dims = lead.to_vec();
    dims.extend(std::iter::repeat_n(kernel, rank.saturating_sub(2)));
    dims
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values,
        ..Default::default()
    }
}

fn conv_attributes(c: &ConvAttrs, rank: usize) -> Vec<AttributeProto> {
    let s = rank.saturating_sub(2);
    vec![
        ints("kernel_shape", vec![c.kernel as i64; s]),
        ints("strides", vec![c.stride as i64; s]),
        ints("pads", vec![c.pad as i64; 2 * s]),
        ints("dilations", vec![c.dilation as i64; s]),
        int("group", c.group as i64),
    ]
}

fn pool_attributes(p: &PoolAttrs, rank: usize) -> Vec<AttributeProto> {
    let s = rank.saturating_sub(2);
    vec![
        ints("kernel_shape", vec![p.kernel as i64; s]),
        ints("strides", vec![p.stride as i64; s]),
        ints("pads", vec![p.pad as i64; 2 * s]),
    ]
}

/// `(axes, keepdims)` of a reduction from `input` to `output`: the axes
/// kept as 1 when the ranks agree, else the axes dropped, matched left to right.
fn reduced_axes(input: &[usize], output: &[usize]) -> (Vec<i64>, i64) {
    if input.len() == output.len() {
        let axes = (0..input.len())
            .filter(|&i| output[i] == 1 && input[i] != 1)
            .map(|i| i as i64)
            .collect();
        return (axes, 1);
    }
    let mut axes = Vec::new();
    let mut o = 0;
    for (i, &d) in input.iter().enumerate() {
        if o < output.len() && output[o] == d {
            o += 1;
        } else {
            axes.push(i as i64);
        }
    }
    (axes, 0)
}

/// Dims of an elementwise op's `params`-element constant that broadcast
/// against its `output`: a scalar, the last axis (a bias), every axis but the
/// batch (a position embedding), the channels of an image, else flat.
fn constant_dims(params: usize, output: &[usize]) -> Vec<usize> {
    let last = output.last().copied().unwrap_or(0);
    let inner: usize = output.iter().skip(1).product();
    if params == 1 {
        vec![1]
    } else if params == last {
        vec![last]
    } else if output.len() > 1 && params == inner {
        output[1..].to_vec()
    } else if output.len() == 4 && params == output[1] {
        vec![output[1], 1, 1]
    } else {
        vec![params]
    }
}

/// How a random weight tensor is filled, chosen so that activations keep a
/// sane scale through deep networks (no overflow, no denormals, positive
/// variances) and measured run times reflect real inference.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// Uniform in `[-a, a]`.
    Uniform(f32),
    /// Uniform in `[c - a, c + a]`.
    Around(f32, f32),
    Exactly(f32),
}

impl Fill {
    /// The fill of weight tensor number `k` of `op`, shaped `dims`.
    fn of(op: &Op, k: usize, dims: &[usize]) -> Fill {
        // Variance-preserving scale for a weight whose fan-in is `dims[fan..]`.
        let fan_in = |from: usize, to: usize| -> Fill {
            let n: usize = dims[from.min(dims.len())..to.min(dims.len())]
                .iter()
                .product();
            Fill::Uniform((3.0 / n.max(1) as f32).sqrt())
        };
        match (op, k) {
            (Op::Conv(_), 0) => fan_in(1, dims.len()),
            (Op::ConvTranspose { .. }, 0) => fan_in(0, 1),
            (Op::Gemm { .. }, 0) => fan_in(1, 2),
            (Op::Plain(PlainOp::MatMul), 0) => fan_in(0, 1),
            // BN: scale, bias, mean, variance; LN: scale, bias.
            (Op::BatchNormalization, 0 | 3) | (Op::Plain(PlainOp::LayerNormalization), 0) => {
                Fill::Around(1.0, 0.1)
            }
            (Op::Plain(PlainOp::Clip), 0) => Fill::Exactly(0.0),
            (Op::Plain(PlainOp::Clip), _) => Fill::Exactly(6.0),
            // NAS-Bench-201's zero op; a divisor stays away from 0.
            (Op::Plain(PlainOp::Mul), _) => Fill::Exactly(0.0),
            (Op::Plain(PlainOp::Div), _) => Fill::Around(1.5, 0.1),
            _ => Fill::Uniform(0.1),
        }
    }

    fn sample(self, rng: &mut SplitMix) -> f32 {
        match self {
            Fill::Uniform(a) => rng.uniform() * a,
            Fill::Around(c, a) => c + rng.uniform() * a,
            Fill::Exactly(v) => v,
        }
    }
}

fn weight_tensor(
    name: &str,
    dims: &[usize],
    weights: Weights,
    fill: Fill,
    rng: &mut SplitMix,
) -> TensorProto {
    let raw_data = match weights {
        Weights::Stripped => None,
        Weights::Random { .. } => {
            let n: usize = dims.iter().product();
            let mut bytes = Vec::with_capacity(4 * n);
            for _ in 0..n {
                bytes.extend_from_slice(&fill.sample(rng).to_le_bytes());
            }
            Some(bytes)
        }
    };
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        name: Some(name.to_string()),
        raw_data,
        ..Default::default()
    }
}

/// SplitMix64: a tiny, fixed generator, so files are byte-identical across
/// platforms and dependency versions.
struct SplitMix(u64);

impl SplitMix {
    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
