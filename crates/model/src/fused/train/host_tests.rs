//! Training on the host against Burn's Adam: the same gradients, the same
//! weights after every step, and moments that survive Burn's optimiser state.

use super::{AdamSettings, HostTraining};
use crate::cell::CellModel;
use crate::fused::tests::{random_chunk, random_flat, random_model};
use crate::fused::{CellChunk, FlatGraphs, FusedV2Cell, FusedV2Network};
use crate::network::{Encoder, NetworkSizes, Readout, V2NetworkModel};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

const ADAM: AdamSettings = AdamSettings {
    beta_1: 0.9,
    beta_2: 0.999,
    epsilon: 1e-8,
};

/// Every float parameter's values, in visiting order.
fn weights(model: &CellModel) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data().try_to_vec().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

/// The largest difference between two models' weights, relative to each
/// parameter's largest magnitude.
fn weight_gap(a: &CellModel, b: &CellModel) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len(), "different models");
    let mut gap = 0.0f32;
    for (a, b) in a.iter().zip(&b) {
        let scale = a.iter().map(|v| v.abs()).fold(1e-12f32, f32::max);
        for (x, y) in a.iter().zip(b) {
            gap = gap.max((x - y).abs() / scale);
        }
    }
    gap
}

/// Three steps on the host and three through Burn's Adam with the
/// hand-written gradients of Burn's weights (`gradients`); then the host's
/// state handed to Burn's optimiser and back, and one more step each way.
fn check_against_burn(
    model: CellModel,
    gradients: impl Fn(&CellModel) -> GradientsParams,
    host_step: impl Fn(&mut HostTraining, f64),
) {
    let mut optim = ADAM.burn();
    let mut host = HostTraining::of(&model, &optim, ADAM).unwrap().unwrap();
    let mut burn = model.clone();
    for (step, lr) in [3e-3, 2e-3, 1e-3].into_iter().enumerate() {
        let grads = gradients(&burn);
        burn = optim.step(lr, burn, grads);
        host_step(&mut host, lr);
        let gap = weight_gap(&burn, &host.write_into(model.clone()));
        assert!(gap <= 1e-5, "step {step}: weights differ by {gap}");
    }
    // The moments through Burn's optimiser state: a host made from it, and
    // Burn's Adam loaded with it, take the next step as the host does.
    let handed = host.optimizer().unwrap();
    let written = host.write_into(model.clone());
    let mut again = HostTraining::of(&written, &handed, ADAM).unwrap().unwrap();
    let grads = gradients(&written);
    let burn_next = handed.clone().step(5e-4, written.clone(), grads);
    host_step(&mut host, 5e-4);
    host_step(&mut again, 5e-4);
    let (host_next, again_next) = (host.write_into(model.clone()), again.write_into(model));
    assert_eq!(
        weights(&host_next),
        weights(&again_next),
        "the round trip changed the moments"
    );
    let gap = weight_gap(&burn_next, &host_next);
    assert!(
        gap <= 1e-5,
        "Burn's Adam from the host's state differs by {gap}"
    );
}

#[test]
fn the_cell_model_trains_on_the_host_as_burns_adam_trains_it() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = random_model(12, 16, 2, true, &device);
    let (n, cells) = (7, 6);
    let (tokens, adjacency, mask) = random_chunk(cells, n, 12, 7);
    let chunk = CellChunk {
        nodes: n,
        tokens: &tokens,
        adjacency: &adjacency,
        mask: &mask,
    };
    let c: Vec<f32> = (0..cells).map(|i| 1.0 - 0.3 * i as f32).collect();
    let loss = |p: &[f32]| (p.iter().zip(&c).map(|(p, c)| p * c).sum(), c.clone());
    check_against_burn(
        CellModel::V2(model),
        |model| {
            let CellModel::V2(v2) = model else {
                unreachable!()
            };
            FusedV2Cell::of(v2)
                .train_step(chunk, None, loss)
                .1
                .into_params(v2)
        },
        |host, lr| {
            host.step_cells(chunk, None, loss, lr).unwrap();
        },
    );
}

#[test]
fn the_network_model_trains_on_the_host_as_burns_adam_trains_it() {
    let _seeded = crate::test_lock::seeded();
    let device = Device::flex().autodiff();
    for (seed, readout) in [(8u64, Readout::Sum), (9, Readout::Residual)] {
        device.seed(seed);
        let (d, d_static) = (10, 4);
        let sizes = NetworkSizes {
            d_input: d,
            d_static,
            hidden: 16,
            layers: 2,
            groups: 4,
            dropout: 0.0,
            positive_output: readout == Readout::Sum,
            devices: 0,
            readout,
        };
        let model = V2NetworkModel::new(Encoder::V2, sizes, &device);
        let g = random_flat(&[9, 14, 5], d, d_static, seed, &device);
        let view = FlatGraphs {
            tokens: &g.tokens,
            row_start: &g.row_start,
            neighbour: &g.neighbour,
            graph_start: &g.graph_start,
            statics: &g.statics,
        };
        let c = [0.5f32, -1.0, 0.75];
        let loss = |p: &[f32]| (p.iter().zip(&c).map(|(p, c)| p * c).sum(), c.to_vec());
        check_against_burn(
            CellModel::V2Network(model),
            |model| {
                let CellModel::V2Network(network) = model else {
                    unreachable!()
                };
                let fused = FusedV2Network::of(network).unwrap();
                let (_, grads) = fused.train_step(view, None, loss).unwrap();
                grads.into_params(network)
            },
            |host, lr| {
                host.step_flat(view, None, loss, lr).unwrap();
            },
        );
    }
}
