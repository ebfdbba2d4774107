//! GraphSAGE layers ([`crate::gnn::SageLayer`]) on the fused path, on graphs
//! stacked node after node with neighbour lists (the GNN baseline's encoder
//! of whole networks).

use super::Dense;
use super::sgemm::{Mat, matmul};

#[derive(Debug, Clone)]
pub(super) struct Sage {
    neighbour: Dense,
    /// `[d_in, d_out]`, no bias.
    root: Vec<f32>,
}

impl Sage {
    pub(super) fn of(layer: &crate::gnn::SageLayer) -> Self {
        Sage {
            neighbour: Dense::of(&layer.neighbour),
            root: super::param(&layer.root.weight),
        }
    }

    pub(super) fn d_in(&self) -> usize {
        self.neighbour.d_in
    }

    pub(super) fn d_out(&self) -> usize {
        self.neighbour.d_out
    }

    /// `relu(mean_j x_j Wn + bn + x Wr)` over each node's neighbours
    /// `neighbour[row_start[t]..row_start[t + 1]]` (a node without any reads zeros).
    ///
    /// # Shapes
    /// - x: `[nodes, d_in]` -> `[nodes, d_out]`
    pub(super) fn forward_flat(
        &self,
        x: &[f32],
        row_start: &[usize],
        neighbour: &[usize],
    ) -> Vec<f32> {
        let d = self.d_in();
        let mut mean = vec![0.0f32; x.len()];
        for (t, m) in mean.chunks_exact_mut(d).enumerate() {
            let edges = &neighbour[row_start[t]..row_start[t + 1]];
            for &j in edges {
                for (o, v) in m.iter_mut().zip(&x[j * d..(j + 1) * d]) {
                    *o += v;
                }
            }
            let degree = (edges.len() as f32).max(1.0);
            m.iter_mut().for_each(|v| *v /= degree);
        }
        self.project(x, &mean)
    }

    /// The same layer on padded cells: node `i` of a cell averages the rows
    /// its adjacency row weights (`adjacency` `[cells, n, n]`, zero on pads).
    ///
    /// # Shapes
    /// - x: `[cells * n, d_in]` -> `[cells * n, d_out]`
    pub(super) fn forward_padded(&self, x: &[f32], adjacency: &[f32], n: usize) -> Vec<f32> {
        let d = self.d_in();
        let mut mean = vec![0.0f32; x.len()];
        for (r, m) in mean.chunks_exact_mut(d).enumerate() {
            let (cell, i) = (r / n, r % n);
            let row = &adjacency[cell * n * n + i * n..][..n];
            for (j, &a) in row.iter().enumerate().filter(|(_, a)| **a != 0.0) {
                let xj = &x[(cell * n + j) * d..(cell * n + j + 1) * d];
                for (o, v) in m.iter_mut().zip(xj) {
                    *o += a * v;
                }
            }
            let degree = row.iter().sum::<f32>().max(1.0);
            m.iter_mut().for_each(|v| *v /= degree);
        }
        self.project(x, &mean)
    }

    /// `relu(mean Wn + bn + x Wr)`, both `[rows, d_in]`.
    fn project(&self, x: &[f32], mean: &[f32]) -> Vec<f32> {
        let (d, h) = (self.d_in(), self.d_out());
        let rows = x.len() / d;
        let mut out = vec![0.0f32; rows * h];
        self.neighbour.forward(mean, rows, &mut out);
        matmul(
            Mat::dense(x, rows, d),
            Mat::dense(&self.root, d, h),
            &mut out,
            h,
            true,
        );
        out.iter_mut().for_each(|v| *v = v.max(0.0));
        out
    }
}

/// A trained [`crate::gnn::GnnModel`] (the cell GNN baseline): SAGE layers on
/// padded cells, the masked node mean, the head.
#[derive(Debug, Clone)]
pub struct FusedGnnCell {
    layers: Vec<Sage>,
    head: [Dense; 3],
    positive_output: bool,
}

impl FusedGnnCell {
    pub fn of(model: &crate::gnn::GnnModel) -> Self {
        FusedGnnCell {
            layers: model.layers.iter().map(Sage::of).collect(),
            head: super::dense_head(&model.head),
            positive_output: model.head.positive_output,
        }
    }

    /// What [`crate::gnn::GnnModel::forward`] predicts for the chunk's cells.
    ///
    /// # Shapes
    /// - chunk: as [`super::CellChunk`]; output: `[cells]`
    pub fn forward(&self, chunk: super::CellChunk<'_>) -> Vec<f32> {
        let n = chunk.nodes.max(1);
        let cells = chunk.mask.len() / n;
        let mut x = chunk.tokens.to_vec();
        for layer in &self.layers {
            x = layer.forward_padded(&x, chunk.adjacency, n);
        }
        let hidden = self.layers.last().map_or(0, Sage::d_out);
        let mut means = vec![0.0f32; cells * hidden];
        for (cell, mean) in means.chunks_exact_mut(hidden.max(1)).enumerate() {
            let mask = &chunk.mask[cell * n..(cell + 1) * n];
            for (i, &m) in mask.iter().enumerate() {
                let row = &x[(cell * n + i) * hidden..][..hidden];
                for (o, v) in mean.iter_mut().zip(row) {
                    *o += v * m;
                }
            }
            let count = mask.iter().sum::<f32>().max(1.0);
            mean.iter_mut().for_each(|v| *v /= count);
        }
        super::head_forward(&self.head, &means, cells, self.positive_output)
    }
}
