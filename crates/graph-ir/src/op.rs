//! The op types of a graph and their attributes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Attributes of a convolution-like op, normalised (defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvAttrs {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
    pub group: usize,
    pub bias: bool,
}

impl ConvAttrs {
    /// A square `k x k` convolution, stride 1, "same" padding, no bias.
    pub fn same(kernel: usize) -> Self {
        Self {
            kernel,
            stride: 1,
            pad: kernel / 2,
            dilation: 1,
            group: 1,
            bias: false,
        }
    }
}

/// Attributes of a pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolAttrs {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl PoolAttrs {
    /// A square `k x k` pool, stride 1, "same" padding.
    pub fn same(kernel: usize) -> Self {
        Self {
            kernel,
            stride: 1,
            pad: kernel / 2,
        }
    }
}

/// The cell of a recurrent op (ONNX `RNN`, `GRU`, `LSTM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecurrentCell {
    Rnn,
    Gru,
    Lstm,
}

impl RecurrentCell {
    /// The ONNX op type.
    pub fn name(self) -> &'static str {
        match self {
            RecurrentCell::Rnn => "RNN",
            RecurrentCell::Gru => "GRU",
            RecurrentCell::Lstm => "LSTM",
        }
    }

    /// Gate blocks of the weight matrices (RNN 1, GRU 3, LSTM 4).
    pub fn gates(self) -> usize {
        match self {
            RecurrentCell::Rnn => 1,
            RecurrentCell::Gru => 3,
            RecurrentCell::Lstm => 4,
        }
    }
}

/// Attributes of a recurrent op that shape its cost: the hidden size, one or
/// two directions, and the layout (`batch_first`: `[batch, seq, ...]`, ONNX
/// `layout = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecurrentAttrs {
    pub cell: RecurrentCell,
    pub hidden: usize,
    pub bidirectional: bool,
    pub batch_first: bool,
}

/// A typed operation. One variant per op, attributes in their own struct;
/// string-keyed attributes never leave the readers that produce this type.
///
/// Cell search spaces use fused ops (`ReluConvBn`, `ConvBnRelu`) because the
/// benchmarks define their cells that way; whole networks use the plain ops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// A graph input (the cell input, or a network input tensor).
    Input,
    /// The graph output (a cell's output node, which sums its inputs).
    Output,
    /// NAS-Bench-201 `nor_conv_kxk`: ReLU, then convolution, then batch norm.
    ReluConvBn(ConvAttrs),
    /// NAS-Bench-101 `convkxk-bn-relu`: convolution, batch norm, ReLU.
    ConvBnRelu(ConvAttrs),
    AveragePool(PoolAttrs),
    MaxPool(PoolAttrs),
    /// Passes its input through (NAS-Bench-201 `skip_connect`).
    Identity,
    /// Outputs zeros (NAS-Bench-201 `none`): kept as a node so the cell keeps its shape.
    Zero,
    Conv(ConvAttrs),
    Relu,
    Add,
    BatchNormalization,
    /// ONNX `ConvTranspose`; `output_padding` is its first element.
    ConvTranspose {
        conv: ConvAttrs,
        output_padding: usize,
    },
    /// ONNX `Gemm`; `bias` = the op has a `C` input.
    Gemm {
        bias: bool,
    },
    Transpose(Perm),
    /// ONNX `RNN`, `GRU` or `LSTM`.
    Recurrent(RecurrentAttrs),
    /// ONNX `Einsum`; `contracted` is the product of the sizes of the labels it
    /// sums out (its multiply-accumulates per output element; 1 for none).
    Einsum {
        contracted: usize,
    },
    /// An op whose token carries no attributes (elementwise maths, data movement, ...).
    Plain(PlainOp),
    /// An op outside every vocabulary, kept under its ONNX name so it can be reported.
    Unknown(String),
}

/// A transpose permutation of up to 8 axes (the reference encodes 8 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Perm {
    len: u8,
    axes: [u8; 8],
}

impl Perm {
    /// `None` if there are more than 8 axes or an axis is not in `0..8`.
    pub fn new(axes: &[usize]) -> Option<Self> {
        if axes.len() > 8 || axes.iter().any(|&a| a >= 8) {
            return None;
        }
        let mut out = [0u8; 8];
        for (o, &a) in out.iter_mut().zip(axes) {
            *o = a as u8;
        }
        Some(Self {
            len: axes.len() as u8,
            axes: out,
        })
    }

    pub fn axes(&self) -> impl Iterator<Item = usize> + '_ {
        self.axes[..self.len as usize].iter().map(|&a| a as usize)
    }
}

macro_rules! plain_ops {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Ops without token attributes, named exactly as ONNX names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum PlainOp {
            $($(#[$doc])* $name),*
        }

        impl PlainOp {
            pub const ALL: &'static [PlainOp] = &[$(PlainOp::$name),*];

            /// The ONNX op type.
            pub fn name(self) -> &'static str {
                match self {
                    $(PlainOp::$name => stringify!($name)),*
                }
            }

            /// The op with ONNX op type `name`, if it is a plain op.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(PlainOp::$name),)*
                    _ => None,
                }
            }
        }
    };
}

plain_ops! {
    Sigmoid, Reshape, Split, GlobalAveragePool, Upsample, Mul, Concat, Flatten, Cast, MatMul,
    ReduceMean, Pow, Slice, Div, Sub, Sqrt, Clip, Softmax, Tanh,
    LayerNormalization, Gelu, Erf, HardSwish, HardSigmoid, Resize, Pad, Gather, Squeeze,
    Unsqueeze, Expand, Where, ReduceMax, ReduceSum, Max, Min, Dropout, Exp, Log, Neg, Abs,
    Reciprocal, LeakyRelu, PRelu, Elu, Softplus, GlobalMaxPool, InstanceNormalization, Tile,
    Equal, Less, Greater, Not, Shape, Floor, Ceil, Mish, LogSoftmax, Sin, Cos,
    // Element-wise maths and activations of the wider ai.onnx opset.
    Acos, Acosh, Asin, Asinh, Atan, Atanh, Cosh, Sinh, Tan, Sign, Round, IsNaN, IsInf, Selu,
    Celu, ThresholdedRelu, Shrink, Softsign, Hardmax, BitwiseNot, Bernoulli, EyeLike,
    RandomNormalLike, RandomUniformLike,
    // Normalisations and scans that keep their input's shape.
    LRN, LpNormalization, MeanVarianceNormalization, GroupNormalization, CumSum, Trilu,
    ReverseSequence,
    // Quantisation that keeps the tensor's shape.
    QuantizeLinear, DequantizeLinear,
    // Scatters, which keep the data's shape.
    CastLike, Scatter, ScatterElements, ScatterND,
    // Data movement and selection.
    GatherElements, GatherND, DepthToSpace, SpaceToDepth, TopK, Compress,
    // Reductions and losses.
    ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
    ArgMax, ArgMin, Det, NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss,
    // Generators.
    Size, OneHot, HannWindow, HammingWindow, BlackmanWindow, NonZero,
    // Quantised and other convolution-like, matmul-like and sampling ops
    // (typed plainly for now: their cost is counted as element-wise).
    DynamicQuantizeLinear, LpPool, GlobalLpPool, MaxUnpool, ConvInteger, QLinearConv,
    DeformConv, MatMulInteger, QLinearMatMul, GridSample, AffineGrid, Col2Im,
    MelWeightMatrix,
    NonMaxSuppression,
    // Variadic and logical broadcasts.
    Sum, Mean, And, Or, Xor, GreaterOrEqual, LessOrEqual, BitShift, BitwiseAnd, BitwiseOr,
    BitwiseXor,
}

impl Op {
    /// Short op-type name, as ONNX would spell it where ONNX has the op.
    pub fn name(&self) -> &str {
        match self {
            Op::Input => "Input",
            Op::Output => "Output",
            Op::ReluConvBn(_) => "ReluConvBn",
            Op::ConvBnRelu(_) => "ConvBnRelu",
            Op::AveragePool(_) => "AveragePool",
            Op::MaxPool(_) => "MaxPool",
            Op::Identity => "Identity",
            Op::Zero => "Zero",
            Op::Conv(_) => "Conv",
            Op::Relu => "Relu",
            Op::Add => "Add",
            Op::BatchNormalization => "BatchNormalization",
            Op::ConvTranspose { .. } => "ConvTranspose",
            Op::Gemm { .. } => "Gemm",
            Op::Transpose(_) => "Transpose",
            Op::Recurrent(r) => r.cell.name(),
            Op::Einsum { .. } => "Einsum",
            Op::Plain(p) => p.name(),
            Op::Unknown(name) => name,
        }
    }

    /// The op for an ONNX op type that has no attributes in any token: the plain
    /// ops plus `Relu`, `Add`, `BatchNormalization` and `Identity`.
    pub fn without_attrs(onnx_name: &str) -> Option<Op> {
        Some(match onnx_name {
            "Relu" => Op::Relu,
            "Add" => Op::Add,
            "BatchNormalization" => Op::BatchNormalization,
            "Identity" => Op::Identity,
            _ => Op::Plain(PlainOp::from_name(onnx_name)?),
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::ReluConvBn(c) | Op::ConvBnRelu(c) | Op::Conv(c) => write!(
                f,
                "{}(k{} s{} p{} d{} g{}{})",
                self.name(),
                c.kernel,
                c.stride,
                c.pad,
                c.dilation,
                c.group,
                if c.bias { " bias" } else { "" }
            ),
            Op::AveragePool(p) | Op::MaxPool(p) => {
                write!(f, "{}(k{} s{} p{})", self.name(), p.kernel, p.stride, p.pad)
            }
            Op::ConvTranspose {
                conv: c,
                output_padding,
            } => write!(
                f,
                "ConvTranspose(k{} s{} p{} d{} g{} op{}{})",
                c.kernel,
                c.stride,
                c.pad,
                c.dilation,
                c.group,
                output_padding,
                if c.bias { " bias" } else { "" }
            ),
            Op::Gemm { bias } => write!(f, "Gemm({})", if *bias { "bias" } else { "no bias" }),
            Op::Transpose(p) => {
                let axes: Vec<String> = p.axes().map(|a| a.to_string()).collect();
                write!(f, "Transpose({})", axes.join(","))
            }
            Op::Recurrent(r) => write!(
                f,
                "{}(h{}{}{})",
                r.cell.name(),
                r.hidden,
                if r.bidirectional {
                    " bidirectional"
                } else {
                    ""
                },
                if r.batch_first { " batch-first" } else { "" }
            ),
            Op::Einsum { contracted } => write!(f, "Einsum(contracted {contracted})"),
            Op::Unknown(name) => write!(f, "{name}(unknown)"),
            _ => f.write_str(self.name()),
        }
    }
}
