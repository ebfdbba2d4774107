//! Training and scoring throughput of the paper-size models on the CPU backend
//! (flex), the figures of docs/performance.md. Run all of it with
//! `cargo xtask bench`, or `cargo bench -p trainer --bench throughput`.
//!
//! - `nb201_train`: NB201 cell model (6 layers x 512), batch 8 with the consistency
//!   twins, 80 cells = 10 optimiser steps per iteration (plus one validation pass of 8 cells;
//!   the model is initialised outside the timing, as the peer's is).
//! - `nb201_score`: all 15,625 NB201 cells scored at batch 512 (model only, tokens ready).
//! - `nb201_quick/*`: the same two for the quick profile's cell model (3 layers x 128, batch 32).
//! - `network_train/{60,120,250}`: whole-network model (2 layers x 512), batch 16,
//!   32 graphs of about that many nodes per iteration.
//! - `network_predict/{120,250}`: one graph, model only.
//! - `tokenize`: the network tokenizer on a 120-node graph.
//! - `sgemm/2048`: one 2048^3 f32 matrix product, the attainable rate the
//!   scoring figures are a fraction of.

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use graph_ir::cells::{Nb201Cell, relabelled_twin};
use model::{Architecture, CellModel};
use std::time::Duration;
use tokenizer::{CellTokenizer, CellVocab, GraphTokens, NetworkTokenizer, NetworkVocab};
use trainer::fit::{Selection, Session};
use trainer::train::{
    EvalSet, Scoring, TargetScaling, TrainSet, initial_model, predict, predict_with,
    train_cells_from,
};
use trainer::{Benchmark, Profile, TrainingConfig};

/// The allocator the `narformer` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/networks.rs"]
mod networks;
use networks::network;

/// NB201 cell number `index` (0..15,625): its six ops as base-5 digits.
fn nb201_cell(index: usize) -> Nb201Cell {
    Nb201Cell::from_index(index)
}

fn cell_tokens(range: std::ops::Range<usize>) -> (Vec<GraphTokens>, Vec<GraphTokens>) {
    let tokenizer = CellTokenizer::new(CellVocab::Nb201);
    range
        .map(|i| {
            let graph = nb201_cell(i * 7919 % 15_625).to_graph();
            let twin = relabelled_twin(&graph).unwrap_or_else(|| graph.clone());
            (
                tokenizer.tokenize(&graph).expect("NB201 cells tokenize"),
                tokenizer.tokenize(&twin).expect("NB201 twins tokenize"),
            )
        })
        .unzip()
}

fn network_tokens(nodes: usize, count: usize) -> Vec<GraphTokens> {
    let tokenizer = NetworkTokenizer::new(NetworkVocab::Extended);
    (0..count)
        .map(|seed| tokenizer.tokenize(&network(nodes, seed), 1))
        .collect()
}

fn labels(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 + 0.4 * ((i * 37 % 101) as f64 / 101.0))
        .collect()
}

/// One timed training run of `model` (made untimed by [`initial_model`], as
/// the peer's model is made before its timing starts).
fn train_once(
    model: CellModel,
    config: &TrainingConfig,
    train: &TrainSet,
    validation: &EvalSet,
    device: &Device,
) {
    train_cells_from(
        model,
        config,
        train,
        validation,
        device,
        Selection::MaximiseKendallTau,
        Session::in_memory(false),
    )
    .expect("training runs");
}

/// Forward FLOPs of the V2 cell model on one graph of `nodes` tokens (dense
/// adjacency, as the padded batch computes it): per layer the degree gate, the
/// shared query/key projection, scores and weighted sum (N x N), neighbour and
/// root projections and the grouped FFN; then the layer fusion and the head.
fn v2_cell_forward_flops(model: &model::CellModelConfig, nodes: usize) -> f64 {
    let (n, h, g, layers) = (
        nodes as f64,
        model.hidden as f64,
        model.groups as f64,
        model.layers as f64,
    );
    let mut flops = 0.0;
    for layer in 0..model.layers {
        let d = if layer == 0 { model.d_input as f64 } else { h };
        flops += 2.0 * n * d; // degree gate
        flops += 2.0 * n * d * d; // qk
        flops += 2.0 * 2.0 * n * n * d; // scores, weights x values
        flops += 2.0 * 2.0 * n * d * h; // neighbour, root
        flops += 2.0 * 2.0 * n * h * 4.0 * h / g; // grouped FFN up and down
    }
    let fused = layers * h;
    flops += 2.0 * (fused * fused / 4.0 + fused / 4.0 * layers); // fusion
    flops += 2.0 * (h * h + h * h + h); // head
    flops
}

/// Writes the FLOPs `cargo xtask bench` reads: one NB201 training sample (the
/// cell and its twin, forward plus backward, taken as twice the forward) and
/// one scored cell (a forward).
fn write_flops(config: &TrainingConfig) {
    let forward = v2_cell_forward_flops(&config.model, 8);
    let per_sample = 3.0 * 2.0 * forward;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion");
    let json = format!(
        "{{\"nb201_train_flops_per_sample\": {per_sample}, \"nb201_score_flops_per_cell\": {forward}}}\n"
    );
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("narformer-flops.json"), json);
    }
}

/// The machine's attainable f32 rate through the backend's matrix product
/// (the kernel every model's projections run on): one 2048^3 product.
fn sgemm(c: &mut Criterion) {
    let device = Device::flex();
    let a = Tensor::<2>::random([2048, 2048], Distribution::Uniform(-1.0, 1.0), &device);
    let b = Tensor::<2>::random([2048, 2048], Distribution::Uniform(-1.0, 1.0), &device);
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10);
    group.bench_function("2048", |bench| {
        bench.iter(|| a.clone().matmul(b.clone()).into_data())
    });
    group.finish();
}

/// Training (80 cells with twins, plus a validation pass of 8) and scoring
/// (all 15,625 cells at batch 512) of the NB201 cell model of `profile`.
fn nb201_profile(c: &mut Criterion, group_name: &str, profile: Profile) {
    let device = Device::flex();
    let mut config =
        TrainingConfig::for_profile(profile, Benchmark::Nb201, Architecture::V2, 80, 0);
    config.epochs = 1;
    config.eval_every = 1;
    if profile == Profile::Paper {
        write_flops(&config);
    }
    let (tokens, twins) = cell_tokens(0..80);
    let train = TrainSet {
        tokens: tokens.into(),
        twins,
        labels: labels(80),
    };
    let (val_tokens, _) = cell_tokens(80..88);
    let validation = EvalSet {
        tokens: val_tokens.into(),
        labels: labels(8),
    };
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function(format!("train_80_cells_batch_{}", config.batch_size), |b| {
        b.iter_batched(
            || initial_model(&config, &device),
            |model| train_once(model, &config, &train, &validation, &device),
            BatchSize::PerIteration,
        )
    });
    let model = config.model.init(&device);
    let (all, _) = cell_tokens(0..15_625);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("score_15625_cells", |b| {
        b.iter(|| predict(&model, &all, &TargetScaling::IDENTITY, &device, 512).expect("scores"))
    });
    group.finish();
}

fn nb201(c: &mut Criterion) {
    nb201_profile(c, "nb201", Profile::Paper);
    nb201_profile(c, "nb201_quick", Profile::Quick);
    nb201_baselines(c);
}

/// Scoring all 15,625 cells with the quick-profile GNN and Transformer
/// baselines (batch 512, model only).
fn nb201_baselines(c: &mut Criterion) {
    let device = Device::flex();
    let (all, _) = cell_tokens(0..15_625);
    let mut group = c.benchmark_group("nb201_baselines");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for (name, architecture) in [
        ("gnn", Architecture::Gnn),
        ("transformer", Architecture::Transformer),
    ] {
        let config =
            TrainingConfig::for_profile(Profile::Quick, Benchmark::Nb201, architecture, 80, 0);
        let model = config.model.init(&device);
        group.bench_function(format!("score_15625_cells_{name}"), |b| {
            b.iter(|| {
                predict(&model, &all, &TargetScaling::IDENTITY, &device, 512).expect("scores")
            })
        });
    }
    group.finish();
}

fn networks(c: &mut Criterion) {
    let device = Device::flex();
    let mut config = TrainingConfig::latency(Profile::Paper, 0, NetworkVocab::Extended);
    config.epochs = 1;
    config.eval_every = 1;
    config.batch_size = 16;
    let mut group = c.benchmark_group("network_train");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for nodes in [60, 120, 250] {
        let tokens = network_tokens(nodes, 32);
        let train = TrainSet {
            twins: tokens.clone(),
            tokens: tokens.into(),
            labels: labels(32),
        };
        let validation = EvalSet {
            tokens: network_tokens(nodes, 2).into(),
            labels: labels(2),
        };
        group.bench_function(format!("{nodes}_nodes_32_graphs_batch_16"), |b| {
            b.iter_batched(
                || initial_model(&config, &device),
                |model| train_once(model, &config, &train, &validation, &device),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    let model = config.model.init(&device);
    // Made once, as a loaded run makes it.
    let scoring = Scoring::of(&model);
    let mut group = c.benchmark_group("network_predict");
    group.measurement_time(Duration::from_secs(10));
    for nodes in [120, 250] {
        let one = network_tokens(nodes, 1);
        group.bench_function(format!("{nodes}_nodes_one_graph"), |b| {
            b.iter(|| {
                predict_with(&model, &scoring, &one, &TargetScaling::IDENTITY, &device, 1)
                    .expect("predicts")
            })
        });
    }
    group.finish();

    let graph = network(120, 0);
    let tokenizer = NetworkTokenizer::new(NetworkVocab::Extended);
    let mut group = c.benchmark_group("tokenize");
    group.bench_function("network_120_nodes", |b| {
        b.iter(|| tokenizer.tokenize(&graph, 1))
    });
    group.finish();
}

criterion_group!(benches, sgemm, nb201, networks);
criterion_main!(benches);
