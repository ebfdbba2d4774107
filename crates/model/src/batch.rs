use burn::prelude::*;

/// A padded batch of tokenised graphs.
///
/// Padding contract: pad rows of `tokens` may hold anything, but `adjacency`
/// is zero on every pad row and column and `mask` is 0 on pads, 1 on real nodes.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// `[batch, nodes, d_input]`
    pub tokens: Tensor<3>,
    /// `[batch, nodes, nodes]`, symmetric 0/1, no self-loops.
    pub adjacency: Tensor<3>,
    /// `[batch, nodes]`, 1 for real nodes.
    pub mask: Tensor<2>,
    /// `[batch, d_static]` graph-level features (whole networks only).
    pub statics: Option<Tensor<2>>,
}

impl GraphBatch {
    pub fn batch_size(&self) -> usize {
        self.mask.dims()[0]
    }
}
