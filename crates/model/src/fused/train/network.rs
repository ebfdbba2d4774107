//! The whole-network model's training step with the V2 encoder, on flat
//! graphs: the layers, then the sum readout (node sum beside the static
//! branch, the head) or the per-node readout (a head per node, `ln` of the
//! sum of the nodes' shares). One part of the graphs per core.

use super::layer::{LayerCache, LayerGrad, Neighbourhood};
use super::{
    DenseGrad, HeadForward, Masks, StepDropout, add_buffers, dense_forward, head_backward,
    head_grads, head_train_forward, relu_dropout, relu_dropout_backward, softplus_neg,
};
use crate::fused::network::{Encoder, FlatGraphs, MAX_NODE_LN, MIN_NODE_LN, Readout};
use crate::fused::{FusedV2Network, Layer, on_parts, sigmoid};

/// Every trained parameter's gradient of a [`V2NetworkModel`], from
/// [`FusedV2Network::train_step`]. The readout the model does not use has
/// none (as under Burn's autodiff).
#[derive(Debug, Clone)]
pub struct NetworkGradients {
    layers: Vec<LayerGrad>,
    /// The sum readout's static branch.
    static_branch: Option<DenseGrad>,
    /// The head the readout uses (the graph head or the per-node head).
    head: [DenseGrad; 3],
}

impl NetworkGradients {
    fn add(&mut self, other: &NetworkGradients) {
        add_buffers(self.buffers_mut(), other.buffers());
    }

    pub(super) fn buffers(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = self.layers.iter().flat_map(LayerGrad::buffers).collect();
        for dense in self.static_branch.iter().chain(&self.head) {
            out.extend(dense.buffers());
        }
        out
    }

    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = self
            .layers
            .iter_mut()
            .flat_map(LayerGrad::buffers_mut)
            .collect();
        for dense in self.static_branch.iter_mut().chain(&mut self.head) {
            out.extend(dense.buffers_mut());
        }
        out
    }
}

/// What the forward pass over one part's graphs keeps.
#[derive(Debug)]
struct PartForward {
    graph: Neighbourhood,
    caches: Vec<LayerCache>,
    /// The part's graphs' node ranges, from 0.
    graph_start: Vec<usize>,
    /// The sum readout's static branch output (after its dropout and ReLU).
    statics: Vec<f32>,
    /// The sum readout's static features `[graphs, d_static]` (zeros when absent).
    static_input: Vec<f32>,
    head: HeadForward,
    /// The per-node readout: each node's clamped `ln` share and its `exp`.
    shares: Vec<f32>,
    exps: Vec<f32>,
}

impl FusedV2Network {
    /// Whether [`Self::train_step`] covers this model: the V2 encoder, one device setting.
    pub fn trains_by_hand(&self) -> bool {
        matches!(self.encoder, Encoder::V2(_)) && self.settings.is_none()
    }

    /// One training step of the V2 encoder's model with one device setting
    /// (`None` for the GraphSAGE encoder and multi-setting models, which
    /// train through Burn): the predictions for the graphs (as
    /// [`V2NetworkModel::forward_flat`] in training mode), `loss` of them, and
    /// every trained parameter's gradient of that loss. The graphs are split
    /// into one part per core; the dropout masks do not depend on the split.
    ///
    /// # Shapes
    /// - graphs: as [`FlatGraphs`]; `loss` reads `[graphs]` predictions and returns `[graphs]` gradients
    pub fn train_step(
        &self,
        graphs: FlatGraphs<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
    ) -> Option<(f32, NetworkGradients)> {
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        self.train_step_in_parts(graphs, dropout, loss, threads)
    }

    /// [`Self::train_step`] with the graphs split into (at most) `parts`
    /// parts of about equal node counts.
    pub(crate) fn train_step_in_parts(
        &self,
        g: FlatGraphs<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
        parts: usize,
    ) -> Option<(f32, NetworkGradients)> {
        let Encoder::V2(layers) = &self.encoder else {
            return None;
        };
        if !self.trains_by_hand() {
            return None;
        }
        let graphs = g.graph_start.len().saturating_sub(1);
        let nodes = g.row_start.len().saturating_sub(1);
        // Graph ranges, cut where the node count passes each part's share.
        let mut cuts = vec![0];
        for k in 1..graphs {
            let share = cuts.len() * nodes / parts.max(1);
            if g.graph_start[k] >= share && cuts.len() < parts {
                cuts.push(k);
            }
        }
        cuts.push(graphs);
        let ranges: Vec<_> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
        let forwards = on_parts(ranges.clone(), |range| {
            let mut masks = Masks::new(dropout, g.graph_start[range.start], range.start);
            self.forward_part(layers, g, range, &mut masks)
        });
        let predictions: Vec<f32> = forwards.iter().flat_map(|(p, _)| p.clone()).collect();
        let (value, d_pred) = loss(&predictions);
        let kept = Masks::new(dropout, 0, 0).scale();
        let work: Vec<_> = ranges.into_iter().zip(forwards).collect();
        let mut grads = on_parts(work, |(range, (_, forward))| {
            let d_pred = &d_pred[range.clone()];
            self.backward_part(layers, range.len(), forward, d_pred, kept)
        })
        .into_iter();
        let mut total = grads.next()?;
        for part in grads {
            total.add(&part);
        }
        Some((value, total))
    }

    /// The forward pass over the graphs `range`: their predictions and what
    /// [`Self::backward_part`] reads.
    fn forward_part(
        &self,
        layers: &[Layer],
        g: FlatGraphs<'_>,
        range: std::ops::Range<usize>,
        masks: &mut Masks,
    ) -> (Vec<f32>, PartForward) {
        let rows = g.graph_start[range.start]..g.graph_start[range.end];
        let first = rows.start;
        let graph_start: Vec<usize> = g.graph_start[range.start..=range.end]
            .iter()
            .map(|t| t - first)
            .collect();
        let graphs = range.len();
        let d_input = layers[0].d_in;
        let hidden = layers[layers.len() - 1].hidden;
        let tokens = &g.tokens[rows.start * d_input..rows.end * d_input];
        let graph = Neighbourhood::of_flat(g.row_start, g.neighbour, rows.clone());
        let mut x = tokens.to_vec();
        let mut caches = Vec::with_capacity(layers.len());
        for layer in layers {
            let (y, cache) = layer.train_forward(x, &graph, masks);
            x = y;
            caches.push(cache);
        }
        let nodes = rows.len();
        let (predictions, forward) = match &self.readout {
            Readout::Sum {
                static_branch,
                head,
                positive_output,
            } => {
                let d_static = static_branch.d_in;
                let static_input = if g.statics.is_empty() {
                    vec![0.0f32; graphs * d_static]
                } else {
                    g.statics[range.start * d_static..range.end * d_static].to_vec()
                };
                let mut statics = dense_forward(static_branch, &static_input, graphs);
                relu_dropout(&mut statics, masks.next_graphs(hidden, graphs));
                let mut joined = vec![0.0f32; graphs * 2 * hidden];
                for (k, row) in joined.chunks_exact_mut(2 * hidden).enumerate() {
                    for t in graph_start[k]..graph_start[k + 1] {
                        for (o, v) in row[..hidden]
                            .iter_mut()
                            .zip(&x[t * hidden..(t + 1) * hidden])
                        {
                            *o += v;
                        }
                    }
                    row[hidden..].copy_from_slice(&statics[k * hidden..(k + 1) * hidden]);
                }
                let head = head_train_forward(head, joined, graphs, |width| {
                    masks.next_graphs(width, graphs)
                });
                let predictions = if *positive_output {
                    head.z.iter().map(|&v| softplus_neg(v)).collect()
                } else {
                    head.z.clone()
                };
                let forward = PartForward {
                    graph,
                    caches,
                    graph_start,
                    statics,
                    static_input,
                    head,
                    shares: Vec::new(),
                    exps: Vec::new(),
                };
                (predictions, forward)
            }
            Readout::PerNode { head, residual } => {
                let width = hidden + d_input;
                let mut joined = vec![0.0f32; nodes * width];
                for (t, row) in joined.chunks_exact_mut(width).enumerate() {
                    row[..hidden].copy_from_slice(&x[t * hidden..(t + 1) * hidden]);
                    row[hidden..].copy_from_slice(&tokens[t * d_input..(t + 1) * d_input]);
                }
                let head =
                    head_train_forward(head, joined, nodes, |width| masks.next_nodes(width, nodes));
                let shares: Vec<f32> = (0..nodes)
                    .map(|t| {
                        let prior = if *residual {
                            tokens[(t + 1) * d_input - 1]
                        } else {
                            0.0
                        };
                        head.z[t] + prior
                    })
                    .collect();
                let exps: Vec<f32> = shares
                    .iter()
                    .map(|s| s.clamp(MIN_NODE_LN, MAX_NODE_LN).exp())
                    .collect();
                let predictions = (0..graphs)
                    .map(|k| {
                        let total: f32 = exps[graph_start[k]..graph_start[k + 1]].iter().sum();
                        total.max(f32::MIN_POSITIVE).ln()
                    })
                    .collect();
                let forward = PartForward {
                    graph,
                    caches,
                    graph_start,
                    statics: Vec::new(),
                    static_input: Vec::new(),
                    head,
                    shares,
                    exps,
                };
                (predictions, forward)
            }
        };
        (predictions, forward)
    }

    /// The backward pass over one part's `graphs` graphs, given the loss's
    /// gradient with respect to their predictions.
    fn backward_part(
        &self,
        layers: &[Layer],
        graphs: usize,
        forward: PartForward,
        d_pred: &[f32],
        kept: f32,
    ) -> NetworkGradients {
        let hidden = layers[layers.len() - 1].hidden;
        let graph_start = &forward.graph_start;
        let nodes = graph_start[graphs];
        let mut dy = vec![0.0f32; nodes * hidden];
        let (head, static_branch) = match &self.readout {
            Readout::Sum {
                static_branch,
                head,
                positive_output,
            } => {
                let mut grads = head_grads(head);
                let d_z: Vec<f32> = if *positive_output {
                    d_pred
                        .iter()
                        .zip(&forward.head.z)
                        .map(|(dp, v)| -dp * sigmoid(-v))
                        .collect()
                } else {
                    d_pred.to_vec()
                };
                let d_joined = head_backward(head, &forward.head, &d_z, kept, &mut grads);
                let mut d_statics = vec![0.0f32; graphs * hidden];
                for (k, row) in d_joined.chunks_exact(2 * hidden).enumerate() {
                    for t in graph_start[k]..graph_start[k + 1] {
                        dy[t * hidden..(t + 1) * hidden].copy_from_slice(&row[..hidden]);
                    }
                    d_statics[k * hidden..(k + 1) * hidden].copy_from_slice(&row[hidden..]);
                }
                relu_dropout_backward(&mut d_statics, &forward.statics, kept);
                let mut static_grad = DenseGrad::zeros(static_branch);
                static_grad.add(&forward.static_input, &d_statics, graphs);
                (grads, Some(static_grad))
            }
            Readout::PerNode { head, .. } => {
                let mut grads = head_grads(head);
                // prediction_k = ln(max(sum_t exp(clamp(share_t)), MIN_POSITIVE))
                let mut d_z = vec![0.0f32; nodes];
                for k in 0..graphs {
                    let span = graph_start[k]..graph_start[k + 1];
                    let sum: f32 = forward.exps[span.clone()].iter().sum();
                    if sum < f32::MIN_POSITIVE {
                        continue;
                    }
                    for t in span {
                        let share = forward.shares[t];
                        if (MIN_NODE_LN..=MAX_NODE_LN).contains(&share) {
                            d_z[t] = d_pred[k] * forward.exps[t] / sum;
                        }
                    }
                }
                let d_joined = head_backward(head, &forward.head, &d_z, kept, &mut grads);
                let width = d_joined.len() / nodes.max(1);
                for (t, row) in d_joined.chunks_exact(width.max(1)).enumerate().take(nodes) {
                    dy[t * hidden..(t + 1) * hidden].copy_from_slice(&row[..hidden]);
                }
                (grads, None)
            }
        };
        let mut layer_grads: Vec<LayerGrad> = layers.iter().map(LayerGrad::zeros).collect();
        for l in (0..layers.len()).rev() {
            let d_x = layers[l].backward(
                &forward.caches[l],
                &dy,
                &forward.graph,
                kept,
                &mut layer_grads[l],
                l > 0,
            );
            if let Some(d_x) = d_x {
                dy = d_x;
            }
        }
        NetworkGradients {
            layers: layer_grads,
            static_branch,
            head,
        }
    }
}
