//! [`Experiment::run`]: the pipeline of the run's benchmark, cells
//! ([`crate::cells`]) or NNLQP-format networks ([`crate::latency`]). Kept
//! apart from [`crate::experiment`] so that the pipelines depend on the run
//! type and not the other way round.

use crate::experiment::Experiment;
use crate::report::Report;
use crate::{TrainError, cells, latency};
use burn::prelude::*;

impl Experiment {
    /// Trains, checkpoints into `run_dir`, scores the test split and writes `metrics.json`.
    pub fn run(&self, device: &Device) -> Result<Report, TrainError> {
        self.config.validate().map_err(TrainError::InvalidConfig)?;
        if self.config.benchmark == crate::Benchmark::Nb201Latency {
            crate::nb201_latency::run(self, device)
        } else if self.config.benchmark.is_latency() {
            latency::run(self, device)
        } else {
            cells::run(self, device)
        }
    }
}
