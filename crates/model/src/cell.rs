//! The NAR-Former V2 cell model for accuracy prediction (SPEC section 4):
//! a stack of [`V2Layer`]s, a per-layer masked mean, gated fusion of the layer
//! means, and an MLP head.

use crate::GraphBatch;
use crate::layer::{V2Layer, V2LayerConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, softplus};

#[derive(Config, Debug)]
pub struct CellModelConfig {
    /// Token width (128 for the cell tokenizer).
    #[config(default = 128)]
    pub d_input: usize,
    #[config(default = 512)]
    pub hidden: usize,
    #[config(default = 6)]
    pub layers: usize,
    #[config(default = 8)]
    pub groups: usize,
    #[config(default = 0.05)]
    pub dropout: f64,
    /// `true`: prediction = softplus(-z), always positive (the reference).
    /// `false`: prediction = z, for standardised targets.
    #[config(default = true)]
    pub positive_output: bool,
}

impl CellModelConfig {
    pub fn init(&self, device: &Device) -> CellModel {
        let layers = (0..self.layers)
            .map(|i| {
                let d_in = if i == 0 { self.d_input } else { self.hidden };
                V2LayerConfig::new(d_in, self.hidden)
                    .with_groups(self.groups)
                    .with_dropout(self.dropout)
                    .init(device)
            })
            .collect();
        let fused = self.layers * self.hidden;
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        CellModel {
            layers,
            fusion_hidden: linear(fused, fused / 4),
            fusion_out: linear(fused / 4, self.layers),
            head: [
                linear(self.hidden, self.hidden),
                linear(self.hidden, self.hidden),
                linear(self.hidden, 1),
            ],
            dropout: DropoutConfig::new(self.dropout).init(),
            positive_output: self.positive_output,
        }
    }
}

#[derive(Module, Debug)]
pub struct CellModel {
    layers: Vec<V2Layer>,
    fusion_hidden: Linear,
    fusion_out: Linear,
    head: [Linear; 3],
    dropout: Dropout,
    positive_output: bool,
}

impl CellModel {
    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`, mask `[batch, nodes]`
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        let [b, _, _] = batch.tokens.dims();
        let mask = batch.mask.unsqueeze_dim::<3>(2); // [batch, nodes, 1]
        let count = mask.clone().sum_dim(1).clamp_min(1.0); // [batch, 1, 1]
        let mut x = batch.tokens;
        let mut means = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(x, batch.adjacency.clone()); // [batch, nodes, hidden]
            let mean = (x.clone() * mask.clone()).sum_dim(1) / count.clone(); // [batch, 1, hidden]
            means.push(mean);
        }
        let stacked = Tensor::cat(means, 1); // [batch, layers, hidden]
        let [_, layers, hidden] = stacked.dims();
        let flat = stacked.clone().reshape([b, layers * hidden]);
        let weights = sigmoid(
            self.fusion_out
                .forward(relu(self.fusion_hidden.forward(flat))),
        ); // [batch, layers]
        let embedding = (stacked * weights.unsqueeze_dim::<3>(2))
            .sum_dim(1)
            .reshape([b, hidden]); // [batch, hidden]
        let h = self.dropout.forward(relu(self.head[0].forward(embedding)));
        let h = self.dropout.forward(relu(self.head[1].forward(h)));
        let z = self.head[2].forward(h).reshape([b]); // [batch]
        if self.positive_output {
            softplus(z.neg(), 1.0)
        } else {
            z
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn tiny() -> CellModelConfig {
        CellModelConfig::new()
            .with_d_input(16)
            .with_hidden(32)
            .with_layers(2)
    }

    /// Row-major tokens, adjacency and mask of one padded graph.
    struct Padded {
        tokens: Vec<f32>,
        adjacency: Vec<f32>,
        mask: Vec<f32>,
    }

    /// A random graph of `n` real nodes, padded to `pad_to`.
    fn graph(n: usize, pad_to: usize, seed: u64) -> Padded {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32) / (u32::MAX >> 1) as f32
        };
        let mut tokens = vec![0.0; pad_to * 16];
        for v in tokens.iter_mut().take(n * 16) {
            *v = next() * 2.0 - 1.0;
        }
        // pads hold garbage: they must not matter
        for v in tokens.iter_mut().skip(n * 16) {
            *v = 7.0;
        }
        let mut adj = vec![0.0; pad_to * pad_to];
        for i in 0..n {
            for j in i + 1..n {
                if j == i + 1 || next() < 0.3 {
                    adj[i * pad_to + j] = 1.0;
                    adj[j * pad_to + i] = 1.0;
                }
            }
        }
        let mask = (0..pad_to).map(|i| if i < n { 1.0 } else { 0.0 }).collect();
        Padded {
            tokens,
            adjacency: adj,
            mask,
        }
    }

    fn batch(graphs: &[Padded], nodes: usize, device: &Device) -> GraphBatch {
        let b = graphs.len();
        let cat = |f: fn(&Padded) -> &[f32]| {
            graphs
                .iter()
                .flat_map(|g| f(g).to_vec())
                .collect::<Vec<f32>>()
        };
        GraphBatch {
            tokens: Tensor::from_data(TensorData::new(cat(|g| &g.tokens), [b, nodes, 16]), device),
            adjacency: Tensor::from_data(
                TensorData::new(cat(|g| &g.adjacency), [b, nodes, nodes]),
                device,
            ),
            mask: Tensor::from_data(TensorData::new(cat(|g| &g.mask), [b, nodes]), device),
        }
    }

    #[test]
    fn prediction_does_not_depend_on_padding_or_batch_mates() {
        let device = Device::flex();
        device.seed(0);
        let model = tiny().init(&device);
        let alone = model.forward(batch(&[graph(5, 5, 1)], 5, &device));
        let alone: Vec<f32> = alone.into_data().try_to_vec::<f32>().unwrap();
        let padded = model.forward(batch(
            &[graph(7, 9, 2), graph(5, 9, 1), graph(9, 9, 3)],
            9,
            &device,
        ));
        let padded: Vec<f32> = padded.into_data().try_to_vec::<f32>().unwrap();
        let rel = ((alone[0] - padded[1]) / alone[0]).abs();
        assert!(rel < 1e-5, "alone {} vs padded {}", alone[0], padded[1]);
    }

    #[test]
    fn paper_size_has_about_8_6_million_parameters() {
        let device = Device::flex();
        let n = CellModelConfig::new().init(&device).num_params();
        assert!((8_400_000..8_800_000).contains(&n), "{n} parameters");
    }

    #[test]
    fn output_is_positive_and_finite() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let x = Tensor::<3>::random([4, 6, 16], Distribution::Normal(0.0, 3.0), &device);
        let adj = Tensor::<3>::ones([4, 6, 6], &device);
        let out = model.forward(GraphBatch {
            tokens: x,
            adjacency: adj,
            mask: Tensor::ones([4, 6], &device),
        });
        let out: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
        assert!(out.iter().all(|v| v.is_finite() && *v > 0.0), "{out:?}");
    }
}
