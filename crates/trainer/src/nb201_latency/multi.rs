//! The multi-setting latency model of the NAS-Bench-201 table: one encoder
//! pass per network, a learned embedding per device setting
//! ([`MultiDeviceModel`], trained on (network, setting) pairs), and few-shot
//! transfer to a setting left out of pretraining ([`fine_tune`]).

use super::{Nb201Networks, TokenSpec, cell_tokens, log_scaling};
use crate::batcher::{Flat, flat_batch};
use crate::fit::{LearningRate, LoopConfig, Selection, Session, Steps, Validation, fit};
use crate::metrics::{mape, spearman};
use crate::train::TargetScaling;
use crate::{Objective, TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use datasets::split::Split;
use graph_ir::cells::Nb201Cell;
use model::CellModel;
use model::fused::FusedV2Network;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenizer::GraphTokens;

/// A model for many settings: the encoder reads each network once at batch
/// size 1 and a learned embedding per setting (which carries the setting's
/// batch size) joins the head.
#[derive(Debug, Clone)]
pub struct MultiDeviceModel {
    /// In inference mode.
    pub model: CellModel,
    /// Per setting (`None`: not trained on).
    pub scalings: Vec<Option<TargetScaling>>,
    pub tokens: TokenSpec,
    pub best_epoch: usize,
}

/// Embeddings `[networks, 2 * hidden]` of distinct networks (batch-1 tokens),
/// through the fused path (the embeddings are constants here: scored, or
/// frozen under a fine-tuned head).
fn embed(
    data: &Nb201Networks,
    model: &CellModel,
    networks: &[usize],
    spec: TokenSpec,
    device: &Device,
) -> Result<Tensor<2>, TrainError> {
    let cells: Vec<&Nb201Cell> = networks.iter().map(|&n| &data.cells[n]).collect();
    embed_cells(&cells, model, spec, device)
}

/// Embeddings `[cells, 2 * hidden]` of the whole networks of `cells`.
fn embed_cells(
    cells: &[&Nb201Cell],
    model: &CellModel,
    spec: TokenSpec,
    device: &Device,
) -> Result<Tensor<2>, TrainError> {
    let network = network_model(model)?;
    let fused = FusedV2Network::of(network);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut parts = Vec::new();
    for chunk in cells.chunks(128) {
        let tokens = cell_tokens(chunk, 1, spec);
        let graphs: Vec<&GraphTokens> = tokens.iter().collect();
        let flat = Flat::of(&graphs);
        let rows = fused
            .as_ref()
            .and_then(|fused| fused.embed(flat.view(), threads));
        parts.push(match rows {
            Some(rows) => {
                let width = rows.len() / graphs.len().max(1);
                Tensor::from_data(TensorData::new(rows, [graphs.len(), width]), device)
            }
            None => network.embed(&flat_batch(&graphs, device)),
        });
    }
    if parts.is_empty() {
        return Err(TrainError::NoNetworks);
    }
    Ok(Tensor::cat(parts, 0))
}

fn network_model(model: &CellModel) -> Result<&model::V2NetworkModel, TrainError> {
    model.network().ok_or(TrainError::NotANetworkModel)
}

fn ints(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

fn floats(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

fn to_vec(t: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    Ok(t.into_data().convert::<f32>().try_to_vec::<f32>()?)
}

/// Rows read by a model's (frozen) encoder: one embedding per distinct network.
#[derive(Debug, Clone)]
pub struct EmbeddedRows {
    /// `[networks, 2 * hidden]`
    pub embedding: Tensor<2>,
    /// Each row's network among them.
    pub at: Vec<usize>,
}

impl MultiDeviceModel {
    /// Predicted latency (ms) of `rows` on each of `settings`: `[settings][rows]`.
    pub fn predict(
        &self,
        data: &Nb201Networks,
        rows: &[usize],
        settings: &[usize],
        device: &Device,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        let embedded = self.embed_rows(data, rows, device)?;
        self.predict_embedded(&embedded, settings, device)
    }

    /// Runs the encoder once per distinct network of `rows`.
    pub fn embed_rows(
        &self,
        data: &Nb201Networks,
        rows: &[usize],
        device: &Device,
    ) -> Result<EmbeddedRows, TrainError> {
        let (networks, at) = data.distinct(rows);
        Ok(EmbeddedRows {
            embedding: embed(data, &self.model, &networks, self.tokens, device)?,
            at,
        })
    }

    /// Predicted latency (ms) of embedded rows on each of `settings`: `[settings][rows]`.
    pub fn predict_embedded(
        &self,
        rows: &EmbeddedRows,
        settings: &[usize],
        device: &Device,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        let (embedding, at) = (&rows.embedding, &rows.at);
        let network = network_model(&self.model)?;
        let n = embedding.dims()[0];
        let graphs: Vec<i64> = (0..n as i64).collect();
        settings
            .iter()
            .map(|&s| {
                let scaling = self
                    .scalings
                    .get(s)
                    .copied()
                    .flatten()
                    .ok_or(TrainError::UntrainedSetting(s))?;
                let out = network.predict_pairs(
                    embedding.clone(),
                    ints(graphs.clone(), device),
                    ints(vec![s as i64; n], device),
                );
                let per_network = to_vec(out)?;
                Ok(at
                    .iter()
                    .map(|&i| scaling.to_label(per_network[i]))
                    .collect())
            })
            .collect()
    }
}

/// (network, setting) pairs: every batch of training networks is scored on
/// every setting; validation is the MAPE averaged over the settings.
struct PairSteps<'a> {
    data: &'a Nb201Networks,
    settings: &'a [usize],
    scalings: &'a [Option<TargetScaling>],
    tokens: TokenSpec,
    /// Batch-1 tokens of the distinct training networks.
    train_tokens: Vec<GraphTokens>,
    /// Training row -> its network among `train_tokens`.
    train_at: Vec<usize>,
    /// `targets[row][k]` for `settings[k]`.
    targets: Vec<Vec<f32>>,
    validation_rows: &'a [usize],
    validation_networks: Vec<usize>,
    validation_at: Vec<usize>,
}

impl Steps for PairSteps<'_> {
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
        let graphs: Vec<&GraphTokens> = batch
            .iter()
            .map(|&i| &self.train_tokens[self.train_at[i]])
            .collect();
        let network = network_model(model)?;
        let embedding = network.embed(&flat_batch(&graphs, device)); // [b, 2h]
        let pairs = batch.len() * self.settings.len();
        let mut pair_graph = Vec::with_capacity(pairs);
        let mut pair_setting = Vec::with_capacity(pairs);
        let mut y = Vec::with_capacity(pairs);
        for (k, &i) in batch.iter().enumerate() {
            for (j, &s) in self.settings.iter().enumerate() {
                pair_graph.push(k as i64);
                pair_setting.push(s as i64);
                y.push(self.targets[i][j]);
            }
        }
        let pred = network.predict_pairs(
            embedding,
            ints(pair_graph, device),
            ints(pair_setting, device),
        ); // [pairs]
        Ok((pred - floats(y, device)).powf_scalar(2.0).mean())
    }

    fn validate(&self, model: &CellModel, device: &Device) -> Result<Validation, TrainError> {
        let candidate = MultiDeviceModel {
            model: model.clone(),
            scalings: self.scalings.to_vec(),
            tokens: self.tokens,
            best_epoch: 0,
        };
        let embedded = EmbeddedRows {
            embedding: embed(
                self.data,
                model,
                &self.validation_networks,
                self.tokens,
                device,
            )?,
            at: self.validation_at.clone(),
        };
        let predictions = candidate.predict_embedded(&embedded, self.settings, device)?;
        let mean_mape = self
            .settings
            .iter()
            .zip(&predictions)
            .map(|(&s, p)| mape(p, &self.data.labels(self.validation_rows, s)))
            .sum::<f64>()
            / self.settings.len().max(1) as f64;
        Ok(Validation {
            kendall_tau: None,
            mape: Some(mean_mape),
        })
    }
}

/// Trains one model on `settings` at once: every batch of networks is scored
/// on every setting, and the loss is the MSE over all (network, setting) pairs
/// of standardised log latency (standardised per setting). The checkpoint is
/// the epoch with the lowest validation MAPE averaged over the settings.
pub fn train_multi_device(
    data: &Nb201Networks,
    settings: &[usize],
    parts: &Split,
    config: &TrainingConfig,
    device: &Device,
    session: Session,
) -> Result<MultiDeviceModel, TrainError> {
    config.validate().map_err(TrainError::InvalidConfig)?;
    if config.objective != Objective::LogMse {
        return Err(TrainError::InvalidConfig(
            "multi-device training uses objective log_mse".into(),
        ));
    }
    let spec = TokenSpec::of(config)?;
    let n_settings = data.table.settings.len();
    if config.model.devices != n_settings {
        return Err(TrainError::InvalidConfig(format!(
            "model.devices is {} but the table has {n_settings} settings",
            config.model.devices
        )));
    }
    let mut scalings = vec![None; n_settings];
    for &s in settings {
        scalings[s] = Some(data.log_scaling(&parts.train, s));
    }
    let targets: Vec<Vec<f32>> = parts
        .train
        .iter()
        .map(|&r| {
            settings
                .iter()
                .map(|&s| scalings[s].map_or(0.0, |sc| sc.to_target(data.table.latency(r, s))))
                .collect()
        })
        .collect();
    let (train_networks, train_at) = data.distinct(&parts.train);
    let (validation_networks, validation_at) = data.distinct(&parts.validation);
    let steps = PairSteps {
        data,
        settings,
        scalings: &scalings,
        tokens: spec,
        train_tokens: data.tokens(&train_networks, 1, spec),
        train_at,
        targets,
        validation_rows: &parts.validation,
        validation_networks,
        validation_at,
    };
    let autodiff = device.clone().autodiff();
    autodiff.seed(config.seed);
    let model = config.model.init(&autodiff);
    let fitted = fit(
        &steps,
        model,
        &LoopConfig::of(config, Selection::MinimiseMape),
        device,
        session,
    )?;
    Ok(MultiDeviceModel {
        model: fitted.model,
        scalings,
        tokens: spec,
        best_epoch: fitted.best_epoch,
    })
}

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
/// tuned model, the setting's index in it and the pretrained setting it
/// started from.
pub fn fine_tune_cells(
    pretrained: &MultiDeviceModel,
    shots: &[Nb201Cell],
    labels: &[f64],
    target: Target,
    tuning: FineTuning,
    device: &Device,
) -> Result<(MultiDeviceModel, Started), TrainError> {
    let scaling = log_scaling(shots, labels);
    let cells: Vec<&Nb201Cell> = shots.iter().collect();
    let shot_embedding = embed_cells(&cells, &pretrained.model, pretrained.tokens, device)?;
    let shot_at: Vec<usize> = (0..shots.len()).collect();
    // Start from the pretrained setting whose predictions order the shots best:
    // the new setting's own embedding row was never trained.
    let trained: Vec<usize> = (0..pretrained.scalings.len())
        .filter(|&s| pretrained.scalings[s].is_some())
        .collect();
    let on_shots = pretrained.predict_embedded(
        &EmbeddedRows {
            embedding: shot_embedding.clone(),
            at: shot_at.clone(),
        },
        &trained,
        device,
    )?;
    let agreement = |p: &Vec<f64>| spearman(p, labels).unwrap_or(-1.0);
    let (nearest, rho) = trained
        .iter()
        .zip(&on_shots)
        .map(|(&s, p)| (s, agreement(p)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or(TrainError::NoNetworks)?;
    let mut scalings = pretrained.scalings.clone();
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
        embedding: Tensor::<2>::from_data(shot_embedding.into_data(), &autodiff),
        graphs: shot_at.iter().map(|&i| i as i64).collect(),
        setting,
        targets: labels.iter().map(|&v| scaling.to_target(v)).collect(),
    };
    // Full-batch steps in shot order at a constant rate; the last step is kept.
    let config = LoopConfig {
        epochs: tuning.steps,
        batch_size: shots.len().max(1),
        learning_rate: LearningRate::Constant(tuning.learning_rate),
        eval_every: tuning.steps.max(1),
        seed: tuning.seed,
        shuffle: false,
        selection: Selection::LastStep,
    };
    let fitted = fit(&steps, model, &config, device, Session::in_memory(false))?;
    scalings[setting] = Some(scaling);
    Ok((
        MultiDeviceModel {
            model: fitted.model,
            scalings,
            tokens: pretrained.tokens,
            best_epoch: pretrained.best_epoch,
        },
        Started {
            setting,
            from: nearest,
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
    /// That setting's Spearman rho on the shots.
    pub spearman: f64,
}
