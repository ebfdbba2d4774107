//! One nested [`TrainingConfig`] describes a run; it is saved as `config.json`
//! beside the checkpoint, so one file reproduces the run.

use graph_ir::Graph;
use graph_ir::cells::{CellError, Nb101Cell, Nb201Cell};
use model::{Architecture, CellModelConfig};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    Nb201,
    Nb101,
    /// Whole-network latency, NNLQP format (ONNX files + `gt.txt`).
    Nnlqp,
    /// Whole NAS-Bench-201 networks' latency on 27 device settings (`latency_help.csv`).
    #[serde(rename = "nb201-latency")]
    Nb201Latency,
}

impl Benchmark {
    /// The training-set sizes of the paper's tables (the paper's tables).
    pub fn paper_train_sizes(self) -> &'static [usize] {
        match self {
            Benchmark::Nb201 => &[78, 156, 469, 781, 1563],
            Benchmark::Nb101 => &[100, 172, 424, 4236],
            Benchmark::Nnlqp | Benchmark::Nb201Latency => &[],
        }
    }

    /// Parses one architecture in the benchmark's text form: an NB201 cell string
    /// (`|nor_conv_3x3~0|+|...|`) or an NB101 cell `<adjacency 0/1 row-major> <ops>`.
    pub fn parse_cell(self, text: &str) -> Result<Graph, CellError> {
        Ok(match self {
            Benchmark::Nb201 => text.parse::<Nb201Cell>()?.to_graph(),
            Benchmark::Nb101 => text.parse::<Nb101Cell>()?.to_graph(),
            Benchmark::Nnlqp | Benchmark::Nb201Latency => {
                return Err(CellError::Nb101 {
                    reason: format!("{self} runs predict whole networks, not cells"),
                });
            }
        })
    }

    /// Whether the benchmark predicts latency of whole networks (else accuracy of cells).
    pub fn is_latency(self) -> bool {
        matches!(self, Benchmark::Nnlqp | Benchmark::Nb201Latency)
    }
}

impl FromStr for Benchmark {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nb201" => Ok(Benchmark::Nb201),
            "nb101" => Ok(Benchmark::Nb101),
            "nnlqp" => Ok(Benchmark::Nnlqp),
            "nb201-latency" => Ok(Benchmark::Nb201Latency),
            other => Err(format!(
                "unknown benchmark {other:?} (known: nb201, nb101, nnlqp, nb201-latency)"
            )),
        }
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Benchmark::Nb201 => "nb201",
            Benchmark::Nb101 => "nb101",
            Benchmark::Nnlqp => "nnlqp",
            Benchmark::Nb201Latency => "nb201-latency",
        })
    }
}

/// Hyper-parameter profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The reference recipe (reference `predictor/main.py`): 6 layers, hidden 512, 1000 epochs,
    /// batch 8, lr 1e-4, ratio-MSE. Meant for a GPU.
    Paper,
    /// Sized for a 2-core CPU: 3 layers, about 275 k parameters, at most
    /// [`QUICK_SAMPLE_BUDGET`] training samples per run; its loss, sizes and
    /// budget were chosen on validation data (docs/results/quick-profile.md).
    Quick,
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Profile::Paper),
            "quick" => Ok(Profile::Quick),
            other => Err(format!("unknown profile {other:?} (known: paper, quick)")),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Paper => "paper",
            Profile::Quick => "quick",
        })
    }
}

/// What the model regresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The reference: `mean((pred / y - 1)^2)` on raw labels, positive (softplus) output.
    RatioMse,
    /// MSE on labels standardised with the training set's mean and std, linear output.
    StandardizedMse,
    /// MSE on the standardised `-ln(1 - accuracy)`, linear output: a monotone
    /// transform that spreads the crowded top accuracies and pulls in the few
    /// collapsed cells (10% accuracy) that otherwise dominate the loss.
    LogErrorMse,
    /// MSE on the standardised `ln(latency)`, linear output: relative errors
    /// weigh the same at 0.01 ms and at 100 ms. The ratio loss collapses to
    /// zero predictions when a few labels are orders of magnitude below the
    /// rest (the pixel3 and raspi4 columns of NAS-Bench-201).
    LogMse,
}

/// The `quick` profile trains for `min(200, ceil(QUICK_SAMPLE_BUDGET / train_size))`
/// epochs: small training sets get 200 epochs, large ones the same number of
/// samples (and so about the same time) as 200 epochs of 800 cells.
pub const QUICK_SAMPLE_BUDGET: usize = 160_000;
const QUICK_MAX_EPOCHS: usize = 200;

/// Hidden width of each architecture in the `quick` profile: V2 at 128, the
/// baselines sized to about the same parameter count (275 k for 3 layers).
pub fn quick_hidden(architecture: Architecture) -> usize {
    match architecture {
        Architecture::V2 => 128,
        Architecture::Gnn => 192,
        Architecture::Transformer => 80,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingConfig {
    pub benchmark: Benchmark,
    pub profile: Profile,
    pub train_size: usize,
    pub validation_size: usize,
    pub seed: u64,
    pub model: CellModelConfig,
    pub objective: Objective,
    pub learning_rate: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Share of all iterations spent warming the learning rate up.
    pub warmup_fraction: f64,
    /// Weight of the pairwise-difference loss.
    pub pairwise_weight: f64,
    /// Weight of the consistency loss against the relabelled twin.
    pub consistency_weight: f64,
    /// Validate (and maybe checkpoint) every this many epochs, and after the last.
    pub eval_every: usize,
    /// Whole-network (latency) settings; absent for cell benchmarks, so their
    /// configs (and run hashes) are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkOptions>,
}

/// What a latency run needs beyond the shared fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOptions {
    pub vocab: tokenizer::NetworkVocab,
    pub split: datasets::nnlqp::LatencySplit,
    /// The label file's platform to train on (`PlatformId`), needed when it
    /// holds several (a zoo measured with two engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// NAS-Bench-201 networks only: the static feature ends with
    /// [`PRUNING_FACTS_DIM`] facts of what an engine that folds constants and
    /// drops dead computation runs: whether the cell's output does not depend
    /// on the input, whether it is zeros (`graph_ir::cells::Nb201Cell::reads_input`,
    /// `writes_zeros`), and the shares of FLOPs and of memory access that
    /// reach the classifier. Some devices (HW-NAS-Bench's pixel3, raspi4) run
    /// only that computation, the others all of it: the model learns which.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pruning_facts: bool,
    /// `nb201-latency` runs: the device settings trained on (every setting
    /// of the table when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Values [`NetworkOptions::pruning_facts`] appends to the static feature.
pub const PRUNING_FACTS_DIM: usize = 4;

/// Epochs of the additive variant on the quick profile ([`TrainingConfig::additive`]).
pub const ADDITIVE_QUICK_EPOCHS: usize = 40;

impl TrainingConfig {
    /// Reads a `config.json`. Model fields it lacks take their defaults, so
    /// configs written before a field existed (e.g. `architecture`, which
    /// defaults to V2) still load.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::TrainError> {
        Self::from_value(sysio::read_json(path)?, path)
    }

    /// [`Self::load`] of a config already parsed from `path`.
    pub fn from_value(
        mut value: serde_json::Value,
        path: &std::path::Path,
    ) -> Result<Self, crate::TrainError> {
        let defaults = serde_json::to_value(CellModelConfig::new());
        if let (Some(model), Ok(serde_json::Value::Object(defaults))) = (
            value.get_mut("model").and_then(|m| m.as_object_mut()),
            defaults,
        ) {
            for (key, default) in defaults {
                model.entry(key).or_insert(default);
            }
        }
        serde_json::from_value(value).map_err(|e| crate::TrainError::RunDir {
            path: path.to_path_buf(),
            problem: format!("not a training config: {e}"),
        })
    }

    pub fn for_profile(
        profile: Profile,
        benchmark: Benchmark,
        architecture: Architecture,
        train_size: usize,
        seed: u64,
    ) -> Self {
        if benchmark.is_latency() {
            return Self::latency(profile, seed, tokenizer::NetworkVocab::default());
        }
        let paper = Self {
            network: None,
            benchmark,
            profile,
            train_size,
            validation_size: 200,
            seed,
            model: CellModelConfig::new().with_architecture(architecture),
            objective: Objective::RatioMse,
            learning_rate: 1e-4,
            epochs: 1000,
            batch_size: 8,
            warmup_fraction: 0.1,
            pairwise_weight: 0.1,
            consistency_weight: 0.5,
            eval_every: 10,
        };
        match profile {
            Profile::Paper => paper,
            Profile::Quick => Self {
                model: CellModelConfig::new()
                    .with_architecture(architecture)
                    .with_hidden(quick_hidden(architecture))
                    .with_layers(3)
                    .with_dropout(0.0)
                    .with_positive_output(false),
                objective: Objective::LogErrorMse,
                learning_rate: 1e-3,
                epochs: QUICK_MAX_EPOCHS.min(QUICK_SAMPLE_BUDGET.div_ceil(train_size.max(1))),
                batch_size: 32,
                // The twin forward doubles a step's cost; at equal time, more epochs
                // without it won on validation (docs/results/quick-profile.md).
                consistency_weight: 0.0,
                eval_every: 5,
                ..paper
            },
        }
    }

    /// The log-latency recipe of the latency tables: [`TrainingConfig::latency`]
    /// with objective `log_mse` (latencies span orders of magnitude), an
    /// in-domain `network` section, and on the quick profile hidden 64, 8
    /// epochs, lr 2e-3.
    pub fn log_latency(
        profile: Profile,
        benchmark: Benchmark,
        vocab: tokenizer::NetworkVocab,
    ) -> Self {
        let mut config = Self::latency(profile, 0, vocab);
        config.benchmark = benchmark;
        config.objective = Objective::LogMse;
        config.model.positive_output = false;
        config.network = Some(NetworkOptions {
            vocab,
            split: datasets::nnlqp::LatencySplit::InDomain,
            platform: None,
            pruning_facts: false,
            settings: Vec::new(),
        });
        if profile == Profile::Quick {
            config.model = config.model.with_hidden(64);
            config.epochs = 8;
            config.learning_rate = 2e-3;
        }
        config
    }

    /// The multi-setting model of NAS-Bench-201 latency (`latency_help.csv`,
    /// `settings` columns): V2 on the reference vocabulary with the pruning
    /// facts, one learned embedding per setting, standardised `ln` latency;
    /// 25 epochs on the quick profile, 100 on the paper's; 1000 training and
    /// 200 validation networks.
    pub fn nb201_multi(profile: Profile, settings: usize) -> Self {
        let vocab = tokenizer::NetworkVocab::Nnlqp;
        let mut multi =
            Self::log_latency(profile, Benchmark::Nb201Latency, vocab).with_pruning_facts();
        multi.model = multi.model.with_devices(settings);
        multi.epochs = if profile == Profile::Quick { 25 } else { 100 };
        multi.train_size = 1000;
        multi.validation_size = 200;
        multi
    }

    /// The GNN baseline trained like this config (hidden 96 on the quick
    /// profile, 512 on the paper's).
    pub fn gnn_baseline(&self) -> Self {
        let mut gnn = self.clone();
        let hidden = if self.profile == Profile::Quick {
            96
        } else {
            512
        };
        gnn.model = gnn
            .model
            .with_architecture(Architecture::Gnn)
            .with_hidden(hidden);
        gnn
    }

    /// This config with the pruning facts in the static feature
    /// ([`NetworkOptions::pruning_facts`]; NAS-Bench-201 networks).
    pub fn with_pruning_facts(&self) -> Self {
        let mut with = self.clone();
        if let Some(network) = with.network.as_mut().filter(|n| !n.pruning_facts) {
            network.pruning_facts = true;
            with.model = with
                .model
                .clone()
                .with_d_static(with.model.d_static + PRUNING_FACTS_DIM);
        }
        with
    }

    /// The model's input width on `vocab`'s tokens: a residual readout reads
    /// one more feature, its prior.
    pub fn token_width(&self, vocab: tokenizer::NetworkVocab) -> usize {
        vocab.token_dim() + usize::from(self.model.readout == model::Readout::Residual)
    }

    /// [`Self::additive`] around the kernel-level additive baseline's per-node
    /// costs ([`model::Readout::Residual`]): each token ends with `ln` of its
    /// node's baseline cost, and the node head learns the correction.
    pub fn residual(&self) -> Self {
        let mut residual = self.additive();
        let width = residual.model.d_input + 1;
        residual.model = residual
            .model
            .with_d_input(width)
            .with_readout(model::Readout::Residual);
        residual
    }

    /// This config with the additive readout ([`model::Readout::Additive`]) on
    /// tokens that carry each node's cost (`extended-costs`): the variant built
    /// to generalise to unseen families.
    pub fn additive(&self) -> Self {
        let mut additive = self.clone();
        let vocab = tokenizer::NetworkVocab::ExtendedCosts;
        if let Some(network) = &mut additive.network {
            network.vocab = vocab;
        }
        additive.model = additive
            .model
            .with_d_input(vocab.token_dim())
            .with_readout(model::Readout::Additive);
        additive.objective = Objective::LogMse;
        additive.model.positive_output = false;
        if self.profile == Profile::Quick {
            // Its validation MAPE still falls steeply at 8 epochs (17% on the
            // zoo's ORT labels) and levels off near 40 (4%).
            additive.epochs = ADDITIVE_QUICK_EPOCHS;
        }
        additive
    }

    /// The whole-network latency recipe (reference `predictor/main.py`: ratio MSE, lr 1e-3,
    /// 50 epochs, batch 16; 2 layers, sum readout, static branch). `quick`
    /// narrows the model to 128 and drops dropout.
    pub fn latency(profile: Profile, seed: u64, vocab: tokenizer::NetworkVocab) -> Self {
        let hidden = match profile {
            Profile::Paper => 512,
            Profile::Quick => 128,
        };
        Self {
            benchmark: Benchmark::Nnlqp,
            profile,
            train_size: 0,
            validation_size: 0,
            seed,
            model: CellModelConfig::new()
                .with_architecture(Architecture::V2)
                .with_d_input(vocab.token_dim())
                .with_d_static(tokenizer::network::STATIC_DIM)
                .with_hidden(hidden)
                .with_layers(2)
                .with_dropout(if profile == Profile::Paper { 0.05 } else { 0.0 }),
            objective: Objective::RatioMse,
            learning_rate: 1e-3,
            epochs: 50,
            batch_size: 16,
            warmup_fraction: 0.1,
            pairwise_weight: 0.0,
            consistency_weight: 0.0,
            eval_every: 1,
            network: Some(NetworkOptions {
                vocab,
                split: datasets::nnlqp::LatencySplit::InDomain,
                platform: None,
                pruning_facts: false,
                settings: Vec::new(),
            }),
        }
    }

    /// Caps the epochs at `cap` (at least 1), still validating at least once:
    /// a smoke test of a whole table (`reproduce-table --max-epochs`).
    pub fn cap_epochs(&mut self, cap: usize) {
        self.epochs = self.epochs.min(cap.max(1));
        self.eval_every = self.eval_every.min(self.epochs);
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<(), String> {
        let positive = self.model.positive_output;
        match (self.objective, positive) {
            (Objective::RatioMse, false) => {
                return Err("ratio_mse needs model.positive_output = true".into());
            }
            (Objective::StandardizedMse | Objective::LogErrorMse | Objective::LogMse, true) => {
                return Err(
                    "standardized_mse, log_error_mse and log_mse need model.positive_output = false".into(),
                );
            }
            _ => {}
        }
        if self.benchmark.is_latency() != self.network.is_some() {
            return Err("a latency (nnlqp) config needs a `network` section, and only it".into());
        }
        if let Some(network) = &self.network
            && self.model.d_input != self.token_width(network.vocab)
        {
            return Err(format!(
                "model.d_input {} does not match the {} vocabulary's token width {}{}",
                self.model.d_input,
                network.vocab,
                network.vocab.token_dim(),
                if self.model.readout == model::Readout::Residual {
                    " plus the prior"
                } else {
                    ""
                }
            ));
        }
        if self.model.readout.is_per_node() && self.objective != Objective::LogMse {
            return Err(
                "model.readout = additive predicts ln(ms): it needs objective log_mse".into(),
            );
        }
        let too_few = self.train_size < 2 && !self.benchmark.is_latency();
        if too_few || self.batch_size == 0 || self.epochs == 0 || self.eval_every == 0 {
            return Err(
                "train_size >= 2, batch_size, epochs and eval_every >= 1 are required".into(),
            );
        }
        self.model.check()?;
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(format!(
                "learning_rate {} must be positive",
                self.learning_rate
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_from_before_the_baselines_still_load_as_v2() {
        let old = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/configs/quick-tuning/h128-e300.json"
        );
        let config = TrainingConfig::load(std::path::Path::new(old)).unwrap();
        assert_eq!(config.model.architecture, Architecture::V2);
        assert_eq!(config.model.heads, 4);
        config.validate().unwrap();
    }

    #[test]
    fn quick_epochs_follow_the_sample_budget() {
        let epochs = |benchmark, n| {
            TrainingConfig::for_profile(Profile::Quick, benchmark, Architecture::V2, n, 0).epochs
        };
        assert_eq!(epochs(Benchmark::Nb201, 78), 200);
        assert_eq!(epochs(Benchmark::Nb201, 781), 200);
        assert_eq!(epochs(Benchmark::Nb201, 1563), 103);
        assert_eq!(epochs(Benchmark::Nb101, 4236), 38);
        for a in Architecture::ALL {
            TrainingConfig::for_profile(Profile::Quick, Benchmark::Nb101, a, 100, 0)
                .validate()
                .unwrap();
        }
    }

    #[test]
    fn benchmark_text_forms_parse_or_say_why_not() {
        let nb101 = Benchmark::Nb101
            .parse_cell("0110000100010000 in|c3|mp|out")
            .unwrap();
        assert_eq!(nb101.len(), 4);
        let err = Benchmark::Nb201.parse_cell("0110000100010000 in|c3|mp|out");
        assert!(err.is_err());
        assert_eq!("nb101".parse::<Benchmark>().unwrap(), Benchmark::Nb101);
        assert!("nb301".parse::<Benchmark>().unwrap_err().contains("nb101"));
    }
}
