//! The append-only record of a measurement run, one JSON line per model, so an
//! interrupted run resumes where it stopped with nothing lost or measured twice.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal's file name for one engine setting (`PlatformId`) in a measured directory.
pub fn journal_file(platform: &str) -> String {
    format!("measurements-{platform}.jsonl")
}

/// One model's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub family: String,
    /// Which pass over the models (0-based; absent in one-pass journals).
    #[serde(default)]
    pub pass: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Ok(Timing),
    Failed { error: String },
}

/// The timing of a model: the kept attempt's statistics and its raw runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub median_ms: f64,
    /// Interquartile range over the median.
    pub spread: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub load_ms: f64,
    /// How many times the model was measured (more than 1 when unstable).
    pub attempts: usize,
    /// Still above the spread limit after every attempt.
    pub unstable: bool,
    pub run_ms: Vec<f64>,
    /// Other processes' CPU use during the timing, in cores, and the
    /// hypervisor's share of the time (absent where `/proc` is not readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_cores: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal: Option<f64>,
    /// The 1-minute load average before and after the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_after: Option<f64>,
    /// How many timings were thrown away because the machine was busy.
    #[serde(default)]
    pub busy_retries: usize,
    /// Still busy after every retry: this timing is not trusted for a label
    /// when a quiet pass exists.
    #[serde(default)]
    pub busy: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {source}")]
pub struct JournalError {
    pub file: PathBuf,
    pub source: std::io::Error,
}

/// The journal of one directory, opened for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    records: BTreeMap<(String, usize), Record>,
}

impl Journal {
    /// Opens (or creates) the journal of `platform` in `dir`. A torn last
    /// line, from a run killed mid-write, is cut off; its model is measured again.
    pub fn open(dir: &Path, platform: &str) -> Result<Journal, JournalError> {
        let path = dir.join(journal_file(platform));
        let err = |source| JournalError {
            file: path.clone(),
            source,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(err(e)),
        };
        let mut records = BTreeMap::new();
        let mut good_len = 0;
        for line in text.split_inclusive('\n') {
            let complete = line.ends_with('\n');
            match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(r) if complete => {
                    records.insert((r.name.clone(), r.pass), r);
                    good_len += line.len();
                }
                _ => break,
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        if good_len < text.len() {
            file.set_len(good_len as u64).map_err(err)?;
        }
        Ok(Journal {
            path,
            file,
            records,
        })
    }

    /// Whether `name` has a record for `pass`.
    pub fn contains(&self, name: &str, pass: usize) -> bool {
        self.records.contains_key(&(name.to_string(), pass))
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Appends `record` and syncs it to disk before returning.
    pub fn append(&mut self, record: Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        let err = |source| JournalError {
            file: self.path.clone(),
            source,
        };
        self.file.write_all(line.as_bytes()).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        self.records
            .insert((record.name.clone(), record.pass), record);
        Ok(())
    }
}
