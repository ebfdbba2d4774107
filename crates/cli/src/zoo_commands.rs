//! `narformer zoo generate` and `narformer measure`: make a model zoo and
//! measure it on this machine.

use crate::zoo_compare;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use onnx_io::Weights;
use std::path::PathBuf;
use zoo::{Family, Manifest};

#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// Generate models of the given families: writes DIR/zoo.json and the
    /// ONNX files (stripped weights by default; `measure` regenerates real ones).
    Generate(GenerateArgs),
    /// List the families.
    Families,
    /// Repeatability: how far a second measurement of the same models (a
    /// measured directory's gt.txt) is from the first, per engine setting.
    Compare(zoo_compare::CompareArgs),
    /// Copy a seeded subset of a zoo's manifest into a new directory, to
    /// measure the same models again.
    Sample(zoo_compare::SampleArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Families, comma-separated (default: all eleven).
    #[arg(long, value_delimiter = ',')]
    families: Option<Vec<Family>>,
    #[arg(long, default_value_t = 200)]
    per_family: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// ONNX weights: stripped (small files), random (runnable), or none (manifest only).
    #[arg(long, default_value = "stripped")]
    weights: String,
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// A directory from `zoo generate`, or any directory of .onnx files.
    dir: PathBuf,
    /// Inference engine: tract (built in) or ort (ONNX Runtime, its library
    /// opened at run time; `cargo xtask ort` sets it up).
    #[arg(long, default_value = "tract")]
    engine: measure::EngineKind,
    /// The ONNX Runtime library file (default: $ORT_DYLIB_PATH, then
    /// target/onnxruntime-<version>/ beside this binary).
    #[arg(long)]
    ort_library: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed runs per attempt, at most.
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Timed runs per attempt, at least (slow models stop here once --budget-ms is spent).
    #[arg(long, default_value_t = 5)]
    min_repeats: usize,
    #[arg(long, default_value_t = 1500.0)]
    budget_ms: f64,
    /// Re-measure a model whose interquartile range exceeds this fraction of its median.
    #[arg(long, default_value_t = 0.05)]
    max_spread: f64,
    #[arg(long, default_value_t = 3)]
    attempts: usize,
    /// Seed of the shuffled measurement order.
    #[arg(long, default_value_t = 0)]
    order_seed: u64,
    /// Passes over all models (each a fresh load, in its own order); the
    /// label is the median of the fastest pass.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// A timing during which other processes used more than this many cores
    /// (or the hypervisor stole over 5% of the time) is taken again.
    #[arg(long, default_value_t = 0.25)]
    max_other_cores: f64,
    /// How many times a busy timing is taken again before it is kept, marked busy.
    #[arg(long, default_value_t = 3)]
    busy_retries: usize,
    /// Shapes of the files' inputs (zoo models have theirs).
    #[command(flatten)]
    shapes: crate::input_shapes::InputShapeArgs,
}

pub fn zoo(command: ZooCommand) -> Result<()> {
    match command {
        ZooCommand::Families => {
            for f in Family::ALL {
                let [_, c, h, w] = f.input_shape();
                println!("{f}\t{c}x{h}x{w}");
            }
            Ok(())
        }
        ZooCommand::Generate(args) => generate(args),
        ZooCommand::Compare(args) => zoo_compare::compare(args),
        ZooCommand::Sample(args) => zoo_compare::sample(args),
    }
}

fn generate(args: GenerateArgs) -> Result<()> {
    let families = args.families.unwrap_or_else(|| Family::ALL.to_vec());
    let weights = match args.weights.as_str() {
        "stripped" => Some(Weights::Stripped),
        "random" => Some(Weights::Random { seed: args.seed }),
        "none" => None,
        other => bail!("--weights must be stripped, random or none, not '{other}'"),
    };
    let manifest = Manifest::new(&families, args.per_family, args.seed);
    let bar = bar(manifest.models.len() as u64, "models written");
    manifest.write(&args.out, weights, |e| {
        bar.set_message(e.name.clone());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    println!(
        "{} models of {} families -> {}",
        manifest.models.len(),
        families.len(),
        args.out.join(zoo::MANIFEST).display()
    );
    Ok(())
}

pub fn measure(args: MeasureArgs) -> Result<()> {
    let protocol = measure::Protocol {
        threads: args.threads,
        warmup: args.warmup,
        repeats: args.repeats,
        min_repeats: args.min_repeats.min(args.repeats).max(1),
        budget_ms: args.budget_ms,
        max_spread: args.max_spread,
        attempts: args.attempts,
        order_seed: args.order_seed,
        passes: args.passes,
        max_other_cores: args.max_other_cores,
        busy_retries: args.busy_retries,
    };
    let engine = measure::open_engine(args.engine, args.threads, args.ort_library.as_deref())?;
    let mut bar: Option<ProgressBar> = None;
    let options = args.shapes.options()?;
    let meta = measure::measure_dir(
        &args.dir,
        engine.as_ref(),
        &protocol,
        &options,
        |record, done, total| {
            let bar = bar.get_or_insert_with(|| bar_new(total as u64));
            let what = match &record.outcome {
                measure::Outcome::Ok(t) => format!("{} {:.2} ms", record.name, t.median_ms),
                measure::Outcome::Failed { error } => {
                    bar.println(format!("failed: {}: {error}", record.name));
                    format!("{} failed", record.name)
                }
            };
            bar.set_message(what);
            bar.set_position(done as u64);
        },
    )
    .with_context(|| format!("measuring {}", args.dir.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "{} {} on {} ({} threads): {} measured, {} failed, {} unstable (spread > {}), {} retried and {} still busy -> {}",
        meta.engine,
        meta.engine_version,
        meta.cpu_model,
        meta.protocol.threads,
        meta.measured,
        meta.failed,
        meta.unstable,
        protocol.max_spread,
        meta.busy_retried,
        meta.busy,
        args.dir.join("gt.txt").display()
    );
    Ok(())
}

fn bar_new(len: u64) -> ProgressBar {
    bar(len, "models")
}

fn bar(len: u64, unit: &str) -> ProgressBar {
    sysio::progress_bar(len, unit, true)
}
