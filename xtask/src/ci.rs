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
    /// Skip the fresh-machine checks: `narformer data` from the mirror into an
    /// empty directory (twice), and the README's first command on an empty data
    /// directory fetching from the mirror (about 3 minutes).
    #[arg(long)]
    skip_fresh: bool,
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

    if !args.skip_fresh {
        fresh_machine()?;
    }
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

/// The mirror of published originals: `$NARFORMER_MIRROR`, else the shared
/// `../shared/data/originals` beside the checkout (as in CI).
fn mirror() -> Option<PathBuf> {
    if let Some(m) = std::env::var_os("NARFORMER_MIRROR") {
        return Some(PathBuf::from(m));
    }
    let shared = workspace_root().join("../shared/data/originals");
    shared.is_dir().then_some(shared)
}

/// What a new user's machine does, offline from the mirror: `narformer data`
/// into an empty directory (the second run must do nothing), then the README's
/// first command with an empty data directory, which fetches NB201 on first use.
fn fresh_machine() -> Result<()> {
    let Some(mirror) = mirror() else {
        eprintln!(
            "xtask ci: no mirror (NARFORMER_MIRROR or ../shared/data/originals): fresh-machine checks skipped"
        );
        return Ok(());
    };
    let mirror = mirror
        .canonicalize()
        .with_context(|| format!("mirror {}", mirror.display()))?;
    let root = workspace_root().join("target/ci-fresh");
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("cannot clear {}", root.display()))?;
    }
    let narformer = |args: &[&str]| {
        let mut cmd = crate::train::narformer(None);
        cmd.args(args)
            .env_remove("NARFORMER_DATA")
            .env_remove("NARFORMER_MIRROR");
        cmd
    };
    let data = root.join("data");
    let data_arg = data.to_string_lossy().to_string();
    let mirror_arg = mirror.to_string_lossy().to_string();
    for _ in 0..2 {
        run_command(narformer(&[
            "data",
            "--offline",
            "--from",
            &mirror_arg,
            "--data-dir",
            &data_arg,
        ]))?;
    }
    // The README's first command as a new user runs it: no NARFORMER_DATA, so the
    // default data/ (empty in a clean clone) gets NB201 fetched on first use.
    let readme = root.join("readme");
    let mut first = narformer(&[
        "train",
        "--benchmark",
        "nb201",
        "--train-size",
        "781",
        "--profile",
        "quick",
        "--seed",
        "0",
        "--quiet",
    ]);
    first
        .arg("--report")
        .arg(readme.join("r.json"))
        .arg("--run-dir")
        .arg(readme.join("run"))
        .env("NARFORMER_MIRROR", &mirror);
    run_command(first)?;
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
