//! The accuracy table's orchestration: train the planned cell runs as
//! `narformer train` child processes, plot V2 on NB201 at the largest size,
//! and render.

use super::{Done, Request};
use crate::TableError;
use crate::runs::{Outcome, RunSpec, Runner};
use model::Architecture;
use std::path::Path;
use std::time::Instant;
use trainer::Benchmark;

/// Points of the scatter plot (every n-th cell).
const SHOWN: usize = 3000;

pub(super) fn reproduce(request: &Request) -> Result<Done, TableError> {
    let started = Instant::now();
    let root = &request.runs_dir;
    let mut specs = crate::accuracy::plan(request.profile, &request.seed_list(), root);
    if let Some(cap) = request.max_epochs {
        specs = specs
            .into_iter()
            .map(|spec| {
                let mut config = spec.config;
                config.cap_epochs(cap);
                RunSpec::new(root, config)
            })
            .collect();
    }
    let runner = Runner {
        exe: request.exe.clone(),
        data_dir: request.data_dir.clone(),
        jobs: request.workers,
        force: request.force,
        show_progress: request.show_progress,
    };
    eprintln!(
        "{} runs ({} seeds), {} at a time, in {}",
        specs.len(),
        request.seeds,
        request.workers,
        root.display()
    );
    let outcomes = runner.run_all(&specs)?;
    let (out_dir, stem) = request.out_dir_and_stem()?;
    let plots = plot(&outcomes, &out_dir, &stem)?.into_iter().collect();
    let provenance = request.provenance(started.elapsed().as_secs_f64(), 0.0, plots, None);
    request.write(&crate::accuracy::render_markdown(&outcomes, &provenance))?;
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed > 0 {
        return Err(TableError::RunsFailed {
            failed,
            total: outcomes.len(),
        });
    }
    Ok(Done::Wrote(request.out.clone()))
}

/// The plot: V2 on NB201 at the largest size, first seed, if it trained.
fn plot(
    outcomes: &[Outcome],
    out_dir: &Path,
    stem: &str,
) -> Result<Option<(String, String)>, TableError> {
    let largest = Benchmark::Nb201
        .paper_train_sizes()
        .last()
        .copied()
        .unwrap_or_default();
    let plotted = outcomes.iter().find(|o| {
        let c = &o.spec.config;
        c.benchmark == Benchmark::Nb201
            && c.train_size == largest
            && c.model.architecture == Architecture::V2
            && c.seed == 0
            && o.result.is_ok()
    });
    let Some(o) = plotted else { return Ok(None) };
    let name = format!("{stem}-nb201-scatter.svg");
    let points = crate::scatter::read_predictions(&o.spec.dir)?;
    let tau = o
        .result
        .as_ref()
        .map_or(f64::NAN, |r| r.metrics.kendall_tau);
    let title = format!("V2, NAS-Bench-201, {largest} training cells, seed 0: tau {tau:.3}");
    // The lowest 5% of true accuracies (about 4% of cells collapse to 10%) would squeeze
    // everything else into a corner.
    let left_out = crate::scatter::draw(
        &points,
        SHOWN,
        0.05,
        &title,
        "accuracy",
        &out_dir.join(&name),
    )?;
    let what = format!(
        "Predicted against true CIFAR-10 accuracy of the {} test cells of V2 at {largest} \
         training cells, seed 0 (Kendall's tau {tau:.3} on all of them); every {}th cell \
         drawn, less {left_out} that fall outside the axes (which start at the 5th \
         percentile of true accuracy).",
        points.len(),
        points.len().div_ceil(SHOWN)
    );
    Ok(Some((name, what)))
}
