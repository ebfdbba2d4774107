//! One NAR-Former V2 encoder layer: a GNN-style neighbourhood aggregation
//! written as masked, linearly normalised attention, then a grouped FFN.

use crate::FlatBatch;
use crate::dropout::dropout;
use crate::grouped_ffn::{GroupedFfn, GroupedFfnConfig};
use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::{relu, sigmoid};

#[derive(Config, Debug)]
pub struct V2LayerConfig {
    pub d_input: usize,
    pub d_hidden: usize,
    #[config(default = 8)]
    pub groups: usize,
    #[config(default = 4)]
    pub ffn_expansion: usize,
    #[config(default = 0.05)]
    pub dropout: f64,
    /// Initial value of the FFN's learnable layer scale.
    #[config(default = 1e-4)]
    pub layer_scale_init: f64,
}

impl V2LayerConfig {
    pub fn init(&self, device: &Device) -> V2Layer {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        V2Layer {
            degree_gate: linear(1, self.d_input),
            qk: linear(self.d_input, self.d_input),
            neighbour: linear(self.d_input, self.d_hidden),
            root: LinearConfig::new(self.d_input, self.d_hidden)
                .with_bias(false)
                .init(device),
            norm: LayerNormConfig::new(self.d_hidden).init(device),
            ffn: GroupedFfnConfig::new(self.d_hidden)
                .with_expansion(self.ffn_expansion)
                .with_groups(self.groups)
                .with_dropout(self.dropout)
                .init(device),
            layer_scale: Param::from_tensor(Tensor::full(
                [self.d_hidden],
                self.layer_scale_init,
                device,
            )),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

#[derive(Module, Debug)]
pub struct V2Layer {
    /// Linear(1 -> d_input) on the node degree, through a sigmoid.
    pub(crate) degree_gate: Linear,
    /// The one projection that serves as both query and key.
    pub(crate) qk: Linear,
    /// W_l: the message from the neighbourhood.
    pub(crate) neighbour: Linear,
    /// W_r: the root term, no bias.
    pub(crate) root: Linear,
    pub(crate) norm: LayerNorm,
    pub(crate) ffn: GroupedFfn,
    /// gamma of `x + gamma * FFN(LN(x))`
    pub(crate) layer_scale: Param<Tensor<1>>,
    dropout: Dropout,
}

impl V2Layer {
    /// # Shapes
    /// - x: `[batch, nodes, d_input]`
    /// - adjacency: `[batch, nodes, nodes]` (zero on pads)
    /// - output: `[batch, nodes, d_hidden]`
    pub fn forward(&self, x: Tensor<3>, adjacency: Tensor<3>) -> Tensor<3> {
        let d_input = x.dims()[2];
        let degree = adjacency.clone().sum_dim(2); // [batch, nodes, 1]
        let x = x * sigmoid(self.degree_gate.forward(degree)); // [batch, nodes, d_input]
        let z = sigmoid(self.qk.forward(x.clone())); // [batch, nodes, d_input]
        let scores = z
            .clone()
            .matmul(z.swap_dims(1, 2))
            .div_scalar((d_input as f64).sqrt())
            * adjacency; // [batch, nodes, nodes]
        // Linear normalisation (not softmax): rows of pads and isolated nodes stay 0.
        let weights = scores.clone() / scores.sum_dim(2).add_scalar(1e-6);
        let out = self.neighbour.forward(weights.matmul(x.clone())) + self.root.forward(x); // [batch, nodes, d_hidden]
        self.finish(out)
    }

    /// The same layer on a [`FlatBatch`]: attention scores only on the edges,
    /// so the cost is linear in nodes and edges instead of quadratic in nodes.
    ///
    /// # Shapes
    /// - x: `[nodes, d_input]` (every graph's nodes stacked)
    /// - output: `[nodes, d_hidden]`
    pub fn forward_flat(&self, x: Tensor<2>, graph: &FlatBatch) -> Tensor<2> {
        let [nodes, d_input] = x.dims();
        let x = x * sigmoid(self.degree_gate.forward(graph.degree.clone())); // [nodes, d_input]
        let z = sigmoid(self.qk.forward(x.clone())); // [nodes, d_input]
        let aggregated = if graph.edges() == 0 {
            Tensor::zeros([nodes, d_input], &x.device())
        } else {
            let scores = (z.clone().select(0, graph.target.clone())
                * z.select(0, graph.neighbour.clone()))
            .sum_dim(1)
            .div_scalar((d_input as f64).sqrt()); // [edges, 1]
            let row_sums = Tensor::zeros([nodes, 1], &x.device()).select_assign(
                0,
                graph.target.clone(),
                scores.clone(),
                IndexingUpdateOp::Add,
            ); // [nodes, 1]
            let weights = scores / row_sums.select(0, graph.target.clone()).add_scalar(1e-6); // [edges, 1]
            let messages = x.clone().select(0, graph.neighbour.clone()) * weights; // [edges, d_input]
            Tensor::zeros([nodes, d_input], &x.device()).select_assign(
                0,
                graph.target.clone(),
                messages,
                IndexingUpdateOp::Add,
            ) // [nodes, d_input]
        };
        let out = self.neighbour.forward(aggregated) + self.root.forward(x); // [nodes, d_hidden]
        let [_, hidden] = out.dims();
        self.finish(out.unsqueeze_dim::<3>(0))
            .reshape([nodes, hidden])
    }

    /// Row normalisation, ReLU, dropout, then `x + gamma * FFN(LN(x))`.
    ///
    /// # Shapes
    /// - out: `[batch, nodes, d_hidden]` -> `[batch, nodes, d_hidden]`
    fn finish(&self, out: Tensor<3>) -> Tensor<3> {
        let norm = out
            .clone()
            .powf_scalar(2.0)
            .sum_dim(2)
            .sqrt()
            .clamp_min(1e-12); // [batch, nodes, 1]
        let x = dropout(&self.dropout, relu(out / norm));
        let ffn = self.ffn.forward(self.norm.forward(x.clone()));
        let scale = self.layer_scale.val().unsqueeze_dims::<3>(&[0, 1]); // [1, 1, d_hidden]
        x + ffn * scale
    }
}

/// `layers` V2 layers, the first mapping `d_input` to `hidden` (as the reference `predictor/model.py`: no separate embedding).
pub(crate) fn v2_stack(
    d_input: usize,
    hidden: usize,
    layers: usize,
    groups: usize,
    dropout: f64,
    device: &Device,
) -> Vec<V2Layer> {
    (0..layers)
        .map(|i| {
            let d_in = if i == 0 { d_input } else { hidden };
            V2LayerConfig::new(d_in, hidden)
                .with_groups(groups)
                .with_dropout(dropout)
                .init(device)
        })
        .collect()
}
