//! What a finished run writes to `metrics.json` (and `--report`).

use crate::{Benchmark, Profile};
use model::Architecture;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// Kendall's tau-b on the test split.
    pub kendall_tau: f64,
    pub validation_kendall_tau: f64,
    pub best_epoch: usize,
    /// Latency runs: test MAPE (%), and the shares of test networks within 10% and 5%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mape: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc5: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mape: Option<f64>,
}

/// What a run writes to `metrics.json` (and `--report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub benchmark: Benchmark,
    pub model: Architecture,
    pub train_size: usize,
    pub seed: u64,
    pub profile: Profile,
    pub n_train: usize,
    pub n_val: usize,
    pub n_test: usize,
    pub metrics: Metrics,
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub parameters: usize,
    /// Malformed rows of the benchmark file left out (`--skip-bad`).
    #[serde(default)]
    pub skipped_rows: usize,
    /// Latency runs: ops outside the tokenizer's vocabulary, with node counts.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unknown_ops: std::collections::BTreeMap<String, usize>,
    pub run_dir: PathBuf,
    pub history: Vec<EpochLog>,
}

impl Report {
    /// One line: the test score (MAPE and Acc(10%)/Acc(5%) for latency runs,
    /// Kendall tau otherwise), its validation counterpart and the training time.
    pub fn summary(&self) -> String {
        let m = &self.metrics;
        match (m.mape, m.acc10, m.acc5) {
            (Some(mape), Some(acc10), Some(acc5)) => format!(
                "{} {} seed {} ({}): test MAPE {mape:.2}%, Acc(10%) {:.1}%, Acc(5%) {:.1}% on {} networks (validation MAPE {:.2}%, best epoch {}), {:.0} s training",
                self.model,
                self.benchmark,
                self.seed,
                self.profile,
                100.0 * acc10,
                100.0 * acc5,
                self.n_test,
                m.validation_mape.unwrap_or(f64::NAN),
                m.best_epoch,
                self.train_seconds
            ),
            _ => format!(
                "{} {} @{} seed {} ({}): test Kendall tau {:.4} on {} cells (validation {:.4}, best epoch {}), {:.0} s training",
                self.model,
                self.benchmark,
                self.train_size,
                self.seed,
                self.profile,
                m.kendall_tau,
                self.n_test,
                m.validation_kendall_tau,
                m.best_epoch,
                self.train_seconds
            ),
        }
    }
}

/// One epoch of a run's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_kendall_tau: Option<f64>,
    /// Latency runs: validation MAPE (%), which picks their checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mape: Option<f64>,
}
