//! The whole-network model ([`crate::network::V2NetworkModel`]: the V2 or
//! the GraphSAGE encoder, one device setting or many) on the fused path:
//! graphs stacked node after node, each node's neighbours a contiguous run of
//! an index list.

use super::sage::Sage;
use super::{Dense, Layer, Workspace, dense_head};
use crate::network::V2NetworkModel;

/// A node's `ln` share is clamped to this range before `exp`, as the model does.
pub(super) const MIN_NODE_LN: f32 = -30.0;
pub(super) const MAX_NODE_LN: f32 = 15.0;

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
pub(super) enum Readout {
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

#[derive(Debug, Clone)]
pub(super) enum Encoder {
    V2(Vec<Layer>),
    Sage(Vec<Sage>),
}

impl Encoder {
    fn d_input(&self) -> usize {
        match self {
            Encoder::V2(layers) => layers[0].d_in,
            Encoder::Sage(layers) => layers[0].d_in(),
        }
    }

    fn hidden(&self) -> usize {
        match self {
            Encoder::V2(layers) => layers[layers.len() - 1].hidden,
            Encoder::Sage(layers) => layers[layers.len() - 1].d_out(),
        }
    }
}

/// A trained whole-network model's weights.
#[derive(Debug, Clone)]
pub struct FusedV2Network {
    pub(super) encoder: Encoder,
    pub(super) readout: Readout,
    /// `[settings, hidden]`: multi-setting models' setting embeddings, read
    /// by the head beside the graph's embedding.
    pub(super) settings: Option<Vec<f32>>,
}

impl FusedV2Network {
    /// `None` for a model without layers (nothing to fuse).
    pub fn of(model: &V2NetworkModel) -> Option<Self> {
        let encoder = if !model.sage.is_empty() {
            Encoder::Sage(model.sage.iter().map(Sage::of).collect())
        } else if !model.layers.is_empty() {
            Encoder::V2(model.layers.iter().map(Layer::of).collect())
        } else {
            return None;
        };
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
            encoder,
            readout,
            settings: model.devices.as_ref().map(super::param),
        })
    }

    /// What [`V2NetworkModel::forward_flat`] predicts for each graph (a
    /// multi-setting model: for setting 0, as Burn's does), each V2 layer's
    /// rows split over up to `threads` threads (1: this thread only; the
    /// values do not depend on it).
    ///
    /// # Shapes
    /// - graphs: as [`FlatGraphs`]; output: `[graphs]`
    pub fn forward(&self, g: FlatGraphs<'_>, threads: usize) -> Vec<f32> {
        let graphs = g.graph_start.len().saturating_sub(1);
        let nodes = g.row_start.len().saturating_sub(1);
        let d_input = self.encoder.d_input();
        let x = self.encode(g, threads);
        let hidden = self.encoder.hidden();
        match &self.readout {
            Readout::Sum {
                static_branch,
                head,
                positive_output,
            } => {
                let embedding = sum_with_statics(&x, g, static_branch, hidden);
                // Setting 0's embedding beside each graph's, where the model has settings.
                let joined = match &self.settings {
                    Some(settings) => embedding
                        .chunks_exact(2 * hidden)
                        .flat_map(|row| row.iter().chain(&settings[..hidden]).copied())
                        .collect(),
                    None => embedding,
                };
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

    /// What [`V2NetworkModel::embed`] gives: `concat(node sum, relu(static
    /// branch))` per graph; `None` for a per-node readout (it has no graph
    /// embedding).
    ///
    /// # Shapes
    /// - graphs: as [`FlatGraphs`]; output: `[graphs, 2 * hidden]`
    pub fn embed(&self, g: FlatGraphs<'_>, threads: usize) -> Option<Vec<f32>> {
        let Readout::Sum { static_branch, .. } = &self.readout else {
            return None;
        };
        let x = self.encode(g, threads);
        Some(sum_with_statics(
            &x,
            g,
            static_branch,
            self.encoder.hidden(),
        ))
    }

    /// The encoder's node rows, `[nodes, hidden]`.
    fn encode(&self, g: FlatGraphs<'_>, threads: usize) -> Vec<f32> {
        let nodes = g.row_start.len().saturating_sub(1);
        assert_eq!(
            g.tokens.len(),
            nodes * self.encoder.d_input(),
            "tokens do not match the graphs"
        );
        let mut x = g.tokens.to_vec();
        match &self.encoder {
            Encoder::V2(layers) => {
                let mut workspace = Workspace::new(threads);
                for layer in layers {
                    x = layer.forward_flat(&mut x, g.row_start, g.neighbour, &mut workspace);
                }
            }
            Encoder::Sage(layers) => {
                for layer in layers {
                    x = layer.forward_flat(&x, g.row_start, g.neighbour);
                }
            }
        }
        x
    }
}

/// `[graphs, 2 * hidden]`: each graph's node sum of `x` (`[nodes, hidden]`),
/// then `relu` of the static branch on its static features (zeros for graphs
/// without any, as the model reads them).
fn sum_with_statics(
    x: &[f32],
    g: FlatGraphs<'_>,
    static_branch: &Dense,
    hidden: usize,
) -> Vec<f32> {
    let graphs = g.graph_start.len().saturating_sub(1);
    let mut joined = vec![0.0f32; graphs * 2 * hidden];
    let mut statics = vec![0.0f32; graphs * hidden];
    let zeros = vec![0.0f32; graphs * static_branch.d_in];
    let given = if g.statics.is_empty() {
        &zeros
    } else {
        g.statics
    };
    static_branch.forward(given, graphs, &mut statics);
    for (k, row) in joined.chunks_exact_mut(2 * hidden).enumerate() {
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
    joined
}
