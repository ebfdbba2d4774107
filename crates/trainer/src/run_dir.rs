//! A run directory holds `config.json` (the [`crate::TrainingConfig`]),
//! `target.json` (label scaling), `model.bpk` (best checkpoint on validation)
//! and `metrics.json` (the report). Every file is written through
//! [`sysio::write_atomic`], so an interrupted run never leaves a torn file.

pub const CONFIG_FILE: &str = "config.json";
pub const TARGET_FILE: &str = "target.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const METRICS_FILE: &str = "metrics.json";
/// `arch,label,prediction` for every test architecture.
pub const PREDICTIONS_FILE: &str = "test_predictions.csv";
