//! Measures the latency of ONNX models on the local CPU through a real
//! inference engine ([tract](https://github.com/sonos/tract), pure Rust, or
//! [ONNX Runtime](https://onnxruntime.ai), its library opened at run time),
//! the way a latency dataset needs it: a fixed thread count, warm-up,
//! repeated runs with median and spread, several passes over the models, each
//! in a shuffled order so that machine drift does not line up with a family,
//! unstable models measured again, models timed while other processes were
//! busy timed again, failures recorded with the engine's message and skipped,
//! and a journal per engine setting that makes an interrupted run resume
//! where it stopped.
//!
//! Output, beside the journals: NNLQP's `gt.txt` (every engine setting's
//! rows, told apart by their `PlatformId`) and one `metadata-<platform>.json`
//! per setting.

mod engine;
mod journal;
mod labels;

pub use engine::{
    Engine, EngineInfo, EngineKind, OnnxRuntime, OrtError, RunPlan, Runs, TRACT_VERSION, Tract,
    open_engine, time_runs,
};
pub use journal::{Journal, JournalError, Outcome, Record, Timing, journal_file};
pub use labels::{Repeatability, compare_labels, labels};

use labels::{GtRow, read_gt};

use sysio::machine::{CpuTimes, load_average};

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
    /// A timing during which other processes used more than this many cores
    /// on average (or the hypervisor stole more than 5% of the time) was
    /// taken on a busy machine: it is timed again, up to `busy_retries`
    /// times, after a pause.
    #[serde(default = "default_max_other_cores")]
    pub max_other_cores: f64,
    #[serde(default = "default_busy_retries")]
    pub busy_retries: usize,
}

fn one() -> usize {
    1
}

fn default_max_other_cores() -> f64 {
    0.25
}

fn default_busy_retries() -> usize {
    3
}

/// The hypervisor's share of the time above which a timing counts as busy.
const MAX_STEAL: f64 = 0.05;

/// The pause before a busy timing is retried.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

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
            max_other_cores: default_max_other_cores(),
            busy_retries: default_busy_retries(),
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
    #[error(transparent)]
    Engine(#[from] OrtError),
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

/// Measures one model: attempts until the spread is within the limit, each
/// attempt timed again while the machine was busy (see [`Protocol::max_other_cores`]).
pub fn measure(engine: &dyn Engine, job: &Job, protocol: &Protocol) -> Outcome {
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
        let timing = match timed_when_quiet(engine, &onnx, inputs, protocol) {
            Ok(t) => Timing {
                attempts: attempt,
                ..t
            },
            Err(error) => return Outcome::Failed { error },
        };
        // A quiet timing beats a busy one; among equals, the smaller spread.
        let better = |new: &Timing, old: &Timing| (new.busy, new.spread) < (old.busy, old.spread);
        match &best {
            Some(b) if !better(&timing, b) => {}
            _ => best = Some(timing),
        }
        if let Some(b) = best.as_mut() {
            b.attempts = attempt;
            if !b.unstable && !b.busy {
                break;
            }
        }
    }
    best.map(Outcome::Ok).unwrap_or(Outcome::Failed {
        error: "no attempt ran".into(),
    })
}

/// One timing of `onnx`, with the machine's activity around it; timed again,
/// after a pause, while other processes kept the machine busy.
fn timed_when_quiet(
    engine: &dyn Engine,
    onnx: &[u8],
    inputs: &[GraphInput],
    protocol: &Protocol,
) -> Result<Timing, String> {
    let mut retries = 0;
    loop {
        let load_before = load_average();
        let cpu_before = CpuTimes::now();
        let runs = engine.time(onnx, inputs, protocol.run_plan())?;
        let activity = cpu_before
            .zip(CpuTimes::now())
            .and_then(|(a, b)| a.until(&b));
        let busy = activity
            .is_some_and(|a| a.other_cores > protocol.max_other_cores || a.steal > MAX_STEAL);
        if busy && retries < protocol.busy_retries {
            retries += 1;
            std::thread::sleep(BUSY_PAUSE);
            continue;
        }
        let (median_ms, spread, min_ms, max_ms) = statistics(&runs.run_ms);
        return Ok(Timing {
            median_ms,
            spread,
            min_ms,
            max_ms,
            load_ms: runs.load_ms,
            attempts: 1,
            unstable: spread > protocol.max_spread,
            run_ms: runs.run_ms,
            other_cores: activity.map(|a| a.other_cores),
            steal: activity.map(|a| a.steal),
            load_before,
            load_after: load_average(),
            busy_retries: retries,
            busy,
        });
    }
}

/// Facts about the machine, engine and protocol a dataset was measured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub engine: String,
    pub engine_version: String,
    /// The engine's graph optimisation, its library and the library's SHA-256.
    #[serde(default)]
    pub optimization: Option<String>,
    #[serde(default)]
    pub library: Option<String>,
    #[serde(default)]
    pub library_sha256: Option<String>,
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
    /// Timings (model x pass) still taken on a busy machine after every retry.
    #[serde(default)]
    pub busy: usize,
    /// Timings retried because the machine was busy.
    #[serde(default)]
    pub busy_retried: usize,
    /// How well the labels repeat, when a second measurement was compared
    /// with them (`narformer zoo compare --record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeatability: Option<Repeatability>,
}

impl Metadata {
    fn of(
        dir_jobs: &[Job],
        journal: &Journal,
        protocol: &Protocol,
        engine: &EngineInfo,
    ) -> Metadata {
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
            engine: engine.kind.name().into(),
            engine_version: engine.version.clone(),
            optimization: Some(engine.optimization.clone()),
            library: engine.library.clone(),
            library_sha256: engine.library_sha256.clone(),
            platform: engine.platform(),
            cpu_model: sysio::machine::cpu_model().unwrap_or_else(|| "unknown".into()),
            logical_cpus: sysio::machine::cores(),
            kernel: sysio::machine::kernel(),
            protocol: protocol.clone(),
            input_shapes,
            measured,
            failed: tried.len() - measured,
            unstable: ok.iter().filter(|t| t.unstable).count(),
            busy: ok.iter().filter(|t| t.busy).count(),
            busy_retried: ok.iter().filter(|t| t.busy_retries > 0).count(),
            repeatability: None,
        }
    }
}

/// The metadata file of one engine setting in a measured directory.
pub fn metadata_file(platform: &str) -> String {
    format!("metadata-{platform}.json")
}

/// The metadata of `platform` in `dir`, if it was measured there.
pub fn read_metadata(dir: &Path, platform: &str) -> Result<Metadata, MeasureError> {
    Ok(sysio::read_json(&dir.join(metadata_file(platform)))?)
}

/// The engine settings measured in `dir` (from its metadata files), sorted.
pub fn platforms_in(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some(
                name.strip_prefix("metadata-")?
                    .strip_suffix(".json")?
                    .to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

/// Measures every model of `dir` not yet in the journal of `engine`'s
/// setting, then writes that setting's rows of `gt.txt` and its metadata.
/// `progress` is told each finished model.
pub fn measure_dir(
    dir: &Path,
    engine: &dyn Engine,
    protocol: &Protocol,
    options: &ImportOptions,
    mut progress: impl FnMut(&Record, usize, usize),
) -> Result<Metadata, MeasureError> {
    let jobs = jobs_in(dir, options)?;
    let platform = engine.info().platform();
    let mut journal = Journal::open(dir, &platform)?;
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
            outcome: measure(engine, job, protocol),
        };
        journal.append(record.clone())?;
        progress(&record, done + 1, total);
        // Labels so far are usable while a long run goes on.
        if (done + 1) % 100 == 0 {
            write_outputs(dir, &jobs, &journal, protocol, engine.info())?;
        }
    }
    write_outputs(dir, &jobs, &journal, protocol, engine.info())
}

/// A model's label: the median of its fastest successful pass timed on a
/// quiet machine (of its fastest pass when every one was busy). On a shared
/// machine interference only ever slows a run down, so the fastest pass is
/// the most repeatable estimate (docs/DATA.md gives the measured figures).
fn label(journal: &Journal, name: &str) -> Option<f64> {
    let timings: Vec<&Timing> = journal
        .records()
        .filter(|r| r.name == name)
        .filter_map(|r| match &r.outcome {
            Outcome::Ok(t) => Some(t),
            Outcome::Failed { .. } => None,
        })
        .collect();
    let quiet = timings.iter().any(|t| !t.busy);
    timings
        .into_iter()
        .filter(|t| !quiet || !t.busy)
        .map(|t| t.median_ms)
        .min_by(f64::total_cmp)
}

/// `gt.txt` (this setting's measured models, sorted by name, beside the
/// other settings' rows, which are kept) and the setting's metadata, each
/// written atomically. A model keeps one GraphID across settings.
fn write_outputs(
    dir: &Path,
    jobs: &[Job],
    journal: &Journal,
    protocol: &Protocol,
    engine: &EngineInfo,
) -> Result<Metadata, MeasureError> {
    let platform = engine.platform();
    let mut rows: Vec<GtRow> = read_gt(dir)
        .into_iter()
        .filter(|r| r.platform != platform)
        .collect();
    for job in jobs {
        let Some(latency) = label(journal, &job.name) else {
            continue;
        };
        rows.push(GtRow {
            onnx: job.onnx_path(dir).display().to_string(),
            batch: "1".into(),
            latency: format!("{latency:.6}"),
            family: job.family.clone(),
            platform: platform.clone(),
        });
    }
    let mut paths: Vec<&str> = rows.iter().map(|r| r.onnx.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let id = |p: &str| paths.binary_search(&p).unwrap_or(0);
    let mut sorted: Vec<&GtRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.platform, &a.onnx).cmp(&(&b.platform, &b.onnx)));
    let mut gt = String::new();
    for r in sorted {
        gt.push_str(&format!(
            "{} {} {} {} {} {}\n",
            id(&r.onnx),
            r.onnx,
            r.batch,
            r.latency,
            r.family,
            r.platform
        ));
    }
    let mut metadata = Metadata::of(jobs, journal, protocol, engine);
    // A recorded repeatability stays with the labels it was measured on.
    if let Ok(previous) = read_metadata(dir, &platform) {
        metadata.repeatability = previous.repeatability;
    }
    sysio::write_atomic(&dir.join("gt.txt"), gt.as_bytes())?;
    sysio::write_json(&dir.join(metadata_file(&platform)), &metadata)?;
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
