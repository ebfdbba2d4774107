//! The zoo table's orchestration: load the measured zoo, run V2, the GNN and
//! the regressions in domain and leave-one-family-out in worker processes, and
//! render.

use super::{Done, Finished, Request, run_in_workers};
use crate::TableError;
use crate::zoo::{self as tz, Job, Scored, ZooProtocol};
use trainer::zoo::ZooData;

pub(super) fn reproduce(request: &Request) -> Result<Done, TableError> {
    let mut protocol = ZooProtocol::for_profile(request.profile);
    if let Some(cap) = request.max_epochs {
        protocol.cap_epochs(cap);
    }
    let data = ZooData::load(&request.data_dir, protocol.vocab)?;
    let jobs = tz::plan(&data.families(), &request.seed_list());
    let work = |worker| {
        tz::run_worker(
            &request.runs_dir,
            &jobs,
            (worker, request.workers),
            &data,
            &protocol,
            request.force,
            &request.device,
        )
    };
    let hash = |job: &Job| tz::job_hash(job, &protocol, &data);
    let Some(Finished {
        stored,
        wall_seconds,
    }) = run_in_workers::<Job, Vec<Scored>>(request, &jobs, hash, work)?
    else {
        return Ok(Done::WorkerFinished);
    };
    let job_seconds = stored.iter().map(|s| s.seconds).sum();
    let dataset = Some(dataset_line(&request.data_dir));
    let provenance = request.provenance(wall_seconds, job_seconds, Vec::new(), dataset);
    request.out_dir_and_stem()?;
    request.write(&tz::render_markdown(&data, &protocol, &stored, &provenance))?;
    Ok(Done::Wrote(request.out.clone()))
}

/// The measurement facts of the zoo's `metadata.json` in one line (`?` for what it lacks).
fn dataset_line(dir: &std::path::Path) -> String {
    let metadata: serde_json::Value =
        sysio::read_json(&dir.join("metadata.json")).unwrap_or_default();
    format!(
        "{} {}, {} thread(s), on {}",
        metadata["engine"].as_str().unwrap_or("?"),
        metadata["engine_version"].as_str().unwrap_or("?"),
        metadata["protocol"]["threads"],
        metadata["cpu_model"].as_str().unwrap_or("?"),
    )
}
