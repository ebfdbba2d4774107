//! Training, evaluation and run directories for narformer models.
//!
//! - [`metrics`]: Kendall's tau-b in O(n log n), Spearman, MAPE, [`metrics::LatencyScores`].
//! - [`config`]: the nested [`TrainingConfig`] and the `paper` / `quick` profiles.
//! - [`batcher`]: pads tokenised graphs into a [`model::GraphBatch`].
//! - [`fit`]: the one training loop (Adam, schedule, validation, checkpoint
//!   [`fit::Selection`], resume via [`resume`], progress, divergence).
//! - [`train`]: the cell recipe as a [`fit::Steps`] adapter, label scaling, prediction.
//! - [`regression`]: the FLOPs / FLOPs + memory-access baselines.
//! - [`experiment`]: one run as a value, trained inside its run directory;
//!   [`Experiment::run`] is data -> tokens -> split -> train -> test report.
//! - [`cells`]: the cell (accuracy) pipeline; [`latency`]: the NNLQP-format
//!   whole-network latency pipeline; [`report`]: what both write to `metrics.json`.
//! - [`loaded`]: a finished run loaded back for inference (cells and ONNX files).
//! - [`nb201_latency`]: NAS-Bench-201 networks' latency on 27 device settings:
//!   per-setting and multi-setting models, few-shot transfer, regression baselines.
//! - [`run_dir`]: `config.json`, `model.bpk`, `metrics.json`, written atomically.

pub mod batcher;
pub mod cells;
pub mod config;
mod error;
pub mod experiment;
pub mod fit;
pub mod graphs;
pub mod latency;
pub mod loaded;
mod losses;
pub mod metrics;
pub mod nb201_latency;
mod pipeline;
pub mod prior;
pub mod regression;
pub mod report;
pub mod resume;
pub mod run_dir;
pub mod schedule;
pub mod train;
pub mod zoo;

#[cfg(test)]
mod test_lock;

pub use config::{
    Benchmark, NetworkOptions, Objective, PRUNING_FACTS_DIM, Profile, TrainingConfig,
};
pub use error::TrainError;
pub use experiment::Experiment;
pub use loaded::{LoadedRun, SplitPart};
pub use report::{Metrics, Report};
