//! Model inputs: padded [`GraphBatch`]es (cells) and flat [`FlatBatch`]es (whole networks).

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

/// Graphs stacked node after node with no padding, edges as index lists: the
/// form for whole networks (hundreds of nodes, about two edges per node), where
/// a padded `nodes x nodes` adjacency would be mostly zeros.
#[derive(Debug, Clone)]
pub struct FlatBatch {
    /// `[nodes, d_input]`: graph 0's nodes, then graph 1's, ...
    pub tokens: Tensor<2>,
    /// `[edges]`: edge `e` carries a message from node `neighbour[e]` to node
    /// `target[e]`; both directions of every undirected edge are listed, once each.
    pub target: Tensor<1, Int>,
    /// `[edges]`
    pub neighbour: Tensor<1, Int>,
    /// `[nodes, 1]`: how many neighbours each node has.
    pub degree: Tensor<2>,
    /// `[nodes]`: which graph each node belongs to.
    pub graph_of_node: Tensor<1, Int>,
    /// Number of graphs.
    pub graphs: usize,
    /// `[graphs, d_static]` graph-level features.
    pub statics: Option<Tensor<2>>,
}

impl FlatBatch {
    pub fn edges(&self) -> usize {
        self.target.dims()[0]
    }

    pub fn nodes(&self) -> usize {
        self.tokens.dims()[0]
    }

    /// Per-graph sums of node rows.
    ///
    /// # Shapes
    /// - x: `[nodes, hidden]` -> `[graphs, hidden]`
    pub fn sum_per_graph(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, hidden] = x.dims();
        Tensor::zeros([self.graphs, hidden], &x.device()).select_assign(
            0,
            self.graph_of_node.clone(),
            x,
            burn::tensor::IndexingUpdateOp::Add,
        )
    }
}
