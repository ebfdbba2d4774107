//! `cargo xtask ci`: what `.ci/run` runs. Formatting, clippy, the test suite
//! (release mode: numeric tests are ~40x slower in debug), a fresh-machine run
//! from the data mirror, then the backend parity tests, which also build
//! `narformer` with the optional GPU backends, so they do not rot.

use crate::{cargo, parity, run_command, workspace_root};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Skip the wgpu parity tests and build (Mesa's software Vulkan; CI installs it).
    #[arg(long)]
    skip_wgpu: bool,
    /// Skip the LibTorch parity tests and build (copies a CPU LibTorch out of
    /// the PyPI torch==2.9.0 wheel into target/, about 0.5 GB).
    #[arg(long)]
    skip_tch: bool,
    /// Skip the fresh-machine checks: `narformer data` from the mirror into an
    /// empty directory (twice), and the README's first command on an empty data
    /// directory fetching from the mirror (about 3 minutes).
    #[arg(long)]
    skip_fresh: bool,
}

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
    let mut backends = Vec::new();
    if !args.skip_wgpu {
        backends.push("wgpu".to_string());
    }
    if !args.skip_tch {
        backends.push("tch".to_string());
    }
    if !backends.is_empty() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        report_free_disk();
        if in_ci {
            // The GPU stacks take several GB to build; a CI machine's disk has
            // run out here before. Nothing after this point uses the release
            // build, and CI's checkout is thrown away afterwards.
            let mut clean = cargo();
            clean.args(["clean", "--profile", "release"]);
            run_command(clean)?;
            report_free_disk();
        }
        // One build: the parity tests and `narformer` with the same backends.
        parity::run(&parity::ParityArgs {
            backends,
            install_vulkan: in_ci,
            profile: "parity".to_string(),
        })?;
        report_free_disk();
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

/// Prints the free space on the disk that holds target/, so that a CI run that
/// runs out of disk shows where. Uses `df`; says nothing where it is missing.
fn report_free_disk() {
    let target = workspace_root().join("target");
    let Ok(out) = std::process::Command::new("df")
        .args(["-P", "-k"])
        .arg(&target)
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // POSIX layout: the second line's fourth field is the space available, in KiB.
    let available = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kib| kib.parse::<u64>().ok());
    if let Some(kib) = available {
        eprintln!(
            "xtask ci: {:.1} GB free on the disk holding {}",
            kib as f64 * 1024.0 / 1e9,
            target.display()
        );
    }
}
