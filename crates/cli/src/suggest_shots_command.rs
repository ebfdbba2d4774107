//! `narformer suggest-shots`: the NAS-Bench-201 networks to measure on a new
//! device before `narformer transfer`: a shots CSV to fill in and each
//! network as a runnable ONNX file.

use anyhow::{Result, bail};
use clap::Args;
use graph_ir::networks::nb201_network;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SuggestShotsArgs {
    /// How many networks to measure (10 to 100; one in 16 is a cell whose
    /// output does not depend on the input, so a device that folds constants shows it).
    #[arg(long, default_value_t = 32)]
    count: usize,
    /// A directory to create: `shots.csv` (architecture, empty latency_ms)
    /// and `onnx/NN.onnx`, the networks in the CSV's order.
    #[arg(long)]
    out: PathBuf,
    /// The batch size of the exported networks.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Which sample of the space.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn suggest_shots(args: SuggestShotsArgs) -> Result<()> {
    if args.count < datasets::shots::MIN_SHOTS {
        bail!(
            "--count {} is too few: transfer needs at least {} measured networks",
            args.count,
            datasets::shots::MIN_SHOTS
        );
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.out.join("shots.csv").exists() {
        bail!(
            "{} already holds a shots.csv: give --out a new directory",
            args.out.display()
        );
    }
    let cells = trainer::nb201_latency::suggest_cells(args.count, args.seed);
    let onnx_dir = args.out.join("onnx");
    std::fs::create_dir_all(&onnx_dir)?;
    let mut csv = String::from("architecture,latency_ms,onnx\n");
    for (i, cell) in cells.iter().enumerate() {
        let file = format!("onnx/{i:03}.onnx");
        let weights = onnx_io::Weights::Random { seed: i as u64 };
        onnx_io::write_file(
            &nb201_network(cell, args.batch_size),
            weights,
            &args.out.join(&file),
        )?;
        csv.push_str(&format!("{cell},,{file}\n"));
    }
    sysio::write_atomic(&args.out.join("shots.csv"), csv.as_bytes())?;
    println!(
        "{} networks in {}: run each ONNX file on the device (batch {}, input 3x32x32), write \
         its latency in ms into the latency_ms column of shots.csv, then: narformer transfer \
         --run RUN --shots {} --name DEVICE --out NEW_RUN",
        cells.len(),
        onnx_dir.display(),
        args.batch_size,
        args.out.join("shots.csv").display()
    );
    Ok(())
}
