//! The fused path against Burn's modules, on random weights.

use super::*;
use crate::GraphBatch;
use burn::tensor::{Distribution, TensorData};

/// A V2 cell model whose every parameter is random (the defaults would
/// leave the FFN at a 1e-4 layer scale and its norms at identity, hiding
/// mistakes there).
pub(super) fn random_model(
    d_input: usize,
    hidden: usize,
    layers: usize,
    positive: bool,
    device: &Device,
) -> V2CellModel {
    let mut model = V2CellModel::new(d_input, hidden, layers, 4, 0.0, positive, device);
    let noise = |dims: [usize; 3]| {
        Param::from_tensor(Tensor::<3>::random(
            dims,
            Distribution::Normal(0.0, 0.5),
            device,
        ))
    };
    for layer in &mut model.layers {
        layer.layer_scale = Param::from_tensor(Tensor::<1>::random(
            [hidden],
            Distribution::Uniform(0.5, 1.5),
            device,
        ));
        for g in [&mut layer.ffn.up, &mut layer.ffn.down] {
            g.bias = noise(g.bias.dims());
            g.gamma = noise(g.gamma.dims());
            g.beta = noise(g.beta.dims());
        }
        layer.norm.gamma = Param::from_tensor(Tensor::<1>::random(
            [hidden],
            Distribution::Normal(1.0, 0.3),
            device,
        ));
    }
    model
}

/// `cells` random graphs of `real[c]` nodes padded to `n`, with garbage in the pads.
pub(super) fn random_chunk(
    cells: usize,
    n: usize,
    d: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut next = crate::test_noise::uniform(seed);
    let (mut tokens, mut adjacency, mut mask) = (
        vec![0.0; cells * n * d],
        vec![0.0; cells * n * n],
        vec![0.0; cells * n],
    );
    for c in 0..cells {
        let real = 2 + c % (n - 1);
        for i in 0..n {
            for k in 0..d {
                tokens[(c * n + i) * d + k] = if i < real { next() * 2.0 - 1.0 } else { 7.0 };
            }
            mask[c * n + i] = if i < real { 1.0 } else { 0.0 };
            for j in i + 1..real.max(i + 1) {
                if j == i + 1 || next() < 0.4 {
                    adjacency[(c * n + i) * n + j] = 1.0;
                    adjacency[(c * n + j) * n + i] = 1.0;
                }
            }
        }
    }
    (tokens, adjacency, mask)
}

/// Cells of 7 padded nodes with 12-wide tokens, hidden 16: the sizes every
/// cell-model parity test uses.
const D: usize = 12;
const HIDDEN: usize = 16;

/// Runs Burn's `burn` and the fused `fused` on the same random chunk of
/// cells and checks they agree within 1e-5 (relative).
fn check_cells(
    seed: u64,
    burn: impl FnOnce(GraphBatch) -> Tensor<1>,
    fused: impl FnOnce(CellChunk<'_>) -> Vec<f32>,
) {
    let device = Device::flex();
    let (n, cells) = (7, 9);
    let (tokens, adjacency, mask) = random_chunk(cells, n, D, seed);
    let burn: Vec<f32> = burn(GraphBatch {
        tokens: Tensor::from_data(TensorData::new(tokens.clone(), [cells, n, D]), &device),
        adjacency: Tensor::from_data(TensorData::new(adjacency.clone(), [cells, n, n]), &device),
        mask: Tensor::from_data(TensorData::new(mask.clone(), [cells, n]), &device),
        statics: None,
    })
    .into_data()
    .try_to_vec()
    .unwrap();
    let fused = fused(CellChunk {
        nodes: n,
        tokens: &tokens,
        adjacency: &adjacency,
        mask: &mask,
    });
    assert_eq!(fused.len(), cells);
    for (b, f) in burn.iter().zip(&fused) {
        let gap = (b - f).abs() / b.abs().max(1e-3);
        assert!(gap <= 1e-5, "seed {seed}: burn {burn:?} fused {fused:?}");
    }
}

#[test]
fn the_fused_path_predicts_what_burn_predicts() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex();
    for (seed, positive, layers) in [(1u64, true, 3), (2, false, 2)] {
        device.seed(seed);
        let model = random_model(D, HIDDEN, layers, positive, &device);
        let fused = FusedV2Cell::of(&model);
        check_cells(
            seed,
            |batch| model.forward(batch),
            |chunk| fused.forward(chunk),
        );
    }
}

#[test]
fn the_fused_gnn_cell_predicts_what_burn_predicts() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex();
    for (seed, positive, layers) in [(8u64, true, 3), (9, false, 2)] {
        device.seed(seed);
        let model = crate::gnn::GnnModel::new(D, HIDDEN, layers, 0.0, positive, &device);
        let fused = FusedGnnCell::of(&model);
        check_cells(
            seed,
            |batch| model.forward(batch),
            |chunk| fused.forward(chunk),
        );
    }
}

#[test]
fn the_fused_transformer_cell_predicts_what_burn_predicts() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex();
    for (seed, positive, layers) in [(10u64, true, 2), (11, false, 3)] {
        device.seed(seed);
        let mut model =
            crate::transformer::TransformerModel::new(D, HIDDEN, layers, 4, 0.0, positive, &device);
        // Norms away from identity, so a swapped or skipped norm shows.
        for layer in &mut model.encoder.layers {
            for norm in [&mut layer.norm_1, &mut layer.norm_2] {
                norm.gamma = Param::from_tensor(Tensor::<1>::random(
                    [HIDDEN],
                    Distribution::Normal(1.0, 0.3),
                    &device,
                ));
                norm.beta = Some(Param::from_tensor(Tensor::<1>::random(
                    [HIDDEN],
                    Distribution::Normal(0.0, 0.3),
                    &device,
                )));
            }
        }
        let fused = FusedTransformerCell::of(&model).expect("the baseline is pre-norm");
        check_cells(
            seed,
            |batch| model.forward(batch),
            |chunk| fused.forward(chunk),
        );
    }
}

/// Random graphs as a flat batch for Burn and as index lists for the fused path.
pub(super) struct RandomFlat {
    pub(super) batch: crate::FlatBatch,
    pub(super) tokens: Vec<f32>,
    pub(super) row_start: Vec<usize>,
    pub(super) neighbour: Vec<usize>,
    pub(super) graph_start: Vec<usize>,
    pub(super) statics: Vec<f32>,
}

pub(super) fn random_flat(
    sizes: &[usize],
    d: usize,
    d_static: usize,
    seed: u64,
    device: &Device,
) -> RandomFlat {
    let mut next = crate::test_noise::uniform(seed);
    let nodes: usize = sizes.iter().sum();
    let tokens: Vec<f32> = (0..nodes * d).map(|_| next() * 2.0 - 1.0).collect();
    let statics: Vec<f32> = (0..sizes.len() * d_static).map(|_| next()).collect();
    let mut lists: Vec<Vec<usize>> = vec![Vec::new(); nodes];
    let mut graph_start = vec![0];
    let mut graph_of_node = Vec::new();
    let mut offset = 0;
    for (k, &n) in sizes.iter().enumerate() {
        for i in 0..n {
            graph_of_node.push(k as i64);
            for j in i + 1..n {
                if j == i + 1 || next() < 0.2 {
                    lists[offset + i].push(offset + j);
                    lists[offset + j].push(offset + i);
                }
            }
        }
        offset += n;
        graph_start.push(offset);
    }
    let mut row_start = vec![0];
    let mut neighbour = Vec::new();
    let (mut target, mut source, mut degree) = (Vec::new(), Vec::new(), Vec::new());
    for (t, list) in lists.iter_mut().enumerate() {
        list.sort_unstable();
        for &j in list.iter() {
            target.push(t as i64);
            source.push(j as i64);
        }
        neighbour.extend_from_slice(list);
        row_start.push(neighbour.len());
        degree.push(list.len() as f32);
    }
    let e = target.len();
    let ints = |v: Vec<i64>, n: usize| Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device);
    let batch = crate::FlatBatch {
        tokens: Tensor::from_data(TensorData::new(tokens.clone(), [nodes, d]), device),
        target: ints(target, e),
        neighbour: ints(source, e),
        degree: Tensor::from_data(TensorData::new(degree, [nodes, 1]), device),
        graph_of_node: ints(graph_of_node, nodes),
        graphs: sizes.len(),
        statics: Some(Tensor::from_data(
            TensorData::new(statics.clone(), [sizes.len(), d_static]),
            device,
        )),
    };
    RandomFlat {
        batch,
        tokens,
        row_start,
        neighbour,
        graph_start,
        statics,
    }
}

#[test]
fn the_fused_network_path_predicts_what_burn_predicts_for_every_readout() {
    use crate::network::{Encoder, NetworkSizes, Readout, V2NetworkModel};
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex();
    // Every readout on the V2 encoder; the sum readout also on the GraphSAGE
    // encoder (the GNN baseline) and with three device settings.
    for (seed, encoder, readout, positive, devices) in [
        (3u64, Encoder::V2, Readout::Sum, true, 0),
        (4, Encoder::V2, Readout::Additive, false, 0),
        (5, Encoder::V2, Readout::Residual, false, 0),
        (6, Encoder::Sage, Readout::Sum, false, 0),
        (7, Encoder::V2, Readout::Sum, false, 3),
    ] {
        device.seed(seed);
        let (d, d_static, hidden) = (10, 4, 16);
        let sizes = NetworkSizes {
            d_input: d,
            d_static,
            hidden,
            layers: 2,
            groups: 4,
            dropout: 0.0,
            positive_output: positive,
            devices,
            readout,
        };
        let mut model = V2NetworkModel::new(encoder, sizes, &device);
        for layer in &mut model.layers {
            layer.layer_scale = Param::from_tensor(Tensor::<1>::random(
                [hidden],
                Distribution::Uniform(0.5, 1.5),
                &device,
            ));
        }
        // 64 rows: split in up to three parts of at least 16 rows.
        let g = random_flat(&[9, 1, 14, 40], d, d_static, seed, &device);
        let burn: Vec<f32> = model
            .forward_flat(&g.batch)
            .into_data()
            .try_to_vec()
            .unwrap();
        let fused_network =
            FusedV2Network::of(&model).expect("a single-setting V2 model is covered");
        let on = |threads| {
            fused_network.forward(
                FlatGraphs {
                    tokens: &g.tokens,
                    row_start: &g.row_start,
                    neighbour: &g.neighbour,
                    graph_start: &g.graph_start,
                    statics: &g.statics,
                },
                threads,
            )
        };
        let fused = on(1);
        assert_eq!(
            on(3),
            fused,
            "{readout:?} seed {seed}: the split changed the values"
        );
        assert_eq!(fused.len(), 4);
        if readout == Readout::Sum {
            // The graph embedding the multi-setting table scores from.
            let burn: Vec<f32> = model.embed(&g.batch).into_data().try_to_vec().unwrap();
            let graphs = FlatGraphs {
                tokens: &g.tokens,
                row_start: &g.row_start,
                neighbour: &g.neighbour,
                graph_start: &g.graph_start,
                statics: &g.statics,
            };
            let embedded = fused_network
                .embed(graphs, 2)
                .expect("a sum readout embeds");
            assert_eq!(embedded.len(), burn.len());
            for (b, f) in burn.iter().zip(&embedded) {
                assert!(
                    (b - f).abs() <= 1e-5 * b.abs().max(1.0),
                    "seed {seed}: {b} vs {f}"
                );
            }
        }
        for (b, f) in burn.iter().zip(&fused) {
            // Without the positive head the output is ln(ms), where an
            // absolute gap is the relative gap of the latency (and a latency
            // near 1 ms puts the output near zero, where a relative gap of
            // the output itself means nothing).
            let gap = if positive {
                (b - f).abs() / b.abs().max(1e-3)
            } else {
                (b - f).abs()
            };
            assert!(
                gap <= 1e-5,
                "{readout:?} seed {seed}: burn {burn:?} fused {fused:?}"
            );
        }
    }
}
