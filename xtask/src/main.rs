//! Project automation, `cargo xtask <task>` (alias in `.cargo/config.toml`).
//! Each task drives cargo and the `narformer` binary; logic lives in the crates.

mod bench;
mod bench_end_to_end;
mod ci;
mod conformance;
mod onnx_models;
mod ort;
mod parity;
mod tidy;
mod train;
mod wheel;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "narformer project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Train a predictor: builds `narformer` in release mode and runs `narformer train`.
    Train(train::NarformerArgs),
    /// Regenerate a table of the paper: `narformer reproduce-table` in release mode
    /// (for example `cargo xtask reproduce-table accuracy --profile quick --seeds 3`).
    ReproduceTable(train::NarformerArgs),
    /// Get the benchmark datasets: `narformer data` in release mode (for example
    /// `cargo xtask data --only nb101 --from ../shared/data/originals`).
    Data(train::NarformerArgs),
    /// The benchmark suite (criterion, release, CPU backend) and its summary table.
    Bench(bench::BenchArgs),
    /// Backend parity tests: wgpu and LibTorch predict what flex predicts, and a
    /// training step on each lowers the loss (sets up Vulkan and LibTorch).
    Parity(parity::ParityArgs),
    /// Everything CI checks: fmt, clippy, tests, a fresh-machine run, the
    /// optional backends' build and parity tests, and tidy; prints a timing table.
    Ci(ci::CiArgs),
    /// ONNX's backend node tests (the pinned onnx wheel, fetched once) as a
    /// shape-inference conformance suite: pass/fail per op.
    OnnxConformance(conformance::ConformanceArgs),
    /// Every torchvision classification architecture exported at opsets 11 and 17
    /// (with a Python that has torch): imports with every op known, FLOPs within 2%.
    OnnxModels(onnx_models::ModelsArgs),
    /// The ONNX Runtime library for `narformer measure --engine ort`, unpacked
    /// once from the pinned PyPI wheel into target/ (prints its path).
    Ort,
    /// The tree's structural rules: module headers, file length, the crate
    /// dependency direction of docs/ARCHITECTURE.md, no circular file imports.
    Tidy,
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Train(args) => train::run("train", args),
        Task::ReproduceTable(args) => train::run("reproduce-table", args),
        Task::Data(args) => train::run("data", args),
        Task::Bench(args) => bench::run(args),
        Task::Parity(args) => parity::run(&args),
        Task::Ci(args) => ci::run(args),
        Task::OnnxConformance(args) => conformance::run(args),
        Task::OnnxModels(args) => onnx_models::run(args),
        Task::Ort => ort::run(),
        Task::Tidy => tidy::run(&workspace_root()),
    }
}

/// The workspace root of the current directory, asked of cargo at run time
/// (a compile-time path would point at whichever checkout built this binary).
pub fn workspace_root() -> PathBuf {
    let located = cargo()
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok());
    match located {
        Some(manifest) => PathBuf::from(manifest.trim())
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
        None => PathBuf::from("."),
    }
}

/// Runs `cmd` in the workspace root, echoing it first; fails on a non-zero exit.
pub fn run_command(cmd: Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    run_quietly(cmd)
}

/// Runs `cmd` in the workspace root (its output wherever `cmd` sends it);
/// fails on a non-zero exit, naming the command.
pub fn run_quietly(mut cmd: Command) -> Result<()> {
    cmd.current_dir(workspace_root());
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// `cargo`, as the one running this xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}
