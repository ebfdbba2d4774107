//! `narformer zoo compare` and `narformer zoo sample`: check how well a zoo's
//! labels repeat, by measuring a sample of its models again.

use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use zoo::Manifest;

#[derive(Debug, Args)]
pub struct CompareArgs {
    first: PathBuf,
    second: PathBuf,
    /// The engine setting (PlatformId, e.g. cpu-ort-1t); default: every one measured in both.
    #[arg(long)]
    platform: Option<String>,
    /// Record the result in FIRST's metadata (the labels it checks).
    #[arg(long)]
    record: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A directory with a zoo.json.
    from: PathBuf,
    #[arg(long, default_value_t = 100)]
    models: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

pub fn compare(args: CompareArgs) -> Result<()> {
    let platforms = match args.platform {
        Some(p) => vec![p],
        None => {
            let second = measure::platforms_in(&args.second);
            measure::platforms_in(&args.first)
                .into_iter()
                .filter(|p| second.contains(p))
                .collect()
        }
    };
    if platforms.is_empty() {
        bail!(
            "{} and {} have no engine setting measured in both (no metadata-<platform>.json in common)",
            args.first.display(),
            args.second.display()
        );
    }
    for platform in platforms {
        let r = measure::compare_labels(&args.first, &args.second, &platform)?;
        if r.models == 0 {
            bail!(
                "{} and {} have no model measured in both on {platform}",
                args.first.display(),
                args.second.display()
            );
        }
        println!(
            "{platform}: {} models in both; median relative difference {:.2}%, {:.0}% within 2%, {:.0}% within 5%",
            r.models,
            100.0 * r.median_relative_difference,
            100.0 * r.within_2_percent,
            100.0 * r.within_5_percent
        );
        if args.record {
            let file = args.first.join(measure::metadata_file(&platform));
            let mut meta = measure::read_metadata(&args.first, &platform)?;
            meta.repeatability = Some(r);
            sysio::write_json(&file, &meta)?;
            println!("recorded in {}", file.display());
        }
    }
    Ok(())
}

pub fn sample(args: SampleArgs) -> Result<()> {
    let manifest = Manifest::read(&args.from)?.sample(args.models, args.seed);
    manifest.write(&args.out, None, |_| {})?;
    println!(
        "{} models of {} -> {}",
        manifest.models.len(),
        args.from.display(),
        args.out.join(zoo::MANIFEST).display()
    );
    Ok(())
}
