//! Few-shot transfer of a multi-setting model to a setting it was not
//! trained on ([`fine_tune`] for a row of the table, [`fine_tune_cells`] for
//! measured cells): a starting setting chosen on the shots, the encoder
//! frozen, the setting's embedding and the head fitted to the shots.

use super::multi::{EmbeddedRows, MultiDeviceModel, embed_cells, floats, ints, network_model};
use super::{Nb201Networks, View};
use crate::fit::{LearningRate, LoopConfig, Selection, Session, Steps, Validation, fit};
use crate::metrics::spearman;
use crate::train::TargetScaling;
use crate::{Objective, TrainError};
use burn::module::Module;
use burn::prelude::*;
use graph_ir::cells::Nb201Cell;
use model::CellModel;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Few-shot fine-tuning: the shots' (frozen) embeddings scored on the new
/// setting, full batch.
struct ShotSteps {
    /// `[distinct shot networks, 2 * hidden]`, on the autodiff device, constant.
    embedding: Tensor<2>,
    /// Shot -> its network among `embedding`'s rows.
    graphs: Vec<i64>,
    setting: usize,
    targets: Vec<f32>,
}

impl Steps for ShotSteps {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn loss(
        &self,
        model: &CellModel,
        batch: &[usize],
        _rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Tensor<1>, TrainError> {
        let network = network_model(model)?;
        let graphs: Vec<i64> = batch.iter().map(|&i| self.graphs[i]).collect();
        let y: Vec<f32> = batch.iter().map(|&i| self.targets[i]).collect();
        let pred = network.predict_pairs(
            self.embedding.clone(),
            ints(graphs, device),
            ints(vec![self.setting as i64; batch.len()], device),
        ); // [batch]
        Ok((pred - floats(y, device)).powf_scalar(2.0).mean())
    }

    fn validate(&self, _model: &CellModel, _device: &Device) -> Result<Validation, TrainError> {
        // Every measurement of the new setting is a shot: nothing is held out.
        Ok(Validation::default())
    }
}

/// Few-shot transfer to `setting`, which pretraining left out: the setting's
/// embedding starts as a copy of the pretrained setting whose predictions rank
/// the shots best (Spearman), the encoder stays frozen (with ten to a hundred
/// measurements it would only overfit), and the embedding and the head learn
/// from the shots by full-batch Adam. Returns the model with `setting` trained;
/// its encoder is `pretrained`'s, so rows embedded by `pretrained` score on it.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    pretrained: &MultiDeviceModel,
    data: &Nb201Networks,
    setting: usize,
    shots: &[usize],
    steps_count: usize,
    learning_rate: f64,
    seed: u64,
    device: &Device,
) -> Result<MultiDeviceModel, TrainError> {
    let cells: Vec<Nb201Cell> = shots
        .iter()
        .map(|&r| data.cells[data.network_of_row[r]])
        .collect();
    let tuning = FineTuning {
        steps: steps_count,
        learning_rate,
        seed,
    };
    let (tuned, _) = fine_tune_cells(
        pretrained,
        &cells,
        &data.labels(shots, setting),
        Target::Existing(setting),
        tuning,
        device,
    )?;
    Ok(tuned)
}

/// How few-shot fine-tuning runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FineTuning {
    /// Full-batch Adam steps.
    pub steps: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

/// Which setting the shots teach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One of the model's settings that pretraining left out.
    Existing(usize),
    /// A new setting, appended to the model's (its index: the old count).
    New,
}

/// [`fine_tune`] on measured cells: `labels` (ms) of `shots`. Returns the
/// tuned model and where the setting started.
///
/// Two regimes: the networks whose output depends on the input are what the
/// embedding and head learn (their scale sets the targets'), and the
/// input-independent ones among the shots give the setting's
/// [`MultiDeviceModel::constant_ratios`] (a device that folds constants runs
/// them orders of magnitude faster than their ops suggest; as targets they
/// would swamp the loss). Without such shots the ratio is the starting
/// setting's.
pub fn fine_tune_cells(
    pretrained: &MultiDeviceModel,
    shots: &[Nb201Cell],
    labels: &[f64],
    target: Target,
    tuning: FineTuning,
    device: &Device,
) -> Result<(MultiDeviceModel, Started), TrainError> {
    let constant: Vec<bool> = shots.iter().map(|c| !c.reads_input()).collect();
    let reading: Vec<usize> = (0..shots.len()).filter(|&i| !constant[i]).collect();
    let learned_from: Vec<usize> = if reading.len() >= 2 {
        reading
    } else {
        (0..shots.len()).collect()
    };
    let learned_labels: Vec<f64> = learned_from.iter().map(|&i| labels[i]).collect();
    let scaling = TargetScaling::fit(Objective::LogMse, &learned_labels);
    let cells: Vec<&Nb201Cell> = shots.iter().collect();
    let embedded = |view| embed_cells(&cells, &pretrained.model, pretrained.tokens, view, device);
    let (full, live) = (embedded(View::Full)?, embedded(View::Live)?);
    // The shots in one view (every pretrained setting reads `embedding`).
    let shots_in = |embedding: &Tensor<2>, constant: Vec<bool>| EmbeddedRows {
        embedding: embedding.clone(),
        at: (0..shots.len()).collect(),
        constant,
        live: Some(live.clone()),
    };
    // Start from the pretrained setting, and the view of the networks, whose
    // predictions order the shots best: the new setting's own embedding row
    // was never trained, and a device that drops unused computation ranks
    // networks by what reaches the output (ties keep the whole network).
    let trained: Vec<usize> = (0..pretrained.scalings.len())
        .filter(|&s| pretrained.scalings[s].is_some())
        .collect();
    let agreement = |p: &Vec<f64>| {
        let p: Vec<f64> = learned_from.iter().map(|&i| p[i]).collect();
        spearman(&p, &learned_labels).unwrap_or(-1.0)
    };
    let mut candidates = Vec::new();
    for (view, embedding) in [(View::Full, &full), (View::Live, &live)] {
        let on_shots = pretrained.predict_embedded(
            &shots_in(embedding, constant.clone()),
            &trained,
            device,
        )?;
        for (&s, p) in trained.iter().zip(&on_shots) {
            candidates.push((s, view, agreement(p)));
        }
    }
    let (nearest, view, rho) = candidates
        .into_iter()
        .reduce(|best, c| if c.2 > best.2 { c } else { best })
        .ok_or(TrainError::NoNetworks)?;
    let shot_embedding = match view {
        View::Full => full.clone(),
        View::Live => live.clone(),
    };
    let mut scalings = pretrained.scalings.clone();
    let mut ratios = pretrained.constant_ratios.clone();
    ratios.resize(scalings.len(), None);
    let mut views = pretrained.views.clone();
    views.resize(scalings.len(), View::Full);
    let (setting, start) = match target {
        Target::Existing(setting) => (
            setting,
            pretrained
                .model
                .clone()
                .map_network(|m| m.with_setting_copied(nearest, setting)),
        ),
        Target::New => {
            scalings.push(None);
            ratios.push(None);
            views.push(View::Full);
            (
                pretrained.scalings.len(),
                pretrained
                    .model
                    .clone()
                    .map_network(|m| m.with_setting_added(nearest)),
            )
        }
    };
    let autodiff = device.clone().autodiff();
    autodiff.seed(tuning.seed);
    let model = start.fork(&autodiff).train();
    let steps = ShotSteps {
        embedding: Tensor::<2>::from_data(shot_embedding.clone().into_data(), &autodiff),
        graphs: learned_from.iter().map(|&i| i as i64).collect(),
        setting,
        targets: learned_labels
            .iter()
            .map(|&v| scaling.to_target(v))
            .collect(),
    };
    // Full-batch steps in shot order at a constant rate; the last step is kept.
    let config = LoopConfig {
        epochs: tuning.steps,
        batch_size: learned_from.len().max(1),
        learning_rate: LearningRate::Constant(tuning.learning_rate),
        eval_every: tuning.steps.max(1),
        seed: tuning.seed,
        shuffle: false,
        selection: Selection::LastStep,
    };
    let fitted = fit(&steps, model, &config, device, Session::in_memory(false))?;
    scalings[setting] = Some(scaling);
    ratios[setting] = ratios[nearest];
    views[setting] = view;
    let mut tuned = MultiDeviceModel {
        model: fitted.model,
        scalings,
        constant_ratios: ratios,
        views,
        tokens: pretrained.tokens,
        best_epoch: pretrained.best_epoch,
    };
    // The input-independent shots against the model's own prediction for
    // them: their geometric mean ratio.
    let constant_shots: Vec<usize> = (0..shots.len()).filter(|&i| constant[i]).collect();
    if !constant_shots.is_empty() {
        let raw = tuned
            .predict_embedded(
                &shots_in(&full, vec![false; shots.len()]),
                &[setting],
                device,
            )?
            .pop()
            .unwrap_or_default();
        let log_ratio = constant_shots
            .iter()
            .map(|&i| (labels[i] / raw[i]).ln())
            .sum::<f64>()
            / constant_shots.len() as f64;
        tuned.constant_ratios[setting] = Some(log_ratio.exp());
    }
    Ok((
        tuned,
        Started {
            setting,
            from: nearest,
            view,
            spearman: rho,
        },
    ))
}

/// Where a fine-tuned setting started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// The tuned setting's index in the model.
    pub setting: usize,
    /// The pretrained setting whose embedding it started from.
    pub from: usize,
    /// The graph of a network it reads.
    pub view: View,
    /// That setting's Spearman rho on the shots.
    pub spearman: f64,
}
