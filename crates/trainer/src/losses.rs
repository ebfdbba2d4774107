//! The cell training loss (NAR-Former V2, section 3.4; reference
//! `predictor/main.py`): the objective, the pairwise-difference term and the
//! consistency term with the relabelled twin, on Burn tensors for autodiff
//! and on ready predictions for the hand-written steps.

use crate::batcher::forward;
use crate::{Objective, TrainingConfig};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use model::CellModel;
use tokenizer::GraphTokens;

/// One batch's training loss (reference `predictor/main.py`): the objective on the `b` graphs,
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

/// [`batch_loss`] on ready predictions (`[b]`, then the twins' `[b]` when
/// the consistency term is weighted), and its gradient with respect to each
/// prediction: the loss end of the hand-written training step. The sign of
/// an absolute value's 0 is 0, as in Burn's autodiff.
pub fn loss_and_prediction_grads(
    config: &TrainingConfig,
    predictions: &[f32],
    targets: &[f32],
    perm: &[i64],
) -> (f32, Vec<f32>) {
    let b = targets.len();
    let mean = 1.0 / b as f32;
    let mut grads = vec![0.0f32; predictions.len()];
    let (pred, twins) = predictions.split_at(b);
    let mut main = 0.0f32;
    for ((p, y), g) in pred.iter().zip(targets).zip(&mut grads) {
        let (term, slope) = match config.objective {
            Objective::RatioMse => {
                let r = p / y - 1.0;
                (r * r, 2.0 * r / y)
            }
            Objective::StandardizedMse | Objective::LogErrorMse | Objective::LogMse => {
                let r = p - y;
                (r * r, 2.0 * r)
            }
        };
        main += term;
        *g += slope * mean;
    }
    let sign = |v: f32| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let pairwise_weight = config.pairwise_weight as f32;
    let mut pairwise = 0.0f32;
    for (i, &j) in perm.iter().enumerate() {
        let j = j as usize;
        let r = (pred[i] - pred[j]) - (targets[i] - targets[j]);
        pairwise += r.abs();
        let slope = sign(r) * pairwise_weight * mean;
        grads[i] += slope;
        grads[j] -= slope;
    }
    let mut loss = main * mean + pairwise * mean * pairwise_weight;
    if !twins.is_empty() {
        let weight = config.consistency_weight as f32;
        let mut consistency = 0.0f32;
        for (i, (t, p)) in twins.iter().zip(pred).enumerate() {
            consistency += (t - p).abs();
            let slope = sign(t - p) * weight * mean;
            grads[b + i] += slope;
            grads[i] -= slope;
        }
        loss += consistency * mean * weight;
    }
    (loss, grads)
}
