//! The cell training recipe (SPEC section 5): main loss + pairwise-difference
//! loss + consistency with the relabelled twin; Adam; warmup then linear decay.

use crate::batcher::forward;
use crate::metrics::kendall_tau_b;
use crate::schedule::WarmupLinear;
use crate::{Objective, TrainError, TrainingConfig, run_dir};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use model::CellModel;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokenizer::GraphTokens;

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
    pub tokens: Vec<GraphTokens>,
    pub twins: Vec<GraphTokens>,
    pub labels: Vec<f64>,
}

/// Cells to score, with labels.
#[derive(Debug)]
pub struct EvalSet {
    pub tokens: Vec<GraphTokens>,
    pub labels: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_kendall_tau: Option<f64>,
    /// Latency runs: validation MAPE (%), which picks their checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mape: Option<f64>,
}

/// Where an interrupted run continues from: `<run dir>/resume/` holds the
/// training model, the best model so far, the optimizer state and
/// [`ResumeState`], replaced as a
/// whole (write `resume.tmp/`, then rename) after every validation pass.
#[derive(Debug, Clone)]
pub struct ResumeStore {
    pub dir: PathBuf,
}

/// Progress of an interrupted run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeState {
    /// Last finished epoch.
    pub epoch: usize,
    pub step: usize,
    /// Word position of the batch-order RNG (decimal; u128 does not fit JSON numbers).
    pub rng_word_pos: String,
    /// The training order, shuffled in place every epoch.
    pub order: Vec<usize>,
    pub best_epoch: usize,
    /// The selection score of the best model: validation Kendall tau for
    /// cells, minus validation MAPE for latency.
    pub best_validation_tau: f64,
    pub history: Vec<EpochLog>,
    /// Training seconds spent in all sessions up to this snapshot.
    pub train_seconds: f64,
}

const RESUME_MODEL: &str = "model.bpk";
const RESUME_BEST: &str = "best.bpk";
const RESUME_OPTIMIZER: &str = "optimizer.bpk";
const RESUME_STATE: &str = "state.json";

impl ResumeStore {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("resume"),
        }
    }

    fn staging(&self) -> PathBuf {
        self.dir.with_extension("tmp")
    }

    fn previous(&self) -> PathBuf {
        self.dir.with_extension("old")
    }

    /// The directory holding the latest complete snapshot, if any (a crash
    /// between the two renames of [`ResumeStore::save`] leaves it at `resume.old`).
    fn latest(&self) -> Option<PathBuf> {
        [self.dir.clone(), self.previous()]
            .into_iter()
            .find(|d| d.join(RESUME_STATE).is_file())
    }

    pub fn exists(&self) -> bool {
        self.latest().is_some()
    }

    fn save(
        &self,
        model: &CellModel,
        best: &CellModel,
        optim: &ModuleOptimizer,
        state: &ResumeState,
    ) -> Result<(), TrainError> {
        let staging = self.staging();
        let io = |path: &Path, e: &dyn std::fmt::Display| TrainError::run_dir(path, e);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| io(&staging, &e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| io(&staging, &e))?;
        let model_path = staging.join(RESUME_MODEL);
        model
            .clone()
            .save_file(&model_path)
            .map_err(|e| io(&model_path, &e))?;
        let best_path = staging.join(RESUME_BEST);
        best.clone()
            .save_file(&best_path)
            .map_err(|e| io(&best_path, &e))?;
        let optim_path = staging.join(RESUME_OPTIMIZER);
        optim.save(&optim_path).map_err(|e| io(&optim_path, &e))?;
        run_dir::write_json_atomic(&staging.join(RESUME_STATE), state)?;
        let previous = self.previous();
        if self.dir.exists() {
            if previous.exists() {
                std::fs::remove_dir_all(&previous).map_err(|e| io(&previous, &e))?;
            }
            std::fs::rename(&self.dir, &previous).map_err(|e| io(&self.dir, &e))?;
        }
        std::fs::rename(&staging, &self.dir).map_err(|e| io(&self.dir, &e))?;
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(|e| io(&previous, &e))?;
        }
        Ok(())
    }

    /// Removes every snapshot (the run finished, or starts over).
    pub fn clear(&self) -> Result<(), TrainError> {
        for dir in [self.dir.clone(), self.staging(), self.previous()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| TrainError::run_dir(&dir, e))?;
            }
        }
        Ok(())
    }
}

/// Where training starts: fresh, or from a [`ResumeStore`] snapshot.
#[derive(Debug)]
pub struct Checkpointing<'a> {
    pub store: Option<&'a ResumeStore>,
    /// End this session at the first snapshot taken at or after this epoch,
    /// with [`TrainError::Interrupted`] (time-boxed sessions; the next call resumes).
    pub stop_after_epoch: Option<usize>,
}

#[derive(Debug)]
pub struct Trained {
    /// The best model on validation, in inference mode.
    pub model: CellModel,
    pub scaling: TargetScaling,
    pub best_epoch: usize,
    /// The selection score of the best model: validation Kendall tau for
    /// cells, minus validation MAPE for latency.
    pub best_validation_tau: f64,
    pub history: Vec<EpochLog>,
    /// Seconds of training, summed over resumed sessions.
    pub train_seconds: f64,
    /// The epoch training continued after, when it resumed.
    pub resumed_after: Option<usize>,
}

/// Trains a cell model. `device` is a plain (non-autodiff) device; `on_best`
/// is called with each new best model on validation (to checkpoint it). With a
/// resume store, progress is snapshotted after every validation pass and an
/// existing snapshot is continued (dropout masks after a resume differ from
/// an uninterrupted run's; everything else is restored exactly).
pub fn train_cells(
    config: &TrainingConfig,
    train: &TrainSet,
    validation: &EvalSet,
    device: &Device,
    show_progress: bool,
    checkpointing: Checkpointing<'_>,
    on_best: &mut dyn FnMut(&CellModel, &TargetScaling) -> Result<(), TrainError>,
) -> Result<Trained, TrainError> {
    config.validate().map_err(TrainError::Config)?;
    let scaling = TargetScaling::fit(config.objective, &train.labels);
    let autodiff = device.clone().autodiff();
    autodiff.seed(config.seed);
    let mut model = config.model.init(&autodiff);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_cafe);

    let n = train.tokens.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let schedule = WarmupLinear::new(
        config.learning_rate,
        config.warmup_fraction,
        steps_per_epoch * config.epochs,
    );
    let targets: Vec<f32> = train.labels.iter().map(|&y| scaling.to_target(y)).collect();
    let progress = progress_bar(config.epochs as u64, show_progress);

    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0;
    let mut best: Option<(CellModel, usize, f64)> = None;
    let mut history = Vec::new();
    let started = std::time::Instant::now();
    let mut earlier_seconds = 0.0;
    let mut first_epoch = 1;
    let mut resumed_after = None;
    if let Some(dir) = checkpointing.store.and_then(ResumeStore::latest) {
        let state: ResumeState = run_dir::read_json(&dir.join(RESUME_STATE))?;
        let model_path = dir.join(RESUME_MODEL);
        model = model
            .try_load_file(&model_path)
            .map_err(|e| TrainError::run_dir(&model_path, e))?;
        let optim_path = dir.join(RESUME_OPTIMIZER);
        optim = optim
            .load(&optim_path)
            .map_err(|e| TrainError::run_dir(&optim_path, e))?;
        let best_path = dir.join(RESUME_BEST);
        let best_model = config
            .model
            .init(device)
            .try_load_file(&best_path)
            .map_err(|e| TrainError::run_dir(&best_path, e))?;
        let word_pos: u128 = state
            .rng_word_pos
            .parse()
            .map_err(|e| TrainError::run_dir(&dir.join(RESUME_STATE), e))?;
        rng.set_word_pos(word_pos);
        if state.order.len() != n {
            return Err(TrainError::run_dir(
                &dir,
                "snapshot was taken with another training set",
            ));
        }
        order = state.order;
        autodiff.seed(config.seed ^ (state.epoch as u64).wrapping_mul(0x9e37_79b9));
        best = Some((best_model, state.best_epoch, state.best_validation_tau));
        history = state.history;
        step = state.step;
        earlier_seconds = state.train_seconds;
        first_epoch = state.epoch + 1;
        resumed_after = Some(state.epoch);
        progress.set_position(state.epoch as u64);
    }
    // The twins double the cost of a step: leave them out when unused.
    let with_twins = config.consistency_weight > 0.0;
    for epoch in first_epoch..=config.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        for chunk in order.chunks(config.batch_size) {
            let b = chunk.len();
            let twins = chunk
                .iter()
                .filter(|_| with_twins)
                .map(|&i| &train.twins[i]);
            let graphs: Vec<&GraphTokens> = chunk
                .iter()
                .map(|&i| &train.tokens[i])
                .chain(twins)
                .collect();
            let y_values: Vec<f32> = chunk.iter().map(|&i| targets[i]).collect();
            let mut perm: Vec<i64> = (0..b as i64).collect();
            perm.shuffle(&mut rng);
            let loss = batch_loss(config, &model, &graphs, &y_values, &perm, &autodiff);

            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                progress.abandon();
                return Err(TrainError::Diverged { epoch, loss: value });
            }
            loss_sum += value as f64 * b as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(schedule.at(step), model, grads);
            step += 1;
        }
        let train_loss = loss_sum / n as f64;
        let mut validation_kendall_tau = None;
        let mut validation_mape = None;
        if epoch % config.eval_every == 0 || epoch == config.epochs {
            let snapshot = model.valid();
            let scores = predict(&snapshot, &validation.tokens, &scaling, device, 512)?;
            let tau = kendall_tau_b(&scores, &validation.labels).unwrap_or(f64::NEG_INFINITY);
            validation_kendall_tau = Some(tau);
            // Cells are ranked (tau); latencies are measured against MAPE.
            let selection = if config.benchmark.is_latency() {
                let m = crate::metrics::mape(&scores, &validation.labels);
                validation_mape = Some(m);
                -m
            } else {
                tau
            };
            if best.as_ref().is_none_or(|(_, _, b)| selection > *b) {
                on_best(&snapshot, &scaling)?;
                best = Some((snapshot, epoch, selection));
            }
        }
        let (best_epoch, best_tau) = best.as_ref().map_or((0, f64::NAN), |b| (b.1, b.2));
        progress.set_message(match validation_mape {
            Some(m) => format!(
                "loss {train_loss:.4}  val MAPE {m:.2}%  best {:.2}%",
                -best_tau
            ),
            None => format!(
                "loss {train_loss:.4}  val tau {}  best {best_tau:.4}",
                validation_kendall_tau.map_or("-".to_string(), |t| format!("{t:.4}"))
            ),
        });
        progress.inc(1);
        history.push(EpochLog {
            epoch,
            train_loss,
            validation_kendall_tau,
            validation_mape,
        });
        if let (Some(store), Some(_), Some((best_model, _, _))) =
            (checkpointing.store, validation_kendall_tau, best.as_ref())
        {
            let state = ResumeState {
                epoch,
                step,
                rng_word_pos: rng.get_word_pos().to_string(),
                order: order.clone(),
                best_epoch,
                best_validation_tau: best_tau,
                history: history.clone(),
                train_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
            };
            store.save(&model, best_model, &optim, &state)?;
            let stop = checkpointing.stop_after_epoch.is_some_and(|n| epoch >= n);
            if stop && epoch < config.epochs {
                progress.abandon();
                return Err(TrainError::Interrupted { epoch });
            }
        }
    }
    progress.finish();
    let (model, best_epoch, best_validation_tau) =
        best.ok_or_else(|| TrainError::Config("no validation pass ran".into()))?;
    Ok(Trained {
        model,
        scaling,
        best_epoch,
        best_validation_tau,
        history,
        train_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
        resumed_after,
    })
}

/// One batch's training loss (SPEC section 5): the objective on the `b` graphs,
/// plus the pairwise term against the pairing `perm` (a permutation of `0..b`),
/// plus the twin-consistency term when the config weights it. `graphs` holds the
/// `b` graphs, then (only when `consistency_weight > 0`) their `b` twins in the
/// same order; `targets` holds the `b` scaled targets. Returns a scalar `[1]`.
pub fn batch_loss(
    config: &TrainingConfig,
    model: &CellModel,
    graphs: &[&GraphTokens],
    targets: &[f32],
    perm: &[i64],
    device: &Device,
) -> Tensor<1> {
    let b = targets.len();
    let with_twins = config.consistency_weight > 0.0;
    debug_assert_eq!(graphs.len(), if with_twins { 2 * b } else { b });
    let predictions = forward(model, graphs, device); // [b] or [2b]
    let pred = predictions.clone().narrow(0, 0, b); // [b]
    let y = Tensor::<1>::from_data(TensorData::new(targets.to_vec(), [b]), device);
    let main = match config.objective {
        Objective::RatioMse => (pred.clone() / y.clone())
            .sub_scalar(1.0)
            .powf_scalar(2.0)
            .mean(),
        Objective::StandardizedMse | Objective::LogErrorMse | Objective::LogMse => {
            (pred.clone() - y.clone()).powf_scalar(2.0).mean()
        }
    };
    let perm = Tensor::<1, Int>::from_data(TensorData::new(perm.to_vec(), [b]), device);
    let pairwise = ((pred.clone() - pred.clone().select(0, perm.clone()))
        - (y.clone() - y.select(0, perm)))
    .abs()
    .mean();
    let loss = main + pairwise.mul_scalar(config.pairwise_weight);
    if with_twins {
        let pred_twin = predictions.narrow(0, b, b); // [b]
        let consistency = (pred_twin - pred).abs().mean();
        loss + consistency.mul_scalar(config.consistency_weight)
    } else {
        loss
    }
}

/// Predicted labels (in label units) for `tokens`, `batch_size` graphs at a time.
/// More graphs than one batch are split over the machine's cores, one contiguous
/// part per thread: the backend runs matrix products on its own thread pool but the
/// element-wise work of one forward on the calling thread, so one caller leaves
/// cores idle.
pub fn predict(
    model: &CellModel,
    tokens: &[GraphTokens],
    scaling: &TargetScaling,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    let batch_size = batch_size.max(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || tokens.len() <= batch_size {
        return predict_on_this_thread(model, tokens, scaling, device, batch_size);
    }
    // Whole batches per part, so the split does not change what each forward sees.
    let batches = tokens.len().div_ceil(batch_size);
    let part = batches.div_ceil(threads) * batch_size;
    let parts: Vec<Result<Vec<f64>, TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .chunks(part)
            .map(|chunk| {
                scope.spawn(move || {
                    predict_on_this_thread(model, chunk, scaling, device, batch_size)
                })
            })
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

/// [`predict`] on the calling thread only (for comparisons).
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
        let values: Vec<f32> = pred
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::Config(format!("reading predictions: {e:?}")))?;
        out.extend(values.into_iter().map(|v| scaling.to_label(v)));
    }
    Ok(out)
}

pub(crate) fn progress_bar(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} epochs (ETA {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{Benchmark, Profile};
    use graph_ir::cells::{Nb201Cell, Nb201Op, relabelled_twin};
    use model::Architecture;
    use tokenizer::{CellTokenizer, CellVocab};

    #[test]
    fn split_prediction_equals_one_thread_prediction() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        device.seed(5);
        let model = model::CellModelConfig::new()
            .with_hidden(32)
            .with_layers(2)
            .with_dropout(0.0)
            .init(&device);
        let tokenizer = CellTokenizer::new(CellVocab::Nb201);
        let tokens: Vec<GraphTokens> = (0..37)
            .map(|i| {
                let ops = [0, 1, 2, 3, 4, 0].map(|k| Nb201Op::ALL[(k + i) % 5]);
                tokenizer.tokenize(&Nb201Cell { ops }.to_graph()).unwrap()
            })
            .collect();
        let scaling = TargetScaling::IDENTITY;
        let split = predict(&model, &tokens, &scaling, &device, 4).unwrap();
        let single = predict_on_this_thread(&model, &tokens, &scaling, &device, 4).unwrap();
        assert_eq!(split.len(), 37);
        assert_eq!(split, single);
    }

    /// The `k`-th NB201 cell in base-5 order and a label that depends on its ops.
    fn cell(k: usize) -> (GraphTokens, GraphTokens, f64) {
        let ops: [Nb201Op; 6] =
            std::array::from_fn(|e| Nb201Op::ALL[(k / 5usize.pow(e as u32)) % 5]);
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
            tokens: cells.iter().map(|c| c.0.clone()).collect(),
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
        let none = Checkpointing {
            store: None,
            stop_after_epoch: None,
        };
        let trained = train_cells(
            &config,
            &train,
            &validation,
            &device,
            false,
            none,
            &mut |_, _| {
                checkpoints += 1;
                Ok(())
            },
        )
        .unwrap();
        assert!(checkpoints >= 1);
        let scores = predict(&trained.model, &train.tokens, &trained.scaling, &device, 7).unwrap();
        (
            kendall_tau_b(&scores, &train.labels).unwrap(),
            trained.history,
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
            tokens: train.tokens[..8].to_vec(),
            labels: train.labels[..8].to_vec(),
        };
        let mut config = tiny_config(Objective::StandardizedMse);
        config.epochs = 12;
        config.eval_every = 3;
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let store = ResumeStore::new(dir.path());
        let mut save = |_: &CellModel, _: &TargetScaling| Ok(());
        let run =
            |stop, save: &mut dyn FnMut(&CellModel, &TargetScaling) -> Result<(), TrainError>| {
                let checkpointing = Checkpointing {
                    store: Some(&store),
                    stop_after_epoch: stop,
                };
                train_cells(
                    &config,
                    &train,
                    &validation,
                    &device,
                    false,
                    checkpointing,
                    save,
                )
            };
        // Epoch 5 has no validation pass: the session ends at the next snapshot, epoch 6.
        let err = run(Some(5), &mut save).unwrap_err();
        assert!(matches!(err, TrainError::Interrupted { epoch: 6 }), "{err}");
        assert!(store.exists());
        let resumed = run(None, &mut save).unwrap();
        assert_eq!(resumed.resumed_after, Some(6));
        assert_eq!(resumed.history.len(), 12);

        store.clear().unwrap();
        assert!(!store.exists());
        let straight = run(None, &mut save).unwrap();
        assert_eq!(straight.resumed_after, None);
        assert_eq!(straight.best_epoch, resumed.best_epoch);
        assert!((straight.best_validation_tau - resumed.best_validation_tau).abs() < 1e-9);
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
