//! The NAS-Bench-201 latency table: 27 device settings, V2 per setting, one
//! V2 and one GNN for every setting, the FLOPs and FLOPs + memory-access
//! regressions, and few-shot transfer to six held-out settings.
//!
//! Each job (one model kind, seed and, for per-setting V2, setting) is stored
//! in the tables' one format ([`crate::stored`]) with the hash of the protocol
//! it ran under. Jobs run in worker processes ([`crate::worker`]).

mod protocol;
mod render;

pub use protocol::{
    PLOTTED, Protocol, SHOTS, SettingResult, SplitCosts, TRANSFER_TARGETS, regression_baseline,
    repeat_ceiling, setting_result, shots,
};
pub use render::render_markdown;

use crate::TableError;
use crate::stored::{self, hash_of};
use crate::worker::{WorkerJob, assign_costs, run_share};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use trainer::metrics::LatencyScores;
use trainer::nb201_latency::{self as nl, Nb201Networks};
use trainer::regression::RegressionFeatures;

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// V2 trained on one setting.
    Single { setting: String, seed: u64 },
    /// V2 trained on every setting at once.
    Multi { seed: u64 },
    /// The GNN baseline trained on every setting at once.
    Gnn { seed: u64 },
    /// Pretraining without the transfer targets, then k-shot fine-tuning on each.
    Transfer { seed: u64 },
    /// Both regression baselines on every setting.
    Regression { seed: u64 },
}

impl Job {
    pub fn name(&self) -> String {
        match self {
            Job::Single { setting, seed } => format!("v2-{setting}-s{seed}"),
            Job::Multi { seed } => format!("v2-multi-s{seed}"),
            Job::Gnn { seed } => format!("gnn-multi-s{seed}"),
            Job::Transfer { seed } => format!("transfer-s{seed}"),
            Job::Regression { seed } => format!("regression-s{seed}"),
        }
    }
}

impl WorkerJob for Job {
    fn name(&self) -> String {
        Job::name(self)
    }

    /// Rough cost in single-device runs, to give each worker a fair share.
    fn cost(&self) -> u32 {
        match self {
            Job::Single { .. } => 1,
            Job::Multi { .. } | Job::Gnn { .. } | Job::Transfer { .. } => 4,
            Job::Regression { .. } => 0,
        }
    }
}

/// k-shot transfer scores on one held-out setting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferResult {
    pub setting: String,
    pub shots: usize,
    pub scores: LatencyScores,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JobResult {
    Settings(Vec<SettingResult>),
    Transfer(Vec<TransferResult>),
    Regression {
        flops: Vec<SettingResult>,
        flops_mac: Vec<SettingResult>,
    },
}

/// What a job leaves on disk.
pub type Stored = stored::Stored<Job, JobResult>;

/// The first 12 hex digits of the SHA-256 of the protocol's JSON: every job's hash.
pub fn protocol_hash(protocol: &Protocol) -> String {
    hash_of(protocol)
}

/// Every job of a table, most expensive first.
pub fn plan(settings: &[String], seeds: &[u64]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &seed in seeds {
        jobs.push(Job::Multi { seed });
        jobs.push(Job::Transfer { seed });
        jobs.push(Job::Gnn { seed });
    }
    for &seed in seeds {
        for setting in settings {
            jobs.push(Job::Single {
                setting: setting.clone(),
                seed,
            });
        }
        jobs.push(Job::Regression { seed });
    }
    jobs
}

/// Job `i` of `jobs` goes to the worker whose running cost is lowest so far
/// (the same answer in every process, so no two workers take one job).
pub fn assign(jobs: &[Job], workers: usize) -> Vec<usize> {
    assign_costs(jobs.iter().map(Job::cost), workers)
}

/// The stored result of `job`, if it finished under `protocol`.
pub fn finished(root: &Path, job: &Job, protocol: &str) -> Option<Stored> {
    stored::finished(root, job, protocol)
}

fn setting_index(data: &Nb201Networks, name: &str) -> Result<usize, TableError> {
    Ok(data.table.setting(name)?)
}

/// Runs one job.
pub fn run_job(
    job: &Job,
    data: &Nb201Networks,
    protocol: &Protocol,
    device: &burn::prelude::Device,
    show_progress: bool,
) -> Result<JobResult, TableError> {
    let all: Vec<usize> = (0..data.table.settings.len()).collect();
    let with_seed = |config: &trainer::TrainingConfig, seed| {
        let mut c = config.clone();
        c.seed = seed;
        c
    };
    let seed = job.seed();
    let parts = protocol.split(data, seed)?;
    Ok(match job {
        Job::Single { setting, seed } => {
            let s = setting_index(data, setting)?;
            let config = with_seed(&protocol.single, *seed);
            let predictions = nl::single_device(data, s, &parts, &config, device, show_progress)?;
            JobResult::Settings(vec![setting_result(data, s, &parts.test, predictions)])
        }
        Job::Multi { seed } | Job::Gnn { seed } => {
            let template = match job {
                Job::Gnn { .. } => &protocol.gnn,
                _ => &protocol.multi,
            };
            let config = with_seed(template, *seed);
            let model = nl::train_multi_device(data, &all, &parts, &config, device, show_progress)?;
            let predictions = model.predict(data, &parts.test, &all, device)?;
            JobResult::Settings(
                all.iter()
                    .zip(predictions)
                    .map(|(&s, p)| setting_result(data, s, &parts.test, p))
                    .collect(),
            )
        }
        Job::Transfer { seed } => {
            let held: Vec<usize> = TRANSFER_TARGETS
                .iter()
                .map(|n| setting_index(data, n))
                .collect::<Result<_, _>>()?;
            let pretrain: Vec<usize> = all.iter().copied().filter(|s| !held.contains(s)).collect();
            let config = with_seed(&protocol.multi, *seed);
            let model =
                nl::train_multi_device(data, &pretrain, &parts, &config, device, show_progress)?;
            let test = model.embed_rows(data, &parts.test, device)?;
            let mut results = Vec::new();
            for &s in &held {
                for k in SHOTS {
                    let shots = shots(&parts, k, *seed);
                    let predictions = nl::fine_tune(
                        &model,
                        data,
                        s,
                        &shots,
                        &test,
                        protocol.fine_tune_steps,
                        protocol.fine_tune_learning_rate,
                        *seed,
                        device,
                    )?;
                    results.push(TransferResult {
                        setting: data.table.settings[s].name.clone(),
                        shots: k,
                        scores: LatencyScores::of(&predictions, &data.labels(&parts.test, s)),
                    });
                }
            }
            JobResult::Transfer(results)
        }
        Job::Regression { .. } => {
            // One cost computation per batch size, shared by its settings.
            let mut costs: Vec<SplitCosts> = Vec::new();
            let index: Vec<usize> = data
                .table
                .settings
                .iter()
                .map(
                    |setting| match costs.iter().position(|c| c.batch == setting.batch_size) {
                        Some(i) => i,
                        None => {
                            costs.push(SplitCosts::new(data, &parts, setting.batch_size));
                            costs.len() - 1
                        }
                    },
                )
                .collect();
            let fit = |features| {
                all.iter()
                    .map(|&s| regression_baseline(data, s, &parts, &costs[index[s]], features))
                    .collect()
            };
            JobResult::Regression {
                flops: fit(RegressionFeatures::Flops),
                flops_mac: fit(RegressionFeatures::FlopsMac),
            }
        }
    })
}

/// Runs this worker's share of `jobs` in order, skipping finished ones, and
/// stores each result atomically as it completes.
#[allow(clippy::too_many_arguments)]
pub fn run_worker(
    root: &Path,
    jobs: &[Job],
    worker: usize,
    workers: usize,
    data: &Nb201Networks,
    protocol: &Protocol,
    force: bool,
    device: &burn::prelude::Device,
) -> Result<(), TableError> {
    let hash = protocol_hash(protocol);
    let done = |job: &Job| finished(root, job, &hash).is_some();
    run_share(jobs, (worker, workers), force, done, |job| {
        let t = Instant::now();
        let result = run_job(job, data, protocol, device, false)?;
        let stored = Stored {
            hash: hash.clone(),
            job: job.clone(),
            seconds: t.elapsed().as_secs_f64(),
            result,
        };
        stored::store(root, &stored)?;
        Ok(summary(&stored.result))
    })
}

fn summary(result: &JobResult) -> String {
    let mean = |rs: &[SettingResult]| {
        let n = rs.len().max(1) as f64;
        (
            rs.iter().map(|r| r.scores.mape).sum::<f64>() / n,
            100.0 * rs.iter().map(|r| r.scores.acc10).sum::<f64>() / n,
        )
    };
    match result {
        JobResult::Settings(rs) => {
            let (m, a) = mean(rs);
            format!("MAPE {m:.2}%, Acc(10%) {a:.1}% (mean of {})", rs.len())
        }
        JobResult::Transfer(ts) => ts
            .iter()
            .filter(|t| t.shots == 32)
            .map(|t| format!("{} {:.1}%", t.setting, t.scores.mape))
            .collect::<Vec<_>>()
            .join(", "),
        JobResult::Regression { flops_mac, .. } => {
            let (m, a) = mean(flops_mac);
            format!("FLOPs+MAC MAPE {m:.2}%, Acc(10%) {a:.1}%")
        }
    }
}

impl Job {
    fn seed(&self) -> u64 {
        match self {
            Job::Single { seed, .. }
            | Job::Multi { seed }
            | Job::Gnn { seed }
            | Job::Transfer { seed }
            | Job::Regression { seed } => *seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_has_one_worker_and_names_are_unique() {
        let settings: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let jobs = plan(&settings, &[0, 1]);
        assert_eq!(jobs.len(), 2 * (3 + 3 + 1));
        let owner = assign(&jobs, 2);
        assert!(owner.iter().all(|&w| w < 2));
        let names: std::collections::HashSet<String> = jobs.iter().map(Job::name).collect();
        assert_eq!(names.len(), jobs.len());
        // Both workers get work of similar cost.
        let load = |w| {
            jobs.iter()
                .zip(&owner)
                .filter(|(_, o)| **o == w)
                .map(|(j, _)| j.cost().max(1))
                .sum::<u32>()
        };
        assert!(load(0).abs_diff(load(1)) <= 4, "{} vs {}", load(0), load(1));
    }
}
