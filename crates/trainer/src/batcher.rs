//! Tokenised graphs -> model input: padded [`GraphBatch`]es for cells,
//! [`FlatBatch`]es for whole networks.

use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use model::fused::FlatGraphs;
use model::{CellModel, FlatBatch, GraphBatch};
use tokenizer::GraphTokens;

/// Graphs padded to the largest node count, on the host: tokens
/// `[graphs, nodes, dim]`, adjacency `[graphs, nodes, nodes]`, mask
/// `[graphs, nodes]`, row-major; pad tokens and adjacency are 0, the mask
/// marks real nodes.
#[derive(Debug, Clone)]
pub struct Padded {
    pub nodes: usize,
    pub dim: usize,
    pub tokens: Vec<f32>,
    pub adjacency: Vec<f32>,
    pub mask: Vec<f32>,
}

impl Padded {
    pub fn of(graphs: &[&GraphTokens]) -> Padded {
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
        Padded {
            nodes,
            dim,
            tokens,
            adjacency,
            mask,
        }
    }
}

/// [`Padded`] graphs as a [`GraphBatch`].
pub fn batch(graphs: &[&GraphTokens], device: &Device) -> GraphBatch {
    let b = graphs.len();
    let Padded {
        nodes,
        dim,
        tokens,
        adjacency,
        mask,
    } = Padded::of(graphs);
    GraphBatch {
        statics: statics(graphs, device),
        tokens: Tensor::from_data(TensorData::new(tokens, [b, nodes, dim]), device),
        adjacency: Tensor::from_data(TensorData::new(adjacency, [b, nodes, nodes]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, nodes]), device),
    }
}

/// `[graphs, d_static]` graph-level features, when the graphs have any.
fn statics(graphs: &[&GraphTokens], device: &Device) -> Option<Tensor<2>> {
    let d_static = graphs.first().map_or(0, |g| g.statics.len());
    (d_static > 0).then(|| {
        let values: Vec<f32> = graphs
            .iter()
            .flat_map(|g| g.statics.iter().copied())
            .collect();
        Tensor::from_data(TensorData::new(values, [graphs.len(), d_static]), device)
    })
}

/// Graphs stacked node after node on the host, edges as neighbour lists:
/// node `t`'s neighbours are `neighbour[row_start[t]..row_start[t + 1]]`
/// (global node indices, in row order), graph `k` owns nodes
/// `graph_start[k]..graph_start[k + 1]`.
#[derive(Debug, Clone)]
pub struct Flat {
    pub dim: usize,
    /// `[nodes, dim]`
    pub tokens: Vec<f32>,
    pub row_start: Vec<usize>,
    pub neighbour: Vec<usize>,
    pub graph_start: Vec<usize>,
    /// `[graphs, d_static]` (empty when the graphs have none)
    pub statics: Vec<f32>,
}

impl Flat {
    pub fn of(graphs: &[&GraphTokens]) -> Flat {
        let nodes: usize = graphs.iter().map(|g| g.n).sum();
        let dim = graphs.first().map_or(0, |g| g.dim);
        let mut flat = Flat {
            dim,
            tokens: Vec::with_capacity(nodes * dim),
            row_start: Vec::with_capacity(nodes + 1),
            neighbour: Vec::new(),
            graph_start: Vec::with_capacity(graphs.len() + 1),
            statics: graphs
                .iter()
                .flat_map(|g| g.statics.iter().copied())
                .collect(),
        };
        flat.row_start.push(0);
        flat.graph_start.push(0);
        let mut offset = 0;
        for g in graphs {
            flat.tokens.extend_from_slice(&g.features);
            for i in 0..g.n {
                let row = &g.adjacency[i * g.n..(i + 1) * g.n];
                let edges = row.iter().enumerate().filter(|(_, a)| **a != 0.0);
                flat.neighbour.extend(edges.map(|(j, _)| offset + j));
                flat.row_start.push(flat.neighbour.len());
            }
            offset += g.n;
            flat.graph_start.push(offset);
        }
        flat
    }

    pub fn nodes(&self) -> usize {
        self.row_start.len() - 1
    }

    /// The graphs as the fused whole-network path reads them.
    pub fn view(&self) -> FlatGraphs<'_> {
        FlatGraphs {
            tokens: &self.tokens,
            row_start: &self.row_start,
            neighbour: &self.neighbour,
            graph_start: &self.graph_start,
            statics: &self.statics,
        }
    }
}

/// [`Flat`] graphs as a [`FlatBatch`]: the input of the whole-network models.
pub fn flat_batch(graphs: &[&GraphTokens], device: &Device) -> FlatBatch {
    let flat = Flat::of(graphs);
    let nodes = flat.nodes();
    let mut target = Vec::with_capacity(flat.neighbour.len());
    let mut degree = Vec::with_capacity(nodes);
    let mut graph_of_node = Vec::with_capacity(nodes);
    for t in 0..nodes {
        let count = flat.row_start[t + 1] - flat.row_start[t];
        target.extend(std::iter::repeat_n(t as i64, count));
        degree.push(count as f32);
    }
    for k in 0..graphs.len() {
        let owned = flat.graph_start[k + 1] - flat.graph_start[k];
        graph_of_node.extend(std::iter::repeat_n(k as i64, owned));
    }
    let neighbour: Vec<i64> = flat.neighbour.iter().map(|&j| j as i64).collect();
    let edges = target.len();
    let ints = |v: Vec<i64>, n: usize| Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device);
    FlatBatch {
        tokens: Tensor::from_data(TensorData::new(flat.tokens, [nodes, flat.dim]), device),
        target: ints(target, edges),
        neighbour: ints(neighbour, edges),
        degree: Tensor::from_data(TensorData::new(degree, [nodes, 1]), device),
        graph_of_node: ints(graph_of_node, nodes),
        graphs: graphs.len(),
        statics: statics(graphs, device),
    }
}

/// Predictions of `model` for `graphs`: whole-network models read a
/// [`FlatBatch`], cell models a padded [`GraphBatch`].
///
/// # Shapes
/// - output: `[graphs]`
pub fn forward(model: &CellModel, graphs: &[&GraphTokens], device: &Device) -> Tensor<1> {
    match model.network() {
        Some(network) => network.forward_flat(&flat_batch(graphs, device)),
        None => model.forward(batch(graphs, device)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_ir::cells::Nb201Cell;
    use graph_ir::networks::nb201_network;
    use model::{Architecture, CellModelConfig};
    use tokenizer::{NetworkTokenizer, NetworkVocab};

    fn network(cell: &str) -> GraphTokens {
        let cell: Nb201Cell = cell.parse().unwrap();
        NetworkTokenizer::new(NetworkVocab::Nnlqp).tokenize(&nb201_network(&cell, 1), 1)
    }

    #[test]
    fn flat_batches_predict_what_padded_batches_predict() {
        let _seeded = crate::test_lock::seeded();
        let graphs = [
            network(
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            ),
            network("|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"),
        ];
        let refs: Vec<&GraphTokens> = graphs.iter().collect();
        let flat = flat_batch(&refs, &Device::flex());
        let edges: usize = graphs
            .iter()
            .map(|g| g.adjacency.iter().filter(|&&a| a != 0.0).count())
            .sum();
        assert_eq!(flat.edges(), edges);
        assert_eq!(flat.nodes(), graphs[0].n + graphs[1].n);
        let device = Device::flex();
        for architecture in [Architecture::V2, Architecture::Gnn] {
            device.seed(3);
            let model = CellModelConfig::new()
                .with_architecture(architecture)
                .with_d_input(NetworkVocab::Nnlqp.token_dim())
                .with_d_static(tokenizer::network::STATIC_DIM)
                .with_hidden(32)
                .with_layers(2)
                .with_dropout(0.0)
                .init(&device);
            let read = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            let via_flat = read(forward(&model, &refs, &device));
            let via_padded = read(model.forward(batch(&refs, &device)));
            for (f, p) in via_flat.iter().zip(&via_padded) {
                assert!(
                    (f - p).abs() <= 1e-4 * p.abs().max(1e-3),
                    "{architecture}: {f} vs {p}"
                );
            }
        }
    }
}
