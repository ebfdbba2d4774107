//! `cargo xtask train` and `cargo xtask reproduce-table`: the same code as
//! `narformer train` / `narformer reproduce-table`, built in release mode.

use crate::{cargo, run_command};
use anyhow::Result;
use clap::Args;
use std::process::Command;

#[derive(Debug, Args)]
pub struct NarformerArgs {
    /// Extra cargo features of the cli crate (wgpu, tch).
    #[arg(long)]
    features: Option<String>,
    /// Arguments for the narformer subcommand (see `narformer <subcommand> --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// `cargo run --release` of the `narformer` binary, arguments to follow `--`.
pub fn narformer(features: Option<&str>) -> Command {
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
    if let Some(features) = features {
        cmd.args(["--features", features]);
    }
    cmd.arg("--");
    cmd
}

/// Runs `narformer <subcommand> <args>` through `cargo run --release`.
pub fn run(subcommand: &str, args: NarformerArgs) -> Result<()> {
    let mut cmd = narformer(args.features.as_deref());
    cmd.arg(subcommand).args(&args.args);
    run_command(cmd)
}
