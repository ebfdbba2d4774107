//! The data-directory flags every data-reading command shares, and the
//! benchmark files each benchmark reads.

use anyhow::{Result, bail};
use clap::Args;
use datasets::BadRows;
use std::io::IsTerminal;
use std::path::PathBuf;
use trainer::Benchmark;

#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Benchmark data directory (else $NARFORMER_DATA, else ./data); for nnlqp,
    /// the dataset root holding gt.txt or gt_stage.txt.
    #[arg(long, alias = "dataset-dir")]
    pub data_dir: Option<PathBuf>,
    /// Cache of tokenised ONNX graphs (nnlqp; else $NARFORMER_CACHE, else ./.narformer-cache).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Skip malformed rows of the benchmark file (each is reported, with a count)
    /// instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
}

impl DataDirArg {
    pub fn resolve(&self) -> Result<PathBuf> {
        Ok(datasets::data_dir::resolve(self.data_dir.as_deref())?)
    }

    /// Resolves the data directory for a command that reads `files`. The default
    /// `data/` gets what it lacks fetched (first use on a fresh machine: a
    /// download, or `$NARFORMER_MIRROR`); a directory named by the flag or
    /// `NARFORMER_DATA` is never written to, and one lacking a file is an error
    /// giving the command that fetches it.
    pub fn resolve_for(&self, files: &[&str]) -> Result<PathBuf> {
        let flag = self.data_dir.as_deref();
        if datasets::data_dir::is_default(flag) {
            let dir = datasets::data_dir::choose(flag);
            fetch::ensure(&dir, files, std::io::stderr().is_terminal(), &mut |line| {
                eprintln!("{line}")
            })?;
        }
        let dir = self.resolve()?;
        let missing = fetch::missing(&dir, files)?;
        if !missing.is_empty() {
            bail!(
                "{} has no {}: `cargo xtask data --only {} --data-dir {}` fetches it (docs/DATA.md)",
                dir.display(),
                files
                    .iter()
                    .filter(|f| !dir.join(f).exists())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                missing.join(","),
                dir.display()
            );
        }
        Ok(dir)
    }

    pub fn bad_rows(&self) -> BadRows {
        if self.skip_bad {
            BadRows::Skip
        } else {
            BadRows::Fail
        }
    }
}

/// The benchmark files a cell or NB201-latency run reads (nnlqp brings its own).
pub fn benchmark_files(benchmark: Benchmark) -> &'static [&'static str] {
    match benchmark {
        Benchmark::Nb201 => &[datasets::nb201::NB201_FILE],
        Benchmark::Nb101 => &[datasets::nb101::NB101_FILE],
        Benchmark::Nb201Latency => &[datasets::nb201_latency::NB201_LATENCY_FILE],
        Benchmark::Nnlqp => &[],
    }
}
