//! The cell pipeline (NAS-Bench-201 / NAS-Bench-101 accuracy): load the
//! benchmark, tokenise each cell and its relabelled twin, split, train through
//! the one loop (checkpoint by validation Kendall's tau), score the test split.

use crate::experiment::Experiment;
use crate::fit::Selection;
use crate::metrics::kendall_tau_b;
use crate::report::{Metrics, Report};
use crate::run_dir::{METRICS_FILE, PREDICTIONS_FILE};
use crate::train::{self, EvalSet, TrainSet};
use crate::{Benchmark, TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::{BadRows, Loaded, Sample, Split, SplitSizes};
use graph_ir::Graph;
use graph_ir::cells::relabelled_twin;
use std::path::Path;
use std::time::Instant;
use tokenizer::{CellTokenizer, CellVocab, GraphTokens};

/// The tokenizer vocabulary of a benchmark.
pub(crate) fn vocab(benchmark: Benchmark) -> Result<CellVocab, TrainError> {
    match benchmark {
        Benchmark::Nb201 => Ok(CellVocab::Nb201),
        Benchmark::Nb101 => Ok(CellVocab::Nb101),
        Benchmark::Nnlqp | Benchmark::Nb201Latency => Err(not_cells(benchmark)),
    }
}

fn not_cells(benchmark: Benchmark) -> TrainError {
    TrainError::WrongBenchmark {
        benchmark,
        wanted: "cell (accuracy)",
    }
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
        Benchmark::Nnlqp | Benchmark::Nb201Latency => return Err(not_cells(benchmark)),
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

pub(crate) fn tokenize(
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

pub(crate) fn eval_set(
    samples: &[Sample],
    indices: &[usize],
    tokenizer: &CellTokenizer,
) -> Result<EvalSet, TrainError> {
    let mut tokens = Vec::with_capacity(indices.len());
    for &i in indices {
        tokens.push(tokenize(tokenizer, &samples[i].arch, &samples[i].graph)?);
    }
    Ok(EvalSet {
        tokens: tokens.into(),
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

pub(crate) fn split_of(config: &TrainingConfig, len: usize) -> Result<Split, TrainError> {
    let sizes = SplitSizes {
        train: config.train_size,
        validation: config.validation_size,
    };
    Ok(Split::seeded(len, sizes, config.seed)?)
}

/// Trains a cell run, checkpoints into its run directory, scores the test
/// split and writes `metrics.json`.
pub(crate) fn run(experiment: &Experiment, device: &Device) -> Result<Report, TrainError> {
    let config = &experiment.config;
    let loaded = load_samples(config.benchmark, &experiment.data_dir, experiment.bad_rows)?;
    let samples = loaded.samples;
    let split = split_of(config, samples.len())?;
    let tokenizer = CellTokenizer::new(vocab(config.benchmark)?);

    let train_set = train_set(&samples, &split.train, &tokenizer)?;
    let validation = eval_set(&samples, &split.validation, &tokenizer)?;
    let test = eval_set(&samples, &split.test, &tokenizer)?;

    let (trained, store) = experiment.train_in_run_dir(
        &train_set,
        &validation,
        Selection::MaximiseKendallTau,
        device,
    )?;
    let fitted = &trained.fitted;
    let train_seconds = fitted.train_seconds;

    let started = Instant::now();
    let scores =
        train::predict_graphs(&fitted.model, &test.tokens, &trained.scaling, device, 1024)?;
    let kendall_tau = kendall_tau_b(&scores, &test.labels).unwrap_or(f64::NAN);
    let eval_seconds = started.elapsed().as_secs_f64();
    let mut table = String::from("arch,label,prediction\n");
    for ((&i, label), prediction) in split.test.iter().zip(&test.labels).zip(&scores) {
        table.push_str(&format!("{},{label},{prediction}\n", samples[i].arch));
    }
    sysio::write_atomic(&experiment.run_dir.join(PREDICTIONS_FILE), table.as_bytes())?;

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
            validation_kendall_tau: fitted.best.kendall_tau.unwrap_or(f64::NAN),
            best_epoch: fitted.best_epoch,
            mape: None,
            acc10: None,
            acc5: None,
            validation_mape: None,
        },
        train_seconds,
        eval_seconds,
        parameters: fitted.model.num_params(),
        skipped_rows: loaded.skipped.len(),
        unknown_ops: Default::default(),
        run_dir: experiment.run_dir.clone(),
        history: trained.fitted.history,
    };
    sysio::write_json(&experiment.run_dir.join(METRICS_FILE), &report)?;
    store.clear()?;
    Ok(report)
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
        assert_ne!(set.twins[1].features, set.tokens.get(1).features);
        assert_eq!(set.twins[2].features, set.tokens.get(2).features);
        for (i, twin) in set.twins.iter().enumerate() {
            let cell = set.tokens.get(i);
            assert_eq!((cell.n, cell.dim), (twin.n, twin.dim));
        }
    }
}
