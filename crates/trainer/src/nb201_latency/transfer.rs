//! Few-shot transfer of a multi-setting model to a setting it was not
//! trained on ([`fine_tune`] for a row of the table, [`fine_tune_cells`] for
//! measured cells): a starting setting chosen on the shots, the encoder
//! frozen, the setting's embedding and the head fitted to the shots.

use super::multi::{EmbeddedRows, MultiDeviceModel, embed_cells, floats, ints, network_model};
use super::{Nb201Networks, OpCountFit, View};
use crate::fit::{LearningRate, LoopConfig, Selection, Session, Steps, Validation, fit};
use crate::metrics::pearson;
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
/// embedding starts as a copy of the pretrained setting whose log predictions
/// correlate best with the shots' log latencies, the encoder stays frozen (with ten to a hundred
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
///
/// Three predictors compete: the transferred model with its head frozen (only
/// the setting's embedding learns) or tuned, and the additive op-count model
/// ([`OpCountFit`]) for the networks that read their input. The one that
/// predicts held-out shots best wins: [`CV_FOLDS`]-fold cross-validation over
/// the shots that read their input, every predictor refitted per fold, scored
/// by the mean absolute log ratio of predicted to measured latency.
pub fn fine_tune_cells(
    pretrained: &MultiDeviceModel,
    shots: &[Nb201Cell],
    labels: &[f64],
    target: Target,
    tuning: FineTuning,
    device: &Device,
) -> Result<(MultiDeviceModel, Started), TrainError> {
    let tune_as = |head: Head, cells: &[Nb201Cell], measured: &[f64]| {
        tune(pretrained, cells, measured, target, tuning, head, device)
    };
    let reading: Vec<usize> = (0..shots.len())
        .filter(|&i| shots[i].reads_input())
        .collect();
    if reading.len() < MIN_CV_SHOTS {
        return tune_as(Head::Tuned, shots, labels);
    }
    let pick = |idx: &[usize]| -> (Vec<Nb201Cell>, Vec<f64>) {
        (
            idx.iter().map(|&i| shots[i]).collect(),
            idx.iter().map(|&i| labels[i]).collect(),
        )
    };
    // Summed |ln(predicted / measured)| over held-out shots: frozen head,
    // tuned head, op counts.
    let mut errors = [0.0; 3];
    let mut view = None;
    for fold in 0..CV_FOLDS {
        let held: Vec<usize> = reading
            .iter()
            .copied()
            .enumerate()
            .filter(|(n, _)| n % CV_FOLDS == fold)
            .map(|(_, i)| i)
            .collect();
        let kept: Vec<usize> = (0..shots.len()).filter(|i| !held.contains(i)).collect();
        let (kept_cells, kept_labels) = pick(&kept);
        let (held_cells, held_labels) = pick(&held);
        let mut predictions = Vec::new();
        for head in [Head::Frozen, Head::Tuned] {
            let (model, start) = tune_as(head, &kept_cells, &kept_labels)?;
            predictions.push(model.predict_cells(&held_cells, start.setting, device)?);
            view = Some(start.view);
        }
        let fit_refs: Vec<&Nb201Cell> = kept_cells.iter().collect();
        let fit = OpCountFit::fit(&fit_refs, &kept_labels, view.unwrap_or_default());
        predictions.push(match fit {
            Some(fit) => held_cells.iter().map(|c| fit.predict(c)).collect(),
            None => vec![f64::NAN; held_cells.len()],
        });
        for (error, predicted) in errors.iter_mut().zip(&predictions) {
            *error += predicted
                .iter()
                .zip(&held_labels)
                .map(|(p, y)| (p / y).ln().abs())
                .sum::<f64>();
        }
    }
    let n = reading.len() as f64;
    let cv = CrossValidation {
        frozen_head: errors[0] / n,
        tuned_head: errors[1] / n,
        op_counts: errors[2] / n,
    };
    // The learned model predicts the input-independent networks either way.
    let head = if cv.frozen_head <= cv.tuned_head {
        Head::Frozen
    } else {
        Head::Tuned
    };
    let (mut tuned, mut started) = tune_as(head, shots, labels)?;
    if cv.op_counts < cv.frozen_head.min(cv.tuned_head) {
        let cells: Vec<&Nb201Cell> = shots.iter().collect();
        tuned.op_counts[started.setting] = OpCountFit::fit(&cells, labels, started.view);
    }
    started.cross_validation = Some(cv);
    Ok((tuned, started))
}

/// Folds of the cross-validation that chooses the predictor.
pub const CV_FOLDS: usize = 5;
/// Shots that read their input needed for that choice (each fold's op-count
/// fit keeps at least five for its five coefficients); with fewer the learned
/// model with a tuned head predicts.
pub const MIN_CV_SHOTS: usize = 7;

/// Whether fine-tuning moves the shared regression head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// Only the new setting's embedding learns: the head keeps the function
    /// of devices it learned in pretraining (few shots cannot overfit it).
    Frozen,
    /// The embedding and the head learn.
    Tuned,
}

/// Cross-validated error (mean |ln(predicted / measured)| over the shots that
/// read their input) of each predictor a transfer can keep; the lowest wins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// The transferred model, only its setting embedding fitted.
    pub frozen_head: f64,
    /// The transferred model, its embedding and head fitted.
    pub tuned_head: f64,
    /// The additive op-count model (NaN where a fold could not fit it).
    pub op_counts: f64,
}

impl CrossValidation {
    /// Which predictor won, in words.
    pub fn winner(&self) -> &'static str {
        if self.op_counts < self.frozen_head.min(self.tuned_head) {
            "the additive op-count model"
        } else if self.frozen_head <= self.tuned_head {
            "the transferred model, its head frozen"
        } else {
            "the transferred model, its head tuned"
        }
    }
}

/// [`fine_tune_cells`] with one predictor: the learned model, its head
/// frozen or tuned.
fn tune(
    pretrained: &MultiDeviceModel,
    shots: &[Nb201Cell],
    labels: &[f64],
    target: Target,
    tuning: FineTuning,
    head: Head,
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
        cells: shots.to_vec(),
    };
    // Start from the pretrained setting whose predictions fit the shots best
    // (Pearson's r of the logs: with ten shots, ranks tie too often to choose).
    let trained: Vec<usize> = (0..pretrained.scalings.len())
        .filter(|&s| pretrained.scalings[s].is_some())
        .collect();
    let log_labels: Vec<f64> = learned_labels.iter().map(|v| v.ln()).collect();
    let best_start = |embedding: &Tensor<2>| -> Result<(usize, f64, Vec<f64>), TrainError> {
        let on_shots = pretrained.predict_embedded(
            &shots_in(embedding, vec![false; shots.len()]),
            &trained,
            device,
        )?;
        let fit = |p: &Vec<f64>| {
            let logs: Vec<f64> = learned_from.iter().map(|&i| p[i].ln()).collect();
            pearson(&logs, &log_labels).unwrap_or(-1.0)
        };
        trained
            .iter()
            .zip(on_shots)
            .map(|(&s, p)| (s, fit(&p), p))
            .reduce(|best, c| if c.1 > best.1 { c } else { best })
            .ok_or(TrainError::NoNetworks)
    };
    // The whole network, unless the device folds constants: then it also drops
    // computation whose result is unused, and runs what reaches the output.
    let (mut nearest, mut correlation, on_shots) = best_start(&full)?;
    let folding = folding_factor(&on_shots, labels, &constant);
    let view = if folding.is_some_and(|f| f < FOLDS_BELOW) {
        View::Live
    } else {
        View::Full
    };
    if view == View::Live {
        (nearest, correlation, _) = best_start(&live)?;
    }
    let shot_embedding = match view {
        View::Full => full.clone(),
        View::Live => live.clone(),
    };
    let mut scalings = pretrained.scalings.clone();
    let mut ratios = pretrained.constant_ratios.clone();
    ratios.resize(scalings.len(), None);
    let mut views = pretrained.views.clone();
    views.resize(scalings.len(), View::Full);
    let mut op_counts = pretrained.op_counts.clone();
    op_counts.resize(scalings.len(), None);
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
            op_counts.push(None);
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
    let start = match head {
        Head::Frozen => start.map_network(|m| m.with_head_frozen()),
        Head::Tuned => start,
    };
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
    op_counts[setting] = None;
    let mut tuned = MultiDeviceModel {
        model: fitted.model,
        scalings,
        constant_ratios: ratios,
        views,
        op_counts,
        tokens: pretrained.tokens,
        best_epoch: pretrained.best_epoch,
    };
    // The input-independent shots against the model's own prediction for
    // them: the factor with the least relative error over them.
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
        let ratios: Vec<f64> = constant_shots.iter().map(|&i| labels[i] / raw[i]).collect();
        tuned.constant_ratios[setting] = least_relative_error(ratios);
    }
    Ok((
        tuned,
        Started {
            setting,
            from: nearest,
            view,
            correlation,
            folding,
            head,
            cross_validation: None,
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
    /// Pearson's r between the logs of that setting's predictions for the
    /// shots that read their input and of their measured latencies.
    pub correlation: f64,
    /// [`folding_factor`] of the shots (`None` without both kinds of shot).
    pub folding: Option<f64>,
    /// Whether the head was fine-tuned too.
    pub head: Head,
    /// How each predictor did on held-out shots (`None`: too few shots to
    /// compare; the learned model with a tuned head kept).
    pub cross_validation: Option<CrossValidation>,
}

/// Below this [`folding_factor`], a device is taken to fold constants. On
/// HELP's latency table the two devices that do (pixel3, raspi4) give 0.0005
/// to 0.08 and the others 0.8 to 1.5 (one eyeriss shot: 115).
pub const FOLDS_BELOW: f64 = 0.25;

/// How much faster than predicted a device runs input-independent networks,
/// relative to the networks that read their input: the smallest measured /
/// predicted over the former, divided by the geometric mean of that over the
/// latter. A device that evaluates constant networks at compile time gives a
/// factor far below one. The smallest, because such a device still runs some
/// of them for milliseconds (raspi4: 15% of them above 1 ms), while no
/// device that runs them runs one at a quarter of its predicted time. `None`
/// without shots of both kinds (or a non-positive value).
pub fn folding_factor(predicted: &[f64], measured: &[f64], constant: &[bool]) -> Option<f64> {
    let log_ratios = |of_kind: bool| -> Vec<f64> {
        (0..measured.len())
            .filter(|&i| constant[i] == of_kind)
            .map(|i| (measured[i] / predicted[i]).ln())
            .collect()
    };
    let (constant_logs, reading_logs) = (log_ratios(true), log_ratios(false));
    if constant_logs.is_empty() || reading_logs.is_empty() {
        return None;
    }
    let smallest = constant_logs.iter().copied().fold(f64::INFINITY, f64::min);
    let typical = reading_logs.iter().sum::<f64>() / reading_logs.len() as f64;
    let factor = (smallest - typical).exp();
    (factor.is_finite() && factor > 0.0).then_some(factor)
}

/// The factor `r` minimising the relative error `sum |r * predicted - y| / y`
/// over the measured / predicted `ratios` (`= sum |r - ratio| / ratio`): their
/// median weighted by `1 / ratio`. Input-independent networks span three
/// orders of magnitude on a device that folds constants, and over-predicting
/// one costs more relative error than under-predicting it.
fn least_relative_error(mut ratios: Vec<f64>) -> Option<f64> {
    ratios.retain(|r| r.is_finite() && *r > 0.0);
    ratios.sort_by(f64::total_cmp);
    let total: f64 = ratios.iter().map(|r| 1.0 / r).sum();
    let mut seen = 0.0;
    ratios.into_iter().find(|r| {
        seen += 1.0 / r;
        seen >= total / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_compares_input_independent_shots_with_the_others() {
        // The device runs the others at twice the prediction and the
        // input-independent one at a hundredth of it: a factor of 0.005.
        let predicted = [1.0, 2.0, 4.0, 3.0];
        let measured = [2.0, 4.0, 8.0, 0.03];
        let constant = [false, false, false, true];
        let f = folding_factor(&predicted, &measured, &constant).unwrap();
        assert!((f - 0.005).abs() < 1e-12, "{f}");
        // A device that runs them like any network: about one.
        let measured = [2.0, 4.0, 8.0, 6.0];
        let f = folding_factor(&predicted, &measured, &constant).unwrap();
        assert!((f - 1.0).abs() < 1e-12, "{f}");
        // A folding device that still ran one of two such networks in full:
        // the other one shows the folding.
        let (predicted, measured) = ([1.0, 2.0, 3.0, 3.0], [2.0, 4.0, 6.0, 0.03]);
        let constant = [false, false, true, true];
        let f = folding_factor(&predicted, &measured, &constant).unwrap();
        assert!((f - 0.005).abs() < 1e-12, "{f}");
        // Without shots of both kinds there is no factor.
        assert_eq!(folding_factor(&predicted, &measured, &[false; 4]), None);
        assert_eq!(folding_factor(&predicted, &measured, &[true; 4]), None);
        // A non-positive measurement gives no factor rather than NaN.
        let measured = [2.0, 4.0, 8.0, 0.0];
        assert_eq!(folding_factor(&predicted, &measured, &constant), None);
    }

    #[test]
    fn the_factor_on_constant_networks_minimises_relative_error() {
        assert_eq!(least_relative_error(vec![]), None);
        assert_eq!(least_relative_error(vec![0.3]), Some(0.3));
        // Over-predicting the small one costs 99 (9,900%), under-predicting
        // the large one 0.99: the small ratio wins.
        assert_eq!(least_relative_error(vec![1.0, 0.01]), Some(0.01));
        // Brute force over a grid agrees on a spread sample.
        let ratios = vec![0.002, 0.01, 0.05, 0.3, 0.9];
        let cost = |r: f64| ratios.iter().map(|q| (r - q).abs() / q).sum::<f64>();
        let best = least_relative_error(ratios.clone()).unwrap();
        for i in 1..2000 {
            let r = i as f64 / 2000.0;
            assert!(cost(best) <= cost(r) + 1e-12, "{best} vs {r}");
        }
        // Non-finite and non-positive ratios are ignored.
        assert_eq!(least_relative_error(vec![f64::NAN, -1.0, 0.5]), Some(0.5));
    }
}
