//! The data adapter for latency datasets measured from a model zoo
//! (`narformer zoo generate` + `narformer measure`): the graphs are
//! regenerated from `zoo.json`, the labels read from `gt.txt`; a learned model
//! or a FLOPs / FLOPs+MAC regression is fitted on a split's training rows and
//! predicts its test rows. The table's protocol (which splits, which configs)
//! is `tables::zoo`.

use crate::fit::{Selection, Session};
use crate::regression::{KernelAdditive, Kernels, RegressionFeatures, fit_and_predict};
use crate::train::{self, EvalSet, TrainSet};
use crate::{TrainError, TrainingConfig};
use burn::prelude::Device;
use datasets::BadRows;
use datasets::nnlqp::{LabelFile, LatencyParts, LatencySplit, read_labels};
use graph_ir::{Cost, graph_cost};
use std::path::Path;
use tokenizer::{GraphTokens, NetworkTokenizer, NetworkVocab};
use zoo::{Manifest, ModelId};

/// A measured zoo: one row per line of `gt.txt`.
#[derive(Debug)]
pub struct ZooData {
    pub labels: LabelFile,
    pub tokens: Vec<GraphTokens>,
    pub costs: Vec<Cost>,
    /// Each row's kernels, for the additive baseline.
    pub kernels: Vec<Kernels>,
}

impl ZooData {
    /// Reads `platform`'s rows of `dir/gt.txt` (see [`LabelFile::for_platform`])
    /// and regenerates each row's graph from `dir/zoo.json` (a row whose model
    /// the manifest does not name is an error naming it).
    pub fn load(
        dir: &Path,
        platform: Option<&str>,
        vocab: NetworkVocab,
    ) -> Result<ZooData, TrainError> {
        let labels = read_labels(&dir.join("gt.txt"), BadRows::Fail)?.for_platform(platform)?;
        let manifest = Manifest::read(dir)?;
        let tokenizer = NetworkTokenizer::new(vocab);
        let mut tokens = Vec::with_capacity(labels.rows.len());
        let mut costs = Vec::with_capacity(labels.rows.len());
        let mut kernels = Vec::with_capacity(labels.rows.len());
        for row in &labels.rows {
            let name = row
                .onnx_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let known = manifest.models.iter().any(|m| m.name == name);
            let id = ModelId::parse(&name, manifest.seed).filter(|_| known);
            let Some(id) = id else {
                return Err(TrainError::UnknownZooModel {
                    path: labels.path.clone(),
                    line: row.line,
                    name,
                    manifest: dir.join(zoo::MANIFEST),
                });
            };
            let graph = zoo::generate(id).graph;
            tokens.push(tokenizer.tokenize(&graph, 1));
            costs.push(graph_cost(&graph));
            kernels.push(graph_ir::kernels::kernel_totals(&graph));
        }
        Ok(ZooData {
            labels,
            tokens,
            costs,
            kernels,
        })
    }

    pub fn families(&self) -> Vec<String> {
        self.labels.families()
    }

    fn gather<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
        rows.iter().map(|&r| values[r].clone()).collect()
    }

    pub fn latencies(&self, rows: &[usize]) -> Vec<f64> {
        rows.iter()
            .map(|&r| self.labels.rows[r].latency_ms)
            .collect()
    }

    /// The split's rows: in domain, or with one family held out.
    pub fn parts(&self, split: &LatencySplit, seed: u64) -> Result<LatencyParts, TrainError> {
        Ok(datasets::nnlqp::split(&self.labels, split, seed)?)
    }
}

/// Trains `config` (seeded by `seed`) on the split's training rows, picks the
/// epoch by validation MAPE, and predicts the test rows.
pub fn train_and_predict(
    data: &ZooData,
    parts: &LatencyParts,
    config: &TrainingConfig,
    seed: u64,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<f64>, TrainError> {
    let mut config = config.clone();
    config.seed = seed;
    let train_set = TrainSet {
        tokens: ZooData::gather(&data.tokens, &parts.train),
        twins: Vec::new(),
        labels: data.latencies(&parts.train),
    };
    let validation = EvalSet {
        tokens: ZooData::gather(&data.tokens, &parts.validation),
        labels: data.latencies(&parts.validation),
    };
    let trained = train::train_cells(
        &config,
        &train_set,
        &validation,
        device,
        Selection::MinimiseMape,
        Session::in_memory(show_progress),
    )?;
    let test = ZooData::gather(&data.tokens, &parts.test);
    train::predict(&trained.fitted.model, &test, &trained.scaling, device, 64)
}

/// A least-squares fit of latency on cost features over the training rows,
/// applied to the test rows.
pub fn regression(data: &ZooData, parts: &LatencyParts, features: RegressionFeatures) -> Vec<f64> {
    fit_and_predict(
        features,
        &ZooData::gather(&data.costs, &parts.train),
        &data.latencies(&parts.train),
        &ZooData::gather(&data.costs, &parts.test),
    )
}

/// The kernel-level additive baseline ([`KernelAdditive`]) fitted on the
/// training rows, applied to the test rows.
pub fn kernel_additive(data: &ZooData, parts: &LatencyParts) -> Vec<f64> {
    let train: Vec<&Kernels> = parts.train.iter().map(|&r| &data.kernels[r]).collect();
    let model = KernelAdditive::fit(&train, &data.latencies(&parts.train));
    parts
        .test
        .iter()
        .map(|&r| model.predict(&data.kernels[r]))
        .collect()
}
