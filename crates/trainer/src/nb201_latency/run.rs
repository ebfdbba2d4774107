//! NAS-Bench-201 latency as a run directory. `narformer train --benchmark
//! nb201-latency` trains the multi-setting model on some or all settings of
//! `latency_help.csv` ([`run`]); [`LatencyRun`] reads it back to predict
//! cells on a named setting; [`transfer`] adds a new device learned from a
//! few measured cells (`narformer transfer`), written as a run like any other.
//!
//! Beside the files of every run directory, `settings.json` lists the model's
//! device settings in the order of its setting embeddings ([`SettingSlot`]).

use super::{
    CrossValidation, FineTuning, Head, MultiDeviceModel, Nb201Networks, OpCountFit, Started,
    Target, TokenSpec, View, fine_tune_cells, train_multi_device,
};
use crate::experiment::Experiment;
use crate::fit::Session;
use crate::metrics::{LatencyScores, kendall_tau_b};
use crate::report::{Metrics, Report};
use crate::run_dir::{CONFIG_FILE, METRICS_FILE, MODEL_FILE, PREDICTIONS_FILE};
use crate::train::TargetScaling;
use crate::{TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use graph_ir::cells::Nb201Cell;
use model::CellModel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const SETTINGS_FILE: &str = "settings.json";

/// One device setting of a run: a row of the model's setting embeddings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingSlot {
    pub name: String,
    /// The batch size its latencies were measured at.
    pub batch_size: usize,
    /// Its target scaling; `None` when the model has not learned it.
    pub scaling: Option<TargetScaling>,
    /// Its factor on input-independent networks
    /// ([`MultiDeviceModel::constant_ratios`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant_ratio: Option<f64>,
    /// The graph of a network it reads.
    #[serde(default)]
    pub view: View,
    /// An additive op-count model that predicts its networks that read their
    /// input (a transferred setting where it fitted the shots better).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_counts: Option<OpCountFit>,
    /// Test scores of a trained setting, or a transferred setting's fit to its shots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<LatencyScores>,
    /// How a transferred setting was learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferRecord>,
}

/// How a setting was learned from a few measurements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRecord {
    /// Where the measurements came from.
    pub shots_file: PathBuf,
    pub shots: usize,
    /// Of them, cells whose output does not depend on the input.
    pub input_independent_shots: usize,
    /// The pretrained setting its embedding started from.
    pub started_from: String,
    /// Pearson's r between the logs of that setting's predictions and the
    /// measured latencies of the shots that read their input ([`Started`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_correlation: Option<f64>,
    /// How much faster than predicted the device ran input-independent shots
    /// ([`super::folding_factor`]); below [`super::FOLDS_BELOW`] the setting
    /// reads networks pruned to what reaches the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folding_factor: Option<f64>,
    /// How each predictor did on held-out shots; the best one predicts
    /// (the op-count model: [`SettingSlot::op_counts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
    /// Whether fine-tuning moved the shared head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    pub tuning: FineTuning,
}

/// A finished `nb201-latency` run, loaded for prediction.
#[derive(Debug, Clone)]
pub struct LatencyRun {
    pub config: TrainingConfig,
    pub settings: Vec<SettingSlot>,
    pub model: MultiDeviceModel,
}

impl LatencyRun {
    pub fn open(run_dir: &Path, device: &Device) -> Result<Self, TrainError> {
        crate::run_dir::check_format(run_dir)?;
        let config = TrainingConfig::load(&run_dir.join(CONFIG_FILE))?;
        config.validate().map_err(TrainError::InvalidConfig)?;
        let settings_path = run_dir.join(SETTINGS_FILE);
        if config.benchmark != crate::Benchmark::Nb201Latency || !settings_path.is_file() {
            return Err(TrainError::run_dir(
                run_dir,
                format!(
                    "not an nb201-latency run (a {} run; nb201-latency runs hold {SETTINGS_FILE})",
                    config.benchmark
                ),
            ));
        }
        let settings: Vec<SettingSlot> = sysio::read_json(&settings_path)?;
        if settings.len() != config.model.devices {
            return Err(TrainError::run_dir(
                &settings_path,
                format!(
                    "{} settings, but the model has {} setting embeddings",
                    settings.len(),
                    config.model.devices
                ),
            ));
        }
        let model_path = run_dir.join(MODEL_FILE);
        let model: CellModel = config
            .model
            .init(device)
            .try_load_file(&model_path)
            .map_err(|e| TrainError::checkpoint(&model_path, e))?;
        let model = MultiDeviceModel {
            model,
            scalings: settings.iter().map(|s| s.scaling).collect(),
            constant_ratios: settings.iter().map(|s| s.constant_ratio).collect(),
            views: settings.iter().map(|s| s.view).collect(),
            op_counts: settings.iter().map(|s| s.op_counts.clone()).collect(),
            tokens: TokenSpec::of(&config)?,
            best_epoch: 0,
        };
        Ok(Self {
            config,
            settings,
            model,
        })
    }

    /// The index of a setting the model has learned; an unknown or untrained
    /// one is an error listing those it knows.
    pub fn setting(&self, name: &str) -> Result<usize, TrainError> {
        self.settings
            .iter()
            .position(|s| s.name == name && s.scaling.is_some())
            .ok_or_else(|| TrainError::UnknownSetting {
                name: name.to_string(),
                known: self.trained_names().join(", "),
            })
    }

    /// Names of the settings the model predicts.
    pub fn trained_names(&self) -> Vec<&str> {
        self.settings
            .iter()
            .filter(|s| s.scaling.is_some())
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Predicted latency (ms) of the whole networks of `cells` on `setting`.
    pub fn predict(
        &self,
        cells: &[Nb201Cell],
        setting: &str,
        device: &Device,
    ) -> Result<Vec<f64>, TrainError> {
        let s = self.setting(setting)?;
        self.model.predict_cells(cells, s, device)
    }

    /// Writes the run to `dir` (config, format, settings, model).
    pub fn write(&self, dir: &Path) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(sysio::FileError::io(dir))?;
        let model_path = dir.join(MODEL_FILE);
        // The checkpoint first: a directory with settings but no model would not load.
        self.model
            .model
            .clone()
            .save_file(&model_path)
            .map_err(|e| TrainError::checkpoint(&model_path, e))?;
        sysio::write_json(&dir.join(SETTINGS_FILE), &self.settings)?;
        sysio::write_json(&dir.join(CONFIG_FILE), &self.config)?;
        crate::run_dir::write_format(dir)?;
        Ok(())
    }
}

/// Trains, checkpoints into the run directory, scores the test networks on
/// every trained setting and writes `metrics.json`, `settings.json` and
/// `test_predictions.csv`.
pub(crate) fn run(experiment: &Experiment, device: &Device) -> Result<Report, TrainError> {
    let config = &experiment.config;
    let table = datasets::nb201_latency::load(&experiment.data_dir)?;
    let data = Nb201Networks::new(table);
    let network = config
        .network
        .as_ref()
        .ok_or(TrainError::NoNetworkSection)?;
    let names: Vec<String> = if network.settings.is_empty() {
        data.table.settings.iter().map(|s| s.name.clone()).collect()
    } else {
        network.settings.clone()
    };
    let settings: Vec<usize> = names
        .iter()
        .map(|n| data.table.setting(n))
        .collect::<Result<_, _>>()?;
    let parts = data
        .table
        .split(config.train_size, config.validation_size, config.seed)?;
    let store = experiment.prepare_run_dir()?;
    let model_path = experiment.run_dir.join(MODEL_FILE);
    let mut save_best = |model: &CellModel| {
        model
            .clone()
            .save_file(&model_path)
            .map_err(|e| TrainError::checkpoint(&model_path, e))
    };
    let trained = train_multi_device(
        &data,
        &settings,
        &parts,
        config,
        device,
        Session {
            store: Some(&store),
            stop_after_epoch: experiment.stop_after_epoch,
            show_progress: experiment.show_progress,
            on_best: Some(&mut save_best),
        },
    )?;
    let started = Instant::now();
    let predictions = trained
        .model
        .predict(&data, &parts.test, &settings, device)?;
    let eval_seconds = started.elapsed().as_secs_f64();
    let mut slots: Vec<SettingSlot> = data
        .table
        .settings
        .iter()
        .enumerate()
        .map(|(i, s)| SettingSlot {
            name: s.name.clone(),
            batch_size: s.batch_size,
            scaling: trained.model.scalings[i],
            constant_ratio: None,
            view: View::Full,
            op_counts: None,
            scores: None,
            transfer: None,
        })
        .collect();
    let mut table = String::from("arch,setting,label,prediction\n");
    let mut per_setting = Vec::new();
    for (&s, predicted) in settings.iter().zip(&predictions) {
        let labels = data.labels(&parts.test, s);
        for ((&row, label), p) in parts.test.iter().zip(&labels).zip(predicted) {
            let arch = data.table.cells[row].1;
            table.push_str(&format!("{arch},{},{label},{p}\n", slots[s].name));
        }
        let scores = LatencyScores::of(predicted, &labels);
        per_setting.push((
            scores,
            kendall_tau_b(predicted, &labels).unwrap_or(f64::NAN),
        ));
        slots[s].scores = Some(scores);
    }
    sysio::write_atomic(&experiment.run_dir.join(PREDICTIONS_FILE), table.as_bytes())?;
    sysio::write_json(&experiment.run_dir.join(SETTINGS_FILE), &slots)?;
    let mean = |f: &dyn Fn(&(LatencyScores, f64)) -> f64| {
        per_setting.iter().map(f).sum::<f64>() / per_setting.len().max(1) as f64
    };
    let report = Report {
        benchmark: config.benchmark,
        model: config.model.architecture,
        train_size: parts.train.len(),
        seed: config.seed,
        profile: config.profile,
        n_train: parts.train.len(),
        n_val: parts.validation.len(),
        n_test: parts.test.len(),
        metrics: Metrics {
            kendall_tau: mean(&|p| p.1),
            validation_kendall_tau: f64::NAN,
            best_epoch: trained.best_epoch,
            mape: Some(mean(&|p| p.0.mape)),
            acc10: Some(mean(&|p| p.0.acc10)),
            acc5: Some(mean(&|p| p.0.acc5)),
            validation_mape: trained.validation_mape,
        },
        train_seconds: trained.train_seconds,
        eval_seconds,
        parameters: trained.model.model.num_params(),
        skipped_rows: 0,
        unknown_ops: Default::default(),
        run_dir: experiment.run_dir.clone(),
        history: trained.history,
    };
    sysio::write_json(&experiment.run_dir.join(METRICS_FILE), &report)?;
    store.clear()?;
    Ok(report)
}

/// A new setting learned from `shots` (cells and their latency, ms) on top
/// of `pretrained`: the returned run predicts it as `name` (and nothing else:
/// the fine-tuned head is the new setting's), and says where it started.
pub fn transfer(
    pretrained: &LatencyRun,
    shots: &[datasets::shots::Shot],
    shots_file: &Path,
    name: &str,
    batch_size: usize,
    tuning: FineTuning,
    device: &Device,
) -> Result<(LatencyRun, Started), TrainError> {
    // A setting of the table the run was not trained on keeps its slot; a
    // new name gets one more.
    let target = match pretrained.settings.iter().position(|s| s.name == name) {
        Some(i) if pretrained.settings[i].scaling.is_some() => {
            return Err(TrainError::InvalidConfig(format!(
                "the run already has a setting named {name:?}: choose another --name"
            )));
        }
        Some(i) => Target::Existing(i),
        None => Target::New,
    };
    let cells: Vec<Nb201Cell> = shots.iter().map(|s| s.cell).collect();
    let labels: Vec<f64> = shots.iter().map(|s| s.latency_ms).collect();
    let (model, started) =
        fine_tune_cells(&pretrained.model, &cells, &labels, target, tuning, device)?;
    let mut config = pretrained.config.clone();
    let mut settings = pretrained.settings.clone();
    if target == Target::New {
        config.model.devices += 1;
        settings.push(SettingSlot {
            name: name.to_string(),
            batch_size,
            scaling: None,
            constant_ratio: None,
            view: View::Full,
            op_counts: None,
            scores: None,
            transfer: None,
        });
    }
    // Fine-tuning moved the shared head: the other settings' predictions
    // would no longer be what the pretrained run tested, so this run predicts
    // the new setting only (the pretrained run keeps predicting the others).
    if let Some(network) = config.network.as_mut() {
        network.settings = vec![name.to_string()];
    }
    let mut model = model;
    for (i, slot) in settings.iter_mut().enumerate() {
        if i != started.setting {
            slot.scaling = None;
            slot.constant_ratio = None;
            slot.view = View::Full;
            slot.scores = None;
            model.scalings[i] = None;
            model.constant_ratios[i] = None;
        }
    }
    let slot = &mut settings[started.setting];
    slot.batch_size = batch_size;
    slot.scaling = model.scalings[started.setting];
    slot.constant_ratio = model.constant_ratios[started.setting];
    slot.view = started.view;
    slot.op_counts = model.op_counts[started.setting].clone();
    slot.transfer = Some(TransferRecord {
        shots_file: shots_file.to_path_buf(),
        shots: shots.len(),
        input_independent_shots: cells.iter().filter(|c| !c.reads_input()).count(),
        started_from: pretrained.settings[started.from].name.clone(),
        start_correlation: Some(started.correlation),
        folding_factor: started.folding,
        cross_validation: started.cross_validation,
        head: Some(started.head),
        tuning,
    });
    let mut run = LatencyRun {
        config,
        settings,
        model,
    };
    let fit = run.predict(&cells, name, device)?;
    run.settings[started.setting].scores = Some(LatencyScores::of(&fit, &labels));
    Ok((run, started))
}
