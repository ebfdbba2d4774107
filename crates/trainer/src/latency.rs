//! Latency runs on NNLQP-format datasets: ONNX files -> cached tokens ->
//! split (in-domain or leave-one-family-out) -> train -> MAPE / Acc(10%) /
//! Acc(5%) on the test networks.

use crate::experiment::{Experiment, LoadedRun, Metrics, Report};
use crate::metrics::{accuracy_within, kendall_tau_b, mape};
use crate::run_dir::{self, METRICS_FILE, PREDICTIONS_FILE};
use crate::train::{self, EvalSet, TrainSet};
use crate::{NetworkOptions, TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::BadRows;
use datasets::nnlqp::{self, LabelFile, TokenCache};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokenizer::{GraphTokens, NetworkTokenizer, NetworkVocab};

/// `$NARFORMER_CACHE`, else `.narformer-cache` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("NARFORMER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".narformer-cache"))
}

/// A dataset's rows that tokenised, with their tokens, and what was left out.
#[derive(Debug)]
pub struct LatencyDataset {
    pub labels: LabelFile,
    /// One per row of `labels.rows`.
    pub tokens: Vec<GraphTokens>,
    pub unknown_ops: BTreeMap<String, usize>,
}

fn network_of(config: &TrainingConfig) -> Result<&NetworkOptions, TrainError> {
    config
        .network
        .as_ref()
        .ok_or_else(|| TrainError::Config("a latency run needs a `network` section".into()))
}

/// Reads the label file of `root` and tokenises every ONNX file through the
/// cache. A file that does not import is an error, or with [`BadRows::Skip`]
/// its row is left out (each one reported).
pub fn load_dataset(
    root: &Path,
    vocab: NetworkVocab,
    cache: &TokenCache,
    bad_rows: BadRows,
    show_progress: bool,
) -> Result<LatencyDataset, TrainError> {
    let mut labels = nnlqp::read_labels(&nnlqp::label_file_in(root)?, bad_rows)?;
    let bar = if show_progress {
        ProgressBar::new(labels.rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("tokenising {bar:30} {pos}/{len} {eta}") {
        bar.set_style(style);
    }
    let mut kept = Vec::with_capacity(labels.rows.len());
    let mut tokens = Vec::with_capacity(labels.rows.len());
    let mut unknown_ops: BTreeMap<String, usize> = BTreeMap::new();
    for row in std::mem::take(&mut labels.rows) {
        bar.inc(1);
        match cache.load(&root.join(&row.onnx_path), row.batch_size, vocab) {
            Ok(compact) => {
                for (op, n) in &compact.unknown_ops {
                    *unknown_ops.entry(op.clone()).or_default() += n;
                }
                tokens.push(compact.encode());
                kept.push(row);
            }
            Err(e) if bad_rows == BadRows::Skip => {
                eprintln!("skipped: {}:{}: {e}", labels.path.display(), row.line);
                labels.skipped.push(datasets::DatasetError::BadRow {
                    path: labels.path.clone(),
                    line: row.line as u64,
                    problem: e.to_string(),
                });
            }
            Err(e) => {
                bar.abandon();
                return Err(TrainError::Config(format!(
                    "{}:{}: {e}",
                    labels.path.display(),
                    row.line
                )));
            }
        }
    }
    bar.finish_and_clear();
    labels.rows = kept;
    if !unknown_ops.is_empty() {
        let list: Vec<String> = unknown_ops
            .iter()
            .map(|(op, n)| format!("{op} x{n}"))
            .collect();
        eprintln!(
            "warning: ops outside the {vocab} vocabulary (encoded with an all-zero op one-hot): {}",
            list.join(", ")
        );
    }
    Ok(LatencyDataset {
        labels,
        tokens,
        unknown_ops,
    })
}

fn eval_set(data: &LatencyDataset, indices: &[usize]) -> EvalSet {
    EvalSet {
        tokens: indices.iter().map(|&i| data.tokens[i].clone()).collect(),
        labels: indices
            .iter()
            .map(|&i| data.labels.rows[i].latency_ms)
            .collect(),
    }
}

/// Trains and reports one latency run (called by [`Experiment::run`]).
pub(crate) fn run(experiment: &Experiment, device: &Device) -> Result<Report, TrainError> {
    let config = &experiment.config;
    if config.benchmark == crate::Benchmark::Nb201Latency {
        return Err(TrainError::Config(
            "nb201-latency runs are made by `narformer reproduce-table latency` \
             (see trainer::nb201_latency)"
                .into(),
        ));
    }
    let network = network_of(config)?;
    let cache = TokenCache::new(
        experiment
            .cache_dir
            .clone()
            .unwrap_or_else(default_cache_dir),
    );
    let data = load_dataset(
        &experiment.data_dir,
        network.vocab,
        &cache,
        experiment.bad_rows,
        experiment.show_progress,
    )?;
    let parts = nnlqp::split(&data.labels, &network.split, config.seed)?;
    let train_part = eval_set(&data, &parts.train);
    let train_set = TrainSet {
        // Whole networks have no relabelled twin; the consistency loss is off.
        twins: Vec::new(),
        tokens: train_part.tokens,
        labels: train_part.labels,
    };
    let validation = eval_set(&data, &parts.validation);
    let test = eval_set(&data, &parts.test);

    let (trained, store) = experiment.train_in_run_dir(&train_set, &validation, device)?;
    let started = Instant::now();
    let scores = train::predict(&trained.model, &test.tokens, &trained.scaling, device, 64)?;
    let eval_seconds = started.elapsed().as_secs_f64();
    let mut table = String::from("graph_id,onnx_path,family,label,prediction\n");
    for (&i, prediction) in parts.test.iter().zip(&scores) {
        let row = &data.labels.rows[i];
        table.push_str(&format!(
            "{},{},{},{},{prediction}\n",
            row.graph_id,
            row.onnx_path.display(),
            row.family,
            row.latency_ms
        ));
    }
    run_dir::write_atomic(&experiment.run_dir.join(PREDICTIONS_FILE), table.as_bytes())?;
    let report = Report {
        benchmark: config.benchmark,
        model: config.model.architecture,
        train_size: parts.train.len(),
        seed: config.seed,
        profile: config.profile,
        n_train: parts.train.len(),
        n_val: parts.validation.len(),
        n_test: parts.test.len(),
        metrics: Metrics {
            kendall_tau: kendall_tau_b(&scores, &test.labels).unwrap_or(f64::NAN),
            validation_kendall_tau: trained
                .history
                .iter()
                .find(|h| h.epoch == trained.best_epoch)
                .and_then(|h| h.validation_kendall_tau)
                .unwrap_or(f64::NAN),
            best_epoch: trained.best_epoch,
            mape: Some(mape(&scores, &test.labels)),
            acc10: Some(accuracy_within(&scores, &test.labels, 0.10)),
            acc5: Some(accuracy_within(&scores, &test.labels, 0.05)),
            validation_mape: Some(-trained.best_validation_tau),
        },
        train_seconds: trained.train_seconds,
        eval_seconds,
        parameters: trained.model.num_params(),
        skipped_rows: data.labels.skipped.len(),
        unknown_ops: data.unknown_ops,
        run_dir: experiment.run_dir.clone(),
        history: trained.history,
    };
    run_dir::write_json_atomic(&experiment.run_dir.join(METRICS_FILE), &report)?;
    store.clear()?;
    Ok(report)
}

/// One network to score: where it came from and its tokens.
#[derive(Debug, Clone)]
pub struct NetworkInput {
    pub source: PathBuf,
    pub tokens: GraphTokens,
    pub unknown_ops: BTreeMap<String, usize>,
}

impl LoadedRun {
    /// Imports and tokenises ONNX files the way this run was trained (its vocabulary).
    pub fn tokenize_onnx(
        &self,
        path: &Path,
        batch_size: usize,
    ) -> Result<NetworkInput, TrainError> {
        let vocab = network_of(&self.config)?.vocab;
        let options = onnx_io::ImportOptions {
            batch_size,
            input_shape: None,
        };
        let imported =
            onnx_io::read_file(path, &options).map_err(|e| TrainError::Config(e.to_string()))?;
        let compact = NetworkTokenizer::new(vocab).compact(&imported.graph, batch_size);
        Ok(NetworkInput {
            source: path.to_path_buf(),
            unknown_ops: compact.unknown_ops.clone(),
            tokens: compact.encode(),
        })
    }

    /// Predicted latencies (ms) of tokenised networks.
    pub fn predict_networks(&self, inputs: &[NetworkInput]) -> Result<Vec<f64>, TrainError> {
        if !self.config.benchmark.is_latency() {
            return Err(TrainError::Config(format!(
                "this run predicts {} accuracy from cells, not latency from ONNX files",
                self.config.benchmark
            )));
        }
        let tokens: Vec<GraphTokens> = inputs.iter().map(|i| i.tokens.clone()).collect();
        train::predict(&self.model, &tokens, &self.scaling, self.device(), 16)
    }
}

/// Test-style metrics of a latency run on a part of its split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyScores {
    pub n: usize,
    pub mape: f64,
    pub acc10: f64,
    pub acc5: f64,
}

impl LoadedRun {
    /// MAPE and Acc(10%)/Acc(5%) on a part of this run's split, recomputed from its seed.
    pub fn evaluate_latency(
        &self,
        root: &Path,
        part: crate::SplitPart,
        cache: &TokenCache,
        bad_rows: BadRows,
    ) -> Result<LatencyScores, TrainError> {
        let network = network_of(&self.config)?;
        let data = load_dataset(root, network.vocab, cache, bad_rows, false)?;
        let parts = nnlqp::split(&data.labels, &network.split, self.config.seed)?;
        let indices = match part {
            crate::SplitPart::Train => &parts.train,
            crate::SplitPart::Validation => &parts.validation,
            crate::SplitPart::Test => &parts.test,
        };
        let set = eval_set(&data, indices);
        let scores = train::predict(&self.model, &set.tokens, &self.scaling, self.device(), 64)?;
        Ok(LatencyScores {
            n: indices.len(),
            mape: mape(&scores, &set.labels),
            acc10: accuracy_within(&scores, &set.labels, 0.10),
            acc5: accuracy_within(&scores, &set.labels, 0.05),
        })
    }
}
