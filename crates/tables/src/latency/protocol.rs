//! The NAS-Bench-201 latency table's protocol: the configs of its models,
//! one seeded split of the networks per seed shared by every setting, the
//! shots of few-shot transfer and the settings it transfers to, the FLOPs /
//! FLOPs + memory-access regression baselines, and the repeat ceiling (how
//! well the measurements agree with themselves).

use datasets::DatasetError;
use datasets::split::Split;
use graph_ir::Cost;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenizer::NetworkVocab;
use trainer::metrics::LatencyScores;
use trainer::nb201_latency::{Nb201Networks, constant_shots};
use trainer::regression::{RegressionFeatures, fit_and_predict};
use trainer::{Benchmark, Profile, TrainingConfig};

/// Settings left out of pretraining and learned from a few measurements.
pub const TRANSFER_TARGETS: [&str; 6] = [
    "pixel3",
    "raspi4",
    "fpga",
    "eyeriss",
    "gold_6240",
    "titan_rtx_32",
];
/// Measured networks of a held-out setting that transfer learns from.
pub const SHOTS: [usize; 3] = [10, 32, 100];

/// HELP's device split of NAS-Bench-201 (NeurIPS 2021; its repository's
/// `script/run_meta_train.sh` and README): meta-training settings, ...
pub const HELP_META_TRAIN: [&str; 9] = [
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
];
/// ... meta-validation settings (here: transferred to like the test
/// settings, and reported as validation: the design is checked on them) ...
pub const HELP_META_VALID: [&str; 4] = ["titanx_1", "titanx_32", "titanx_256", "gold_6240"];
/// ... and the meta-test settings, with HELP's published Spearman rho at 10
/// measured networks (HELP's README, Table 3).
pub const HELP_META_TEST: [(&str, f64); 6] = [
    ("titan_rtx_256", 0.987),
    ("gold_6226", 0.989),
    ("fpga", 0.985),
    ("pixel2", 0.802),
    ("raspi4", 0.890),
    ("eyeriss", 0.940),
];
/// Shots of the HELP protocol's transfer.
pub const HELP_SHOTS: [usize; 2] = [10, 20];
/// The settings drawn as predicted-against-measured plots (V2 per setting, seed 0).
pub const PLOTTED: [&str; 2] = ["titan_rtx_32", "gold_6240"];

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
    /// How transfer works beyond steps and rate, named so that stored results
    /// of another design are not reused: `min-folding-view+log-fit+cv+full-op-counts` (one shot in
    /// 16 is an input-independent network; those are left out of fine-tuning
    /// and give the setting's factor on them; the starting setting is the one
    /// whose log predictions correlate best with the shots' log latencies; the
    /// networks are read pruned to what reaches the output when an
    /// input-independent shot shows that the device folds constants; the
    /// predictor, learned with a frozen or tuned head or additive in the op
    /// counts (in the whole view, for every network), is chosen by
    /// cross-validation on the shots:
    /// `trainer::nb201_latency::fine_tune_cells`).
    pub transfer_design: String,
}

impl Protocol {
    pub fn for_profile(profile: Profile, settings: usize) -> Self {
        // The reference vocabulary covers every op of these networks.
        let vocab = NetworkVocab::Nnlqp;
        // Every model reads what an engine that folds constants and drops dead
        // computation runs: some devices do (pixel3, raspi4), most do not.
        let single = TrainingConfig::log_latency(profile, Benchmark::Nb201Latency, vocab)
            .with_pruning_facts();
        let quick = profile == Profile::Quick;
        // What `narformer train --benchmark nb201-latency` trains.
        let multi = TrainingConfig::nb201_multi(profile, settings);
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
            transfer_design: "min-folding-view+log-fit+cv+full-op-counts".into(),
        }
    }
}

impl Protocol {
    /// Caps every model's epochs ([`TrainingConfig::cap_epochs`]).
    pub fn cap_epochs(&mut self, cap: usize) {
        for c in [&mut self.single, &mut self.multi, &mut self.gnn] {
            c.cap_epochs(cap);
        }
    }

    /// Row indices of one seed's split, shared by every setting. The scored
    /// test rows are every row in neither train nor validation, or a seeded
    /// sample of them.
    pub fn split(&self, data: &Nb201Networks, seed: u64) -> Result<Split, DatasetError> {
        let mut split = data.table.split(self.train, self.validation, seed)?;
        if let Some(n) = self.test_sample {
            split
                .test
                .shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x7e57));
            split.test.truncate(n);
            split.test.sort_unstable();
        }
        Ok(split)
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

/// `k` shots for a held-out setting: a seeded sample of the training networks
/// (pretraining saw them measured on the other settings only), so the test
/// rows stay unseen, [`constant_shots`] of them input-independent
/// (`Nb201Cell::reads_input`: a fact of the graph, not of the labels).
pub fn shots(data: &Nb201Networks, parts: &Split, k: usize, seed: u64) -> Vec<usize> {
    let mut pool = parts.train.clone();
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5407));
    let (constant, reading): (Vec<usize>, Vec<usize>) = pool
        .into_iter()
        .partition(|&r| !data.cells[data.network_of_row[r]].reads_input());
    let c = constant_shots(k).min(constant.len());
    let mut shots: Vec<usize> = constant[..c].to_vec();
    shots.extend(reading.iter().take(k - c));
    shots
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
    pub fn new(data: &Nb201Networks, parts: &Split, batch: usize) -> Self {
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
    parts: &Split,
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
    use datasets::nb201_latency::{DeviceSetting, LatencyTable};
    use graph_ir::cells::Nb201Cell;

    #[test]
    fn repeated_networks_give_the_ceiling() {
        // Two cells that differ only in a `none` edge's position build one
        // network (node 2 of `b` is a wire of the input that nothing reads).
        let a: Nb201Cell = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
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
        assert_eq!(data.network_of_row, vec![0, 0]);
        let ceiling = repeat_ceiling(&data, 0);
        assert_eq!(ceiling.n, 2);
        // Both rows are predicted by the mean 1.1: errors 10% and 8.3%.
        assert!((ceiling.mape - 100.0 * (0.1 + 0.1 / 1.2) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn shots_are_training_networks_and_the_test_sample_is_seeded() {
        let cells = (0..400)
            .map(|i| (i, Nb201Cell::from_index(i * 37 % Nb201Cell::COUNT)))
            .collect();
        let table = LatencyTable {
            path: "t.csv".into(),
            settings: vec![DeviceSetting {
                name: "cpu".into(),
                batch_size: 1,
            }],
            cells,
            latency_ms: (0..400).map(|i| 1.0 + i as f64).collect(),
        };
        let data = Nb201Networks::new(table);
        let mut protocol = Protocol::for_profile(Profile::Quick, 1);
        protocol.train = 100;
        protocol.validation = 20;
        protocol.test_sample = Some(50);
        let split = protocol.split(&data, 3).unwrap();
        assert_eq!(split.test.len(), 50);
        assert_eq!(split, protocol.split(&data, 3).unwrap());
        assert!(split.test.iter().all(|r| !split.train.contains(r)));
        let shots = shots(&data, &split, 10, 3);
        assert_eq!(shots.len(), 10);
        assert!(shots.iter().all(|r| split.train.contains(r)));
        // One of ten shots is input-independent where the training rows hold one.
        let constant = |rows: &[usize]| {
            rows.iter()
                .filter(|&&r| !data.cells[data.network_of_row[r]].reads_input())
                .count()
        };
        assert_eq!(constant(&shots), constant(&split.train).min(1));
    }
}
