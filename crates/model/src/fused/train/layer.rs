//! The V2 layer's training forward and backward passes, on rows whose
//! neighbours a [`Neighbourhood`] lists (padded cells or flat networks).

use super::{
    DenseGrad, GroupCache, GroupGrad, Masks, NormGrad, dense_forward, dense_input_grad,
    group_backward, group_forward, norm_backward, product, relu_dropout, scale_shift, standardise,
};
use crate::fused::sgemm::Mat;
use crate::fused::{CellChunk, Layer, dot, lane_sum, sigmoid};

/// Which rows each row attends to, as runs of an index list: row `t`
/// reads rows `neighbour[row_start[t]..row_start[t + 1]]`, with adjacency
/// values `value[..]` (1 on flat graphs), in ascending order as the
/// inference path visits them.
#[derive(Debug)]
pub(super) struct Neighbourhood {
    row_start: Vec<usize>,
    neighbour: Vec<usize>,
    value: Vec<f32>,
}

impl Neighbourhood {
    /// The non-zero entries of padded cells' adjacency (`[cells, n, n]`).
    pub(super) fn of_cells(chunk: &CellChunk<'_>) -> Self {
        let n = chunk.nodes;
        let mut graph = Neighbourhood {
            row_start: vec![0],
            neighbour: Vec::new(),
            value: Vec::new(),
        };
        for (t, adj) in chunk.adjacency.chunks_exact(n.max(1)).enumerate() {
            let base = (t / n) * n;
            for (j, &a) in adj.iter().enumerate().filter(|(_, a)| **a != 0.0) {
                graph.neighbour.push(base + j);
                graph.value.push(a);
            }
            graph.row_start.push(graph.neighbour.len());
        }
        graph
    }

    /// Rows `rows` of flat graphs (`row_start`, `neighbour` over all rows),
    /// renumbered from `rows.start`: the rows must hold whole graphs.
    pub(super) fn of_flat(
        row_start: &[usize],
        neighbour: &[usize],
        rows: std::ops::Range<usize>,
    ) -> Self {
        let edges = row_start[rows.start]..row_start[rows.end];
        Neighbourhood {
            row_start: row_start[rows.start..=rows.end]
                .iter()
                .map(|e| e - edges.start)
                .collect(),
            neighbour: neighbour[edges.clone()]
                .iter()
                .map(|j| j - rows.start)
                .collect(),
            value: vec![1.0; edges.len()],
        }
    }

    fn edges(&self, t: usize) -> std::ops::Range<usize> {
        self.row_start[t]..self.row_start[t + 1]
    }

    /// The row's adjacency sum (its neighbour count on 0/1 graphs).
    fn degree(&self, t: usize) -> f32 {
        self.value[self.edges(t)].iter().sum()
    }
}

/// What one layer keeps for its backward pass (`rows` = cells x nodes).
#[derive(Debug, Default)]
pub(super) struct LayerCache {
    /// Input `[rows, d_in]`, the degree gate `sigmoid(degree w + b)` and the gated input.
    x0: Vec<f32>,
    degrees: Vec<f32>,
    gate: Vec<f32>,
    x1: Vec<f32>,
    /// `sigmoid(x1 Wqk + b)`, `[rows, d_in]`.
    z: Vec<f32>,
    /// Normalised attention weights, one per edge of the [`Neighbourhood`],
    /// and each row's score sum plus epsilon `[rows]`.
    weights: Vec<f32>,
    totals: Vec<f32>,
    aggregated: Vec<f32>,
    /// The projection over its row norm, `[rows, hidden]`, and the norms.
    unit: Vec<f32>,
    norms: Vec<f32>,
    clamped: Vec<bool>,
    /// `dropout(relu(unit))`: the residual stream, `[rows, hidden]`.
    x: Vec<f32>,
    ln_hat: Vec<f32>,
    ln_inv: Vec<f32>,
    ln_out: Vec<f32>,
    up: GroupCache,
    /// `dropout(relu(up))`, `[rows, groups * 4 hidden / groups]`.
    wide: Vec<f32>,
    down: GroupCache,
    /// The last dropout's mask (empty without dropout) and the FFN's output.
    down_mask: Vec<f32>,
    ffn: Vec<f32>,
}

/// One layer's gradients.
#[derive(Debug, Clone)]
pub(super) struct LayerGrad {
    degree_gate: DenseGrad,
    qk: DenseGrad,
    neighbour: DenseGrad,
    root: DenseGrad,
    norm: NormGrad,
    up: GroupGrad,
    down: GroupGrad,
    layer_scale: Vec<f32>,
}

impl LayerGrad {
    pub(super) fn zeros(layer: &Layer) -> Self {
        LayerGrad {
            degree_gate: DenseGrad::zeros(&layer.degree_gate),
            qk: DenseGrad::zeros(&layer.qk),
            neighbour: DenseGrad::zeros(&layer.neighbour),
            root: DenseGrad::zeros(&layer.root),
            norm: NormGrad::zeros(layer.hidden),
            up: GroupGrad::zeros(&layer.up),
            down: GroupGrad::zeros(&layer.down),
            layer_scale: vec![0.0; layer.hidden],
        }
    }

    /// Every gradient buffer, in one fixed order.
    pub(super) fn buffers(&self) -> Vec<&[f32]> {
        let mut out = Vec::new();
        for dense in [&self.degree_gate, &self.qk, &self.neighbour, &self.root] {
            out.extend(dense.buffers());
        }
        out.extend([
            &self.norm.gamma[..],
            &self.norm.beta[..],
            &self.layer_scale[..],
        ]);
        for g in [&self.up, &self.down] {
            out.extend([
                &g.weight[..],
                &g.bias[..],
                &g.norm.gamma[..],
                &g.norm.beta[..],
            ]);
        }
        out
    }

    /// [`Self::buffers`], writable.
    pub(super) fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out = Vec::new();
        for dense in [
            &mut self.degree_gate,
            &mut self.qk,
            &mut self.neighbour,
            &mut self.root,
        ] {
            out.extend(dense.buffers_mut());
        }
        out.extend([
            &mut self.norm.gamma[..],
            &mut self.norm.beta[..],
            &mut self.layer_scale[..],
        ]);
        for g in [&mut self.up, &mut self.down] {
            out.extend([
                &mut g.weight[..],
                &mut g.bias[..],
                &mut g.norm.gamma[..],
                &mut g.norm.beta[..],
            ]);
        }
        out
    }
}

impl Layer {
    /// [`Layer::forward`] (or [`Layer::forward_flat`]) on rows whose
    /// neighbours `graph` lists, keeping what [`Layer::backward`] reads.
    /// `x0`: `[rows, d_in]`; returns `[rows, hidden]`.
    pub(super) fn train_forward(
        &self,
        x0: Vec<f32>,
        graph: &Neighbourhood,
        masks: &mut Masks,
    ) -> (Vec<f32>, LayerCache) {
        let (d, h) = (self.d_in, self.hidden);
        let rows = x0.len() / d;
        let degrees: Vec<f32> = (0..rows).map(|t| graph.degree(t)).collect();
        let mut gate = vec![0.0f32; rows * d];
        for (row, &degree) in gate.chunks_exact_mut(d).zip(&degrees) {
            for ((g, w), b) in row
                .iter_mut()
                .zip(&self.degree_gate.weight)
                .zip(&self.degree_gate.bias)
            {
                *g = sigmoid(degree * w + b);
            }
        }
        let x1: Vec<f32> = x0.iter().zip(&gate).map(|(x, g)| x * g).collect();
        let mut z = dense_forward(&self.qk, &x1, rows);
        z.iter_mut().for_each(|v| *v = sigmoid(*v));
        // Attention over each row's edges, linearly normalised; one weight per edge.
        let scale = 1.0 / (d as f32).sqrt();
        let mut weights = vec![0.0f32; graph.neighbour.len()];
        let mut totals = vec![0.0f32; rows];
        let mut aggregated = vec![0.0f32; rows * d];
        for t in 0..rows {
            let edges = graph.edges(t);
            let zt = &z[t * d..(t + 1) * d];
            let w = &mut weights[edges.clone()];
            let mut total = 0.0;
            for ((wj, &j), a) in w
                .iter_mut()
                .zip(&graph.neighbour[edges.clone()])
                .zip(&graph.value[edges.clone()])
            {
                *wj = dot(zt, &z[j * d..(j + 1) * d]) * scale * a;
                total += *wj;
            }
            totals[t] = total + 1e-6;
            let inv = 1.0 / totals[t];
            let out = &mut aggregated[t * d..(t + 1) * d];
            for (wj, &j) in w.iter_mut().zip(&graph.neighbour[edges]) {
                *wj *= inv;
                for (o, v) in out.iter_mut().zip(&x1[j * d..(j + 1) * d]) {
                    *o += *wj * v;
                }
            }
        }
        let mut unit = dense_forward(&self.neighbour, &aggregated, rows);
        product(
            Mat::dense(&x1, rows, d),
            Mat::dense(&self.root.weight, d, h),
            &mut unit,
            true,
        );
        let mut norms = vec![0.0f32; rows];
        let mut clamped = vec![false; rows];
        for ((row, norm), clamped) in unit.chunks_exact_mut(h).zip(&mut norms).zip(&mut clamped) {
            let raw = lane_sum(row, |v| v * v).sqrt();
            *clamped = raw < 1e-12;
            *norm = raw.max(1e-12);
            row.iter_mut().for_each(|v| *v /= *norm);
        }
        let mut x = unit.clone();
        relu_dropout(&mut x, masks.next_nodes(h, rows));
        // x + gamma * FFN(LN(x))
        let mut ln_hat = x.clone();
        let mut ln_out = vec![0.0f32; rows * h];
        let mut ln_inv = vec![0.0f32; rows];
        for ((hat, out), inv) in ln_hat
            .chunks_exact_mut(h)
            .zip(ln_out.chunks_exact_mut(h))
            .zip(&mut ln_inv)
        {
            *inv = standardise(hat);
            scale_shift(hat, &self.norm_gamma, &self.norm_beta, out);
        }
        let g = self.groups;
        let (mut wide, up) = group_forward(&self.up, g, &ln_out, rows);
        let wide_width = wide.len() / rows.max(1);
        relu_dropout(&mut wide, masks.next_nodes(wide_width, rows));
        let (mut ffn, down) = group_forward(&self.down, g, &wide, rows);
        let down_mask = masks.next_nodes(h, rows).unwrap_or_default();
        if !down_mask.is_empty() {
            ffn.iter_mut().zip(&down_mask).for_each(|(v, m)| *v *= m);
        }
        let mut y = x.clone();
        for (row, f) in y.chunks_exact_mut(h).zip(ffn.chunks_exact(h)) {
            for ((v, f), s) in row.iter_mut().zip(f).zip(&self.layer_scale) {
                *v += f * s;
            }
        }
        let cache = LayerCache {
            x0,
            degrees,
            gate,
            x1,
            z,
            weights,
            totals,
            aggregated,
            unit,
            norms,
            clamped,
            x,
            ln_hat,
            ln_inv,
            ln_out,
            up,
            wide,
            down,
            down_mask,
            ffn,
        };
        (y, cache)
    }

    /// The backward pass of [`Layer::train_forward`]: given `dy` (`[rows,
    /// hidden]`), adds every parameter's gradient to `grad` and returns `d x0`
    /// when `input_grad` (the first layer's input is the tokens: not needed).
    pub(super) fn backward(
        &self,
        cache: &LayerCache,
        dy: &[f32],
        graph: &Neighbourhood,
        kept_scale: f32,
        grad: &mut LayerGrad,
        input_grad: bool,
    ) -> Option<Vec<f32>> {
        let (d, h, g) = (self.d_in, self.hidden, self.groups);
        let rows = dy.len() / h;
        // y = x + ffn * layer_scale
        let mut d_ffn = dy.to_vec();
        for (row, f) in d_ffn.chunks_exact_mut(h).zip(cache.ffn.chunks_exact(h)) {
            for (((dv, f), s), ds) in row
                .iter_mut()
                .zip(f)
                .zip(&self.layer_scale)
                .zip(&mut grad.layer_scale)
            {
                *ds += *dv * f;
                *dv *= s;
            }
        }
        if !cache.down_mask.is_empty() {
            d_ffn
                .iter_mut()
                .zip(&cache.down_mask)
                .for_each(|(v, m)| *v *= m);
        }
        let mut d_wide = group_backward(
            &self.down,
            g,
            &cache.down,
            &cache.wide,
            rows,
            &mut d_ffn,
            &mut grad.down,
        );
        // wide = dropout(relu(up)): kept positives carry the gradient, scaled.
        for (dv, w) in d_wide.iter_mut().zip(&cache.wide) {
            *dv = if *w > 0.0 { *dv * kept_scale } else { 0.0 };
        }
        let mut d_ln = group_backward(
            &self.up,
            g,
            &cache.up,
            &cache.ln_out,
            rows,
            &mut d_wide,
            &mut grad.up,
        );
        for ((row, hat), inv) in d_ln
            .chunks_exact_mut(h)
            .zip(cache.ln_hat.chunks_exact(h))
            .zip(&cache.ln_inv)
        {
            norm_backward(hat, *inv, &self.norm_gamma, grad.norm.span(0..h), row);
        }
        // d x = dy (the residual) + d_ln; through dropout(relu) and the row norm.
        let mut d_out = d_ln;
        for ((((row, dy), x), unit), (norm, clamped)) in d_out
            .chunks_exact_mut(h)
            .zip(dy.chunks_exact(h))
            .zip(cache.x.chunks_exact(h))
            .zip(cache.unit.chunks_exact(h))
            .zip(cache.norms.iter().zip(&cache.clamped))
        {
            for ((dv, dy), x) in row.iter_mut().zip(dy).zip(x) {
                *dv = if *x > 0.0 {
                    (*dv + dy) * kept_scale
                } else {
                    0.0
                };
            }
            let along = if *clamped { 0.0 } else { dot(row, unit) };
            for (dv, u) in row.iter_mut().zip(unit) {
                *dv = (*dv - u * along) / norm;
            }
        }
        // out = aggregated Wn + bn + x1 Wr
        grad.neighbour.add(&cache.aggregated, &d_out, rows);
        product(
            Mat::dense(&cache.x1, rows, d).t(),
            Mat::dense(&d_out, rows, h),
            &mut grad.root.weight,
            true,
        );
        let mut d_aggregated = vec![0.0f32; rows * d];
        dense_input_grad(&self.neighbour, &d_out, rows, &mut d_aggregated, false);
        let mut d_x1 = vec![0.0f32; rows * d];
        dense_input_grad(&self.root, &d_out, rows, &mut d_x1, false);
        // The attention: aggregated_t = sum_j w_tj x1_j, w_tj = s_tj / total_t,
        // s_tj = a_tj z_t . z_j / sqrt(d).
        let scale = 1.0 / (d as f32).sqrt();
        let mut d_z = vec![0.0f32; rows * d];
        let mut d_w = Vec::new();
        for t in 0..rows {
            let edges = graph.edges(t);
            let (neighbours, values) =
                (&graph.neighbour[edges.clone()], &graph.value[edges.clone()]);
            let w = &cache.weights[edges];
            let da = &d_aggregated[t * d..(t + 1) * d];
            d_w.clear();
            let mut along = 0.0;
            for (&j, wj) in neighbours.iter().zip(w) {
                let row = j * d..(j + 1) * d;
                let dw = dot(da, &cache.x1[row.clone()]);
                along += dw * wj;
                d_w.push(dw);
                for (dx, v) in d_x1[row].iter_mut().zip(da) {
                    *dx += wj * v;
                }
            }
            for ((dw, &j), a) in d_w.iter().zip(neighbours).zip(values) {
                let coef = (dw - along) / cache.totals[t] * a * scale;
                let (jt, jj) = (t * d, j * d);
                for k in 0..d {
                    let zt = cache.z[jt + k];
                    let zj = cache.z[jj + k];
                    d_z[jt + k] += coef * zj;
                    d_z[jj + k] += coef * zt;
                }
            }
        }
        // z = sigmoid(x1 Wqk + b)
        for (dv, z) in d_z.iter_mut().zip(&cache.z) {
            *dv *= z * (1.0 - z);
        }
        grad.qk.add(&cache.x1, &d_z, rows);
        dense_input_grad(&self.qk, &d_z, rows, &mut d_x1, true);
        // x1 = x0 * sigmoid(degree w + b)
        for (((row, x0), gate), degree) in d_x1
            .chunks_exact(d)
            .zip(cache.x0.chunks_exact(d))
            .zip(cache.gate.chunks_exact(d))
            .zip(&cache.degrees)
        {
            for ((((dv, x), gt), dw), db) in row
                .iter()
                .zip(x0)
                .zip(gate)
                .zip(&mut grad.degree_gate.weight)
                .zip(&mut grad.degree_gate.bias)
            {
                let d_pre = dv * x * gt * (1.0 - gt);
                *dw += d_pre * degree;
                *db += d_pre;
            }
        }
        input_grad.then(|| {
            d_x1.iter()
                .zip(&cache.gate)
                .map(|(dv, gt)| dv * gt)
                .collect()
        })
    }
}
