//! The NAS-Bench-201 latency table: 27 device settings, V2 per setting, one
//! V2 and one GNN for every setting, the FLOPs and FLOPs + memory-access
//! regressions, and few-shot transfer to six held-out settings.
//!
//! Each job (one model kind, seed and, for per-setting V2, setting) stores its
//! result as `<root>/<job>.json` with the hash of the protocol it ran under;
//! a stored result with the same hash is reused, so an interrupted table picks
//! up where it stopped and a changed protocol never mixes with old results.
//! Jobs run in `workers` processes, each taking every `workers`-th job.

use crate::TableError;
use crate::accuracy::mean_std;
use crate::worker::{WorkerJob, assign_costs, run_share};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trainer::nb201_latency::{
    self as nl, LatencyScores, Nb201Networks, Parts, Protocol, SettingResult,
};
use trainer::regression::RegressionFeatures;

/// Settings left out of pretraining and learned from a few measurements.
pub const TRANSFER_TARGETS: [&str; 6] = [
    "pixel3",
    "raspi4",
    "fpga",
    "eyeriss",
    "gold_6240",
    "titan_rtx_32",
];
/// Measured networks of a held-out setting that transfer learns from.
pub const SHOTS: [usize; 3] = [10, 32, 100];
/// The settings drawn as predicted-against-measured plots (V2 per setting, seed 0).
pub const PLOTTED: [&str; 2] = ["titan_rtx_32", "gold_6240"];

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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub protocol: String,
    pub job: Job,
    pub seconds: f64,
    pub result: JobResult,
}

/// The first 12 hex digits of the SHA-256 of the protocol's JSON.
pub fn protocol_hash(protocol: &Protocol) -> String {
    hash_of(protocol)
}

/// The first 12 hex digits of the SHA-256 of a value's JSON.
pub(crate) fn hash_of<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
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

fn path_of(root: &Path, job: &Job) -> PathBuf {
    root.join(format!("{}.json", job.name()))
}

/// The stored result of `job`, if it finished under `protocol`.
pub fn finished(root: &Path, job: &Job, protocol: &str) -> Option<Stored> {
    let stored: Stored = sysio::read_json(&path_of(root, job)).ok()?;
    (stored.protocol == protocol && &stored.job == job).then_some(stored)
}

fn setting_index(data: &Nb201Networks, name: &str) -> Result<usize, TableError> {
    data.table
        .setting(name)
        .map_err(|e| TableError::Train(trainer::TrainError::Dataset(e)))
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
    let parts = Parts::new(data, protocol, seed)?;
    Ok(match job {
        Job::Single { setting, seed } => {
            let s = setting_index(data, setting)?;
            let config = with_seed(&protocol.single, *seed);
            JobResult::Settings(vec![nl::single_device(
                data,
                s,
                &parts,
                &config,
                device,
                show_progress,
            )?])
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
                    .map(|(&s, p)| nl::setting_result(data, s, &parts.test, p))
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
                    let shots = nl::shots(&parts, k, *seed);
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
            let mut costs: Vec<nl::SplitCosts> = Vec::new();
            let index: Vec<usize> = data
                .table
                .settings
                .iter()
                .map(
                    |setting| match costs.iter().position(|c| c.batch == setting.batch_size) {
                        Some(i) => i,
                        None => {
                            costs.push(nl::SplitCosts::new(data, &parts, setting.batch_size));
                            costs.len() - 1
                        }
                    },
                )
                .collect();
            let fit = |features| {
                all.iter()
                    .map(|&s| nl::regression_baseline(data, s, &parts, &costs[index[s]], features))
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
            protocol: hash.clone(),
            job: job.clone(),
            seconds: t.elapsed().as_secs_f64(),
            result,
        };
        sysio::write_json(&path_of(root, job), &stored)?;
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

/// What the markdown says about how it was made.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub command: String,
    pub seeds: usize,
    pub workers: usize,
    pub machine: String,
    pub wall_seconds: f64,
    /// Sum of the jobs' own times (what one process would have taken).
    pub job_seconds: f64,
    /// `(file name, caption)` of each plot.
    pub plots: Vec<(String, String)>,
}

/// Per-setting scores of one model kind across seeds.
struct Column<'a> {
    title: &'static str,
    per_seed: Vec<Vec<&'a SettingResult>>,
}

impl Column<'_> {
    fn values(&self, setting: &str, f: impl Fn(&LatencyScores) -> f64) -> Vec<f64> {
        self.per_seed
            .iter()
            .filter_map(|rs| rs.iter().find(|r| r.setting == setting))
            .map(|r| f(&r.scores))
            .collect()
    }
}

pub(crate) fn pm(values: &[f64], scale: f64, digits: usize) -> String {
    match mean_std(&values.iter().map(|v| v * scale).collect::<Vec<_>>()) {
        Some((m, s)) if values.len() > 1 => format!("{m:.digits$} ± {s:.digits$}"),
        Some((m, _)) => format!("{m:.digits$}"),
        None => "-".into(),
    }
}

pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The table as markdown. `ceilings` is [`nl::repeat_ceiling`] per setting.
pub fn render_markdown(
    data: &Nb201Networks,
    protocol: &Protocol,
    stored: &[Stored],
    ceilings: &[LatencyScores],
    p: &Provenance,
) -> String {
    let settings: Vec<&str> = data
        .table
        .settings
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let columns = [
        Column {
            title: "V2, one model per setting",
            per_seed: by_seed(stored, |s| match (&s.job, &s.result) {
                (Job::Single { .. }, JobResult::Settings(rs)) => Some(rs),
                _ => None,
            }),
        },
        Column {
            title: "V2, one model for all settings",
            per_seed: by_seed(stored, |s| match (&s.job, &s.result) {
                (Job::Multi { .. }, JobResult::Settings(rs)) => Some(rs),
                _ => None,
            }),
        },
        Column {
            title: "GNN, one model for all settings",
            per_seed: by_seed(stored, |s| match (&s.job, &s.result) {
                (Job::Gnn { .. }, JobResult::Settings(rs)) => Some(rs),
                _ => None,
            }),
        },
        Column {
            title: "FLOPs regression",
            per_seed: by_seed(stored, |s| match &s.result {
                JobResult::Regression { flops, .. } => Some(flops),
                _ => None,
            }),
        },
        Column {
            title: "FLOPs + MAC regression",
            per_seed: by_seed(stored, |s| match &s.result {
                JobResult::Regression { flops_mac, .. } => Some(flops_mac),
                _ => None,
            }),
        },
    ];

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# NAS-Bench-201 latency on 27 device settings\n\n\
         Generated by `{}` on {} with {} worker processes: {:.0} min wall clock \
         ({:.0} min of job time). Every number is mean ± sample std over {} seeds \
         (seed = split and initialisation).\n",
        p.command,
        p.machine,
        p.workers,
        p.wall_seconds / 60.0,
        p.job_seconds / 60.0,
        p.seeds
    );
    let test = match protocol.test_sample {
        Some(n) => format!(
            "a seeded sample of {n} of the other {} networks (the `{}` profile's time budget; \
             the paper profile scores all of them)",
            data.table
                .len()
                .saturating_sub(protocol.train + protocol.validation),
            protocol.profile
        ),
        None => "every other network".to_string(),
    };
    let _ = writeln!(
        md,
        "**Protocol.** Data: `nasbench201/latency_help.csv` (HELP's measurements of all \
         15,625 networks; {} distinct networks once cells that build the same network are \
         merged). Per seed one split shared by every setting: {} training networks, {} \
         validation networks (they pick the epoch, by MAPE), test = {test}. Networks are \
         whole NAS-Bench-201 networks (`graph_ir::networks::nb201_network`, batch size from \
         the setting) tokenised with the `{}` vocabulary. V2 per setting: hidden {}, {} layers, \
         {} epochs, lr {}, MSE on standardised log latency. One model for all settings: the \
         encoder reads each network once and a learned embedding per setting joins the head \
         (V2 hidden {}, GNN hidden {}, {} epochs). Regressions: least squares per setting on \
         the training networks' FLOPs (and memory access) at the setting's batch size.\n",
        data.cells.len(),
        protocol.train,
        protocol.validation,
        protocol.vocab,
        protocol.single.model.hidden,
        protocol.single.model.layers,
        protocol.single.epochs,
        protocol.single.learning_rate,
        protocol.multi.model.hidden,
        protocol.gnn.model.hidden,
        protocol.multi.epochs,
    );

    // Per-setting MAPE / Acc(10%).
    let _ = write!(
        md,
        "## Per setting: test MAPE (%) / Acc(10%) (%)\n\n| setting | batch |"
    );
    for c in &columns {
        let _ = write!(md, " {} |", c.title);
    }
    let _ = writeln!(md, " repeat ceiling |");
    let _ = write!(md, "|---|---|");
    for _ in 0..=columns.len() {
        let _ = write!(md, "---|");
    }
    let _ = writeln!(md);
    for (i, name) in settings.iter().enumerate() {
        let _ = write!(md, "| {name} | {} |", data.table.settings[i].batch_size);
        for c in &columns {
            let _ = write!(
                md,
                " {} / {} |",
                pm(&c.values(name, |s| s.mape), 1.0, 2),
                pm(&c.values(name, |s| s.acc10), 100.0, 1)
            );
        }
        let ceiling = ceilings.get(i);
        let _ = writeln!(
            md,
            " {} / {} |",
            ceiling.map_or("-".into(), |c| format!("{:.2}", c.mape)),
            ceiling.map_or("-".into(), |c| format!("{:.1}", 100.0 * c.acc10))
        );
    }
    // Means over settings, per seed, then mean ± std over seeds.
    let _ = write!(md, "| **mean of the settings** | |");
    for c in &columns {
        let per_seed = |f: fn(&LatencyScores) -> f64| -> Vec<f64> {
            c.per_seed
                .iter()
                .filter(|rs| rs.len() == settings.len())
                .map(|rs| mean(&rs.iter().map(|r| f(&r.scores)).collect::<Vec<_>>()))
                .collect()
        };
        let _ = write!(
            md,
            " {} / {} |",
            pm(&per_seed(|s| s.mape), 1.0, 2),
            pm(&per_seed(|s| s.acc10), 100.0, 1)
        );
    }
    let _ = writeln!(
        md,
        " {:.2} / {:.1} |\n",
        mean(&ceilings.iter().map(|c| c.mape).collect::<Vec<_>>()),
        100.0 * mean(&ceilings.iter().map(|c| c.acc10).collect::<Vec<_>>())
    );

    // The acceptance comparison.
    let (single, flops, flops_mac) = (&columns[0], &columns[3], &columns[4]);
    let beats: Vec<&str> = settings
        .iter()
        .copied()
        .filter(|name| {
            let v2 = mean(&single.values(name, |s| s.mape));
            let a = mean(&flops.values(name, |s| s.mape));
            let b = mean(&flops_mac.values(name, |s| s.mape));
            !single.values(name, |s| s.mape).is_empty() && v2 < a && v2 < b
        })
        .collect();
    let missed: Vec<&str> = settings
        .iter()
        .copied()
        .filter(|n| !beats.contains(n))
        .collect();
    let _ = writeln!(
        md,
        "V2 per setting has a lower mean MAPE than both regressions on **{} of {}** settings{}.\n",
        beats.len(),
        settings.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (not on: {})", missed.join(", "))
        }
    );
    let _ = writeln!(
        md,
        "**Repeat ceiling.** {} rows of the file share their network with another row (cells \
         that differ only where it changes nothing, such as which `none` edge leads where); \
         each such network was measured more than once. The column scores predicting every \
         such row by its network's mean measured latency: the agreement of the measurements \
         with themselves, which bounds what any predictor that reads only the network can \
         reach (it is optimistic, since each row is part of the mean it is compared with). \
         On the noisiest settings (phones, Xeon CPUs) fewer than 80% of repeated measurements \
         lie within 10% of their own mean.\n",
        data.network_of_row.len() - count_single(data),
    );

    // Transfer.
    let transfers: Vec<&TransferResult> = stored
        .iter()
        .filter_map(|s| match &s.result {
            JobResult::Transfer(ts) => Some(ts.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    let _ = writeln!(
        md,
        "## Few-shot transfer to a held-out setting\n\n\
         One V2 model for all settings is pretrained ({} epochs) on the {} settings other than \
         the six below (left out together: stricter than leaving out one at a time, and one \
         pretraining per seed instead of six). For each held-out setting, k of the seed's \
         training networks are measured on it (the encoder saw those networks, never their \
         latency there). The setting's embedding starts as a copy of the pretrained setting \
         whose predictions rank the k networks best (Spearman); the encoder stays frozen and \
         the embedding and the head are fitted by {} full-batch Adam steps at lr {}. Scored on the same test networks as \
         the table above.\n\n\
         | setting | k | MAPE (%) | Acc(10%) (%) | Spearman rho |\n|---|---|---|---|---|",
        protocol.multi.epochs,
        settings.len() - TRANSFER_TARGETS.len(),
        protocol.fine_tune_steps,
        protocol.fine_tune_learning_rate
    );
    let mut within = Vec::new();
    for name in TRANSFER_TARGETS {
        for k in SHOTS {
            let runs: Vec<&LatencyScores> = transfers
                .iter()
                .filter(|t| t.setting == name && t.shots == k)
                .map(|t| &t.scores)
                .collect();
            let values =
                |f: fn(&LatencyScores) -> f64| runs.iter().map(|s| f(s)).collect::<Vec<_>>();
            if k == 32 && !runs.is_empty() && mean(&values(|s| s.mape)) <= 10.0 {
                within.push(name);
            }
            let _ = writeln!(
                md,
                "| {name} | {k} | {} | {} | {} |",
                pm(&values(|s| s.mape), 1.0, 2),
                pm(&values(|s| s.acc10), 100.0, 1),
                pm(&values(|s| s.spearman), 1.0, 3)
            );
        }
    }
    let _ = writeln!(
        md,
        "\nWith k = 32, mean MAPE is at most 10% on **{} of {}** held-out settings ({}).\n",
        within.len(),
        TRANSFER_TARGETS.len(),
        within.join(", ")
    );
    if !p.plots.is_empty() {
        let _ = writeln!(md, "## Predicted against measured latency\n");
        for (file, caption) in &p.plots {
            let _ = writeln!(md, "![{caption}]({file})\n\n{caption}\n");
        }
    }
    md
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

/// The setting results `pick` finds in each stored job, grouped by seed.
fn by_seed(
    stored: &[Stored],
    pick: fn(&Stored) -> Option<&Vec<SettingResult>>,
) -> Vec<Vec<&SettingResult>> {
    let mut seeds: std::collections::BTreeMap<u64, Vec<&SettingResult>> = Default::default();
    for s in stored {
        if let Some(rs) = pick(s) {
            seeds.entry(s.job.seed()).or_default().extend(rs.iter());
        }
    }
    seeds.into_values().collect()
}

/// Rows whose network occurs once.
fn count_single(data: &Nb201Networks) -> usize {
    let mut count = vec![0usize; data.cells.len()];
    for &n in &data.network_of_row {
        count[n] += 1;
    }
    count.iter().filter(|&&c| c == 1).count()
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
