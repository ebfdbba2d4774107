//! `narformer`: train, evaluate and use NAR-Former V2 predictors. Each
//! command lives in its own file; this is the command enum and its dispatch.

mod backend;
mod bundled;
mod data_command;
mod data_dir;
mod eval_command;
mod input_shapes;
mod inspect_command;
mod onnx_files;
mod predict_command;
mod predict_latency;
mod predictors_bundle;
mod predictors_calibrate;
mod predictors_calibrate_child;
mod predictors_card;
mod predictors_check;
mod predictors_command;
mod suggest_shots_command;
mod table_command;
mod train_command;
mod train_nb201_latency;
mod transfer_command;
mod zoo_commands;
mod zoo_compare;

/// Burn allocates a fresh buffer per tensor op; mimalloc keeps them mapped
/// (whole-network training 1.3x faster than on glibc's malloc, `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Train(train_command::TrainArgs),
    /// Score a saved run on a part of its split.
    Eval(eval_command::EvalArgs),
    /// Make a predictor for a new device from a few measured NAS-Bench-201
    /// networks, on top of an `nb201-latency` run (writes a new run).
    Transfer(transfer_command::TransferArgs),
    /// The NAS-Bench-201 networks to measure on a new device before
    /// `transfer`: a shots CSV to fill in and the networks as ONNX files.
    SuggestShots(suggest_shots_command::SuggestShotsArgs),
    /// Predict with a saved run: latency of ONNX models (nnlqp runs), latency
    /// of NAS-Bench-201 networks on a device setting (nb201-latency runs,
    /// --setting), or a ranking of cells (one per line, in the run's
    /// benchmark's text form).
    Predict(predict_command::PredictArgs),
    /// List the latency predictors compiled into this binary (device, engine,
    /// threads, dataset, test accuracy, format), or train them (`bundle`).
    Predictors(predictors_command::PredictorsArgs),
    /// Summarise an ONNX model as the tokenizer sees it: ops, unknown ops,
    /// FLOPs, params, memory access (and one line per node with --nodes).
    Inspect(inspect_command::InspectArgs),
    /// Regenerate a table of the paper (trains the missing runs in parallel, reuses finished ones).
    ReproduceTable(table_command::TableArgs),
    /// Generate a model zoo (seeded network families) for a latency dataset.
    #[command(subcommand)]
    Zoo(zoo_commands::ZooCommand),
    /// Measure the latency of a directory of models on this machine's CPU with
    /// tract or ONNX Runtime (resumable; writes gt.txt, and per engine setting
    /// metadata-<platform>.json and measurements-<platform>.jsonl, there).
    Measure(zoo_commands::MeasureArgs),
    /// Get the benchmark datasets: download the pinned public files (or copy them
    /// from --from mirrors), verify their SHA-256, convert them into the data directory.
    Data(data_command::DataArgs),
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
        Command::Train(args) if args.benchmark == trainer::Benchmark::Nb201Latency => {
            train_nb201_latency::train_nb201_latency(args, &device)
        }
        Command::Train(args) => train_command::train(args, &device),
        Command::Eval(args) => eval_command::eval(args, &device),
        Command::Transfer(args) => transfer_command::transfer_command(args, &device),
        Command::SuggestShots(args) => suggest_shots_command::suggest_shots(args),
        Command::Predict(args) => predict_command::predict(args, &device),
        Command::Predictors(args) => predictors_command::predictors(args, &device),
        Command::Inspect(args) => inspect_command::inspect(args),
        Command::ReproduceTable(args) => table_command::reproduce_table(args, &cli.backend),
        Command::Zoo(command) => zoo_commands::zoo(command),
        Command::Measure(args) => zoo_commands::measure(args),
        Command::Data(args) => data_command::data(args),
    }
}
