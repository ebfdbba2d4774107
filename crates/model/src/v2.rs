//! The NAR-Former V2 cell model for accuracy prediction (the paper's section 3; reference `predictor/model.py`):
//! a stack of [`V2Layer`]s, a per-layer masked mean, gated fusion of the layer
//! means, and an MLP head.

use crate::GraphBatch;
use crate::head::{RegressionHead, masked_mean};
use crate::layer::{V2Layer, v2_stack};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

#[derive(Module, Debug)]
pub struct V2CellModel {
    pub(crate) layers: Vec<V2Layer>,
    pub(crate) fusion_hidden: Linear,
    pub(crate) fusion_out: Linear,
    pub(crate) head: RegressionHead,
}

impl V2CellModel {
    pub fn new(
        d_input: usize,
        hidden: usize,
        layers: usize,
        groups: usize,
        dropout: f64,
        positive_output: bool,
        device: &Device,
    ) -> Self {
        let stack = v2_stack(d_input, hidden, layers, groups, dropout, device);
        let fused = layers * hidden;
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            layers: stack,
            fusion_hidden: linear(fused, fused / 4),
            fusion_out: linear(fused / 4, layers),
            head: RegressionHead::new(hidden, dropout, positive_output, device),
        }
    }

    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`, mask `[batch, nodes]`
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        let [b, _, _] = batch.tokens.dims();
        let mut x = batch.tokens;
        let mut means = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(x, batch.adjacency.clone()); // [batch, nodes, hidden]
            means.push(masked_mean(x.clone(), batch.mask.clone()).unsqueeze_dim::<3>(1)); // [batch, 1, hidden]
        }
        let stacked = Tensor::cat(means, 1); // [batch, layers, hidden]
        let [_, layers, hidden] = stacked.dims();
        let flat = stacked.clone().reshape([b, layers * hidden]);
        let weights = sigmoid(
            self.fusion_out
                .forward(relu(self.fusion_hidden.forward(flat))),
        ); // [batch, layers]
        let embedding = (stacked * weights.unsqueeze_dim::<3>(2))
            .sum_dim(1)
            .reshape([b, hidden]); // [batch, hidden]
        self.head.forward(embedding)
    }
}
