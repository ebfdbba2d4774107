//! The V2 cell model's training step: layers, the per-layer masked means,
//! their gated fusion and the head, one part of the cells per core.

use super::layer::{LayerCache, LayerGrad, Neighbourhood};
use super::{
    DenseGrad, HeadForward, Masks, StepDropout, add_buffers, dense_forward, dense_input_grad,
    head_backward, head_grads, head_train_forward, relu_dropout_backward, softplus_neg,
};
use crate::fused::{CellChunk, FusedV2Cell, dot, on_parts, sigmoid};

/// Every parameter's gradient of a [`V2CellModel`], from [`FusedV2Cell::train_step`].
#[derive(Debug, Clone)]
pub struct CellGradients {
    layers: Vec<LayerGrad>,
    fusion_hidden: DenseGrad,
    fusion_out: DenseGrad,
    head: [DenseGrad; 3],
}

impl CellGradients {
    /// Adds another part's gradients.
    fn add(&mut self, other: &CellGradients) {
        add_buffers(self.buffers_mut(), other.buffers());
    }

    /// Every gradient buffer, in one fixed order.
    pub(super) fn buffers(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = self.layers.iter().flat_map(LayerGrad::buffers).collect();
        for dense in [&self.fusion_hidden, &self.fusion_out]
            .into_iter()
            .chain(&self.head)
        {
            out.extend(dense.buffers());
        }
        out
    }

    /// [`Self::buffers`], writable.
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = self
            .layers
            .iter_mut()
            .flat_map(LayerGrad::buffers_mut)
            .collect();
        for dense in [&mut self.fusion_hidden, &mut self.fusion_out]
            .into_iter()
            .chain(&mut self.head)
        {
            out.extend(dense.buffers_mut());
        }
        out
    }
}

/// What the forward pass over one part of a step's cells keeps.
#[derive(Debug)]
struct PartForward {
    graph: Neighbourhood,
    caches: Vec<LayerCache>,
    /// Real nodes per cell (at least 1), `[cells]`.
    counts: Vec<f32>,
    /// Each layer's masked node mean per cell, `[cells, layers * hidden]`.
    means: Vec<f32>,
    fused_hidden: Vec<f32>,
    /// `sigmoid` of the fusion's output, `[cells, layers]`.
    gates: Vec<f32>,
    /// The head, read by the embedding `[cells, hidden]`; `z` is before the softplus.
    head: HeadForward,
}

impl FusedV2Cell {
    /// One training step: the predictions for the chunk's cells (as
    /// [`V2CellModel::forward`] in training mode), `loss` of them (the loss
    /// and its gradient with respect to each prediction), and the gradient of
    /// that loss with respect to every parameter. The cells are split into
    /// one part per core, each part's forward and backward pass on a thread
    /// of its own (the loss reads all the predictions between them); the
    /// dropout masks do not depend on the split.
    ///
    /// # Shapes
    /// - chunk: as [`CellChunk`]; `loss` reads `[cells]` predictions and returns `[cells]` gradients
    pub fn train_step(
        &self,
        chunk: CellChunk<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
    ) -> (f32, CellGradients) {
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        self.train_step_in_parts(chunk, dropout, loss, threads)
    }

    /// [`Self::train_step`] with the cells split into (at most) `parts` parts.
    pub(super) fn train_step_in_parts(
        &self,
        chunk: CellChunk<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
        parts: usize,
    ) -> (f32, CellGradients) {
        let n = chunk.nodes.max(1);
        let cells = chunk.mask.len() / n;
        let per = cells.div_ceil(parts.min(cells).max(1)).max(1);
        let parts: Vec<(usize, CellChunk<'_>)> = (0..cells)
            .step_by(per)
            .map(|first| (first, chunk.cells(first..(first + per).min(cells))))
            .collect();
        let forwards = on_parts(parts.clone(), |(first, part)| {
            let mut masks = Masks::new(dropout, first * n, first);
            self.forward_part(part, &mut masks)
        });
        let predictions: Vec<f32> = forwards
            .iter()
            .flat_map(|(predictions, _)| predictions.iter().copied())
            .collect();
        let (value, d_pred) = loss(&predictions);
        let kept = Masks::new(dropout, 0, 0).scale();
        let work: Vec<_> = parts
            .into_iter()
            .zip(forwards)
            .map(|((first, part), (_, forward))| (first, part, forward))
            .collect();
        let mut grads = on_parts(work, |(first, part, forward)| {
            let cells = forward.counts.len();
            self.backward_part(part, forward, &d_pred[first..first + cells], kept)
        })
        .into_iter();
        let mut total = grads.next().expect("a step has at least one part");
        for part in grads {
            total.add(&part);
        }
        (value, total)
    }

    /// The forward pass over one part's cells: their predictions and what
    /// [`Self::backward_part`] reads.
    fn forward_part(&self, chunk: CellChunk<'_>, masks: &mut Masks) -> (Vec<f32>, PartForward) {
        let n = chunk.nodes.max(1);
        let cells = chunk.mask.len() / n;
        let layers = self.layers.len();
        let hidden = self.layers.first().map_or(0, |l| l.hidden);
        let counts: Vec<f32> = chunk
            .mask
            .chunks_exact(n)
            .map(|m| m.iter().sum::<f32>().max(1.0))
            .collect();
        // The layers, each one's masked node mean per cell.
        let graph = Neighbourhood::of_cells(&chunk);
        let mut x = chunk.tokens.to_vec();
        let mut caches = Vec::with_capacity(layers);
        let mut means = vec![0.0f32; cells * layers * hidden];
        for (l, layer) in self.layers.iter().enumerate() {
            let (y, cache) = layer.train_forward(x, &graph, masks);
            x = y;
            caches.push(cache);
            for cell in 0..cells {
                let mean = &mut means[(cell * layers + l) * hidden..][..hidden];
                for (i, m) in chunk.mask[cell * n..(cell + 1) * n].iter().enumerate() {
                    let row = &x[(cell * n + i) * hidden..][..hidden];
                    for (o, v) in mean.iter_mut().zip(row) {
                        *o += v * m;
                    }
                }
                mean.iter_mut().for_each(|v| *v /= counts[cell]);
            }
        }
        // Gated fusion of the layer means.
        let mut fused_hidden = dense_forward(&self.fusion_hidden, &means, cells);
        fused_hidden.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut gates = dense_forward(&self.fusion_out, &fused_hidden, cells);
        gates.iter_mut().for_each(|v| *v = sigmoid(*v));
        let mut embedding = vec![0.0f32; cells * hidden];
        for cell in 0..cells {
            let out = &mut embedding[cell * hidden..(cell + 1) * hidden];
            for l in 0..layers {
                let gate = gates[cell * layers + l];
                let mean = &means[(cell * layers + l) * hidden..][..hidden];
                for (o, v) in out.iter_mut().zip(mean) {
                    *o += gate * v;
                }
            }
        }
        // The head: two dropout(relu) layers and a linear one.
        let head = head_train_forward(&self.head, embedding, cells, |width| {
            masks.next_graphs(width, cells)
        });
        let predictions: Vec<f32> = if self.positive_output {
            head.z.iter().map(|&v| softplus_neg(v)).collect()
        } else {
            head.z.clone()
        };
        let forward = PartForward {
            graph,
            caches,
            counts,
            means,
            fused_hidden,
            gates,
            head,
        };
        (predictions, forward)
    }

    /// The backward pass over one part's cells, given the loss's gradient
    /// with respect to their predictions (`[cells]`).
    fn backward_part(
        &self,
        chunk: CellChunk<'_>,
        forward: PartForward,
        d_pred: &[f32],
        kept: f32,
    ) -> CellGradients {
        let n = chunk.nodes.max(1);
        let cells = forward.counts.len();
        let layers = self.layers.len();
        let hidden = self.layers.first().map_or(0, |l| l.hidden);
        let PartForward {
            graph,
            caches,
            counts,
            means,
            fused_hidden,
            gates,
            head: head_forward,
        } = forward;
        // The head, last layer first.
        let mut head = head_grads(&self.head);
        let d_z: Vec<f32> = if self.positive_output {
            // d softplus(-z) / dz = -sigmoid(-z)
            d_pred
                .iter()
                .zip(&head_forward.z)
                .map(|(dp, v)| -dp * sigmoid(-v))
                .collect()
        } else {
            d_pred.to_vec()
        };
        let d_embedding = head_backward(&self.head, &head_forward, &d_z, kept, &mut head);
        // The fusion: embedding = sum_l gate_l mean_l, gate = sigmoid(...).
        let mut d_means = vec![0.0f32; cells * layers * hidden];
        let mut d_gates = vec![0.0f32; cells * layers];
        for cell in 0..cells {
            let de = &d_embedding[cell * hidden..(cell + 1) * hidden];
            for l in 0..layers {
                let at = (cell * layers + l) * hidden;
                let gate = gates[cell * layers + l];
                d_gates[cell * layers + l] = dot(de, &means[at..at + hidden]) * gate * (1.0 - gate);
                for (dm, v) in d_means[at..at + hidden].iter_mut().zip(de) {
                    *dm = gate * v;
                }
            }
        }
        let mut fusion_out = DenseGrad::zeros(&self.fusion_out);
        fusion_out.add(&fused_hidden, &d_gates, cells);
        let mut d_fused = vec![0.0f32; cells * self.fusion_hidden.d_out];
        dense_input_grad(&self.fusion_out, &d_gates, cells, &mut d_fused, false);
        relu_dropout_backward(&mut d_fused, &fused_hidden, 1.0);
        let mut fusion_hidden = DenseGrad::zeros(&self.fusion_hidden);
        fusion_hidden.add(&means, &d_fused, cells);
        dense_input_grad(&self.fusion_hidden, &d_fused, cells, &mut d_means, true);
        // The layers, last first: each output's gradient is its mean's share
        // plus what the next layer passes back.
        let mut layer_grads: Vec<LayerGrad> = self.layers.iter().map(LayerGrad::zeros).collect();
        let mut d_x: Option<Vec<f32>> = None;
        for l in (0..layers).rev() {
            let mut dy = d_x
                .take()
                .unwrap_or_else(|| vec![0.0f32; cells * n * hidden]);
            for cell in 0..cells {
                let dm = &d_means[(cell * layers + l) * hidden..][..hidden];
                for (i, m) in chunk.mask[cell * n..(cell + 1) * n].iter().enumerate() {
                    let share = m / counts[cell];
                    if share != 0.0 {
                        let row = &mut dy[(cell * n + i) * hidden..][..hidden];
                        for (o, v) in row.iter_mut().zip(dm) {
                            *o += share * v;
                        }
                    }
                }
            }
            d_x =
                self.layers[l].backward(&caches[l], &dy, &graph, kept, &mut layer_grads[l], l > 0);
        }
        CellGradients {
            layers: layer_grads,
            fusion_hidden,
            fusion_out,
            head,
        }
    }
}
