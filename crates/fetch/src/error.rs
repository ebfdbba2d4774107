//! Why a dataset could not be fetched, verified or converted.

use std::path::PathBuf;
use thiserror::Error;

/// Why getting or converting a dataset failed. Every variant names the file at fault.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("unknown dataset {name:?} (known: {known})")]
    UnknownDataset { name: String, known: String },
    #[error("the source manifest is inconsistent: {0}")]
    Manifest(String),
    #[error(
        "{file} (from {origin}) is corrupt or truncated: its SHA-256 is {actual} ({bytes} bytes), \
         the manifest expects {expected} ({expected_bytes} bytes); nothing in the data directory was replaced"
    )]
    Checksum {
        file: String,
        origin: String,
        expected: String,
        expected_bytes: u64,
        actual: String,
        bytes: u64,
    },
    #[error("cannot download {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("{file} is in no mirror ({tried}) and downloads are off (--offline)")]
    NotMirrored { file: String, tried: String },
    #[error("{file}: {reason}")]
    Convert { file: String, reason: String },
    #[error(
        "{output}: the converter wrote SHA-256 {actual}, but the manifest expects {expected}; \
         the converter and crates/fetch/sources.json disagree (nothing was written)"
    )]
    OutputMismatch {
        output: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{path} exists, but its SHA-256 {actual} is not a known version of this dataset; \
         pass --force to replace it"
    )]
    UnknownVersion { path: PathBuf, actual: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] sysio::FileError),
}

impl FetchError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| FetchError::Io { path, source }
    }

    pub(crate) fn convert(file: &str, reason: impl Into<String>) -> Self {
        FetchError::Convert {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}
