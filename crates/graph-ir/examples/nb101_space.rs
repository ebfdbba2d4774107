//! Times the enumeration of the NAS-Bench-101 space and prints what it found:
//! `cargo run --release -p graph-ir --example nb101_space [THREADS] [--list]`.
//! With `--list`, prints `hash adjacency ops` per cell in NB101's first-met order.

use graph_ir::cells::{NB101_SPACE_SIZE, enumerate_nb101};
use std::io::Write;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let start = Instant::now();
    let cells = enumerate_nb101(threads);
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "enumerated {} distinct NAS-Bench-101 cells (expected {NB101_SPACE_SIZE}) in {seconds:.1} s on {threads} thread(s)",
        cells.len()
    );
    if args.iter().any(|a| a == "--list") {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (hash, cell) in &cells {
            writeln!(out, "{hash} {cell}")?;
        }
    }
    Ok(())
}
