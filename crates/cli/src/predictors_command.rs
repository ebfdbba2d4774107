//! `narformer predictors`: list the latency predictors compiled into this
//! binary, (`bundle`) train them from a measured zoo into
//! `data/predictors/<platform>/`, each with its card, (`check`) score them
//! against models measured here, or (`calibrate`) fit their scale to this
//! machine.

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct PredictorsArgs {
    #[command(subcommand)]
    command: Option<PredictorsCommand>,
}

#[derive(Debug, Subcommand)]
enum PredictorsCommand {
    /// Train the bundled predictors: for each engine setting of a measured zoo,
    /// V2 with the residual (or additive) readout on the in-domain split (the
    /// last tenth of each family held out for the card's test scores), and
    /// write each card with its reference models. Rebuild narformer afterwards
    /// to compile them in.
    Bundle(crate::predictors_bundle::BundleArgs),
    /// Score the bundled predictors against models measured on this machine
    /// (`narformer measure DIR`): one line per model, then MAPE and Acc(10%).
    Check(crate::predictors_check::CheckArgs),
    /// Measure each bundled predictor's reference models on this machine and
    /// keep the ratio to their labels, which then scales its predictions here
    /// (the machine's state drifts from the one the labels came from).
    Calibrate(crate::predictors_calibrate::CalibrateArgs),
}

pub fn predictors(args: PredictorsArgs, device: &burn::prelude::Device) -> Result<()> {
    match args.command {
        None => list(device),
        Some(PredictorsCommand::Bundle(args)) => crate::predictors_bundle::bundle(args, device),
        Some(PredictorsCommand::Check(args)) => crate::predictors_check::check(args, device),
        Some(PredictorsCommand::Calibrate(args)) => crate::predictors_calibrate::calibrate(args),
    }
}

fn list(device: &burn::prelude::Device) -> Result<()> {
    let all = predictors::all()?;
    if all.is_empty() {
        println!("no predictor is compiled into this build (see `narformer predictors bundle`)");
        return Ok(());
    }
    println!(
        "id\tmodel\tdevice\tengine\tthreads\tdataset\ttest MAPE %\ttest Acc(10%) %\tformat\t\
         calibration here\ttrained with"
    );
    for p in all {
        let c = &p.card;
        let format = match (p.load(device), p.format_version()) {
            (Ok(_), Some(version)) => format!("v{version}"),
            (Ok(_), None) => "?".to_string(),
            (Err(e), _) => format!("cannot load: {e}"),
        };
        let calibration = match crate::bundled::calibration_here(p.id()) {
            Ok(Some(cal)) => format!("x{:.3} ({} models)", cal.scale, cal.models),
            Ok(None) => "none".to_string(),
            Err(e) => format!("unreadable: {e}"),
        };
        println!(
            "{}\t{}\t{}\t{} {} ({})\t{}\t{}\t{:.2} (n={})\t{:.1}\t{format}\t{calibration}\t{}",
            p.id(),
            c.model,
            c.device,
            c.engine,
            c.engine_version,
            c.optimization,
            c.threads,
            c.dataset,
            c.test.mape,
            c.test.n,
            100.0 * c.test.acc10,
            c.trained_with
        );
    }
    Ok(())
}
