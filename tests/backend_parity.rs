//! Backend parity: every backend compiled in predicts what the default CPU
//! backend (flex) predicts, within 1e-4 relative, from the same weights and
//! inputs; and one training step with the real loss lowers the loss on it.
//!
//! The default build has only flex, where the step test still runs. The GPU
//! backends need their runtimes: `cargo xtask parity` sets them up (Mesa's
//! software Vulkan for `wgpu`, a CPU LibTorch from the PyPI wheel for `tch`)
//! and runs this file with `--features wgpu,tch`. It is a test of the cli
//! package so that the same build also compiles `narformer` with them.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use graph_ir::cells::{Nb201Cell, Nb201Op, relabelled_twin};
use graph_ir::networks::nb201_network;
use model::{Architecture, CellModel, CellModelConfig};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokenizer::{CellTokenizer, CellVocab, GraphTokens, NetworkTokenizer, NetworkVocab};
use trainer::batcher::forward;
use trainer::train::batch_loss;
use trainer::{Benchmark, Profile, TrainingConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Largest relative gap allowed between a backend and flex.
const TOLERANCE: f64 = 1e-4;

/// Burn's seed is process-global: initialisations must not interleave.
static SEEDED: Mutex<()> = Mutex::new(());

fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every backend compiled into this test, flex first.
fn backends() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut all = vec![("flex", Device::flex())];
    #[cfg(feature = "wgpu")]
    all.push((
        "wgpu",
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    ));
    #[cfg(feature = "tch")]
    {
        #[allow(deprecated)]
        let libtorch = Device::libtorch();
        all.push(("tch", libtorch));
    }
    all
}

/// A model under test: its configuration and a batch of its inputs (for cell
/// models, the cells followed by their twins).
struct Case {
    name: &'static str,
    config: CellModelConfig,
    graphs: Vec<GraphTokens>,
    twins: bool,
}

/// The `k`-th of a spread of NB201 cells.
fn nb201_cell(k: usize) -> Nb201Cell {
    let ops = std::array::from_fn(|e| Nb201Op::ALL[(k * 7 + e * (k + 3)) % 5]);
    Nb201Cell { ops }
}

/// Eight NB201 cells then their relabelled twins, as the trainer batches them.
fn cell_graphs() -> Result<Vec<GraphTokens>, Box<dyn std::error::Error>> {
    let tokenizer = CellTokenizer::new(CellVocab::Nb201);
    let graphs: Vec<_> = (0..8).map(|k| nb201_cell(k).to_graph()).collect();
    let twins: Vec<_> = graphs
        .iter()
        .map(|g| relabelled_twin(g).unwrap_or_else(|| g.clone()))
        .collect();
    let mut tokens = Vec::new();
    for g in graphs.iter().chain(&twins) {
        tokens.push(tokenizer.tokenize(g)?);
    }
    Ok(tokens)
}

/// Four whole NB201 networks (about 100 nodes each) as NNLQP-vocabulary tokens.
fn network_graphs() -> Vec<GraphTokens> {
    let tokenizer = NetworkTokenizer::new(NetworkVocab::Nnlqp);
    (0..4)
        .map(|k| tokenizer.tokenize(&nb201_network(&nb201_cell(k + 11), 1), 1))
        .collect()
}

fn small(architecture: Architecture) -> CellModelConfig {
    CellModelConfig::new()
        .with_architecture(architecture)
        .with_hidden(32)
        .with_layers(2)
        .with_dropout(0.0)
}

fn cases() -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let cells = cell_graphs()?;
    let networks = network_graphs();
    let network = |architecture| {
        small(architecture)
            .with_d_input(NetworkVocab::Nnlqp.token_dim())
            .with_d_static(tokenizer::network::STATIC_DIM)
    };
    Ok(vec![
        Case {
            name: "cell V2",
            config: small(Architecture::V2),
            graphs: cells.clone(),
            twins: true,
        },
        Case {
            name: "cell GNN",
            config: small(Architecture::Gnn),
            graphs: cells.clone(),
            twins: true,
        },
        Case {
            name: "cell Transformer",
            config: small(Architecture::Transformer),
            graphs: cells,
            twins: true,
        },
        Case {
            name: "network V2",
            config: network(Architecture::V2),
            graphs: networks.clone(),
            twins: false,
        },
        Case {
            name: "network GNN",
            config: network(Architecture::Gnn),
            graphs: networks,
            twins: false,
        },
    ])
}

/// Initialises the case's model on flex with a fixed seed and saves its weights,
/// so every backend starts from the same numbers.
fn save_weights(
    case: &Case,
    dir: &Path,
    seed: u64,
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let _seeded = seeded();
    let flex = Device::flex();
    flex.seed(seed);
    let path = dir.join(format!("model-{seed}"));
    case.config.init(&flex).save_file(&path)?;
    Ok(path)
}

fn load(
    case: &Case,
    weights: &Path,
    device: &Device,
) -> Result<CellModel, Box<dyn std::error::Error>> {
    Ok(case.config.init(device).try_load_file(weights)?)
}

fn values(t: Tensor<1>) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let v: Vec<f32> = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok(v.into_iter().map(f64::from).collect())
}

fn relative_gap(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-3)
}

#[test]
fn every_backend_predicts_what_flex_predicts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let backends = backends();
    for (k, case) in cases()?.iter().enumerate() {
        let weights = save_weights(case, dir.path(), 100 + k as u64)?;
        let refs: Vec<&GraphTokens> = case.graphs.iter().collect();
        let flex = Device::flex();
        let expected = values(forward(&load(case, &weights, &flex)?, &refs, &flex))?;
        assert_eq!(expected.len(), refs.len());
        assert!(
            expected.iter().all(|v| v.is_finite()),
            "{}: {expected:?}",
            case.name
        );
        // Distinct inputs give distinct outputs: the comparison is not of constants.
        assert!(expected.windows(2).any(|w| w[0] != w[1]), "{}", case.name);
        for (backend, device) in &backends[1..] {
            let started = Instant::now();
            let got = values(forward(&load(case, &weights, device)?, &refs, device))?;
            assert_eq!(got.len(), expected.len(), "{backend} {}", case.name);
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                let gap = relative_gap(*g, *e);
                assert!(
                    gap <= TOLERANCE,
                    "{backend}, {}, graph {i}: {g} vs flex {e} (relative gap {gap:.2e})",
                    case.name
                );
            }
            eprintln!(
                "{backend} = flex for {} ({} graphs, largest relative gap {:.2e}, {:.1} s)",
                case.name,
                got.len(),
                got.iter()
                    .zip(&expected)
                    .map(|(g, e)| relative_gap(*g, *e))
                    .fold(0.0, f64::max),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

#[test]
fn one_training_step_lowers_the_loss_on_every_backend() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut training =
        TrainingConfig::for_profile(Profile::Paper, Benchmark::Nb201, Architecture::V2, 64, 0);
    for (k, case) in cases()?.iter().enumerate() {
        let weights = save_weights(case, dir.path(), 200 + k as u64)?;
        training.model = case.config.clone();
        if !case.twins {
            training.consistency_weight = 0.0;
        }
        let refs: Vec<&GraphTokens> = case.graphs.iter().collect();
        let b = if case.twins {
            refs.len() / 2
        } else {
            refs.len()
        };
        let targets: Vec<f32> = (0..b).map(|i| 0.3 + 0.1 * i as f32).collect();
        let perm: Vec<i64> = (0..b as i64).rev().collect();
        let mut flex_loss = None;
        for (backend, device) in backends() {
            let started = Instant::now();
            let autodiff = device.autodiff();
            let model = load(case, &weights, &autodiff)?;
            let loss = batch_loss(&training, &model, &refs, &targets, &perm, &autodiff);
            let before = values(loss.clone().reshape([1]))?[0];
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let model = AdamConfig::new().init().step(1e-3, model, grads);
            let after = values(
                batch_loss(&training, &model, &refs, &targets, &perm, &autodiff).reshape([1]),
            )?[0];
            eprintln!(
                "{backend}, {}: loss {before:.6} -> {after:.6} ({:.1} s)",
                case.name,
                started.elapsed().as_secs_f64()
            );
            assert!(
                before.is_finite() && after < before,
                "{backend}, {}: {before} -> {after}",
                case.name
            );
            // The same weights and batch give flex's loss before the step.
            let reference = *flex_loss.get_or_insert(before);
            let gap = relative_gap(before, reference);
            assert!(
                gap <= TOLERANCE,
                "{backend}, {}: loss {before} vs flex {reference}",
                case.name
            );
        }
    }
    Ok(())
}
