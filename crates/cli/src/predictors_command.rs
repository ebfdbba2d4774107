//! `narformer predictors`: list the latency predictors compiled into this
//! binary, or (`bundle`) train them from a measured zoo into
//! `data/predictors/<platform>/`, each with its card.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use trainer::{Experiment, Profile, TrainingConfig};

#[derive(Debug, Args)]
pub struct PredictorsArgs {
    #[command(subcommand)]
    command: Option<PredictorsCommand>,
}

#[derive(Debug, Subcommand)]
enum PredictorsCommand {
    /// Train the bundled predictors: for each engine setting of a measured zoo,
    /// V2 with the additive readout on the in-domain split (the last tenth of
    /// each family held out for the card's test scores). Rebuild narformer
    /// afterwards to compile them in.
    Bundle(BundleArgs),
}

#[derive(Debug, Args)]
struct BundleArgs {
    /// The measured zoo (gt.txt, zoo.json, metadata-<platform>.json).
    #[arg(long, default_value = "data/zoo")]
    data: PathBuf,
    /// Engine settings to train (default: every one in gt.txt).
    #[arg(long)]
    platform: Vec<String>,
    /// Where each predictor's directory goes.
    #[arg(long, default_value = "data/predictors")]
    out: PathBuf,
    /// The readout: residual (each node corrects its kernel-level baseline
    /// cost; generalises best to unseen families) or additive.
    #[arg(long, default_value = "residual")]
    readout: model::Readout,
    /// Override the profile's epochs (quick profile: 40).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn predictors(args: PredictorsArgs, device: &burn::prelude::Device) -> Result<()> {
    match args.command {
        None => list(device),
        Some(PredictorsCommand::Bundle(args)) => bundle(args, device),
    }
}

fn list(device: &burn::prelude::Device) -> Result<()> {
    let all = predictors::all()?;
    if all.is_empty() {
        println!("no predictor is compiled into this build (see `narformer predictors bundle`)");
        return Ok(());
    }
    println!(
        "id\tmodel\tdevice\tengine\tthreads\tdataset\ttest MAPE %\ttest Acc(10%) %\tformat\ttrained with"
    );
    for p in all {
        let c = &p.card;
        let format = match (p.load(device), p.format_version()) {
            (Ok(_), Some(version)) => format!("v{version}"),
            (Ok(_), None) => "?".to_string(),
            (Err(e), _) => format!("cannot load: {e}"),
        };
        println!(
            "{}\t{}\t{}\t{} {} ({})\t{}\t{}\t{:.2} (n={})\t{:.1}\t{format}\t{}",
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

fn bundle(args: BundleArgs, device: &burn::prelude::Device) -> Result<()> {
    let labels = datasets::nnlqp::read_labels(&args.data.join("gt.txt"), datasets::BadRows::Fail)?;
    let platforms = if args.platform.is_empty() {
        labels.platforms()
    } else {
        args.platform.clone()
    };
    if platforms.is_empty() {
        bail!("{}: no engine setting to train on", args.data.display());
    }
    for platform in platforms {
        let metadata = measure::read_metadata(&args.data, &platform)?;
        let base = TrainingConfig::log_latency(
            Profile::Quick,
            trainer::Benchmark::Nnlqp,
            tokenizer::NetworkVocab::Extended,
        );
        let mut config = match args.readout {
            model::Readout::Residual => base.residual(),
            model::Readout::Additive => base.additive(),
            model::Readout::Sum => bail!("bundled predictors use --readout residual or additive"),
        };
        config.seed = args.seed;
        if let Some(network) = config.network.as_mut() {
            network.platform = Some(platform.clone());
        }
        if let Some(epochs) = args.epochs {
            config.epochs = epochs;
        }
        let run_dir = args.out.join(&platform);
        let experiment = Experiment {
            config,
            data_dir: args.data.clone(),
            run_dir: run_dir.clone(),
            show_progress: true,
            stop_after_epoch: None,
            bad_rows: datasets::BadRows::Fail,
            cache_dir: None,
        };
        let report = experiment.run(device)?;
        let families = labels.families().len();
        let card = predictors::Card {
            platform: platform.clone(),
            device: metadata.cpu_model.clone(),
            engine: metadata.engine.clone(),
            engine_version: metadata.engine_version.clone(),
            optimization: metadata.optimization.clone().unwrap_or_else(|| "-".into()),
            threads: metadata.protocol.threads,
            dataset: format!(
                "{}: {} models of {families} families",
                args.data.display(),
                report.n_train + report.n_val + report.n_test
            ),
            test_split: "in domain: the last tenth of each family's models (by name)".into(),
            test: test_scores(&run_dir.join(trainer::run_dir::PREDICTIONS_FILE))?,
            label_repeatability: metadata
                .repeatability
                .as_ref()
                .map(|r| r.median_relative_difference),
            model: format!("V2, {} readout", args.readout),
            trained_with: format!(
                "narformer predictors bundle --data {} --platform {platform} --readout {} --seed {}{}",
                args.data.display(),
                args.readout,
                args.seed,
                args.epochs
                    .map(|e| format!(" --epochs {e}"))
                    .unwrap_or_default()
            ),
        };
        let card_path = run_dir.join(predictors::CARD_FILE);
        sysio::write_json(&card_path, &card)
            .with_context(|| format!("writing {}", card_path.display()))?;
        println!(
            "{platform}: test MAPE {:.2}%, Acc(10%) {:.1}% on {} networks -> {}",
            card.test.mape,
            100.0 * card.test.acc10,
            card.test.n,
            run_dir.display()
        );
    }
    Ok(())
}

/// Scores of a run's `test_predictions.csv` (`...,label,prediction` rows).
fn test_scores(path: &std::path::Path) -> Result<trainer::metrics::LatencyScores> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut predictions = Vec::new();
    let mut labels = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let mut fields = line.rsplit(',');
        let parsed = (fields.next(), fields.next());
        let (Some(Ok(prediction)), Some(Ok(label))) = (
            parsed.0.map(str::parse::<f64>),
            parsed.1.map(str::parse::<f64>),
        ) else {
            bail!(
                "{}:{}: not a `...,label,prediction` row",
                path.display(),
                number + 1
            );
        };
        predictions.push(prediction);
        labels.push(label);
    }
    Ok(trainer::metrics::LatencyScores::of(&predictions, &labels))
}
