//! `cargo xtask ci`: what `.ci/run` runs. Formatting, clippy, the test suite
//! (release mode: numeric tests are ~40x slower in debug), then `cargo check`
//! of the optional GPU backends so they do not rot.

use crate::{cargo, run_command, workspace_root};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Skip `cargo check --features wgpu`.
    #[arg(long)]
    skip_wgpu: bool,
    /// Skip `cargo check --features tch` (needs LibTorch 2.9.0 from the PyPI torch wheel).
    #[arg(long)]
    skip_tch: bool,
}

/// LibTorch version that burn 0.22.1's tch backend builds against.
const TORCH_VERSION: &str = "2.9.0";

pub fn run(args: CiArgs) -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run_command(fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run_command(clippy)?;

    let mut test = cargo();
    test.args(["test", "--release", "--workspace"]);
    run_command(test)?;

    if !args.skip_wgpu {
        let mut wgpu = cargo();
        wgpu.args(["check", "--package", "cli", "--features", "wgpu"]);
        run_command(wgpu)?;
    }
    if !args.skip_tch {
        let venv = torch_venv()?;
        let mut tch = cargo();
        tch.args(["check", "--package", "cli", "--features", "tch"])
            .env("LIBTORCH_USE_PYTORCH", "1")
            .env("VIRTUAL_ENV", &venv)
            .env("PATH", prepend_path(&venv.join("bin"))?);
        run_command(tch)?;
    }
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

/// A virtualenv with the PyPI torch wheel (the LibTorch the tch build script
/// links against), created once under target/.
fn torch_venv() -> Result<PathBuf> {
    let venv = workspace_root().join("target/torch-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args([
            "-c",
            &format!(
                "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '{TORCH_VERSION}')"
            ),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ready {
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run_command(create)?;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", &format!("torch=={TORCH_VERSION}")]);
        run_command(install)?;
    }
    Ok(venv)
}

fn prepend_path(dir: &Path) -> Result<std::ffi::OsString> {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let mut parts = vec![dir.to_path_buf()];
    parts.extend(std::env::split_paths(&old));
    std::env::join_paths(parts).context("PATH")
}
