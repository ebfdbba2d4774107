//! `narformer predictors bundle`: train the bundled predictors from a measured
//! zoo into `data/predictors/<platform>/` and write each one's card: what it
//! was measured on, its test scores, and the reference models a machine
//! measures to calibrate it ([`predictors::calibration`]).

use anyhow::{Context, Result, bail};
use clap::Args;
use datasets::nnlqp::{LabelFile, LatencyRow};
use std::path::{Path, PathBuf};
use trainer::{Experiment, Profile, TrainingConfig};

#[derive(Debug, Args)]
pub struct BundleArgs {
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
    /// Rewrite each predictor's card.json (test scores, reference models)
    /// from its existing run directory and the zoo, without training.
    #[arg(long)]
    card_only: bool,
}
pub fn bundle(args: BundleArgs, device: &burn::prelude::Device) -> Result<()> {
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
        let run_dir = args.out.join(&platform);
        let (model, trained_with) = if args.card_only {
            let path = run_dir.join(predictors::CARD_FILE);
            let old: predictors::Card = sysio::read_json(&path)?;
            (old.model, old.trained_with)
        } else {
            train(&args, &platform, &run_dir, device)?
        };
        let card = card(
            &args.data,
            &labels,
            &platform,
            &run_dir,
            model,
            trained_with,
        )?;
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

/// Trains `platform`'s predictor into `run_dir`; returns its model's name and
/// the command that trained it.
fn train(
    args: &BundleArgs,
    platform: &str,
    run_dir: &Path,
    device: &burn::prelude::Device,
) -> Result<(String, String)> {
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
        network.platform = Some(platform.to_string());
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    let experiment = Experiment {
        config,
        data_dir: args.data.clone(),
        run_dir: run_dir.to_path_buf(),
        show_progress: true,
        stop_after_epoch: None,
        bad_rows: datasets::BadRows::Fail,
        cache_dir: None,
    };
    experiment.run(device)?;
    Ok((
        format!("V2, {} readout", args.readout),
        format!(
            "narformer predictors bundle --data {} --platform {platform} --readout {} --seed {}{}",
            args.data.display(),
            args.readout,
            args.seed,
            args.epochs
                .map(|e| format!(" --epochs {e}"))
                .unwrap_or_default()
        ),
    ))
}

/// The card of `platform`'s predictor trained in `run_dir` on the zoo in `data`.
fn card(
    data: &Path,
    labels: &LabelFile,
    platform: &str,
    run_dir: &Path,
    model: String,
    trained_with: String,
) -> Result<predictors::Card> {
    let metadata = measure::read_metadata(data, platform)?;
    let rows: Vec<&LatencyRow> = labels
        .rows
        .iter()
        .filter(|r| r.platform == platform)
        .collect();
    Ok(predictors::Card {
        platform: platform.to_string(),
        device: metadata.cpu_model.clone(),
        engine: metadata.engine.clone(),
        engine_version: metadata.engine_version.clone(),
        optimization: metadata.optimization.clone().unwrap_or_else(|| "-".into()),
        threads: metadata.protocol.threads,
        dataset: format!(
            "{}: {} models of {} families",
            data.display(),
            rows.len(),
            labels.families().len()
        ),
        test_split: "in domain: the last tenth of each family's models (by name)".into(),
        test: crate::predictors_card::test_scores(
            &run_dir.join(trainer::run_dir::PREDICTIONS_FILE),
        )?,
        label_repeatability: metadata
            .repeatability
            .as_ref()
            .map(|r| r.median_relative_difference),
        model,
        trained_with,
        reference: Some(crate::predictors_card::reference(data, &rows)?),
    })
}
