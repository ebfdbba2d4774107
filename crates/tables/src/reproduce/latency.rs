//! The latency table's orchestration: load the NB201 latency table, run the
//! protocol's jobs in worker processes, plot two settings and render.

use super::{Done, Finished, Request, run_in_workers};
use crate::TableError;
use crate::latency::{self as lt, Job, JobResult, PLOTTED, Protocol};
use trainer::nb201_latency::Nb201Networks;

pub(super) fn reproduce(request: &Request) -> Result<Done, TableError> {
    let table = datasets::nb201_latency::load(&request.data_dir)?;
    let data = Nb201Networks::new(table);
    let mut protocol = Protocol::for_profile(request.profile, data.table.settings.len());
    if let Some(cap) = request.max_epochs {
        protocol.cap_epochs(cap);
    }
    let names: Vec<String> = data.table.settings.iter().map(|s| s.name.clone()).collect();
    let jobs = request.keep_only(lt::plan(&names, &request.seed_list()))?;
    let work = |worker| {
        lt::run_worker(
            &request.runs_dir,
            &jobs,
            worker,
            request.workers,
            &data,
            &protocol,
            request.force,
            &request.device,
        )
    };
    let Some(Finished {
        stored,
        wall_seconds,
    }) =
        run_in_workers::<Job, JobResult>(request, &jobs, |job| lt::job_hash(&protocol, job), work)?
    else {
        return Ok(Done::WorkerFinished);
    };
    let (out_dir, stem) = request.out_dir_and_stem()?;
    let mut plots = Vec::new();
    for name in PLOTTED {
        let found = stored.iter().find_map(|s| match (&s.job, &s.result) {
            (Job::Single { setting, seed: 0 }, JobResult::Settings(rs)) if setting == name => {
                rs.first()
            }
            _ => None,
        });
        if let Some(result) = found {
            let file = format!("{stem}-{name}.svg");
            let title = format!(
                "V2 on {name}, seed 0: MAPE {:.2}%, Acc(10%) {:.1}%",
                result.scores.mape,
                100.0 * result.scores.acc10
            );
            let left_out = crate::scatter::draw(
                &result.predictions,
                3000,
                0.0,
                &title,
                "latency (ms)",
                &out_dir.join(&file),
            )?;
            plots.push((
                file,
                format!(
                    "Predicted against measured latency (ms) on {name} of the {} scored test \
                     networks, V2 trained on that setting, seed 0 ({left_out} outside the axes).",
                    result.predictions.len()
                ),
            ));
        }
    }
    let ceilings: Vec<_> = (0..data.table.settings.len())
        .map(|s| lt::repeat_ceiling(&data, s))
        .collect();
    let job_seconds = stored.iter().map(|s| s.seconds).sum();
    let provenance = request.provenance(wall_seconds, job_seconds, plots, None);
    request.write(&lt::render_markdown(
        &data,
        &protocol,
        &stored,
        &ceilings,
        &provenance,
    ))?;
    Ok(Done::Wrote(request.out.clone()))
}
