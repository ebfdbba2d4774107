//! Training, evaluation and run directories for narformer models.
//!
//! - [`metrics`]: Kendall's tau-b in O(n log n).
//! - [`config`]: the nested [`TrainingConfig`] and the `paper` / `quick` profiles.
//! - [`batcher`]: pads tokenised graphs into a [`model::GraphBatch`].
//! - [`train`]: the SPEC section 5 recipe for cell models.
//! - [`experiment`]: data -> tokens -> split -> train -> test report, as one call.
//! - [`latency`]: whole-network latency runs on NNLQP-format datasets, and ONNX prediction.
//! - [`nb201_latency`]: NAS-Bench-201 networks' latency on 27 device settings:
//!   per-setting and multi-setting models, few-shot transfer, regression baselines.
//! - [`run_dir`]: `config.json`, `model.bpk`, `metrics.json`, written atomically.

pub mod batcher;
pub mod config;
mod error;
pub mod experiment;
pub mod latency;
pub mod metrics;
pub mod nb201_latency;
pub mod run_dir;
pub mod schedule;
pub mod train;
pub mod zoo;

#[cfg(test)]
mod test_lock;

pub use config::{Benchmark, NetworkOptions, Objective, Profile, TrainingConfig};
pub use error::TrainError;
pub use experiment::{Experiment, LoadedRun, Report, SplitPart};
