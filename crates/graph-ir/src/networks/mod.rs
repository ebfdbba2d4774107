//! Builders for whole networks, op by op as an ONNX exporter would write them
//! (plain `Conv`, `BatchNormalization`, `Relu`, ... with inferred shapes and
//! parameter counts), so a built graph equals the graph the ONNX importer
//! reads from the same network's file.

mod nb201;

pub use nb201::nb201_network;

use crate::{
    ConvAttrs, Graph, GraphBuilder, GraphError, Node, NodeId, Op, Perm, PlainOp, PoolAttrs,
};

/// A value flowing through the network being built: its node and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub node: NodeId,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn channels(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(0)
    }
}

/// Adds ops to a graph while tracking each output's shape and weight count.
/// Image tensors are `[N, C, H, W]`.
#[derive(Debug, Default)]
pub struct NetworkBuilder {
    graph: GraphBuilder,
    count: usize,
}

/// Output side of a convolution or pool window (floor mode).
fn window_out(side: usize, kernel: usize, stride: usize, pad: usize, dilation: usize) -> usize {
    let span = dilation * (kernel - 1) + 1;
    (side + 2 * pad).saturating_sub(span) / stride.max(1) + 1
}

impl NetworkBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, op: Op, shape: Vec<usize>, params: u64, operands: &[&Tensor]) -> Tensor {
        self.push_node(
            |name| Node::new(name, op).with_params(params),
            shape,
            operands,
        )
    }

    /// Adds the node `make` builds from its name (`<op>_<n>`), shaped `shape`.
    fn push_node(
        &mut self,
        make: impl FnOnce(String) -> Node,
        shape: Vec<usize>,
        operands: &[&Tensor],
    ) -> Tensor {
        self.count += 1;
        let node = make(String::new());
        let name = format!("{}_{}", node.op.name().to_lowercase(), self.count);
        let node = self.graph.add_node(Node {
            name,
            shape: Some(shape.clone()),
            ..node
        });
        for (slot, t) in operands.iter().enumerate() {
            self.graph.connect(t.node, node, slot);
        }
        Tensor { node, shape }
    }

    pub fn input(&mut self, shape: Vec<usize>) -> Tensor {
        self.push(Op::Input, shape, 0, &[])
    }

    /// A square convolution to `out_channels`, weights `[Cout, Cin/g, k, k]` (+ bias).
    pub fn conv(&mut self, x: &Tensor, out_channels: usize, attrs: ConvAttrs) -> Tensor {
        let [n, c, h, w] = image(x);
        let side = |s| window_out(s, attrs.kernel, attrs.stride, attrs.pad, attrs.dilation);
        let weights = out_channels * c / attrs.group.max(1) * attrs.kernel * attrs.kernel;
        let params = weights + if attrs.bias { out_channels } else { 0 };
        self.push(
            Op::Conv(attrs),
            vec![n, out_channels, side(h), side(w)],
            params as u64,
            &[x],
        )
    }

    /// Batch norm: scale, bias, running mean and variance, `C` each.
    pub fn batch_norm(&mut self, x: &Tensor) -> Tensor {
        let params = 4 * x.channels() as u64;
        self.push(Op::BatchNormalization, x.shape.clone(), params, &[x])
    }

    pub fn relu(&mut self, x: &Tensor) -> Tensor {
        self.push(Op::Relu, x.shape.clone(), 0, &[x])
    }

    pub fn add(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        self.push(Op::Add, a.shape.clone(), 0, &[a, b])
    }

    /// `x * c` for a one-element constant `c` (NAS-Bench-201's `none` on a path that must exist).
    /// Zeros shaped like `x`: `x * 0`, a Mul by a one-element zero constant
    /// (the exporter fills a Mul's constant with 0).
    pub fn zeros_like(&mut self, x: &Tensor) -> Tensor {
        let mul = |name| {
            Node::new(name, Op::Plain(PlainOp::Mul))
                .with_params(1)
                .all_zeros()
        };
        self.push_node(mul, x.shape.clone(), &[x])
    }

    pub fn average_pool(&mut self, x: &Tensor, attrs: PoolAttrs) -> Tensor {
        self.pool(x, Op::AveragePool(attrs), attrs)
    }

    pub fn max_pool(&mut self, x: &Tensor, attrs: PoolAttrs) -> Tensor {
        self.pool(x, Op::MaxPool(attrs), attrs)
    }

    fn pool(&mut self, x: &Tensor, op: Op, attrs: PoolAttrs) -> Tensor {
        let [n, c, h, w] = image(x);
        let side = |s| window_out(s, attrs.kernel, attrs.stride, attrs.pad, 1);
        self.push(op, vec![n, c, side(h), side(w)], 0, &[x])
    }

    /// `[N, C, H, W] -> [N, C, 1, 1]`.
    pub fn global_average_pool(&mut self, x: &Tensor) -> Tensor {
        let [n, c, _, _] = image(x);
        self.push(
            Op::Plain(PlainOp::GlobalAveragePool),
            vec![n, c, 1, 1],
            0,
            &[x],
        )
    }

    /// ONNX `Flatten` with its default axis 1: `[N, ...] -> [N, rest]`.
    pub fn flatten(&mut self, x: &Tensor) -> Tensor {
        let n = x.shape.first().copied().unwrap_or(1);
        let rest = x.shape.iter().skip(1).product();
        self.push(Op::Plain(PlainOp::Flatten), vec![n, rest], 0, &[x])
    }

    /// A fully connected layer `[N, Ci] -> [N, Co]` (ONNX `Gemm`, transposed weight, bias).
    pub fn linear(&mut self, x: &Tensor, out_features: usize) -> Tensor {
        let n = x.shape.first().copied().unwrap_or(1);
        let params = (x.channels() * out_features + out_features) as u64;
        self.push(Op::Gemm { bias: true }, vec![n, out_features], params, &[x])
    }

    /// An op that keeps its input's shape and owns no weights (`Sigmoid`, `HardSwish`, `Erf`, ...).
    pub fn unary(&mut self, x: &Tensor, op: PlainOp) -> Tensor {
        self.push(Op::Plain(op), x.shape.clone(), 0, &[x])
    }

    /// An elementwise op of `x` and a weight tensor of `params` elements (a
    /// scalar constant, a bias, a position embedding) broadcast against it.
    pub fn with_constant(&mut self, x: &Tensor, op: Op, params: usize) -> Tensor {
        self.push(op, x.shape.clone(), params as u64, &[x])
    }

    /// ReLU6 as exporters write it: `Clip` with a min and a max constant.
    pub fn relu6(&mut self, x: &Tensor) -> Tensor {
        self.with_constant(x, Op::Plain(PlainOp::Clip), 2)
    }

    /// `a * b`, with `b` broadcast to `a` (a squeeze-excite gate `[N, C, 1, 1]`).
    pub fn mul(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        self.push(Op::Plain(PlainOp::Mul), a.shape.clone(), 0, &[a, b])
    }

    /// Channel concatenation of image tensors (ONNX `Concat`, axis 1).
    pub fn concat(&mut self, parts: &[Tensor]) -> Tensor {
        let mut shape = parts[0].shape.clone();
        shape[1] = parts.iter().map(Tensor::channels).sum();
        let operands: Vec<&Tensor> = parts.iter().collect();
        self.push(Op::Plain(PlainOp::Concat), shape, 0, &operands)
    }

    /// `x` viewed as `shape` (same element count).
    pub fn reshape(&mut self, x: &Tensor, shape: Vec<usize>) -> Tensor {
        debug_assert_eq!(
            x.shape.iter().product::<usize>(),
            shape.iter().product::<usize>()
        );
        self.push(Op::Plain(PlainOp::Reshape), shape, 0, &[x])
    }

    pub fn transpose(&mut self, x: &Tensor, perm: &[usize]) -> Tensor {
        let shape = perm.iter().map(|&p| x.shape[p]).collect();
        let perm = Perm::new(perm).expect("builder permutations have at most 8 axes");
        self.push(Op::Transpose(perm), shape, 0, &[x])
    }

    /// Layer norm over the last axis: scale and bias, `D` each.
    pub fn layer_norm(&mut self, x: &Tensor) -> Tensor {
        let d = x.shape.last().copied().unwrap_or(0);
        self.push(
            Op::Plain(PlainOp::LayerNormalization),
            x.shape.clone(),
            2 * d as u64,
            &[x],
        )
    }

    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: &Tensor) -> Tensor {
        self.unary(x, PlainOp::Softmax)
    }

    /// `a @ b` of two computed tensors `[.., n, k] x [.., k, m] -> [.., n, m]`.
    pub fn matmul(&mut self, a: &Tensor, b: &Tensor) -> Tensor {
        let mut shape = a.shape.clone();
        if let (Some(last), Some(&m)) = (shape.last_mut(), b.shape.last()) {
            *last = m;
        }
        self.push(Op::Plain(PlainOp::MatMul), shape, 0, &[a, b])
    }

    /// A linear layer on the last axis as exporters write it for `[N, T, D]`
    /// tokens: `MatMul` with a `[D, out]` weight, then `Add` of a bias.
    pub fn dense(&mut self, x: &Tensor, out_features: usize) -> Tensor {
        let d = x.shape.last().copied().unwrap_or(0);
        let mut shape = x.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = out_features;
        }
        let y = self.push(
            Op::Plain(PlainOp::MatMul),
            shape,
            (d * out_features) as u64,
            &[x],
        );
        self.with_constant(&y, Op::Add, out_features)
    }

    /// The mean over axis 1 (tokens), dropping it: `[N, T, D] -> [N, D]`.
    pub fn mean_tokens(&mut self, x: &Tensor) -> Tensor {
        let mut shape = x.shape.clone();
        shape.remove(1);
        self.push(Op::Plain(PlainOp::ReduceMean), shape, 0, &[x])
    }

    pub fn build(self) -> Result<Graph, GraphError> {
        self.graph.build()
    }
}

fn image(x: &Tensor) -> [usize; 4] {
    match x.shape.as_slice() {
        &[n, c, h, w] => [n, c, h, w],
        other => panic!("image op on a non-image tensor of shape {other:?}"),
    }
}
