//! The inference path for scoring: the V2 cell model ([`crate::v2::V2CellModel`])
//! evaluated on plain `f32` buffers, with no autodiff and no tensor per op.
//! Each cell's attention (a few nodes) runs in cache; the projections of a
//! whole chunk of cells are one matrix product each ([`sgemm`]); the
//! element-wise work (gates, norms, the FFN's group norms) is done in place on
//! the product's output. Burn's modules stay the definition: this path must
//! give their predictions within 1e-5 (relative; tested on random weights).

mod arith;
mod network;
mod sage;
mod sgemm;
mod train;
mod transformer;

pub use network::{FlatGraphs, FusedV2Network};
pub use sage::FusedGnnCell;
pub use train::{
    AdamSettings, CellGradients, HostInput, HostTraining, NetworkGradients, OptimizerStateError,
    StepDropout, largest_gradient_gap,
};
pub use transformer::FusedTransformerCell;

use crate::v2::V2CellModel;
use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use sgemm::{Mat, matmul};

use arith::{NORM_EPS, dot, lane_sum, normalise, normalise_segments, sigmoid};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converts to f32")
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

/// A Linear's `[in, out]` weight and its bias (zeros when it has none).
#[derive(Debug, Clone)]
struct Dense {
    d_in: usize,
    d_out: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    fn of(linear: &Linear) -> Self {
        let [d_in, d_out] = linear.weight.dims();
        Dense {
            d_in,
            d_out,
            weight: param(&linear.weight),
            bias: linear.bias.as_ref().map_or_else(|| vec![0.0; d_out], param),
        }
    }

    /// `out = x W + b` for `rows` rows of `x` (`[rows, d_in]`), into `out` (`[rows, d_out]`).
    fn forward(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        matmul(
            Mat::dense(x, rows, self.d_in),
            Mat::dense(&self.weight, self.d_in, self.d_out),
            out,
            self.d_out,
            false,
        );
        for row in out.chunks_exact_mut(self.d_out).take(rows) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
    }
}

/// One group of the FFN: `[in/g, out/g]` weights, then a norm with its own scale and shift.
#[derive(Debug, Clone)]
struct GroupLinearNorm {
    d_in: usize,
    d_out: usize,
    /// `[groups, in/g, out/g]`
    weight: Vec<f32>,
    /// `[groups, out/g]` each
    bias: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl GroupLinearNorm {
    fn of(g: &crate::grouped_ffn::GroupedLinearNorm) -> Self {
        let [groups, d_in, d_out] = g.weight.dims();
        let _ = groups;
        GroupLinearNorm {
            d_in,
            d_out,
            weight: param(&g.weight),
            bias: param(&g.bias),
            gamma: param(&g.gamma),
            beta: param(&g.beta),
        }
    }

    /// Every group of `x` (`[rows, groups * d_in]`) through its own weights
    /// into `out` (`[rows, groups * d_out]`), each group's columns normalised
    /// on their own. The statistics of a row's groups are taken together
    /// ([`normalise_segments`]): one call per group and row spent most of its
    /// time on a scalar square root and division.
    fn forward(&self, groups: usize, x: &[f32], rows: usize, out: &mut [f32]) {
        let (gi, go) = (self.d_in, self.d_out);
        let out_width = groups * go;
        for g in 0..groups {
            let w = &self.weight[g * gi * go..(g + 1) * gi * go];
            matmul(
                Mat::strided(&x[g * gi..], rows, gi, groups * gi),
                Mat::dense(w, gi, go),
                &mut out[g * go..],
                out_width,
                false,
            );
        }
        let mut stats = vec![0.0f32; 2 * groups];
        for row in out.chunks_exact_mut(out_width).take(rows) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
            normalise_segments(row, go, &self.gamma, &self.beta, &mut stats);
        }
    }
}

#[derive(Debug, Clone)]
struct Layer {
    d_in: usize,
    hidden: usize,
    groups: usize,
    degree_gate: Dense,
    qk: Dense,
    neighbour: Dense,
    root: Dense,
    norm_gamma: Vec<f32>,
    norm_beta: Vec<f32>,
    up: GroupLinearNorm,
    down: GroupLinearNorm,
    layer_scale: Vec<f32>,
}

fn layer_norm_params(norm: &LayerNorm, width: usize) -> (Vec<f32>, Vec<f32>) {
    let gamma = param(&norm.gamma);
    let beta = norm.beta.as_ref().map_or_else(|| vec![0.0; width], param);
    (gamma, beta)
}

/// Scratch buffers of one part of a chunk's rows, reused across layers.
#[derive(Debug, Default)]
struct Scratch {
    weights: Vec<f32>,
    aggregated: Vec<f32>,
    out: Vec<f32>,
    normed: Vec<f32>,
    wide: Vec<f32>,
    ffn: Vec<f32>,
}

/// A chunk's buffers: the attention keys every row reads, and one
/// [`Scratch`] per part of the rows (one per thread working on the chunk).
#[derive(Debug)]
struct Workspace {
    z: Vec<f32>,
    parts: Vec<Scratch>,
}

impl Workspace {
    fn new(threads: usize) -> Self {
        Workspace {
            z: Vec::new(),
            parts: (0..threads.max(1)).map(|_| Scratch::default()).collect(),
        }
    }
}

/// Fewer rows than this per part are not worth a thread.
const MIN_ROWS_PER_PART: usize = 16;

/// `f` of every item, the first on the calling thread and each other on a
/// scoped thread of its own; results in item order.
fn on_parts<I: Send, T: Send>(items: Vec<I>, f: impl Fn(I) -> T + Sync) -> Vec<T> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let f = &f;
        let others: Vec<_> = items.map(|item| scope.spawn(move || f(item))).collect();
        let mut out = vec![f(first)];
        out.extend(
            others
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
        );
        out
    })
}

fn resize(buffer: &mut Vec<f32>, len: usize) {
    buffer.clear();
    buffer.resize(len, 0.0);
}

impl Layer {
    fn of(layer: &crate::layer::V2Layer) -> Self {
        let qk = Dense::of(&layer.qk);
        let neighbour = Dense::of(&layer.neighbour);
        let (norm_gamma, norm_beta) = layer_norm_params(&layer.norm, neighbour.d_out);
        Layer {
            d_in: qk.d_in,
            hidden: neighbour.d_out,
            groups: layer.ffn.groups,
            degree_gate: Dense::of(&layer.degree_gate),
            qk,
            root: Dense::of(&layer.root),
            neighbour,
            norm_gamma,
            norm_beta,
            up: GroupLinearNorm::of(&layer.ffn.up),
            down: GroupLinearNorm::of(&layer.ffn.down),
            layer_scale: param(&layer.layer_scale),
        }
    }

    /// `x` (`[cells * n, d_in]`, gated in place) -> `[cells * n, hidden]`, on
    /// padded cells (adjacency `[cells, n, n]`, zero on pads), on this thread.
    fn forward(&self, x: &mut [f32], adjacency: &[f32], n: usize, w: &mut Workspace) -> Vec<f32> {
        let d = self.d_in;
        let rows = x.len() / d;
        self.gate(x, |r| {
            let (cell, i) = (r / n, r % n);
            adjacency[cell * n * n + i * n..][..n].iter().sum()
        });
        self.queries(x, rows, &mut w.z);
        let s = &mut w.parts[0];
        resize(&mut s.aggregated, rows * d);
        s.weights.resize(n, 0.0);
        for cell in 0..rows / n {
            for i in 0..n {
                let adj = &adjacency[cell * n * n + i * n..][..n];
                let neighbours = (0..n)
                    .filter(|&j| adj[j] != 0.0)
                    .map(|j| (cell * n + j, adj[j]));
                let t = cell * n + i;
                let out = &mut s.aggregated[t * d..(t + 1) * d];
                self.attend(x, &w.z, t, neighbours, &mut s.weights, out);
            }
        }
        self.project(x, rows, s)
    }

    /// The same layer on graphs stacked node after node: node `t`'s
    /// neighbours are `neighbour[row_start[t]..row_start[t + 1]]`. The rows
    /// are split into contiguous parts, one per [`Workspace`] part (fewer for
    /// few rows), each on its own thread; the values do not depend on the
    /// split (every row's arithmetic is the same).
    fn forward_flat(
        &self,
        x: &mut [f32],
        row_start: &[usize],
        neighbour: &[usize],
        w: &mut Workspace,
    ) -> Vec<f32> {
        let d = self.d_in;
        let rows = x.len() / d;
        self.gate(x, |t| (row_start[t + 1] - row_start[t]) as f32);
        let x: &[f32] = x;
        let parts = w.parts.len().min(rows / MIN_ROWS_PER_PART).max(1);
        let per = rows.div_ceil(parts).max(1);
        resize(&mut w.z, rows * d);
        let pieces: Vec<_> = w.z.chunks_mut(per * d).zip(x.chunks(per * d)).collect();
        on_parts(pieces, |(z, x)| self.queries_into(x, x.len() / d, z));
        let z = &w.z;
        let scratches: Vec<_> = w.parts.iter_mut().take(parts).enumerate().collect();
        let outs = on_parts(scratches, |(p, s)| {
            let part = p * per..((p + 1) * per).min(rows);
            resize(&mut s.aggregated, part.len() * d);
            for t in part.clone() {
                let edges = &neighbour[row_start[t]..row_start[t + 1]];
                s.weights.resize(edges.len(), 0.0);
                let out = &mut s.aggregated[(t - part.start) * d..][..d];
                let neighbours = edges.iter().map(|&j| (j, 1.0));
                self.attend(x, z, t, neighbours, &mut s.weights, out);
            }
            self.project(&x[part.start * d..part.end * d], part.len(), s)
        });
        if outs.len() == 1 {
            return outs.into_iter().next().unwrap_or_default();
        }
        outs.concat()
    }

    /// The degree gate, in place: `x * sigmoid(degree * w + b)`. A graph has
    /// few distinct degrees, so each one's gate is computed once and reused
    /// (the same values: only the `exp`s of repeats are saved).
    fn gate(&self, x: &mut [f32], degree_of_row: impl Fn(usize) -> f32) {
        let d = self.d_in;
        let mut gates: Vec<(f32, Vec<f32>)> = Vec::new();
        for (r, row) in x.chunks_exact_mut(d).enumerate() {
            let degree = degree_of_row(r);
            let at = match gates.iter().position(|(seen, _)| *seen == degree) {
                Some(at) => at,
                None => {
                    let gate = self
                        .degree_gate
                        .weight
                        .iter()
                        .zip(&self.degree_gate.bias)
                        .map(|(w, b)| sigmoid(degree * w + b))
                        .collect();
                    gates.push((degree, gate));
                    gates.len() - 1
                }
            };
            for (v, g) in row.iter_mut().zip(&gates[at].1) {
                *v *= g;
            }
        }
    }

    /// The shared query/key projection, `z = sigmoid(x Wqk + b)` (`[rows, d_in]`).
    fn queries(&self, x: &[f32], rows: usize, z: &mut Vec<f32>) {
        resize(z, rows * self.d_in);
        self.queries_into(x, rows, z);
    }

    fn queries_into(&self, x: &[f32], rows: usize, z: &mut [f32]) {
        self.qk.forward(x, rows, z);
        z.iter_mut().for_each(|v| *v = sigmoid(*v));
    }

    /// Row `t`'s aggregate, into `out` (`[d_in]`): its neighbours' rows of
    /// `x`, weighted by their linearly normalised scores `adj * z_t . z_j / sqrt(d)`.
    fn attend(
        &self,
        x: &[f32],
        z: &[f32],
        t: usize,
        neighbours: impl Iterator<Item = (usize, f32)> + Clone,
        weights: &mut [f32],
        out: &mut [f32],
    ) {
        let d = self.d_in;
        let scale = 1.0 / (d as f32).sqrt();
        let zt = &z[t * d..(t + 1) * d];
        let mut total = 0.0;
        for (w, (j, a)) in weights.iter_mut().zip(neighbours.clone()) {
            *w = dot(zt, &z[j * d..(j + 1) * d]) * scale * a;
            total += *w;
        }
        let inv = 1.0 / (total + 1e-6);
        for (w, (j, _)) in weights.iter().zip(neighbours) {
            let w = w * inv;
            for (o, v) in out.iter_mut().zip(&x[j * d..(j + 1) * d]) {
                *o += w * v;
            }
        }
    }

    /// `aggregated Wn + bn + x Wr`, then [`Self::finish`].
    fn project(&self, x: &[f32], rows: usize, s: &mut Scratch) -> Vec<f32> {
        let (d, h) = (self.d_in, self.hidden);
        resize(&mut s.out, rows * h);
        self.neighbour.forward(&s.aggregated, rows, &mut s.out);
        matmul(
            Mat::dense(x, rows, d),
            Mat::dense(&self.root.weight, d, h),
            &mut s.out,
            h,
            true,
        );
        self.finish(rows, s)
    }

    /// Row normalisation, ReLU, then `x + gamma * FFN(LN(x))` on `s.out`.
    fn finish(&self, rows: usize, s: &mut Scratch) -> Vec<f32> {
        let h = self.hidden;
        let mut x = std::mem::take(&mut s.out);
        resize(&mut s.normed, rows * h);
        for (row, normed) in x.chunks_exact_mut(h).zip(s.normed.chunks_exact_mut(h)) {
            let norm = lane_sum(row, |v| v * v).sqrt().max(1e-12);
            for v in row.iter_mut() {
                *v = (*v / norm).max(0.0);
            }
            normed.copy_from_slice(row);
            normalise(normed, &self.norm_gamma, &self.norm_beta);
        }
        let g = self.groups;
        let wide = g * self.up.d_out;
        resize(&mut s.wide, rows * wide);
        resize(&mut s.ffn, rows * h);
        self.up.forward(g, &s.normed, rows, &mut s.wide);
        s.wide.iter_mut().for_each(|v| *v = v.max(0.0));
        self.down.forward(g, &s.wide, rows, &mut s.ffn);
        for (row, ffn) in x.chunks_exact_mut(h).zip(s.ffn.chunks_exact(h)) {
            for ((v, f), scale) in row.iter_mut().zip(ffn).zip(&self.layer_scale) {
                *v += f * scale;
            }
        }
        x
    }
}

/// A trained [`V2CellModel`]'s weights, laid out for [`FusedV2Cell::forward`].
#[derive(Debug, Clone)]
pub struct FusedV2Cell {
    layers: Vec<Layer>,
    fusion_hidden: Dense,
    fusion_out: Dense,
    head: [Dense; 3],
    positive_output: bool,
}

/// Cells of one size: tokens `[cells, nodes, d_input]`, adjacency `[cells, nodes, nodes]`
/// (symmetric 0/1, no self-loops) and mask `[cells, nodes]` (1 real, 0 pad), row-major.
#[derive(Debug, Clone, Copy)]
pub struct CellChunk<'a> {
    pub nodes: usize,
    pub tokens: &'a [f32],
    pub adjacency: &'a [f32],
    pub mask: &'a [f32],
}

impl CellChunk<'_> {
    /// The cells `range` of the chunk.
    pub fn cells(&self, range: std::ops::Range<usize>) -> Self {
        let n = self.nodes;
        let d = self.tokens.len() / self.mask.len().max(1);
        CellChunk {
            nodes: n,
            tokens: &self.tokens[range.start * n * d..range.end * n * d],
            adjacency: &self.adjacency[range.start * n * n..range.end * n * n],
            mask: &self.mask[range.start * n..range.end * n],
        }
    }
}

impl FusedV2Cell {
    pub fn of(model: &V2CellModel) -> Self {
        let head = &model.head;
        FusedV2Cell {
            layers: model.layers.iter().map(Layer::of).collect(),
            fusion_hidden: Dense::of(&model.fusion_hidden),
            fusion_out: Dense::of(&model.fusion_out),
            head: dense_head(head),
            positive_output: head.positive_output,
        }
    }

    /// What [`V2CellModel::forward`] predicts for the chunk's cells, on the calling thread.
    ///
    /// # Shapes
    /// - chunk: as [`CellChunk`]; output: `[cells]`
    pub fn forward(&self, chunk: CellChunk<'_>) -> Vec<f32> {
        let n = chunk.nodes;
        let d_input = self.layers.first().map_or(0, |l| l.d_in);
        let cells = chunk.mask.len() / n.max(1);
        assert_eq!(
            chunk.tokens.len(),
            cells * n * d_input,
            "tokens do not match the chunk"
        );
        assert_eq!(
            chunk.adjacency.len(),
            cells * n * n,
            "adjacency does not match the chunk"
        );
        let hidden = self.layers.first().map_or(0, |l| l.hidden);
        let layers = self.layers.len();
        let mut workspace = Workspace::new(1);
        let mut x = chunk.tokens.to_vec();
        // Per cell, each layer's masked node mean: [cells, layers * hidden].
        let mut means = vec![0.0f32; cells * layers * hidden];
        for (l, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&mut x, chunk.adjacency, n, &mut workspace);
            for cell in 0..cells {
                let mask = &chunk.mask[cell * n..(cell + 1) * n];
                let count = mask.iter().sum::<f32>().max(1.0);
                let mean = &mut means[(cell * layers + l) * hidden..][..hidden];
                for (i, m) in mask.iter().enumerate() {
                    let row = &x[(cell * n + i) * hidden..][..hidden];
                    for (o, v) in mean.iter_mut().zip(row) {
                        *o += v * m;
                    }
                }
                mean.iter_mut().for_each(|v| *v /= count);
            }
        }
        // Gated fusion of the layer means.
        let mut fused_hidden = vec![0.0f32; cells * self.fusion_hidden.d_out];
        self.fusion_hidden.forward(&means, cells, &mut fused_hidden);
        fused_hidden.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut gates = vec![0.0f32; cells * layers];
        self.fusion_out.forward(&fused_hidden, cells, &mut gates);
        let mut embedding = vec![0.0f32; cells * hidden];
        for cell in 0..cells {
            let out = &mut embedding[cell * hidden..(cell + 1) * hidden];
            for l in 0..layers {
                let gate = sigmoid(gates[cell * layers + l]);
                let mean = &means[(cell * layers + l) * hidden..][..hidden];
                for (o, v) in out.iter_mut().zip(mean) {
                    *o += gate * v;
                }
            }
        }
        head_forward(&self.head, &embedding, cells, self.positive_output)
    }
}

/// A [`crate::head::RegressionHead`]'s three layers.
fn dense_head(head: &crate::head::RegressionHead) -> [Dense; 3] {
    [
        Dense::of(&head.layers[0]),
        Dense::of(&head.layers[1]),
        Dense::of(&head.layers[2]),
    ]
}

/// The MLP head, `[rows, d_in] -> [rows]`: two ReLU layers, a linear one,
/// then `softplus(-z)` when `positive`.
fn head_forward(head: &[Dense; 3], x: &[f32], rows: usize, positive: bool) -> Vec<f32> {
    let [first, second, last] = head;
    let mut a = vec![0.0f32; rows * first.d_out];
    first.forward(x, rows, &mut a);
    a.iter_mut().for_each(|v| *v = v.max(0.0));
    let mut b = vec![0.0f32; rows * second.d_out];
    second.forward(&a, rows, &mut b);
    b.iter_mut().for_each(|v| *v = v.max(0.0));
    let mut z = vec![0.0f32; rows * last.d_out];
    last.forward(&b, rows, &mut z);
    if positive {
        // softplus(-z) = ln(1 + exp(-z)), in the form that cannot overflow.
        z.iter_mut().for_each(|v| {
            let x = -*v;
            *v = x.max(0.0) + (-x.abs()).exp().ln_1p();
        });
    }
    z
}

#[cfg(test)]
mod tests;
