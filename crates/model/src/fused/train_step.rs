//! One training step of the V2 cell model ([`crate::v2::V2CellModel`]) by
//! hand: the forward pass of [`FusedV2Cell::forward`], keeping what the
//! backward pass reads, then every parameter's gradient. Burn's autodiff runs
//! each element-wise op, forward and backward, as a pass over memory of its
//! own with a tensor per op; here the element-wise work is done in a few
//! passes beside the matrix products (split over the cores by gemm). Burn
//! stays the definition: the gradients must equal its autodiff's (tested on
//! random weights), and its optimiser applies them.

use super::on_parts;
use super::sgemm::{Mat, matmul};
use super::{
    CellChunk, Dense, FusedV2Cell, GroupLinearNorm, Layer, NORM_EPS, dot, lane_sum, sigmoid,
};
use crate::dropout::{host_mask_range, mix_seed};
use crate::v2::V2CellModel;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

/// The dropout of one training step: every site's mask is drawn from `seed`
/// (and the site's number), each element kept with probability `1 - prob`.
#[derive(Debug, Clone, Copy)]
pub struct StepDropout {
    pub prob: f64,
    pub seed: u64,
}

/// Draws one part's masks, one site after another. A site's mask over the
/// whole step is one stream; a part draws its cells' stretch of it.
struct Masks {
    dropout: Option<StepDropout>,
    /// The part's first cell in the step.
    first_cell: usize,
    site: u64,
}

impl Masks {
    /// The next site's mask (`1 / keep` or 0) for `cells` cells of
    /// `rows_per_cell` rows of `width`; `None` without dropout.
    fn next(&mut self, rows_per_cell: usize, width: usize, cells: usize) -> Option<Vec<f32>> {
        let d = self.dropout.filter(|d| d.prob > 0.0)?;
        self.site += 1;
        let per_cell = rows_per_cell * width;
        Some(host_mask_range(
            self.first_cell * per_cell,
            cells * per_cell,
            1.0 - d.prob,
            mix_seed(d.seed, self.site),
        ))
    }

    /// The scale of kept elements (1 without dropout).
    fn scale(&self) -> f32 {
        match self.dropout.filter(|d| d.prob > 0.0) {
            Some(d) => (1.0 / (1.0 - d.prob)) as f32,
            None => 1.0,
        }
    }
}

/// `out (+)= a b`, `out` row-major with `b.cols` columns (on this thread:
/// the step runs one part of the cells per core).
fn product(a: Mat<'_>, b: Mat<'_>, out: &mut [f32], accumulate: bool) {
    let width = b.cols;
    matmul(a, b, out, width, accumulate);
}

/// `x W + b` for `rows` rows of `x`.
fn dense_forward(dense: &Dense, x: &[f32], rows: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * dense.d_out];
    product(
        Mat::dense(x, rows, dense.d_in),
        Mat::dense(&dense.weight, dense.d_in, dense.d_out),
        &mut out,
        false,
    );
    add_bias(&mut out, &dense.bias);
    out
}

fn add_bias(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `dy W^T`: the gradient of `x W + b` with respect to `x`.
fn dense_input_grad(dense: &Dense, dy: &[f32], rows: usize, dx: &mut [f32], accumulate: bool) {
    product(
        Mat::dense(dy, rows, dense.d_out),
        Mat::dense(&dense.weight, dense.d_in, dense.d_out).t(),
        dx,
        accumulate,
    );
}

/// Column sums of `dy` (`[rows, bias.len()]`) added to `bias`.
fn add_column_sums(bias: &mut [f32], dy: &[f32]) {
    for row in dy.chunks_exact(bias.len()) {
        for (b, v) in bias.iter_mut().zip(row) {
            *b += v;
        }
    }
}

/// A Linear's gradients: `[in, out]` weight, `[out]` bias.
#[derive(Debug, Clone)]
struct DenseGrad {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl DenseGrad {
    fn zeros(dense: &Dense) -> Self {
        DenseGrad {
            weight: vec![0.0; dense.weight.len()],
            bias: vec![0.0; dense.bias.len()],
        }
    }

    /// Adds the gradients of `y = x W + b` given `dy` (`x`: `[rows, in]`, `dy`: `[rows, out]`).
    fn add(&mut self, x: &[f32], dy: &[f32], rows: usize) {
        let (d_in, d_out) = (self.weight.len() / self.bias.len(), self.bias.len());
        product(
            Mat::dense(x, rows, d_in).t(),
            Mat::dense(dy, rows, d_out),
            &mut self.weight,
            true,
        );
        add_column_sums(&mut self.bias, dy);
    }

    fn register(self, linear: &burn::nn::Linear, grads: &mut GradientsParams) {
        register(grads, &linear.weight, self.weight);
        if let Some(bias) = &linear.bias {
            register(grads, bias, self.bias);
        }
    }
}

/// Records `values` as the gradient of `param` (on the parameter's plain device, as Burn's are).
fn register<const D: usize>(
    grads: &mut GradientsParams,
    param: &Param<Tensor<D>>,
    values: Vec<f32>,
) {
    let tensor = param.val();
    let device = tensor.device().inner();
    let data = TensorData::new(values, tensor.shape());
    grads.register(param.id, Tensor::<D>::from_data(data, &device));
}

/// Standardises `y` in place (mean 0, biased variance 1 up to the epsilon);
/// returns `1 / sqrt(var + eps)`.
fn standardise(y: &mut [f32]) -> f32 {
    let n = y.len() as f32;
    let mean = lane_sum(y, |v| v) / n;
    let var = lane_sum(y, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + NORM_EPS).sqrt();
    y.iter_mut().for_each(|v| *v = (*v - mean) * inv);
    inv
}

/// `hat * gamma + beta` into `out`.
fn scale_shift(hat: &[f32], gamma: &[f32], beta: &[f32], out: &mut [f32]) {
    for (((o, h), g), b) in out.iter_mut().zip(hat).zip(gamma).zip(beta) {
        *o = h * g + b;
    }
}

/// The backward pass of `out = standardise(y) * gamma + beta`: given `d`
/// (`d out`, replaced by `d y`), adds the scale and shift gradients.
fn norm_backward(
    hat: &[f32],
    inv: f32,
    gamma: &[f32],
    (d_gamma, d_beta): (&mut [f32], &mut [f32]),
    d: &mut [f32],
) {
    for (((dv, h), g), (dg, db)) in d
        .iter_mut()
        .zip(hat)
        .zip(gamma)
        .zip(d_gamma.iter_mut().zip(d_beta.iter_mut()))
    {
        *dg += *dv * h;
        *db += *dv;
        *dv *= g;
    }
    let n = d.len() as f32;
    let mean_d = lane_sum(d, |v| v) / n;
    let mean_dh = dot(d, hat) / n;
    for (dv, h) in d.iter_mut().zip(hat) {
        *dv = inv * (*dv - mean_d - h * mean_dh);
    }
}

/// Scale and shift gradients of a norm (or of a group norm, group after group).
#[derive(Debug, Clone)]
struct NormGrad {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl NormGrad {
    fn zeros(width: usize) -> Self {
        NormGrad {
            gamma: vec![0.0; width],
            beta: vec![0.0; width],
        }
    }

    /// The scale and shift gradients of columns `span`.
    fn span(&mut self, span: std::ops::Range<usize>) -> (&mut [f32], &mut [f32]) {
        (&mut self.gamma[span.clone()], &mut self.beta[span])
    }
}

/// A grouped linear layer's gradients, laid out as its parameters.
#[derive(Debug, Clone)]
struct GroupGrad {
    weight: Vec<f32>,
    bias: Vec<f32>,
    norm: NormGrad,
}

impl GroupGrad {
    fn zeros(g: &GroupLinearNorm) -> Self {
        GroupGrad {
            weight: vec![0.0; g.weight.len()],
            bias: vec![0.0; g.bias.len()],
            norm: NormGrad::zeros(g.gamma.len()),
        }
    }

    fn register(self, g: &crate::grouped_ffn::GroupedLinearNorm, grads: &mut GradientsParams) {
        register(grads, &g.weight, self.weight);
        register(grads, &g.bias, self.bias);
        register(grads, &g.gamma, self.norm.gamma);
        register(grads, &g.beta, self.norm.beta);
    }
}

/// What a grouped linear layer with group norms keeps for its backward pass.
#[derive(Debug, Default)]
struct GroupCache {
    /// Standardised outputs, `[rows, groups * out/g]`.
    hat: Vec<f32>,
    /// `1 / std` per row and group, `[rows, groups]`.
    inv: Vec<f32>,
}

/// The grouped layer `x -> per group: norm(x_g W_g + b_g) * gamma + beta`
/// (`x`: `[rows, groups * in/g]`); returns the output and what backward needs.
fn group_forward(
    layer: &GroupLinearNorm,
    groups: usize,
    x: &[f32],
    rows: usize,
) -> (Vec<f32>, GroupCache) {
    let (gi, go) = (layer.d_in, layer.d_out);
    let width = groups * go;
    let mut hat = vec![0.0f32; rows * width];
    for g in 0..groups {
        matmul(
            Mat::strided(&x[g * gi..], rows, gi, groups * gi),
            Mat::dense(&layer.weight[g * gi * go..(g + 1) * gi * go], gi, go),
            &mut hat[g * go..],
            width,
            false,
        );
    }
    add_bias(&mut hat, &layer.bias);
    let mut inv = vec![0.0f32; rows * groups];
    let mut out = vec![0.0f32; rows * width];
    for ((row, inv), out) in hat
        .chunks_exact_mut(width)
        .zip(inv.chunks_exact_mut(groups))
        .zip(out.chunks_exact_mut(width))
    {
        for (g, inv) in inv.iter_mut().enumerate() {
            let span = g * go..(g + 1) * go;
            *inv = standardise(&mut row[span.clone()]);
            scale_shift(
                &row[span.clone()],
                &layer.gamma[span.clone()],
                &layer.beta[span.clone()],
                &mut out[span],
            );
        }
    }
    (out, GroupCache { hat, inv })
}

/// The backward pass of [`group_forward`]: `d` (`d out`) becomes `d (x W + b)`
/// in place; adds the parameters' gradients and returns `d x`.
fn group_backward(
    layer: &GroupLinearNorm,
    groups: usize,
    cache: &GroupCache,
    x: &[f32],
    rows: usize,
    d: &mut [f32],
    grad: &mut GroupGrad,
) -> Vec<f32> {
    let (gi, go) = (layer.d_in, layer.d_out);
    let width = groups * go;
    for (r, (row, hat)) in d
        .chunks_exact_mut(width)
        .zip(cache.hat.chunks_exact(width))
        .enumerate()
    {
        for g in 0..groups {
            let span = g * go..(g + 1) * go;
            norm_backward(
                &hat[span.clone()],
                cache.inv[r * groups + g],
                &layer.gamma[span.clone()],
                grad.norm.span(span.clone()),
                &mut row[span],
            );
        }
    }
    add_column_sums(&mut grad.bias, d);
    let mut dx = vec![0.0f32; rows * groups * gi];
    for g in 0..groups {
        let dy = Mat::strided(&d[g * go..], rows, go, width);
        let weight = Mat::dense(&layer.weight[g * gi * go..(g + 1) * gi * go], gi, go);
        matmul(
            Mat::strided(&x[g * gi..], rows, gi, groups * gi).t(),
            dy,
            &mut grad.weight[g * gi * go..(g + 1) * gi * go],
            go,
            true,
        );
        matmul(dy, weight.t(), &mut dx[g * gi..], groups * gi, false);
    }
    dx
}

/// What one layer keeps for its backward pass (`rows` = cells x nodes).
#[derive(Debug, Default)]
struct LayerCache {
    /// Input `[rows, d_in]`, the degree gate `sigmoid(degree w + b)` and the gated input.
    x0: Vec<f32>,
    degrees: Vec<f32>,
    gate: Vec<f32>,
    x1: Vec<f32>,
    /// `sigmoid(x1 Wqk + b)`, `[rows, d_in]`.
    z: Vec<f32>,
    /// Normalised attention weights `[rows, nodes]` (0 off the edges) and
    /// each row's score sum plus epsilon `[rows]`.
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
struct LayerGrad {
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
    fn zeros(layer: &Layer) -> Self {
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

    fn register(self, layer: &crate::layer::V2Layer, grads: &mut GradientsParams) {
        self.degree_gate.register(&layer.degree_gate, grads);
        self.qk.register(&layer.qk, grads);
        self.neighbour.register(&layer.neighbour, grads);
        self.root.register(&layer.root, grads);
        register(grads, &layer.norm.gamma, self.norm.gamma);
        if let Some(beta) = &layer.norm.beta {
            register(grads, beta, self.norm.beta);
        }
        self.up.register(&layer.ffn.up, grads);
        self.down.register(&layer.ffn.down, grads);
        register(grads, &layer.layer_scale, self.layer_scale);
    }
}

impl Layer {
    /// [`Layer::forward`] on padded cells (`adjacency`: `[cells, n, n]`),
    /// keeping what [`Layer::backward`] reads. `x0`: `[cells * n, d_in]`;
    /// returns `[cells * n, hidden]`.
    fn train_forward(
        &self,
        x0: Vec<f32>,
        chunk: &CellChunk<'_>,
        masks: &mut Masks,
    ) -> (Vec<f32>, LayerCache) {
        let (d, h) = (self.d_in, self.hidden);
        let (adjacency, n) = (chunk.adjacency, chunk.nodes);
        let rows = x0.len() / d;
        let degrees: Vec<f32> = (0..rows)
            .map(|r| adjacency[(r / n) * n * n + (r % n) * n..][..n].iter().sum())
            .collect();
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
        // Attention over each cell's edges, linearly normalised.
        let scale = 1.0 / (d as f32).sqrt();
        let mut weights = vec![0.0f32; rows * n];
        let mut totals = vec![0.0f32; rows];
        let mut aggregated = vec![0.0f32; rows * d];
        for t in 0..rows {
            let base = (t / n) * n;
            let adj = &adjacency[(t / n) * n * n + (t % n) * n..][..n];
            let zt = &z[t * d..(t + 1) * d];
            let w = &mut weights[t * n..(t + 1) * n];
            let mut total = 0.0;
            for (j, (wj, &a)) in w.iter_mut().zip(adj).enumerate() {
                if a != 0.0 {
                    *wj = dot(zt, &z[(base + j) * d..(base + j + 1) * d]) * scale * a;
                    total += *wj;
                }
            }
            totals[t] = total + 1e-6;
            let inv = 1.0 / totals[t];
            let out = &mut aggregated[t * d..(t + 1) * d];
            for (j, wj) in w.iter_mut().enumerate() {
                if adj[j] != 0.0 {
                    *wj *= inv;
                    for (o, v) in out.iter_mut().zip(&x1[(base + j) * d..(base + j + 1) * d]) {
                        *o += *wj * v;
                    }
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
        let cells = rows / n;
        let mut x = unit.clone();
        relu_dropout(&mut x, masks.next(n, h, cells));
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
        relu_dropout(&mut wide, masks.next(n, wide_width, cells));
        let (mut ffn, down) = group_forward(&self.down, g, &wide, rows);
        let down_mask = masks.next(n, h, cells).unwrap_or_default();
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
    fn backward(
        &self,
        cache: &LayerCache,
        dy: &[f32],
        chunk: &CellChunk<'_>,
        kept_scale: f32,
        grad: &mut LayerGrad,
        input_grad: bool,
    ) -> Option<Vec<f32>> {
        let (d, h, g) = (self.d_in, self.hidden, self.groups);
        let (adjacency, n) = (chunk.adjacency, chunk.nodes);
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
        let mut d_w = vec![0.0f32; n];
        for t in 0..rows {
            let base = (t / n) * n;
            let adj = &adjacency[(t / n) * n * n + (t % n) * n..][..n];
            let w = &cache.weights[t * n..(t + 1) * n];
            let da = &d_aggregated[t * d..(t + 1) * d];
            let mut along = 0.0;
            for (j, dw) in d_w.iter_mut().enumerate() {
                *dw = 0.0;
                if adj[j] != 0.0 {
                    let row = (base + j) * d..(base + j + 1) * d;
                    *dw = dot(da, &cache.x1[row.clone()]);
                    along += *dw * w[j];
                    for (dx, v) in d_x1[row].iter_mut().zip(da) {
                        *dx += w[j] * v;
                    }
                }
            }
            for (j, dw) in d_w.iter().enumerate() {
                if adj[j] != 0.0 {
                    let coef = (dw - along) / cache.totals[t] * adj[j] * scale;
                    let (jt, jj) = (t * d, (base + j) * d);
                    for k in 0..d {
                        let zt = cache.z[jt + k];
                        let zj = cache.z[jj + k];
                        d_z[jt + k] += coef * zj;
                        d_z[jj + k] += coef * zt;
                    }
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
        let mut ours = self.buffers_mut();
        for (into, from) in ours.iter_mut().zip(other.buffers()) {
            into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        }
    }

    /// Every gradient buffer, in one fixed order.
    fn buffers(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = Vec::new();
        for l in &self.layers {
            for dense in [&l.degree_gate, &l.qk, &l.neighbour, &l.root] {
                out.extend([&dense.weight[..], &dense.bias[..]]);
            }
            out.extend([&l.norm.gamma[..], &l.norm.beta[..], &l.layer_scale[..]]);
            for g in [&l.up, &l.down] {
                out.extend([
                    &g.weight[..],
                    &g.bias[..],
                    &g.norm.gamma[..],
                    &g.norm.beta[..],
                ]);
            }
        }
        for dense in [&self.fusion_hidden, &self.fusion_out]
            .into_iter()
            .chain(&self.head)
        {
            out.extend([&dense.weight[..], &dense.bias[..]]);
        }
        out
    }

    /// [`Self::buffers`], writable.
    fn buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = Vec::new();
        for l in &mut self.layers {
            for dense in [&mut l.degree_gate, &mut l.qk, &mut l.neighbour, &mut l.root] {
                out.extend([&mut dense.weight[..], &mut dense.bias[..]]);
            }
            out.extend([
                &mut l.norm.gamma[..],
                &mut l.norm.beta[..],
                &mut l.layer_scale[..],
            ]);
            for g in [&mut l.up, &mut l.down] {
                out.extend([
                    &mut g.weight[..],
                    &mut g.bias[..],
                    &mut g.norm.gamma[..],
                    &mut g.norm.beta[..],
                ]);
            }
        }
        for dense in [&mut self.fusion_hidden, &mut self.fusion_out]
            .into_iter()
            .chain(&mut self.head)
        {
            out.extend([&mut dense.weight[..], &mut dense.bias[..]]);
        }
        out
    }

    /// The gradients keyed by `model`'s parameter ids, for Burn's optimiser.
    /// `model` must be the one the step's weights were copied from.
    pub fn into_params(self, model: &V2CellModel) -> GradientsParams {
        let mut grads = GradientsParams::new();
        for (grad, layer) in self.layers.into_iter().zip(&model.layers) {
            grad.register(layer, &mut grads);
        }
        self.fusion_hidden
            .register(&model.fusion_hidden, &mut grads);
        self.fusion_out.register(&model.fusion_out, &mut grads);
        for (grad, linear) in self.head.into_iter().zip(&model.head.layers) {
            grad.register(linear, &mut grads);
        }
        grads
    }
}

/// What the forward pass over one part of a step's cells keeps.
#[derive(Debug)]
struct PartForward {
    caches: Vec<LayerCache>,
    /// Real nodes per cell (at least 1), `[cells]`.
    counts: Vec<f32>,
    /// Each layer's masked node mean per cell, `[cells, layers * hidden]`.
    means: Vec<f32>,
    fused_hidden: Vec<f32>,
    /// `sigmoid` of the fusion's output, `[cells, layers]`.
    gates: Vec<f32>,
    embedding: Vec<f32>,
    /// The head's two hidden activations and its output before the softplus.
    a1: Vec<f32>,
    a2: Vec<f32>,
    z: Vec<f32>,
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
    fn train_step_in_parts(
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
            let mut masks = Masks {
                dropout,
                first_cell: first,
                site: 0,
            };
            self.forward_part(part, &mut masks)
        });
        let predictions: Vec<f32> = forwards
            .iter()
            .flat_map(|(predictions, _)| predictions.iter().copied())
            .collect();
        let (value, d_pred) = loss(&predictions);
        let kept = Masks {
            dropout,
            first_cell: 0,
            site: 0,
        }
        .scale();
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
        let mut x = chunk.tokens.to_vec();
        let mut caches = Vec::with_capacity(layers);
        let mut means = vec![0.0f32; cells * layers * hidden];
        for (l, layer) in self.layers.iter().enumerate() {
            let (y, cache) = layer.train_forward(x, &chunk, masks);
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
        let [first, second, last] = &self.head;
        let mut a1 = dense_forward(first, &embedding, cells);
        relu_dropout(&mut a1, masks.next(1, first.d_out, cells));
        let mut a2 = dense_forward(second, &a1, cells);
        relu_dropout(&mut a2, masks.next(1, second.d_out, cells));
        let z = dense_forward(last, &a2, cells);
        let predictions: Vec<f32> = if self.positive_output {
            z.iter()
                .map(|v| {
                    let x = -v;
                    x.max(0.0) + (-x.abs()).exp().ln_1p()
                })
                .collect()
        } else {
            z.clone()
        };
        let forward = PartForward {
            caches,
            counts,
            means,
            fused_hidden,
            gates,
            embedding,
            a1,
            a2,
            z,
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
            caches,
            counts,
            means,
            fused_hidden,
            gates,
            embedding,
            a1,
            a2,
            z,
        } = forward;
        // The head, last layer first.
        let [first, second, last] = &self.head;
        let mut head = [
            DenseGrad::zeros(first),
            DenseGrad::zeros(second),
            DenseGrad::zeros(last),
        ];
        let d_z: Vec<f32> = if self.positive_output {
            // d softplus(-z) / dz = -sigmoid(-z)
            d_pred
                .iter()
                .zip(&z)
                .map(|(dp, v)| -dp * sigmoid(-v))
                .collect()
        } else {
            d_pred.to_vec()
        };
        head[2].add(&a2, &d_z, cells);
        let mut d_a2 = vec![0.0f32; cells * second.d_out];
        dense_input_grad(last, &d_z, cells, &mut d_a2, false);
        relu_dropout_backward(&mut d_a2, &a2, kept);
        head[1].add(&a1, &d_a2, cells);
        let mut d_a1 = vec![0.0f32; cells * first.d_out];
        dense_input_grad(second, &d_a2, cells, &mut d_a1, false);
        relu_dropout_backward(&mut d_a1, &a1, kept);
        head[0].add(&embedding, &d_a1, cells);
        let mut d_embedding = vec![0.0f32; cells * hidden];
        dense_input_grad(first, &d_a1, cells, &mut d_embedding, false);
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
                self.layers[l].backward(&caches[l], &dy, &chunk, kept, &mut layer_grads[l], l > 0);
        }
        CellGradients {
            layers: layer_grads,
            fusion_hidden,
            fusion_out,
            head,
        }
    }
}

/// `dropout(relu(x))` in place (`mask`: none without dropout).
fn relu_dropout(x: &mut [f32], mask: Option<Vec<f32>>) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
    if let Some(mask) = mask {
        x.iter_mut().zip(&mask).for_each(|(v, m)| *v *= m);
    }
}

/// The backward pass of `y = dropout(relu(x))` (or of `relu` with
/// `kept_scale` 1): an output above 0 was kept and scaled.
fn relu_dropout_backward(d: &mut [f32], y: &[f32], kept_scale: f32) {
    for (dv, y) in d.iter_mut().zip(y) {
        *dv = if *y > 0.0 { *dv * kept_scale } else { 0.0 };
    }
}

/// The largest gap between two gradient sets of `model`'s parameters, each
/// parameter's gap relative to the largest entry of its `reference`
/// gradient: how the hand-written step is held to Burn's autodiff. An error
/// names a parameter missing from either set, or a set holding more.
pub fn largest_gradient_gap<M: Module>(
    model: &M,
    reference: &GradientsParams,
    other: &GradientsParams,
) -> Result<f32, String> {
    let mut compare = GradientGap {
        reference,
        other,
        largest: 0.0,
        visited: 0,
        missing: None,
    };
    model.visit(&mut compare);
    if let Some(missing) = compare.missing {
        return Err(missing);
    }
    if reference.len() != compare.visited || other.len() != compare.visited {
        return Err(format!(
            "{} parameters, {} and {} gradients",
            compare.visited,
            reference.len(),
            other.len()
        ));
    }
    Ok(compare.largest)
}

struct GradientGap<'a> {
    reference: &'a GradientsParams,
    other: &'a GradientsParams,
    largest: f32,
    visited: usize,
    missing: Option<String>,
}

impl ModuleVisitor for GradientGap<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.visited += 1;
        let values = |grads: &GradientsParams| -> Option<Vec<f32>> {
            grads.get::<D>(param.id)?.into_data().try_to_vec().ok()
        };
        let (Some(reference), Some(other)) = (values(self.reference), values(self.other)) else {
            self.missing = Some(format!("no gradient for parameter {:?}", param.shape()));
            return;
        };
        let scale = reference.iter().map(|v| v.abs()).fold(1e-12f32, f32::max);
        for (r, o) in reference.iter().zip(&other) {
            self.largest = self.largest.max((r - o).abs() / scale);
        }
    }
}

#[cfg(test)]
#[path = "train_step_tests.rs"]
mod tests;
