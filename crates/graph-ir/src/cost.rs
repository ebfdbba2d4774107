//! Static cost features of a graph (reference `predictor/feature/`): FLOPs, parameters and
//! memory access, computed from ops and inferred output shapes.
//!
//! FLOPs per node, batch included:
//! - Conv: `N*Cout*Ho*Wo * (2*Cin/g*k^s - 1 + bias)` (`s` spatial axes; `Cin/g*k^s`
//!   is taken from the weights when the op owns them, which counts non-square
//!   kernels right); the fused cell ops add their BN (4x) and ReLU (1x) per
//!   output element;
//! - ConvTranspose: `N*Cin*Hin*Win * 2*Cout/g*k^s` (+ output elements with a bias);
//! - Gemm: `rows * Co * (2*Ci - 1 + bias)`; MatMul (and the quantised
//!   matmuls): `outputs * (2K - 1)`; Einsum: `outputs * (2K - 1)`, `K` the
//!   product of the labels summed out; the quantised and deformable convolutions:
//!   `outputs * 2 * params / Cout` (their weights' `Cin/g * k^s` per output);
//! - BatchNormalization 4x input elements; Layer/InstanceNormalization 5x;
//!   Softmax/LogSoftmax 3x;
//! - MaxPool/AveragePool: output elements x k^s; global pools, reductions,
//!   ArgMax/ArgMin and TopK: input elements;
//! - RNN/GRU/LSTM: per time step, batch row and direction, `gates * hidden *
//!   2*(input + hidden)` for the two matrix products plus `gates * hidden` for
//!   the bias and gate arithmetic (gates: RNN 1, GRU 3, LSTM 4);
//! - elementwise maths (activations, arithmetic, comparisons, Resize): output elements;
//! - pure data movement (Reshape, Transpose, Concat, Slice, Gather and its
//!   variants, Pad, Cast, CastLike, Identity, Dropout, Shape, Size, ...), inputs
//!   and outputs: 0; unknown ops: 0.
//!
//! Memory access per node = output elements + params (reference `predictor/feature/`).

use crate::{Graph, NodeId, Op, PlainOp};
use serde::{Deserialize, Serialize};

/// Whole-graph totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    pub flops: u64,
    pub params: u64,
    pub memory_access: u64,
}

pub(crate) fn elements(shape: Option<&Vec<usize>>) -> u64 {
    shape
        .map(|s| s.iter().map(|&d| d as u64).product())
        .unwrap_or(0)
}

/// Elements one node moves: its operands read, its output written, its own
/// weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeTraffic {
    pub read: u64,
    pub written: u64,
    pub params: u64,
}

impl NodeTraffic {
    pub fn total(&self) -> u64 {
        self.read
            .saturating_add(self.written)
            .saturating_add(self.params)
    }
}

/// What node `id` reads, writes and owns (elements, not bytes).
pub fn node_traffic(graph: &Graph, id: NodeId) -> NodeTraffic {
    let node = graph.node(id);
    NodeTraffic {
        read: graph
            .operands(id)
            .iter()
            .map(|&o| elements(graph.node(o).shape.as_ref()))
            .fold(0u64, u64::saturating_add),
        written: elements(node.shape.as_ref()),
        params: node.params,
    }
}

/// FLOPs of one node (see the module docs for the formulas).
pub fn node_flops(graph: &Graph, id: NodeId) -> u64 {
    let node = graph.node(id);
    let out = elements(node.shape.as_ref());
    let input = |slot: usize| {
        graph
            .operands(id)
            .get(slot)
            .map(|&n| graph.node(n).shape.clone())
    };
    let in_shape = input(0).flatten();
    let in_elems = elements(in_shape.as_ref());
    let spatial = node
        .shape
        .as_ref()
        .map(|s| s.len().saturating_sub(2))
        .unwrap_or(2) as u32;
    let channels =
        |shape: Option<&Vec<usize>>| shape.and_then(|s| s.get(1)).copied().unwrap_or(0) as u64;
    let (cin, cout) = (channels(in_shape.as_ref()), channels(node.shape.as_ref()));
    // The weight elements per output (Conv) or input (ConvTranspose) channel:
    // from the weights the op owns when it has them, so that a 1x7 kernel costs
    // 7 and not the 49 of its first dim squared; else `C/g * k^s`.
    let per_channel = |c: &crate::ConvAttrs, channels: u64, other: u64| {
        let bias = if c.bias { cout } else { 0 };
        match node.params.checked_sub(bias).filter(|&w| w > 0) {
            Some(weights) if channels > 0 => weights / channels,
            _ => (other / c.group.max(1) as u64)
                .saturating_mul((c.kernel as u64).saturating_pow(spatial)),
        }
    };
    let conv = |c: &crate::ConvAttrs, per_out: u64| {
        out.saturating_mul(
            (2 * per_out)
                .saturating_add(u64::from(c.bias))
                .saturating_sub(1),
        )
    };
    let square = |c: &crate::ConvAttrs| {
        (cin / c.group.max(1) as u64).saturating_mul((c.kernel as u64).saturating_pow(spatial))
    };
    match &node.op {
        Op::Conv(c) => conv(c, per_channel(c, cout, cin)),
        // The fused cell ops' params include their BN's: square kernels only.
        Op::ReluConvBn(c) | Op::ConvBnRelu(c) => {
            conv(c, square(c)).saturating_add(out.saturating_mul(5))
        }
        Op::ConvTranspose { conv: c, .. } => {
            // Weights `[Cin, Cout/g, k...]`: per input element, 2 x Cout/g x k^s.
            let per_in = 2 * per_channel(c, cin, cout);
            in_elems
                .saturating_mul(per_in)
                .saturating_add(if c.bias { out } else { 0 })
        }
        Op::Gemm { bias } => {
            let ci = gemm_inner(in_shape.as_deref(), node.shape.as_deref()).unwrap_or(0);
            out.saturating_mul((2 * ci + u64::from(*bias)).saturating_sub(1))
        }
        Op::AveragePool(p) | Op::MaxPool(p) => {
            out.saturating_mul((p.kernel as u64).saturating_pow(spatial))
        }
        Op::Recurrent(r) => recurrent_flops(r, in_shape.as_deref()),
        Op::Einsum { contracted } => out.saturating_mul((2 * *contracted as u64).saturating_sub(1)),
        Op::BatchNormalization => in_elems.saturating_mul(4),
        Op::Relu | Op::Add => out,
        Op::Input | Op::Output | Op::Identity | Op::Zero | Op::Transpose(_) | Op::Unknown(_) => 0,
        Op::Plain(p) => match p {
            PlainOp::MatMul | PlainOp::MatMulInteger | PlainOp::QLinearMatMul => {
                let k = in_shape
                    .as_ref()
                    .and_then(|s| s.last())
                    .copied()
                    .unwrap_or(0) as u64;
                out.saturating_mul((2 * k).saturating_sub(1))
            }
            // Convolutions typed without attributes: `2 * Cin/g * k^s` per output
            // element, from the weights the op owns (`Cout * Cin/g * k^s`).
            PlainOp::ConvInteger | PlainOp::QLinearConv | PlainOp::DeformConv => {
                let cout = node
                    .shape
                    .as_ref()
                    .and_then(|s| s.get(1))
                    .copied()
                    .unwrap_or(0) as u64;
                let per_out = node.params.checked_div(cout).unwrap_or(0);
                out.saturating_mul(2 * per_out)
            }
            PlainOp::LayerNormalization | PlainOp::InstanceNormalization => {
                in_elems.saturating_mul(5)
            }
            PlainOp::Softmax | PlainOp::LogSoftmax => out.saturating_mul(3),
            PlainOp::GlobalAveragePool
            | PlainOp::GlobalMaxPool
            | PlainOp::ReduceMean
            | PlainOp::ReduceMax
            | PlainOp::ReduceSum
            | PlainOp::ReduceMin
            | PlainOp::ReduceProd
            | PlainOp::ReduceSumSquare
            | PlainOp::ReduceL1
            | PlainOp::ReduceL2
            | PlainOp::ReduceLogSum
            | PlainOp::ReduceLogSumExp
            | PlainOp::ArgMax
            | PlainOp::ArgMin
            | PlainOp::TopK => in_elems,
            PlainOp::Reshape
            | PlainOp::Split
            | PlainOp::Concat
            | PlainOp::Flatten
            | PlainOp::Cast
            | PlainOp::Slice
            | PlainOp::Pad
            | PlainOp::Gather
            | PlainOp::Squeeze
            | PlainOp::Unsqueeze
            | PlainOp::Expand
            | PlainOp::Tile
            | PlainOp::Dropout
            | PlainOp::Shape
            | PlainOp::Size
            | PlainOp::CastLike
            | PlainOp::GatherElements
            | PlainOp::GatherND
            | PlainOp::DepthToSpace
            | PlainOp::SpaceToDepth
            | PlainOp::Compress
            | PlainOp::NonZero => 0,
            _ => out,
        },
    }
}

/// The inner dimension of a Gemm whose first operand is `a` and output `out`:
/// the dim of `a` that is not the output's row count.
fn gemm_inner(a: Option<&[usize]>, out: Option<&[usize]>) -> Option<u64> {
    let (a, out) = (a?, out?);
    if a.len() != 2 || out.len() != 2 {
        return None;
    }
    // transA flips the operand; the dim equal to the output rows is M.
    Some(if a[0] == out[0] { a[1] } else { a[0] } as u64)
}

/// FLOPs, params and memory access summed over the graph.
pub fn graph_cost(graph: &Graph) -> Cost {
    cost_of(graph, |_| true)
}

/// [`graph_cost`] of the nodes `keep` accepts.
pub fn cost_of(graph: &Graph, keep: impl Fn(NodeId) -> bool) -> Cost {
    graph
        .node_ids()
        .filter(|&id| keep(id))
        .fold(Cost::default(), |acc, id| {
            let node = graph.node(id);
            Cost {
                flops: acc.flops.saturating_add(node_flops(graph, id)),
                params: acc.params.saturating_add(node.params),
                memory_access: acc
                    .memory_access
                    .saturating_add(elements(node.shape.as_ref()))
                    .saturating_add(node.params),
            }
        })
}

/// Whether `op` is a contraction: a convolution, a matrix product or a
/// recurrent cell, the ops whose FLOPs are multiply-accumulates.
pub fn is_contraction(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv(_)
            | Op::ReluConvBn(_)
            | Op::ConvBnRelu(_)
            | Op::ConvTranspose { .. }
            | Op::Gemm { .. }
            | Op::Recurrent(_)
            | Op::Einsum { .. }
            | Op::Plain(
                PlainOp::MatMul
                    | PlainOp::MatMulInteger
                    | PlainOp::QLinearMatMul
                    | PlainOp::ConvInteger
                    | PlainOp::QLinearConv
                    | PlainOp::DeformConv
            )
    )
}

/// FLOPs of the contractions only ([`is_contraction`]): the figure that
/// multiply-add counts (torchvision's published GFLOPS, PyTorch's
/// FlopCounterMode, 2 per multiply-accumulate) are compared with. The fused
/// cell ops' BN and ReLU are left out.
pub fn contraction_flops(graph: &Graph) -> u64 {
    graph
        .node_ids()
        .filter(|&id| is_contraction(&graph.node(id).op))
        .map(|id| match &graph.node(id).op {
            Op::ReluConvBn(_) | Op::ConvBnRelu(_) => {
                let out = elements(graph.node(id).shape.as_ref());
                node_flops(graph, id).saturating_sub(out.saturating_mul(5))
            }
            _ => node_flops(graph, id),
        })
        .fold(0, u64::saturating_add)
}

/// FLOPs of a recurrent op on input `x` (`[seq, batch, input]`, or batch first).
fn recurrent_flops(r: &crate::RecurrentAttrs, x: Option<&[usize]>) -> u64 {
    let Some(&[a, b, input]) = x else { return 0 };
    let (seq, batch) = if r.batch_first { (b, a) } else { (a, b) };
    let directions = if r.bidirectional { 2 } else { 1 };
    let (g, h) = (r.cell.gates() as u64, r.hidden as u64);
    let per_step = g
        .saturating_mul(h)
        .saturating_mul(2 * (input as u64 + h) + 1);
    per_step
        .saturating_mul(seq as u64)
        .saturating_mul(batch as u64)
        .saturating_mul(directions)
}
