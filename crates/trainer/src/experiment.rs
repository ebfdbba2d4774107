//! One call from a data directory to a test report: load, tokenise, split,
//! train (checkpointing the best model on validation), score the test split.

use crate::metrics::kendall_tau_b;
use crate::run_dir::{self, CONFIG_FILE, METRICS_FILE, MODEL_FILE, PREDICTIONS_FILE, TARGET_FILE};
use crate::train::{self, Checkpointing, EpochLog, EvalSet, ResumeStore, TargetScaling, TrainSet};
use crate::{Benchmark, Profile, TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::{BadRows, Loaded, Sample, Split, SplitSizes};
use graph_ir::Graph;
use graph_ir::cells::relabelled_twin;
use model::{Architecture, CellModel};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokenizer::{CellTokenizer, CellVocab, GraphTokens};

/// Everything needed to train and report one run.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub config: TrainingConfig,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub show_progress: bool,
    /// End the session after this epoch; the next run of the same experiment resumes.
    pub stop_after_epoch: Option<usize>,
    /// Stop at a malformed row of the benchmark file, or skip it (counted in the report).
    pub bad_rows: BadRows,
    /// Where tokenised ONNX graphs are cached (latency runs); see [`crate::latency::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
}

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

/// The tokenizer vocabulary of a benchmark.
fn vocab(benchmark: Benchmark) -> Result<CellVocab, TrainError> {
    match benchmark {
        Benchmark::Nb201 => Ok(CellVocab::Nb201),
        Benchmark::Nb101 => Ok(CellVocab::Nb101),
        Benchmark::Nnlqp | Benchmark::Nb201Latency => Err(not_cells()),
    }
}

fn not_cells() -> TrainError {
    TrainError::Config("nnlqp is a latency benchmark of ONNX files, not of cells".into())
}

/// The benchmark's samples; skipped rows are reported on stderr, one line each.
pub fn load_samples(
    benchmark: Benchmark,
    data_dir: &Path,
    bad_rows: BadRows,
) -> Result<Loaded, TrainError> {
    let dir = datasets::data_dir::resolve(Some(data_dir))?;
    let loaded = match benchmark {
        Benchmark::Nb201 => datasets::nb201::load(&dir, bad_rows)?,
        Benchmark::Nb101 => datasets::nb101::load(&dir, bad_rows)?,
        Benchmark::Nnlqp | Benchmark::Nb201Latency => return Err(not_cells()),
    };
    if !loaded.skipped.is_empty() {
        for e in &loaded.skipped {
            eprintln!("skipped: {e}");
        }
        eprintln!(
            "warning: skipped {} malformed rows of {benchmark}; {} loaded",
            loaded.skipped.len(),
            loaded.samples.len()
        );
    }
    Ok(loaded)
}

fn tokenize(
    tokenizer: &CellTokenizer,
    arch: &str,
    graph: &Graph,
) -> Result<GraphTokens, TrainError> {
    tokenizer
        .tokenize(graph)
        .map_err(|source| TrainError::Tokenize {
            arch: arch.to_string(),
            source,
        })
}

fn eval_set(
    samples: &[Sample],
    indices: &[usize],
    tokenizer: &CellTokenizer,
) -> Result<EvalSet, TrainError> {
    let mut tokens = Vec::with_capacity(indices.len());
    for &i in indices {
        tokens.push(tokenize(tokenizer, &samples[i].arch, &samples[i].graph)?);
    }
    Ok(EvalSet {
        tokens,
        labels: indices.iter().map(|&i| samples[i].label).collect(),
    })
}

/// The training cells with their relabelled twins (the cell itself when it has
/// none); a twin is the same architecture, so it shares the cell's label.
fn train_set(
    samples: &[Sample],
    indices: &[usize],
    tokenizer: &CellTokenizer,
) -> Result<TrainSet, TrainError> {
    let mut twins = Vec::with_capacity(indices.len());
    for &i in indices {
        let s = &samples[i];
        let twin = relabelled_twin(&s.graph).unwrap_or_else(|| s.graph.clone());
        twins.push(tokenize(tokenizer, &s.arch, &twin)?);
    }
    let cells = eval_set(samples, indices, tokenizer)?;
    Ok(TrainSet {
        tokens: cells.tokens,
        twins,
        labels: cells.labels,
    })
}

fn split_of(config: &TrainingConfig, len: usize) -> Result<Split, TrainError> {
    let sizes = SplitSizes {
        train: config.train_size,
        validation: config.validation_size,
    };
    Ok(Split::seeded(len, sizes, config.seed)?)
}

impl Experiment {
    /// Trains, checkpoints into `run_dir`, scores the test split and writes `metrics.json`.
    pub fn run(&self, device: &Device) -> Result<Report, TrainError> {
        let config = &self.config;
        config.validate().map_err(TrainError::Config)?;
        if config.benchmark.is_latency() {
            return crate::latency::run(self, device);
        }
        let loaded = load_samples(config.benchmark, &self.data_dir, self.bad_rows)?;
        let samples = loaded.samples;
        let split = split_of(config, samples.len())?;
        let tokenizer = CellTokenizer::new(vocab(config.benchmark)?);

        let train_set = train_set(&samples, &split.train, &tokenizer)?;
        let validation = eval_set(&samples, &split.validation, &tokenizer)?;
        let test = eval_set(&samples, &split.test, &tokenizer)?;

        let (trained, store) = self.train_in_run_dir(&train_set, &validation, device)?;
        let train_seconds = trained.train_seconds;

        let started = Instant::now();
        let scores = train::predict(&trained.model, &test.tokens, &trained.scaling, device, 1024)?;
        let kendall_tau = kendall_tau_b(&scores, &test.labels).unwrap_or(f64::NAN);
        let eval_seconds = started.elapsed().as_secs_f64();
        let mut table = String::from("arch,label,prediction\n");
        for ((&i, label), prediction) in split.test.iter().zip(&test.labels).zip(&scores) {
            table.push_str(&format!("{},{label},{prediction}\n", samples[i].arch));
        }
        run_dir::write_atomic(&self.run_dir.join(PREDICTIONS_FILE), table.as_bytes())?;

        let report = Report {
            benchmark: config.benchmark,
            model: config.model.architecture,
            train_size: config.train_size,
            seed: config.seed,
            profile: config.profile,
            n_train: split.train.len(),
            n_val: split.validation.len(),
            n_test: split.test.len(),
            metrics: Metrics {
                kendall_tau,
                validation_kendall_tau: trained.best_validation_tau,
                best_epoch: trained.best_epoch,
                mape: None,
                acc10: None,
                acc5: None,
                validation_mape: None,
            },
            train_seconds,
            eval_seconds,
            parameters: trained.model.num_params(),
            skipped_rows: loaded.skipped.len(),
            unknown_ops: Default::default(),
            run_dir: self.run_dir.clone(),
            history: trained.history,
        };
        run_dir::write_json_atomic(&self.run_dir.join(METRICS_FILE), &report)?;
        store.clear()?;
        Ok(report)
    }
}

impl Experiment {
    /// Writes `config.json`, trains with resumable snapshots in the run
    /// directory and checkpoints each new best model; returns the store so the
    /// caller clears it once the report is written.
    pub(crate) fn train_in_run_dir(
        &self,
        train_set: &TrainSet,
        validation: &EvalSet,
        device: &Device,
    ) -> Result<(train::Trained, ResumeStore), TrainError> {
        let config = &self.config;
        std::fs::create_dir_all(&self.run_dir)
            .map_err(|e| TrainError::run_dir(&self.run_dir, e))?;
        let store = ResumeStore::new(&self.run_dir);
        let config_path = self.run_dir.join(CONFIG_FILE);
        if store.exists() && !same_config(&config_path, config)? {
            // An interrupted run of another config: start over rather than mix the two.
            store.clear()?;
        }
        run_dir::write_json_atomic(&config_path, config)?;
        let model_path = self.run_dir.join(MODEL_FILE);
        let target_path = self.run_dir.join(TARGET_FILE);
        let mut save_best = |model: &CellModel, scaling: &TargetScaling| {
            model
                .clone()
                .save_file(&model_path)
                .map_err(|e| TrainError::run_dir(&model_path, e))?;
            run_dir::write_json_atomic(&target_path, scaling)
        };

        let trained = train::train_cells(
            config,
            train_set,
            validation,
            device,
            self.show_progress,
            Checkpointing {
                store: Some(&store),
                stop_after_epoch: self.stop_after_epoch,
            },
            &mut save_best,
        )?;
        if let Some(epoch) = trained.resumed_after {
            eprintln!("resumed an interrupted run after epoch {epoch}");
        }
        Ok((trained, store))
    }
}

/// Whether `path` holds exactly `config` (compared as JSON values).
fn same_config(path: &Path, config: &TrainingConfig) -> Result<bool, TrainError> {
    if !path.is_file() {
        return Ok(false);
    }
    let saved: serde_json::Value = run_dir::read_json(path)?;
    let current = serde_json::to_value(config).map_err(|e| TrainError::run_dir(path, e))?;
    Ok(saved == current)
}

/// Which part of a run's split to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitPart {
    Train,
    Validation,
    Test,
}

/// A finished run loaded back for inference.
#[derive(Debug)]
pub struct LoadedRun {
    pub config: TrainingConfig,
    pub scaling: TargetScaling,
    pub model: CellModel,
    device: Device,
}

impl LoadedRun {
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl LoadedRun {
    pub fn open(run_dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let config = TrainingConfig::load(&run_dir.join(CONFIG_FILE))?;
        config.validate().map_err(TrainError::Config)?;
        let scaling: TargetScaling = run_dir::read_json(&run_dir.join(TARGET_FILE))?;
        let model_path = run_dir.join(MODEL_FILE);
        let model = config
            .model
            .init(device)
            .try_load_file(&model_path)
            .map_err(|e| TrainError::run_dir(&model_path, e))?;
        Ok(Self {
            config,
            scaling,
            model,
            device: device.clone(),
        })
    }

    /// Predicted labels for `graphs`.
    pub fn predict(&self, graphs: &[(String, Graph)]) -> Result<Vec<f64>, TrainError> {
        let tokenizer = CellTokenizer::new(vocab(self.config.benchmark)?);
        let mut tokens = Vec::with_capacity(graphs.len());
        for (arch, graph) in graphs {
            tokens.push(tokenize(&tokenizer, arch, graph)?);
        }
        train::predict(&self.model, &tokens, &self.scaling, &self.device, 1024)
    }

    /// Kendall's tau of this run's model on a part of its own split, recomputed from the seed.
    pub fn evaluate(
        &self,
        data_dir: &Path,
        part: SplitPart,
        bad_rows: BadRows,
    ) -> Result<(usize, f64), TrainError> {
        let samples = load_samples(self.config.benchmark, data_dir, bad_rows)?.samples;
        let split = split_of(&self.config, samples.len())?;
        let indices = match part {
            SplitPart::Train => &split.train,
            SplitPart::Validation => &split.validation,
            SplitPart::Test => &split.test,
        };
        let tokenizer = CellTokenizer::new(vocab(self.config.benchmark)?);
        let set = eval_set(&samples, indices, &tokenizer)?;
        let scores = train::predict(&self.model, &set.tokens, &self.scaling, &self.device, 1024)?;
        Ok((
            indices.len(),
            kendall_tau_b(&scores, &set.labels).unwrap_or(f64::NAN),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_ir::cells::Nb101Cell;

    #[test]
    fn nb101_twins_share_the_label_of_their_cell() {
        let texts = [
            "0110000100010000 in|c3|mp|out",
            "0100001000010000 in|c3|mp|out",
            "0111000001000010000100000 in|c1|c3|mp|out",
        ];
        let samples: Vec<Sample> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let cell: Nb101Cell = text.parse().unwrap();
                Sample {
                    index: i,
                    arch: text.to_string(),
                    graph: cell.to_graph(),
                    label: 0.9 + 0.01 * i as f64,
                }
            })
            .collect();
        let set = train_set(&samples, &[2, 0, 1], &CellTokenizer::new(CellVocab::Nb101)).unwrap();
        assert_eq!(set.labels, vec![0.92, 0.9, 0.91]);
        // Cell 0 (a diamond) has a twin with its middle vertices swapped; cell 1 (a chain) has none.
        assert_ne!(set.twins[1].features, set.tokens[1].features);
        assert_eq!(set.twins[2].features, set.tokens[2].features);
        for (cell, twin) in set.tokens.iter().zip(&set.twins) {
            assert_eq!((cell.n, cell.dim), (twin.n, twin.dim));
        }
    }
}
