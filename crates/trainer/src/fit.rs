//! The one training loop of the workspace: Adam, a learning-rate schedule,
//! seeded batch order, the divergence check, periodic validation with a typed
//! checkpoint [`Selection`], the progress bar, and resumable snapshots.
//!
//! What a step computes is a [`Steps`] implementation, a data adapter: cells
//! with their twins ([`crate::train`]), whole networks, (network, setting)
//! pairs and few-shot fine-tuning ([`crate::nb201_latency`]). The loop knows no
//! benchmark.

use crate::TrainError;
pub use crate::report::EpochLog;
use crate::resume::{ResumeState, ResumeStore};
use crate::schedule::WarmupLinear;
use burn::optim::GradientsParams;
use burn::prelude::*;
use model::CellModel;
use model::fused::{AdamSettings, HostTraining};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which model a training run keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// The epoch with the highest validation Kendall's tau (ranking cells).
    MaximiseKendallTau,
    /// The epoch with the lowest validation MAPE (latencies).
    MinimiseMape,
    /// The model after the last step, with no validation (few-shot fine-tuning,
    /// where every measurement is a training shot).
    LastStep,
}

/// Validation scores of one pass; each adapter fills what its selection reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub kendall_tau: Option<f64>,
    /// Percent.
    pub mape: Option<f64>,
}

impl Selection {
    /// The score that orders checkpoints, higher is better: tau, or minus the MAPE.
    pub fn score(self, validation: &Validation) -> f64 {
        match self {
            Selection::MaximiseKendallTau => validation.kendall_tau.unwrap_or(f64::NEG_INFINITY),
            Selection::MinimiseMape => validation.mape.map_or(f64::NEG_INFINITY, |m| -m),
            Selection::LastStep => 0.0,
        }
    }

    fn validates(self) -> bool {
        self != Selection::LastStep
    }
}

/// The learning rate at each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LearningRate {
    /// Linear warmup over a fraction of all steps, then linear decay to 0.
    WarmupLinear {
        peak: f64,
        warmup_fraction: f64,
    },
    Constant(f64),
}

/// How the loop runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: LearningRate,
    /// Validate every this many epochs, and after the last.
    pub eval_every: usize,
    /// Seeds the batch order and whatever else a step draws.
    pub seed: u64,
    /// Shuffle the training order every epoch (else batches keep index order).
    pub shuffle: bool,
    pub selection: Selection,
}

impl LoopConfig {
    /// The loop of a [`crate::TrainingConfig`]: its epochs, batch, schedule and seed.
    pub fn of(config: &crate::TrainingConfig, selection: Selection) -> Self {
        Self {
            epochs: config.epochs,
            batch_size: config.batch_size,
            learning_rate: LearningRate::WarmupLinear {
                peak: config.learning_rate,
                warmup_fraction: config.warmup_fraction,
            },
            eval_every: config.eval_every,
            seed: config.seed,
            shuffle: true,
            selection,
        }
    }
}

/// The optimiser of every run: Adam with PyTorch's constants (epsilon 1e-8,
/// where Burn's default is 1e-5), as the reference trains.
pub const ADAM: AdamSettings = AdamSettings {
    beta_1: 0.9,
    beta_2: 0.999,
    epsilon: 1e-8,
};

/// What one training step computes, over examples `0..len()`.
pub trait Steps {
    /// Number of training examples.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The loss of the examples `batch` under `model` (on the autodiff
    /// `device`), a scalar `[1]`. `rng` is the loop's seeded stream, for what a
    /// step draws (the pairwise loss's pairing).
    fn loss(
        &self,
        model: &CellModel,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Tensor<1>, TrainError>;

    /// The loss of `batch` and every parameter's gradient: Burn's autodiff of
    /// [`Steps::loss`] unless an implementation computes them otherwise.
    /// Without a finite loss the gradients are left empty (the loop stops).
    fn loss_and_gradients(
        &self,
        model: &CellModel,
        batch: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<(f32, GradientsParams), TrainError> {
        autodiff_step(self.loss(model, batch, rng, device)?, model)
    }

    /// Whether [`fit`] trains the model on the host ([`HostTraining`]) on
    /// the autodiff `device`, where the model has a hand-written step:
    /// [`Steps::host_step`] then replaces [`Steps::loss_and_gradients`] and
    /// Burn's optimiser.
    fn trains_on_host(&self, _device: &Device) -> bool {
        false
    }

    /// The loss of `batch` under `host`'s weights and, when it is finite,
    /// Adam's update of them at rate `lr`. Called only where
    /// [`Steps::trains_on_host`] says so.
    fn host_step(
        &self,
        _host: &mut HostTraining,
        _batch: &[usize],
        _rng: &mut ChaCha8Rng,
        _device: &Device,
        _lr: f64,
    ) -> Result<f32, TrainError> {
        Err(TrainError::InvalidConfig(
            "this training data has no host step".into(),
        ))
    }

    /// Scores of `model` (inference mode, on the plain `device`) on the
    /// validation data. Not called under [`Selection::LastStep`].
    fn validate(&self, model: &CellModel, device: &Device) -> Result<Validation, TrainError>;
}

/// A loss's value and, when it is finite, Burn's gradients of it.
pub fn autodiff_step(
    loss: Tensor<1>,
    model: &CellModel,
) -> Result<(f32, GradientsParams), TrainError> {
    let value: f32 = loss.clone().into_scalar();
    if !value.is_finite() {
        return Ok((value, GradientsParams::new()));
    }
    Ok((value, GradientsParams::from_grads(loss.backward(), model)))
}

/// Called with each new best model (inference mode).
pub type OnBest<'f> = dyn FnMut(&CellModel) -> Result<(), TrainError> + 'f;

/// Where a run's progress goes besides the returned model.
pub struct Session<'a> {
    /// Snapshot after every validation pass and continue an existing snapshot.
    pub store: Option<&'a ResumeStore>,
    /// End this session at the first snapshot taken at or after this epoch,
    /// with [`TrainError::Interrupted`] (time-boxed sessions; the next call resumes).
    pub stop_after_epoch: Option<usize>,
    pub show_progress: bool,
    /// Called with each new best model on validation (to checkpoint it).
    pub on_best: Option<&'a mut OnBest<'a>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("store", &self.store)
            .field("stop_after_epoch", &self.stop_after_epoch)
            .field("show_progress", &self.show_progress)
            .finish_non_exhaustive()
    }
}

impl Session<'_> {
    /// No snapshots, no checkpoints: a run whose model the caller only uses in memory.
    pub fn in_memory(show_progress: bool) -> Self {
        Session {
            store: None,
            stop_after_epoch: None,
            show_progress,
            on_best: None,
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Fitted {
    /// The selected model, in inference mode.
    pub model: CellModel,
    pub best_epoch: usize,
    /// Validation scores of the selected model (empty under [`Selection::LastStep`]).
    pub best: Validation,
    pub history: Vec<EpochLog>,
    /// Seconds of training, summed over resumed sessions.
    pub train_seconds: f64,
    /// The epoch training continued after, when it resumed.
    pub resumed_after: Option<usize>,
}

/// Trains `model` (initialised on `device`'s autodiff form, which the caller
/// seeded) with Adam ([`ADAM`]) on `steps`: on the host where
/// [`Steps::trains_on_host`], else through Burn's autodiff and optimiser. `device` is the plain device validation runs
/// on. With a resume store, progress is snapshotted after every validation pass
/// and an existing snapshot is continued (dropout masks after a resume differ
/// from an uninterrupted run's; everything else is restored exactly).
pub fn fit(
    steps: &dyn Steps,
    mut model: CellModel,
    config: &LoopConfig,
    device: &Device,
    mut session: Session<'_>,
) -> Result<Fitted, TrainError> {
    let autodiff = device.clone().autodiff();
    let mut optim = ADAM.burn();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_cafe);
    let n = steps.len();
    let batch_size = config.batch_size.max(1);
    let steps_per_epoch = n.div_ceil(batch_size);
    let schedule = match config.learning_rate {
        LearningRate::WarmupLinear {
            peak,
            warmup_fraction,
        } => Some(WarmupLinear::new(
            peak,
            warmup_fraction,
            steps_per_epoch * config.epochs,
        )),
        LearningRate::Constant(_) => None,
    };
    let rate_at = |step: usize| match (config.learning_rate, schedule) {
        (LearningRate::Constant(lr), _) => lr,
        (_, Some(s)) => s.at(step),
        (_, None) => 0.0,
    };
    let progress = progress_bar(config.epochs as u64, session.show_progress);
    let selection = config.selection;

    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0;
    // (model, epoch, its validation)
    let mut best: Option<(CellModel, usize, Validation)> = None;
    let mut history = Vec::new();
    let started = std::time::Instant::now();
    let mut earlier_seconds = 0.0;
    let mut first_epoch = 1;
    let mut resumed_after = None;
    if let Some(store) = session.store {
        let inference = model.valid();
        if let Some(snapshot) = store.load(model.clone(), inference, optim.clone())? {
            let state = snapshot.state;
            let word_pos: u128 = state
                .rng_word_pos
                .parse()
                .map_err(|e| TrainError::run_dir(&store.latest_dir().join("state.json"), e))?;
            if state.order.len() != n {
                return Err(TrainError::run_dir(
                    &store.latest_dir(),
                    "snapshot was taken with another training set",
                ));
            }
            model = snapshot.model;
            optim = snapshot.optimizer;
            rng.set_word_pos(word_pos);
            order = state.order;
            autodiff.seed(config.seed ^ (state.epoch as u64).wrapping_mul(0x9e37_79b9));
            let best_validation = history_validation(&state.history, state.best_epoch);
            best = Some((snapshot.best, state.best_epoch, best_validation));
            history = state.history;
            step = state.step;
            earlier_seconds = state.train_seconds;
            first_epoch = state.epoch + 1;
            resumed_after = Some(state.epoch);
            progress.set_position(state.epoch as u64);
        }
    }
    // The weights and moments move to the host once, after a resume; Burn's
    // modules and optimiser are written back for validation and snapshots.
    let mut host = match steps.trains_on_host(&autodiff) {
        true => HostTraining::of(&model, &optim, ADAM).transpose()?,
        false => None,
    };
    for epoch in first_epoch..=config.epochs {
        if config.shuffle {
            order.shuffle(&mut rng);
        }
        let mut loss_sum = 0.0f64;
        for chunk in order.chunks(batch_size) {
            let lr = rate_at(step);
            let value = match host.as_mut() {
                Some(host) => steps.host_step(host, chunk, &mut rng, &autodiff, lr)?,
                None => {
                    let (value, grads) =
                        steps.loss_and_gradients(&model, chunk, &mut rng, &autodiff)?;
                    if value.is_finite() {
                        model = optim.step(lr, model, grads);
                    }
                    value
                }
            };
            if !value.is_finite() {
                progress.abandon();
                return Err(TrainError::Diverged { epoch, loss: value });
            }
            loss_sum += value as f64 * chunk.len() as f64;
            step += 1;
        }
        let train_loss = loss_sum / n.max(1) as f64;
        let validates = selection.validates()
            && (epoch % config.eval_every.max(1) == 0 || epoch == config.epochs);
        let mut validation = None;
        if validates {
            if let Some(host) = host.as_mut() {
                model = host.write_into(model);
            }
            let snapshot = model.valid();
            let scores = steps.validate(&snapshot, device)?;
            let improves = best
                .as_ref()
                .is_none_or(|(_, _, b)| selection.score(&scores) > selection.score(b));
            if improves {
                if let Some(on_best) = session.on_best.as_mut() {
                    on_best(&snapshot)?;
                }
                best = Some((snapshot, epoch, scores));
            }
            validation = Some(scores);
        }
        progress.set_message(progress_message(selection, train_loss, validation, &best));
        progress.inc(1);
        history.push(EpochLog {
            epoch,
            train_loss,
            validation_kendall_tau: validation.and_then(|v| v.kendall_tau),
            validation_mape: validation.and_then(|v| v.mape),
        });
        if let (Some(store), Some(_), Some((best_model, best_epoch, best_scores))) =
            (session.store, validation, best.as_ref())
        {
            let state = ResumeState {
                epoch,
                step,
                rng_word_pos: rng.get_word_pos().to_string(),
                order: order.clone(),
                best_epoch: *best_epoch,
                best_score: selection.score(best_scores),
                history: history.clone(),
                train_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
            };
            let from_host = host.as_ref().map(HostTraining::optimizer).transpose()?;
            store.save(
                &model,
                best_model,
                from_host.as_ref().unwrap_or(&optim),
                &state,
            )?;
            let stop = session.stop_after_epoch.is_some_and(|n| epoch >= n);
            if stop && epoch < config.epochs {
                progress.abandon();
                return Err(TrainError::Interrupted { epoch });
            }
        }
    }
    progress.finish();
    if let Some(host) = host.as_mut() {
        model = host.write_into(model);
    }
    let (model, best_epoch, best) = if selection.validates() {
        best.ok_or(TrainError::NoValidationPass)?
    } else {
        (model.valid(), config.epochs, Validation::default())
    };
    Ok(Fitted {
        model,
        best_epoch,
        best,
        history,
        train_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
        resumed_after,
    })
}

/// The validation scores logged at `epoch` (a resumed run's best model).
fn history_validation(history: &[EpochLog], epoch: usize) -> Validation {
    history
        .iter()
        .find(|h| h.epoch == epoch)
        .map(|h| Validation {
            kendall_tau: h.validation_kendall_tau,
            mape: h.validation_mape,
        })
        .unwrap_or_default()
}

fn progress_message(
    selection: Selection,
    train_loss: f64,
    validation: Option<Validation>,
    best: &Option<(CellModel, usize, Validation)>,
) -> String {
    let tau = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    let mape = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}%"));
    let best = best.as_ref().map(|b| b.2);
    match selection {
        Selection::MaximiseKendallTau => format!(
            "loss {train_loss:.4}  val tau {}  best {}",
            tau(validation.and_then(|v| v.kendall_tau)),
            tau(best.and_then(|v| v.kendall_tau))
        ),
        Selection::MinimiseMape => format!(
            "loss {train_loss:.4}  val MAPE {}  best {}",
            mape(validation.and_then(|v| v.mape)),
            mape(best.and_then(|v| v.mape))
        ),
        Selection::LastStep => format!("loss {train_loss:.4}"),
    }
}

fn progress_bar(epochs: u64, show: bool) -> indicatif::ProgressBar {
    sysio::progress_bar(epochs, "epochs", show)
}
