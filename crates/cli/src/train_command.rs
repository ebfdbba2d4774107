//! `narformer train`: train a predictor on a benchmark and score it on the
//! held-out test split.

use crate::data_dir::{DataDirArg, benchmark_files};
use anyhow::{Result, bail};
use clap::Args;
use model::Architecture;
use std::path::PathBuf;
use trainer::{Benchmark, Experiment, Profile, TrainError, TrainingConfig};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Benchmark: nb201, nb101 (accuracy of cells), nnlqp (latency of ONNX
    /// networks; give the dataset root with --dataset-dir) or nb201-latency
    /// (latency of whole NAS-Bench-201 networks on the device settings of
    /// `latency_help.csv`: one model for --settings).
    #[arg(long, default_value = "nb201")]
    pub(crate) benchmark: Benchmark,
    /// nb201-latency: the device settings to train on, comma-separated
    /// (`pixel3,raspi4`), or `all`. One model learns them all, a setting
    /// embedding each; `narformer transfer` adds new ones.
    #[arg(long, default_value = "all")]
    pub(crate) settings: String,
    /// Predictor: v2 (NAR-Former V2), gnn or transformer (the baselines).
    #[arg(long, default_value = "v2")]
    pub(crate) model: Architecture,
    /// Number of training architectures (NB201: 78, 156, 469, 781, 1563; NB101:
    /// 100, 172, 424, 4236; nb201-latency: 1000, and a fifth as many validate).
    /// nnlqp takes its split from the dataset instead.
    #[arg(long)]
    pub(crate) train_size: Option<usize>,
    /// nnlqp: hold this family out (train on the others, test on all of it);
    /// without it, the in-domain split (the Stage column).
    #[arg(long)]
    pub(crate) test_family: Option<String>,
    /// nnlqp: the labels' platform (PlatformId) to train on, when the label
    /// file holds several (a zoo measured with tract and ONNX Runtime:
    /// cpu-tract-1t, cpu-ort-1t).
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// nnlqp: token vocabulary: extended-v2 (default: every catalogued op its own
    /// slot), extended (v1, 64 ops) or nnlqp (the reference's 152-dim layout).
    #[arg(long, default_value = "extended-v2")]
    pub(crate) vocab: tokenizer::NetworkVocab,
    /// nnlqp: how node embeddings become the latency: sum (the paper's sum
    /// readout), additive (a per-node latency head whose shares add up, on
    /// tokens with each node's cost: vocabulary extended-costs, ln(latency)
    /// loss) or residual (additive, each node's share a correction of its
    /// cost under the kernel-level baseline fitted on the training rows; a
    /// measured zoo only: the variant that generalises best to unseen families).
    #[arg(long, default_value = "sum")]
    pub(crate) readout: model::Readout,
    /// Hyper-parameter profile: quick (CPU) or paper (the reference recipe).
    #[arg(long, default_value = "quick")]
    pub(crate) profile: Profile,
    /// Seed of the split, the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Override the profile's number of epochs.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Start from this config.json instead of a profile (benchmark, size and seed flags still apply).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Run directory (default: runs/<benchmark>-<size>-<profile>-s<seed>).
    #[arg(long)]
    pub(crate) run_dir: Option<PathBuf>,
    /// Also write the report JSON here.
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Stop at the first snapshot (validation pass) at or after this epoch; run the same command again to resume.
    #[arg(long)]
    pub(crate) stop_after_epoch: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
}

pub fn train(args: TrainArgs, device: &burn::prelude::Device) -> Result<()> {
    let latency = args.benchmark.is_latency();
    let train_size = match (latency, args.train_size) {
        (true, _) => 0,
        (false, Some(n)) => n,
        (false, None) => bail!("--train-size is required for {}", args.benchmark),
    };
    let mut config = match &args.config {
        Some(path) => TrainingConfig::load(path)?,
        None if latency => TrainingConfig::latency(args.profile, args.seed, args.vocab),
        None => TrainingConfig::for_profile(
            args.profile,
            args.benchmark,
            args.model,
            train_size,
            args.seed,
        ),
    };
    config.benchmark = args.benchmark;
    config.train_size = train_size;
    config.seed = args.seed;
    if let Some(network) = config.network.as_mut() {
        network.split = match &args.test_family {
            Some(family) => datasets::nnlqp::LatencySplit::LeaveOut(family.clone()),
            None => datasets::nnlqp::LatencySplit::InDomain,
        };
        if args.platform.is_some() {
            network.platform = args.platform.clone();
        }
    }
    match args.readout {
        model::Readout::Additive if latency => config = config.additive(),
        model::Readout::Residual if latency => config = config.residual(),
        model::Readout::Residual => bail!("--readout residual is for latency benchmarks"),
        _ => {}
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let run_dir = args.run_dir.clone().unwrap_or_else(|| {
        if latency {
            let split = args.test_family.as_deref().unwrap_or("in-domain");
            let platform = args
                .platform
                .as_deref()
                .map(|p| format!("{p}-"))
                .unwrap_or_default();
            let readout = match config.model.readout {
                model::Readout::Additive => "-additive",
                model::Readout::Residual => "-residual",
                model::Readout::Sum => "",
            };
            return PathBuf::from(format!(
                "runs/nnlqp-{platform}{split}-{}{readout}-{}-s{}",
                config.model.architecture, config.profile, config.seed
            ));
        }
        PathBuf::from(format!(
            "runs/{}-{}-{}-{}-s{}",
            config.benchmark,
            config.train_size,
            config.model.architecture,
            config.profile,
            config.seed
        ))
    });
    let data_dir = args.data.resolve_for(benchmark_files(config.benchmark))?;
    run_and_report(&args, config, data_dir, run_dir, device)
}

/// Runs `config` as the flags ask and prints its report (or how to resume it).
pub(crate) fn run_and_report(
    args: &TrainArgs,
    config: TrainingConfig,
    data_dir: PathBuf,
    run_dir: PathBuf,
    device: &burn::prelude::Device,
) -> Result<()> {
    let experiment = &Experiment {
        config,
        data_dir,
        run_dir,
        show_progress: !args.quiet,
        stop_after_epoch: args.stop_after_epoch,
        bad_rows: args.data.bad_rows(),
        cache_dir: args.data.cache_dir.clone(),
    };
    let report_path = args.report.as_deref();
    let report = match experiment.run(device) {
        Ok(report) => report,
        Err(TrainError::Interrupted { epoch }) => {
            println!(
                "stopped after epoch {epoch} as asked; progress is in {}/resume, run the same command to continue",
                experiment.run_dir.display()
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", report.summary());
    println!("run directory: {}", report.run_dir.display());
    if let Some(path) = report_path {
        sysio::write_json(path, &report)?;
        println!("report: {}", path.display());
    }
    Ok(())
}
