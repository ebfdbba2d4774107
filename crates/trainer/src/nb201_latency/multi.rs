//! The multi-setting latency model of the NAS-Bench-201 table: one encoder
//! pass per network, a learned embedding per device setting
//! ([`MultiDeviceModel`], trained on (network, setting) pairs), and few-shot
//! transfer to a setting left out of pretraining (in `transfer`).

use super::{Nb201Networks, OpCountFit, TokenSpec, View, cell_tokens};
use crate::batcher::{Flat, flat_batch};
use crate::fit::{LoopConfig, Selection, Session, Steps, Validation, fit};
use crate::metrics::mape;
use crate::train::TargetScaling;
use crate::{Objective, TrainError, TrainingConfig};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use datasets::split::Split;
use graph_ir::cells::Nb201Cell;
use model::CellModel;
use model::fused::FusedV2Network;
use rand_chacha::ChaCha8Rng;
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
    /// Per setting: the factor on its predictions for networks whose output
    /// does not depend on the input, learned from such shots in transfer (a
    /// device that folds constants runs them in almost no time); `None`: 1.
    pub constant_ratios: Vec<Option<f64>>,
    /// Per setting: the graph of a network it reads (absent: [`View::Full`]).
    pub views: Vec<View>,
    /// Per setting: an additive op-count model that predicts the networks
    /// reading their input instead of the learned one (transfer keeps it when
    /// it predicts the shots better; absent: the learned model predicts).
    pub op_counts: Vec<Option<OpCountFit>>,
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
    embed_cells(&cells, model, spec, View::Full, device)
}

/// Embeddings `[cells, 2 * hidden]` of the whole networks of `cells` in `view`.
pub(super) fn embed_cells(
    cells: &[&Nb201Cell],
    model: &CellModel,
    spec: TokenSpec,
    view: View,
    device: &Device,
) -> Result<Tensor<2>, TrainError> {
    let network = network_model(model)?;
    let fused = FusedV2Network::of(network);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut parts = Vec::new();
    for chunk in cells.chunks(128) {
        let tokens = cell_tokens(chunk, 1, spec, view);
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

pub(super) fn network_model(model: &CellModel) -> Result<&model::V2NetworkModel, TrainError> {
    model.network().ok_or(TrainError::NotANetworkModel)
}

pub(super) fn ints(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

pub(super) fn floats(values: Vec<f32>, device: &Device) -> Tensor<1> {
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
    /// Per row: its network's output does not depend on the input.
    pub constant: Vec<bool>,
    /// The same networks in [`View::Live`], for settings that read it.
    pub live: Option<Tensor<2>>,
    /// The networks' cells, one per row of `embedding` (for op-count models).
    pub cells: Vec<Nb201Cell>,
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
        let embedded = self.embed_rows(data, rows, false, device)?;
        self.predict_embedded(&embedded, settings, device)
    }

    /// Predicted latency (ms) of the whole networks of `cells` on `setting`.
    pub fn predict_cells(
        &self,
        cells: &[Nb201Cell],
        setting: usize,
        device: &Device,
    ) -> Result<Vec<f64>, TrainError> {
        let refs: Vec<&Nb201Cell> = cells.iter().collect();
        let embed = |view| embed_cells(&refs, &self.model, self.tokens, view, device);
        let live = (self.views.get(setting) == Some(&View::Live))
            .then(|| embed(View::Live))
            .transpose()?;
        let rows = EmbeddedRows {
            embedding: embed(View::Full)?,
            at: (0..cells.len()).collect(),
            constant: cells.iter().map(|c| !c.reads_input()).collect(),
            live,
            cells: cells.to_vec(),
        };
        Ok(self
            .predict_embedded(&rows, &[setting], device)?
            .pop()
            .unwrap_or_default())
    }

    /// Runs the encoder once per distinct network of `rows` (twice, for the
    /// live view too, if a setting reads it or `with_live`).
    pub fn embed_rows(
        &self,
        data: &Nb201Networks,
        rows: &[usize],
        with_live: bool,
        device: &Device,
    ) -> Result<EmbeddedRows, TrainError> {
        let (networks, at) = data.distinct(rows);
        let cells: Vec<&Nb201Cell> = networks.iter().map(|&n| &data.cells[n]).collect();
        let live = (self.views.contains(&View::Live) || with_live)
            .then(|| embed_cells(&cells, &self.model, self.tokens, View::Live, device))
            .transpose()?;
        Ok(EmbeddedRows {
            embedding: embed_cells(&cells, &self.model, self.tokens, View::Full, device)?,
            live,
            cells: cells.iter().map(|&&c| c).collect(),
            constant: at
                .iter()
                .map(|&i| !data.cells[networks[i]].reads_input())
                .collect(),
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
        let at = &rows.at;
        let network = network_model(&self.model)?;
        let n = rows.embedding.dims()[0];
        let graphs: Vec<i64> = (0..n as i64).collect();
        settings
            .iter()
            .map(|&s| {
                let embedding = match self.views.get(s).copied().unwrap_or_default() {
                    View::Full => &rows.embedding,
                    View::Live => rows.live.as_ref().ok_or(TrainError::NoLiveView(s))?,
                };
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
                let ratio = self
                    .constant_ratios
                    .get(s)
                    .copied()
                    .flatten()
                    .unwrap_or(1.0);
                let additive = self.op_counts.get(s).and_then(Option::as_ref);
                Ok(at
                    .iter()
                    .zip(&rows.constant)
                    .map(|(&i, &constant)| match additive {
                        Some(fit) if !constant || fit.covers_constant_networks() => {
                            fit.predict(&rows.cells[i])
                        }
                        _ if constant => scaling.to_label(per_network[i]) * ratio,
                        _ => scaling.to_label(per_network[i]),
                    })
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
            constant_ratios: Vec::new(),
            views: Vec::new(),
            op_counts: Vec::new(),
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
            constant: self
                .validation_at
                .iter()
                .map(|&i| !self.data.cells[self.validation_networks[i]].reads_input())
                .collect(),
            cells: self
                .validation_networks
                .iter()
                .map(|&n| self.data.cells[n])
                .collect(),
            at: self.validation_at.clone(),
            live: None,
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
) -> Result<TrainedMulti, TrainError> {
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
        scalings[s] = Some(TargetScaling::fit(
            Objective::LogMse,
            &data.labels(&parts.train, s),
        ));
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
    Ok(TrainedMulti {
        model: MultiDeviceModel {
            model: fitted.model,
            scalings,
            constant_ratios: vec![None; n_settings],
            views: vec![View::Full; n_settings],
            op_counts: vec![None; n_settings],
            tokens: spec,
            best_epoch: fitted.best_epoch,
        },
        best_epoch: fitted.best_epoch,
        validation_mape: fitted.best.mape,
        train_seconds: fitted.train_seconds,
        history: fitted.history,
    })
}

/// A trained multi-setting model and how its training went.
#[derive(Debug, Clone)]
pub struct TrainedMulti {
    pub model: MultiDeviceModel,
    pub best_epoch: usize,
    /// Validation MAPE averaged over the settings, at the chosen epoch.
    pub validation_mape: Option<f64>,
    /// Seconds of training, summed over resumed sessions.
    pub train_seconds: f64,
    pub history: Vec<crate::report::EpochLog>,
}
