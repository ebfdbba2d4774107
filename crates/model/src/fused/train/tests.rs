//! The hand-written training step against Burn's autodiff, on random weights.

use super::*;
use crate::GraphBatch;
use crate::fused::tests::{random_chunk, random_model};
use crate::fused::{CellChunk, FusedV2Cell};
use crate::v2::V2CellModel;
use burn::tensor::TensorData;

/// Burn's loss `sum_i c_i p_i` on a random chunk and its gradients, and the
/// hand-written step's, for `model` (built on an autodiff device, no dropout).
fn both_gradients(model: &V2CellModel, seed: u64) -> (GradientsParams, GradientsParams) {
    let device = Device::flex().autodiff();
    let (n, cells, d) = (7, 9, 12);
    let (tokens, adjacency, mask) = random_chunk(cells, n, d, seed);
    let weights: Vec<f32> = (0..cells).map(|i| 0.5 + i as f32 * 0.25).collect();
    let batch = GraphBatch {
        tokens: Tensor::from_data(TensorData::new(tokens.clone(), [cells, n, d]), &device),
        adjacency: Tensor::from_data(TensorData::new(adjacency.clone(), [cells, n, n]), &device),
        mask: Tensor::from_data(TensorData::new(mask.clone(), [cells, n]), &device),
        statics: None,
    };
    let c = Tensor::<1>::from_data(TensorData::new(weights.clone(), [cells]), &device);
    let burn_loss = (model.forward(batch) * c).sum();
    let burn_value: f32 = burn_loss.clone().into_scalar();
    let burn = GradientsParams::from_grads(burn_loss.backward(), model);
    let chunk = CellChunk {
        nodes: n,
        tokens: &tokens,
        adjacency: &adjacency,
        mask: &mask,
    };
    let (value, grads) = FusedV2Cell::of(model).train_step(chunk, None, |p| {
        let loss = p.iter().zip(&weights).map(|(p, c)| p * c).sum();
        (loss, weights.clone())
    });
    assert!(
        (value - burn_value).abs() <= 1e-5 * burn_value.abs().max(1.0),
        "loss {value} vs burn's {burn_value}"
    );
    (burn, grads.into_params(model))
}

#[test]
fn the_step_computes_burns_gradients() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    for (seed, positive, layers) in [(1u64, true, 3), (2, false, 2)] {
        device.seed(seed);
        let model = random_model(12, 16, layers, positive, &device);
        let (burn, ours) = both_gradients(&model, seed);
        let gap = largest_gradient_gap(&model, &burn, &ours).unwrap();
        assert!(gap <= 1e-4, "seed {seed}: gradients differ by {gap}");
    }
}

#[test]
fn dropout_is_seeded_and_changes_the_gradients() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = random_model(12, 16, 2, true, &device);
    let fused = FusedV2Cell::of(&model);
    let (n, cells) = (7, 6);
    let (tokens, adjacency, mask) = random_chunk(cells, n, 12, 5);
    let chunk = CellChunk {
        nodes: n,
        tokens: &tokens,
        adjacency: &adjacency,
        mask: &mask,
    };
    let step = |dropout| {
        let (_, grads) = fused.train_step(chunk, dropout, |p| (p.iter().sum(), vec![1.0; p.len()]));
        grads.into_params(&model)
    };
    let flat = |grads: GradientsParams| -> Vec<f32> {
        let id = model.fusion_hidden.weight.id;
        grads
            .get::<2>(id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap()
    };
    let seeded = |seed| Some(StepDropout { prob: 0.3, seed });
    let first = flat(step(seeded(9)));
    assert_eq!(
        first,
        flat(step(seeded(9))),
        "the same seed gives the same step"
    );
    assert_ne!(first, flat(step(seeded(10))));
    assert_ne!(first, flat(step(None)));
    assert!(first.iter().all(|v| v.is_finite()));
}

#[test]
fn the_split_over_cores_changes_nothing_but_summation_order() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    device.seed(6);
    let model = random_model(12, 16, 2, true, &device);
    let fused = FusedV2Cell::of(&model);
    let (n, cells) = (7, 9);
    let (tokens, adjacency, mask) = random_chunk(cells, n, 12, 6);
    let chunk = CellChunk {
        nodes: n,
        tokens: &tokens,
        adjacency: &adjacency,
        mask: &mask,
    };
    let dropout = Some(StepDropout { prob: 0.3, seed: 4 });
    let step = |parts| {
        let mut seen = Vec::new();
        let (value, grads) = fused.train_step_in_parts(
            chunk,
            dropout,
            |p| {
                seen = p.to_vec();
                (
                    p.iter().sum(),
                    (0..p.len()).map(|i| i as f32 - 3.0).collect(),
                )
            },
            parts,
        );
        (value, seen, grads.into_params(&model))
    };
    let (value, predictions, whole) = step(1);
    for parts in [2, 4, 9] {
        let (v, p, grads) = step(parts);
        assert_eq!((v, &p), (value, &predictions), "{parts} parts");
        let gap = largest_gradient_gap(&model, &whole, &grads).unwrap();
        assert!(gap <= 1e-5, "{parts} parts: gradients differ by {gap}");
    }
}

#[test]
fn the_network_step_computes_burns_gradients_for_every_readout() {
    use crate::fused::tests::random_flat;
    use crate::fused::{FlatGraphs, FusedV2Network};
    use crate::network::{Encoder, NetworkSizes, Readout, V2NetworkModel};
    use burn::tensor::Distribution;
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    for (seed, readout, positive) in [
        (3u64, Readout::Sum, true),
        (4, Readout::Additive, false),
        (5, Readout::Residual, false),
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
            devices: 0,
            readout,
        };
        let mut model = V2NetworkModel::new(Encoder::V2, sizes, &device);
        for layer in &mut model.layers {
            layer.layer_scale = Param::from_tensor(Tensor::<1>::random(
                [hidden],
                Distribution::Uniform(0.5, 1.5),
                &device,
            ));
        }
        let g = random_flat(&[9, 1, 14, 40], d, d_static, seed, &device);
        let weights = [0.5f32, -1.0, 0.75, 1.5];
        let c = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [4]), &device);
        let burn_loss = (model.forward_flat(&g.batch) * c).sum();
        let burn_value: f32 = burn_loss.clone().into_scalar();
        let burn = GradientsParams::from_grads(burn_loss.backward(), &model);
        let fused = FusedV2Network::of(&model).unwrap();
        let view = FlatGraphs {
            tokens: &g.tokens,
            row_start: &g.row_start,
            neighbour: &g.neighbour,
            graph_start: &g.graph_start,
            statics: &g.statics,
        };
        for parts in [1, 3] {
            let (value, grads) = fused
                .train_step_in_parts(
                    view,
                    None,
                    |p| {
                        (
                            p.iter().zip(&weights).map(|(p, c)| p * c).sum(),
                            weights.to_vec(),
                        )
                    },
                    parts,
                )
                .expect("the V2 encoder trains by hand");
            assert!(
                (value - burn_value).abs() <= 1e-5 * burn_value.abs().max(1.0),
                "{readout:?}: loss {value} vs burn's {burn_value}"
            );
            let ours = grads.into_params(&model);
            let gap = largest_gradient_gap(&model, &burn, &ours).unwrap();
            assert!(
                gap <= 1e-4,
                "{readout:?}, {parts} parts: gradients differ by {gap}"
            );
        }
        // With dropout, the split changes nothing but the summation order.
        let dropout = Some(StepDropout { prob: 0.3, seed: 2 });
        let split = |parts| {
            let (value, grads) = fused
                .train_step_in_parts(
                    view,
                    dropout,
                    |p| (p.iter().sum(), vec![1.0; p.len()]),
                    parts,
                )
                .unwrap();
            (value, grads.into_params(&model))
        };
        let ((one, whole), (three, parts)) = (split(1), split(3));
        assert_eq!(one, three, "{readout:?}: the split changed the loss");
        let gap = largest_gradient_gap(&model, &whole, &parts).unwrap();
        assert!(
            gap <= 1e-5,
            "{readout:?}: the split changed the gradients by {gap}"
        );
    }
}
