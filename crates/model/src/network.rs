//! The NAR-Former V2 whole-network model for latency (SPEC section 4): two
//! [`V2Layer`]s, a **sum** over real nodes, a static-feature branch, and the MLP
//! head on `concat(graph, static)`.

use crate::GraphBatch;
use crate::head::RegressionHead;
use crate::layer::{V2Layer, v2_stack};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct V2NetworkModel {
    layers: Vec<V2Layer>,
    static_branch: Linear,
    dropout: Dropout,
    head: RegressionHead,
}

impl V2NetworkModel {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        d_input: usize,
        d_static: usize,
        hidden: usize,
        layers: usize,
        groups: usize,
        dropout: f64,
        positive_output: bool,
        device: &Device,
    ) -> Self {
        let stack = v2_stack(d_input, hidden, layers, groups, dropout, device);
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            layers: stack,
            static_branch: linear(d_static, hidden),
            dropout: DropoutConfig::new(dropout).init(),
            head: RegressionHead::with_input(2 * hidden, hidden, dropout, positive_output, device),
        }
    }

    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`,
    ///   mask `[batch, nodes]`, statics `[batch, d_static]` (zeros when absent)
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        let [b, _, _] = batch.tokens.dims();
        let mut x = batch.tokens;
        for layer in &self.layers {
            x = layer.forward(x, batch.adjacency.clone()); // [batch, nodes, hidden]
        }
        let [_, _, hidden] = x.dims();
        let mask = batch.mask.unsqueeze_dim::<3>(2); // [batch, nodes, 1]
        let graph = (x * mask).sum_dim(1).reshape([b, hidden]); // [batch, hidden]
        let [_, d_static] = self.static_branch.weight.dims();
        let statics = batch
            .statics
            .unwrap_or_else(|| Tensor::zeros([b, d_static], &graph.device()));
        let statics = relu(self.dropout.forward(self.static_branch.forward(statics))); // [batch, hidden]
        self.head.forward(Tensor::cat(vec![graph, statics], 1)) // [batch, 2 * hidden] -> [batch]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn paper_size_has_about_2_3_million_parameters() {
        let device = Device::flex();
        let model = V2NetworkModel::new(152, 40, 512, 2, 8, 0.05, true, &device);
        let params = model.num_params();
        assert!((2_200_000..2_400_000).contains(&params), "{params}");
    }

    #[test]
    fn padding_does_not_change_the_prediction_and_statics_matter() {
        let device = Device::flex();
        device.seed(1);
        let model = V2NetworkModel::new(12, 4, 16, 2, 4, 0.0, true, &device);
        let tokens = Tensor::<3>::random([1, 5, 12], Distribution::Normal(0.0, 1.0), &device);
        let mut adj = vec![0.0f32; 25];
        for i in 0..4 {
            adj[i * 5 + i + 1] = 1.0;
            adj[(i + 1) * 5 + i] = 1.0;
        }
        let statics = Tensor::<2>::from_data(
            TensorData::new(vec![0.5f32, 1.0, -1.0, 0.2], [1, 4]),
            &device,
        );
        let alone = model.forward(GraphBatch {
            tokens: tokens.clone(),
            adjacency: Tensor::from_data(TensorData::new(adj.clone(), [1, 5, 5]), &device),
            mask: Tensor::ones([1, 5], &device),
            statics: Some(statics.clone()),
        });
        // The same graph padded to 8 nodes with garbage pad tokens.
        let pad = Tensor::<3>::ones([1, 3, 12], &device).mul_scalar(9.0);
        let mut adj8 = vec![0.0f32; 64];
        for i in 0..5 {
            for j in 0..5 {
                adj8[i * 8 + j] = adj[i * 5 + j];
            }
        }
        let mask8: Vec<f32> = (0..8).map(|i| if i < 5 { 1.0 } else { 0.0 }).collect();
        let padded = model.forward(GraphBatch {
            tokens: Tensor::cat(vec![tokens.clone(), pad], 1),
            adjacency: Tensor::from_data(TensorData::new(adj8, [1, 8, 8]), &device),
            mask: Tensor::from_data(TensorData::new(mask8, [1, 8]), &device),
            statics: Some(statics),
        });
        let (a, p): (f32, f32) = (alone.into_scalar(), padded.into_scalar());
        assert!((a - p).abs() <= 1e-4 * a.abs().max(1e-3), "{a} vs {p}");
        assert!(a > 0.0);
        let other = model.forward(GraphBatch {
            tokens,
            adjacency: Tensor::from_data(TensorData::new(adj, [1, 5, 5]), &device),
            mask: Tensor::ones([1, 5], &device),
            statics: Some(Tensor::from_data(
                TensorData::new(vec![3.0f32, -2.0, 1.0, 0.0], [1, 4]),
                &device,
            )),
        });
        assert_ne!(a, other.into_scalar::<f32>());
    }
}
