//! The whole-network model ([`crate::network::V2NetworkModel`] with the V2
//! encoder, one device setting) on the fused path: graphs stacked node after
//! node, each node's neighbours a contiguous run of an index list.

use super::{Dense, Layer, Workspace, dense_head};
use crate::network::V2NetworkModel;

/// A node's `ln` share is clamped to this range before `exp`, as the model does.
const MIN_NODE_LN: f32 = -30.0;
const MAX_NODE_LN: f32 = 15.0;

/// Graphs stacked node after node: tokens `[nodes, d_input]`; node `t`'s
/// neighbours are `neighbour[row_start[t]..row_start[t + 1]]` (global node
/// indices, both directions of every edge); graph `k` owns nodes
/// `graph_start[k]..graph_start[k + 1]`; statics `[graphs, d_static]`.
#[derive(Debug, Clone, Copy)]
pub struct FlatGraphs<'a> {
    pub tokens: &'a [f32],
    pub row_start: &'a [usize],
    pub neighbour: &'a [usize],
    pub graph_start: &'a [usize],
    pub statics: &'a [f32],
}

#[derive(Debug, Clone)]
enum Readout {
    /// Sum over nodes, the static branch, the head on `concat(graph, static)`.
    Sum {
        static_branch: Dense,
        head: [Dense; 3],
        positive_output: bool,
    },
    /// A per-node head on `concat(node, token)`; with `residual`, plus the
    /// token's last feature.
    PerNode { head: [Dense; 3], residual: bool },
}

/// A trained single-setting V2 whole-network model's weights.
#[derive(Debug, Clone)]
pub struct FusedV2Network {
    layers: Vec<Layer>,
    readout: Readout,
}

impl FusedV2Network {
    /// `None` for what this path does not cover: the GraphSAGE encoder and
    /// multi-setting models (they stay on Burn).
    pub fn of(model: &V2NetworkModel) -> Option<Self> {
        if !model.sage.is_empty() || model.devices.is_some() || model.layers.is_empty() {
            return None;
        }
        let readout = match &model.node_head {
            Some(node_head) => Readout::PerNode {
                head: dense_head(node_head),
                residual: model.residual,
            },
            None => Readout::Sum {
                static_branch: Dense::of(&model.static_branch),
                head: dense_head(&model.head),
                positive_output: model.head.positive_output,
            },
        };
        Some(FusedV2Network {
            layers: model.layers.iter().map(Layer::of).collect(),
            readout,
        })
    }

    /// What [`V2NetworkModel::forward_flat`] predicts for each graph, each
    /// layer's rows split over up to `threads` threads (1: this thread only;
    /// the values do not depend on it).
    ///
    /// # Shapes
    /// - graphs: as [`FlatGraphs`]; output: `[graphs]`
    pub fn forward(&self, g: FlatGraphs<'_>, threads: usize) -> Vec<f32> {
        let graphs = g.graph_start.len().saturating_sub(1);
        let nodes = g.row_start.len().saturating_sub(1);
        let d_input = self.layers[0].d_in;
        assert_eq!(
            g.tokens.len(),
            nodes * d_input,
            "tokens do not match the graphs"
        );
        let mut workspace = Workspace::new(threads);
        let mut x = g.tokens.to_vec();
        for layer in &self.layers {
            x = layer.forward_flat(&mut x, g.row_start, g.neighbour, &mut workspace);
        }
        let hidden = self.layers[self.layers.len() - 1].hidden;
        match &self.readout {
            Readout::Sum {
                static_branch,
                head,
                positive_output,
            } => {
                // [graphs, 2 * hidden]: the node sum, then relu(static branch).
                let mut joined = vec![0.0f32; graphs * 2 * hidden];
                let mut statics = vec![0.0f32; graphs * hidden];
                // Graphs without static features read zeros, as the model does.
                let zeros = vec![0.0f32; graphs * static_branch.d_in];
                let given = if g.statics.is_empty() {
                    &zeros
                } else {
                    g.statics
                };
                static_branch.forward(given, graphs, &mut statics);
                for k in 0..graphs {
                    let row = &mut joined[k * 2 * hidden..(k + 1) * 2 * hidden];
                    for t in g.graph_start[k]..g.graph_start[k + 1] {
                        for (o, v) in row[..hidden]
                            .iter_mut()
                            .zip(&x[t * hidden..(t + 1) * hidden])
                        {
                            *o += v;
                        }
                    }
                    for (o, v) in row[hidden..]
                        .iter_mut()
                        .zip(&statics[k * hidden..(k + 1) * hidden])
                    {
                        *o = v.max(0.0);
                    }
                }
                super::head_forward(head, &joined, graphs, *positive_output)
            }
            Readout::PerNode { head, residual } => {
                // [nodes, hidden + d_input]: each node's encoding beside its token.
                let width = hidden + d_input;
                let mut joined = vec![0.0f32; nodes * width];
                for t in 0..nodes {
                    let row = &mut joined[t * width..(t + 1) * width];
                    row[..hidden].copy_from_slice(&x[t * hidden..(t + 1) * hidden]);
                    row[hidden..].copy_from_slice(&g.tokens[t * d_input..(t + 1) * d_input]);
                }
                let z = super::head_forward(head, &joined, nodes, false);
                (0..graphs)
                    .map(|k| {
                        let total: f32 = (g.graph_start[k]..g.graph_start[k + 1])
                            .map(|t| {
                                let prior = if *residual {
                                    g.tokens[(t + 1) * d_input - 1]
                                } else {
                                    0.0
                                };
                                (z[t] + prior).clamp(MIN_NODE_LN, MAX_NODE_LN).exp()
                            })
                            .sum();
                        total.max(f32::MIN_POSITIVE).ln()
                    })
                    .collect()
            }
        }
    }
}
