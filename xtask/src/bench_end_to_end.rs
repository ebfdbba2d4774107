//! The end-to-end half of `cargo xtask bench`: the release `narformer`
//! binary timed as a user runs it, process start, file reading and
//! tokenising included. Scoring every NAS-Bench-201 cell with a paper-size and
//! a quick-profile run (each trained for one epoch on 64 cells: the weights do
//! not change the work), and `narformer predict` on the ResNet-18 fixture
//! with the bundled predictors. Figures go to [`RESULT`] beside criterion's.

use crate::{cargo, run_command};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Where the last run's end-to-end seconds are kept.
pub const RESULT: &str = "target/criterion/narformer-end-to-end.json";

/// Timed runs per command, after one warm-up (two for the short one).
const RUNS: usize = 5;
const SHORT_RUNS: usize = 10;

/// Times the binary and writes [`RESULT`]. Needs NAS-Bench-201's
/// `accuracy.csv` under `$NARFORMER_DATA`, `../shared/data` or `data/`.
pub fn run(root: &Path) -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--release", "--package", "cli"]);
    run_command(build)?;
    let binary = root.join("target/release/narformer");
    let data = nb201_data_dir(root)?;
    let work = root.join("target/peer/end-to-end");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let cells = work.join("nb201-cells.txt");
    write_cells(&data.join("nasbench201/accuracy.csv"), &cells)?;
    let mut result = serde_json::Map::new();
    for profile in ["paper", "quick"] {
        let run_dir = work.join(format!("nb201-{profile}"));
        if !run_dir.join("model.bpk").is_file() {
            let mut train = Command::new(&binary);
            train
                .args(["train", "--benchmark", "nb201", "--train-size", "64"])
                .args([
                    "--profile",
                    profile,
                    "--epochs",
                    "1",
                    "--seed",
                    "0",
                    "--quiet",
                ])
                .arg("--run-dir")
                .arg(&run_dir)
                .arg("--data-dir")
                .arg(&data);
            run_command(train)?;
        }
        let mut predict = Command::new(&binary);
        predict
            .arg("predict")
            .arg("--run")
            .arg(&run_dir)
            .arg(&cells);
        let seconds = median_seconds(predict, 1, RUNS)?;
        eprintln!(
            "narformer predict, {profile} run, every NB201 cell: {seconds:.3} s (median of {RUNS})"
        );
        result.insert(format!("nb201_{profile}_predict_s"), seconds.into());
    }
    let mut predict = Command::new(&binary);
    predict
        .arg("predict")
        .arg(root.join("tests/fixtures/onnx/resnet18.onnx"));
    let seconds = median_seconds(predict, 2, SHORT_RUNS)?;
    eprintln!(
        "narformer predict resnet18.onnx, bundled predictors: {:.1} ms",
        seconds * 1e3
    );
    result.insert("resnet18_predict_s".into(), seconds.into());
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(result))?;
    sysio::write_atomic(&root.join(RESULT), text.as_bytes())
        .with_context(|| format!("writing {RESULT}"))
}

/// The first data directory that holds NAS-Bench-201's accuracy table.
fn nb201_data_dir(root: &Path) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("NARFORMER_DATA")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("../shared/data"), root.join("data")])
        .collect();
    candidates
        .iter()
        .find(|dir| dir.join("nasbench201/accuracy.csv").is_file())
        .cloned()
        .with_context(|| {
            format!("no nasbench201/accuracy.csv in {candidates:?}: run `cargo xtask data` first")
        })
}

/// Every cell string of the table (its `arch_str` column), one per line.
fn write_cells(table: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(table).with_context(|| format!("reading {}", table.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(column) = header.split(',').position(|name| name == "arch_str") else {
        bail!("{}: no arch_str column in the header", table.display());
    };
    let cells: Vec<&str> = lines
        .filter_map(|line| line.split(',').nth(column))
        .collect();
    sysio::write_atomic(out, (cells.join("\n") + "\n").as_bytes())
        .with_context(|| format!("writing {}", out.display()))
}

/// The median wall time of `runs` runs of `command` (stdout discarded), after
/// `warm_ups` untimed ones.
fn median_seconds(mut command: Command, warm_ups: usize, runs: usize) -> Result<f64> {
    command.stdout(Stdio::null());
    let mut times = Vec::with_capacity(runs);
    for i in 0..warm_ups + runs {
        let start = Instant::now();
        let status = command
            .status()
            .with_context(|| format!("running {command:?}"))?;
        if !status.success() {
            bail!("{command:?} failed ({status})");
        }
        if i >= warm_ups {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
