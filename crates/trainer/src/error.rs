//! The trainer's errors, each keeping its source.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error("{arch}: {source}")]
    Tokenize {
        arch: String,
        #[source]
        source: tokenizer::TokenizeError,
    },
    #[error(transparent)]
    File(#[from] sysio::FileError),
    /// A run directory or snapshot whose contents do not fit the run.
    #[error("{path}: {problem}")]
    RunDir { path: PathBuf, problem: String },
    #[error("{path}: {source}")]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: burn::store::RecordError,
    },
    #[error(transparent)]
    OptimizerState(#[from] model::fused::OptimizerStateError),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Import(#[from] onnx_io::OnnxError),
    #[error("{path}:{line}: {source}")]
    ImportRow {
        path: PathBuf,
        line: usize,
        #[source]
        source: Box<datasets::nnlqp::NetworkLoadError>,
    },
    #[error("reading predictions back from the device: {0}")]
    ReadBack(#[from] burn::tensor::DataError),
    #[error("{benchmark} is not a {wanted} benchmark")]
    WrongBenchmark {
        benchmark: crate::Benchmark,
        wanted: &'static str,
    },
    #[error("a latency config needs a `network` section (vocabulary and split)")]
    NoNetworkSection,
    #[error("this run needs a whole-network model (model.d_static > 0)")]
    NotANetworkModel,
    #[error("setting {0} was not trained")]
    UntrainedSetting(usize),
    #[error(
        "setting {0} reads the networks pruned to what reaches the output, and they were embedded whole only"
    )]
    NoLiveView(usize),
    #[error("the run predicts no setting named {name:?}; it predicts: {known}")]
    UnknownSetting { name: String, known: String },
    #[error("no networks to embed")]
    NoNetworks,
    #[error("no validation pass ran")]
    NoValidationPass,
    #[error(transparent)]
    Zoo(#[from] zoo::ManifestError),
    #[error("{path}:{line}: model '{name}' is not in {manifest}")]
    UnknownZooModel {
        path: PathBuf,
        line: usize,
        name: String,
        manifest: PathBuf,
    },
    #[error("stopped after epoch {epoch} as asked; run the same command again to resume")]
    Interrupted { epoch: usize },
    #[error("training diverged at epoch {epoch}: loss is {loss}")]
    Diverged { epoch: usize, loss: f32 },
}

impl TrainError {
    pub(crate) fn run_dir(path: &std::path::Path, problem: impl std::fmt::Display) -> Self {
        TrainError::RunDir {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        }
    }

    pub(crate) fn checkpoint(path: &std::path::Path, source: burn::store::RecordError) -> Self {
        TrainError::Checkpoint {
            path: path.to_path_buf(),
            source,
        }
    }
}
