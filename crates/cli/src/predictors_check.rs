//! `narformer predictors check DIR`: each bundled predictor scored against
//! models measured on this machine (`narformer measure DIR`): the rows of its
//! engine setting in `DIR/gt.txt`, one line per model and a summary. It is how a
//! user (and we) learn how far to trust a predictor on models it never saw.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use trainer::metrics::LatencyScores;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A measured directory (`narformer measure DIR --engine ...`): its gt.txt
    /// rows of each predictor's engine setting are the reference.
    dir: PathBuf,
    /// Bundled predictors to check (repeatable; default: every one whose engine
    /// setting DIR was measured with).
    #[arg(long)]
    predictor: Vec<String>,
    /// The shapes the models were measured with (as given to `measure`).
    #[command(flatten)]
    shapes: crate::input_shapes::InputShapeArgs,
}

pub fn check(args: CheckArgs, device: &burn::prelude::Device) -> Result<()> {
    let labels = datasets::nnlqp::read_labels(&args.dir.join("gt.txt"), datasets::BadRows::Fail)?;
    let measured = labels.platforms();
    let chosen = crate::bundled::chosen_predictors(&args.predictor)?;
    let mut out = std::io::stdout().lock();
    let mut checked = 0;
    for predictor in chosen {
        let platform = &predictor.card.platform;
        if !measured.contains(platform) {
            if !args.predictor.is_empty() {
                bail!(
                    "{}: no rows of {platform} (measured: {})",
                    labels.path.display(),
                    measured.join(", ")
                );
            }
            continue;
        }
        if let Ok(metadata) = measure::read_metadata(&args.dir, platform)
            && metadata.cpu_model != predictor.card.device
        {
            eprintln!(
                "warning: {} was measured on {:?}, {} was trained on {:?}: a predictor \
                 answers for the machine its labels came from",
                args.dir.display(),
                metadata.cpu_model,
                predictor.id(),
                predictor.card.device
            );
        }
        let run = predictor.load(device)?;
        let scale = crate::bundled::calibration_here(predictor.id())?.map(|c| c.scale);
        let options = args.shapes.options()?;
        let (mut predicted, mut truth) = (Vec::new(), Vec::new());
        let calibrated = scale.map_or("uncalibrated".to_string(), |s| {
            format!("calibrated x{s:.3}")
        });
        writeln!(
            out,
            "{} ({calibrated}): model\tmeasured ms\tpredicted ms\terror %",
            predictor.id()
        )?;
        let mut raw = Vec::new();
        for row in labels.rows.iter().filter(|r| &r.platform == platform) {
            let path = args.dir.join(&row.onnx_path);
            let input = run
                .tokenize_onnx(&path, &options)
                .with_context(|| format!("{} (gt.txt line {})", path.display(), row.line))?;
            let [uncalibrated] = run.predict_networks(&[input])?[..] else {
                bail!("{}: no prediction", path.display());
            };
            raw.push(uncalibrated);
            let latency = uncalibrated * scale.unwrap_or(1.0);
            let error = 100.0 * (latency - row.latency_ms) / row.latency_ms;
            writeln!(
                out,
                "{}\t{:.3}\t{latency:.3}\t{error:+.1}",
                row.onnx_path.display(),
                row.latency_ms
            )?;
            predicted.push(latency);
            truth.push(row.latency_ms);
        }
        let mut summaries = vec![(calibrated, LatencyScores::of(&predicted, &truth))];
        if scale.is_some() {
            summaries.push(("uncalibrated".into(), LatencyScores::of(&raw, &truth)));
        }
        for (what, s) in summaries {
            writeln!(
                out,
                "{} ({what}): {} models, MAPE {:.2}%, Acc(10%) {:.1}%, Acc(5%) {:.1}%, Spearman {:.3}",
                predictor.id(),
                s.n,
                s.mape,
                100.0 * s.acc10,
                100.0 * s.acc5,
                s.spearman
            )?;
        }
        checked += 1;
    }
    if checked == 0 {
        bail!(
            "{}: measured with {}, and no bundled predictor is for those settings",
            labels.path.display(),
            measured.join(", ")
        );
    }
    Ok(())
}
