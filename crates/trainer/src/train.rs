//! The cell training recipe (NAR-Former V2, section 3.4): main loss +
//! pairwise-difference loss + consistency with the relabelled twin, as a
//! [`Steps`] adapter of the one loop; label scaling; batched prediction.

use crate::batcher::{Flat, Padded, forward};
use crate::fit::{Fitted, LoopConfig, Selection, Session, Steps, Validation, fit};
use crate::graphs::Graphs;
use crate::metrics::kendall_tau_b;
use crate::{Objective, TrainError, TrainingConfig};
use burn::prelude::*;
use model::CellModel;
use model::fused::{
    CellChunk, FusedGnnCell, FusedTransformerCell, FusedV2Cell, FusedV2Network, HostInput,
    HostTraining, StepDropout,
};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use tokenizer::GraphTokens;

pub use crate::losses::{batch_loss, loss_and_prediction_grads};

/// Labels are trained on as `(f(y) - mean) / std`, with `f` the identity,
/// `-ln(1 - y)` for [`Objective::LogErrorMse`] or `ln(y)` for
/// [`Objective::LogMse`]; identity for the ratio loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetScaling {
    pub mean: f64,
    pub std: f64,
    /// Train on `-ln(1 - y)` (the log of the error rate, negated) instead of `y`.
    #[serde(default)]
    pub log_error: bool,
    /// Train on `ln(y)` (positive labels such as latency).
    #[serde(default)]
    pub log_label: bool,
}

/// Keeps `-ln(1 - y)` finite for an accuracy of exactly 1.
const MIN_ERROR: f64 = 1e-6;
/// Keeps `ln(y)` finite (labels are validated positive; this guards rounding).
const MIN_LABEL: f64 = 1e-12;

impl TargetScaling {
    pub const IDENTITY: Self = Self {
        mean: 0.0,
        std: 1.0,
        log_error: false,
        log_label: false,
    };

    pub fn fit(objective: Objective, labels: &[f64]) -> Self {
        let (log_error, log_label) = match objective {
            Objective::RatioMse => return Self::IDENTITY,
            Objective::StandardizedMse => (false, false),
            Objective::LogErrorMse => (true, false),
            Objective::LogMse => (false, true),
        };
        let unscaled = Self {
            log_error,
            log_label,
            ..Self::IDENTITY
        };
        let values: Vec<f64> = labels.iter().map(|&y| unscaled.transform(y)).collect();
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Self {
            mean,
            std: var.sqrt().max(1e-12),
            log_error,
            log_label,
        }
    }

    /// The scaling `config` trains in: [`Self::fit`], except that a model
    /// with the additive readout predicts `ln(ms)` itself (its node shares
    /// must sum in milliseconds), so it gets `ln` without standardising.
    pub fn for_config(config: &crate::TrainingConfig, labels: &[f64]) -> Self {
        if config.model.readout.is_per_node() {
            return Self {
                log_label: true,
                ..Self::IDENTITY
            };
        }
        Self::fit(config.objective, labels)
    }

    fn transform(&self, label: f64) -> f64 {
        if self.log_error {
            -(1.0 - label).max(MIN_ERROR).ln()
        } else if self.log_label {
            label.max(MIN_LABEL).ln()
        } else {
            label
        }
    }

    pub fn to_target(&self, label: f64) -> f32 {
        ((self.transform(label) - self.mean) / self.std) as f32
    }

    pub fn to_label(&self, output: f32) -> f64 {
        let value = output as f64 * self.std + self.mean;
        if self.log_error {
            1.0 - (-value).exp()
        } else if self.log_label {
            value.exp()
        } else {
            value
        }
    }
}

/// Training cells: each with its relabelled twin (itself when it has none).
#[derive(Debug)]
pub struct TrainSet {
    pub tokens: Graphs,
    pub twins: Vec<GraphTokens>,
    pub labels: Vec<f64>,
}

/// Cells to score, with labels.
#[derive(Debug)]
pub struct EvalSet {
    pub tokens: Graphs,
    pub labels: Vec<f64>,
}

/// Labelled graphs (cells with their twins, or whole networks) and the
/// validation graphs that select the checkpoint.
struct CellSteps<'a> {
    config: &'a TrainingConfig,
    train: &'a TrainSet,
    /// Scaled training targets.
    targets: Vec<f32>,
    validation: &'a EvalSet,
    scaling: TargetScaling,
    selection: Selection,
}

impl CellSteps<'_> {
    /// `f` of the batch's graphs (then their twins, when the consistency
    /// term is weighted), scaled targets and pairwise pairing (drawn from `rng`).
    fn with_batch<T>(
        &self,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        f: impl FnOnce(&[&GraphTokens], &[f32], &[i64]) -> T,
    ) -> T {
        let b = batch.len();
        // The twins double the cost of a step: leave them out when unused.
        let with_twins = self.config.consistency_weight > 0.0;
        let twins = batch
            .iter()
            .filter(|_| with_twins)
            .map(|&i| &self.train.twins[i]);
        // Compact graphs are encoded here, one batch at a time.
        let read: Vec<Cow<'_, GraphTokens>> =
            batch.iter().map(|&i| self.train.tokens.get(i)).collect();
        let graphs: Vec<&GraphTokens> = read.iter().map(AsRef::as_ref).chain(twins).collect();
        let y_values: Vec<f32> = batch.iter().map(|&i| self.targets[i]).collect();
        let mut perm: Vec<i64> = (0..b as i64).collect();
        perm.shuffle(rng);
        f(&graphs, &y_values, &perm)
    }
}

impl CellSteps<'_> {
    /// `f` of the batch's graphs (then their twins), the step's dropout and
    /// the loss of predictions with its gradient: what a hand-written step reads.
    fn by_hand<T>(
        &self,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
        f: impl FnOnce(&[&GraphTokens], Option<StepDropout>, &dyn Fn(&[f32]) -> (f32, Vec<f32>)) -> T,
    ) -> T {
        let dropout = Some(StepDropout {
            prob: self.config.model.dropout,
            seed: model::dropout::step_seed(device),
        });
        self.with_batch(batch, rng, |graphs, targets, perm| {
            let loss = |predictions: &[f32]| {
                loss_and_prediction_grads(self.config, predictions, targets, perm)
            };
            f(graphs, dropout, &loss)
        })
    }

    /// The hand-written step's loss and gradients (weights copied out of
    /// `model`), the host step without Adam: checked against Burn's autodiff.
    #[cfg(test)]
    fn hand_gradients(
        &self,
        model: &CellModel,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> (f32, burn::optim::GradientsParams) {
        self.by_hand(batch, rng, device, |graphs, dropout, loss| match model {
            CellModel::V2(v2) => {
                let fused = FusedV2Cell::of(v2);
                let (value, grads) =
                    on_padded(graphs, |chunk| fused.train_step(chunk, dropout, loss));
                (value, grads.into_params(v2))
            }
            CellModel::V2Network(network) => {
                let fused = FusedV2Network::of(network).expect("a V2 network has layers");
                let (value, grads) = fused
                    .train_step(Flat::of(graphs).view(), dropout, loss)
                    .expect("a V2 network trains by hand");
                (value, grads.into_params(network))
            }
            _ => panic!("no hand-written step for this model"),
        })
    }
}

impl Steps for CellSteps<'_> {
    fn len(&self) -> usize {
        self.train.tokens.len()
    }

    fn loss(
        &self,
        model: &CellModel,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Tensor<1>, TrainError> {
        Ok(self.with_batch(batch, rng, |graphs, targets, perm| {
            batch_loss(self.config, model, graphs, targets, perm, device)
        }))
    }

    /// The V2 models on the CPU default train on the host, through their
    /// hand-written steps ([`HostTraining`]); the rest (the baselines,
    /// multi-setting models, other backends) through Burn's autodiff.
    fn trains_on_host(&self, device: &Device) -> bool {
        *device == Device::flex().autodiff()
    }

    fn host_step(
        &self,
        host: &mut HostTraining,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
        lr: f64,
    ) -> Result<f32, TrainError> {
        let input = host.input();
        let value = self.by_hand(batch, rng, device, |graphs, dropout, loss| match input {
            HostInput::Cells => {
                on_padded(graphs, |chunk| host.step_cells(chunk, dropout, loss, lr))
            }
            HostInput::Flat => host.step_flat(Flat::of(graphs).view(), dropout, loss, lr),
        });
        value.ok_or_else(|| TrainError::InvalidConfig("no hand-written step for this model".into()))
    }

    fn validate(&self, model: &CellModel, device: &Device) -> Result<Validation, TrainError> {
        let scores = predict_graphs(model, &self.validation.tokens, &self.scaling, device, 512)?;
        let tau = kendall_tau_b(&scores, &self.validation.labels).unwrap_or(f64::NEG_INFINITY);
        // Latency runs are selected by MAPE and log it beside tau.
        let mape = (self.selection == Selection::MinimiseMape)
            .then(|| crate::metrics::mape(&scores, &self.validation.labels));
        Ok(Validation {
            kendall_tau: Some(tau),
            mape,
        })
    }
}

/// A trained single-output model and the label scaling it predicts in.
#[derive(Debug)]
pub struct Trained {
    pub scaling: TargetScaling,
    pub fitted: Fitted,
}

/// Trains a cell (or whole-network) model on labelled graphs through the one
/// loop ([`crate::fit::fit`]). `device` is a plain (non-autodiff) device;
/// `on_best` (in the session) is called with each new best model on
/// validation; `selection` picks it.
pub fn train_cells(
    config: &TrainingConfig,
    train: &TrainSet,
    validation: &EvalSet,
    device: &Device,
    selection: Selection,
    session: Session<'_>,
) -> Result<Trained, TrainError> {
    config.validate().map_err(TrainError::InvalidConfig)?;
    train_cells_from(
        initial_model(config, device),
        config,
        train,
        validation,
        device,
        selection,
        session,
    )
}

/// The model [`train_cells`] starts from: `config`'s, initialised on
/// `device`'s autodiff form seeded with the config's seed.
pub fn initial_model(config: &TrainingConfig, device: &Device) -> CellModel {
    let autodiff = device.clone().autodiff();
    autodiff.seed(config.seed);
    config.model.init(&autodiff)
}

/// [`train_cells`] from a given `model` (on `device`'s autodiff form): the
/// throughput bench times the training alone, as the PyTorch peer does.
pub fn train_cells_from(
    model: CellModel,
    config: &TrainingConfig,
    train: &TrainSet,
    validation: &EvalSet,
    device: &Device,
    selection: Selection,
    session: Session<'_>,
) -> Result<Trained, TrainError> {
    config.validate().map_err(TrainError::InvalidConfig)?;
    let scaling = TargetScaling::for_config(config, &train.labels);
    let steps = CellSteps {
        config,
        train,
        targets: train.labels.iter().map(|&y| scaling.to_target(y)).collect(),
        validation,
        scaling,
        selection,
    };
    let fitted = fit(
        &steps,
        model,
        &LoopConfig::of(config, selection),
        device,
        session,
    )?;
    Ok(Trained { scaling, fitted })
}

/// A model made ready to score: its fused form ([`model::fused`]: the
/// weights copied out of Burn's tensors) where it has one, made once for
/// many [`predict_with`] calls.
#[derive(Debug)]
pub struct Scoring(Option<Fused>);

impl Scoring {
    pub fn of(model: &CellModel) -> Scoring {
        Scoring(match model {
            CellModel::V2(v2) => Some(Fused::Cell(FusedV2Cell::of(v2))),
            CellModel::Gnn(gnn) => Some(Fused::GnnCell(FusedGnnCell::of(gnn))),
            CellModel::Transformer(t) => FusedTransformerCell::of(t).map(Fused::TransformerCell),
            CellModel::V2Network(network) | CellModel::GnnNetwork(network) => {
                FusedV2Network::of(network).map(Fused::Network)
            }
        })
    }
}

/// Predicted labels (in label units) for `tokens`, `batch_size` graphs at a time:
/// [`predict_with`] the model's [`Scoring`], made for this call.
pub fn predict(
    model: &CellModel,
    tokens: &[GraphTokens],
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    predict_with(
        model,
        &Scoring::of(model),
        tokens,
        scaling,
        device,
        batch_size,
    )
}

/// [`predict`] on held [`Graphs`]: compact ones are encoded a slice at a time.
pub fn predict_graphs(
    model: &CellModel,
    graphs: &Graphs,
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    predict_graphs_with(
        model,
        &Scoring::of(model),
        graphs,
        scaling,
        device,
        batch_size,
    )
}

/// Graphs encoded at once when scoring compact ones: bounds the memory a
/// scoring pass adds (about 150 MB for whole networks of 200 nodes).
const ENCODED_AT_ONCE: usize = 512;

/// [`predict_with`] on held [`Graphs`].
pub fn predict_graphs_with(
    model: &CellModel,
    scoring: &Scoring,
    graphs: &Graphs,
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    if let Graphs::Encoded(tokens) = graphs {
        return predict_with(model, scoring, tokens, scaling, device, batch_size);
    }
    let mut out = Vec::with_capacity(graphs.len());
    for start in (0..graphs.len()).step_by(ENCODED_AT_ONCE) {
        let end = (start + ENCODED_AT_ONCE).min(graphs.len());
        let part = graphs.encoded(start..end);
        out.extend(predict_with(
            model, scoring, &part, scaling, device, batch_size,
        )?);
    }
    Ok(out)
}

/// Predicted labels for `tokens`, `batch_size` graphs at a time, by
/// `scoring` (made from `model` by [`Scoring::of`]). Every model kind scores
/// through the fused path (Burn's predictions within 1e-5); Burn's modules
/// ([`predict_on_this_thread`]) stay the reference. More graphs than one batch are split over
/// the machine's cores, one contiguous part per thread (whole batches, so the
/// split does not change what each forward sees).
pub fn predict_with(
    model: &CellModel,
    scoring: &Scoring,
    tokens: &[GraphTokens],
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    let batch_size = batch_size.max(1);
    let fused = &scoring.0;
    let score = |part: &[GraphTokens], threads| match fused {
        Some(fused) => Ok(predict_fused(fused, part, scaling, batch_size, threads)),
        None => predict_on_this_thread(model, part, scaling, device, batch_size),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || tokens.len() <= batch_size {
        // One batch: the cores share each layer's rows instead.
        return score(tokens, threads);
    }
    let batches = tokens.len().div_ceil(batch_size);
    let part = batches.div_ceil(threads) * batch_size;
    let parts: Vec<Result<Vec<f64>, TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .chunks(part)
            .map(|chunk| scope.spawn(move || score(chunk, 1)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = Vec::with_capacity(tokens.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// A model on the fused path ([`model::fused`]).
#[derive(Debug)]
enum Fused {
    Cell(FusedV2Cell),
    GnnCell(FusedGnnCell),
    TransformerCell(FusedTransformerCell),
    Network(FusedV2Network),
}

/// The fused path, `batch_size` graphs at a time; a whole-network batch's
/// rows are split over up to `threads` threads.
fn predict_fused(
    fused: &Fused,
    tokens: &[GraphTokens],
    scaling: &TargetScaling,
    batch_size: usize,
    threads: usize,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(batch_size) {
        let graphs: Vec<&GraphTokens> = chunk.iter().collect();
        let values = match fused {
            Fused::Cell(cell) => on_padded(&graphs, |chunk| cell.forward(chunk)),
            Fused::GnnCell(gnn) => on_padded(&graphs, |chunk| gnn.forward(chunk)),
            Fused::TransformerCell(t) => on_padded(&graphs, |chunk| t.forward(chunk)),
            Fused::Network(network) => network.forward(Flat::of(&graphs).view(), threads),
        };
        out.extend(values.into_iter().map(|v| scaling.to_label(v)));
    }
    out
}

/// `forward` of `graphs` padded to one size.
fn on_padded<T>(graphs: &[&GraphTokens], forward: impl FnOnce(CellChunk<'_>) -> T) -> T {
    let padded = Padded::of(graphs);
    forward(CellChunk {
        nodes: padded.nodes,
        tokens: &padded.tokens,
        adjacency: &padded.adjacency,
        mask: &padded.mask,
    })
}

/// Burn's modules on the calling thread: the reference every faster path
/// is compared with.
pub fn predict_on_this_thread(
    model: &CellModel,
    tokens: &[GraphTokens],
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    let mut out = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(batch_size.max(1)) {
        let graphs: Vec<&GraphTokens> = chunk.iter().collect();
        let pred = forward(model, &graphs, device);
        let values: Vec<f32> = pred.into_data().convert::<f32>().try_to_vec::<f32>()?;
        out.extend(values.into_iter().map(|v| scaling.to_label(v)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fit::{EpochLog, autodiff_step};
    use crate::resume::ResumeStore;
    use crate::{Benchmark, Profile};
    use graph_ir::cells::{Nb201Cell, Nb201Op, relabelled_twin};
    use model::Architecture;
    use rand::SeedableRng;
    use tokenizer::{CellTokenizer, CellVocab};

    #[test]
    fn split_and_fused_prediction_equals_burn_on_one_thread() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        let tokenizer = CellTokenizer::new(CellVocab::Nb201);
        let tokens: Vec<GraphTokens> = (0..37)
            .map(|i| {
                let ops = [0, 1, 2, 3, 4, 0].map(|k| Nb201Op::ALL[(k + i) % 5]);
                tokenizer.tokenize(&Nb201Cell { ops }.to_graph()).unwrap()
            })
            .collect();
        let scaling = TargetScaling::IDENTITY;
        for architecture in [
            Architecture::V2,
            Architecture::Gnn,
            Architecture::Transformer,
        ] {
            device.seed(5);
            let model = model::CellModelConfig::new()
                .with_architecture(architecture)
                .with_hidden(32)
                .with_layers(2)
                .with_dropout(0.0)
                .init(&device);
            let split = predict(&model, &tokens, &scaling, &device, 4).unwrap();
            let single = predict_on_this_thread(&model, &tokens, &scaling, &device, 4).unwrap();
            assert_eq!(split.len(), 37);
            // The fused path: Burn's predictions within 1e-5.
            for (a, b) in split.iter().zip(&single) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1e-3),
                    "{architecture}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn the_hand_written_step_gives_burns_loss_and_gradients() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex().autodiff();
        for objective in [Objective::RatioMse, Objective::StandardizedMse] {
            let config = tiny_config(objective);
            let train = train_set(977);
            let validation = EvalSet {
                tokens: Vec::<GraphTokens>::new().into(),
                labels: Vec::new(),
            };
            let steps = CellSteps {
                config: &config,
                train: &train,
                targets: train.labels.iter().map(|&y| y as f32).collect(),
                validation: &validation,
                scaling: TargetScaling::IDENTITY,
                selection: Selection::MaximiseKendallTau,
            };
            device.seed(3);
            let model = config.model.init(&device);
            let batch: Vec<usize> = (0..8).map(|i| i * 2 % 16).collect();
            let pairing = || ChaCha8Rng::seed_from_u64(4);
            let (value, ours) = steps.hand_gradients(&model, &batch, &mut pairing(), &device);
            let burn_loss = steps.loss(&model, &batch, &mut pairing(), &device).unwrap();
            let (burn_value, burn) = autodiff_step(burn_loss, &model).unwrap();
            assert!(
                (value - burn_value).abs() <= 1e-5 * burn_value.abs(),
                "{objective:?}: loss {value} vs burn's {burn_value}"
            );
            let gap = model::fused::largest_gradient_gap(&model, &burn, &ours).unwrap();
            assert!(gap <= 1e-4, "{objective:?}: gradients differ by {gap}");
        }
    }

    #[test]
    fn the_hand_written_network_step_gives_burns_loss_and_gradients() {
        use graph_ir::networks::nb201_network;
        use tokenizer::{NetworkTokenizer, NetworkVocab};
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex().autodiff();
        let tokenizer = NetworkTokenizer::new(NetworkVocab::Nnlqp);
        let graphs: Vec<GraphTokens> = (0..6)
            .map(|k| tokenizer.tokenize(&nb201_network(&Nb201Cell::from_index(k * 2_311), 1), 1))
            .collect();
        for readout in [model::Readout::Sum, model::Readout::Additive] {
            let mut config = TrainingConfig::latency(Profile::Quick, 0, NetworkVocab::Nnlqp);
            config.model = config
                .model
                .with_hidden(16)
                .with_groups(4)
                .with_readout(readout);
            config.objective = if readout == model::Readout::Sum {
                Objective::RatioMse
            } else {
                Objective::LogMse
            };
            config.pairwise_weight = 0.1;
            let train = TrainSet {
                tokens: graphs.clone().into(),
                twins: graphs.clone(),
                labels: (0..6).map(|k| 1.0 + k as f64 * 0.3).collect(),
            };
            let validation = EvalSet {
                tokens: Vec::<GraphTokens>::new().into(),
                labels: Vec::new(),
            };
            let steps = CellSteps {
                config: &config,
                train: &train,
                targets: train.labels.iter().map(|&y| y as f32).collect(),
                validation: &validation,
                scaling: TargetScaling::IDENTITY,
                selection: Selection::MinimiseMape,
            };
            device.seed(3);
            let model = config.model.init(&device);
            let batch = [4, 0, 5, 2];
            let pairing = || ChaCha8Rng::seed_from_u64(4);
            let (value, ours) = steps.hand_gradients(&model, &batch, &mut pairing(), &device);
            let burn_loss = steps.loss(&model, &batch, &mut pairing(), &device).unwrap();
            let (burn_value, burn) = autodiff_step(burn_loss, &model).unwrap();
            assert!(
                (value - burn_value).abs() <= 1e-5 * burn_value.abs(),
                "{readout:?}: loss {value} vs burn's {burn_value}"
            );
            let gap = model::fused::largest_gradient_gap(&model, &burn, &ours).unwrap();
            assert!(gap <= 1e-4, "{readout:?}: gradients differ by {gap}");
        }
    }

    /// The `k`-th NB201 cell in base-5 order and a label that depends on its ops.
    fn cell(k: usize) -> (GraphTokens, GraphTokens, f64) {
        let ops = Nb201Cell::from_index(k).ops;
        let graph = Nb201Cell { ops }.to_graph();
        let twin = relabelled_twin(&graph).unwrap_or_else(|| graph.clone());
        let convs = ops
            .iter()
            .filter(|op| matches!(op, Nb201Op::NorConv3x3))
            .count() as f64;
        let label = 0.5 + 0.05 * convs + 0.01 * (k % 7) as f64;
        let t = CellTokenizer::new(CellVocab::Nb201);
        (
            t.tokenize(&graph).unwrap(),
            t.tokenize(&twin).unwrap(),
            label,
        )
    }

    fn tiny_config(objective: Objective) -> TrainingConfig {
        let mut c =
            TrainingConfig::for_profile(Profile::Quick, Benchmark::Nb201, Architecture::V2, 16, 0);
        c.model = c.model.with_hidden(32).with_layers(2).with_dropout(0.0);
        c.model.positive_output = objective == Objective::RatioMse;
        c.objective = objective;
        c.batch_size = 8;
        c.epochs = 150;
        c.eval_every = 50;
        c.learning_rate = 3e-3;
        c.consistency_weight = 0.5; // exercise the twin path
        c
    }

    /// 16 cells spread over the space by `stride`.
    fn train_set(stride: usize) -> TrainSet {
        let cells: Vec<_> = (0..16).map(|i| cell(i * stride % 15_625)).collect();
        TrainSet {
            tokens: cells.iter().map(|c| c.0.clone()).collect::<Vec<_>>().into(),
            twins: cells.iter().map(|c| c.1.clone()).collect(),
            labels: cells.iter().map(|c| c.2).collect(),
        }
    }

    fn train_tiny(objective: Objective) -> (f64, Vec<EpochLog>) {
        train_tiny_with(tiny_config(objective))
    }

    fn train_tiny_with(config: TrainingConfig) -> (f64, Vec<EpochLog>) {
        let train = train_set(977);
        let validation = EvalSet {
            tokens: train.tokens.clone(),
            labels: train.labels.clone(),
        };
        let device = Device::flex();
        let mut checkpoints = 0;
        let mut count = |_: &CellModel| {
            checkpoints += 1;
            Ok(())
        };
        let session = Session {
            store: None,
            stop_after_epoch: None,
            show_progress: false,
            on_best: Some(&mut count),
        };
        let trained = train_cells(
            &config,
            &train,
            &validation,
            &device,
            Selection::MaximiseKendallTau,
            session,
        )
        .unwrap();
        assert!(checkpoints >= 1);
        let fitted = trained.fitted;
        let scores =
            predict_graphs(&fitted.model, &train.tokens, &trained.scaling, &device, 7).unwrap();
        (
            kendall_tau_b(&scores, &train.labels).unwrap(),
            fitted.history,
        )
    }

    #[test]
    fn overfits_sixteen_cells() {
        let _seeded = crate::test_lock::seeded();
        for objective in [Objective::StandardizedMse, Objective::RatioMse] {
            let (tau, history) = train_tiny(objective);
            let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
            assert!(last < 0.2 * first, "{objective:?}: loss {first} -> {last}");
            assert!(tau > 0.9, "{objective:?}: training tau {tau}");
        }
    }

    #[test]
    fn baselines_reduce_their_loss_on_a_tiny_set() {
        let _seeded = crate::test_lock::seeded();
        for architecture in [Architecture::Gnn, Architecture::Transformer] {
            let mut config = tiny_config(Objective::LogErrorMse);
            config.model = config.model.with_architecture(architecture);
            let (tau, history) = train_tiny_with(config);
            let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
            assert!(last < 0.3 * first, "{architecture}: loss {first} -> {last}");
            assert!(tau > 0.7, "{architecture}: training tau {tau}");
        }
    }

    #[test]
    fn an_interrupted_run_resumes_where_it_stopped() {
        let _seeded = crate::test_lock::seeded();
        let train = train_set(131);
        let validation = EvalSet {
            tokens: train.tokens.select(&(0..8).collect::<Vec<_>>()),
            labels: train.labels[..8].to_vec(),
        };
        let mut config = tiny_config(Objective::StandardizedMse);
        config.epochs = 12;
        config.eval_every = 3;
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let store = ResumeStore::new(dir.path());
        let run = |stop| {
            let session = Session {
                store: Some(&store),
                stop_after_epoch: stop,
                show_progress: false,
                on_best: None,
            };
            train_cells(
                &config,
                &train,
                &validation,
                &device,
                Selection::MaximiseKendallTau,
                session,
            )
            .map(|t| t.fitted)
        };
        // Epoch 5 has no validation pass: the session ends at the next snapshot, epoch 6.
        let err = run(Some(5)).unwrap_err();
        assert!(matches!(err, TrainError::Interrupted { epoch: 6 }), "{err}");
        assert!(store.exists());
        let resumed = run(None).unwrap();
        assert_eq!(resumed.resumed_after, Some(6));
        assert_eq!(resumed.history.len(), 12);

        store.clear().unwrap();
        assert!(!store.exists());
        let straight = run(None).unwrap();
        assert_eq!(straight.resumed_after, None);
        assert_eq!(straight.best_epoch, resumed.best_epoch);
        let tau = |f: &Fitted| f.best.kendall_tau.unwrap();
        assert!((tau(&straight) - tau(&resumed)).abs() < 1e-9);
        // No dropout in the tiny config: the resumed run is the uninterrupted run.
        for (a, b) in straight.history.iter().zip(&resumed.history) {
            assert!(
                (a.train_loss - b.train_loss).abs() < 1e-5,
                "epoch {}: {} vs {}",
                a.epoch,
                a.train_loss,
                b.train_loss
            );
        }
    }

    #[test]
    fn target_scaling_round_trips() {
        for objective in [
            Objective::StandardizedMse,
            Objective::LogErrorMse,
            Objective::LogMse,
        ] {
            let s = TargetScaling::fit(objective, &[0.8, 0.9, 0.95]);
            assert!((s.to_label(s.to_target(0.85)) - 0.85).abs() < 1e-6);
            assert!(s.to_target(0.91) > s.to_target(0.9), "monotone");
        }
        assert_eq!(
            TargetScaling::fit(Objective::RatioMse, &[0.8]),
            TargetScaling::IDENTITY
        );
    }
}
