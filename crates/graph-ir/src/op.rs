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

/// A typed operation. One variant per op, attributes in their own struct;
/// string-keyed attributes never leave the readers that produce this type.
///
/// Cell search spaces use fused ops (`ReluConvBn`, `ConvBnRelu`) because the
/// benchmarks define their cells that way; whole networks use the plain ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl Op {
    /// Short op-type name, as ONNX would spell it where ONNX has the op.
    pub fn name(&self) -> &'static str {
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
        }
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
            _ => f.write_str(self.name()),
        }
    }
}
