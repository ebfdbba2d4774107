//! `cargo xtask train`: the same code as `narformer train`, built in release mode.

use crate::{cargo, run_command};
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Extra cargo features of the cli crate (wgpu, tch).
    #[arg(long)]
    features: Option<String>,
    /// Arguments for `narformer train` (see `narformer train --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "cli",
        "--bin",
        "narformer",
    ]);
    if let Some(features) = &args.features {
        cmd.args(["--features", features]);
    }
    cmd.arg("--").arg("train").args(&args.args);
    run_command(cmd)
}
