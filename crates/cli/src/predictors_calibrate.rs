//! `narformer predictors calibrate`: measure each bundled predictor's
//! reference models (its card's, regenerated from the zoo) with its engine on
//! this machine, and keep the median ratio of measured to labelled latency
//! ([`predictors::Calibration`]); `predict` multiplies by it from then on.

use anyhow::{Context, Result, bail};
use clap::Args;
use predictors::{Calibration, Predictor};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Bundled predictors to calibrate (repeatable; default: every one).
    #[arg(long)]
    predictor: Vec<String>,
    /// The ONNX Runtime library file (default: $ORT_DYLIB_PATH, then
    /// target/onnxruntime-<version>/ beside this binary).
    #[arg(long)]
    ort_library: Option<PathBuf>,
    /// Passes over the reference models; each model's time is its fastest
    /// pass's median, as in `measure`.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Where calibrations are kept (default: $NARFORMER_CALIBRATION_DIR, else
    /// $XDG_CONFIG_HOME/narformer/calibration, else ~/.config/narformer/calibration).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the measured reference models (zoo.json, journal, gt.txt) here
    /// instead of a temporary directory (a killed run resumes from it).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

impl CalibrateArgs {
    /// These arguments but the predictors, as command-line flags.
    fn child_flags(&self) -> Vec<std::ffi::OsString> {
        let mut flags: Vec<std::ffi::OsString> =
            vec!["--passes".into(), self.passes.to_string().into()];
        let paths = [
            ("--ort-library", &self.ort_library),
            ("--dir", &self.dir),
            ("--work-dir", &self.work_dir),
        ];
        for (flag, path) in paths {
            if let Some(path) = path {
                flags.push(flag.into());
                flags.push(path.into());
            }
        }
        flags
    }
}

/// The timing protocol of `data/zoo`'s labels (its metadata files): the
/// reference models are timed as their labels were.
fn label_protocol(threads: usize, passes: usize) -> measure::Protocol {
    measure::Protocol {
        threads,
        warmup: 1,
        repeats: 7,
        min_repeats: 3,
        budget_ms: 800.0,
        max_spread: 0.1,
        attempts: 2,
        passes: passes.max(1),
        ..measure::Protocol::default()
    }
}

pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    let dir = crate::bundled::calibration_dir(args.dir.as_deref())?;
    let chosen = crate::bundled::chosen_predictors(&args.predictor)?;
    if chosen.is_empty() {
        bail!("no predictor is bundled into this build: nothing to calibrate");
    }
    if chosen.len() > 1 {
        // One process per engine: a finished ONNX Runtime session leaves
        // threads behind that slowed tract's timings in the same process by
        // up to 1.5x (measured: x1.19 after ORT, x0.93 alone).
        for predictor in &chosen {
            crate::predictors_calibrate_child::calibrate_in_child(
                predictor.id(),
                &args.child_flags(),
            )?;
        }
        return Ok(());
    }
    for predictor in &chosen {
        let calibration = match &args.work_dir {
            Some(work) => calibrate_one(predictor, &args, &work.join(predictor.id()))?,
            None => {
                let temp = tempfile::tempdir().context("creating a temporary directory")?;
                calibrate_one(predictor, &args, temp.path())?
            }
        };
        let path = calibration.save(&dir)?;
        println!(
            "{}: x{:.3} (ratios' quartiles {:.3}-{:.3}, {} models) -> {}",
            predictor.id(),
            calibration.scale,
            calibration.ratio_quartiles.0,
            calibration.ratio_quartiles.1,
            calibration.models,
            path.display()
        );
    }
    Ok(())
}

/// Measures `predictor`'s reference models in `work` and compares them with
/// their labels.
fn calibrate_one(predictor: &Predictor, args: &CalibrateArgs, work: &Path) -> Result<Calibration> {
    let card = &predictor.card;
    let id = predictor.id();
    let Some(reference) = &card.reference else {
        bail!(
            "{id}: its card names no reference models (a card written before calibration \
             existed: `narformer predictors bundle --card-only`, then rebuild)"
        );
    };
    let cpu = crate::bundled::this_cpu();
    if cpu != card.device {
        eprintln!(
            "warning: {id} was trained on {:?} and this is {cpu:?}: one scale corrects a \
             uniform speed difference, not another CPU's different kernels",
            card.device
        );
    }
    let mut entries = Vec::with_capacity(reference.models.len());
    for m in &reference.models {
        let family: zoo::Family = m
            .family
            .parse()
            .map_err(|e| anyhow::anyhow!("{id}: reference model {}: {e}", m.name))?;
        entries.push(zoo::Entry::of(zoo::ModelId {
            family,
            index: m.index,
            seed: reference.zoo_seed,
        }));
    }
    zoo::Manifest {
        seed: reference.zoo_seed,
        models: entries,
    }
    .write(work, None, |_| {})?;
    let kind: measure::EngineKind = card
        .engine
        .parse()
        .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
    let engine = measure::open_engine(kind, card.threads, args.ort_library.as_deref())?;
    let info = engine.info();
    if info.version != card.engine_version {
        eprintln!(
            "warning: {id}'s labels are {} {}, this is {}: the scale also absorbs the versions' difference",
            card.engine, card.engine_version, info.version
        );
    }
    let protocol = label_protocol(card.threads, args.passes);
    let options = onnx_io::ImportOptions::default();
    eprintln!(
        "{id}: measuring {} reference models with {} {} ({} passes)",
        reference.models.len(),
        card.engine,
        info.version,
        protocol.passes
    );
    measure::measure_dir(work, engine.as_ref(), &protocol, &options, |_, _, _| {})
        .with_context(|| format!("measuring {}", work.display()))?;
    let measured = datasets::nnlqp::read_labels(&work.join("gt.txt"), datasets::BadRows::Fail)?;
    let pairs: Vec<(f64, f64)> = reference
        .models
        .iter()
        .filter_map(|m| {
            let row = measured.rows.iter().find(|r| {
                r.platform == card.platform
                    && r.onnx_path.file_stem().is_some_and(|s| *s == *m.name)
            })?;
            Some((row.latency_ms, m.latency_ms))
        })
        .collect();
    if pairs.len() < reference.models.len() {
        eprintln!(
            "warning: {id}: {} of {} reference models could not be measured (see {})",
            reference.models.len() - pairs.len(),
            reference.models.len(),
            work.display()
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(Calibration::from_pairs(id, &pairs, &cpu, now)?)
}
