//! `reproduce-table` as one library call: plan a table's runs, train the
//! missing ones in parallel (reusing finished ones), and write its markdown and
//! plots. The accuracy table trains `narformer train` child processes
//! ([`crate::runs::Runner`]); the latency and zoo tables run their jobs in
//! `narformer reproduce-table --worker K` child processes ([`crate::worker`]).

mod accuracy;
mod latency;
mod zoo;

use crate::TableError;
use crate::stored::{self, Stored};
use crate::worker::WorkerJob;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trainer::Profile;

/// The tables `reproduce-table` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// NB201 + NB101 Kendall's tau of V2 and the baselines.
    Accuracy,
    /// NB201 networks on 27 device settings, transfer, baselines.
    Latency,
    /// The measured model zoo in `data/zoo`: in domain and unseen families.
    Zoo,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Accuracy => "accuracy",
            Table::Latency => "latency",
            Table::Zoo => "zoo",
        }
    }

    /// The benchmark files the table reads from the data directory (the zoo
    /// table reads a measured zoo directory instead).
    pub fn data_files(self) -> &'static [&'static str] {
        match self {
            Table::Accuracy => &[datasets::nb201::NB201_FILE, datasets::nb101::NB101_FILE],
            Table::Latency => &[datasets::nb201_latency::NB201_LATENCY_FILE],
            Table::Zoo => &[],
        }
    }
}

impl std::str::FromStr for Table {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        match s {
            "accuracy" => Ok(Table::Accuracy),
            "latency" => Ok(Table::Latency),
            "zoo" => Ok(Table::Zoo),
            other => Err(TableError::UnknownTable(other.to_string())),
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One `reproduce-table` invocation.
#[derive(Debug, Clone)]
pub struct Request {
    pub table: Table,
    /// Hyper-parameter profile of every run.
    pub profile: Profile,
    /// Seeds per table cell (0, 1, ...).
    pub seeds: u64,
    /// Runs trained at once (worker processes of the latency and zoo tables).
    pub workers: usize,
    /// Retrain runs that already finished.
    pub force: bool,
    /// Cap every run's epochs (the capped configs hash differently).
    pub max_epochs: Option<usize>,
    /// The zoo table only: run and render just the jobs whose name contains
    /// one of these (`v2-additive`, `cpu-ort-1t`, ...); empty: every job.
    pub only: Vec<String>,
    /// Where runs live.
    pub runs_dir: PathBuf,
    /// The markdown to write; plots go beside it.
    pub out: PathBuf,
    /// The benchmark data directory (the zoo table: the measured zoo).
    pub data_dir: PathBuf,
    /// Run as worker K of `workers` (a child process of the latency and zoo tables).
    pub worker: Option<usize>,
    pub show_progress: bool,
    /// The `narformer` binary the child processes run.
    pub exe: PathBuf,
    /// Where the latency and zoo workers train (the accuracy table's runs are
    /// `narformer train` processes on their default device).
    pub device: burn::prelude::Device,
}

impl Request {
    /// The defaults of the command line: `runs/<table>-<profile>` and
    /// `docs/results/<table>.md`, one worker per core.
    pub fn default_runs_dir(table: Table, profile: Profile) -> PathBuf {
        PathBuf::from(format!("runs/{table}-{profile}"))
    }

    pub fn default_out(table: Table) -> PathBuf {
        PathBuf::from(format!("docs/results/{table}.md"))
    }

    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds).collect()
    }

    /// The jobs `--only` keeps: those whose name contains one of its
    /// strings (all of them without `--only`); none is an error.
    fn keep_only<J: WorkerJob>(&self, jobs: Vec<J>) -> Result<Vec<J>, TableError> {
        let kept: Vec<J> = jobs
            .into_iter()
            .filter(|job| {
                let name = job.name();
                self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
            })
            .collect();
        if kept.is_empty() {
            return Err(TableError::NoJobs(self.only.join(", ")));
        }
        Ok(kept)
    }

    /// The command the provenance line gives (with its `--only` filters: a
    /// table of some jobs says which).
    fn command(&self) -> String {
        let mut command = format!(
            "cargo xtask reproduce-table {} --profile {} --seeds {}",
            self.table, self.profile, self.seeds
        );
        for only in &self.only {
            command.push_str(&format!(" --only {only}"));
        }
        command
    }

    /// The markdown's directory, created, and its file stem (plots are named after it).
    fn out_dir_and_stem(&self) -> Result<(PathBuf, String), TableError> {
        let dir = self
            .out
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&dir).map_err(TableError::io(&dir))?;
        let stem = self.out.file_stem().map_or(self.table.name().into(), |s| {
            s.to_string_lossy().into_owned()
        });
        Ok((dir, stem))
    }

    /// The table's provenance: this request's command, seeds and workers, this machine.
    fn provenance(
        &self,
        wall_seconds: f64,
        job_seconds: f64,
        plots: Vec<(String, String)>,
        dataset: Option<String>,
    ) -> crate::Provenance {
        crate::Provenance {
            command: self.command(),
            profile: self.profile,
            seeds: self.seeds as usize,
            workers: self.workers,
            machine: sysio::machine::describe(),
            wall_seconds,
            job_seconds,
            plots,
            dataset,
        }
    }

    fn write(&self, markdown: &str) -> Result<(), TableError> {
        sysio::write_atomic(&self.out, markdown.as_bytes())?;
        Ok(())
    }
}

/// What an invocation did: the markdown it wrote, or nothing (a worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Wrote(PathBuf),
    WorkerFinished,
}

/// Makes the table `request` names.
pub fn reproduce(request: &Request) -> Result<Done, TableError> {
    if request.seeds == 0 {
        return Err(TableError::NoSeeds);
    }
    match request.table {
        Table::Accuracy => accuracy::reproduce(request),
        Table::Latency => latency::reproduce(request),
        Table::Zoo => zoo::reproduce(request),
    }
}

/// Every job's stored result, and the training's wall time from the first
/// result stored to the last.
struct Finished<J, R> {
    stored: Vec<Stored<J, R>>,
    wall_seconds: f64,
}

/// The stored results of a multi-process table, once every job has one:
/// `None` when this process is a worker (it runs its share with `work` and
/// stops); else the workers are started when a job lacks a result, and every
/// job's result is read back. `hash` gives the hash a job's result must carry.
fn run_in_workers<J, R>(
    request: &Request,
    jobs: &[J],
    hash: impl Fn(&J) -> String,
    work: impl FnOnce(usize) -> Result<(), TableError>,
) -> Result<Option<Finished<J, R>>, TableError>
where
    J: WorkerJob + PartialEq + DeserializeOwned,
    R: DeserializeOwned,
{
    let started = Instant::now();
    let root = &request.runs_dir;
    std::fs::create_dir_all(root).map_err(TableError::io(root))?;
    if let Some(worker) = request.worker {
        work(worker)?;
        return Ok(None);
    }
    let missing = jobs
        .iter()
        .filter(|j| request.force || stored::finished::<J, R>(root, j, &hash(j)).is_none())
        .count();
    eprintln!(
        "{} jobs ({} to run, {} seeds) in {} worker processes, results in {}",
        jobs.len(),
        missing,
        request.seeds,
        request.workers,
        root.display()
    );
    if missing > 0 {
        spawn_workers(request)?;
    }
    let results = jobs
        .iter()
        .map(|j| {
            stored::finished(root, j, &hash(j)).ok_or_else(|| TableError::MissingResult {
                job: j.name(),
                root: root.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = jobs.iter().map(WorkerJob::name).collect();
    let wall_seconds = stored::stored_wall_seconds(root, &names)
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    Ok(Some(Finished {
        stored: results,
        wall_seconds,
    }))
}

/// Runs `request.workers` child processes of this table (`--worker K`) and waits for them.
fn spawn_workers(request: &Request) -> Result<(), TableError> {
    let root: &Path = &request.runs_dir;
    let children: Vec<(usize, std::process::Child)> = (0..request.workers)
        .map(|w| {
            let mut cmd = std::process::Command::new(&request.exe);
            cmd.args(["reproduce-table", request.table.name(), "--profile"])
                .arg(request.profile.to_string())
                .args(["--seeds", &request.seeds.to_string()])
                .args(["--jobs", &request.workers.to_string()])
                .args(["--worker", &w.to_string()])
                .arg("--runs-dir")
                .arg(root)
                .arg("--data-dir")
                .arg(&request.data_dir);
            if let Some(cap) = request.max_epochs {
                cmd.args(["--max-epochs", &cap.to_string()]);
            }
            for only in &request.only {
                cmd.args(["--only", only]);
            }
            if request.force {
                cmd.arg("--force");
            }
            cmd.spawn()
                .map_err(|source| TableError::SpawnWorker {
                    worker: w,
                    exe: request.exe.clone(),
                    source,
                })
                .map(|c| (w, c))
        })
        .collect::<Result<_, _>>()?;
    let mut failed = Vec::new();
    for (w, mut child) in children {
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => failed.push(format!("worker {w} ({status})")),
            Err(e) => failed.push(format!("worker {w} ({e})")),
        }
    }
    if !failed.is_empty() {
        return Err(TableError::WorkersFailed {
            failed: failed.join(", "),
            root: root.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_round_trip_and_unknown_ones_are_named() {
        for table in [Table::Accuracy, Table::Latency, Table::Zoo] {
            assert_eq!(table.name().parse::<Table>().unwrap(), table);
        }
        let err = "speed".parse::<Table>().unwrap_err().to_string();
        assert!(err.contains("\"speed\"") && err.contains("accuracy, latency, zoo"));
    }

    fn zoo_request(seeds: u64, only: &[&str]) -> Request {
        Request {
            table: Table::Zoo,
            profile: Profile::Quick,
            seeds,
            workers: 1,
            force: false,
            max_epochs: None,
            only: only.iter().map(|o| o.to_string()).collect(),
            runs_dir: PathBuf::from("/nonexistent/runs"),
            out: PathBuf::from("/nonexistent/zoo.md"),
            data_dir: PathBuf::from("/nonexistent/zoo"),
            worker: None,
            show_progress: false,
            exe: PathBuf::from("/nonexistent/narformer"),
            device: burn::prelude::Device::flex(),
        }
    }

    #[test]
    fn no_seeds_is_an_error_before_any_work() {
        assert!(matches!(
            reproduce(&zoo_request(0, &[])),
            Err(TableError::NoSeeds)
        ));
    }

    #[test]
    fn the_provenance_command_names_the_only_filters() {
        assert_eq!(
            zoo_request(3, &[]).command(),
            "cargo xtask reproduce-table zoo --profile quick --seeds 3"
        );
        assert_eq!(
            zoo_request(3, &["v2-residual", "regression"]).command(),
            "cargo xtask reproduce-table zoo --profile quick --seeds 3 --only v2-residual \
             --only regression"
        );
    }
}
