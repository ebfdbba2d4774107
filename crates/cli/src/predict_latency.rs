//! `narformer predict` on ONNX models: each file imported and tokenised once,
//! scored by a run or by bundled predictors, one line (or JSON object) per
//! model and predictor.

use crate::input_shapes::InputShapeArgs;
use anyhow::{Result, bail};
use std::io::Write;
use std::path::PathBuf;
use trainer::LoadedRun;
use trainer::loaded::NetworkInput;

/// What `predict` was asked about ONNX models.
pub(crate) struct OnnxArgs<'a> {
    pub inputs: &'a [PathBuf],
    pub shapes: &'a InputShapeArgs,
    pub json: bool,
    /// Bundled predictors to use (empty: all).
    pub predictors: &'a [String],
}

/// ONNX models scored by bundled predictors: all, or those `--predictor` names.
pub(crate) fn predict_bundled(args: &OnnxArgs<'_>, device: &burn::prelude::Device) -> Result<()> {
    let chosen = crate::bundled::chosen_predictors(args.predictors)?;
    if chosen.is_empty() {
        bail!(
            "no predictor is bundled into this build: pass --run with a run directory from \
             `narformer train`"
        );
    }
    let mut runs = Vec::with_capacity(chosen.len());
    let mut uncalibrated = Vec::new();
    for p in &chosen {
        let calibration = crate::bundled::calibration_here(p.id())?;
        if calibration.is_none() {
            uncalibrated.push(p);
        }
        runs.push(Scorer {
            id: Some(p.id()),
            run: p.load(device)?,
            scale: calibration.map(|c| c.scale),
        });
    }
    if let Some(note) =
        crate::bundled::other_machine_note(&uncalibrated, &crate::bundled::this_cpu())
    {
        eprintln!("{note}");
    }
    predict_latency(&runs, args)
}

/// A run that scores ONNX models: a bundled predictor's (named by its id) or
/// one from `--run`, with the scale of its calibration on this machine.
pub(crate) struct Scorer<'a> {
    pub id: Option<&'a str>,
    pub run: LoadedRun,
    /// Multiplies every prediction ([`predictors::Calibration`]).
    pub scale: Option<f64>,
}

/// Scores the ONNX files of `args` with each run; a run named by a bundled
/// predictor's id says so in every line.
pub(crate) fn predict_latency(runs: &[Scorer<'_>], args: &OnnxArgs<'_>) -> Result<()> {
    for Scorer { id, run, .. } in runs {
        if !run.config.benchmark.is_latency() {
            bail!(
                "{} predicts cells, not ONNX models",
                id.unwrap_or("this run")
            );
        }
    }
    let mut out = std::io::stdout().lock();
    let files = crate::onnx_files::onnx_files(args.inputs)?;
    let options = args.shapes.options()?;
    // Runs of one token layout share one tokenisation (the bundled predictors do).
    let mut tokenised: Option<(Option<tokenizer::NetworkVocab>, Vec<NetworkInput>, usize)> = None;
    for scorer in runs {
        let run = &scorer.run;
        let vocab = run.config.network.as_ref().map(|n| n.vocab);
        if tokenised.as_ref().is_none_or(|(v, _, _)| *v != vocab) {
            let (inputs, failed) = tokenize_all(run, &files, &options);
            tokenised = Some((vocab, inputs, failed));
        }
        let Some((_, inputs, _)) = &tokenised else {
            continue;
        };
        let scale = scorer.scale.unwrap_or(1.0);
        let latencies: Vec<f64> = run
            .predict_networks(inputs)?
            .into_iter()
            .map(|l| l * scale)
            .collect();
        write_latencies(&mut out, scorer, inputs, &latencies, args)?;
    }
    let failed = tokenised.map_or(0, |(_, _, failed)| failed);
    if failed > 0 {
        bail!("{failed} of {} models could not be read", files.len());
    }
    Ok(())
}

/// Each file imported and tokenised the way `run` was trained; a file that
/// does not import is reported and counted.
fn tokenize_all(
    run: &LoadedRun,
    files: &[PathBuf],
    options: &onnx_io::ImportOptions,
) -> (Vec<NetworkInput>, usize) {
    let mut inputs = Vec::with_capacity(files.len());
    let mut failed = 0;
    for file in files {
        match run.tokenize_onnx(file, options) {
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
    (inputs, failed)
}

fn write_latencies(
    out: &mut impl Write,
    scorer: &Scorer<'_>,
    inputs: &[NetworkInput],
    latencies: &[f64],
    args: &OnnxArgs<'_>,
) -> Result<()> {
    for (input, latency) in inputs.iter().zip(latencies) {
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
                    "predictor": scorer.id,
                    "calibration_scale": scorer.scale,
                })
            )?;
        } else {
            let calibrated = scorer
                .scale
                .map(|s| format!(" (calibrated here: x{s:.3})"))
                .unwrap_or_default();
            match scorer.id {
                Some(id) => writeln!(
                    out,
                    "{latency:.4} ms\t{}\t{id}{calibrated}",
                    input.source.display()
                )?,
                None => writeln!(out, "{latency:.4} ms\t{}", input.source.display())?,
            }
        }
    }
    Ok(())
}
