//! What every cell model shares after its encoder: a masked mean over real
//! nodes and the reference's MLP head.

use crate::dropout::dropout;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};

/// Mean over real nodes.
///
/// # Shapes
/// - x: `[batch, nodes, hidden]`, mask: `[batch, nodes]` (1 real, 0 pad)
/// - output: `[batch, hidden]`
pub fn masked_mean(x: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [b, _, hidden] = x.dims();
    let mask = mask.unsqueeze_dim::<3>(2); // [batch, nodes, 1]
    let count = mask.clone().sum_dim(1).clamp_min(1.0); // [batch, 1, 1]
    ((x * mask).sum_dim(1) / count).reshape([b, hidden])
}

/// `Linear(d_in,h) relu dropout Linear(h,h) relu dropout Linear(h,1)`, then
/// `softplus(-z)` (always positive, the reference) or `z` (standardised targets).
#[derive(Module, Debug)]
pub struct RegressionHead {
    pub(crate) layers: [Linear; 3],
    dropout: Dropout,
    pub(crate) positive_output: bool,
}

impl RegressionHead {
    /// The cell models' head: `d_in = hidden`.
    pub fn new(hidden: usize, dropout: f64, positive_output: bool, device: &Device) -> Self {
        Self::with_input(hidden, hidden, dropout, positive_output, device)
    }

    /// A head reading `d_in` features (the whole-network model reads `2 * hidden`).
    pub fn with_input(
        d_in: usize,
        hidden: usize,
        dropout: f64,
        positive_output: bool,
        device: &Device,
    ) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            layers: [
                linear(d_in, hidden),
                linear(hidden, hidden),
                linear(hidden, 1),
            ],
            dropout: DropoutConfig::new(dropout).init(),
            positive_output,
        }
    }

    /// # Shapes
    /// - embedding: `[batch, d_in]`
    /// - output: `[batch]`
    pub fn forward(&self, embedding: Tensor<2>) -> Tensor<1> {
        let [b, _] = embedding.dims();
        let h = dropout(&self.dropout, relu(self.layers[0].forward(embedding)));
        let h = dropout(&self.dropout, relu(self.layers[1].forward(h)));
        let z = self.layers[2].forward(h).reshape([b]);
        if self.positive_output {
            softplus(z.neg(), 1.0)
        } else {
            z
        }
    }
}
