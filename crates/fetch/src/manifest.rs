//! The committed list of datasets and the public files they are made from
//! (`crates/fetch/sources.json`, compiled into the binary so it works anywhere).

use crate::FetchError;
use serde::{Deserialize, Serialize};

const SOURCES: &str = include_str!("../sources.json");

/// One public file, pinned to a commit of the repository that publishes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceFile {
    /// Where the file sits in a mirror laid out like `../shared/data/originals`.
    pub path: String,
    pub url: String,
    pub repository: String,
    pub commit: String,
    pub sha256: String,
    pub bytes: u64,
}

/// One dataset: the canonical file it becomes and the files it is made from.
#[derive(Debug, Clone, Deserialize)]
pub struct DatasetSpec {
    /// The name `--only` takes (`nb201`, `nb201-latency`, `nb101`, `nnlqp-labels`).
    pub name: String,
    pub what: String,
    /// Path of the converted file inside the data directory.
    pub output: String,
    /// SHA-256 of the converter's output: the conversion is deterministic.
    pub output_sha256: String,
    /// Other versions accepted as already present (the published CSVs of
    /// `../shared/data`, which carry extra columns from sources not mirrored).
    #[serde(default)]
    pub also_accepted_sha256: Vec<String>,
    pub rows: usize,
    pub licence: String,
    /// Paths of the source files (`SourceFile::path`).
    pub files: Vec<String>,
}

impl DatasetSpec {
    /// Whether a file with this SHA-256 is a known version of the dataset.
    pub fn accepts(&self, sha256: &str) -> bool {
        self.output_sha256 == sha256 || self.also_accepted_sha256.iter().any(|s| s == sha256)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub datasets: Vec<DatasetSpec>,
    pub files: Vec<SourceFile>,
}

impl Manifest {
    /// The manifest compiled into this build.
    pub fn builtin() -> Result<Self, FetchError> {
        let manifest: Manifest = serde_json::from_str(SOURCES)
            .map_err(|e| FetchError::Manifest(format!("sources.json: {e}")))?;
        for dataset in &manifest.datasets {
            for path in &dataset.files {
                manifest.file(path)?;
            }
        }
        Ok(manifest)
    }

    pub fn dataset(&self, name: &str) -> Result<&DatasetSpec, FetchError> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| FetchError::UnknownDataset {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    pub fn file(&self, path: &str) -> Result<&SourceFile, FetchError> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| FetchError::Manifest(format!("no source file {path:?}")))
    }

    pub fn names(&self) -> Vec<&str> {
        self.datasets.iter().map(|d| d.name.as_str()).collect()
    }

    /// The dataset whose output is `output` (`nasbench201/accuracy.csv`, ...).
    pub fn producing(&self, output: &str) -> Option<&DatasetSpec> {
        self.datasets.iter().find(|d| d.output == output)
    }
}
