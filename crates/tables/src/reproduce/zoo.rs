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
    let sets = tz::measured_sets(&request.data_dir, protocol.data_vocab())?;
    let jobs = request.keep_only(tz::plan(&sets, &request.seed_list()))?;
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
    let plots = plots(request, &sets, &stored)?;
    let provenance = request.provenance(wall_seconds, job_seconds, plots, dataset);
    request.write(&tz::render_markdown(&sets, &protocol, &stored, &provenance))?;
    Ok(Done::Wrote(request.out.clone()))
}

/// The model the plots show: the one the table is built around.
const PLOTTED: &str = "v2-residual";

/// Per engine setting, predicted against measured latency of [`PLOTTED`],
/// seed 0: in domain, and every family's models predicted with that family
/// held out. Log axes: latencies span three orders of magnitude.
fn plots(
    request: &Request,
    sets: &[Measured],
    stored: &[tz::Stored],
) -> Result<Vec<(String, String)>, TableError> {
    let (out_dir, stem) = request.out_dir_and_stem()?;
    let mut plots = Vec::new();
    for set in sets {
        for in_domain in [true, false] {
            let points: Vec<(f64, f64)> = stored
                .iter()
                .filter(|s| s.job.platform == set.platform && s.job.seed == 0)
                .filter(|s| s.job.held_out.is_none() == in_domain)
                .flat_map(|s| s.result.iter().filter(|r| r.model == PLOTTED))
                .flat_map(|r| r.predictions.iter())
                .filter(|(m, p)| *m > 0.0 && *p > 0.0)
                .map(|(m, p)| (m.log10(), p.log10()))
                .collect();
            if points.is_empty() {
                continue;
            }
            let split = if in_domain {
                "in-domain"
            } else {
                "unseen-family"
            };
            let file = format!("{stem}-{}-{split}.svg", set.platform);
            let what = if in_domain {
                "in domain (each family's last tenth)"
            } else {
                "each family predicted by a model that never saw it"
            };
            let title = format!("{PLOTTED} on {}, {what}, seed 0", set.platform);
            let left_out = crate::scatter::draw(
                &points,
                3000,
                0.0,
                &title,
                "log10 latency (ms)",
                &out_dir.join(&file),
            )?;
            plots.push((
                file,
                format!(
                    "{} `{}`: predicted against measured log10 latency (ms) of {} test networks, \
                     {what}, seed 0 ({left_out} outside the axes).",
                    PLOTTED,
                    set.platform,
                    points.len()
                ),
            ));
        }
    }
    Ok(plots)
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
