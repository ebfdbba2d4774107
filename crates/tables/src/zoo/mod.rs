//! The model-zoo latency table: V2, the GNN baseline, the kernel-level
//! additive baseline and the FLOPs / FLOPs+MAC regressions on a zoo measured
//! on this machine, for every engine setting it was measured with, in domain
//! (a tenth of each family held out) and leave-one-family-out.
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
    /// V2 with the additive readout and node costs.
    V2Additive,
    /// V2 additive around the kernel-level baseline's per-node costs.
    V2Residual,
    Gnn,
    /// The regressions and the kernel-level additive baseline (they cost
    /// next to nothing to fit).
    Regression,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::V2 => "v2",
            Kind::V2Additive => "v2-additive",
            Kind::V2Residual => "v2-residual",
            Kind::Gnn => "gnn",
            Kind::Regression => "regression",
        }
    }
}

/// One engine setting's labels of the zoo.
#[derive(Debug)]
pub struct Measured {
    /// The labels' `PlatformId` (`cpu-tract-1t`, `cpu-ort-1t`).
    pub platform: String,
    pub data: ZooData,
}

/// The zoo's labels of each engine setting in its `gt.txt`, in the order
/// the file names them.
pub fn measured_sets(
    dir: &std::path::Path,
    vocab: tokenizer::NetworkVocab,
) -> Result<Vec<Measured>, TableError> {
    let labels = datasets::nnlqp::read_labels(&dir.join("gt.txt"), datasets::BadRows::Fail)?;
    labels
        .platforms()
        .into_iter()
        .map(|platform| {
            let data = ZooData::load(dir, Some(&platform), vocab)?;
            Ok(Measured { platform, data })
        })
        .collect()
}

/// The data of `job`'s platform among `sets`.
pub fn data_of<'a>(sets: &'a [Measured], job: &Job) -> Result<&'a ZooData, TableError> {
    sets.iter()
        .find(|m| m.platform == job.platform)
        .map(|m| &m.data)
        .ok_or_else(|| TableError::NoPlatform {
            job: job.name(),
            platform: job.platform.clone(),
        })
}

/// One unit of work. `held_out = None` is the in-domain split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The engine setting whose labels it trains and scores on.
    pub platform: String,
    pub kind: Kind,
    pub held_out: Option<String>,
    pub seed: u64,
}

impl Job {
    pub fn name(&self) -> String {
        let split = self.held_out.as_deref().unwrap_or("in-domain");
        format!(
            "{}-{}-{split}-s{}",
            self.platform,
            self.kind.name(),
            self.seed
        )
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

/// Every job of every engine setting: learned models first (in-domain, then
/// each held-out family), then regressions.
pub fn plan(sets: &[Measured], seeds: &[u64]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for set in sets {
        let splits: Vec<Option<String>> = std::iter::once(None)
            .chain(set.data.families().into_iter().map(Some))
            .collect();
        let job = |kind, held_out: &Option<String>, seed| Job {
            platform: set.platform.clone(),
            kind,
            held_out: held_out.clone(),
            seed,
        };
        for &seed in seeds {
            for kind in [Kind::V2Residual, Kind::V2Additive, Kind::V2, Kind::Gnn] {
                for held_out in &splits {
                    jobs.push(job(kind, held_out, seed));
                }
            }
        }
        for &seed in seeds {
            for held_out in &splits {
                jobs.push(job(Kind::Regression, held_out, seed));
            }
        }
    }
    jobs
}

/// Test scores per family of one model on one split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub model: String,
    pub families: Vec<FamilyScores>,
    /// `(measured, predicted)` ms of every test row, for the plots (empty in
    /// results stored before they were kept).
    #[serde(default)]
    pub predictions: Vec<(f64, f64)>,
}

/// What a job leaves on disk: the scores of each model the job fits.
pub type Stored = stored::Stored<Job, Vec<Scored>>;

/// The hash a job's stored result must carry: its kind's config and the
/// labels of its platform (`data`).
pub fn job_hash(job: &Job, protocol: &ZooProtocol, data: &ZooData) -> String {
    let labels: Vec<(&str, f64)> = data
        .labels
        .rows
        .iter()
        .map(|r| (r.graph_id.as_str(), r.latency_ms))
        .collect();
    match job.kind {
        // The regressions have no config: their code's version stands for it.
        Kind::Regression => hash_of(&(
            labels,
            protocol.vocab,
            trainer::regression::kernel_additive_version(data.pruning),
        )),
        // Its prior is the kernel-level baseline's fit.
        Kind::V2Residual => hash_of(&(
            protocol.config(job.kind),
            labels,
            protocol.vocab,
            trainer::regression::kernel_additive_version(data.pruning),
        )),
        kind => hash_of(&(protocol.config(kind), labels, protocol.vocab)),
    }
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
    let measured = data.latencies(&parts.test);
    let scored = |model: &str, predictions: Vec<f64>| Scored {
        model: model.into(),
        families: per_family(data, &parts.test, &predictions),
        predictions: measured.iter().copied().zip(predictions).collect(),
    };
    Ok(match protocol.config(job.kind) {
        Some(config) => {
            let p =
                tz::train_and_predict(data, &parts, &job.split(), config, job.seed, device, false)?;
            vec![scored(job.kind.name(), p)]
        }
        None => vec![
            scored(
                "kernel_additive",
                tz::kernel_additive(data, &parts, &job.split()),
            ),
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
    sets: &[Measured],
    protocol: &ZooProtocol,
    force: bool,
    device: &burn::prelude::Device,
) -> Result<(), TableError> {
    let done = |job: &Job| {
        data_of(sets, job)
            .is_ok_and(|data| finished(root, job, &job_hash(job, protocol, data)).is_some())
    };
    run_share(jobs, (worker, workers), force, done, |job| {
        let t = Instant::now();
        let data = data_of(sets, job)?;
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
