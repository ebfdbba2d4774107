//! `narformer predict`: latency of ONNX models with a whole-network run, or a
//! ranking of cells with a cell run.

use crate::input_shapes::InputShapeArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use trainer::LoadedRun;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A run directory written by `narformer train`.
    #[arg(long)]
    run: PathBuf,
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
}

pub fn predict(args: PredictArgs, device: &burn::prelude::Device) -> Result<()> {
    let run = LoadedRun::open(&args.run, device)?;
    if run.config.benchmark.is_latency() {
        return predict_latency(&run, &args);
    }
    if args.inputs.len() > 1 {
        bail!("a cell run reads one file of architectures (or stdin)");
    }
    let (reader, source): (Box<dyn BufRead>, String) = match args.inputs.first() {
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
    let mut cells = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{source}:{}: cannot read", number + 1))?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let graph = run
            .config
            .benchmark
            .parse_cell(text)
            .with_context(|| format!("{source}:{}", number + 1))?;
        cells.push((text.to_string(), graph));
    }
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

/// The ONNX files named on the command line: files as given, directories
/// searched recursively for `*.onnx`, in sorted order.
fn onnx_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "onnx") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("no ONNX files given (name files or directories holding *.onnx)");
    }
    Ok(files)
}

fn predict_latency(run: &LoadedRun, args: &PredictArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let files = onnx_files(&args.inputs)?;
    let options = args.shapes.options()?;
    let mut inputs = Vec::with_capacity(files.len());
    let mut failed = 0;
    for file in &files {
        match run.tokenize_onnx(file, &options) {
            Ok(input) => {
                if !input.unknown_ops.is_empty() {
                    let list: Vec<String> = input
                        .unknown_ops
                        .iter()
                        .map(|(op, n)| format!("{op} x{n}"))
                        .collect();
                    eprintln!(
                        "warning: {}: ops outside the vocabulary: {}",
                        file.display(),
                        list.join(", ")
                    );
                }
                inputs.push(input);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let latencies = run.predict_networks(&inputs)?;
    for (input, latency) in inputs.iter().zip(&latencies) {
        if args.json {
            let unknown: serde_json::Value = serde_json::to_value(&input.unknown_ops)?;
            let shapes: serde_json::Map<String, serde_json::Value> = input
                .inputs
                .iter()
                .map(|i| (i.name.clone(), serde_json::json!(i.shape)))
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "model": input.source.display().to_string(),
                    "latency_ms": latency,
                    "batch_size": args.shapes.batch_size,
                    "batched_inputs": input.batched_inputs,
                    "input_shapes": shapes,
                    "nodes": input.tokens.n,
                    "unknown_ops": unknown,
                })
            )?;
        } else {
            writeln!(out, "{latency:.4} ms\t{}", input.source.display())?;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} models could not be read", files.len());
    }
    Ok(())
}
