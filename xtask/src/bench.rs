//! `cargo xtask bench`: runs the criterion benches (release, CPU backend) and
//! prints one table of throughputs. With `--peer`, the batched PyTorch peer
//! (`xtask/peer.py`) runs the same models on the same inputs in the same run,
//! after checking that it predicts what we predict, and each figure gets its
//! ratio to the peer's; the machine's attainable sgemm rate gives the
//! scoring's fraction of it.

use crate::{bench_end_to_end, cargo, run_command, workspace_root};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only print the table from the last run's results.
    #[arg(long)]
    no_run: bool,
    /// Also time the batched PyTorch peer on the same models and inputs.
    #[arg(long)]
    peer: bool,
    /// Only time the `narformer` binary end to end (the other rows and the
    /// peer's figures are read from the last full run).
    #[arg(long, conflicts_with = "no_run")]
    end_to_end_only: bool,
    /// The Python with torch the peer runs on (default: target/peer-venv,
    /// made on first use with `pip install torch==2.9.0`, about 7 GB).
    #[arg(long)]
    python: Option<PathBuf>,
}

/// The torch the peer is made with (the LibTorch of the `tch` backend's).
const PEER_TORCH: &str = "torch==2.9.0";

/// The peer's predictions may differ from ours by this much (relative).
const PEER_TOLERANCE: f64 = 1e-4;

/// Where the peer's figures of the last run are kept, beside criterion's.
const PEER_RESULT: &str = "target/criterion/narformer-peer.json";

/// One row: a criterion benchmark, how to turn its median time into a
/// figure, and the peer's figure of the same work.
struct Row {
    what: &'static str,
    /// `group/function` under target/criterion.
    id: &'static str,
    /// Items processed per iteration (figure = items / seconds), or None for ms per iteration.
    items: Option<f64>,
    unit: &'static str,
    /// `(case, key)` of the peer's seconds for the same work.
    peer: Option<(&'static str, &'static str)>,
    /// The ratio to the peer this figure should reach (issue 19).
    goal: Option<f64>,
}

const ROWS: &[Row] = &[
    Row {
        what: "NB201 training, paper model (6 x 512), batch 8, twins",
        id: "nb201/train_80_cells_batch_8",
        items: Some(80.0),
        unit: "samples/s",
        peer: Some(("nb201_paper", "train_80_cells_batch_8_s")),
        goal: Some(1.5),
    },
    Row {
        what: "NB201 scoring, paper model, 15,625 cells, model only",
        id: "nb201/score_15625_cells",
        items: Some(15_625.0),
        unit: "cells/s",
        peer: Some(("nb201_paper", "score_15625_cells_s")),
        goal: Some(1.5),
    },
    Row {
        what: "NB201 training, quick model (3 x 128), batch 32",
        id: "nb201_quick/train_80_cells_batch_32",
        items: Some(80.0),
        unit: "samples/s",
        peer: Some(("nb201_quick", "train_80_cells_batch_32_s")),
        goal: Some(2.0),
    },
    Row {
        what: "NB201 scoring, quick model, 15,625 cells, model only",
        id: "nb201_quick/score_15625_cells",
        items: Some(15_625.0),
        unit: "cells/s",
        peer: Some(("nb201_quick", "score_15625_cells_s")),
        goal: Some(3.0),
    },
    Row {
        what: "whole-network training, 60 nodes, batch 16",
        id: "network_train/60_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        peer: None,
        goal: None,
    },
    Row {
        what: "whole-network training, 120 nodes, batch 16",
        id: "network_train/120_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        peer: Some(("network_120", "train_32_graphs_batch_16_s")),
        goal: Some(2.0),
    },
    Row {
        what: "whole-network training, 250 nodes, batch 16",
        id: "network_train/250_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        peer: None,
        goal: None,
    },
    Row {
        what: "one 120-node graph, model only",
        id: "network_predict/120_nodes_one_graph",
        items: None,
        unit: "ms",
        peer: Some(("network_120", "predict_one_graph_s")),
        goal: None,
    },
    Row {
        what: "one 250-node graph, model only",
        id: "network_predict/250_nodes_one_graph",
        items: None,
        unit: "ms",
        peer: None,
        goal: None,
    },
    Row {
        what: "ResNet-18 ONNX: parse, shapes, tokens, model",
        id: "predict_onnx/resnet18_end_to_end",
        items: None,
        unit: "ms",
        peer: None,
        goal: None,
    },
    Row {
        what: "tokenizer, 120-node network",
        id: "tokenize/network_120_nodes",
        items: Some(1.0),
        unit: "graphs/s",
        peer: None,
        goal: None,
    },
];

pub fn run(args: BenchArgs) -> Result<()> {
    let root = workspace_root();
    if args.end_to_end_only {
        bench_end_to_end::run(&root)?;
        let peer = read_json(&root.join(PEER_RESULT))?;
        print_table(&root.join("target/criterion"), peer.as_ref())?;
        return print_end_to_end(&root, peer.as_ref());
    }
    let python = if args.peer && !args.no_run {
        Some(peer_python(&root, args.python.as_deref())?)
    } else {
        None
    };
    if !args.no_run {
        let mut bench = cargo();
        bench.args(["bench", "--package", "trainer"]);
        for name in ["throughput", "predict_onnx", "peer_cases"] {
            bench.args(["--bench", name]);
        }
        run_command(bench)?;
        bench_end_to_end::run(&root)?;
    }
    if let Some(python) = python {
        run_peer(&root, &python)?;
    }
    let peer = if args.peer {
        Some(read_json(&root.join(PEER_RESULT))?.with_context(|| {
            format!("no peer results at {PEER_RESULT}: run `cargo xtask bench --peer`")
        })?)
    } else {
        None
    };
    print_table(&root.join("target/criterion"), peer.as_ref())?;
    print_end_to_end(&root, peer.as_ref())
}

/// The `narformer` binary's rows (`bench_end_to_end`): scoring against the
/// peer's model-only figure, ResNet-18 against the 50 ms.
fn print_end_to_end(root: &Path, peer: Option<&serde_json::Value>) -> Result<()> {
    let Some(result) = read_json(&root.join(bench_end_to_end::RESULT))? else {
        println!("\nend to end: not run");
        return Ok(());
    };
    println!("\nend to end, the release `narformer` binary, process start included (median):\n");
    println!("| figure | narformer | batched PyTorch peer (model only) | ratio | goal |");
    println!("|---|---|---|---|---|");
    for (profile, goal) in [("paper", 1.5), ("quick", 3.0)] {
        let Some(seconds) = result[format!("nb201_{profile}_predict_s")].as_f64() else {
            continue;
        };
        let theirs =
            peer.and_then(|p| p[format!("nb201_{profile}")]["score_15625_cells_s"].as_f64());
        let ratio = theirs.map(|t| t / seconds);
        println!(
            "| `narformer predict`, {profile} run, all 15,625 NB201 cells | {} cells/s | {} | {} | {} |",
            fmt(15_625.0 / seconds),
            theirs.map_or(String::new(), |t| format!("{} cells/s", fmt(15_625.0 / t))),
            ratio.map_or(String::new(), |r| format!("{r:.2}x")),
            ratio.map_or(String::new(), |r| format!(
                ">= {goal}x: {}",
                if r >= goal { "met" } else { "missed" }
            )),
        );
    }
    if let Some(seconds) = result["resnet18_predict_s"].as_f64() {
        let ms = seconds * 1e3;
        let met = if ms <= 50.0 { "met" } else { "missed" };
        println!(
            "| `narformer predict resnet18.onnx`, bundled predictors | {} ms | | | <= 50 ms: {met} |",
            fmt(ms)
        );
    }
    Ok(())
}

fn print_table(criterion: &Path, peer: Option<&serde_json::Value>) -> Result<()> {
    if let Some(peer) = peer {
        println!(
            "peer: torch {} on {} threads, predictions within {:.1e} of ours (largest relative gap)\n",
            peer["torch"].as_str().unwrap_or("?"),
            peer["threads"],
            peer_gap(peer)
        );
    }
    println!("| figure | narformer | batched PyTorch peer | ratio | goal |");
    println!("|---|---|---|---|---|");
    let mut paper_scoring = None;
    for row in ROWS {
        let Some(seconds) = median_seconds(criterion, row.id)? else {
            println!("| {} | not run | | | |", row.what);
            continue;
        };
        let figure = |s: f64| row.items.map_or(s * 1e3, |n| n / s);
        let ours = figure(seconds);
        if row.id == "nb201/score_15625_cells" {
            paper_scoring = Some(ours);
        }
        let theirs = row
            .peer
            .zip(peer)
            .and_then(|((case, key), peer)| peer[case][key].as_f64());
        // How many times faster we are: the peer's time over ours.
        let ratio = theirs.map(|t| t / seconds);
        let goal = row.goal.zip(ratio).map_or(String::new(), |(goal, ratio)| {
            let met = if ratio >= goal { "met" } else { "missed" };
            format!(">= {goal}x: {met}")
        });
        println!(
            "| {} | {} {} | {} | {} | {goal} |",
            row.what,
            fmt(ours),
            row.unit,
            theirs.map_or(String::new(), |t| format!(
                "{} {}",
                fmt(figure(t)),
                row.unit
            )),
            ratio.map_or(String::new(), |r| format!("{r:.2}x")),
        );
    }
    let flops = read_json(&criterion.join("narformer-flops.json"))?;
    let sgemm = median_seconds(criterion, "sgemm/2048")?.map(|s| 2.0 * 2048f64.powi(3) / s / 1e9);
    if let Some(gflops) = sgemm {
        println!("\nattainable here: {gflops:.1} GFLOP/s (flex's f32 matmul, 2048^3, median)");
    }
    let per_cell = flops
        .as_ref()
        .and_then(|f| f["nb201_score_flops_per_cell"].as_f64());
    if let (Some(rate), Some(per_cell), Some(gflops)) = (paper_scoring, per_cell, sgemm) {
        let achieved = rate * per_cell / 1e9;
        println!(
            "NB201 paper-model scoring: {:.1} MFLOP per cell, {achieved:.1} GFLOP/s = {:.0}% of it",
            per_cell / 1e6,
            100.0 * achieved / gflops
        );
    }
    Ok(())
}

/// The largest relative gap between the peer's predictions and ours over the cases.
fn peer_gap(peer: &serde_json::Value) -> f64 {
    peer.as_object()
        .into_iter()
        .flat_map(|cases| cases.values())
        .filter_map(|case| case["max_relative_gap"].as_f64())
        // A NaN gap (the peer computed NaN) counts as the largest.
        .map(|gap| if gap.is_nan() { f64::INFINITY } else { gap })
        .fold(0.0, f64::max)
}

/// Runs the peer on the cases `peer_cases` wrote and keeps its figures;
/// predictions further from ours than [`PEER_TOLERANCE`] are an error (the
/// two would not be timing the same function).
fn run_peer(root: &Path, python: &Path) -> Result<()> {
    let output = Command::new(python)
        .arg(root.join("xtask/peer.py"))
        .args(["--dir", "target/peer"])
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("the PyTorch peer failed ({})", output.status);
    }
    let text = String::from_utf8(output.stdout).context("the peer's output is not UTF-8")?;
    let result: serde_json::Value =
        serde_json::from_str(&text).context("the peer's output is not JSON")?;
    let gap = peer_gap(&result);
    if gap > PEER_TOLERANCE {
        bail!(
            "the PyTorch peer predicts up to {gap:.2e} away from narformer (tolerance {PEER_TOLERANCE:.0e}): it would not time the same model"
        );
    }
    sysio::write_atomic(&root.join(PEER_RESULT), text.as_bytes())
        .with_context(|| format!("writing {PEER_RESULT}"))?;
    Ok(())
}

/// The Python the peer runs on: `given`, else target/peer-venv (made now if missing).
fn peer_python(root: &Path, given: Option<&Path>) -> Result<PathBuf> {
    if let Some(python) = given {
        return Ok(python.to_path_buf());
    }
    let venv = root.join("target/peer-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "making the peer's Python at {} ({PEER_TORCH}, about 7 GB)",
            venv.display()
        );
        let mut make = Command::new("python3");
        make.args(["-m", "venv"]).arg(&venv);
        run_command(make)?;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", PEER_TORCH, "numpy"]);
        run_command(install).context(
            "installing torch for the peer failed: pass --python with a Python that has torch",
        )?;
    }
    Ok(python)
}

fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Median time of one iteration, from criterion's `new/estimates.json`.
fn median_seconds(criterion: &Path, id: &str) -> Result<Option<f64>> {
    let Some(value) = read_json(&criterion.join(id).join("new/estimates.json"))? else {
        return Ok(None);
    };
    Ok(value["median"]["point_estimate"]
        .as_f64()
        .map(|ns| ns / 1e9))
}

/// A JSON file's value, or None when there is no such file.
fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let value = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Some(value))
}
