//! A graph as the kernels an inference engine runs, for the kernel-level
//! additive latency baseline (in the style of nn-Meter, Zhang et al., MobiSys
//! 2021: a network's latency is the sum of its kernels' latencies, each
//! predicted from the kernel's type, FLOPs and memory traffic).
//!
//! Every compute node is one kernel, classed by what decides its speed on a
//! CPU: its op, and for convolutions whether it is depthwise, pointwise (1x1)
//! or spatial. Fusions an engine makes (a batch norm folded into the
//! convolution before it, an activation fused into it) are left to the fit:
//! a class whose nodes an engine fuses away learns a cost near zero. Graph
//! inputs, outputs and pure shape ops (Shape, Size, Identity, Dropout) are
//! not kernels. The one fusion made here is SiLU, which exporters write as
//! `x * Sigmoid(x)` and ONNX Runtime runs as one kernel (its `QuickGeluFusion`,
//! onnxruntime/core/optimizer/quick_gelu_fusion.cc): left to the fit, a family
//! that alone has SiLU would be priced as two element-wise passes per
//! activation when it is held out.

use crate::cost::{node_flops, node_traffic};
use crate::{Graph, NodeId, Op, PlainOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kernel class of a SiLU (`x * sigmoid(x)` as one kernel).
pub const SWISH: &str = "Swish";

/// One class's totals over a graph.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KernelTotals {
    /// How many kernels of the class the graph runs.
    pub count: u64,
    pub flops: u64,
    /// Elements read and written: operands, output and owned weights.
    pub memory: u64,
}

/// The kernel class of an op, or `None` for what no engine runs as a kernel.
pub fn kernel_class(op: &Op) -> Option<String> {
    let conv = |c: &crate::ConvAttrs, prefix: &str| {
        let kind = if c.group > 1 {
            "grouped"
        } else if c.kernel == 1 {
            "1x1"
        } else {
            "kxk"
        };
        format!("{prefix}/{kind}")
    };
    Some(match op {
        Op::Input | Op::Output | Op::Identity => return None,
        Op::Plain(PlainOp::Shape | PlainOp::Size | PlainOp::Dropout) => return None,
        Op::Conv(c) | Op::ConvBnRelu(c) | Op::ReluConvBn(c) => conv(c, "Conv"),
        Op::ConvTranspose { conv: c, .. } => conv(c, "ConvTranspose"),
        other => other.name().to_string(),
    })
}

/// The wider group a kernel class belongs to, where it has one: every
/// convolution class, the unary activations, the element-wise binary ops. A
/// class seen in few training networks then borrows its group's cost rather
/// than one fitted on a handful of kernels (`None`: the class stands alone).
pub fn kernel_group(class: &str) -> Option<&'static str> {
    const ACTIVATIONS: &[&str] = &[
        "Relu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        SWISH,
        "Tanh",
        "Gelu",
        "Erf",
        "Clip",
        "LeakyRelu",
        "PRelu",
        "Elu",
        "Selu",
        "Celu",
        "Softplus",
        "Softsign",
        "Mish",
        "Exp",
        "Log",
        "Sqrt",
        "Neg",
        "Abs",
        "Reciprocal",
        "Sin",
        "Cos",
        "Floor",
        "Ceil",
        "Round",
    ];
    const BINARY: &[&str] = &[
        "Add", "Mul", "Div", "Sub", "Pow", "Max", "Min", "Sum", "Mean",
    ];
    if class.starts_with("Conv/") || class.starts_with("ConvTranspose/") {
        Some("Conv")
    } else if ACTIVATIONS.contains(&class) {
        Some("Activation")
    } else if BINARY.contains(&class) {
        Some("Binary")
    } else {
        None
    }
}

/// Which nodes an engine leaves out of what it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pruning {
    /// Every compute node runs. ONNX Runtime, as measured on the zoo:
    /// NAS-Bench-201 cells with computation on zeros cost what their kernels
    /// suggest.
    #[default]
    None,
    /// Nodes whose value is constant (computed from weights alone, or from a
    /// [`crate::Node::zeros`] node) are computed once, before the run:
    /// tract's `into_optimized` folds them (its declutter passes,
    /// tract-core/src/optim). No node is dead: every node without a use is a
    /// graph output (as `onnx_io::export` writes it), which an engine keeps.
    Constants,
}

impl Pruning {
    /// The pruning of the engine a latency was measured with (its name in the
    /// measurement metadata: `tract`, `ort`); an engine not known here runs
    /// every node.
    pub fn of_engine(engine: &str) -> Pruning {
        match engine {
            "tract" => Pruning::Constants,
            _ => Pruning::None,
        }
    }

    /// For each node id, whether the engine runs it.
    fn runs(self, graph: &Graph) -> Vec<bool> {
        match self {
            Pruning::None => vec![true; graph.len()],
            Pruning::Constants => graph.reads_input(),
        }
    }
}

/// Each node's kernel, in the graph's topological order (the order of its
/// tokens): its class and totals (a count of 1), or `None` for a node that is
/// no kernel, or that `pruning` leaves out.
/// A SiLU's two nodes are one kernel: the Sigmoid's node carries it (reading
/// `x`, writing the product) and the Mul's node is no kernel.
pub fn node_kernels(graph: &Graph, pruning: Pruning) -> Vec<Option<(String, KernelTotals)>> {
    let swish_muls: Vec<(NodeId, NodeId)> = graph
        .node_ids()
        .filter_map(|id| swish_mul(graph, id).map(|mul| (id, mul)))
        .collect();
    let runs = pruning.runs(graph);
    graph
        .topological_order()
        .iter()
        .map(|&id| {
            if !runs[id.0] || swish_muls.iter().any(|&(_, mul)| mul == id) {
                return None;
            }
            let mut flops = node_flops(graph, id);
            let class = match swish_muls.iter().find(|&&(sigmoid, _)| sigmoid == id) {
                Some(&(_, mul)) => {
                    flops = flops.saturating_add(node_flops(graph, mul));
                    SWISH.to_string()
                }
                None => kernel_class(&graph.node(id).op)?,
            };
            let totals = KernelTotals {
                count: 1,
                flops,
                memory: node_traffic(graph, id).total(),
            };
            Some((class, totals))
        })
        .collect()
}

/// The Mul that makes `sigmoid` half of a SiLU: `sigmoid` is a Sigmoid whose
/// only use is a Mul of it and the Sigmoid's own operand.
fn swish_mul(graph: &Graph, sigmoid: NodeId) -> Option<NodeId> {
    if graph.node(sigmoid).op != Op::Plain(PlainOp::Sigmoid) {
        return None;
    }
    let [x] = graph.operands(sigmoid)[..] else {
        return None;
    };
    let [mul] = graph.successors(sigmoid)[..] else {
        return None;
    };
    if graph.node(mul).op != Op::Plain(PlainOp::Mul) {
        return None;
    }
    let mut operands = graph.operands(mul);
    operands.sort_unstable();
    let mut expected = vec![x, sigmoid];
    expected.sort_unstable();
    (operands == expected).then_some(mul)
}

/// Each kernel class's count, FLOPs and memory traffic in `graph`, as an
/// engine that prunes by `pruning` runs it.
pub fn kernel_totals(graph: &Graph, pruning: Pruning) -> BTreeMap<String, KernelTotals> {
    let mut totals: BTreeMap<String, KernelTotals> = BTreeMap::new();
    for (class, node) in node_kernels(graph, pruning).into_iter().flatten() {
        let t = totals.entry(class).or_default();
        t.count += node.count;
        t.flops = t.flops.saturating_add(node.flops);
        t.memory = t.memory.saturating_add(node.memory);
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConvAttrs, GraphBuilder, Node};

    #[test]
    fn convolutions_are_classed_by_what_decides_their_speed() {
        let mut b = GraphBuilder::new();
        let input = b.add_node(Node::new("x", Op::Input).with_shape(vec![1, 8, 4, 4]));
        let depthwise = ConvAttrs {
            group: 8,
            ..ConvAttrs::same(3)
        };
        let dw = b.add_node(
            Node::new("dw", Op::Conv(depthwise))
                .with_shape(vec![1, 8, 4, 4])
                .with_params(72),
        );
        let pw = b.add_node(
            Node::new("pw", Op::Conv(ConvAttrs::same(1)))
                .with_shape(vec![1, 16, 4, 4])
                .with_params(128),
        );
        let relu = b.add_node(Node::new("r", Op::Relu).with_shape(vec![1, 16, 4, 4]));
        let out = b.add_node(Node::new("y", Op::Output).with_shape(vec![1, 16, 4, 4]));
        b.connect(input, dw, 0)
            .connect(dw, pw, 0)
            .connect(pw, relu, 0)
            .connect(relu, out, 0);
        let totals = kernel_totals(&b.build().expect("acyclic"), Pruning::None);
        let classes: Vec<&str> = totals.keys().map(String::as_str).collect();
        assert_eq!(classes, ["Conv/1x1", "Conv/grouped", "Relu"]);
        let pw = totals["Conv/1x1"];
        assert_eq!(pw.count, 1);
        // Reads 128 input elements and 128 weights, writes 256.
        assert_eq!(pw.memory, 128 + 256 + 128);
        assert_eq!(totals["Relu"].memory, 256 + 256);
        assert!(pw.flops > 0);
    }

    #[test]
    fn a_silu_is_one_kernel_and_a_gate_is_not_fused() {
        let shape = vec![1, 8, 4, 4];
        let mut b = GraphBuilder::new();
        let input = b.add_node(Node::new("x", Op::Input).with_shape(shape.clone()));
        let sigmoid =
            b.add_node(Node::new("s", Op::Plain(PlainOp::Sigmoid)).with_shape(shape.clone()));
        let mul = b.add_node(Node::new("m", Op::Plain(PlainOp::Mul)).with_shape(shape.clone()));
        // A squeeze-excite style gate: Sigmoid of another tensor times x.
        let gate_in = b.add_node(Node::new("g", Op::Relu).with_shape(shape.clone()));
        let gate =
            b.add_node(Node::new("gs", Op::Plain(PlainOp::Sigmoid)).with_shape(shape.clone()));
        let scale = b.add_node(Node::new("gm", Op::Plain(PlainOp::Mul)).with_shape(shape.clone()));
        let out = b.add_node(Node::new("y", Op::Output).with_shape(shape));
        b.connect(input, sigmoid, 0)
            .connect(input, mul, 0)
            .connect(sigmoid, mul, 1)
            .connect(mul, gate_in, 0)
            .connect(gate_in, gate, 0)
            .connect(mul, scale, 0)
            .connect(gate, scale, 1)
            .connect(scale, out, 0);
        let graph = b.build().expect("acyclic");
        let totals = kernel_totals(&graph, Pruning::None);
        let classes: Vec<&str> = totals.keys().map(String::as_str).collect();
        assert_eq!(classes, ["Mul", "Relu", "Sigmoid", SWISH]);
        assert_eq!(totals[SWISH].count, 1);
        assert_eq!(totals["Mul"].count, 1);
        // Reads x and writes the product: 128 elements each.
        assert_eq!(totals[SWISH].memory, 128 + 128);
        let per_node = node_kernels(&graph, Pruning::None);
        assert_eq!(per_node.iter().flatten().count(), 4);
    }

    fn count(totals: &BTreeMap<String, KernelTotals>, class: &str) -> u64 {
        totals.get(class).map_or(0, |t| t.count)
    }

    #[test]
    fn tract_folds_computation_on_zeros_and_keeps_unused_outputs() {
        use crate::networks::nb201_network;
        let cell = |s: &str| s.parse().expect("a cell");
        // Node 1's conv feeds nothing: a graph output, which runs.
        let dangling = nb201_network(
            &cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
            1,
        );
        // Node 1 is zeros, so the 3x3 conv of it is a constant; the 1x1 conv runs.
        let zeros = nb201_network(
            &cell("|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"),
            1,
        );
        assert_eq!(
            kernel_totals(&dangling, Pruning::None),
            kernel_totals(&dangling, Pruning::Constants)
        );
        let every = kernel_totals(&zeros, Pruning::None);
        let folded = kernel_totals(&zeros, Pruning::Constants);
        // 15 cells: one zeros Mul each, and its Relu, 3x3 conv and BN.
        assert_eq!(count(&every, "Mul"), 15);
        assert_eq!(count(&folded, "Mul"), 0);
        assert_eq!(count(&every, "Conv/1x1"), count(&folded, "Conv/1x1"));
        assert_eq!(count(&every, "Conv/kxk") - count(&folded, "Conv/kxk"), 15);
        assert_eq!(count(&every, "Relu") - count(&folded, "Relu"), 15);
        // The sum of a live and a constant branch still runs.
        assert_eq!(count(&every, "Add"), count(&folded, "Add"));
        assert_eq!(Pruning::of_engine("tract"), Pruning::Constants);
        assert_eq!(Pruning::of_engine("ort"), Pruning::None);
    }
}
