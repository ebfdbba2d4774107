//! The data adapter for latency datasets measured from a model zoo
//! (`narformer zoo generate` + `narformer measure`): the graphs are
//! regenerated from `zoo.json`, the labels read from `gt.txt`; a learned model
//! or a FLOPs / FLOPs+MAC regression is fitted on a split's training rows and
//! predicts its test rows. The table's protocol (which splits, which configs)
//! is `tables::zoo`.

use crate::fit::{Selection, Session};
use crate::prior::KernelPrior;
use crate::regression::{KernelAdditive, Kernels, RegressionFeatures, fit_and_predict};
use crate::train::{self, EvalSet, TrainSet};
use crate::{TrainError, TrainingConfig};
use burn::prelude::Device;
use datasets::BadRows;
use datasets::nnlqp::{LabelFile, LatencyParts, LatencySplit, read_labels};
use graph_ir::kernels::{KernelTotals, Pruning};
use graph_ir::{Cost, graph_cost};
use std::collections::BTreeMap;
use std::path::Path;
use tokenizer::{GraphTokens, NetworkTokenizer, NetworkVocab};
use zoo::{Manifest, ModelId};

/// A measured zoo: one row per line of `gt.txt`.
#[derive(Debug)]
pub struct ZooData {
    pub labels: LabelFile,
    /// The layout of `tokens`; a model may read any layout that is a prefix of it.
    pub vocab: NetworkVocab,
    pub tokens: Vec<GraphTokens>,
    pub costs: Vec<Cost>,
    /// Each row's kernels, for the additive baseline.
    pub kernels: Vec<Kernels>,
    /// Each row's kernel per node, in token order (`None`: no kernel), for
    /// the residual readout's prior.
    pub node_kernels: Vec<Vec<Option<(String, KernelTotals)>>>,
    /// Ops outside `vocab` (encoded with an all-zero one-hot), with counts.
    pub unknown_ops: BTreeMap<String, usize>,
    /// What the labels' engine leaves out of a run: the kernels above are
    /// the ones it runs.
    pub pruning: Pruning,
}

/// The one field of `metadata-<platform>.json` the kernels depend on.
#[derive(serde::Deserialize)]
struct EngineName {
    engine: String,
}

/// The pruning of the engine that measured `platform` in `dir`, by its
/// metadata; every node runs for a platform with none (data measured
/// elsewhere), as it does on ONNX Runtime.
fn platform_pruning(dir: &Path, platform: Option<&str>) -> Pruning {
    platform
        .and_then(|p| sysio::read_json::<EngineName>(&dir.join(format!("metadata-{p}.json"))).ok())
        .map_or(Pruning::None, |m| Pruning::of_engine(&m.engine))
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
        let measured = labels.rows.first().map(|r| r.platform.as_str());
        let pruning = platform_pruning(dir, measured);
        let tokenizer = NetworkTokenizer::new(vocab);
        let mut tokens = Vec::with_capacity(labels.rows.len());
        let mut costs = Vec::with_capacity(labels.rows.len());
        let mut kernels = Vec::with_capacity(labels.rows.len());
        let mut node_kernels = Vec::with_capacity(labels.rows.len());
        let mut unknown_ops: BTreeMap<String, usize> = BTreeMap::new();
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
            let compact = tokenizer.compact(&graph, 1);
            for (op, n) in &compact.unknown_ops {
                *unknown_ops.entry(op.clone()).or_default() += n;
            }
            tokens.push(compact.encode());
            costs.push(graph_cost(&graph));
            kernels.push(graph_ir::kernels::kernel_totals(&graph, pruning));
            node_kernels.push(graph_ir::kernels::node_kernels(&graph, pruning));
        }
        Ok(ZooData {
            labels,
            vocab,
            tokens,
            costs,
            kernels,
            node_kernels,
            unknown_ops,
            pruning,
        })
    }

    pub fn families(&self) -> Vec<String> {
        self.labels.families()
    }

    fn gather<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
        rows.iter().map(|&r| values[r].clone()).collect()
    }

    /// The rows' tokens in `vocab`'s layout (this data's own, or a prefix of it).
    pub fn tokens_in(
        &self,
        rows: &[usize],
        vocab: NetworkVocab,
    ) -> Result<Vec<GraphTokens>, TrainError> {
        if !vocab.is_prefix_of(self.vocab) {
            return Err(TrainError::InvalidConfig(format!(
                "the zoo was tokenised with vocabulary {}, which has no {vocab} tokens",
                self.vocab
            )));
        }
        let dim = vocab.token_dim();
        Ok(rows
            .iter()
            .map(|&r| self.tokens[r].with_token_dim(dim))
            .collect())
    }

    pub fn latencies(&self, rows: &[usize]) -> Vec<f64> {
        rows.iter()
            .map(|&r| self.labels.rows[r].latency_ms)
            .collect()
    }

    /// [`Self::tokens_in`] with one more feature per token, `prior`'s cost of
    /// the node ([`KernelPrior::column`]).
    pub fn tokens_with_prior(
        &self,
        rows: &[usize],
        vocab: NetworkVocab,
        prior: &KernelPrior,
    ) -> Result<Vec<GraphTokens>, TrainError> {
        let tokens = self.tokens_in(rows, vocab)?;
        Ok(tokens
            .into_iter()
            .zip(rows)
            .map(|(t, &r)| t.with_column(&prior.column(&self.node_kernels[r])))
            .collect())
    }

    /// The residual readout's prior fitted on the split's training rows
    /// ([`kernel_additive_fit`]), for this data's engine.
    pub fn prior(&self, parts: &LatencyParts, split: &LatencySplit) -> KernelPrior {
        KernelPrior {
            pruning: self.pruning,
            baseline: kernel_additive_fit(self, parts, split),
        }
    }

    /// The split's rows: in domain, or with one family held out.
    pub fn parts(&self, split: &LatencySplit, seed: u64) -> Result<LatencyParts, TrainError> {
        Ok(datasets::nnlqp::split(&self.labels, split, seed)?)
    }
}

/// Trains `config` (seeded by `seed`) on the split's training rows, picks the
/// epoch by validation MAPE, and predicts the test rows. A residual readout's
/// prior is the kernel-level baseline fitted on the same training rows
/// ([`kernel_additive_fit`]).
pub fn train_and_predict(
    data: &ZooData,
    parts: &LatencyParts,
    split: &LatencySplit,
    config: &TrainingConfig,
    seed: u64,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<f64>, TrainError> {
    let mut config = config.clone();
    config.seed = seed;
    let vocab = config
        .network
        .as_ref()
        .map_or(data.vocab, |network| network.vocab);
    let prior =
        (config.model.readout == model::Readout::Residual).then(|| data.prior(parts, split));
    let tokens = |rows: &[usize]| match &prior {
        Some(prior) => data.tokens_with_prior(rows, vocab, prior),
        None => data.tokens_in(rows, vocab),
    };
    let train_set = TrainSet {
        tokens: tokens(&parts.train)?.into(),
        twins: Vec::new(),
        labels: data.latencies(&parts.train),
    };
    let validation = EvalSet {
        tokens: tokens(&parts.validation)?.into(),
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
    let test = tokens(&parts.test)?;
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
/// training rows, applied to the test rows. Its shrinkage is chosen for what
/// the split scores: with a family held out, by leaving each training family
/// out in turn; in domain, on the validation rows.
pub fn kernel_additive(data: &ZooData, parts: &LatencyParts, split: &LatencySplit) -> Vec<f64> {
    let model = kernel_additive_fit(data, parts, split);
    parts
        .test
        .iter()
        .map(|&r| model.predict(&data.kernels[r]))
        .collect()
}

/// The fit [`kernel_additive`] predicts with.
pub fn kernel_additive_fit(
    data: &ZooData,
    parts: &LatencyParts,
    split: &LatencySplit,
) -> KernelAdditive {
    let rows =
        |part: &[usize]| -> Vec<&Kernels> { part.iter().map(|&r| &data.kernels[r]).collect() };
    let (train, labels) = (rows(&parts.train), data.latencies(&parts.train));
    match split {
        LatencySplit::InDomain => KernelAdditive::fit_validated(
            &train,
            &labels,
            &rows(&parts.validation),
            &data.latencies(&parts.validation),
        ),
        LatencySplit::LeaveOut(_) => {
            let groups: Vec<&str> = parts
                .train
                .iter()
                .map(|&r| data.labels.rows[r].family.as_str())
                .collect();
            KernelAdditive::fit_selected(&train, &labels, &groups)
        }
    }
}
