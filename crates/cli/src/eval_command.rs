//! `narformer eval`: score a saved run on a part of its split.

use crate::data_dir::{DataDirArg, benchmark_files};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use trainer::{LoadedRun, SplitPart};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run directory written by `narformer train`.
    #[arg(long)]
    run: PathBuf,
    /// Which part of the run's split: train, validation or test.
    #[arg(long, default_value = "test")]
    split: String,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn eval(args: EvalArgs, device: &burn::prelude::Device) -> Result<()> {
    let part = match args.split.as_str() {
        "train" => SplitPart::Train,
        "validation" | "val" => SplitPart::Validation,
        "test" => SplitPart::Test,
        other => bail!("unknown split {other:?} (train, validation, test)"),
    };
    let run = LoadedRun::open(&args.run, device)?;
    if run.config.benchmark.is_latency() {
        let root = args
            .data
            .data_dir
            .clone()
            .context("give the dataset root with --dataset-dir")?;
        let cache = datasets::nnlqp::TokenCache::new(
            args.data
                .cache_dir
                .clone()
                .unwrap_or_else(trainer::latency::default_cache_dir),
        );
        let s = run.evaluate_latency(&root, part, &cache, args.data.bad_rows())?;
        println!(
            "{} split of {}: MAPE {:.2}%, Acc(10%) {:.1}%, Acc(5%) {:.1}% on {} networks",
            args.split,
            args.run.display(),
            s.mape,
            100.0 * s.acc10,
            100.0 * s.acc5,
            s.n
        );
        return Ok(());
    }
    let data_dir = args
        .data
        .resolve_for(benchmark_files(run.config.benchmark))?;
    let (n, tau) = run.evaluate(&data_dir, part, args.data.bad_rows())?;
    println!(
        "{} split of {}: Kendall tau {tau:.4} on {n} cells",
        args.split,
        args.run.display()
    );
    Ok(())
}
