//! `cargo xtask onnx-models`: every torchvision classification architecture,
//! exported with random weights at opsets 11 and 17 (`xtask/torchvision_sweep.py`,
//! run with a Python that has torch), imported by `onnx-io`: no op outside the
//! catalogue or the extended-v2 vocabulary, and contraction FLOPs within 2% of
//! PyTorch's FlopCounterMode count. torchvision's published figure stands beside.

use crate::{run_command, workspace_root};
use anyhow::{Context, Result, bail};
use clap::Args;
use onnx_io::{BatchRule, ImportOptions};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokenizer::NetworkVocab;

/// Largest relative gap between our contraction FLOPs and the counted ones.
const TOLERANCE: f64 = 0.02;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// A Python with torch 2.9.0 and torchvision 0.24.0: exports the models
    /// missing from DIR first (resumable). Without it, DIR must hold them.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where the exported models and their manifest.json are.
    #[arg(long, default_value = "target/torchvision-models")]
    dir: PathBuf,
    /// Only the architectures whose names contain one of these.
    #[arg(long)]
    only: Vec<String>,
    /// Write the per-model report as markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

/// One exported model, checked.
struct Row {
    key: String,
    opset: i64,
    input: Vec<usize>,
    /// Why it is not a pass (or why torch could not export it).
    problem: Option<String>,
    export_failed: bool,
    nodes: usize,
    ours: f64,
    counted: f64,
    published: Option<f64>,
}

pub fn run(args: ModelsArgs) -> Result<()> {
    let root = workspace_root();
    let dir = root.join(&args.dir);
    if let Some(python) = &args.python {
        let mut export = Command::new(python);
        export
            .arg(root.join("xtask/torchvision_sweep.py"))
            .arg(&dir)
            .args(&args.only);
        run_command(export)?;
    }
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).with_context(|| {
            format!(
                "cannot read {} (give --python PY to export the models)",
                manifest_path.display()
            )
        })?)
        .with_context(|| format!("{} is not valid JSON", manifest_path.display()))?;
    let models = manifest["models"]
        .as_object()
        .with_context(|| format!("{} has no models", manifest_path.display()))?;
    let rows: Vec<Row> = models
        .iter()
        .filter(|(key, _)| args.only.is_empty() || args.only.iter().any(|o| key.contains(o)))
        .map(|(key, entry)| check(&dir, key, entry))
        .collect();
    for row in &rows {
        println!(
            "{:<28} {:>5} nodes  ours {:>9.3} G  counted {:>9.3} G  {}",
            row.key,
            row.nodes,
            row.ours / 1e9,
            row.counted / 1e9,
            row.problem.as_deref().unwrap_or("ok")
        );
    }
    let failed = rows
        .iter()
        .filter(|r| r.problem.is_some() && !r.export_failed)
        .count();
    let unexported = rows.iter().filter(|r| r.export_failed).count();
    println!(
        "{} models: {} pass, {failed} fail, {unexported} not exportable by torch",
        rows.len(),
        rows.len() - failed - unexported
    );
    if let Some(path) = &args.markdown {
        let md = render_markdown(&rows, &manifest);
        sysio::write_atomic(path, md.as_bytes())?;
        println!("wrote {}", path.display());
    }
    if failed > 0 {
        bail!("{failed} exported models fail the import or FLOPs check");
    }
    Ok(())
}

fn check(dir: &Path, key: &str, entry: &serde_json::Value) -> Row {
    let dims = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_u64())
                    .map(|d| d as usize)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut row = Row {
        key: key.to_string(),
        opset: entry["opset"].as_i64().unwrap_or(0),
        input: dims(&entry["input"]),
        problem: None,
        export_failed: false,
        nodes: 0,
        ours: 0.0,
        counted: entry["multiply_add_flops"].as_f64().unwrap_or(0.0),
        published: entry["published_gmacs"].as_f64().map(|g| 2e9 * g),
    };
    if let Some(error) = entry["export_error"].as_str() {
        row.export_failed = true;
        row.problem = Some(format!(
            "torch cannot export it: {}",
            error.lines().last().unwrap_or(error)
        ));
        return row;
    }
    let Some(file) = entry["file"].as_str() else {
        row.problem = Some("the manifest names no file".into());
        return row;
    };
    let options = ImportOptions {
        batch_rule: BatchRule::Symbolic,
        input_shape: Some(row.input.clone()),
        ..ImportOptions::default()
    };
    let imported = match onnx_io::read_file(&dir.join(file), &options) {
        Ok(imported) => imported,
        Err(e) => {
            row.problem = Some(e.to_string());
            return row;
        }
    };
    row.nodes = imported.graph.len();
    row.ours = graph_ir::contraction_flops(&imported.graph) as f64;
    let unslotted: Vec<&str> = imported
        .graph
        .node_ids()
        .map(|id| &imported.graph.node(id).op)
        .filter(|op| !NetworkVocab::ExtendedV2.knows(op))
        .map(|op| op.name())
        .collect();
    row.problem = if !imported.unknown_ops.is_empty() {
        Some(format!("unknown ops {:?}", imported.unknown_ops))
    } else if !unslotted.is_empty() {
        Some(format!("ops without a vocabulary slot {unslotted:?}"))
    } else if (row.ours / row.counted - 1.0).abs() > TOLERANCE {
        Some(format!(
            "FLOPs {:+.2}% off the count",
            100.0 * (row.ours / row.counted - 1.0)
        ))
    } else {
        None
    };
    row
}

fn percent(ours: f64, reference: f64) -> String {
    format!("{:+.2}%", 100.0 * (ours / reference - 1.0))
}

fn render_markdown(rows: &[Row], manifest: &serde_json::Value) -> String {
    let mut md = String::from(
        "# torchvision architectures through `onnx-io`\n\n\
         Generated by `cargo xtask onnx-models --python PY --markdown docs/onnx-models.md`.\n\n",
    );
    let _ = writeln!(
        md,
        "Every classification architecture of torchvision {} (random weights; torch {}), \
         exported by `xtask/torchvision_sweep.py` with the TorchScript exporter at opsets 11 \
         and 17 at its default weights' crop size, imported with no op outside the catalogue \
         or the extended-v2 vocabulary. **Ours** is the FLOPs of the convolutions and matrix \
         products (`graph_ir::contraction_flops`); **counted** is PyTorch's \
         `torch.utils.flop_counter.FlopCounterMode` on the same module and input (2 per \
         multiply-accumulate); **published** is twice the GFLOPS torchvision publishes for the \
         default weights (`weights.meta[\"_ops\"]`, multiply-accumulates, rounded to 3 \
         digits). Pass: imported, every op known, ours within {:.0}% of counted.\n",
        manifest["torchvision"].as_str().unwrap_or("?"),
        manifest["torch"].as_str().unwrap_or("?"),
        100.0 * TOLERANCE,
    );
    let exportable = rows.iter().filter(|r| !r.export_failed).count();
    let passed = rows.iter().filter(|r| r.problem.is_none()).count();
    let _ = writeln!(
        md,
        "{passed} of {exportable} exported models pass; {} of {} could not be exported by \
         torch at that opset.\n",
        rows.len() - exportable,
        rows.len()
    );
    md.push_str(
        "| model | opset | input | nodes | ours GFLOPs | counted | vs counted | vs published | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let input: Vec<String> = r.input.iter().map(usize::to_string).collect();
        let (ours, vs_counted, vs_published) = if r.nodes == 0 {
            ("".into(), "".into(), "".into())
        } else {
            (
                format!("{:.3}", r.ours / 1e9),
                percent(r.ours, r.counted),
                r.published
                    .map(|p| percent(r.ours, p))
                    .unwrap_or_else(|| "n/a".into()),
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {ours} | {:.3} | {vs_counted} | {vs_published} | {} |",
            r.key.rsplit_once("_op").map_or(r.key.as_str(), |(m, _)| m),
            r.opset,
            input.join("x"),
            r.nodes,
            r.counted / 1e9,
            r.problem.as_deref().unwrap_or("pass").replace('|', "\\|"),
        );
    }
    md
}
