//! The model-zoo latency table: V2, the GNN baseline and the FLOPs /
//! FLOPs+MAC regressions on a zoo measured on this machine, in domain (a
//! tenth of each family held out) and leave-one-family-out.
//!
//! A job is one model kind, split and seed; it is stored in the tables' one
//! format ([`crate::stored`]) with the hash of that kind's config and the
//! dataset's labels, and reused while both are unchanged.

mod protocol;
mod render;

pub use protocol::{FamilyScores, ZooProtocol, per_family};
pub use render::render_markdown;

use crate::TableError;
use crate::stats::mean;
use crate::stored::{self, hash_of};
use crate::worker::{WorkerJob, run_share};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use trainer::regression::RegressionFeatures;
use trainer::zoo::{self as tz, ZooData};

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

/// What a job leaves on disk: the scores of each model the job fits.
pub type Stored = stored::Stored<Job, Vec<Scored>>;

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

/// The stored result of `job`, if it finished under `hash` ([`job_hash`]).
pub fn finished(root: &Path, job: &Job, hash: &str) -> Option<Stored> {
    stored::finished(root, job, hash)
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
        families: per_family(data, &parts.test, &predictions),
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
        let result = run_job(job, data, protocol, device)?;
        let stored = Stored {
            hash: job_hash(job, protocol, data),
            job: job.clone(),
            seconds: t.elapsed().as_secs_f64(),
            result,
        };
        stored::store(root, &stored)?;
        let first = &stored.result[0];
        let mapes: Vec<f64> = first.families.iter().map(|f| f.scores.mape).collect();
        Ok(format!(
            "{} MAPE {:.2}% (mean over {} families)",
            first.model,
            mean(&mapes),
            mapes.len()
        ))
    })
}
