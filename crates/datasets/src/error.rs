//! The datasets crate's error: every problem names its file (and line).

use std::path::PathBuf;
use thiserror::Error;

/// A problem with a benchmark file, always naming the file (and line, where there is one).
#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("data directory {path} does not exist ({hint})")]
    MissingDataDir { path: PathBuf, hint: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: missing column {column:?} in the header")]
    MissingColumn { path: PathBuf, column: String },
    #[error("{path}:{line}: {problem}")]
    BadRow {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("split needs {needed} samples but the dataset has {available}")]
    SplitTooLarge { needed: usize, available: usize },
}
