//! A run directory holds `config.json` (the [`crate::TrainingConfig`]),
//! `target.json` (label scaling), `model.bpk` (best checkpoint on validation)
//! and `metrics.json` (the report). Every file is written to a temporary name
//! and renamed into place, so an interrupted run never leaves a torn file.

use crate::TrainError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;

pub const CONFIG_FILE: &str = "config.json";
pub const TARGET_FILE: &str = "target.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const METRICS_FILE: &str = "metrics.json";
/// `arch,label,prediction` for every test architecture.
pub const PREDICTIONS_FILE: &str = "test_predictions.csv";

/// Writes `value` as pretty JSON to `path` atomically (temp file + fsync + rename).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let mut json = serde_json::to_string_pretty(value).map_err(|e| TrainError::run_dir(path, e))?;
    json.push('\n');
    write_atomic(path, json.as_bytes())
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| TrainError::run_dir(dir, e))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| TrainError::run_dir(path, e))
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::run_dir(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::run_dir(path, format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.json");
        write_json_atomic(&path, &vec![1, 2, 3]).unwrap();
        let back: Vec<i32> = read_json(&path).unwrap();
        assert_eq!(back, vec![1, 2, 3]);
        assert!(!dir.path().join("sub/x.json.tmp").exists());
        let err = read_json::<Vec<i32>>(&dir.path().join("missing.json")).unwrap_err();
        assert!(err.to_string().contains("missing.json"), "{err}");
    }
}
