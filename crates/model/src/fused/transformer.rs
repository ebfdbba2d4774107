//! The Transformer baseline ([`crate::transformer::TransformerModel`]) on the
//! fused path: Burn's pre-norm `TransformerEncoder` (softmax attention over
//! each cell's real tokens, pads' scores set to the module's `min_float` as
//! Burn does, erf GELU through the same `libm::erff` flex uses), the masked
//! mean and the head, on padded chunks of cells.

use super::sgemm::{Mat, matmul};
use super::{CellChunk, Dense, dense_head, head_forward, layer_norm_params, normalise};
use burn::nn::transformer::TransformerEncoderLayer;

#[derive(Debug, Clone)]
struct EncoderLayer {
    query: Dense,
    key: Dense,
    value: Dense,
    output: Dense,
    inner: Dense,
    outer: Dense,
    /// Before the feed-forward block.
    norm_1: (Vec<f32>, Vec<f32>),
    /// Before the attention block.
    norm_2: (Vec<f32>, Vec<f32>),
    heads: usize,
    min_float: f32,
}

impl EncoderLayer {
    fn of(layer: &TransformerEncoderLayer) -> Self {
        let d_model = layer.mha.d_model;
        EncoderLayer {
            query: Dense::of(&layer.mha.query),
            key: Dense::of(&layer.mha.key),
            value: Dense::of(&layer.mha.value),
            output: Dense::of(&layer.mha.output),
            inner: Dense::of(&layer.pwff.linear_inner),
            outer: Dense::of(&layer.pwff.linear_outer),
            norm_1: layer_norm_params(&layer.norm_1, d_model),
            norm_2: layer_norm_params(&layer.norm_2, d_model),
            heads: layer.mha.n_heads,
            min_float: layer.mha.min_float as f32,
        }
    }

    /// `x += MHA(LN2(x))`, then `x += FFN(LN1(x))`, on `[cells * n, d_model]`.
    fn forward(&self, x: &mut [f32], mask: &[f32], n: usize) {
        let h = self.query.d_in;
        let rows = x.len() / h;
        let normed = |norm: &(Vec<f32>, Vec<f32>), x: &[f32]| {
            let mut y = x.to_vec();
            y.chunks_exact_mut(h)
                .for_each(|row| normalise(row, &norm.0, &norm.1));
            y
        };
        let pre = normed(&self.norm_2, x);
        let project = |dense: &Dense| {
            let mut out = vec![0.0f32; rows * dense.d_out];
            dense.forward(&pre, rows, &mut out);
            out
        };
        let (q, k, v) = (
            project(&self.query),
            project(&self.key),
            project(&self.value),
        );
        let d_k = h / self.heads;
        let scale = (d_k as f32).sqrt();
        let mut context = vec![0.0f32; rows * h];
        let mut weights = vec![0.0f32; n];
        for cell in 0..rows / n {
            let base = cell * n;
            for head in 0..self.heads {
                let cols = head * d_k..(head + 1) * d_k;
                for i in 0..n {
                    let qi = &q[(base + i) * h..][cols.clone()];
                    for (j, w) in weights.iter_mut().enumerate() {
                        *w = if mask[base + j] < 0.5 {
                            self.min_float
                        } else {
                            let kj = &k[(base + j) * h..][cols.clone()];
                            qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() / scale
                        };
                    }
                    let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    weights.iter_mut().for_each(|w| *w = (*w - max).exp());
                    let total: f32 = weights.iter().sum();
                    let out = &mut context[(base + i) * h..][cols.clone()];
                    for (j, w) in weights.iter().enumerate() {
                        let vj = &v[(base + j) * h..][cols.clone()];
                        for (o, x) in out.iter_mut().zip(vj) {
                            *o += w / total * x;
                        }
                    }
                }
            }
        }
        // The residual adds: output projection onto x, then the FFN.
        let mut attended = vec![0.0f32; rows * h];
        self.output.forward(&context, rows, &mut attended);
        x.iter_mut().zip(&attended).for_each(|(a, b)| *a += b);
        let pre = normed(&self.norm_1, x);
        let mut wide = vec![0.0f32; rows * self.inner.d_out];
        self.inner.forward(&pre, rows, &mut wide);
        wide.iter_mut().for_each(|v| {
            *v = 0.5 * *v * (1.0 + libm::erff(*v / std::f32::consts::SQRT_2));
        });
        let mut out = vec![0.0f32; rows * h];
        self.outer.forward(&wide, rows, &mut out);
        x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
    }
}

/// A trained Transformer baseline's weights.
#[derive(Debug, Clone)]
pub struct FusedTransformerCell {
    embed: Dense,
    layers: Vec<EncoderLayer>,
    head: [Dense; 3],
    positive_output: bool,
}

impl FusedTransformerCell {
    /// `None` for a post-norm encoder (the baseline is pre-norm).
    pub fn of(model: &crate::transformer::TransformerModel) -> Option<Self> {
        if !model.encoder.norm_first {
            return None;
        }
        Some(FusedTransformerCell {
            embed: Dense::of(&model.embed),
            layers: model.encoder.layers.iter().map(EncoderLayer::of).collect(),
            head: dense_head(&model.head),
            positive_output: model.head.positive_output,
        })
    }

    /// What [`crate::transformer::TransformerModel::forward`] predicts for the chunk's cells.
    ///
    /// # Shapes
    /// - chunk: as [`CellChunk`] (adjacency unused); output: `[cells]`
    pub fn forward(&self, chunk: CellChunk<'_>) -> Vec<f32> {
        let n = chunk.nodes.max(1);
        let cells = chunk.mask.len() / n;
        let (d, h) = (self.embed.d_in, self.embed.d_out);
        let rows = cells * n;
        let mut x = vec![0.0f32; rows * h];
        matmul(
            Mat::dense(chunk.tokens, rows, d),
            Mat::dense(&self.embed.weight, d, h),
            &mut x,
            h,
            false,
        );
        x.chunks_exact_mut(h).for_each(|row| {
            row.iter_mut()
                .zip(&self.embed.bias)
                .for_each(|(v, b)| *v += b)
        });
        for layer in &self.layers {
            layer.forward(&mut x, chunk.mask, n);
        }
        let mut means = vec![0.0f32; cells * h];
        for (cell, mean) in means.chunks_exact_mut(h.max(1)).enumerate() {
            let mask = &chunk.mask[cell * n..(cell + 1) * n];
            for (i, &m) in mask.iter().enumerate() {
                for (o, v) in mean.iter_mut().zip(&x[(cell * n + i) * h..][..h]) {
                    *o += v * m;
                }
            }
            let count = mask.iter().sum::<f32>().max(1.0);
            mean.iter_mut().for_each(|v| *v /= count);
        }
        head_forward(&self.head, &means, cells, self.positive_output)
    }
}
