//! The tables crate's error.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error(transparent)]
    Train(#[from] trainer::TrainError),
    #[error(transparent)]
    Write(#[from] sysio::FileError),
    #[error("plot {path}: {problem}")]
    Plot { path: PathBuf, problem: String },
}

impl TableError {
    pub(crate) fn file(path: &std::path::Path, problem: impl std::fmt::Display) -> Self {
        TableError::File {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        }
    }
}
