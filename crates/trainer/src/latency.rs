//! Latency runs on NNLQP-format datasets: ONNX files -> cached tokens ->
//! split (in-domain or leave-one-family-out) -> train -> MAPE / Acc(10%) /
//! Acc(5%) on the test networks.

use crate::experiment::Experiment;
use crate::fit::Selection;
use crate::graphs::Graphs;
use crate::metrics::{accuracy_within, kendall_tau_b, mape};
use crate::prior::KernelPrior;
use crate::report::{Metrics, Report};
use crate::run_dir::{METRICS_FILE, PREDICTIONS_FILE};
use crate::train::{self, EvalSet, TrainSet};
use crate::zoo::ZooData;
use crate::{NetworkOptions, TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::BadRows;
use datasets::nnlqp::{self, LabelFile, TokenCache};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokenizer::NetworkVocab;

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
    /// One per row of `labels.rows` (compact when read from ONNX files: an
    /// NNLQP-sized set would not fit in memory encoded).
    pub tokens: Graphs,
    pub unknown_ops: BTreeMap<String, usize>,
}

pub(crate) fn network_of(config: &TrainingConfig) -> Result<&NetworkOptions, TrainError> {
    config.network.as_ref().ok_or(TrainError::NoNetworkSection)
}

/// Reads the label file of `root` and tokenises every ONNX file through the
/// cache. A file that does not import is an error, or with [`BadRows::Skip`]
/// its row is left out (each one reported). A measured model zoo (a `root`
/// with `zoo.json`, as `narformer zoo generate` writes) has no ONNX files to
/// read: its graphs are regenerated from the manifest ([`ZooData::load`]).
pub fn load_dataset(
    root: &Path,
    platform: Option<&str>,
    vocab: NetworkVocab,
    cache: &TokenCache,
    bad_rows: BadRows,
    show_progress: bool,
) -> Result<LatencyDataset, TrainError> {
    if root.join(zoo::MANIFEST).is_file() {
        let data = ZooData::load(root, platform, vocab)?;
        return Ok(LatencyDataset {
            labels: data.labels,
            tokens: data.tokens.into(),
            unknown_ops: data.unknown_ops,
        });
    }
    let mut labels =
        nnlqp::read_labels(&nnlqp::label_file_in(root)?, bad_rows)?.for_platform(platform)?;
    let bar = sysio::progress_bar(
        labels.rows.len() as u64,
        "networks tokenised",
        show_progress,
    );
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
                tokens.push(compact);
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
            Err(source) => {
                bar.abandon();
                return Err(TrainError::ImportRow {
                    path: labels.path.clone(),
                    line: row.line,
                    source: Box::new(source),
                });
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
        tokens: tokens.into(),
        unknown_ops,
    })
}

/// A residual run's rows ([`model::Readout::Residual`]): a measured zoo's,
/// each token ending with its node's prior under the kernel-level baseline
/// fitted on the split's training rows, and that prior. Only a zoo has the
/// graphs the baseline needs beside the labels.
pub fn load_with_prior(
    root: &Path,
    network: &NetworkOptions,
    seed: u64,
) -> Result<(LatencyDataset, KernelPrior), TrainError> {
    if !root.join(zoo::MANIFEST).is_file() {
        return Err(TrainError::InvalidConfig(format!(
            "the residual readout trains on a measured model zoo (a directory with {}, from \
             `narformer zoo generate` and `narformer measure`), and {} has none; use --readout \
             additive",
            zoo::MANIFEST,
            root.display()
        )));
    }
    let data = ZooData::load(root, network.platform.as_deref(), network.vocab)?;
    let parts = data.parts(&network.split, seed)?;
    let prior = data.prior(&parts, &network.split);
    let rows: Vec<usize> = (0..data.labels.rows.len()).collect();
    let tokens = data.tokens_with_prior(&rows, network.vocab, &prior)?;
    let dataset = LatencyDataset {
        labels: data.labels,
        tokens: tokens.into(),
        unknown_ops: data.unknown_ops,
    };
    Ok((dataset, prior))
}

pub(crate) fn eval_set(data: &LatencyDataset, indices: &[usize]) -> EvalSet {
    EvalSet {
        tokens: data.tokens.select(indices),
        labels: indices
            .iter()
            .map(|&i| data.labels.rows[i].latency_ms)
            .collect(),
    }
}

/// Trains and reports one NNLQP-format latency run (checkpoint by validation MAPE).
pub(crate) fn run(experiment: &Experiment, device: &Device) -> Result<Report, TrainError> {
    let config = &experiment.config;
    if config.benchmark == crate::Benchmark::Nb201Latency {
        // Its runs are made by `narformer reproduce-table latency` (trainer::nb201_latency).
        return Err(TrainError::WrongBenchmark {
            benchmark: config.benchmark,
            wanted: "NNLQP-format (ONNX files + labels)",
        });
    }
    let network = network_of(config)?;
    let cache = TokenCache::new(
        experiment
            .cache_dir
            .clone()
            .unwrap_or_else(default_cache_dir),
    );
    let data = if config.model.readout == model::Readout::Residual {
        let (data, prior) = load_with_prior(&experiment.data_dir, network, config.seed)?;
        prior.write(&experiment.run_dir)?;
        data
    } else {
        load_dataset(
            &experiment.data_dir,
            network.platform.as_deref(),
            network.vocab,
            &cache,
            experiment.bad_rows,
            experiment.show_progress,
        )?
    };
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

    let (trained, store) =
        experiment.train_in_run_dir(&train_set, &validation, Selection::MinimiseMape, device)?;
    let fitted = &trained.fitted;
    let started = Instant::now();
    let scores = train::predict_graphs(&fitted.model, &test.tokens, &trained.scaling, device, 64)?;
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
    sysio::write_atomic(&experiment.run_dir.join(PREDICTIONS_FILE), table.as_bytes())?;
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
            validation_kendall_tau: fitted.best.kendall_tau.unwrap_or(f64::NAN),
            best_epoch: fitted.best_epoch,
            mape: Some(mape(&scores, &test.labels)),
            acc10: Some(accuracy_within(&scores, &test.labels, 0.10)),
            acc5: Some(accuracy_within(&scores, &test.labels, 0.05)),
            validation_mape: fitted.best.mape,
        },
        train_seconds: fitted.train_seconds,
        eval_seconds,
        parameters: fitted.model.num_params(),
        skipped_rows: data.labels.skipped.len(),
        unknown_ops: data.unknown_ops,
        run_dir: experiment.run_dir.clone(),
        history: trained.fitted.history,
    };
    sysio::write_json(&experiment.run_dir.join(METRICS_FILE), &report)?;
    store.clear()?;
    Ok(report)
}
