//! One run as a value: its config, data and run directory, and the training
//! of it inside the run directory (config written first, resumable snapshots,
//! the best checkpoint saved as it improves). [`Experiment::run`] (in
//! [`crate::pipeline`]) is data -> tokens -> split -> train -> test report.

use crate::fit::{Selection, Session};
use crate::resume::ResumeStore;
use crate::run_dir::{CONFIG_FILE, MODEL_FILE, TARGET_FILE};
use crate::train::{self, EvalSet, TargetScaling, TrainSet};
use crate::{TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::BadRows;
use model::CellModel;
use std::path::{Path, PathBuf};

/// Everything needed to train and report one run.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub config: TrainingConfig,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub show_progress: bool,
    /// End the session after this epoch; the next run of the same experiment resumes.
    pub stop_after_epoch: Option<usize>,
    /// Stop at a malformed row of the benchmark file, or skip it (counted in the report).
    pub bad_rows: BadRows,
    /// Where tokenised ONNX graphs are cached (latency runs); see [`crate::latency::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
}

impl Experiment {
    /// Writes `config.json`, trains with resumable snapshots in the run
    /// directory and checkpoints each new best model; returns the store so the
    /// caller clears it once the report is written.
    pub(crate) fn train_in_run_dir(
        &self,
        train_set: &TrainSet,
        validation: &EvalSet,
        selection: Selection,
        device: &Device,
    ) -> Result<(train::Trained, ResumeStore), TrainError> {
        let config = &self.config;
        let store = self.prepare_run_dir()?;
        let model_path = self.run_dir.join(MODEL_FILE);
        let target_path = self.run_dir.join(TARGET_FILE);
        // The scaling is a function of the training labels: written once, before the loop.
        let scaling = TargetScaling::for_config(config, &train_set.labels);
        sysio::write_json(&target_path, &scaling)?;
        let mut save_best = |model: &CellModel| {
            model
                .clone()
                .save_file(&model_path)
                .map_err(|e| TrainError::checkpoint(&model_path, e))
        };
        let trained = train::train_cells(
            config,
            train_set,
            validation,
            device,
            selection,
            Session {
                store: Some(&store),
                stop_after_epoch: self.stop_after_epoch,
                show_progress: self.show_progress,
                on_best: Some(&mut save_best),
            },
        )?;
        if let Some(epoch) = trained.fitted.resumed_after {
            eprintln!("resumed an interrupted run after epoch {epoch}");
        }
        Ok((trained, store))
    }
}

impl Experiment {
    /// Creates the run directory, writes `config.json` and `format.json`, and
    /// returns its resume store (cleared when it holds an interrupted run of
    /// another config: start over rather than mix the two).
    pub(crate) fn prepare_run_dir(&self) -> Result<ResumeStore, TrainError> {
        std::fs::create_dir_all(&self.run_dir).map_err(sysio::FileError::io(&self.run_dir))?;
        let store = ResumeStore::new(&self.run_dir);
        let config_path = self.run_dir.join(CONFIG_FILE);
        if store.exists() && !same_config(&config_path, &self.config)? {
            store.clear()?;
        }
        sysio::write_json(&config_path, &self.config)?;
        crate::run_dir::write_format(&self.run_dir)?;
        Ok(store)
    }
}

/// Whether `path` holds exactly `config` (compared as JSON values).
fn same_config(path: &Path, config: &TrainingConfig) -> Result<bool, TrainError> {
    if !path.is_file() {
        return Ok(false);
    }
    // Loaded as a config (fields it predates take their defaults), then
    // compared as JSON; one that no longer loads is another config.
    let Ok(saved) = TrainingConfig::load(path) else {
        return Ok(false);
    };
    let saved = serde_json::to_value(saved).map_err(|source| sysio::FileError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let current = serde_json::to_value(config).map_err(|source| sysio::FileError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(saved == current)
}
