//! Training steps by hand for the V2 models: the cell model
//! ([`crate::v2::V2CellModel`], `cell`) and the whole-network model with the
//! V2 encoder ([`crate::network::V2NetworkModel`], `network`). Each runs the
//! forward pass of the inference path, keeping what the backward pass reads,
//! then computes every parameter's gradient. Burn's autodiff runs
//! each element-wise op, forward and backward, as a pass over memory of its
//! own with a tensor per op; here the element-wise work is done in a few
//! passes beside the matrix products (split over the cores by gemm). Burn
//! stays the definition: the gradients must equal its autodiff's (tested on
//! random weights), and its optimiser applies them.

mod adam;
mod cell;
mod host;
mod layer;
mod network;
mod params;

pub use adam::{AdamSettings, OptimizerStateError};
pub use cell::CellGradients;
pub use host::{HostInput, HostTraining};
pub use network::NetworkGradients;

use super::sgemm::{Mat, matmul};
use super::{Dense, GroupLinearNorm, NORM_EPS, dot, lane_sum};
use crate::dropout::{host_mask_range, mix_seed};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The dropout of one training step: every site's mask is drawn from `seed`
/// (and the site's number), each element kept with probability `1 - prob`.
#[derive(Debug, Clone, Copy)]
pub struct StepDropout {
    pub prob: f64,
    pub seed: u64,
}

/// Draws one part's masks, one site after another. A site's mask over the
/// whole step is one stream over its rows; a part draws its rows' stretch.
struct Masks {
    dropout: Option<StepDropout>,
    /// The part's first node row and first graph in the step.
    first_node: usize,
    first_graph: usize,
    site: u64,
}

impl Masks {
    fn new(dropout: Option<StepDropout>, first_node: usize, first_graph: usize) -> Self {
        Masks {
            dropout,
            first_node,
            first_graph,
            site: 0,
        }
    }

    /// The next node-level site's mask (`1 / keep` or 0) for the part's
    /// `rows` node rows of `width`; `None` without dropout.
    fn next_nodes(&mut self, width: usize, rows: usize) -> Option<Vec<f32>> {
        self.next(self.first_node, width, rows)
    }

    /// The same for a graph-level site (one row per graph).
    fn next_graphs(&mut self, width: usize, rows: usize) -> Option<Vec<f32>> {
        self.next(self.first_graph, width, rows)
    }

    fn next(&mut self, first_row: usize, width: usize, rows: usize) -> Option<Vec<f32>> {
        let d = self.dropout.filter(|d| d.prob > 0.0)?;
        self.site += 1;
        Some(host_mask_range(
            first_row * width,
            rows * width,
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

    fn buffers(&self) -> [&[f32]; 2] {
        [&self.weight, &self.bias]
    }

    fn buffers_mut(&mut self) -> [&mut [f32]; 2] {
        [&mut self.weight, &mut self.bias]
    }
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

/// The MLP head's activations (a [`crate::head::RegressionHead`]'s three
/// layers), kept for its backward pass: its input, two `dropout(relu)`
/// hidden layers, and the output `z` (`[rows]`).
#[derive(Debug)]
struct HeadForward {
    input: Vec<f32>,
    a1: Vec<f32>,
    a2: Vec<f32>,
    z: Vec<f32>,
}

/// The head on `rows` rows of `input`; `mask(width)` gives each hidden
/// layer's dropout mask in turn.
fn head_train_forward(
    head: &[Dense; 3],
    input: Vec<f32>,
    rows: usize,
    mut mask: impl FnMut(usize) -> Option<Vec<f32>>,
) -> HeadForward {
    let [first, second, last] = head;
    let mut a1 = dense_forward(first, &input, rows);
    relu_dropout(&mut a1, mask(first.d_out));
    let mut a2 = dense_forward(second, &a1, rows);
    relu_dropout(&mut a2, mask(second.d_out));
    let z = dense_forward(last, &a2, rows);
    HeadForward { input, a1, a2, z }
}

/// The head's backward pass given `d z` (`[rows]`): adds its layers'
/// gradients to `grads` and returns `d input`.
fn head_backward(
    head: &[Dense; 3],
    forward: &HeadForward,
    d_z: &[f32],
    kept: f32,
    grads: &mut [DenseGrad; 3],
) -> Vec<f32> {
    let [first, second, last] = head;
    let rows = d_z.len();
    grads[2].add(&forward.a2, d_z, rows);
    let mut d_a2 = vec![0.0f32; rows * second.d_out];
    dense_input_grad(last, d_z, rows, &mut d_a2, false);
    relu_dropout_backward(&mut d_a2, &forward.a2, kept);
    grads[1].add(&forward.a1, &d_a2, rows);
    let mut d_a1 = vec![0.0f32; rows * first.d_out];
    dense_input_grad(second, &d_a2, rows, &mut d_a1, false);
    relu_dropout_backward(&mut d_a1, &forward.a1, kept);
    grads[0].add(&forward.input, &d_a1, rows);
    let mut d_input = vec![0.0f32; rows * first.d_in];
    dense_input_grad(first, &d_a1, rows, &mut d_input, false);
    d_input
}

fn head_grads(head: &[Dense; 3]) -> [DenseGrad; 3] {
    [
        DenseGrad::zeros(&head[0]),
        DenseGrad::zeros(&head[1]),
        DenseGrad::zeros(&head[2]),
    ]
}

/// `softplus(-z)`, the positive output, in the form that cannot overflow.
fn softplus_neg(z: f32) -> f32 {
    let x = -z;
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Adds each buffer of `from` to the matching one of `into` (one part's
/// gradients to another's).
fn add_buffers(into: Vec<&mut [f32]>, from: Vec<&[f32]>) {
    assert_eq!(into.len(), from.len(), "gradients of different models");
    for (into, from) in into.into_iter().zip(from) {
        into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
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
/// gradient: how the hand-written steps are held to Burn's autodiff. A
/// parameter neither set has (one the forward pass does not read) is
/// skipped; an error names a parameter only one set has, or a set holding
/// gradients of anything else.
pub fn largest_gradient_gap<M: Module>(
    model: &M,
    reference: &GradientsParams,
    other: &GradientsParams,
) -> Result<f32, String> {
    let mut compare = GradientGap {
        reference,
        other,
        largest: 0.0,
        compared: 0,
        missing: None,
    };
    model.visit(&mut compare);
    if let Some(missing) = compare.missing {
        return Err(missing);
    }
    if reference.len() != compare.compared || other.len() != compare.compared {
        return Err(format!(
            "{} parameters compared, {} and {} gradients",
            compare.compared,
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
    compared: usize,
    missing: Option<String>,
}

impl ModuleVisitor for GradientGap<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = |grads: &GradientsParams| -> Option<Vec<f32>> {
            grads.get::<D>(param.id)?.into_data().try_to_vec().ok()
        };
        let (reference, other) = match (values(self.reference), values(self.other)) {
            (Some(reference), Some(other)) => (reference, other),
            (None, None) => return,
            (reference, _) => {
                let which = if reference.is_some() {
                    "ours"
                } else {
                    "the reference"
                };
                self.missing = Some(format!(
                    "{which} has no gradient for parameter {:?}",
                    param.shape()
                ));
                return;
            }
        };
        self.compared += 1;
        let scale = reference.iter().map(|v| v.abs()).fold(1e-12f32, f32::max);
        for (r, o) in reference.iter().zip(&other) {
            self.largest = self.largest.max((r - o).abs() / scale);
        }
    }
}

#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod tests;
