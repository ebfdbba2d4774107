//! Resumable training: `<run dir>/resume/` holds the training model, the best
//! model so far, the optimiser state and [`ResumeState`], replaced as a whole
//! (written to `resume.tmp/`, then renamed) after every validation pass, so an
//! interrupted run continues from its last snapshot.

use crate::TrainError;
use crate::report::EpochLog;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use model::CellModel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where an interrupted run's snapshots live.
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
    /// The selection score of the best model ([`crate::fit::Selection::score`]).
    /// Snapshots written before the field was renamed carry the same value
    /// under its old name.
    #[serde(alias = "best_validation_tau")]
    pub best_score: f64,
    pub history: Vec<EpochLog>,
    /// Training seconds spent in all sessions up to this snapshot.
    pub train_seconds: f64,
}

const RESUME_MODEL: &str = "model.bpk";
const RESUME_BEST: &str = "best.bpk";
const RESUME_OPTIMIZER: &str = "optimizer.bpk";
const RESUME_STATE: &str = "state.json";

/// A snapshot read back: the models are loaded into the caller's structures.
pub(crate) struct Snapshot {
    pub state: ResumeState,
    /// The training model (on the autodiff device).
    pub model: CellModel,
    /// The best model so far (inference mode).
    pub best: CellModel,
    pub optimizer: ModuleOptimizer,
}

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

    pub(crate) fn save(
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
        sysio::write_json(&staging.join(RESUME_STATE), state)?;
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

    /// The latest snapshot, its models loaded into `model` (training) and
    /// `inference` (the best model's structure), or `None` when there is none.
    pub(crate) fn load(
        &self,
        model: CellModel,
        inference: CellModel,
        optimizer: ModuleOptimizer,
    ) -> Result<Option<Snapshot>, TrainError> {
        let Some(dir) = self.latest() else {
            return Ok(None);
        };
        let state: ResumeState = sysio::read_json(&dir.join(RESUME_STATE))?;
        let model_path = dir.join(RESUME_MODEL);
        let model = model
            .try_load_file(&model_path)
            .map_err(|e| TrainError::run_dir(&model_path, e))?;
        let optim_path = dir.join(RESUME_OPTIMIZER);
        let optimizer = optimizer
            .load(&optim_path)
            .map_err(|e| TrainError::run_dir(&optim_path, e))?;
        let best_path = dir.join(RESUME_BEST);
        let best = inference
            .try_load_file(&best_path)
            .map_err(|e| TrainError::run_dir(&best_path, e))?;
        Ok(Some(Snapshot {
            state,
            model,
            best,
            optimizer,
        }))
    }

    /// The snapshot directory (for errors about its contents).
    pub(crate) fn latest_dir(&self) -> PathBuf {
        self.latest().unwrap_or_else(|| self.dir.clone())
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
