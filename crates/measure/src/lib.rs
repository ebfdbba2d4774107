//! Measures the latency of ONNX models on the local CPU through a real
//! inference engine ([tract](https://github.com/sonos/tract), pure Rust), the
//! way a latency dataset needs it: a fixed thread count, warm-up, repeated
//! runs with median and spread, models in a shuffled order so that machine
//! drift does not line up with a family, unstable models measured again,
//! failures recorded with the engine's message and skipped, and a journal
//! that makes an interrupted run resume where it stopped.
//!
//! Output, beside the journal: NNLQP's `gt.txt` and `metadata.json`.

mod engine;
mod journal;

pub use engine::{ENGINE, ENGINE_VERSION, RunPlan, Runs, Tract};
pub use journal::{JOURNAL, Journal, JournalError, Outcome, Record, Timing};

use onnx_io::{GraphInput, ImportOptions, Weights, export_bytes};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zoo::{Manifest, ManifestError};

/// How each model is measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub threads: usize,
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed runs per attempt, at most.
    pub repeats: usize,
    /// Timed runs per attempt, at least: slow models stop after this many
    /// once `budget_ms` of timed runs is spent.
    pub min_repeats: usize,
    pub budget_ms: f64,
    /// An attempt whose interquartile range exceeds this fraction of the median is repeated.
    pub max_spread: f64,
    /// Attempts per model at most; the one with the smallest spread is kept.
    pub attempts: usize,
    /// Seed of the shuffled measurement order.
    pub order_seed: u64,
    /// Passes over all models, each in its own shuffled order, each model
    /// loaded afresh; a model's label is the median of its fastest pass.
    /// Passes spread a model's timings over time, so that a slow spell of
    /// the machine (or an unlucky memory layout of one load) does not set
    /// its label.
    #[serde(default = "one")]
    pub passes: usize,
}

fn one() -> usize {
    1
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            threads: 1,
            warmup: 2,
            repeats: 10,
            min_repeats: 5,
            budget_ms: 1500.0,
            max_spread: 0.05,
            attempts: 3,
            order_seed: 0,
            passes: 3,
        }
    }
}

impl Protocol {
    pub fn run_plan(&self) -> RunPlan {
        RunPlan {
            warmup: self.warmup,
            min: self.min_repeats,
            max: self.repeats,
            budget_ms: self.budget_ms,
        }
    }
}

/// Median, interquartile spread, min and max of run times.
pub fn statistics(runs: &[f64]) -> (f64, f64, f64, f64) {
    let mut v: Vec<f64> = runs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    let median = q(0.5);
    (median, (q(0.75) - q(0.25)) / median, v[0], v[v.len() - 1])
}

/// A model to measure.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub family: String,
    pub source: Source,
    /// The graph inputs the engine is given, or why they are not known (an
    /// input with unresolved symbolic dims, a file that does not import).
    pub inputs: Result<Vec<GraphInput>, String>,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// A zoo model, exported with random weights in memory (its stored file is stripped).
    Zoo(zoo::ModelId),
    /// An ONNX file with its own weights.
    File(PathBuf),
}

impl Job {
    fn onnx(&self) -> Result<Vec<u8>, String> {
        match &self.source {
            Source::Zoo(id) => {
                let model = zoo::generate(*id);
                export_bytes(
                    &model.graph,
                    Weights::Random {
                        seed: id.seed ^ id.index as u64,
                    },
                )
                .map_err(|e| e.to_string())
            }
            Source::File(path) => {
                std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    /// The ONNX path `gt.txt` names, relative to the directory.
    pub fn onnx_path(&self, dir: &Path) -> PathBuf {
        match &self.source {
            Source::Zoo(_) => PathBuf::from("onnx").join(format!("{}.onnx", self.name)),
            Source::File(p) => p.strip_prefix(dir).unwrap_or(p).to_path_buf(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no zoo.json and no .onnx files to measure")]
    Empty(PathBuf),
    #[error(transparent)]
    Write(#[from] sysio::FileError),
}

/// The models of `dir`: those of its `zoo.json`, then every other `.onnx`
/// file in it or in its `onnx/` folder (measured with the weights it holds,
/// its inputs shaped by `options`).
pub fn jobs_in(dir: &Path, options: &ImportOptions) -> Result<Vec<Job>, MeasureError> {
    let mut jobs = Vec::new();
    let mut known = std::collections::HashSet::new();
    if dir.join(zoo::MANIFEST).exists() {
        let manifest = Manifest::read(dir)?;
        for e in &manifest.models {
            known.insert(dir.join(&e.onnx));
            jobs.push(Job {
                name: e.name.clone(),
                family: e.family.to_string(),
                source: Source::Zoo(e.id(manifest.seed)),
                inputs: Ok(vec![GraphInput {
                    name: "input".into(),
                    shape: e.family.input_shape().to_vec(),
                    is_float: true,
                }]),
            });
        }
    }
    for folder in [dir.to_path_buf(), dir.join("onnx")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "onnx") && !known.contains(p))
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let inputs = onnx_io::read_file(&path, options)
                .map(|m| m.inputs)
                .map_err(|e| e.to_string());
            jobs.push(Job {
                name,
                family: "custom".into(),
                source: Source::File(path),
                inputs,
            });
        }
    }
    if jobs.is_empty() {
        return Err(MeasureError::Empty(dir.to_path_buf()));
    }
    Ok(jobs)
}

/// Measures one model: attempts until the spread is within the limit.
pub fn measure(engine: &Tract, job: &Job, protocol: &Protocol) -> Outcome {
    let onnx = match job.onnx() {
        Ok(b) => b,
        Err(error) => return Outcome::Failed { error },
    };
    let inputs = match &job.inputs {
        Ok(inputs) if !inputs.is_empty() => inputs,
        Ok(_) => {
            return Outcome::Failed {
                error: "the model has no graph input".into(),
            };
        }
        Err(error) => {
            return Outcome::Failed {
                error: error.clone(),
            };
        }
    };
    let mut best: Option<Timing> = None;
    for attempt in 1..=protocol.attempts.max(1) {
        let runs = match engine.time(&onnx, inputs, protocol.run_plan()) {
            Ok(r) => r,
            Err(error) => return Outcome::Failed { error },
        };
        let (median_ms, spread, min_ms, max_ms) = statistics(&runs.run_ms);
        let timing = Timing {
            median_ms,
            spread,
            min_ms,
            max_ms,
            load_ms: runs.load_ms,
            attempts: attempt,
            unstable: spread > protocol.max_spread,
            run_ms: runs.run_ms,
        };
        let keep = match &best {
            Some(b) => timing.spread < b.spread,
            None => true,
        };
        if keep {
            best = Some(timing);
        }
        if let Some(b) = best.as_mut() {
            b.attempts = attempt;
            if !b.unstable {
                break;
            }
        }
    }
    best.map(Outcome::Ok).unwrap_or(Outcome::Failed {
        error: "no attempt ran".into(),
    })
}

/// Facts about the machine and protocol a dataset was measured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub engine: String,
    pub engine_version: String,
    pub platform: String,
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub kernel: String,
    pub protocol: Protocol,
    /// The first input's shape per family (batch 1).
    pub input_shapes: std::collections::BTreeMap<String, Vec<usize>>,
    /// Models with at least one successful pass.
    pub measured: usize,
    /// Models tried that failed in every pass.
    pub failed: usize,
    /// Timings (model x pass) whose spread stayed above the limit.
    pub unstable: usize,
}

impl Metadata {
    fn of(dir_jobs: &[Job], journal: &Journal, protocol: &Protocol) -> Metadata {
        let cpu_model = sysio::machine::cpu_model().unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| std::env::consts::OS.into());
        let mut input_shapes = std::collections::BTreeMap::new();
        for j in dir_jobs {
            if let Ok(Some(first)) = j.inputs.as_ref().map(|i| i.first()) {
                input_shapes
                    .entry(j.family.clone())
                    .or_insert_with(|| first.shape.clone());
            }
        }
        let ok: Vec<&Timing> = journal
            .records()
            .filter_map(|r| match &r.outcome {
                Outcome::Ok(t) => Some(t),
                Outcome::Failed { .. } => None,
            })
            .collect();
        let measured = dir_jobs
            .iter()
            .filter(|j| label(journal, &j.name).is_some())
            .count();
        let tried: std::collections::HashSet<&str> =
            journal.records().map(|r| r.name.as_str()).collect();
        Metadata {
            engine: ENGINE.into(),
            engine_version: ENGINE_VERSION.into(),
            platform: platform_id(protocol.threads),
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            protocol: protocol.clone(),
            input_shapes,
            measured,
            failed: tried.len() - measured,
            unstable: ok.iter().filter(|t| t.unstable).count(),
        }
    }
}

/// The `PlatformId` column of `gt.txt`.
pub fn platform_id(threads: usize) -> String {
    format!("cpu-{ENGINE}-{threads}t")
}

/// Measures every model of `dir` not yet in its journal, then writes `gt.txt`
/// and `metadata.json`. `progress` is told each finished model.
pub fn measure_dir(
    dir: &Path,
    protocol: &Protocol,
    options: &ImportOptions,
    mut progress: impl FnMut(&Record, usize, usize),
) -> Result<Metadata, MeasureError> {
    let jobs = jobs_in(dir, options)?;
    let mut journal = Journal::open(dir)?;
    let engine = Tract::new(protocol.threads);
    let passes = protocol.passes.max(1);
    let mut todo: Vec<(usize, &Job)> = Vec::new();
    for pass in 0..passes {
        let mut order: Vec<&Job> = jobs.iter().collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            protocol.order_seed.wrapping_add(pass as u64),
        ));
        todo.extend(
            order
                .into_iter()
                .filter(|j| !journal.contains(&j.name, pass))
                .map(|j| (pass, j)),
        );
    }
    let total = todo.len();
    for (done, (pass, job)) in todo.into_iter().enumerate() {
        let record = Record {
            name: job.name.clone(),
            family: job.family.clone(),
            pass,
            outcome: measure(&engine, job, protocol),
        };
        journal.append(record.clone())?;
        progress(&record, done + 1, total);
        // Labels so far are usable while a long run goes on.
        if (done + 1) % 100 == 0 {
            write_outputs(dir, &jobs, &journal, protocol)?;
        }
    }
    write_outputs(dir, &jobs, &journal, protocol)
}

/// A model's label: the median of its fastest successful pass. On a shared
/// machine interference only ever slows a run down, so the fastest pass is
/// the most repeatable estimate (docs/DATA.md gives the measured figures).
fn label(journal: &Journal, name: &str) -> Option<f64> {
    journal
        .records()
        .filter(|r| r.name == name)
        .filter_map(|r| match &r.outcome {
            Outcome::Ok(t) => Some(t.median_ms),
            Outcome::Failed { .. } => None,
        })
        .min_by(f64::total_cmp)
}

/// Median relative difference `|a - b| / b` of the models measured in both
/// `gt.txt` files (a repeatability check), with how many models it covers.
pub fn compare_labels(a: &Path, b: &Path) -> Result<(f64, usize), MeasureError> {
    let read = |p: &Path| -> Result<std::collections::HashMap<String, f64>, MeasureError> {
        let file = p.join("gt.txt");
        let text = std::fs::read_to_string(&file).map_err(|source| MeasureError::Io {
            file: file.clone(),
            source,
        })?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((f.get(1)?.to_string(), f.get(3)?.parse().ok()?))
            })
            .collect())
    };
    let (a, b) = (read(a)?, read(b)?);
    let mut diffs: Vec<f64> = a
        .iter()
        .filter_map(|(k, x)| b.get(k).map(|y| (x - y).abs() / y))
        .collect();
    diffs.sort_by(f64::total_cmp);
    let n = diffs.len();
    let median = match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => diffs[n / 2],
        _ => (diffs[n / 2 - 1] + diffs[n / 2]) / 2.0,
    };
    Ok((median, n))
}

/// `gt.txt` (measured models, sorted by name) and `metadata.json`, each written atomically.
fn write_outputs(
    dir: &Path,
    jobs: &[Job],
    journal: &Journal,
    protocol: &Protocol,
) -> Result<Metadata, MeasureError> {
    let mut sorted: Vec<&Job> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let platform = platform_id(protocol.threads);
    let mut gt = String::new();
    let mut id = 0;
    for job in sorted {
        let Some(latency) = label(journal, &job.name) else {
            continue;
        };
        gt.push_str(&format!(
            "{id} {} 1 {latency:.6} {} {platform}\n",
            job.onnx_path(dir).display(),
            job.family
        ));
        id += 1;
    }
    let metadata = Metadata::of(jobs, journal, protocol);
    sysio::write_atomic(&dir.join("gt.txt"), gt.as_bytes())?;
    sysio::write_json(&dir.join("metadata.json"), &metadata)?;
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_median_and_interquartile_spread() {
        let (median, spread, min, max) = statistics(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert_eq!((median, min, max), (3.0, 1.0, 5.0));
        // q25 = 2, q75 = 4.
        assert!((spread - 2.0 / 3.0).abs() < 1e-12);
        assert!(statistics(&[]).0.is_nan());
    }
}
