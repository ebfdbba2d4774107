//! `narformer`: train, evaluate and use NAR-Former V2 predictors.

mod backend;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use datasets::BadRows;
use model::Architecture;
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
    /// Rank architectures (one per line, in the run's benchmark's text form) with a saved run.
    Predict(PredictArgs),
    /// Regenerate a table of the paper (trains the missing runs in parallel, reuses finished ones).
    ReproduceTable(TableArgs),
}

#[derive(Debug, Args)]
struct TableArgs {
    /// Which table: accuracy (NB201 + NB101 Kendall's tau, V2 and the baselines).
    table: String,
    /// Hyper-parameter profile of every run: quick (CPU) or paper.
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// Seeds per table cell (0, 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Runs trained at once (default: the number of cores; each run uses about one).
    #[arg(long)]
    jobs: Option<usize>,
    /// Retrain runs that already finished.
    #[arg(long)]
    force: bool,
    /// Cap every run's epochs (a smoke test of the whole pipeline; the capped
    /// configs hash differently, so they never mix with full runs).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Where runs live (default: runs/<table>-<profile>).
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    /// The markdown to write (the plot goes beside it).
    #[arg(long, default_value = "docs/results/accuracy.md")]
    out: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Debug, Args)]
struct DataDirArg {
    /// Benchmark data directory (else $NARFORMER_DATA, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Skip malformed rows of the benchmark file (each is reported, with a count)
    /// instead of stopping at the first one.
    #[arg(long)]
    skip_bad: bool,
}

impl DataDirArg {
    fn resolve(&self) -> Result<PathBuf> {
        Ok(datasets::data_dir::resolve(self.data_dir.as_deref())?)
    }

    fn bad_rows(&self) -> BadRows {
        if self.skip_bad {
            BadRows::Skip
        } else {
            BadRows::Fail
        }
    }
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// Benchmark: nb201 or nb101.
    #[arg(long, default_value = "nb201")]
    benchmark: Benchmark,
    /// Predictor: v2 (NAR-Former V2), gnn or transformer (the baselines).
    #[arg(long, default_value = "v2")]
    model: Architecture,
    /// Number of training architectures (NB201: 78, 156, 469, 781, 1563; NB101: 100, 172, 424, 4236).
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
    /// File with one architecture per line (NB201: a cell string; NB101:
    /// `<adjacency 0/1 row-major> <ops |-separated>`); `-` or nothing reads stdin.
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
        Command::ReproduceTable(args) => reproduce_table(args, &cli.backend),
    }
}

fn train(args: TrainArgs, device: &burn::prelude::Device) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => TrainingConfig::load(path)?,
        None => TrainingConfig::for_profile(
            args.profile,
            args.benchmark,
            args.model,
            args.train_size,
            args.seed,
        ),
    };
    config.benchmark = args.benchmark;
    config.train_size = args.train_size;
    config.seed = args.seed;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let run_dir = args.run_dir.unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}-{}-{}-{}-s{}",
            config.benchmark,
            config.train_size,
            config.model.architecture,
            config.profile,
            config.seed
        ))
    });
    let experiment = Experiment {
        config,
        data_dir: args.data.resolve()?,
        run_dir,
        show_progress: !args.quiet,
        stop_after_epoch: args.stop_after_epoch,
        bad_rows: args.data.bad_rows(),
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
        "{} {} @{} seed {} ({}): test Kendall tau {:.4} on {} cells (validation {:.4}, best epoch {}), {:.0} s training",
        report.model,
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
    let (n, tau) = run.evaluate(&args.data.resolve()?, part, args.data.bad_rows())?;
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
        let graph = run
            .config
            .benchmark
            .parse_cell(text)
            .with_context(|| format!("{source}:{}", number + 1))?;
        cells.push((text.to_string(), graph));
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

fn reproduce_table(args: TableArgs, backend: &str) -> Result<()> {
    if args.table != "accuracy" {
        bail!("unknown table {:?} (known: accuracy)", args.table);
    }
    if backend != "flex" {
        bail!("reproduce-table trains with the default backend only (got --backend {backend})");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let root = args
        .runs_dir
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", args.table, args.profile)));
    let mut specs = tables::accuracy::plan(args.profile, &seeds, &root);
    if let Some(cap) = args.max_epochs {
        specs = specs
            .into_iter()
            .map(|spec| {
                let mut config = spec.config;
                config.epochs = config.epochs.min(cap.max(1));
                config.eval_every = config.eval_every.min(config.epochs);
                tables::runs::RunSpec::new(&root, config)
            })
            .collect();
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runner = tables::runs::Runner {
        exe: std::env::current_exe().context("cannot find the narformer binary")?,
        data_dir: args.data.resolve()?,
        jobs,
        force: args.force,
        show_progress: !args.quiet,
    };
    eprintln!(
        "{} runs ({} seeds), {jobs} at a time, in {}",
        specs.len(),
        args.seeds,
        root.display()
    );
    let outcomes = runner.run_all(&specs)?;
    let out_dir = args
        .out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;

    // The plot: V2 on NB201 at the largest size, first seed.
    let largest = Benchmark::Nb201
        .paper_train_sizes()
        .last()
        .copied()
        .unwrap_or_default();
    let plotted = outcomes.iter().find(|o| {
        let c = &o.spec.config;
        c.benchmark == Benchmark::Nb201
            && c.train_size == largest
            && c.model.architecture == Architecture::V2
            && c.seed == 0
            && o.result.is_ok()
    });
    let stem = args
        .out
        .file_stem()
        .map_or("table".into(), |s| s.to_string_lossy().into_owned());
    let plot = match plotted {
        Some(o) => {
            let name = format!("{stem}-nb201-scatter.svg");
            let points = tables::scatter::read_predictions(&o.spec.dir)?;
            let tau = o
                .result
                .as_ref()
                .map_or(f64::NAN, |r| r.metrics.kendall_tau);
            const SHOWN: usize = 3000;
            let title =
                format!("V2, NAS-Bench-201, {largest} training cells, seed 0: tau {tau:.3}");
            // The lowest 5% of true accuracies (about 4% of cells collapse to 10%) would squeeze
            // everything else into a corner.
            let left_out =
                tables::scatter::draw(&points, SHOWN, 0.05, &title, &out_dir.join(&name))?;
            let what = format!(
                "Predicted against true CIFAR-10 accuracy of the {} test cells of V2 at {largest} \
                 training cells, seed 0 (Kendall's tau {tau:.3} on all of them); every {}th cell \
                 drawn, less {left_out} that fall outside the axes (which start at the 5th \
                 percentile of true accuracy).",
                points.len(),
                points.len().div_ceil(SHOWN)
            );
            Some((name, what))
        }
        None => None,
    };
    let provenance = tables::accuracy::Provenance {
        command: format!(
            "cargo xtask reproduce-table accuracy --profile {} --seeds {}",
            args.profile, args.seeds
        ),
        profile: args.profile,
        seeds: args.seeds as usize,
        jobs,
        machine: machine_description(),
        wall_seconds: started.elapsed().as_secs_f64(),
        plot,
    };
    let markdown = tables::accuracy::render_markdown(&outcomes, &provenance);
    trainer::run_dir::write_atomic(&args.out, markdown.as_bytes())?;
    println!("wrote {}", args.out.display());
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} runs failed (see their train.log)",
            outcomes.len()
        );
    }
    Ok(())
}

/// "<CPU model>, <n> cores" from /proc/cpuinfo, or what is known.
fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".to_string());
    format!("{model}, {cores} cores")
}
