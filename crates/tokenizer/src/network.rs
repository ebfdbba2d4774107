//! The whole-network tokenizer (reference `predictor/feature/`): per node
//! `onehot(op) ++ attrs [80] ++ output_shape [40]`, and a 40-dim graph-level
//! static feature `[batch, FLOPs/1e9, params/1e9, memory_access/1e9]`.
//!
//! Two vocabularies, both versioned (the version is part of every cache key):
//! - [`NetworkVocab::Nnlqp`]: the reference layout, 28 ops in a 32-wide one-hot
//!   (152 dims per token), with MatMul encoded (the reference misspells it and
//!   zeroes every MatMul);
//! - [`NetworkVocab::Extended`] (default): the same 28 slots first, then the
//!   graph input and 36 more ops (LayerNormalization, Gelu, Erf, HardSwish, ...)
//!   in a 64-wide one-hot (184 dims per token).
//!
//! - [`NetworkVocab::ExtendedCosts`]: `extended`'s layout, then each node's
//!   own cost as four plain scalars (ln of its FLOPs, elements read, elements
//!   written and weights, each `ln(1 + v) / 10`): sinusoids of a shape say
//!   *which* size it is, these say *how much* work, on a scale on which a
//!   bigger network of an unseen family is an extrapolation, not a new code.
//!
//! An op outside the vocabulary gets an all-zero one-hot and is counted by name
//! in [`CompactTokens::unknown_ops`]; graph inputs are not counted.

use crate::GraphTokens;
use crate::encoding::{TRANS_DIM, trans_into};
use crate::tokens::symmetric_adjacency;
use graph_ir::{Cost, Graph, Op, graph_cost};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// Width of the attribute block: up to 8 scalars of [`TRANS_DIM`].
pub const ATTR_DIM: usize = 80;
/// Width of the output-shape block: 4 scalars (N, C, H, W).
pub const SHAPE_DIM: usize = 40;
/// Width of the graph-level static feature.
pub const STATIC_DIM: usize = 40;
/// Width of the per-node cost block of [`NetworkVocab::ExtendedCosts`].
pub const COST_DIM: usize = 4;

/// The reference's op table, in its one-hot order.
const NNLQP_OPS: [&str; 28] = [
    "Conv",
    "Relu",
    "Add",
    "Sigmoid",
    "Reshape",
    "MaxPool",
    "Split",
    "GlobalAveragePool",
    "Gemm",
    "Transpose",
    "Upsample",
    "BatchNormalization",
    "Mul",
    "Concat",
    "Flatten",
    "AveragePool",
    "Cast",
    "MatMul",
    "ReduceMean",
    "Pow",
    "Slice",
    "Div",
    "Sub",
    "Sqrt",
    "Clip",
    "Softmax",
    "Tanh",
    "ConvTranspose",
];

/// Slots 28.. of the extended vocabulary (version `extended-v1`).
const EXTENDED_OPS: [&str; 36] = [
    "Input",
    "LayerNormalization",
    "Gelu",
    "Erf",
    "HardSwish",
    "HardSigmoid",
    "Resize",
    "Pad",
    "Gather",
    "Squeeze",
    "Unsqueeze",
    "Expand",
    "Where",
    "ReduceMax",
    "ReduceSum",
    "Max",
    "Min",
    "Identity",
    "Dropout",
    "Exp",
    "Log",
    "Neg",
    "Abs",
    "Reciprocal",
    "LeakyRelu",
    "PRelu",
    "Elu",
    "Softplus",
    "GlobalMaxPool",
    "InstanceNormalization",
    "Tile",
    "Equal",
    "Less",
    "Greater",
    "LogSoftmax",
    "Mish",
];

/// Slots 64.. of vocabulary `extended-v2`: every other op of the op catalogue
/// as it stood when the version was made (frozen: a catalogue op missing here
/// means a new version, never an edit), then one slot for unknown ops.
const EXTENDED_V2_OPS: [&str; 99] = [
    "Floor",
    "Ceil",
    "Not",
    "Sin",
    "Cos",
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "Cosh",
    "Sinh",
    "Tan",
    "Sign",
    "Round",
    "IsNaN",
    "IsInf",
    "Selu",
    "Celu",
    "ThresholdedRelu",
    "Shrink",
    "Softsign",
    "Hardmax",
    "BitwiseNot",
    "Bernoulli",
    "EyeLike",
    "RandomNormalLike",
    "RandomUniformLike",
    "LRN",
    "LpNormalization",
    "MeanVarianceNormalization",
    "GroupNormalization",
    "CumSum",
    "Trilu",
    "ReverseSequence",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "CastLike",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Mod",
    "Sum",
    "Mean",
    "And",
    "Or",
    "Xor",
    "GreaterOrEqual",
    "LessOrEqual",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "LpPool",
    "MaxUnpool",
    "ConvInteger",
    "QLinearConv",
    "DeformConv",
    "GlobalLpPool",
    "MatMulInteger",
    "QLinearMatMul",
    "Einsum",
    "GatherElements",
    "GatherND",
    "DepthToSpace",
    "SpaceToDepth",
    "TopK",
    "Compress",
    "ReduceMin",
    "ReduceProd",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ArgMax",
    "ArgMin",
    "Det",
    "NegativeLogLikelihoodLoss",
    "SoftmaxCrossEntropyLoss",
    "GridSample",
    "AffineGrid",
    "Col2Im",
    "Shape",
    "Size",
    "ConstantOfShape",
    "Range",
    "OneHot",
    "HannWindow",
    "HammingWindow",
    "BlackmanWindow",
    "MelWeightMatrix",
    "NonZero",
    "RNN",
    "GRU",
    "LSTM",
    "NonMaxSuppression",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkVocab {
    /// The reference's 28-op layout (152 dims per token), MatMul fixed.
    Nnlqp,
    /// The reference layout extended to 64 ops (184 dims per token).
    #[default]
    Extended,
    /// Every catalogued op its own slot (163 ops) and a slot for unknown ops
    /// (284 dims per token).
    #[serde(rename = "extended-v2")]
    ExtendedV2,
    /// `extended` plus each node's cost ([`COST_DIM`] scalars; 188 dims per token).
    #[serde(rename = "extended-costs")]
    ExtendedCosts,
}

impl NetworkVocab {
    /// Changes whenever the layout changes: cached tokens are keyed by it.
    pub fn version(self) -> &'static str {
        match self {
            NetworkVocab::Nnlqp => "nnlqp-v1",
            NetworkVocab::Extended => "extended-v1",
            NetworkVocab::ExtendedV2 => "extended-v2",
            NetworkVocab::ExtendedCosts => "extended-costs-v1",
        }
    }

    /// Whether this layout's tokens are `other`'s cut short
    /// ([`GraphTokens::with_token_dim`] turns `other`'s into this one's).
    pub fn is_prefix_of(self, other: NetworkVocab) -> bool {
        self == other || (self == NetworkVocab::Extended && other == NetworkVocab::ExtendedCosts)
    }

    /// Whether each token ends with the node's cost block.
    pub fn node_costs(self) -> bool {
        self == NetworkVocab::ExtendedCosts
    }

    pub fn onehot_width(self) -> usize {
        match self {
            NetworkVocab::Nnlqp => 32,
            NetworkVocab::Extended | NetworkVocab::ExtendedCosts => 64,
            NetworkVocab::ExtendedV2 => {
                NNLQP_OPS.len() + EXTENDED_OPS.len() + EXTENDED_V2_OPS.len() + 1
            }
        }
    }

    /// Width of one token.
    pub fn token_dim(self) -> usize {
        self.onehot_width() + ATTR_DIM + SHAPE_DIM + if self.node_costs() { COST_DIM } else { 0 }
    }

    /// The op's one-hot slot: its own, the unknown-op slot (`extended-v2`),
    /// or `None` outside the vocabulary.
    pub fn index(self, op: &Op) -> Option<usize> {
        self.own_slot(op).or(match self {
            NetworkVocab::ExtendedV2 => Some(self.onehot_width() - 1),
            _ => None,
        })
    }

    /// Whether the op has a slot of its own (else it is reported as unknown).
    pub fn knows(self, op: &Op) -> bool {
        self.own_slot(op).is_some()
    }

    fn own_slot(self, op: &Op) -> Option<usize> {
        // (The older layouts look unknown ops up by name, as they always did.)
        if self == NetworkVocab::ExtendedV2 && matches!(op, Op::Unknown(_)) {
            return None;
        }
        let name = op.name();
        self.op_names().iter().position(|&o| o == name)
    }

    /// Every op name of the vocabulary with a slot of its own, in slot order.
    pub fn op_names(self) -> Vec<&'static str> {
        let mut names = NNLQP_OPS.to_vec();
        if self != NetworkVocab::Nnlqp {
            names.extend(EXTENDED_OPS);
        }
        if self == NetworkVocab::ExtendedV2 {
            names.extend(EXTENDED_V2_OPS);
        }
        names
    }
}

impl FromStr for NetworkVocab {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nnlqp" => Ok(NetworkVocab::Nnlqp),
            "extended" => Ok(NetworkVocab::Extended),
            "extended-v2" => Ok(NetworkVocab::ExtendedV2),
            "extended-costs" => Ok(NetworkVocab::ExtendedCosts),
            other => Err(format!(
                "unknown vocabulary {other:?} (known: nnlqp, extended, extended-v2, extended-costs)"
            )),
        }
    }
}

impl fmt::Display for NetworkVocab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkVocab::Nnlqp => "nnlqp",
            NetworkVocab::Extended => "extended",
            NetworkVocab::ExtendedV2 => "extended-v2",
            NetworkVocab::ExtendedCosts => "extended-costs",
        })
    }
}

/// One token before sinusoidal encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenScalars {
    /// One-hot slot, `None` for an op outside the vocabulary.
    pub op: Option<u16>,
    /// Attribute scalars in the op's order (at most 8).
    pub attrs: Vec<f32>,
    /// Output shape, truncated to 4 dims (missing dims are 0).
    pub shape: [f32; 4],
    /// FLOPs, elements read, elements written and weights of the node.
    #[serde(default)]
    pub cost: [f32; COST_DIM],
}

/// A tokenised network in compact form: what the tokenizer decided, before the
/// sinusoids expand it ~10x. This is what the on-disk cache holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactTokens {
    /// [`NetworkVocab::version`] of the vocabulary used.
    pub vocab: String,
    pub onehot_width: usize,
    /// Whether [`Self::encode`] appends each node's cost block.
    #[serde(default)]
    pub node_costs: bool,
    pub batch_size: usize,
    /// Tokens in topological order.
    pub tokens: Vec<TokenScalars>,
    /// Directed edges between token positions.
    pub edges: Vec<(u32, u32)>,
    pub cost: Cost,
    pub unknown_ops: BTreeMap<String, usize>,
}

/// The attribute scalars of an op, in the reference's order.
fn attr_scalars(op: &Op) -> Vec<f32> {
    let conv = |c: &graph_ir::ConvAttrs| {
        vec![
            c.kernel as f32,
            c.stride as f32,
            c.pad as f32,
            c.dilation as f32,
            c.group as f32,
            f32::from(u8::from(c.bias)),
        ]
    };
    match op {
        Op::Conv(c) | Op::ReluConvBn(c) | Op::ConvBnRelu(c) => conv(c),
        Op::ConvTranspose {
            conv: c,
            output_padding,
        } => {
            let mut v = conv(c);
            v.push(*output_padding as f32);
            v
        }
        Op::MaxPool(p) | Op::AveragePool(p) => vec![p.kernel as f32, p.stride as f32, p.pad as f32],
        Op::Gemm { bias } => vec![f32::from(u8::from(*bias))],
        Op::Transpose(perm) => {
            let mut v: Vec<f32> = perm.axes().map(|a| a as f32).collect();
            v.resize(8, 0.0);
            v
        }
        Op::Recurrent(r) => vec![
            r.hidden as f32,
            if r.bidirectional { 2.0 } else { 1.0 },
            r.cell.gates() as f32,
            f32::from(u8::from(r.batch_first)),
        ],
        _ => Vec::new(),
    }
}

/// A node's FLOPs, traffic or weights as a feature: `ln(1 + v) / 10`, about
/// 0 to 2.5 from a scalar op to the largest convolutions.
fn cost_scalar(v: f32) -> f32 {
    ((v as f64).ln_1p() / 10.0) as f32
}

/// The whole-network tokenizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkTokenizer {
    pub vocab: NetworkVocab,
}

impl NetworkTokenizer {
    pub fn new(vocab: NetworkVocab) -> Self {
        Self { vocab }
    }

    /// Decides every token of `graph` (tokens in topological order).
    pub fn compact(&self, graph: &Graph, batch_size: usize) -> CompactTokens {
        let order = graph.topological_order();
        let position: HashMap<usize, u32> = order
            .iter()
            .enumerate()
            .map(|(pos, id)| (id.0, pos as u32))
            .collect();
        let mut unknown_ops = BTreeMap::new();
        let tokens = order
            .iter()
            .map(|&id| {
                let node = graph.node(id);
                let op = self.vocab.index(&node.op).map(|i| i as u16);
                if !self.vocab.knows(&node.op) && node.op != Op::Input {
                    *unknown_ops.entry(node.op.name().to_string()).or_default() += 1;
                }
                let mut shape = [0.0f32; 4];
                for (s, &d) in shape.iter_mut().zip(node.shape.iter().flatten()) {
                    *s = d as f32;
                }
                let traffic = graph_ir::node_traffic(graph, id);
                let work = [
                    graph_ir::node_flops(graph, id),
                    traffic.read,
                    traffic.written,
                    traffic.params,
                ];
                TokenScalars {
                    op,
                    attrs: attr_scalars(&node.op),
                    shape,
                    cost: work.map(|v| v as f32),
                }
            })
            .collect();
        let edges = graph
            .edges()
            .into_iter()
            .map(|(a, b)| (position[&a.0], position[&b.0]))
            .collect();
        CompactTokens {
            vocab: self.vocab.version().to_string(),
            onehot_width: self.vocab.onehot_width(),
            node_costs: self.vocab.node_costs(),
            batch_size,
            tokens,
            edges,
            cost: graph_cost(graph),
            unknown_ops,
        }
    }

    /// Tokens and static feature of `graph`.
    pub fn tokenize(&self, graph: &Graph, batch_size: usize) -> GraphTokens {
        self.compact(graph, batch_size).encode()
    }
}

impl CompactTokens {
    pub fn token_dim(&self) -> usize {
        self.onehot_width + ATTR_DIM + SHAPE_DIM + if self.node_costs { COST_DIM } else { 0 }
    }

    /// The `[batch, FLOPs/1e9, params/1e9, memory_access/1e9]` scalars.
    pub fn static_scalars(&self) -> [f64; 4] {
        [
            self.batch_size as f64,
            self.cost.flops as f64 / 1e9,
            self.cost.params as f64 / 1e9,
            self.cost.memory_access as f64 / 1e9,
        ]
    }

    /// Expands every scalar with the "trans" sinusoid.
    pub fn encode(&self) -> GraphTokens {
        let n = self.tokens.len();
        let dim = self.token_dim();
        let mut features = Vec::with_capacity(n * dim);
        for t in &self.tokens {
            let start = features.len();
            features.resize(start + self.onehot_width, 0.0);
            if let Some(i) = t.op.filter(|&i| (i as usize) < self.onehot_width) {
                features[start + i as usize] = 1.0;
            }
            for &a in t.attrs.iter().take(ATTR_DIM / TRANS_DIM) {
                trans_into(a as f64, &mut features);
            }
            features.resize(start + self.onehot_width + ATTR_DIM, 0.0);
            for &s in &t.shape {
                trans_into(s as f64, &mut features);
            }
            if self.node_costs {
                features.extend(t.cost.iter().map(|&v| cost_scalar(v)));
            }
        }
        let mut directed = vec![false; n * n];
        for &(a, b) in &self.edges {
            directed[a as usize * n + b as usize] = true;
        }
        let mut statics = Vec::with_capacity(STATIC_DIM);
        for s in self.static_scalars() {
            trans_into(s, &mut statics);
        }
        GraphTokens {
            n,
            dim,
            features,
            adjacency: symmetric_adjacency(n, &directed),
            statics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_ir::catalogue;

    #[test]
    fn extended_v2_gives_every_catalogued_op_its_own_slot_and_unknown_ops_one() {
        let v2 = NetworkVocab::ExtendedV2;
        for entry in catalogue::CATALOGUE {
            assert!(
                v2.op_names().contains(&entry.name),
                "{} is catalogued but has no extended-v2 slot: make a new vocabulary \
                 version (extended-v2 is frozen; stored runs use it)",
                entry.name
            );
        }
        let names = v2.op_names();
        assert_eq!(v2.onehot_width(), names.len() + 1);
        let unknown = Op::Unknown("com.example.Mystery".into());
        assert_eq!(v2.index(&unknown), Some(v2.onehot_width() - 1));
        assert!(!v2.knows(&unknown));
        assert_eq!(NetworkVocab::Extended.index(&unknown), None);
        // The first 64 slots are extended-v1's, so the layouts agree where both have an op.
        assert_eq!(&names[..64], NetworkVocab::Extended.op_names().as_slice());
        assert_eq!("extended-v2".parse::<NetworkVocab>().unwrap(), v2);
        assert_eq!(
            serde_json::to_string(&v2).unwrap(),
            "\"extended-v2\"".to_string()
        );
    }

    #[test]
    fn every_vocabulary_op_is_catalogued() {
        for vocab in [
            NetworkVocab::Nnlqp,
            NetworkVocab::Extended,
            NetworkVocab::ExtendedV2,
            NetworkVocab::ExtendedCosts,
        ] {
            for name in vocab.op_names() {
                assert!(
                    catalogue::lookup(name).is_some() || catalogue::NOT_ONNX.contains(&name),
                    "{vocab}: {name} is neither in graph_ir::catalogue nor a graph-level op"
                );
            }
        }
    }

    #[test]
    fn extended_costs_appends_each_nodes_work_to_extended_tokens() {
        let cell: graph_ir::cells::Nb201Cell =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let graph = graph_ir::networks::nb201_network(&cell, 1);
        let costs = NetworkTokenizer::new(NetworkVocab::ExtendedCosts).tokenize(&graph, 1);
        let plain = NetworkTokenizer::new(NetworkVocab::Extended).tokenize(&graph, 1);
        assert_eq!(costs.dim, NetworkVocab::ExtendedCosts.token_dim());
        assert_eq!(costs.dim, plain.dim + COST_DIM);
        let order = graph.topological_order();
        for (i, &id) in order.iter().enumerate() {
            let row = &costs.features[i * costs.dim..(i + 1) * costs.dim];
            assert_eq!(&row[..plain.dim], plain.token(i));
            let flops = graph_ir::node_flops(&graph, id) as f64;
            assert!((row[plain.dim] as f64 - flops.ln_1p() / 10.0).abs() < 1e-6);
            let written = graph_ir::node_traffic(&graph, id).written as f64;
            assert!((row[plain.dim + 2] as f64 - written.ln_1p() / 10.0).abs() < 1e-6);
        }
        // The biggest node's work is visible in its scalars, not only in a sinusoid.
        let most = (0..costs.n)
            .map(|i| costs.features[i * costs.dim + plain.dim])
            .fold(0.0f32, f32::max);
        assert!(most > 1.0, "{most}");
        assert!(NetworkVocab::Extended.is_prefix_of(NetworkVocab::ExtendedCosts));
        assert_eq!(costs.with_token_dim(plain.dim), plain);
    }
}
