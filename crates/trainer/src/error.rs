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
    #[error("{path}: {problem}")]
    RunDir { path: PathBuf, problem: String },
    #[error("{0}")]
    Config(String),
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
}
