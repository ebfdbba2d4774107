//! `cargo xtask bench`: runs the criterion benches (release, CPU backend) and prints
//! one summary table of throughputs against the reference PyTorch figures of
//! issue 8 (same kind of machine, 2 threads, median of 7).

use crate::{cargo, run_command, workspace_root};
use anyhow::{Context, Result};
use clap::Args;
use std::path::Path;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only print the table from the last run's criterion results.
    #[arg(long)]
    no_run: bool,
    /// Peak fp32 FLOP/s the training fraction is taken of (default: cores x GHz x
    /// 32 FLOP/cycle: one AVX-512 FMA unit per core, 16 lanes x 2 FLOP).
    #[arg(long)]
    peak_gflops: Option<f64>,
}

/// One row: a criterion benchmark, how to turn its median time into a figure.
struct Row {
    what: &'static str,
    /// `group/function` under target/criterion.
    id: &'static str,
    /// Items processed per iteration (figure = items / seconds), or None for ms per iteration.
    items: Option<f64>,
    unit: &'static str,
    reference: Option<f64>,
    target: Option<(f64, bool)>,
}

const ROWS: &[Row] = &[
    Row {
        what: "NB201 training (paper model, batch 8, twins)",
        id: "nb201/train_80_cells_batch_8",
        items: Some(80.0),
        unit: "samples/s",
        reference: Some(31.0),
        target: Some((155.0, true)),
    },
    Row {
        what: "NB201 scoring, all 15,625 cells",
        id: "nb201/score_15625_cells",
        items: Some(15_625.0),
        unit: "cells/s",
        reference: Some(1_430.0),
        target: Some((15_000.0, true)),
    },
    Row {
        what: "whole-network training, 60 nodes, batch 16",
        id: "network_train/60_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        reference: None,
        target: None,
    },
    Row {
        what: "whole-network training, 120 nodes, batch 16",
        id: "network_train/120_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        reference: Some(60.0),
        target: Some((300.0, true)),
    },
    Row {
        what: "whole-network training, 250 nodes, batch 16",
        id: "network_train/250_nodes_32_graphs_batch_16",
        items: Some(32.0),
        unit: "graphs/s",
        reference: Some(31.0),
        target: Some((155.0, true)),
    },
    Row {
        what: "one 120-node graph, model only",
        id: "network_predict/120_nodes_one_graph",
        items: None,
        unit: "ms",
        reference: Some(4.8),
        target: None,
    },
    Row {
        what: "one 250-node graph, model only",
        id: "network_predict/250_nodes_one_graph",
        items: None,
        unit: "ms",
        reference: Some(8.2),
        target: None,
    },
    Row {
        what: "predict ResNet-18 ONNX end to end",
        id: "predict_onnx/resnet18_end_to_end",
        items: None,
        unit: "ms",
        reference: Some(4.8),
        target: Some((3.0, false)),
    },
    Row {
        what: "tokenizer, 120-node network",
        id: "tokenize/network_120_nodes",
        items: Some(1.0),
        unit: "graphs/s",
        reference: None,
        target: None,
    },
];

pub fn run(args: BenchArgs) -> Result<()> {
    if !args.no_run {
        let mut bench = cargo();
        bench.args([
            "bench",
            "--package",
            "trainer",
            "--bench",
            "throughput",
            "--bench",
            "predict_onnx",
        ]);
        run_command(bench)?;
    }
    let criterion = workspace_root().join("target/criterion");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ghz = cpu_ghz().unwrap_or(2.5);
    let peak = args.peak_gflops.unwrap_or(cores * ghz * 32.0);
    println!("| figure | this machine | reference (PyTorch) | ratio | target |");
    println!("|---|---|---|---|---|");
    let mut nb201_rate = None;
    for row in ROWS {
        let Some(seconds) = median_seconds(&criterion, row.id)? else {
            println!("| {} | not run | | | |", row.what);
            continue;
        };
        let value = row.items.map_or(seconds * 1e3, |n| n / seconds);
        if row.id.starts_with("nb201/train") {
            nb201_rate = Some(value);
        }
        let ratio = row.reference.map_or(String::new(), |r| {
            let x = if row.items.is_some() {
                value / r
            } else {
                r / value
            };
            format!("{x:.2}x")
        });
        let target = row.target.map_or(String::new(), |(t, at_least)| {
            let met = if at_least { value >= t } else { value <= t };
            format!(
                "{} {t} {}: {}",
                if at_least { ">=" } else { "<=" },
                row.unit,
                if met { "met" } else { "missed" }
            )
        });
        println!(
            "| {} | {} {} | {} | {ratio} | {target} |",
            row.what,
            fmt(value),
            row.unit,
            row.reference
                .map_or(String::new(), |r| format!("{} {}", fmt(r), row.unit)),
        );
    }
    if let (Some(rate), Some(flops)) = (nb201_rate, nb201_training_flops(&criterion)?) {
        let achieved = rate * flops / 1e9;
        println!(
            "\nNB201 training step: {:.2} GFLOP per sample (forward of cell and twin, x3 for backward), \
             {achieved:.1} GFLOP/s = {:.1}% of an assumed peak of {peak:.0} GFLOP/s \
             ({cores} cores x {ghz:.2} GHz x 32 fp32 FLOP/cycle; --peak-gflops to change)",
            flops / 1e9,
            100.0 * achieved / peak
        );
    }
    Ok(())
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
    let path = criterion.join(id).join("new/estimates.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(value["median"]["point_estimate"]
        .as_f64()
        .map(|ns| ns / 1e9))
}

/// FLOPs of one NB201 training sample, written by the throughput bench.
fn nb201_training_flops(criterion: &Path) -> Result<Option<f64>> {
    let path = criterion.join("narformer-flops.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(value["nb201_train_flops_per_sample"].as_f64())
}

/// The nominal clock from /proc/cpuinfo's model name (`... @ 2.50GHz`).
fn cpu_ghz() -> Option<f64> {
    let name = sysio::machine::cpu_model()?;
    let at = name.rsplit('@').next()?.trim();
    at.strip_suffix("GHz")?.trim().parse().ok()
}
