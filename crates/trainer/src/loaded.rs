//! A finished run loaded back for inference: cells (`predict`, `evaluate`)
//! and whole networks from ONNX files (`tokenize_onnx`, `predict_networks`,
//! `evaluate_latency`).

use crate::cells::{eval_set, load_samples, split_of, tokenize, vocab};
use crate::latency::{self, network_of};
use crate::metrics::{LatencyScores, kendall_tau_b};
use crate::prior::{KernelPrior, PRIOR_FILE};
use crate::run_dir::{CONFIG_FILE, FORMAT_FILE, MODEL_FILE, TARGET_FILE};
use crate::train::{self, TargetScaling};
use crate::{TrainError, TrainingConfig};
use burn::module::Module;
use burn::prelude::*;
use datasets::BadRows;
use datasets::nnlqp::{self, TokenCache};
use graph_ir::Graph;
use model::CellModel;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokenizer::{CellTokenizer, GraphTokens, NetworkTokenizer};

/// Which part of a run's split to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitPart {
    Train,
    Validation,
    Test,
}

/// The files of a run held in memory, as [`LoadedRun::from_bytes`] reads them.
#[derive(Debug, Clone, Copy)]
pub struct RunFiles<'a> {
    pub format: &'a str,
    pub config: &'a str,
    pub target: &'a str,
    pub model: &'a [u8],
    /// A residual run's `prior.json`.
    pub prior: Option<&'a str>,
}

/// A finished run loaded back for inference.
#[derive(Debug)]
pub struct LoadedRun {
    pub config: TrainingConfig,
    pub scaling: TargetScaling,
    pub model: CellModel,
    /// A residual run's prior (`prior.json`), appended to every token.
    pub prior: Option<KernelPrior>,
    /// `model` made ready to score, once.
    scoring: train::Scoring,
    device: Device,
}

impl LoadedRun {
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl LoadedRun {
    pub fn open(run_dir: &Path, device: &Device) -> Result<Self, TrainError> {
        crate::run_dir::check_format(run_dir)?;
        if run_dir.join(crate::nb201_latency::SETTINGS_FILE).is_file() {
            return Err(TrainError::run_dir(
                run_dir,
                "an nb201-latency run predicts cells on a device setting: \
                 narformer predict --run DIR --setting NAME CELLS",
            ));
        }
        let config = TrainingConfig::load(&run_dir.join(CONFIG_FILE))?;
        config.validate().map_err(TrainError::InvalidConfig)?;
        let scaling: TargetScaling = sysio::read_json(&run_dir.join(TARGET_FILE))?;
        let model_path = run_dir.join(MODEL_FILE);
        let model = config
            .model
            .init(device)
            .try_load_file(&model_path)
            .map_err(|e| TrainError::checkpoint(&model_path, e))?;
        let prior = match config.model.readout {
            model::Readout::Residual => Some(KernelPrior::read(run_dir)?),
            _ => None,
        };
        Ok(Self {
            config,
            scaling,
            scoring: train::Scoring::of(&model),
            model,
            prior,
            device: device.clone(),
        })
    }

    /// A run held in memory (a predictor compiled into the binary): the
    /// contents of its `format.json`, `config.json`, `target.json`,
    /// `model.bpk` and, for a residual run, `prior.json`; `origin` names it
    /// in errors.
    pub fn from_bytes(
        origin: &Path,
        files: RunFiles<'_>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let RunFiles {
            format,
            config,
            target,
            model,
            prior,
        } = files;
        fn parse<T: serde::de::DeserializeOwned>(
            path: PathBuf,
            text: &str,
        ) -> Result<T, TrainError> {
            serde_json::from_str(text)
                .map_err(|source| sysio::FileError::Json { path, source }.into())
        }
        let format: crate::run_dir::Format = parse(origin.join(FORMAT_FILE), format)?;
        format.check(&origin.join(FORMAT_FILE))?;
        let config_path = origin.join(CONFIG_FILE);
        let config = TrainingConfig::from_value(parse(config_path.clone(), config)?, &config_path)?;
        config.validate().map_err(TrainError::InvalidConfig)?;
        let scaling: TargetScaling = parse(origin.join(TARGET_FILE), target)?;
        let model_path = origin.join(MODEL_FILE);
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(
            model.to_vec(),
        ))
        .map_err(|e| TrainError::checkpoint(&model_path, e))?;
        let model = config
            .model
            .init(device)
            .try_load_record(record)
            .map_err(|e| TrainError::checkpoint(&model_path, e))?;
        let prior_path = origin.join(PRIOR_FILE);
        let prior = match (config.model.readout, prior) {
            (model::Readout::Residual, Some(text)) => {
                Some(KernelPrior::from_json(text, &prior_path)?)
            }
            (model::Readout::Residual, None) => {
                return Err(TrainError::run_dir(
                    &prior_path,
                    "a residual-readout run needs its prior, and there is none",
                ));
            }
            _ => None,
        };
        Ok(Self {
            config,
            scaling,
            scoring: train::Scoring::of(&model),
            model,
            prior,
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
        train::predict_with(
            &self.model,
            &self.scoring,
            &tokens,
            &self.scaling,
            &self.device,
            1024,
        )
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
        let scores = train::predict_graphs_with(
            &self.model,
            &self.scoring,
            &set.tokens,
            &self.scaling,
            &self.device,
            1024,
        )?;
        Ok((
            indices.len(),
            kendall_tau_b(&scores, &set.labels).unwrap_or(f64::NAN),
        ))
    }
}

/// One network to score: where it came from and its tokens.
#[derive(Debug, Clone)]
pub struct NetworkInput {
    pub source: PathBuf,
    pub tokens: GraphTokens,
    pub unknown_ops: BTreeMap<String, usize>,
    /// The graph inputs the batch size was written into.
    pub batched_inputs: Vec<String>,
    /// Each graph input with the shape it was imported with.
    pub inputs: Vec<onnx_io::GraphInput>,
}

impl LoadedRun {
    /// Imports and tokenises ONNX files the way this run was trained (its vocabulary).
    pub fn tokenize_onnx(
        &self,
        path: &Path,
        options: &onnx_io::ImportOptions,
    ) -> Result<NetworkInput, TrainError> {
        let vocab = network_of(&self.config)?.vocab;
        let imported = onnx_io::read_file(path, options)?;
        let compact = NetworkTokenizer::new(vocab).compact(&imported.graph, options.batch_size);
        let tokens = match &self.prior {
            Some(prior) => prior.append_to(&imported.graph, compact.encode())?,
            None => compact.encode(),
        };
        Ok(NetworkInput {
            source: path.to_path_buf(),
            unknown_ops: compact.unknown_ops.clone(),
            batched_inputs: imported.batched_inputs,
            inputs: imported.inputs,
            tokens,
        })
    }

    /// Predicted latencies (ms) of tokenised networks.
    pub fn predict_networks(&self, inputs: &[NetworkInput]) -> Result<Vec<f64>, TrainError> {
        if !self.config.benchmark.is_latency() {
            return Err(TrainError::WrongBenchmark {
                benchmark: self.config.benchmark,
                wanted: "latency (ONNX files)",
            });
        }
        let tokens: Vec<GraphTokens> = inputs.iter().map(|i| i.tokens.clone()).collect();
        train::predict_with(
            &self.model,
            &self.scoring,
            &tokens,
            &self.scaling,
            self.device(),
            16,
        )
    }
}

impl LoadedRun {
    /// MAPE and Acc(10%)/Acc(5%) on a part of this run's split, recomputed from its seed.
    pub fn evaluate_latency(
        &self,
        root: &Path,
        part: SplitPart,
        cache: &TokenCache,
        bad_rows: BadRows,
    ) -> Result<LatencyScores, TrainError> {
        let network = network_of(&self.config)?;
        let data = match &self.prior {
            // The prior the run was trained with, recomputed from the same rows.
            Some(_) => latency::load_with_prior(root, network, self.config.seed)?.0,
            None => latency::load_dataset(
                root,
                network.platform.as_deref(),
                network.vocab,
                cache,
                bad_rows,
                false,
            )?,
        };
        let parts = nnlqp::split(&data.labels, &network.split, self.config.seed)?;
        let indices = match part {
            SplitPart::Train => &parts.train,
            SplitPart::Validation => &parts.validation,
            SplitPart::Test => &parts.test,
        };
        let set = latency::eval_set(&data, indices);
        let scores = train::predict_graphs_with(
            &self.model,
            &self.scoring,
            &set.tokens,
            &self.scaling,
            self.device(),
            64,
        )?;
        Ok(LatencyScores::of(&scores, &set.labels))
    }
}
