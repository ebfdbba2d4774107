//! Layers the families share, written as exporters write them
//! (torch.onnx at opset 17: BN not folded, SiLU as `Sigmoid` + `Mul`, ReLU6 as `Clip`).

use graph_ir::networks::{NetworkBuilder, Tensor};
use graph_ir::{ConvAttrs, Graph, PlainOp, PoolAttrs};

/// The activation after a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    None,
    Relu,
    Relu6,
    HardSwish,
    /// SiLU: `x * sigmoid(x)`.
    Swish,
}

pub(crate) fn activate(b: &mut NetworkBuilder, x: &Tensor, act: Act) -> Tensor {
    match act {
        Act::None => x.clone(),
        Act::Relu => b.relu(x),
        Act::Relu6 => b.relu6(x),
        Act::HardSwish => b.unary(x, PlainOp::HardSwish),
        Act::Swish => {
            let gate = b.unary(x, PlainOp::Sigmoid);
            b.mul(x, &gate)
        }
    }
}

/// A `k x k` convolution (stride, groups), optional BN, then `act`.
pub(crate) struct ConvSpec {
    pub out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub groups: usize,
    pub bn: bool,
    pub act: Act,
}

impl ConvSpec {
    /// A `k x k` convolution with BN and ReLU, stride 1.
    pub(crate) fn new(out: usize, kernel: usize) -> Self {
        Self {
            out,
            kernel,
            stride: 1,
            groups: 1,
            bn: true,
            act: Act::Relu,
        }
    }

    pub(crate) fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    pub(crate) fn depthwise(mut self, channels: usize) -> Self {
        self.groups = channels;
        self
    }

    pub(crate) fn bn(mut self, bn: bool) -> Self {
        self.bn = bn;
        self
    }

    pub(crate) fn act(mut self, act: Act) -> Self {
        self.act = act;
        self
    }

    pub(crate) fn apply(self, b: &mut NetworkBuilder, x: &Tensor) -> Tensor {
        let attrs = ConvAttrs {
            stride: self.stride,
            group: self.groups,
            // Without BN a convolution carries its own bias.
            bias: !self.bn,
            ..ConvAttrs::same(self.kernel)
        };
        let mut y = b.conv(x, self.out, attrs);
        if self.bn {
            y = b.batch_norm(&y);
        }
        activate(b, &y, self.act)
    }
}

/// Squeeze-and-excite: global pool, 1x1 conv down to `squeeze` channels,
/// `inner` activation, 1x1 conv back up, `gate`, and a rescale of `x`.
pub(crate) fn squeeze_excite(
    b: &mut NetworkBuilder,
    x: &Tensor,
    squeeze: usize,
    inner: Act,
    gate: PlainOp,
) -> Tensor {
    let pooled = b.global_average_pool(x);
    let down = ConvSpec::new(squeeze, 1)
        .bn(false)
        .act(inner)
        .apply(b, &pooled);
    let up = ConvSpec::new(x.channels(), 1)
        .bn(false)
        .act(Act::None)
        .apply(b, &down);
    let g = b.unary(&up, gate);
    b.mul(x, &g)
}

pub(crate) fn max_pool(
    b: &mut NetworkBuilder,
    x: &Tensor,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> Tensor {
    b.max_pool(
        x,
        PoolAttrs {
            kernel,
            stride,
            pad,
        },
    )
}

/// Global average pool, flatten, and a linear classifier to 1000 classes.
pub(crate) fn classifier(b: &mut NetworkBuilder, x: &Tensor) -> Tensor {
    let pooled = b.global_average_pool(x);
    let flat = b.flatten(&pooled);
    b.linear(&flat, CLASSES)
}

/// Flatten, two hidden linear + ReLU layers, and the linear classifier: the
/// AlexNet / VGG head.
pub(crate) fn mlp_classifier(b: &mut NetworkBuilder, x: &Tensor, hidden: usize) -> Tensor {
    let mut x = b.flatten(x);
    for _ in 0..2 {
        x = b.linear(&x, hidden);
        x = b.relu(&x);
    }
    b.linear(&x, CLASSES)
}

pub(crate) const CLASSES: usize = 1000;

/// A builder with one `[1, 3, side, side]` input.
pub(crate) fn start(side: usize) -> (NetworkBuilder, Tensor) {
    let mut b = NetworkBuilder::new();
    let x = b.input(vec![1, 3, side, side]);
    (b, x)
}

pub(crate) fn finish(b: NetworkBuilder) -> Graph {
    // Builders only connect a new op to values made before it.
    b.build().expect("a built network is acyclic")
}

/// `x + y` (residual connection).
pub(crate) fn residual(b: &mut NetworkBuilder, x: &Tensor, y: &Tensor) -> Tensor {
    b.add(y, x)
}
