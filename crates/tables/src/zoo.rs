//! The model-zoo latency table: V2, the GNN baseline and the FLOPs /
//! FLOPs+MAC regressions on a zoo measured on this machine, in domain (a
//! tenth of each family held out) and leave-one-family-out.
//!
//! A job is one model kind, split and seed; its result is stored as
//! `<root>/<job>.json` with the hash of that kind's config and the dataset's
//! labels, and reused while both are unchanged.

use crate::TableError;
use crate::latency::{hash_of, mean, pm};
use crate::worker::{WorkerJob, run_share};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trainer::regression::RegressionFeatures;
use trainer::zoo::{self as tz, FamilyScores, ZooData, ZooProtocol};

/// A model kind of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    V2,
    Gnn,
    /// Both regressions (they cost nothing to fit).
    Regression,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::V2 => "v2",
            Kind::Gnn => "gnn",
            Kind::Regression => "regression",
        }
    }
}

/// One unit of work. `held_out = None` is the in-domain split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub kind: Kind,
    pub held_out: Option<String>,
    pub seed: u64,
}

impl Job {
    pub fn name(&self) -> String {
        let split = self.held_out.as_deref().unwrap_or("in-domain");
        format!("{}-{split}-s{}", self.kind.name(), self.seed)
    }

    fn split(&self) -> datasets::nnlqp::LatencySplit {
        match &self.held_out {
            Some(f) => datasets::nnlqp::LatencySplit::LeaveOut(f.clone()),
            None => datasets::nnlqp::LatencySplit::InDomain,
        }
    }
}

impl WorkerJob for Job {
    fn name(&self) -> String {
        Job::name(self)
    }

    fn cost(&self) -> u32 {
        match self.kind {
            Kind::Regression => 0,
            _ => 1,
        }
    }
}

/// Every job: learned models first (in-domain, then each held-out family), then regressions.
pub fn plan(families: &[String], seeds: &[u64]) -> Vec<Job> {
    let mut jobs = Vec::new();
    let splits: Vec<Option<String>> = std::iter::once(None)
        .chain(families.iter().cloned().map(Some))
        .collect();
    for &seed in seeds {
        for kind in [Kind::V2, Kind::Gnn] {
            for held_out in &splits {
                jobs.push(Job {
                    kind,
                    held_out: held_out.clone(),
                    seed,
                });
            }
        }
    }
    for &seed in seeds {
        for held_out in &splits {
            jobs.push(Job {
                kind: Kind::Regression,
                held_out: held_out.clone(),
                seed,
            });
        }
    }
    jobs
}

/// Test scores per family of one model on one split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub model: String,
    pub families: Vec<FamilyScores>,
}

/// What a job leaves on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub hash: String,
    pub job: Job,
    pub seconds: f64,
    pub results: Vec<Scored>,
}

/// The hash a job's stored result must carry: its kind's config and the labels.
pub fn job_hash(job: &Job, protocol: &ZooProtocol, data: &ZooData) -> String {
    let labels: Vec<(&str, f64)> = data
        .labels
        .rows
        .iter()
        .map(|r| (r.graph_id.as_str(), r.latency_ms))
        .collect();
    let config = match job.kind {
        Kind::V2 => Some(&protocol.v2),
        Kind::Gnn => Some(&protocol.gnn),
        Kind::Regression => None,
    };
    hash_of(&(config, labels, protocol.vocab))
}

fn path_of(root: &Path, job: &Job) -> PathBuf {
    root.join(format!("{}.json", job.name()))
}

pub fn finished(root: &Path, job: &Job, hash: &str) -> Option<Stored> {
    let stored: Stored = sysio::read_json(&path_of(root, job)).ok()?;
    (stored.hash == hash && &stored.job == job).then_some(stored)
}

pub fn run_job(
    job: &Job,
    data: &ZooData,
    protocol: &ZooProtocol,
    device: &burn::prelude::Device,
) -> Result<Vec<Scored>, TableError> {
    let parts = data.parts(&job.split(), job.seed)?;
    let scored = |model: &str, predictions: Vec<f64>| Scored {
        model: model.into(),
        families: tz::per_family(data, &parts.test, &predictions),
    };
    Ok(match job.kind {
        Kind::V2 | Kind::Gnn => {
            let config = if job.kind == Kind::V2 {
                &protocol.v2
            } else {
                &protocol.gnn
            };
            let p = tz::train_and_predict(data, &parts, config, job.seed, device, false)?;
            vec![scored(job.kind.name(), p)]
        }
        Kind::Regression => vec![
            scored(
                "flops",
                tz::regression(data, &parts, RegressionFeatures::Flops),
            ),
            scored(
                "flops_mac",
                tz::regression(data, &parts, RegressionFeatures::FlopsMac),
            ),
        ],
    })
}

/// Runs this worker's share of the jobs, storing each result atomically.
pub fn run_worker(
    root: &Path,
    jobs: &[Job],
    (worker, workers): (usize, usize),
    data: &ZooData,
    protocol: &ZooProtocol,
    force: bool,
    device: &burn::prelude::Device,
) -> Result<(), TableError> {
    let done = |job: &Job| finished(root, job, &job_hash(job, protocol, data)).is_some();
    run_share(jobs, (worker, workers), force, done, |job| {
        let t = Instant::now();
        let results = run_job(job, data, protocol, device)?;
        let stored = Stored {
            hash: job_hash(job, protocol, data),
            job: job.clone(),
            seconds: t.elapsed().as_secs_f64(),
            results,
        };
        sysio::write_json(&path_of(root, job), &stored)?;
        let first = &stored.results[0];
        let mapes: Vec<f64> = first.families.iter().map(|f| f.scores.mape).collect();
        Ok(format!(
            "{} MAPE {:.2}% (mean over {} families)",
            first.model,
            mean(&mapes),
            mapes.len()
        ))
    })
}

/// What the markdown says about how it was made.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub command: String,
    pub seeds: usize,
    pub workers: usize,
    pub machine: String,
    pub wall_seconds: f64,
    pub job_seconds: f64,
    /// The dataset's measurement facts (engine, CPU, threads), one line.
    pub dataset: String,
}

const MODELS: [(&str, &str); 4] = [
    ("v2", "V2"),
    ("gnn", "GNN"),
    ("flops", "FLOPs reg."),
    ("flops_mac", "FLOPs+MAC reg."),
];

/// `(model, family) -> scores` of every seed, for one split kind.
fn scores_of<'a>(
    stored: &'a [Stored],
    in_domain: bool,
    model: &str,
    family: &str,
) -> Vec<&'a trainer::nb201_latency::LatencyScores> {
    stored
        .iter()
        .filter(|s| s.job.held_out.is_none() == in_domain)
        .filter(|s| in_domain || s.job.held_out.as_deref() == Some(family))
        .flat_map(|s| s.results.iter().filter(|r| r.model == model))
        .flat_map(|r| r.families.iter().filter(|f| f.family == family))
        .map(|f| &f.scores)
        .collect()
}

fn section(out: &mut String, stored: &[Stored], families: &[String], in_domain: bool) {
    let head: Vec<String> = MODELS
        .iter()
        .map(|(_, t)| format!("{t} MAPE % | {t} Acc(10%) %"))
        .collect();
    let _ = writeln!(out, "| family | n | {} |", head.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|---:|".repeat(MODELS.len()));
    // Per-seed means over families, for the mean row's +- std.
    let mut family_means: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); MODELS.len()];
    for family in families {
        let n = scores_of(stored, in_domain, "v2", family)
            .first()
            .map_or(0, |s| s.n);
        let _ = write!(out, "| {family} | {n} |");
        for (m, (model, _)) in MODELS.iter().enumerate() {
            let s = scores_of(stored, in_domain, model, family);
            let mapes: Vec<f64> = s.iter().map(|s| s.mape).collect();
            let accs: Vec<f64> = s.iter().map(|s| s.acc10).collect();
            let _ = write!(out, " {} | {} |", pm(&mapes, 1.0, 2), pm(&accs, 100.0, 1));
            family_means[m].0.push(mean(&mapes));
            family_means[m].1.push(mean(&accs));
        }
        let _ = writeln!(out);
    }
    let _ = write!(out, "| **mean of families** | |");
    for (model, _) in MODELS {
        // Mean over families per seed, then mean +- std over seeds.
        let seeds: Vec<u64> = {
            let mut v: Vec<u64> = stored.iter().map(|s| s.job.seed).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (mut mapes, mut accs) = (Vec::new(), Vec::new());
        for seed in seeds {
            let per: Vec<(f64, f64)> = families
                .iter()
                .filter_map(|f| {
                    let s = stored
                        .iter()
                        .filter(|s| s.job.seed == seed && s.job.held_out.is_none() == in_domain)
                        .filter(|s| in_domain || s.job.held_out.as_deref() == Some(f.as_str()))
                        .flat_map(|s| s.results.iter().filter(|r| r.model == model))
                        .flat_map(|r| r.families.iter().filter(|x| &x.family == f))
                        .next()?;
                    Some((s.scores.mape, s.scores.acc10))
                })
                .collect();
            if per.len() == families.len() {
                mapes.push(mean(&per.iter().map(|p| p.0).collect::<Vec<_>>()));
                accs.push(mean(&per.iter().map(|p| p.1).collect::<Vec<_>>()));
            }
        }
        let _ = write!(
            out,
            " **{}** | **{}** |",
            pm(&mapes, 1.0, 2),
            pm(&accs, 100.0, 1)
        );
    }
    let _ = writeln!(out);
}

/// The table as markdown.
pub fn render_markdown(
    data: &ZooData,
    protocol: &ZooProtocol,
    stored: &[Stored],
    p: &Provenance,
) -> String {
    let families = data.families();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Latency on this machine's CPU: a model zoo of {} families, {} models\n",
        families.len(),
        data.labels.rows.len()
    );
    let _ = writeln!(
        out,
        "Generated by `{}` ({} seeds, {} worker processes, {:.0} min wall clock, {:.0} min of \
         job time, on {}). Every number is mean ± std over seeds.\n",
        p.command,
        p.seeds,
        p.workers,
        p.wall_seconds / 60.0,
        p.job_seconds / 60.0,
        p.machine
    );
    let _ = writeln!(
        out,
        "Dataset: `data/zoo` ({}). Its labels are one-pass measurements on a shared VM; two \
         one-pass measurements of the same models disagree by several percent (docs/DATA.md, \
         \"Label noise\", gives the command and figures), which bounds every MAPE below.\n",
        p.dataset
    );
    let _ = writeln!(
        out,
        "Protocol: profile `{}`, vocabulary `{}`. V2: hidden {}, {} epochs, lr {}; GNN: hidden {}, \
         {} epochs. Both train on standardised ln(latency) and pick the epoch by MAPE on a seeded \
         tenth of the training rows; test rows never choose a checkpoint. The regressions are \
         least squares on the training rows' FLOPs (and memory access).\n",
        protocol.profile,
        protocol.vocab,
        protocol.v2.model.hidden,
        protocol.v2.epochs,
        protocol.v2.learning_rate,
        protocol.gnn.model.hidden,
        protocol.gnn.epochs,
    );
    let _ = writeln!(
        out,
        "## In domain\n\nOne model trained on every family; the last tenth of each family's \
         models (by name) is the test set, scored per family.\n"
    );
    section(&mut out, stored, &families, true);
    let _ = writeln!(
        out,
        "\n## Leave one family out (unseen structure)\n\nFor each family, a model trained on the \
         other {} families is scored on all of its models.\n",
        families.len().saturating_sub(1)
    );
    section(&mut out, stored, &families, false);
    let _ = writeln!(
        out,
        "\n## Published numbers, for orientation (not the same data)\n\n\
         | | in-domain MAPE | unseen-family MAPE, mean of 10 |\n|---|---:|---:|\n\
         | NNLP (NNLQP's predictor), NNLQP data | ~1.7% | not quoted here |\n\
         | NN-Former (CVPR 2025), NNLQP data | 1.11% | 8.39% (best of 10 runs) |\n\n\
         The published numbers are on NNLQP's 10 families x 2,000 ONNX models timed on one GPU; \
         ours are {} models per family timed on one CPU core with tract, plus a ViT family NNLQP \
         lacks, and we report mean ± std over seeds rather than the best run. The task is \
         comparable in kind, not in numbers.",
        data.labels.rows.len() / families.len().max(1)
    );
    out
}
