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
    HELP_META_TEST, HELP_META_TRAIN, HELP_META_VALID, HELP_SHOTS, PLOTTED, Protocol, SHOTS,
    SettingResult, SplitCosts, TRANSFER_TARGETS, regression_baseline, repeat_ceiling,
    setting_result, shots,
};
pub use render::render_markdown;

use crate::TableError;
use crate::stored::{self, hash_of};
use crate::worker::{WorkerJob, assign_costs, run_share};
use graph_ir::cells::Nb201Cell;
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
    /// HELP's protocol: pretraining on its meta-training settings, k-shot
    /// fine-tuning on its meta-validation and meta-test settings.
    Help { seed: u64 },
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
            Job::Help { seed } => format!("help-s{seed}"),
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
            Job::Help { .. } => 3,
            Job::Regression { .. } => 0,
        }
    }
}

/// k-shot transfer scores on one held-out setting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferResult {
    pub setting: String,
    pub shots: usize,
    /// On the scored networks: the table's test rows, or (HELP's protocol)
    /// every network that is not a shot.
    pub scores: LatencyScores,
    /// On the seed's training networks that are not shots (pretraining saw
    /// them on other settings only): what the transfer design is judged on.
    #[serde(default)]
    pub validation: Option<LatencyScores>,
    /// The same scores without the input-independent networks.
    #[serde(default)]
    pub reading_input: Option<LatencyScores>,
    /// Whether cross-validation on the shots kept the additive op-count model
    /// for the networks that read their input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_counts_kept: Option<bool>,
    /// `scores` had the transfer kept the learned model, and had it kept the
    /// op-count model (fitted on the shots that read their input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_only: Option<LatencyScores>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_counts_only: Option<LatencyScores>,
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

/// The first 12 hex digits of the SHA-256 of the protocol's JSON: the hash of
/// the jobs that transfer ([`Job::Transfer`], [`Job::Help`]).
pub fn protocol_hash(protocol: &Protocol) -> String {
    hash_of(protocol)
}

/// The protocol's fields that only transfer reads: a change to them leaves
/// the other jobs' results valid.
const TRANSFER_FIELDS: [&str; 3] = [
    "fine_tune_steps",
    "fine_tune_learning_rate",
    "transfer_design",
];

/// A job's hash: [`protocol_hash`] for the jobs that transfer, the same over
/// the protocol without [`TRANSFER_FIELDS`] for the others.
pub fn job_hash(protocol: &Protocol, job: &Job) -> String {
    match job {
        Job::Transfer { .. } | Job::Help { .. } => protocol_hash(protocol),
        _ => {
            let mut json = serde_json::to_value(protocol).unwrap_or_default();
            if let Some(fields) = json.as_object_mut() {
                for field in TRANSFER_FIELDS {
                    fields.remove(field);
                }
            }
            hash_of(&json)
        }
    }
}

/// Every job of a table, most expensive first.
pub fn plan(settings: &[String], seeds: &[u64]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &seed in seeds {
        jobs.push(Job::Multi { seed });
        jobs.push(Job::Transfer { seed });
        jobs.push(Job::Help { seed });
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

fn session(show_progress: bool) -> trainer::fit::Session<'static> {
    trainer::fit::Session::in_memory(show_progress)
}

fn setting_index(data: &Nb201Networks, name: &str) -> Result<usize, TableError> {
    Ok(data.table.setting(name)?)
}

fn setting_indices<'a>(
    data: &Nb201Networks,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<usize>, TableError> {
    names.into_iter().map(|n| setting_index(data, n)).collect()
}

/// k-shot transfer of `pretrained` to each of `held` for each k of `shot_counts`:
/// scored on `scored(shots)`, validated on the training rows that are not shots.
#[allow(clippy::too_many_arguments)]
fn transfer_all(
    data: &Nb201Networks,
    protocol: &Protocol,
    pretrained: &nl::MultiDeviceModel,
    parts: &datasets::split::Split,
    held: &[usize],
    shot_counts: &[usize],
    scored: impl Fn(&[usize]) -> Vec<usize>,
    seed: u64,
    device: &burn::prelude::Device,
) -> Result<Vec<TransferResult>, TableError> {
    // The encoder is frozen: every row is embedded once (in both views), and
    // each transfer scores a selection of those embeddings.
    let every: Vec<usize> = (0..data.table.len()).collect();
    let embedded = pretrained.embed_rows(data, &every, true, device)?;
    let select = |rows: &[usize]| nl::EmbeddedRows {
        embedding: embedded.embedding.clone(),
        at: rows.iter().map(|&r| embedded.at[r]).collect(),
        constant: rows.iter().map(|&r| embedded.constant[r]).collect(),
        live: embedded.live.clone(),
        cells: embedded.cells.clone(),
    };
    let reads = |r: &usize| data.cells[data.network_of_row[*r]].reads_input();
    let mut results = Vec::new();
    for &s in held {
        for &k in shot_counts {
            let shots = shots(data, parts, k, seed);
            let tuned = nl::fine_tune(
                pretrained,
                data,
                s,
                &shots,
                protocol.fine_tune_steps,
                protocol.fine_tune_learning_rate,
                seed,
                device,
            )?;
            let score_with = |model: &nl::MultiDeviceModel, rows: &[usize]| {
                let predicted = model.predict_embedded(&select(rows), &[s], device)?;
                let predicted = predicted.into_iter().next().unwrap_or_default();
                Ok::<_, TableError>(LatencyScores::of(&predicted, &data.labels(rows, s)))
            };
            let score = |rows: &[usize]| score_with(&tuned, rows);
            // The two models the transfer chose between, each kept alone.
            let with_op_counts = |fit: Option<nl::OpCountFit>| {
                let mut model = tuned.clone();
                model.op_counts[s] = fit;
                model
            };
            let shot_cells: Vec<&Nb201Cell> = shots
                .iter()
                .map(|&r| &data.cells[data.network_of_row[r]])
                .collect();
            let op_count_fit =
                nl::OpCountFit::fit(&shot_cells, &data.labels(&shots, s), tuned.views[s]);
            let test = scored(&shots);
            let reading: Vec<usize> = test.iter().copied().filter(reads).collect();
            let validation: Vec<usize> = parts
                .train
                .iter()
                .copied()
                .filter(|r| !shots.contains(r))
                .collect();
            results.push(TransferResult {
                setting: data.table.settings[s].name.clone(),
                shots: k,
                scores: score(&test)?,
                validation: Some(score(&validation)?),
                reading_input: Some(score(&reading)?),
                op_counts_kept: Some(tuned.op_counts[s].is_some()),
                learned_only: Some(score_with(&with_op_counts(None), &test)?),
                op_counts_only: op_count_fit
                    .map(|fit| score_with(&with_op_counts(Some(fit)), &test))
                    .transpose()?,
            });
        }
    }
    Ok(results)
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
    // The multi-setting model on some settings: what transfer starts from.
    let pretrain_on = |settings: &[usize]| {
        let config = with_seed(&protocol.multi, seed);
        nl::train_multi_device(
            data,
            settings,
            &parts,
            &config,
            device,
            session(show_progress),
        )
        .map(|trained| trained.model)
    };
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
            let model = nl::train_multi_device(
                data,
                &all,
                &parts,
                &config,
                device,
                session(show_progress),
            )?
            .model;
            let predictions = model.predict(data, &parts.test, &all, device)?;
            JobResult::Settings(
                all.iter()
                    .zip(predictions)
                    .map(|(&s, p)| setting_result(data, s, &parts.test, p))
                    .collect(),
            )
        }
        Job::Transfer { seed } => {
            let held = setting_indices(data, TRANSFER_TARGETS)?;
            let pretrain: Vec<usize> = all.iter().copied().filter(|s| !held.contains(s)).collect();
            let model = pretrain_on(&pretrain)?;
            let scored = |_: &[usize]| parts.test.clone();
            JobResult::Transfer(transfer_all(
                data, protocol, &model, &parts, &held, &SHOTS, scored, *seed, device,
            )?)
        }
        Job::Help { seed } => {
            let pretrain = setting_indices(data, HELP_META_TRAIN)?;
            let held = setting_indices(
                data,
                HELP_META_VALID
                    .into_iter()
                    .chain(HELP_META_TEST.iter().map(|(name, _)| *name)),
            )?;
            let model = pretrain_on(&pretrain)?;
            // Every network of the space that is not a shot.
            let scored = |shots: &[usize]| {
                (0..data.table.len())
                    .filter(|r| !shots.contains(r))
                    .collect::<Vec<_>>()
            };
            JobResult::Transfer(transfer_all(
                data,
                protocol,
                &model,
                &parts,
                &held,
                &HELP_SHOTS,
                scored,
                *seed,
                device,
            )?)
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
    let done = |job: &Job| finished(root, job, &job_hash(protocol, job)).is_some();
    run_share(jobs, (worker, workers), force, done, |job| {
        let t = Instant::now();
        let result = run_job(job, data, protocol, device, false)?;
        let stored = Stored {
            hash: job_hash(protocol, job),
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
        // The left-out six at 32 shots (MAPE), HELP's protocol at 10 (rho).
        JobResult::Transfer(ts) => ts
            .iter()
            .filter_map(|t| match t.shots {
                32 => Some(format!("{} {:.1}%", t.setting, t.scores.mape)),
                10 if HELP_META_TEST.iter().any(|(n, _)| *n == t.setting) => {
                    Some(format!("{} rho {:.3}", t.setting, t.scores.spearman))
                }
                _ => None,
            })
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
            | Job::Help { seed }
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
        assert_eq!(jobs.len(), 2 * (4 + 3 + 1));
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
