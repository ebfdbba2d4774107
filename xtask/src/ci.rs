//! `cargo xtask ci`: what `.ci/run` runs, as two lanes side by side with a
//! per-step timing table at the end.
//!
//! - **main lane**: fmt, clippy, the test build and suite (the `ci` profile:
//!   release with tract at opt-level 1; numeric tests are ~40x slower in
//!   debug), ONNX's node tests as a
//!   shape-inference conformance gate (95% of the `ai.onnx` tests), a
//!   fresh-machine run from the data mirror with the binary the test build
//!   made, then tidy;
//! - **backend lane** (its own target directory, output in
//!   `target/ci-backends.log`): the Vulkan and LibTorch set-up, the parity
//!   build (which also builds `narformer` with the optional GPU backends, so
//!   they do not rot) and the parity tests.
//!
//! The lanes overlap because neither keeps two cores busy on its own: large
//! crates compile on one core for minutes, the test suite serialises on the
//! seeded-RNG lock, and lavapipe's shader compiles leave gaps.

use crate::{cargo, parity, tidy, workspace_root};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// One timed step: lane, name, seconds, whether it passed.
#[derive(Debug, Clone)]
struct Timed {
    lane: &'static str,
    step: &'static str,
    seconds: f64,
    passed: bool,
}

#[derive(Debug, Clone, Default)]
struct Timings(Arc<Mutex<Vec<Timed>>>);

impl Timings {
    /// Runs `f` as step `step` of `lane`, recording its time and outcome.
    fn step<T>(
        &self,
        lane: &'static str,
        step: &'static str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = f();
        let timed = Timed {
            lane,
            step,
            seconds: started.elapsed().as_secs_f64(),
            passed: result.is_ok(),
        };
        eprintln!(
            "xtask ci: [{lane}] {step} {} in {}",
            if timed.passed { "passed" } else { "FAILED" },
            clock(timed.seconds)
        );
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(timed);
        result
    }

    fn print(&self, wall: Duration) {
        let rows = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        eprintln!("\nxtask ci: step times");
        eprintln!("| lane | step | time | result |");
        eprintln!("|---|---|---:|---|");
        for r in &rows {
            eprintln!(
                "| {} | {} | {} | {} |",
                r.lane,
                r.step,
                clock(r.seconds),
                if r.passed { "ok" } else { "FAILED" }
            );
        }
        for lane in ["main", "backends"] {
            let sum: f64 = rows
                .iter()
                .filter(|r| r.lane == lane)
                .map(|r| r.seconds)
                .sum();
            eprintln!("| {lane} | (lane total) | {} | |", clock(sum));
        }
        eprintln!("| | **wall clock** | {} | |", clock(wall.as_secs_f64()));
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

pub fn run(args: CiArgs) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let timings = Timings::default();
    let mut backends = Vec::new();
    if !args.skip_wgpu {
        backends.push("wgpu".to_string());
    }
    if !args.skip_tch {
        backends.push("tch".to_string());
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    report_free_disk(&root);
    let log = root.join("target/ci-backends.log");
    let lane = (!backends.is_empty()).then(|| {
        let timings = timings.clone();
        let root = root.clone();
        let log = log.clone();
        std::thread::spawn(move || backend_lane(&root, &backends, in_ci, &log, &timings))
    });
    let main = main_lane(&root, &args, &timings);
    let backend = match lane {
        Some(handle) => handle
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the backend lane panicked"))),
        None => Ok(()),
    };
    if lane_ran(&log) {
        show_log(&log, backend.is_err());
    }
    report_free_disk(&root);
    timings.print(started.elapsed());
    match (main, backend) {
        (Ok(()), Ok(())) => {
            eprintln!("xtask ci: all checks passed");
            Ok(())
        }
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e.context(format!("backend lane (log: {})", log.display()))),
    }
}

fn lane_ran(log: &Path) -> bool {
    log.is_file()
}

/// Prints the backend lane's log: all of it when it failed, else its last lines.
fn show_log(log: &Path, failed: bool) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let keep = if failed {
        lines.len()
    } else {
        40.min(lines.len())
    };
    eprintln!(
        "\nxtask ci: backend lane log ({}, last {keep} of {} lines):",
        log.display(),
        lines.len()
    );
    for line in &lines[lines.len() - keep..] {
        eprintln!("  {line}");
    }
}

fn main_lane(root: &Path, args: &CiArgs, timings: &Timings) -> Result<()> {
    const LANE: &str = "main";
    timings.step(LANE, "fmt", || {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        crate::run_command(fmt)
    })?;
    timings.step(LANE, "clippy", || {
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        crate::run_command(clippy)
    })?;
    // `measure`'s tests run ONNX Runtime too: its library, from the pinned wheel.
    let ort_library = timings.step(LANE, "set-up (ONNX Runtime)", || {
        crate::ort::library(&crate::run_command)
    })?;
    let test = || {
        let mut test = cargo();
        test.args(["test", "--profile", "ci", "--workspace"])
            .env(sysio::onnxruntime::ENV_VAR, &ort_library);
        test
    };
    timings.step(LANE, "build (ci profile, tests)", || {
        let mut build = test();
        build.arg("--no-run");
        crate::run_command(build)
    })?;
    timings.step(LANE, "tests", || crate::run_command(test()))?;
    // ONNX's node tests, from the pinned wheel: shape inference must hold on 95%.
    timings.step(LANE, "onnx conformance", || {
        crate::conformance::run(crate::conformance::ConformanceArgs::gate(95.0))
    })?;
    if !args.skip_fresh {
        timings.step(LANE, "fresh-machine run", || fresh_machine(root))?;
    }
    timings.step(LANE, "tidy", || tidy::run(root))?;
    Ok(())
}

fn backend_lane(
    root: &Path,
    backends: &[String],
    in_ci: bool,
    log: &Path,
    timings: &Timings,
) -> Result<()> {
    const LANE: &str = "backends";
    std::fs::create_dir_all(root.join("target")).context("creating target/")?;
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let output = Output(Arc::new(Mutex::new(file)));
    let args = parity::ParityArgs {
        backends: backends.to_vec(),
        install_vulkan: in_ci,
        profile: "parity".to_string(),
    };
    // Its own target directory: cargo locks one per build.
    let target = root.join("target/backends");
    let prepared = timings.step(LANE, "set-up (Vulkan, LibTorch)", || {
        parity::prepare(&args, &|cmd| output.run(cmd))
    })?;
    timings.step(LANE, "parity build", || {
        let mut build = parity::test_command(&args, &prepared, &target);
        build.arg("--no-run");
        output.run(build)
    })?;
    timings.step(LANE, "parity tests", || {
        let mut run = parity::test_command(&args, &prepared, &target);
        run.args(parity::TEST_ARGS);
        output.run(run)
    })
}

/// Where the backend lane's commands write (both streams), shared by its steps.
#[derive(Clone)]
struct Output(Arc<Mutex<std::fs::File>>);

impl Output {
    fn run(&self, mut cmd: Command) -> Result<()> {
        let file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        use std::io::Write;
        let mut handle = &*file;
        writeln!(handle, "$ {cmd:?}").ok();
        let out = file.try_clone().context("log file")?;
        let err = file.try_clone().context("log file")?;
        drop(file);
        cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
        crate::run_quietly(cmd)
    }
}

/// The mirror of published originals: `$NARFORMER_MIRROR`, else the shared
/// `../shared/data/originals` beside the checkout (as in CI).
fn mirror(root: &Path) -> Option<PathBuf> {
    if let Some(m) = std::env::var_os("NARFORMER_MIRROR") {
        return Some(PathBuf::from(m));
    }
    let shared = root.join("../shared/data/originals");
    shared.is_dir().then_some(shared)
}

/// What a new user's machine does, offline from the mirror: `narformer data`
/// into an empty directory (the second run must do nothing), then the README's
/// first command with an empty data directory, which fetches NB201 on first use.
/// It runs the `narformer` that the test build made: `cargo run -p cli` alone
/// resolves the workspace's features differently and rebuilds the release tree
/// (10 minutes measured), for the same code.
fn fresh_machine(root: &Path) -> Result<()> {
    let Some(mirror) = mirror(root) else {
        eprintln!(
            "xtask ci: no mirror (NARFORMER_MIRROR or ../shared/data/originals): fresh-machine checks skipped"
        );
        return Ok(());
    };
    let mirror = mirror
        .canonicalize()
        .with_context(|| format!("mirror {}", mirror.display()))?;
    let fresh = root.join("target/ci-fresh");
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh)
            .with_context(|| format!("cannot clear {}", fresh.display()))?;
    }
    let binary = root.join("target/ci/narformer");
    if !binary.is_file() {
        bail!("{} is missing: the test build makes it", binary.display());
    }
    let narformer = |args: &[&str]| {
        let mut cmd = Command::new(&binary);
        cmd.args(args)
            .env_remove("NARFORMER_DATA")
            .env_remove("NARFORMER_MIRROR");
        cmd
    };
    let data = fresh.join("data");
    let data_arg = data.to_string_lossy().to_string();
    let mirror_arg = mirror.to_string_lossy().to_string();
    for _ in 0..2 {
        crate::run_command(narformer(&[
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
    let readme = fresh.join("readme");
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
    crate::run_command(first)
}

/// Prints the free space on the disk that holds target/, so that a CI run that
/// runs out of disk shows where. Uses `df`; says nothing where it is missing.
fn report_free_disk(root: &Path) {
    let target = root.join("target");
    let Ok(out) = Command::new("df").args(["-P", "-k"]).arg(&target).output() else {
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
