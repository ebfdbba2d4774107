//! Golden tests of the tables' markdown: each table rendered from a fixed set
//! of synthetic stored results must stay byte-identical, so that moving the
//! table code provably changes no published page. Regenerate deliberately with
//! `UPDATE_GOLDEN=1` and say why in the commit.

use datasets::nb201_latency::{DeviceSetting, LatencyTable};
use graph_ir::cells::Nb201Cell;
use std::path::{Path, PathBuf};
use tables::{Provenance, accuracy, latency, zoo};
use trainer::Profile;
use trainer::metrics::LatencyScores;

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if let Some((i, (e, a))) = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .find(|(_, (e, a))| e != a)
    {
        panic!(
            "{name}: line {} changed:\nexpected {e:?}\n     got {a:?}",
            i + 1
        );
    }
    assert_eq!(expected, actual, "{name}: a line was added or removed");
}

/// A deterministic value in `[lo, hi)` for the `i`-th draw of a stream.
fn draw(stream: u64, i: u64, lo: f64, hi: f64) -> f64 {
    let x = (stream.wrapping_mul(6364136223846793005) ^ i.wrapping_mul(1442695040888963407))
        .wrapping_mul(0x9e3779b97f4a7c15);
    lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
}

fn scores(stream: u64, i: u64) -> LatencyScores {
    LatencyScores {
        n: 100 + i as usize,
        mape: draw(stream, i, 1.0, 40.0),
        acc10: draw(stream, i + 1000, 0.1, 0.99),
        acc5: draw(stream, i + 2000, 0.05, 0.9),
        spearman: draw(stream, i + 3000, 0.5, 1.0),
    }
}

fn stream_of(name: &str) -> u64 {
    name.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
}

fn latency_data() -> trainer::nb201_latency::Nb201Networks {
    let names = [
        "titan_rtx_32",
        "gold_6240",
        "pixel3",
        "raspi4",
        "fpga",
        "eyeriss",
        "1080ti_1",
        "titanx_256",
    ];
    let settings: Vec<DeviceSetting> = names
        .iter()
        .map(|n| DeviceSetting {
            name: n.to_string(),
            batch_size: n
                .rsplit_once('_')
                .and_then(|(_, b)| b.parse().ok())
                .unwrap_or(1),
        })
        .collect();
    let rows = 60;
    let cells: Vec<(usize, Nb201Cell)> = (0..rows)
        .map(|i| (i, Nb201Cell::from_index(i * 257 % Nb201Cell::COUNT)))
        .collect();
    let latency_ms = (0..rows * settings.len())
        .map(|i| draw(11, i as u64, 0.5, 20.0))
        .collect();
    trainer::nb201_latency::Nb201Networks::new(LatencyTable {
        path: "synthetic.csv".into(),
        settings,
        cells,
        latency_ms,
    })
}

#[test]
fn latency_markdown_is_unchanged() {
    use latency::SettingResult;
    use latency::{Job, JobResult, Stored, TransferResult};
    let data = latency_data();
    let protocol = latency::Protocol::for_profile(Profile::Quick, 8);
    let names: Vec<String> = data.table.settings.iter().map(|s| s.name.clone()).collect();
    let settings_of = |stream: u64, only: Option<&str>| -> Vec<SettingResult> {
        names
            .iter()
            .enumerate()
            .filter(|(_, n)| only.is_none_or(|o| o == n.as_str()))
            .map(|(i, n)| SettingResult {
                setting: n.clone(),
                scores: scores(stream, i as u64),
                predictions: (0..20)
                    .map(|k| (draw(stream, k, 1.0, 9.0), draw(stream, k + 50, 1.0, 9.0)))
                    .collect(),
            })
            .collect()
    };
    let stored: Vec<Stored> = latency::plan(&names, &[0, 1])
        .into_iter()
        .map(|job| {
            let stream = stream_of(&job.name());
            let result = match &job {
                Job::Single { setting, .. } => {
                    JobResult::Settings(settings_of(stream, Some(setting)))
                }
                Job::Multi { .. } | Job::Gnn { .. } => {
                    JobResult::Settings(settings_of(stream, None))
                }
                Job::Transfer { .. } => JobResult::Transfer(
                    latency::TRANSFER_TARGETS
                        .iter()
                        .flat_map(|t| latency::SHOTS.map(|k| (*t, k)))
                        .enumerate()
                        .map(|(i, (t, k))| TransferResult {
                            setting: t.to_string(),
                            shots: k,
                            scores: scores(stream, i as u64),
                            validation: Some(scores(stream, 100 + i as u64)),
                            reading_input: Some(scores(stream, 200 + i as u64)),
                            op_counts_kept: Some(i % 2 == 0),
                            learned_only: Some(scores(stream, 300 + i as u64)),
                            op_counts_only: Some(scores(stream, 400 + i as u64)),
                        })
                        .collect(),
                ),
                Job::Help { .. } => JobResult::Transfer(
                    latency::HELP_META_VALID
                        .iter()
                        .copied()
                        .chain(latency::HELP_META_TEST.iter().map(|(n, _)| *n))
                        .flat_map(|t| latency::HELP_SHOTS.map(|k| (t, k)))
                        .enumerate()
                        .map(|(i, (t, k))| TransferResult {
                            setting: t.to_string(),
                            shots: k,
                            scores: scores(stream, i as u64),
                            validation: Some(scores(stream, 100 + i as u64)),
                            reading_input: Some(scores(stream, 200 + i as u64)),
                            op_counts_kept: Some(i % 2 == 0),
                            learned_only: Some(scores(stream, 300 + i as u64)),
                            op_counts_only: Some(scores(stream, 400 + i as u64)),
                        })
                        .collect(),
                ),
                Job::Regression { .. } => JobResult::Regression {
                    flops: settings_of(stream, None),
                    flops_mac: settings_of(stream + 1, None),
                },
            };
            Stored {
                hash: latency::job_hash(&protocol, &job),
                job,
                seconds: draw(stream, 9, 10.0, 900.0),
                result,
            }
        })
        .collect();
    let ceilings: Vec<LatencyScores> = (0..names.len())
        .map(|s| latency::repeat_ceiling(&data, s))
        .collect();
    let provenance = Provenance {
        command: "cargo xtask reproduce-table latency --profile quick --seeds 2".into(),
        profile: Profile::Quick,
        seeds: 2,
        workers: 2,
        machine: "a test machine, 2 cores".into(),
        wall_seconds: 3600.0,
        job_seconds: 7000.0,
        plots: vec![("latency-gold_6240.svg".into(), "A plot.".into())],
        dataset: None,
    };
    let markdown = latency::render_markdown(&data, &protocol, &stored, &ceilings, &provenance);
    check("latency.md", &markdown);
}

#[test]
fn zoo_markdown_is_unchanged() {
    use zoo::{FamilyScores, Kind, Scored, Stored};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/zoo");
    let protocol = zoo::ZooProtocol::for_profile(Profile::Quick);
    let sets = zoo::measured_sets(&dir, protocol.data_vocab()).expect("data/zoo loads");
    let stored: Vec<Stored> = zoo::plan(&sets, &[0, 1, 2])
        .into_iter()
        .map(|job| {
            let data = zoo::data_of(&sets, &job).expect("planned platform");
            let families = data.families();
            let stream = stream_of(&job.name());
            let scored_families: Vec<FamilyScores> = families
                .iter()
                .filter(|f| job.held_out.as_ref().is_none_or(|h| h == *f))
                .enumerate()
                .map(|(i, f)| FamilyScores {
                    family: f.clone(),
                    scores: scores(stream, i as u64),
                })
                .collect();
            let models: &[&str] = match job.kind {
                Kind::V2 => &["v2"],
                Kind::V2Additive => &["v2-additive"],
                Kind::V2Residual => &["v2-residual"],
                Kind::Gnn => &["gnn"],
                Kind::Regression => &["kernel_additive", "flops", "flops_mac"],
            };
            let result = models
                .iter()
                .map(|m| Scored {
                    model: m.to_string(),
                    families: scored_families.clone(),
                    predictions: Vec::new(),
                })
                .collect();
            Stored {
                hash: zoo::job_hash(&job, &protocol, data),
                job,
                seconds: draw(stream, 9, 10.0, 900.0),
                result,
            }
        })
        .collect();
    let provenance = Provenance {
        command: "cargo xtask reproduce-table zoo --profile quick --seeds 3".into(),
        profile: Profile::Quick,
        seeds: 3,
        workers: 2,
        machine: "a test machine, 2 cores".into(),
        wall_seconds: 3600.0,
        job_seconds: 7000.0,
        plots: Vec::new(),
        dataset: Some("tract 0.21, 1 thread(s), on a test CPU".into()),
    };
    check(
        "zoo.md",
        &zoo::render_markdown(&sets, &protocol, &stored, &provenance),
    );
}

#[test]
fn accuracy_markdown_is_unchanged() {
    use tables::runs::Outcome;
    use trainer::{Metrics, Report};
    let specs = accuracy::plan(Profile::Quick, &[0, 1, 2], Path::new("runs"));
    let outcomes: Vec<Outcome> = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let c = &spec.config;
            let stream = stream_of(&spec.dir.display().to_string());
            let result = if i == 5 {
                Err("diverged at epoch 3".to_string())
            } else {
                Ok(Report {
                    benchmark: c.benchmark,
                    model: c.model.architecture,
                    train_size: c.train_size,
                    seed: c.seed,
                    profile: c.profile,
                    n_train: c.train_size,
                    n_val: 200,
                    n_test: 1000,
                    metrics: Metrics {
                        kendall_tau: draw(stream, 0, 0.5, 0.9),
                        validation_kendall_tau: draw(stream, 1, 0.5, 0.9),
                        best_epoch: 10,
                        mape: None,
                        acc10: None,
                        acc5: None,
                        validation_mape: None,
                    },
                    train_seconds: draw(stream, 2, 10.0, 300.0),
                    eval_seconds: 1.0,
                    parameters: 1000,
                    skipped_rows: 0,
                    unknown_ops: Default::default(),
                    run_dir: PathBuf::from(&spec.dir),
                    history: Vec::new(),
                })
            };
            Outcome {
                spec,
                result,
                reused: i % 2 == 0,
            }
        })
        .collect();
    let provenance = Provenance {
        command: "cargo xtask reproduce-table accuracy --profile quick --seeds 3".into(),
        profile: Profile::Quick,
        seeds: 3,
        workers: 2,
        machine: "a test machine, 2 cores".into(),
        wall_seconds: 1234.0,
        job_seconds: 0.0,
        plots: vec![("accuracy-nb201-scatter.svg".into(), "A plot.".into())],
        dataset: None,
    };
    check(
        "accuracy.md",
        &accuracy::render_markdown(&outcomes, &provenance),
    );
}
