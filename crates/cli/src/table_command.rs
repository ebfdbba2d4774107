//! `narformer reproduce-table`: one call of [`tables::reproduce::reproduce`].

use crate::data_dir::DataDirArg;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use tables::reproduce::{Done, Request, Table};
use trainer::Profile;

#[derive(Debug, Args)]
pub struct TableArgs {
    /// Which table: accuracy (NB201 + NB101 Kendall's tau, V2 and the baselines),
    /// latency (NB201 networks on 27 device settings, transfer, baselines) or
    /// zoo (the measured model zoo in data/zoo: in domain and unseen families).
    table: Table,
    /// Hyper-parameter profile of every run: quick (CPU) or paper.
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// Seeds per table cell (0, 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Runs trained at once (default: the number of cores; each run uses about one).
    #[arg(long)]
    jobs: Option<usize>,
    /// Retrain runs that already finished.
    #[arg(long)]
    force: bool,
    /// Cap every run's epochs (a smoke test of the whole pipeline; the capped
    /// configs hash differently, so they never mix with full runs).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// The zoo and latency tables: just the jobs whose name
    /// (`cpu-ort-1t-v2-additive-vit-s0`, `help-s0`) contains this; repeatable,
    /// a job matching any is kept. The table then shows only what those jobs give.
    #[arg(long)]
    only: Vec<String>,
    /// Where runs live (default: runs/<table>-<profile>).
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    /// The markdown to write, plots beside it (default: docs/results/<table>.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: run as worker K of --jobs (the latency table's child processes).
    #[arg(long, hide = true)]
    worker: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn reproduce_table(args: TableArgs, backend: &str) -> Result<()> {
    if backend != "flex" {
        bail!("reproduce-table trains with the default backend only (got --backend {backend})");
    }
    if !args.only.is_empty() && !matches!(args.table, Table::Zoo | Table::Latency) {
        bail!(
            "--only filters the zoo and latency tables' jobs; {} has none to filter",
            args.table
        );
    }
    let data_dir = match args.table {
        Table::Zoo => args
            .data
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data/zoo")),
        table => args.data.resolve_for(table.data_files())?,
    };
    let request = Request {
        table: args.table,
        profile: args.profile,
        seeds: args.seeds,
        workers: args.jobs.unwrap_or_else(Request::default_workers).max(1),
        force: args.force,
        max_epochs: args.max_epochs,
        only: args.only,
        runs_dir: args
            .runs_dir
            .unwrap_or_else(|| Request::default_runs_dir(args.table, args.profile)),
        out: args.out.unwrap_or_else(|| Request::default_out(args.table)),
        data_dir,
        worker: args.worker,
        show_progress: !args.quiet,
        exe: std::env::current_exe().context("cannot find the narformer binary")?,
        device: burn::prelude::Device::flex(),
    };
    if let Done::Wrote(path) = tables::reproduce::reproduce(&request)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
