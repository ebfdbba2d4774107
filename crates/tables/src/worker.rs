//! The one worker loop of the tables that run as several processes (latency,
//! zoo): each worker takes the jobs that [`assign_costs`] gives it, skips the
//! finished ones, runs the rest in order and reports each as it completes.

use crate::TableError;
use std::time::Instant;

/// Each cost in turn goes to the worker with the lowest load so far (the same
/// answer in every process, so no two workers take one job).
pub(crate) fn assign_costs(costs: impl Iterator<Item = u32>, workers: usize) -> Vec<usize> {
    let workers = workers.max(1);
    let mut load = vec![0u32; workers];
    costs
        .map(|cost| {
            let w = (0..workers).min_by_key(|&w| (load[w], w)).unwrap_or(0);
            load[w] += cost.max(1);
            w
        })
        .collect()
}

/// What the loop needs to know of a table's jobs.
pub trait WorkerJob {
    fn name(&self) -> String;
    /// Rough cost, to give each worker a fair share.
    fn cost(&self) -> u32;
}

/// Runs worker `worker` of `workers`' share of `jobs`: `finished(job)` says
/// whether a stored result can be reused (ignored under `force`); `run(job,
/// seconds_so_far)` runs, stores and summarises one job in a line.
pub(crate) fn run_share<J: WorkerJob>(
    jobs: &[J],
    (worker, workers): (usize, usize),
    force: bool,
    finished: impl Fn(&J) -> bool,
    mut run: impl FnMut(&J) -> Result<String, TableError>,
) -> Result<(), TableError> {
    let owner = assign_costs(jobs.iter().map(WorkerJob::cost), workers);
    let mine: Vec<&J> = jobs
        .iter()
        .zip(&owner)
        .filter(|(_, w)| **w == worker)
        .map(|(j, _)| j)
        .collect();
    let started = Instant::now();
    for (i, job) in mine.iter().enumerate() {
        if !force && finished(job) {
            continue;
        }
        let t = Instant::now();
        eprintln!(
            "[worker {worker}] {}/{} {} ... ({:.0} s so far)",
            i + 1,
            mine.len(),
            job.name(),
            started.elapsed().as_secs_f64()
        );
        let summary = run(job)?;
        eprintln!(
            "[worker {worker}] {} done in {:.0} s: {summary}",
            job.name(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
