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
        let (d, h) = (self.d_in(), self.d_out());
        let rows = x.len() / d;
        let mut mean = vec![0.0f32; rows * d];
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
        let mut out = vec![0.0f32; rows * h];
        self.neighbour.forward(&mean, rows, &mut out);
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
