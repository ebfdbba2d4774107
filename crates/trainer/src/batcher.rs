//! Pads tokenised graphs into a [`GraphBatch`].

use burn::prelude::*;
use burn::tensor::TensorData;
use model::GraphBatch;
use tokenizer::GraphTokens;

/// Pads `graphs` to the largest node count; pad tokens and adjacency are 0,
/// the mask marks real nodes.
pub fn batch(graphs: &[&GraphTokens], device: &Device) -> GraphBatch {
    let b = graphs.len();
    let nodes = graphs.iter().map(|g| g.n).max().unwrap_or(0);
    let dim = graphs.first().map_or(0, |g| g.dim);
    let mut tokens = vec![0.0f32; b * nodes * dim];
    let mut adjacency = vec![0.0f32; b * nodes * nodes];
    let mut mask = vec![0.0f32; b * nodes];
    for (k, g) in graphs.iter().enumerate() {
        let t0 = k * nodes * dim;
        tokens[t0..t0 + g.n * dim].copy_from_slice(&g.features);
        for i in 0..g.n {
            let a0 = k * nodes * nodes + i * nodes;
            adjacency[a0..a0 + g.n].copy_from_slice(&g.adjacency[i * g.n..(i + 1) * g.n]);
            mask[k * nodes + i] = 1.0;
        }
    }
    let d_static = graphs.first().map_or(0, |g| g.statics.len());
    let statics = (d_static > 0).then(|| {
        let values: Vec<f32> = graphs
            .iter()
            .flat_map(|g| g.statics.iter().copied())
            .collect();
        Tensor::from_data(TensorData::new(values, [b, d_static]), device)
    });
    GraphBatch {
        statics,
        tokens: Tensor::from_data(TensorData::new(tokens, [b, nodes, dim]), device),
        adjacency: Tensor::from_data(TensorData::new(adjacency, [b, nodes, nodes]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, nodes]), device),
    }
}
