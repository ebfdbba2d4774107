//! The tables crate's error.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Train(#[from] trainer::TrainError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error(transparent)]
    Write(#[from] sysio::FileError),
    #[error("plot {path}: {problem}")]
    Plot { path: PathBuf, problem: String },
    #[error("unknown table {0:?} (known: accuracy, latency, zoo)")]
    UnknownTable(String),
    #[error("--seeds must be at least 1")]
    NoSeeds,
    #[error("no job of the table's plan has a name containing any of: {0}")]
    NoJobs(String),
    #[error("cannot start worker {worker} ({exe})")]
    SpawnWorker {
        worker: usize,
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{failed} failed; finished jobs are kept in {root}, run the same command again to continue"
    )]
    WorkersFailed { failed: String, root: PathBuf },
    #[error("job {job} has no result in {root}")]
    MissingResult { job: String, root: PathBuf },
    #[error("job {job}: the dataset has no labels of platform {platform}")]
    NoPlatform { job: String, platform: String },
    #[error("{failed} of {total} runs failed (see their train.log)")]
    RunsFailed { failed: usize, total: usize },
}

impl TableError {
    pub(crate) fn file(path: &std::path::Path, problem: impl std::fmt::Display) -> Self {
        TableError::File {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| TableError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
