//! The vanilla Transformer baseline: a linear embedding of the tokens, a
//! standard Transformer encoder (softmax attention over all real tokens,
//! residuals, GELU FFN of 4x width, pre-norm), a mean readout and the same head
//! as the V2 model. It sees the tokens only, not the adjacency: what structure
//! it learns comes from the position codes in the tokens.

use crate::GraphBatch;
use crate::head::{RegressionHead, masked_mean};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct TransformerModel {
    pub(crate) embed: Linear,
    pub(crate) encoder: TransformerEncoder,
    pub(crate) head: RegressionHead,
}

impl TransformerModel {
    pub fn new(
        d_input: usize,
        hidden: usize,
        layers: usize,
        heads: usize,
        dropout: f64,
        positive_output: bool,
        device: &Device,
    ) -> Self {
        Self {
            embed: LinearConfig::new(d_input, hidden).init(device),
            encoder: TransformerEncoderConfig::new(hidden, 4 * hidden, heads, layers)
                .with_dropout(dropout)
                .with_norm_first(true)
                .init(device),
            head: RegressionHead::new(hidden, dropout, positive_output, device),
        }
    }

    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, mask `[batch, nodes]` (adjacency unused)
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        let x = self.embed.forward(batch.tokens); // [batch, nodes, hidden]
        let pad = batch.mask.clone().lower_elem(0.5); // [batch, nodes], true on pads
        let x = self
            .encoder
            .forward(TransformerEncoderInput::new(x).mask_pad(pad)); // [batch, nodes, hidden]
        self.head.forward(masked_mean(x, batch.mask))
    }
}
