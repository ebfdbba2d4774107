//! `narformer transfer`: a predictor for a new device from a few measured
//! networks, on top of a multi-setting `nb201-latency` run.

use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use trainer::nb201_latency::{FineTuning, LatencyRun, MIN_CV_SHOTS, View, transfer};

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The pretrained run: a directory written by `narformer train
    /// --benchmark nb201-latency` (or by an earlier transfer).
    #[arg(long)]
    run: PathBuf,
    /// The new device's measurements: a CSV with the columns
    /// `architecture,latency_ms` (an NAS-Bench-201 cell string and its
    /// latency in ms), at least 3 rows, 10 or more recommended, one in 16 of
    /// them a cell whose output does not depend on the input (no path of
    /// non-`none` edges from node 0 to node 3), so that a device that folds
    /// constants shows it.
    #[arg(long)]
    shots: PathBuf,
    /// The new device setting's name (what `predict --setting` takes).
    #[arg(long)]
    name: String,
    /// Where to write the new run (the pretrained one is left as it is).
    #[arg(long)]
    out: PathBuf,
    /// The batch size the shots were measured at (recorded with the setting).
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Full-batch Adam steps on the shots.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn transfer_command(args: TransferArgs, device: &burn::prelude::Device) -> Result<()> {
    if args.out.join("config.json").exists() {
        bail!(
            "{} already holds a run: give --out a new directory",
            args.out.display()
        );
    }
    let pretrained = LatencyRun::open(&args.run, device)?;
    let shots = datasets::shots::load_nb201(&args.shots)?;
    let constant = shots.iter().filter(|s| !s.cell.reads_input()).count();
    if constant == 0 {
        eprintln!(
            "warning: none of the {} shots is a cell whose output does not depend on the \
             input; if the device folds constants, such networks will be predicted far too \
             slow (measure one, e.g. |nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|)",
            shots.len()
        );
    }
    let tuning = FineTuning {
        steps: args.steps,
        learning_rate: args.learning_rate,
        seed: args.seed,
    };
    let (run, started) = transfer(
        &pretrained,
        &shots,
        &args.shots,
        &args.name,
        args.batch_size,
        tuning,
        device,
    )?;
    run.write(&args.out)?;
    let fit = run
        .settings
        .last()
        .and_then(|s| s.scores)
        .map(|s| {
            format!(
                "fit to the shots: MAPE {:.2}%, Acc(10%) {:.1}%",
                s.mape,
                100.0 * s.acc10
            )
        })
        .unwrap_or_default();
    // Whether the device folds constants decides which graph it is read as.
    let folding = match started.folding {
        Some(f) if started.view == View::Live => format!(
            "; input-independent cells ran {f:.3}x as long as predicted: the device folds \
             constants, so networks are read pruned to what reaches the output"
        ),
        Some(f) => format!("; input-independent cells ran {f:.2}x as long as predicted"),
        None => String::new(),
    };
    // Which model predicts the new device, and why.
    let predictor = match started.cross_validation {
        Some(cv) => format!(
            "; {} predicts it (cross-validated log error on the shots: {:.3} head frozen, {:.3} \
             head tuned, {:.3} additive per-op model)",
            cv.winner(),
            cv.frozen_head,
            cv.tuned_head,
            cv.op_counts
        ),
        None => format!(
            "; fewer than {MIN_CV_SHOTS} of the cells read their input, too few to compare \
             predictors by cross-validation: the transferred model, its head fitted, predicts \
             it (measure more cells to let an additive per-op model compete)"
        ),
    };
    println!(
        "{}: learned from {} measured cells, starting from {} (log-latency correlation {:.3} \
         on the shots){folding}{predictor}; {fit}",
        args.name,
        shots.len(),
        pretrained.settings[started.from].name,
        started.correlation
    );
    println!(
        "run directory: {} (narformer predict --run {} --setting {} CELLS)",
        args.out.display(),
        args.out.display(),
        args.name
    );
    Ok(())
}
