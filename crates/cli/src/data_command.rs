//! `narformer data`: fetch, verify and convert the benchmark datasets.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Datasets to get, comma-separated: nb201, nb201-latency, nb101, nnlqp-labels
    /// (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// A local mirror laid out like ../shared/data/originals (repeatable); files it
    /// lacks are downloaded unless --offline.
    #[arg(long = "from")]
    from: Vec<PathBuf>,
    /// Never download: use only --from mirrors (and $NARFORMER_MIRROR).
    #[arg(long)]
    offline: bool,
    /// Replace a present dataset file whose checksum is not a known version.
    #[arg(long)]
    force: bool,
    /// Data directory to write (else $NARFORMER_DATA, else ./data; created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Threads for the NAS-Bench-101 enumeration (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Hide download progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn data(args: DataArgs) -> Result<()> {
    let data_dir = datasets::data_dir::choose(args.data_dir.as_deref());
    let mut mirrors = args.from;
    if let Some(env) = std::env::var_os(fetch::MIRROR_ENV) {
        mirrors.extend(std::env::split_paths(&env));
    }
    let request = fetch::Request {
        data_dir,
        only: args.only,
        sources: fetch::Sources {
            mirrors,
            download: !args.offline,
            progress: !args.quiet,
        },
        force: args.force,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    fetch::run(&request, &mut |line| eprintln!("{line}"))?;
    Ok(())
}
