//! The zoo table's orchestration: load the measured zoo's labels of every
//! engine setting, run V2, the GNN, the additive baseline and the regressions
//! in domain and leave-one-family-out in worker processes, and render.

use super::{Done, Finished, Request, run_in_workers};
use crate::TableError;
use crate::zoo::{self as tz, Job, Measured, Scored, ZooProtocol};

pub(super) fn reproduce(request: &Request) -> Result<Done, TableError> {
    let mut protocol = ZooProtocol::for_profile(request.profile);
    if let Some(cap) = request.max_epochs {
        protocol.cap_epochs(cap);
    }
    let sets = tz::measured_sets(&request.data_dir, protocol.vocab)?;
    let jobs = tz::plan(&sets, &request.seed_list());
    let work = |worker| {
        tz::run_worker(
            &request.runs_dir,
            &jobs,
            (worker, request.workers),
            &sets,
            &protocol,
            request.force,
            &request.device,
        )
    };
    let hash = |job: &Job| {
        tz::data_of(&sets, job)
            .map(|data| tz::job_hash(job, &protocol, data))
            .unwrap_or_default()
    };
    let Some(Finished {
        stored,
        wall_seconds,
    }) = run_in_workers::<Job, Vec<Scored>>(request, &jobs, hash, work)?
    else {
        return Ok(Done::WorkerFinished);
    };
    let job_seconds = stored.iter().map(|s| s.seconds).sum();
    let dataset = Some(dataset_line(&request.data_dir, &sets));
    let provenance = request.provenance(wall_seconds, job_seconds, Vec::new(), dataset);
    request.out_dir_and_stem()?;
    request.write(&tz::render_markdown(&sets, &protocol, &stored, &provenance))?;
    Ok(Done::Wrote(request.out.clone()))
}

/// The measurement facts of each engine setting's `metadata-<platform>.json`,
/// one line each (`?` for what it lacks).
fn dataset_line(dir: &std::path::Path, sets: &[Measured]) -> String {
    let line = |platform: &str| {
        let metadata: serde_json::Value =
            sysio::read_json(&dir.join(format!("metadata-{platform}.json"))).unwrap_or_default();
        let repeat = &metadata["repeatability"];
        let repeat = match repeat["median_relative_difference"].as_f64() {
            Some(m) => format!(
                "; a second measurement of {} of its models agrees within {:.2}% (median)",
                repeat["models"],
                100.0 * m
            ),
            None => String::new(),
        };
        format!(
            "`{platform}`: {} {} ({} graph optimisation), {} thread(s), {} passes, on {}{repeat}",
            metadata["engine"].as_str().unwrap_or("?"),
            metadata["engine_version"].as_str().unwrap_or("?"),
            metadata["optimization"].as_str().unwrap_or("?"),
            metadata["protocol"]["threads"],
            metadata["protocol"]["passes"],
            metadata["cpu_model"].as_str().unwrap_or("?"),
        )
    };
    sets.iter()
        .map(|s| line(&s.platform))
        .collect::<Vec<_>>()
        .join("; ")
}
