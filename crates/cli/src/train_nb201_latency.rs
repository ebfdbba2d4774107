//! `narformer train --benchmark nb201-latency`: the latency table's
//! multi-setting model trained on the chosen device settings, as a run
//! directory that `predict --setting` and `transfer` read.

use crate::data_dir::benchmark_files;
use crate::train_command::{TrainArgs, run_and_report};
use anyhow::Result;
use std::path::PathBuf;
use trainer::TrainingConfig;

/// `train --benchmark nb201-latency`: the multi-setting model of the latency
/// table on the chosen settings (its config: `TrainingConfig::nb201_multi`).
pub(crate) fn train_nb201_latency(args: TrainArgs, device: &burn::prelude::Device) -> Result<()> {
    let data_dir = args.data.resolve_for(benchmark_files(args.benchmark))?;
    let table = datasets::nb201_latency::load(&data_dir)?;
    let mut config = match &args.config {
        Some(path) => TrainingConfig::load(path)?,
        None => TrainingConfig::nb201_multi(args.profile, table.settings.len()),
    };
    config.seed = args.seed;
    if let Some(n) = args.train_size {
        // Validation keeps the table's 1 : 5 ratio to training.
        config.train_size = n;
        config.validation_size = (n / 5).max(1);
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let settings: Vec<String> = match args.settings.trim() {
        "all" | "" => Vec::new(),
        list => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    for name in &settings {
        table.setting(name)?;
    }
    let label = if settings.is_empty() {
        "all".to_string()
    } else {
        settings.join("+")
    };
    if let Some(network) = config.network.as_mut() {
        network.settings = settings;
    }
    let run_dir = args.run_dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/nb201-latency-{label}-{}-s{}",
            config.profile, config.seed
        ))
    });
    run_and_report(&args, config, data_dir, run_dir, device)
}
