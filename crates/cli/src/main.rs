//! `narformer`: train, evaluate and use NAR-Former V2 predictors.

mod backend;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use graph_ir::cells::Nb201Cell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use trainer::{Benchmark, Experiment, LoadedRun, Profile, SplitPart, TrainError, TrainingConfig};

#[derive(Debug, Parser)]
#[command(
    name = "narformer",
    version,
    about = "Neural architecture representation and performance prediction (NAR-Former V2)"
)]
struct Cli {
    /// Compute backend: flex (CPU, default), wgpu or tch, as compiled in.
    #[arg(long, global = true, default_value = "flex")]
    backend: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a predictor on a benchmark and score it on the held-out test split.
    Train(TrainArgs),
    /// Score a saved run on a part of its split.
    Eval(EvalArgs),
    /// Rank architectures (one NB201 cell string per line) with a saved run.
    Predict(PredictArgs),
}

#[derive(Debug, Args)]
struct DataDirArg {
    /// Benchmark data directory (else $NARFORMER_DATA, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DataDirArg {
    fn resolve(&self) -> Result<PathBuf> {
        Ok(datasets::data_dir::resolve(self.data_dir.as_deref())?)
    }
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// Benchmark: nb201.
    #[arg(long, default_value = "nb201")]
    benchmark: Benchmark,
    /// Number of training architectures (NB201: 78, 156, 469, 781, 1563).
    #[arg(long)]
    train_size: usize,
    /// Hyper-parameter profile: quick (CPU) or paper (the reference recipe).
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// Seed of the split, the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override the profile's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Start from this config.json instead of a profile (benchmark, size and seed flags still apply).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run directory (default: runs/<benchmark>-<size>-<profile>-s<seed>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Also write the report JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Stop at the first snapshot (validation pass) at or after this epoch; run the same command again to resume.
    #[arg(long)]
    stop_after_epoch: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A run directory written by `narformer train`.
    #[arg(long)]
    run: PathBuf,
    /// Which part of the run's split: train, validation or test.
    #[arg(long, default_value = "test")]
    split: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// A run directory written by `narformer train`.
    #[arg(long)]
    run: PathBuf,
    /// File with one cell string per line; `-` or nothing reads stdin.
    input: Option<PathBuf>,
}

fn main() {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let device = backend::select_device(&cli.backend)?;
    match cli.command {
        Command::Train(args) => train(args, &device),
        Command::Eval(args) => eval(args, &device),
        Command::Predict(args) => predict(args, &device),
    }
}

fn train(args: TrainArgs, device: &burn::prelude::Device) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => trainer::run_dir::read_json::<TrainingConfig>(path)?,
        None => {
            TrainingConfig::for_profile(args.profile, args.benchmark, args.train_size, args.seed)
        }
    };
    config.benchmark = args.benchmark;
    config.train_size = args.train_size;
    config.seed = args.seed;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let run_dir = args.run_dir.unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}-{}-{}-s{}",
            config.benchmark, config.train_size, config.profile, config.seed
        ))
    });
    let experiment = Experiment {
        config,
        data_dir: args.data.resolve()?,
        run_dir,
        show_progress: !args.quiet,
        stop_after_epoch: args.stop_after_epoch,
    };
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
    println!(
        "{} @{} seed {} ({}): test Kendall tau {:.4} on {} cells (validation {:.4}, best epoch {}), {:.0} s training",
        report.benchmark,
        report.train_size,
        report.seed,
        report.profile,
        report.metrics.kendall_tau,
        report.n_test,
        report.metrics.validation_kendall_tau,
        report.metrics.best_epoch,
        report.train_seconds
    );
    println!("run directory: {}", report.run_dir.display());
    if let Some(path) = args.report {
        trainer::run_dir::write_json_atomic(&path, &report)?;
        println!("report: {}", path.display());
    }
    Ok(())
}

fn eval(args: EvalArgs, device: &burn::prelude::Device) -> Result<()> {
    let part = match args.split.as_str() {
        "train" => SplitPart::Train,
        "validation" | "val" => SplitPart::Validation,
        "test" => SplitPart::Test,
        other => bail!("unknown split {other:?} (train, validation, test)"),
    };
    let run = LoadedRun::open(&args.run, device)?;
    let (n, tau) = run.evaluate(&args.data.resolve()?, part)?;
    println!(
        "{} split of {}: Kendall tau {tau:.4} on {n} cells",
        args.split,
        args.run.display()
    );
    Ok(())
}

fn predict(args: PredictArgs, device: &burn::prelude::Device) -> Result<()> {
    let run = LoadedRun::open(&args.run, device)?;
    let (reader, source): (Box<dyn BufRead>, String) = match &args.input {
        Some(path) if path.as_os_str() != "-" => (
            Box::new(BufReader::new(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            )),
            path.display().to_string(),
        ),
        _ => (
            Box::new(BufReader::new(std::io::stdin())),
            "<stdin>".to_string(),
        ),
    };
    let mut cells = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{source}:{}: cannot read", number + 1))?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let cell: Nb201Cell = text
            .parse()
            .with_context(|| format!("{source}:{}", number + 1))?;
        cells.push((text.to_string(), cell.to_graph()));
    }
    let scores = run.predict(&cells)?;
    let mut ranked: Vec<(f64, &str)> = scores
        .iter()
        .copied()
        .zip(cells.iter().map(|c| c.0.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (rank, (score, arch)) in ranked.iter().enumerate() {
        println!("{}\t{score:.5}\t{arch}", rank + 1);
    }
    Ok(())
}
