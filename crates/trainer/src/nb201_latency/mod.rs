//! The data adapter for latency of whole NAS-Bench-201 networks on the device
//! settings of `latency_help.csv`: the table's cells built into networks and
//! deduplicated, a V2 model trained on one setting, and ([`MultiDeviceModel`]) one
//! model for every setting with few-shot transfer to a setting left out.
//!
//! Which rows train, validate and test, the shots and the baselines are the
//! table's protocol (`tables::latency`); here every function takes a
//! [`Split`] of the table's rows. Test rows never choose a checkpoint: the
//! epoch is picked by validation MAPE.

mod multi;
mod op_counts;
mod run;
mod transfer;

use crate::fit::{Selection, Session};
use crate::train::{self, EvalSet, TargetScaling, TrainSet};
use crate::{TrainError, TrainingConfig};
use burn::prelude::*;
use datasets::nb201_latency::LatencyTable;
use datasets::split::Split;
use graph_ir::cells::Nb201Cell;
use graph_ir::networks::nb201_network;
use graph_ir::{Cost, graph_cost};
use model::CellModel;
pub use multi::{EmbeddedRows, MultiDeviceModel, TrainedMulti, train_multi_device};
pub use op_counts::OpCountFit;
pub(crate) use run::run;
pub use run::{LatencyRun, SETTINGS_FILE, SettingSlot, TransferRecord, transfer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use tokenizer::{GraphTokens, NetworkTokenizer, NetworkVocab};
pub use transfer::{
    CV_FOLDS, CrossValidation, FOLDS_BELOW, FineTuning, Head, MIN_CV_SHOTS, Started, Target,
    fine_tune, fine_tune_cells, folding_factor,
};

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
    pub fn tokens(&self, networks: &[usize], batch: usize, spec: TokenSpec) -> Vec<GraphTokens> {
        let cells: Vec<&Nb201Cell> = networks.iter().map(|&n| &self.cells[n]).collect();
        cell_tokens(&cells, batch, spec, View::Full)
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

/// Predictions of a single-output model for `rows`, each distinct network scored once.
fn predict_rows(
    data: &Nb201Networks,
    model: &CellModel,
    scaling: &TargetScaling,
    rows: &[usize],
    batch: usize,
    spec: TokenSpec,
    device: &Device,
) -> Result<Vec<f64>, TrainError> {
    let (networks, at) = data.distinct(rows);
    let mut scores = Vec::with_capacity(networks.len());
    for chunk in networks.chunks(256) {
        let tokens = data.tokens(chunk, batch, spec);
        scores.extend(train::predict(model, &tokens, scaling, device, 64)?);
    }
    Ok(at.into_iter().map(|i| scores[i]).collect())
}

/// Trains V2 (or the configured model) on one setting and predicts its test
/// rows (ms, in the order of `parts.test`).
pub fn single_device(
    data: &Nb201Networks,
    setting: usize,
    parts: &Split,
    config: &TrainingConfig,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<f64>, TrainError> {
    let batch = data.table.settings[setting].batch_size;
    let spec = TokenSpec::of(config)?;
    let row_tokens = |rows: &[usize]| {
        let (networks, at) = data.distinct(rows);
        let tokens = data.tokens(&networks, batch, spec);
        at.into_iter()
            .map(|i| tokens[i].clone())
            .collect::<Vec<_>>()
    };
    let train_set = TrainSet {
        tokens: row_tokens(&parts.train).into(),
        twins: Vec::new(),
        labels: data.labels(&parts.train, setting),
    };
    let validation = EvalSet {
        tokens: row_tokens(&parts.validation).into(),
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
    predict_rows(
        data,
        &trained.fitted.model,
        &trained.scaling,
        &parts.test,
        batch,
        spec,
        device,
    )
}

/// Which graph of a network a setting reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The whole network, computation nobody reads included (as measured on
    /// HELP's GPUs, CPUs, phones, FPGA and Eyeriss).
    #[default]
    Full,
    /// Only the computation that reaches the classifier
    /// (`graph_ir::Graph::pruned_to`): what a device that drops unused
    /// computation runs (HW-NAS-Bench's pixel3 and raspi4).
    Live,
}

/// Tokens of the whole networks of `cells` at a batch size, in `view`.
pub fn cell_tokens(
    cells: &[&Nb201Cell],
    batch: usize,
    spec: TokenSpec,
    view: View,
) -> Vec<GraphTokens> {
    let tokenizer = NetworkTokenizer::new(spec.vocab);
    cells
        .iter()
        .map(|cell| {
            let full = nb201_network(cell, batch);
            let classifier = graph_ir::NodeId(full.len().saturating_sub(1));
            let network = match view {
                View::Full => full,
                // The classifier exists, so pruning a DAG to it cannot fail.
                View::Live => full.pruned_to(classifier).unwrap_or(full),
            };
            let mut tokens = tokenizer.tokenize(&network, batch);
            if spec.pruning_facts {
                tokens.statics.extend(pruning_facts(cell, &network));
            }
            tokens
        })
        .collect()
}

/// [`crate::NetworkOptions::pruning_facts`] of a cell's network: its output
/// is a constant, it is zeros, and the shares of FLOPs and memory access that
/// reach the classifier (the last node the network builder adds).
fn pruning_facts(cell: &Nb201Cell, network: &graph_ir::Graph) -> [f32; crate::PRUNING_FACTS_DIM] {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let live = network.reaches(graph_ir::NodeId(network.len().saturating_sub(1)));
    let all = graph_cost(network);
    let kept = graph_ir::cost_of(network, |id| live[id.0]);
    let share = |part: u64, whole: u64| (part as f64 / whole.max(1) as f64) as f32;
    [
        flag(!cell.reads_input()),
        flag(cell.writes_zeros()),
        share(kept.flops, all.flops),
        share(kept.memory_access, all.memory_access),
    ]
}

/// Input-independent networks among `k` shots: one per 16, rounded up. A
/// device that folds constants shows it only on such a network, and the 2%
/// of a random sample would often hold none.
pub fn constant_shots(k: usize) -> usize {
    k.div_ceil(16)
}

/// `k` distinct cells to measure on a new device: a seeded sample of the
/// space, [`constant_shots`] of them input-independent.
pub fn suggest_cells(k: usize, seed: u64) -> Vec<Nb201Cell> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut space: Vec<Nb201Cell> = (0..Nb201Cell::COUNT).map(Nb201Cell::from_index).collect();
    space.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let (constant, reading): (Vec<Nb201Cell>, Vec<Nb201Cell>) =
        space.into_iter().partition(|c| !c.reads_input());
    let c = constant_shots(k).min(constant.len());
    let mut cells: Vec<Nb201Cell> = constant[..c].to_vec();
    cells.extend(reading.into_iter().take(k - c));
    cells
}

/// How a config tokenises NAS-Bench-201 networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    pub vocab: NetworkVocab,
    /// The static feature ends with the cell's pruning facts
    /// ([`crate::NetworkOptions::pruning_facts`]).
    #[serde(default)]
    pub pruning_facts: bool,
}

impl TokenSpec {
    pub fn of(config: &TrainingConfig) -> Result<Self, TrainError> {
        let network = config
            .network
            .as_ref()
            .ok_or(TrainError::NoNetworkSection)?;
        Ok(Self {
            vocab: network.vocab,
            pruning_facts: network.pruning_facts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyScores;
    use crate::{Benchmark, Profile};
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

    /// A small V2 for one setting, and the same for all three settings at once.
    fn tiny_configs() -> (TrainingConfig, TrainingConfig) {
        let mut single = TrainingConfig::log_latency(
            Profile::Quick,
            Benchmark::Nb201Latency,
            NetworkVocab::Nnlqp,
        );
        single.model = single.model.clone().with_hidden(16).with_groups(4);
        single.epochs = 25;
        single.batch_size = 8;
        single.learning_rate = 5e-3;
        let mut multi = single.clone();
        multi.model = multi.model.with_devices(3);
        (single, multi)
    }

    #[test]
    fn suggested_cells_are_distinct_seeded_and_hold_constant_ones() {
        let cells = suggest_cells(32, 7);
        assert_eq!(cells, suggest_cells(32, 7));
        assert_ne!(cells, suggest_cells(32, 8));
        let distinct: std::collections::HashSet<_> = cells.iter().collect();
        assert_eq!(distinct.len(), 32);
        assert_eq!(cells.iter().filter(|c| !c.reads_input()).count(), 2);
        assert_eq!(constant_shots(10), 1);
    }

    #[test]
    fn one_setting_one_model_and_transfer_learn_the_tiny_table() {
        let _seeded = crate::test_lock::seeded();
        let data = tiny();
        let (single_config, multi_config) = tiny_configs();
        let parts = data.table.split(48, 12, 0).unwrap();
        assert_eq!(parts.test.len(), 30);
        let device = Device::flex();

        let single = single_device(&data, 0, &parts, &single_config, &device, false).unwrap();
        assert_eq!(single.len(), 30);
        let scores = LatencyScores::of(&single, &data.labels(&parts.test, 0));
        assert!(scores.mape < 20.0, "single: {scores:?}");

        // One model for all three settings tells them apart through the setting input.
        let multi = train_multi_device(
            &data,
            &[0, 1, 2],
            &parts,
            &multi_config,
            &device,
            Session::in_memory(false),
        )
        .unwrap()
        .model;
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

        // Pretrained without `fpga`, then 16 of its measurements (training networks,
        // which pretraining saw on the other settings only).
        let pretrained = train_multi_device(
            &data,
            &[0, 1],
            &parts,
            &multi_config,
            &device,
            Session::in_memory(false),
        )
        .unwrap()
        .model;
        assert!(
            pretrained
                .predict(&data, &parts.test, &[2], &device)
                .is_err()
        );
        // Both views: the transfer reads the pruned one on a device that folds constants.
        let test = pretrained
            .embed_rows(&data, &parts.test, true, &device)
            .unwrap();
        let shots = &parts.train[..16];
        let tuned = fine_tune(&pretrained, &data, 2, shots, 200, 1e-2, 0, &device).unwrap();
        let predicted = tuned.predict_embedded(&test, &[2], &device).unwrap();
        let scores = LatencyScores::of(&predicted[0], &data.labels(&parts.test, 2));
        assert!(scores.mape < 25.0, "transfer: {scores:?}");
        // `fpga` is additive in the op counts: cross-validation on the shots
        // keeps the op-count model, exact on the networks that read their input.
        assert!(tuned.op_counts[2].is_some(), "op-count model kept");
        let reading: Vec<usize> = (0..parts.test.len())
            .filter(|&i| data.cells[data.network_of_row[parts.test[i]]].reads_input())
            .collect();
        let labels = data.labels(&parts.test, 2);
        for &i in &reading {
            let error = (predicted[0][i] / labels[i] - 1.0).abs();
            assert!(
                error < 1e-6,
                "row {i}: {} vs {}",
                predicted[0][i],
                labels[i]
            );
        }
    }
}
