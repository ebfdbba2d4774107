//! Latency of whole NAS-Bench-201 networks on the 27 device settings of
//! `latency_help.csv`: a V2 model per setting, one model for every setting
//! (a learned embedding per setting), few-shot transfer to a setting left out
//! of pretraining, and the FLOPs / FLOPs + memory-access regression baselines.
//!
//! Every setting shares one seeded split of the networks (train, validation,
//! test = the rest), so the multi-device model trains on the same networks'
//! latencies on every setting at once. Test rows never choose a checkpoint:
//! the epoch is picked by validation MAPE.

mod multi;

use crate::fit::{Selection, Session};
pub use crate::metrics::LatencyScores;
use crate::regression::{RegressionFeatures, fit_and_predict};
use crate::train::{self, EvalSet, TargetScaling, TrainSet};
use crate::{Benchmark, Profile, TrainError, TrainingConfig};
use burn::prelude::*;
use datasets::nb201_latency::LatencyTable;
use graph_ir::cells::Nb201Cell;
use graph_ir::networks::nb201_network;
use graph_ir::{Cost, graph_cost};
use model::CellModel;
pub use multi::{EmbeddedRows, MultiDeviceModel, fine_tune, train_multi_device};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use tokenizer::{GraphTokens, NetworkTokenizer, NetworkVocab};

/// The latency table with its cells built into whole networks, deduplicated:
/// rows whose cells give the same network (up to `none` edges that change
/// nothing) share one network.
#[derive(Debug, Clone)]
pub struct Nb201Networks {
    pub table: LatencyTable,
    /// Row -> index into `cells`.
    pub network_of_row: Vec<usize>,
    /// One cell per distinct network.
    pub cells: Vec<Nb201Cell>,
}

impl Nb201Networks {
    pub fn new(table: LatencyTable) -> Self {
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut cells = Vec::new();
        let network_of_row = table
            .cells
            .iter()
            .map(|(_, cell)| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                nb201_network(cell, 1).to_string().hash(&mut hasher);
                *index.entry(hasher.finish()).or_insert_with(|| {
                    cells.push(*cell);
                    cells.len() - 1
                })
            })
            .collect();
        Self {
            table,
            network_of_row,
            cells,
        }
    }

    /// Tokens of distinct networks at a batch size.
    pub fn tokens(
        &self,
        networks: &[usize],
        batch: usize,
        vocab: NetworkVocab,
    ) -> Vec<GraphTokens> {
        let tokenizer = NetworkTokenizer::new(vocab);
        networks
            .iter()
            .map(|&n| tokenizer.tokenize(&nb201_network(&self.cells[n], batch), batch))
            .collect()
    }

    /// FLOPs, params and memory access of distinct networks at a batch size.
    pub fn costs(&self, networks: &[usize], batch: usize) -> Vec<Cost> {
        networks
            .iter()
            .map(|&n| graph_cost(&nb201_network(&self.cells[n], batch)))
            .collect()
    }

    /// The distinct networks of `rows`, and each row's position among them.
    pub fn distinct(&self, rows: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut position: HashMap<usize, usize> = HashMap::new();
        let mut networks = Vec::new();
        let at = rows
            .iter()
            .map(|&r| {
                let n = self.network_of_row[r];
                *position.entry(n).or_insert_with(|| {
                    networks.push(n);
                    networks.len() - 1
                })
            })
            .collect();
        (networks, at)
    }

    pub fn labels(&self, rows: &[usize], setting: usize) -> Vec<f64> {
        rows.iter()
            .map(|&r| self.table.latency(r, setting))
            .collect()
    }
}

/// How the table's runs are made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Protocol {
    pub profile: Profile,
    pub train: usize,
    pub validation: usize,
    /// Test rows scored per run: every non-training row (`None`), or a seeded
    /// sample of them of this size (the quick profile, to fit its time budget).
    pub test_sample: Option<usize>,
    pub vocab: NetworkVocab,
    /// V2 for one setting.
    pub single: TrainingConfig,
    /// V2 for every setting (`model.devices` = the number of settings).
    pub multi: TrainingConfig,
    /// The GNN baseline for every setting.
    pub gnn: TrainingConfig,
    /// Few-shot transfer: full-batch Adam steps on the held-out setting's shots.
    pub fine_tune_steps: usize,
    pub fine_tune_learning_rate: f64,
}

impl Protocol {
    pub fn for_profile(profile: Profile, settings: usize) -> Self {
        // The reference vocabulary covers every op of these networks.
        let vocab = NetworkVocab::Nnlqp;
        let single = TrainingConfig::log_latency(profile, Benchmark::Nb201Latency, vocab);
        let quick = profile == Profile::Quick;
        let mut multi = single.clone();
        multi.model = multi.model.with_devices(settings);
        multi.epochs = if quick { 25 } else { 100 };
        let gnn = multi.gnn_baseline();
        Self {
            profile,
            train: 1000,
            validation: 200,
            test_sample: quick.then_some(3000),
            vocab,
            single,
            multi,
            gnn,
            fine_tune_steps: 300,
            fine_tune_learning_rate: 1e-3,
        }
    }
}

/// Row indices of one seed's split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    /// The scored test rows: every row in neither train nor validation, or a
    /// seeded sample of them.
    pub test: Vec<usize>,
}

impl Parts {
    pub fn new(data: &Nb201Networks, protocol: &Protocol, seed: u64) -> Result<Self, TrainError> {
        let split = data
            .table
            .split(protocol.train, protocol.validation, seed)?;
        let mut test = split.test;
        if let Some(n) = protocol.test_sample {
            test.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x7e57));
            test.truncate(n);
            test.sort_unstable();
        }
        Ok(Self {
            train: split.train,
            validation: split.validation,
            test,
        })
    }
}

/// Scores of one model on one setting, with its test predictions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingResult {
    pub setting: String,
    pub scores: LatencyScores,
    /// `(measured, predicted)` ms per scored test row.
    pub predictions: Vec<(f64, f64)>,
}

/// Scores and `(measured, predicted)` pairs of `predictions` for `rows` on `setting`.
pub fn setting_result(
    data: &Nb201Networks,
    setting: usize,
    rows: &[usize],
    predictions: Vec<f64>,
) -> SettingResult {
    let labels = data.labels(rows, setting);
    SettingResult {
        setting: data.table.settings[setting].name.clone(),
        scores: LatencyScores::of(&predictions, &labels),
        predictions: labels.into_iter().zip(predictions).collect(),
    }
}

/// Predictions of a single-output model for `rows`, each distinct network scored once.
fn predict_rows(
    data: &Nb201Networks,
    model: &CellModel,
    scaling: &TargetScaling,
    rows: &[usize],
    batch: usize,
    vocab: NetworkVocab,
    device: &Device,
) -> Result<Vec<f64>, TrainError> {
    let (networks, at) = data.distinct(rows);
    let mut scores = Vec::with_capacity(networks.len());
    for chunk in networks.chunks(256) {
        let tokens = data.tokens(chunk, batch, vocab);
        scores.extend(train::predict(model, &tokens, scaling, device, 64)?);
    }
    Ok(at.into_iter().map(|i| scores[i]).collect())
}

/// Trains V2 (or the configured model) on one setting and scores its test rows.
pub fn single_device(
    data: &Nb201Networks,
    setting: usize,
    parts: &Parts,
    config: &TrainingConfig,
    device: &Device,
    show_progress: bool,
) -> Result<SettingResult, TrainError> {
    let batch = data.table.settings[setting].batch_size;
    let vocab = vocab_of(config)?;
    let row_tokens = |rows: &[usize]| {
        let (networks, at) = data.distinct(rows);
        let tokens = data.tokens(&networks, batch, vocab);
        at.into_iter()
            .map(|i| tokens[i].clone())
            .collect::<Vec<_>>()
    };
    let train_set = TrainSet {
        tokens: row_tokens(&parts.train),
        twins: Vec::new(),
        labels: data.labels(&parts.train, setting),
    };
    let validation = EvalSet {
        tokens: row_tokens(&parts.validation),
        labels: data.labels(&parts.validation, setting),
    };
    let trained = train::train_cells(
        config,
        &train_set,
        &validation,
        device,
        Selection::MinimiseMape,
        Session::in_memory(show_progress),
    )?;
    let predictions = predict_rows(
        data,
        &trained.fitted.model,
        &trained.scaling,
        &parts.test,
        batch,
        vocab,
        device,
    )?;
    Ok(setting_result(data, setting, &parts.test, predictions))
}

pub(crate) fn vocab_of(config: &TrainingConfig) -> Result<NetworkVocab, TrainError> {
    config
        .network
        .as_ref()
        .map(|n| n.vocab)
        .ok_or(TrainError::NoNetworkSection)
}

/// `k` shots for a held-out setting: a seeded sample of the training networks
/// (pretraining saw them measured on the other settings only), so the test
/// rows stay unseen.
pub fn shots(parts: &Parts, k: usize, seed: u64) -> Vec<usize> {
    let mut pool = parts.train.clone();
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5407));
    pool.truncate(k);
    pool
}

/// How well the measurements agree with themselves: on rows whose network
/// occurs more than once in the table (the same network measured again under
/// another cell string), the scores of predicting each row by its network's
/// mean latency. No predictor of the network alone does much better.
pub fn repeat_ceiling(data: &Nb201Networks, setting: usize) -> LatencyScores {
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); data.cells.len()];
    for (row, &n) in data.network_of_row.iter().enumerate() {
        groups[n].push(row);
    }
    let (mut predictions, mut labels) = (Vec::new(), Vec::new());
    for group in groups.iter().filter(|g| g.len() > 1) {
        let values = data.labels(group, setting);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        predictions.extend(std::iter::repeat_n(mean, values.len()));
        labels.extend(values);
    }
    LatencyScores::of(&predictions, &labels)
}

/// Costs of a split's training and test rows at one batch size, computed once
/// for every regression of every setting at that batch size.
#[derive(Debug, Clone)]
pub struct SplitCosts {
    pub batch: usize,
    pub train: Vec<Cost>,
    pub test: Vec<Cost>,
}

impl SplitCosts {
    pub fn new(data: &Nb201Networks, parts: &Parts, batch: usize) -> Self {
        let costs_of = |rows: &[usize]| {
            let (networks, at) = data.distinct(rows);
            let costs = data.costs(&networks, batch);
            at.into_iter().map(|i| costs[i]).collect()
        };
        Self {
            batch,
            train: costs_of(&parts.train),
            test: costs_of(&parts.test),
        }
    }
}

/// A linear regression on cost features, fitted on the setting's training rows
/// (`costs` at the setting's batch size).
pub fn regression_baseline(
    data: &Nb201Networks,
    setting: usize,
    parts: &Parts,
    costs: &SplitCosts,
    features: RegressionFeatures,
) -> SettingResult {
    let predictions = fit_and_predict(
        features,
        &costs.train,
        &data.labels(&parts.train, setting),
        &costs.test,
    );
    setting_result(data, setting, &parts.test, predictions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datasets::nb201_latency::DeviceSetting;
    use graph_ir::cells::Nb201Op;

    /// 90 cells spread over the space, three settings whose latency is a
    /// different function of the cell's ops.
    fn tiny() -> Nb201Networks {
        let settings = [("cpu", 1), ("gpu_32", 32), ("fpga", 1)]
            .map(|(name, batch_size)| DeviceSetting {
                name: name.into(),
                batch_size,
            })
            .to_vec();
        let mut cells = Vec::new();
        let mut latency_ms = Vec::new();
        for i in 0..90usize {
            let k = i * 173 % 15_625;
            let ops = Nb201Cell::from_index(k).ops;
            let count = |op| ops.iter().filter(|&&o| o == op).count() as f64;
            let (c3, c1, pool) = (
                count(Nb201Op::NorConv3x3),
                count(Nb201Op::NorConv1x1),
                count(Nb201Op::AvgPool3x3),
            );
            latency_ms.extend([
                2.0 + c3 + 0.4 * c1 + 0.2 * pool,
                3.0 * (1.0 + 1.5 * c3 + 0.2 * c1 + 0.6 * pool),
                1.0 + 0.5 * c3 + 0.1 * c1,
            ]);
            cells.push((k, Nb201Cell { ops }));
        }
        Nb201Networks::new(LatencyTable {
            path: "tiny.csv".into(),
            settings,
            cells,
            latency_ms,
        })
    }

    fn tiny_protocol() -> Protocol {
        let mut p = Protocol::for_profile(Profile::Quick, 3);
        p.train = 48;
        p.validation = 12;
        p.test_sample = None;
        for c in [&mut p.single, &mut p.multi, &mut p.gnn] {
            c.model = c.model.clone().with_hidden(16).with_groups(4);
            c.epochs = 25;
            c.batch_size = 8;
            c.learning_rate = 5e-3;
        }
        p
    }

    #[test]
    fn one_setting_one_model_and_transfer_learn_the_tiny_table() {
        let _seeded = crate::test_lock::seeded();
        let data = tiny();
        let protocol = tiny_protocol();
        let parts = Parts::new(&data, &protocol, 0).unwrap();
        assert_eq!(parts.test.len(), 30);
        let device = Device::flex();

        let single = single_device(&data, 0, &parts, &protocol.single, &device, false).unwrap();
        assert_eq!(single.predictions.len(), 30);
        assert!(single.scores.mape < 20.0, "single: {:?}", single.scores);

        // One model for all three settings tells them apart through the setting input.
        let multi =
            train_multi_device(&data, &[0, 1, 2], &parts, &protocol.multi, &device, false).unwrap();
        let predictions = multi
            .predict(&data, &parts.test, &[0, 1, 2], &device)
            .unwrap();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        for (s, p) in predictions.iter().enumerate() {
            let labels = data.labels(&parts.test, s);
            let scores = LatencyScores::of(p, &labels);
            assert!(scores.mape < 50.0, "multi, setting {s}: {scores:?}");
            // Each setting's own scale, from one encoder pass per network.
            let ratio = mean(p) / mean(&labels);
            assert!((0.8..1.25).contains(&ratio), "setting {s}: {ratio}");
        }

        // Pretrained without `fpga`, then 16 of its measurements.
        let pretrained =
            train_multi_device(&data, &[0, 1], &parts, &protocol.multi, &device, false).unwrap();
        assert!(
            pretrained
                .predict(&data, &parts.test, &[2], &device)
                .is_err()
        );
        let test = pretrained.embed_rows(&data, &parts.test, &device).unwrap();
        let shots = shots(&parts, 16, 0);
        assert!(shots.iter().all(|r| parts.train.contains(r)));
        let tuned = fine_tune(&pretrained, &data, 2, &shots, &test, 200, 1e-2, 0, &device).unwrap();
        let scores = LatencyScores::of(&tuned, &data.labels(&parts.test, 2));
        assert!(scores.mape < 25.0, "transfer: {scores:?}");

        let costs = SplitCosts::new(&data, &parts, 1);
        let flops = regression_baseline(&data, 0, &parts, &costs, RegressionFeatures::FlopsMac);
        assert!(flops.scores.mape.is_finite());
    }

    #[test]
    fn repeated_networks_are_merged_and_give_the_ceiling() {
        let data = tiny();
        assert!(data.cells.len() <= data.table.len());
        // Two cells that differ only in a `none` edge's position build one network.
        let a: Nb201Cell = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        // Node 2 is a plain wire of the input that nothing reads.
        let b: Nb201Cell = "|none~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        let table = LatencyTable {
            path: "dup.csv".into(),
            settings: vec![DeviceSetting {
                name: "cpu".into(),
                batch_size: 1,
            }],
            cells: vec![(0, a), (1, b)],
            latency_ms: vec![1.0, 1.2],
        };
        let data = Nb201Networks::new(table);
        assert_eq!(data.cells.len(), 1);
        let ceiling = repeat_ceiling(&data, 0);
        assert_eq!(ceiling.n, 2);
        // Both rows are predicted by the mean 1.1: errors 10% and 8.3%.
        assert!((ceiling.mape - 100.0 * (0.1 + 0.1 / 1.2) / 2.0).abs() < 1e-9);
    }
}
