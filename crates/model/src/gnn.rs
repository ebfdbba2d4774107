//! The GNN baseline, in the style of NNLQP's predictor: GraphSAGE layers with
//! mean aggregation over neighbours and a root term, a mean readout over
//! nodes, and the same head as the V2 model.

use crate::dropout::dropout;
use crate::head::{RegressionHead, masked_mean};
use crate::{FlatBatch, GraphBatch};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::relu;

/// One GraphSAGE layer: `relu(W_l mean_{j in N(i)} x_j + W_r x_i)` (`W_r` without
/// bias, as PyG's `SAGEConv`), then dropout.
#[derive(Module, Debug)]
pub struct SageLayer {
    pub(crate) neighbour: Linear,
    pub(crate) root: Linear,
    dropout: Dropout,
}

impl SageLayer {
    pub fn new(d_in: usize, d_out: usize, dropout: f64, device: &Device) -> Self {
        Self {
            neighbour: LinearConfig::new(d_in, d_out).init(device),
            root: LinearConfig::new(d_in, d_out).with_bias(false).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// # Shapes
    /// - x: `[batch, nodes, d_in]`, adjacency: `[batch, nodes, nodes]`
    /// - output: `[batch, nodes, d_out]`
    pub fn forward(&self, x: Tensor<3>, adjacency: Tensor<3>) -> Tensor<3> {
        let degree = adjacency.clone().sum_dim(2).clamp_min(1.0); // [batch, nodes, 1]
        let mean = adjacency.matmul(x.clone()) / degree; // [batch, nodes, d_in]
        let out = self.neighbour.forward(mean) + self.root.forward(x);
        dropout(&self.dropout, relu(out))
    }

    /// The same layer on a [`FlatBatch`] (messages along its edge lists).
    ///
    /// # Shapes
    /// - x: `[nodes, d_in]` -> `[nodes, d_out]`
    pub fn forward_flat(&self, x: Tensor<2>, graph: &FlatBatch) -> Tensor<2> {
        let [nodes, d_in] = x.dims();
        let summed = Tensor::zeros([nodes, d_in], &x.device());
        let summed = if graph.edges() == 0 {
            summed
        } else {
            summed.select_assign(
                0,
                graph.target.clone(),
                x.clone().select(0, graph.neighbour.clone()),
                IndexingUpdateOp::Add,
            )
        };
        let mean = summed / graph.degree.clone().clamp_min(1.0); // [nodes, d_in]
        let out = self.neighbour.forward(mean) + self.root.forward(x);
        dropout(&self.dropout, relu(out))
    }
}

#[derive(Module, Debug)]
pub struct GnnModel {
    pub(crate) layers: Vec<SageLayer>,
    pub(crate) head: RegressionHead,
}

impl GnnModel {
    pub fn new(
        d_input: usize,
        hidden: usize,
        layers: usize,
        dropout: f64,
        positive_output: bool,
        device: &Device,
    ) -> Self {
        Self {
            layers: sage_stack(d_input, hidden, layers, dropout, device),
            head: RegressionHead::new(hidden, dropout, positive_output, device),
        }
    }

    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`, mask `[batch, nodes]`
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        let mut x = batch.tokens;
        for layer in &self.layers {
            x = layer.forward(x, batch.adjacency.clone()); // [batch, nodes, hidden]
        }
        self.head.forward(masked_mean(x, batch.mask))
    }
}

/// `layers` SAGE layers, the first mapping `d_input` to `hidden`.
pub(crate) fn sage_stack(
    d_input: usize,
    hidden: usize,
    layers: usize,
    dropout: f64,
    device: &Device,
) -> Vec<SageLayer> {
    (0..layers)
        .map(|i| {
            let d_in = if i == 0 { d_input } else { hidden };
            SageLayer::new(d_in, hidden, dropout, device)
        })
        .collect()
}
