//! `narformer predict`: latency of ONNX models with a whole-network run or the
//! predictors bundled into the binary (no `--run`), or a ranking of cells with
//! a cell run.

use crate::input_shapes::InputShapeArgs;
use crate::predict_latency;
use anyhow::{Context, Result, bail};
use clap::Args;
use graph_ir::cells::Nb201Cell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use trainer::LoadedRun;
use trainer::nb201_latency::{LatencyRun, SETTINGS_FILE};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A run directory written by `narformer train`. Without it, ONNX models
    /// are scored by every predictor bundled into this binary (`narformer
    /// predictors` lists them), or those named by --predictor.
    #[arg(long)]
    run: Option<PathBuf>,
    /// A bundled predictor to use instead of a run (repeatable): its id, as
    /// `narformer predictors` lists it (`cpu-ort-1t`).
    #[arg(long, conflicts_with = "run")]
    predictor: Vec<String>,
    /// nnlqp runs: ONNX files or directories (searched for *.onnx). Cell runs: a
    /// file with one architecture per line (NB201: a cell string; NB101:
    /// `<adjacency 0/1 row-major> <ops |-separated>`); `-` or nothing reads stdin.
    inputs: Vec<PathBuf>,
    /// nnlqp runs: the models' batch size and input shapes.
    #[command(flatten)]
    shapes: InputShapeArgs,
    /// nnlqp runs: one JSON object per model instead of text.
    #[arg(long)]
    json: bool,
    /// nb201-latency runs: the device setting to predict (one the run was
    /// trained on or transferred to; an unknown name lists them).
    #[arg(long)]
    setting: Option<String>,
}

pub fn predict(args: PredictArgs, device: &burn::prelude::Device) -> Result<()> {
    let onnx = predict_latency::OnnxArgs {
        inputs: &args.inputs,
        shapes: &args.shapes,
        json: args.json,
        predictors: &args.predictor,
    };
    let Some(run_dir) = &args.run else {
        return predict_latency::predict_bundled(&onnx, device);
    };
    if run_dir.join(SETTINGS_FILE).is_file() {
        return predict_nb201_latency(run_dir, &args, device);
    }
    let run = LoadedRun::open(run_dir, device)?;
    if run.config.benchmark.is_latency() {
        let scorer = predict_latency::Scorer {
            id: None,
            run,
            scale: None,
        };
        return predict_latency::predict_latency(&[scorer], &onnx);
    }
    let mut cells = Vec::new();
    for_each_line(&args.inputs, |text, at| {
        let graph = run.config.benchmark.parse_cell(text).context(at)?;
        cells.push((text.to_string(), graph));
        Ok(())
    })?;
    let scores = run.predict(&cells)?;
    let mut ranked: Vec<(f64, &str)> = scores
        .iter()
        .copied()
        .zip(cells.iter().map(|c| c.0.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (rank, (score, arch)) in ranked.iter().enumerate() {
        println!("{}\t{score:.5}\t{arch}", rank + 1);
    }
    Ok(())
}

/// Latency (ms) of NAS-Bench-201 cells' whole networks on one setting of
/// an nb201-latency run, one `latency<TAB>cell` line each, in input order.
fn predict_nb201_latency(
    run_dir: &std::path::Path,
    args: &PredictArgs,
    device: &burn::prelude::Device,
) -> Result<()> {
    let run = LatencyRun::open(run_dir, device)?;
    let Some(setting) = &args.setting else {
        bail!(
            "{} predicts latency on several device settings: name one with --setting ({})",
            run_dir.display(),
            run.trained_names().join(", ")
        );
    };
    run.setting(setting)?;
    let mut cells = Vec::new();
    for_each_line(&args.inputs, |text, at| {
        cells.push(text.parse::<Nb201Cell>().context(at)?);
        Ok(())
    })?;
    let latency = run.predict(&cells, setting, device)?;
    for (cell, ms) in cells.iter().zip(latency) {
        println!("{ms:.4}\t{cell}");
    }
    Ok(())
}

/// Calls `f` with every non-empty, non-comment line of the one input file (or
/// stdin) and its `file:line`.
fn for_each_line(inputs: &[PathBuf], mut f: impl FnMut(&str, String) -> Result<()>) -> Result<()> {
    if inputs.len() > 1 {
        bail!("a cell run reads one file of architectures (or stdin)");
    }
    let (reader, source): (Box<dyn BufRead>, String) = match inputs.first() {
        Some(path) if path.as_os_str() != "-" => (
            Box::new(BufReader::new(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            )),
            path.display().to_string(),
        ),
        _ => (
            Box::new(BufReader::new(std::io::stdin())),
            "<stdin>".to_string(),
        ),
    };
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{source}:{}: cannot read", number + 1))?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        f(text, format!("{source}:{}", number + 1))?;
    }
    Ok(())
}
