//! A run directory holds `config.json` (the [`crate::TrainingConfig`]),
//! `target.json` (label scaling), `model.bpk` (best checkpoint on validation),
//! `metrics.json` (the report), `format.json` (the layout's version) and, for
//! a residual-readout run, `prior.json` (its kernel baseline). Every
//! file is written through [`sysio::write_atomic`], so an interrupted run
//! never leaves a torn file.

use crate::TrainError;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const CONFIG_FILE: &str = "config.json";
pub const TARGET_FILE: &str = "target.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const METRICS_FILE: &str = "metrics.json";
/// `arch,label,prediction` for every test architecture.
pub const PREDICTIONS_FILE: &str = "test_predictions.csv";
pub const FORMAT_FILE: &str = "format.json";

/// The run-directory layout this build writes. Version 1 is the first that
/// records itself; a directory without `format.json` was written before and
/// has the same layout, so it loads as version 1. Version 2: a run of the
/// residual readout holds its prior (`prior.json`, [`crate::prior`]), which a
/// build of version 1 would not read. Version 3: an `nb201-latency` run holds
/// its device settings (`settings.json`, [`crate::nb201_latency::SettingSlot`]).
pub const FORMAT_VERSION: u32 = 3;

/// What `format.json` records: the layout version and the program that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    pub format_version: u32,
    pub written_by: String,
}

impl Format {
    fn current() -> Self {
        Format {
            format_version: FORMAT_VERSION,
            written_by: format!("narformer {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Records this build's format in `dir`.
pub fn write_format(dir: &Path) -> Result<(), TrainError> {
    Ok(sysio::write_json(
        &dir.join(FORMAT_FILE),
        &Format::current(),
    )?)
}

/// The format of the run in `dir`, checked against what this build reads: a
/// newer one is an error naming both versions and what to do.
pub fn check_format(dir: &Path) -> Result<u32, TrainError> {
    let path = dir.join(FORMAT_FILE);
    if !path.exists() {
        return Ok(1);
    }
    let format: Format = sysio::read_json(&path)?;
    format.check(&path)
}

impl Format {
    /// This format's version if this build reads it; `origin` names where it
    /// came from in the error.
    pub fn check(&self, origin: &Path) -> Result<u32, TrainError> {
        if self.format_version > FORMAT_VERSION {
            return Err(TrainError::run_dir(
                origin,
                format!(
                    "run-directory format {} (written by {}) is newer than this build reads \
                     (format {FORMAT_VERSION}, narformer {}): update narformer, or retrain the \
                     run with this one",
                    self.format_version,
                    self.written_by,
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        Ok(self.format_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_format_is_named_and_older_runs_load() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            check_format(dir.path()).unwrap(),
            1,
            "no format.json: version 1"
        );
        write_format(dir.path()).unwrap();
        assert_eq!(check_format(dir.path()).unwrap(), FORMAT_VERSION);
        let newer = Format {
            format_version: FORMAT_VERSION + 1,
            written_by: "narformer 9.0.0".into(),
        };
        sysio::write_json(&dir.path().join(FORMAT_FILE), &newer).unwrap();
        let e = check_format(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("format.json") && e.contains("narformer 9.0.0") && e.contains("update"),
            "{e}"
        );
    }
}
