//! `narformer`: train, evaluate and use NAR-Former V2 predictors.

mod backend;
mod data_command;
mod zoo_commands;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use datasets::BadRows;
use model::Architecture;
use std::io::{BufRead, BufReader, IsTerminal, Write};
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
    /// Predict with a saved run: latency of ONNX models (nnlqp runs), or a
    /// ranking of cells (one per line, in the run's benchmark's text form).
    Predict(PredictArgs),
    /// Summarise an ONNX model as the tokenizer sees it: ops, unknown ops,
    /// FLOPs, params, memory access (and one line per node with --nodes).
    Inspect(InspectArgs),
    /// Regenerate a table of the paper (trains the missing runs in parallel, reuses finished ones).
    ReproduceTable(TableArgs),
    /// Generate a model zoo (seeded network families) for a latency dataset.
    #[command(subcommand)]
    Zoo(zoo_commands::ZooCommand),
    /// Measure the latency of a directory of models on this machine's CPU
    /// (resumable; writes gt.txt, metadata.json and measurements.jsonl there).
    Measure(zoo_commands::MeasureArgs),
    /// Get the benchmark datasets: download the pinned public files (or copy them
    /// from --from mirrors), verify their SHA-256, convert them into the data directory.
    Data(data_command::DataArgs),
}

#[derive(Debug, Args)]
struct TableArgs {
    /// Which table: accuracy (NB201 + NB101 Kendall's tau, V2 and the baselines),
    /// latency (NB201 networks on 27 device settings, transfer, baselines) or
    /// zoo (the measured model zoo in data/zoo: in domain and unseen families).
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
    /// The markdown to write, plots beside it (default: docs/results/<table>.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: run as worker K of --jobs (the latency table's child processes).
    #[arg(long, hide = true)]
    worker: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Debug, Args)]
struct DataDirArg {
    /// Benchmark data directory (else $NARFORMER_DATA, else ./data); for nnlqp,
    /// the dataset root holding gt.txt or gt_stage.txt.
    #[arg(long, alias = "dataset-dir")]
    data_dir: Option<PathBuf>,
    /// Cache of tokenised ONNX graphs (nnlqp; else $NARFORMER_CACHE, else ./.narformer-cache).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Skip malformed rows of the benchmark file (each is reported, with a count)
    /// instead of stopping at the first one.
    #[arg(long)]
    skip_bad: bool,
}

impl DataDirArg {
    fn resolve(&self) -> Result<PathBuf> {
        Ok(datasets::data_dir::resolve(self.data_dir.as_deref())?)
    }

    /// Resolves the data directory for a command that reads `files`. The default
    /// `data/` gets what it lacks fetched (first use on a fresh machine: a
    /// download, or `$NARFORMER_MIRROR`); a directory named by the flag or
    /// `NARFORMER_DATA` is never written to, and one lacking a file is an error
    /// giving the command that fetches it.
    fn resolve_for(&self, files: &[&str]) -> Result<PathBuf> {
        let flag = self.data_dir.as_deref();
        if datasets::data_dir::is_default(flag) {
            let dir = datasets::data_dir::choose(flag);
            fetch::ensure(&dir, files, std::io::stderr().is_terminal(), &mut |line| {
                eprintln!("{line}")
            })?;
        }
        let dir = self.resolve()?;
        let missing = fetch::missing(&dir, files)?;
        if !missing.is_empty() {
            bail!(
                "{} has no {}: `cargo xtask data --only {} --data-dir {}` fetches it (docs/DATA.md)",
                dir.display(),
                files
                    .iter()
                    .filter(|f| !dir.join(f).exists())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                missing.join(","),
                dir.display()
            );
        }
        Ok(dir)
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
    /// Benchmark: nb201, nb101 (accuracy of cells) or nnlqp (latency of ONNX
    /// networks; give the dataset root with --dataset-dir).
    #[arg(long, default_value = "nb201")]
    benchmark: Benchmark,
    /// Predictor: v2 (NAR-Former V2), gnn or transformer (the baselines).
    #[arg(long, default_value = "v2")]
    model: Architecture,
    /// Number of training architectures (NB201: 78, 156, 469, 781, 1563; NB101:
    /// 100, 172, 424, 4236). nnlqp takes its split from the dataset instead.
    #[arg(long)]
    train_size: Option<usize>,
    /// nnlqp: hold this family out (train on the others, test on all of it);
    /// without it, the in-domain split (the Stage column).
    #[arg(long)]
    test_family: Option<String>,
    /// nnlqp: token vocabulary, extended (default) or nnlqp (the reference's 152-dim layout).
    #[arg(long, default_value = "extended")]
    vocab: tokenizer::NetworkVocab,
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
    /// nnlqp runs: ONNX files or directories (searched for *.onnx). Cell runs: a
    /// file with one architecture per line (NB201: a cell string; NB101:
    /// `<adjacency 0/1 row-major> <ops |-separated>`); `-` or nothing reads stdin.
    inputs: Vec<PathBuf>,
    /// nnlqp runs: batch size written into the models' inputs.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// nnlqp runs: one JSON object per model instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// The ONNX file.
    model: PathBuf,
    /// Also print one line per node: id, name, op and attributes, output shape, FLOPs, params.
    #[arg(long)]
    nodes: bool,
    /// Batch size written into the model's inputs.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Shape of the first input, for models with symbolic dims (e.g. 1,3,224,224).
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
    /// Vocabulary for the unknown-op count: extended (default) or nnlqp.
    #[arg(long, default_value = "extended")]
    vocab: tokenizer::NetworkVocab,
}

fn main() {
    if let Err(err) = run() {
        // `narformer inspect m.onnx | head` closes the pipe early: not an error.
        let broken_pipe = err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            return;
        }
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
        Command::Inspect(args) => inspect(args),
        Command::ReproduceTable(args) => reproduce_table(args, &cli.backend),
        Command::Zoo(command) => zoo_commands::zoo(command),
        Command::Measure(args) => zoo_commands::measure(args),
        Command::Data(args) => data_command::data(args),
    }
}

/// The benchmark files a cell or NB201-latency run reads (nnlqp brings its own).
fn benchmark_files(benchmark: Benchmark) -> &'static [&'static str] {
    match benchmark {
        Benchmark::Nb201 => &[datasets::nb201::NB201_FILE],
        Benchmark::Nb101 => &[datasets::nb101::NB101_FILE],
        Benchmark::Nb201Latency => &[datasets::nb201_latency::NB201_LATENCY_FILE],
        Benchmark::Nnlqp => &[],
    }
}

fn train(args: TrainArgs, device: &burn::prelude::Device) -> Result<()> {
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
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let run_dir = args.run_dir.unwrap_or_else(|| {
        if latency {
            let split = args.test_family.as_deref().unwrap_or("in-domain");
            return PathBuf::from(format!(
                "runs/nnlqp-{split}-{}-{}-s{}",
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
    let experiment = Experiment {
        config,
        data_dir,
        run_dir,
        show_progress: !args.quiet,
        stop_after_epoch: args.stop_after_epoch,
        bad_rows: args.data.bad_rows(),
        cache_dir: args.data.cache_dir.clone(),
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
    if let (Some(mape), Some(acc10), Some(acc5)) = (
        report.metrics.mape,
        report.metrics.acc10,
        report.metrics.acc5,
    ) {
        println!(
            "{} {} seed {} ({}): test MAPE {mape:.2}%, Acc(10%) {:.1}%, Acc(5%) {:.1}% on {} networks (validation MAPE {:.2}%, best epoch {}), {:.0} s training",
            report.model,
            report.benchmark,
            report.seed,
            report.profile,
            100.0 * acc10,
            100.0 * acc5,
            report.n_test,
            report.metrics.validation_mape.unwrap_or(f64::NAN),
            report.metrics.best_epoch,
            report.train_seconds
        );
    } else {
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
    }
    println!("run directory: {}", report.run_dir.display());
    if let Some(path) = args.report {
        sysio::write_json(&path, &report)?;
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

fn predict(args: PredictArgs, device: &burn::prelude::Device) -> Result<()> {
    let run = LoadedRun::open(&args.run, device)?;
    if run.config.benchmark.is_latency() {
        return predict_latency(&run, &args);
    }
    if args.inputs.len() > 1 {
        bail!("a cell run reads one file of architectures (or stdin)");
    }
    let (reader, source): (Box<dyn BufRead>, String) = match args.inputs.first() {
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

/// The ONNX files named on the command line: files as given, directories
/// searched recursively for `*.onnx`, in sorted order.
fn onnx_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "onnx") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("no ONNX files given (name files or directories holding *.onnx)");
    }
    Ok(files)
}

fn predict_latency(run: &LoadedRun, args: &PredictArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let files = onnx_files(&args.inputs)?;
    let mut inputs = Vec::with_capacity(files.len());
    let mut failed = 0;
    for file in &files {
        match run.tokenize_onnx(file, args.batch_size) {
            Ok(input) => {
                if !input.unknown_ops.is_empty() {
                    let list: Vec<String> = input
                        .unknown_ops
                        .iter()
                        .map(|(op, n)| format!("{op} x{n}"))
                        .collect();
                    eprintln!(
                        "warning: {}: ops outside the vocabulary: {}",
                        file.display(),
                        list.join(", ")
                    );
                }
                inputs.push(input);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let latencies = run.predict_networks(&inputs)?;
    for (input, latency) in inputs.iter().zip(&latencies) {
        if args.json {
            let unknown: serde_json::Value = serde_json::to_value(&input.unknown_ops)?;
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "model": input.source.display().to_string(),
                    "latency_ms": latency,
                    "batch_size": args.batch_size,
                    "nodes": input.tokens.n,
                    "unknown_ops": unknown,
                })
            )?;
        } else {
            writeln!(out, "{latency:.4} ms\t{}", input.source.display())?;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} models could not be read", files.len());
    }
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let options = onnx_io::ImportOptions {
        batch_size: args.batch_size,
        input_shape: args.input_shape.clone(),
    };
    let imported = onnx_io::read_file(&args.model, &options)?;
    let graph = &imported.graph;
    let compact = tokenizer::NetworkTokenizer::new(args.vocab).compact(graph, args.batch_size);
    let cost = compact.cost;
    writeln!(
        out,
        "{}: {} nodes, {} edges, opset {}, batch {}",
        args.model.display(),
        graph.len(),
        graph.edges().len(),
        imported.opset,
        args.batch_size
    )?;
    writeln!(
        out,
        "FLOPs {:.4} G, params {:.4} M, memory access {:.4} M elements",
        cost.flops as f64 / 1e9,
        cost.params as f64 / 1e6,
        cost.memory_access as f64 / 1e6
    )?;
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for id in graph.node_ids() {
        *counts.entry(graph.node(id).op.name()).or_default() += 1;
    }
    writeln!(out, "ops:")?;
    for (op, n) in &counts {
        writeln!(out, "  {op:<24} {n}")?;
    }
    if compact.unknown_ops.is_empty() {
        writeln!(out, "unknown ops ({} vocabulary): none", args.vocab)?;
    } else {
        writeln!(out, "unknown ops ({} vocabulary):", args.vocab)?;
        for (op, n) in &compact.unknown_ops {
            writeln!(out, "  {op:<24} {n}")?;
        }
    }
    if args.nodes {
        writeln!(
            out,
            "nodes (topological order): #id name op shape flops params <- operands"
        )?;
        for &id in graph.topological_order() {
            let node = graph.node(id);
            let operands: Vec<String> = graph
                .operands(id)
                .iter()
                .map(|n| format!("#{}", n.0))
                .collect();
            writeln!(
                out,
                "#{} {} {} {:?} {} {}{}",
                id.0,
                node.name,
                node.op,
                node.shape.as_deref().unwrap_or(&[]),
                graph_ir::node_flops(graph, id),
                node.params,
                if operands.is_empty() {
                    String::new()
                } else {
                    format!(" <- {}", operands.join(","))
                }
            )?;
        }
    }
    Ok(())
}

fn reproduce_table(args: TableArgs, backend: &str) -> Result<()> {
    if backend != "flex" {
        bail!("reproduce-table trains with the default backend only (got --backend {backend})");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    match args.table.as_str() {
        "accuracy" => reproduce_accuracy(args),
        "latency" => reproduce_latency(args),
        "zoo" => reproduce_zoo(args),
        other => bail!("unknown table {other:?} (known: accuracy, latency, zoo)"),
    }
}

/// The table's markdown path (default `docs/results/<table>.md`) and its directory, created.
fn table_out(args: &TableArgs) -> Result<(PathBuf, PathBuf)> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("docs/results/{}.md", args.table)));
    let dir = out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((out, dir))
}

fn reproduce_latency(args: TableArgs) -> Result<()> {
    use tables::latency::{self as lt, Provenance};
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let data_dir = args
        .data
        .resolve_for(&[datasets::nb201_latency::NB201_LATENCY_FILE])?;
    let table = datasets::nb201_latency::load(&data_dir)?;
    let data = trainer::nb201_latency::Nb201Networks::new(table);
    let mut protocol =
        trainer::nb201_latency::Protocol::for_profile(args.profile, data.table.settings.len());
    if let Some(cap) = args.max_epochs {
        for c in [&mut protocol.single, &mut protocol.multi, &mut protocol.gnn] {
            c.epochs = c.epochs.min(cap.max(1));
            c.eval_every = c.eval_every.min(c.epochs);
        }
    }
    let names: Vec<String> = data.table.settings.iter().map(|s| s.name.clone()).collect();
    let jobs = lt::plan(&names, &seeds);
    let root = args
        .runs_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", args.table, args.profile)));
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let workers = args
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
        .max(1);
    let device = burn::prelude::Device::flex();
    if let Some(worker) = args.worker {
        lt::run_worker(
            &root, &jobs, worker, workers, &data, &protocol, args.force, &device,
        )?;
        return Ok(());
    }
    let hash = lt::protocol_hash(&protocol);
    let missing = jobs
        .iter()
        .filter(|j| args.force || lt::finished(&root, j, &hash).is_none())
        .count();
    eprintln!(
        "{} jobs ({} to run, {} seeds) in {} worker processes, results in {}",
        jobs.len(),
        missing,
        args.seeds,
        workers,
        root.display()
    );
    if missing > 0 {
        spawn_workers(&args, workers, &root, &data_dir)?;
    }
    let stored: Vec<lt::Stored> = jobs
        .iter()
        .map(|j| {
            lt::finished(&root, j, &hash)
                .with_context(|| format!("job {} has no result in {}", j.name(), root.display()))
        })
        .collect::<Result<_>>()?;
    let (out, out_dir) = table_out(&args)?;
    let stem = out
        .file_stem()
        .map_or("latency".into(), |s| s.to_string_lossy().into_owned());
    let mut plots = Vec::new();
    for name in lt::PLOTTED {
        let found = stored.iter().find_map(|s| match (&s.job, &s.result) {
            (lt::Job::Single { setting, seed: 0 }, lt::JobResult::Settings(rs))
                if setting == name =>
            {
                rs.first()
            }
            _ => None,
        });
        if let Some(result) = found {
            let file = format!("{stem}-{name}.svg");
            let title = format!(
                "V2 on {name}, seed 0: MAPE {:.2}%, Acc(10%) {:.1}%",
                result.scores.mape,
                100.0 * result.scores.acc10
            );
            let left_out = tables::scatter::draw(
                &result.predictions,
                3000,
                0.0,
                &title,
                "latency (ms)",
                &out_dir.join(&file),
            )?;
            plots.push((
                file,
                format!(
                    "Predicted against measured latency (ms) on {name} of the {} scored test \
                     networks, V2 trained on that setting, seed 0 ({left_out} outside the axes).",
                    result.predictions.len()
                ),
            ));
        }
    }
    let ceilings: Vec<_> = (0..data.table.settings.len())
        .map(|s| trainer::nb201_latency::repeat_ceiling(&data, s))
        .collect();
    let provenance = Provenance {
        command: format!(
            "cargo xtask reproduce-table latency --profile {} --seeds {}",
            args.profile, args.seeds
        ),
        seeds: args.seeds as usize,
        workers,
        machine: sysio::machine::describe(),
        wall_seconds: stored_wall_seconds(
            &root,
            &jobs.iter().map(lt::Job::name).collect::<Vec<_>>(),
        )
        .unwrap_or(started.elapsed().as_secs_f64()),
        job_seconds: stored.iter().map(|s| s.seconds).sum(),
        plots,
    };
    let markdown = lt::render_markdown(&data, &protocol, &stored, &ceilings, &provenance);
    sysio::write_atomic(&out, markdown.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Runs `workers` child processes of this table (`--worker K`) and waits for them.
fn spawn_workers(
    args: &TableArgs,
    workers: usize,
    root: &std::path::Path,
    data_dir: &std::path::Path,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the narformer binary")?;
    let children: Vec<(usize, std::process::Child)> = (0..workers)
        .map(|w| {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["reproduce-table", &args.table, "--profile"])
                .arg(args.profile.to_string())
                .args(["--seeds", &args.seeds.to_string()])
                .args(["--jobs", &workers.to_string()])
                .args(["--worker", &w.to_string()])
                .arg("--runs-dir")
                .arg(root)
                .arg("--data-dir")
                .arg(data_dir);
            if let Some(cap) = args.max_epochs {
                cmd.args(["--max-epochs", &cap.to_string()]);
            }
            if args.force {
                cmd.arg("--force");
            }
            cmd.spawn()
                .with_context(|| format!("cannot start worker {w}"))
                .map(|c| (w, c))
        })
        .collect::<Result<_>>()?;
    let mut failed = Vec::new();
    for (w, mut child) in children {
        let status = child.wait().with_context(|| format!("worker {w}"))?;
        if !status.success() {
            failed.push(format!("worker {w} ({status})"));
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} failed; finished jobs are kept in {}, run the same command again to continue",
            failed.join(", "),
            root.display()
        );
    }
    Ok(())
}

/// The zoo table: V2, GNN and regressions on `data/zoo` (or --data-dir), in
/// domain and leave-one-family-out.
fn reproduce_zoo(args: TableArgs) -> Result<()> {
    use tables::zoo::{self as tz, Provenance};
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let data_dir = args
        .data
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data/zoo"));
    let mut protocol = trainer::zoo::ZooProtocol::for_profile(args.profile);
    if let Some(cap) = args.max_epochs {
        for c in [&mut protocol.v2, &mut protocol.gnn] {
            c.epochs = c.epochs.min(cap.max(1));
            c.eval_every = c.eval_every.min(c.epochs);
        }
    }
    let data = trainer::zoo::ZooData::load(&data_dir, protocol.vocab)
        .with_context(|| format!("loading the zoo dataset in {}", data_dir.display()))?;
    let jobs = tz::plan(&data.families(), &seeds);
    let root = args
        .runs_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", args.table, args.profile)));
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let workers = args
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
        .max(1);
    let device = burn::prelude::Device::flex();
    if let Some(worker) = args.worker {
        tz::run_worker(
            &root,
            &jobs,
            (worker, workers),
            &data,
            &protocol,
            args.force,
            &device,
        )?;
        return Ok(());
    }
    let missing = jobs
        .iter()
        .filter(|j| {
            args.force || tz::finished(&root, j, &tz::job_hash(j, &protocol, &data)).is_none()
        })
        .count();
    eprintln!(
        "{} jobs ({} to run, {} seeds) in {} worker processes, results in {}",
        jobs.len(),
        missing,
        args.seeds,
        workers,
        root.display()
    );
    if missing > 0 {
        spawn_workers(&args, workers, &root, &data_dir)?;
    }
    let stored: Vec<tz::Stored> = jobs
        .iter()
        .map(|j| {
            tz::finished(&root, j, &tz::job_hash(j, &protocol, &data))
                .with_context(|| format!("job {} has no result in {}", j.name(), root.display()))
        })
        .collect::<Result<_>>()?;
    let metadata: serde_json::Value = std::fs::read_to_string(data_dir.join("metadata.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let names: Vec<String> = jobs.iter().map(tz::Job::name).collect();
    let provenance = Provenance {
        command: format!(
            "cargo xtask reproduce-table zoo --profile {} --seeds {}",
            args.profile, args.seeds
        ),
        seeds: args.seeds as usize,
        workers,
        machine: sysio::machine::describe(),
        wall_seconds: stored_wall_seconds(&root, &names).unwrap_or(started.elapsed().as_secs_f64()),
        job_seconds: stored.iter().map(|s| s.seconds).sum(),
        dataset: format!(
            "{} {}, {} thread(s), on {}",
            metadata["engine"].as_str().unwrap_or("?"),
            metadata["engine_version"].as_str().unwrap_or("?"),
            metadata["protocol"]["threads"],
            metadata["cpu_model"].as_str().unwrap_or("?"),
        ),
    };
    let markdown = tz::render_markdown(&data, &protocol, &stored, &provenance);
    let (out, _) = table_out(&args)?;
    sysio::write_atomic(&out, markdown.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}

/// From the first to the last job result written: the table's training wall time
/// even when it was made in several sessions of the command.
fn stored_wall_seconds(root: &std::path::Path, jobs: &[String]) -> Option<f64> {
    let times: Vec<std::time::SystemTime> = jobs
        .iter()
        .filter_map(|name| {
            std::fs::metadata(root.join(format!("{name}.json")))
                .ok()?
                .modified()
                .ok()
        })
        .collect();
    let (first, last) = (times.iter().min()?, times.iter().max()?);
    last.duration_since(*first).ok().map(|d| d.as_secs_f64())
}

fn reproduce_accuracy(args: TableArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let root = args
        .runs_dir
        .clone()
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
        data_dir: args
            .data
            .resolve_for(&[datasets::nb201::NB201_FILE, datasets::nb101::NB101_FILE])?,
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
    let (out, out_dir) = table_out(&args)?;

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
    let stem = out
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
            let left_out = tables::scatter::draw(
                &points,
                SHOWN,
                0.05,
                &title,
                "accuracy",
                &out_dir.join(&name),
            )?;
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
        machine: sysio::machine::describe(),
        wall_seconds: started.elapsed().as_secs_f64(),
        plot,
    };
    let markdown = tables::accuracy::render_markdown(&outcomes, &provenance);
    sysio::write_atomic(&out, markdown.as_bytes())?;
    println!("wrote {}", out.display());
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} runs failed (see their train.log)",
            outcomes.len()
        );
    }
    Ok(())
}
