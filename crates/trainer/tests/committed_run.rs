//! A run directory committed under `tests/fixtures/runs/nb201-tiny` (written
//! by `narformer train` with a tiny config) keeps loading: its checkpoint
//! predicts what the run itself wrote to `test_predictions.csv`, and its
//! `metrics.json` reads back into a `Report` and writes out byte for byte.

use burn::prelude::Device;
use std::path::{Path, PathBuf};
use trainer::loaded::RunFiles;
use trainer::{Benchmark, LoadedRun, Report};

fn run_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/runs/nb201-tiny")
}

#[test]
fn the_committed_checkpoint_predicts_what_its_run_wrote() {
    let run = LoadedRun::open(&run_dir(), &Device::flex()).expect("the committed run loads");
    let text = std::fs::read_to_string(run_dir().join("test_predictions.csv")).expect("csv");
    let mut graphs = Vec::new();
    let mut expected = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let graph = Benchmark::Nb201
            .parse_cell(fields[0])
            .expect("a cell string");
        graphs.push((fields[0].to_string(), graph));
        expected.push(fields[2].parse::<f64>().expect("a prediction"));
    }
    assert_eq!(graphs.len(), 20);
    let predicted = run.predict(&graphs).expect("prediction");
    for ((arch, _), (p, e)) in graphs.iter().zip(predicted.iter().zip(&expected)) {
        // f32 arithmetic; another CPU's kernels may round differently.
        assert!(
            (p - e).abs() <= 1e-5 * e.abs(),
            "{arch}: predicted {p}, the run wrote {e}"
        );
    }
}

#[test]
fn the_committed_metrics_round_trip_byte_for_byte() {
    let path = run_dir().join("metrics.json");
    let text = std::fs::read_to_string(&path).expect("metrics.json");
    let report: Report = serde_json::from_str(&text).expect("a Report");
    assert_eq!(report.metrics.best_epoch, 4);
    let mut again = serde_json::to_string_pretty(&report).expect("serialises");
    again.push('\n');
    assert_eq!(again, text);
}

#[test]
fn a_run_held_in_memory_loads_like_its_directory_and_a_newer_format_is_named() {
    let dir = run_dir();
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect("run file");
    let model = std::fs::read(dir.join("model.bpk")).expect("checkpoint");
    let format = r#"{"format_version": 1, "written_by": "narformer 0.1.0"}"#;
    let origin = Path::new("bundled/nb201-tiny");
    let device = Device::flex();
    let (config, target) = (read("config.json"), read("target.json"));
    let files = |format, config| RunFiles {
        format,
        config,
        target: &target,
        model: &model,
        prior: None,
    };
    let from_bytes =
        LoadedRun::from_bytes(origin, files(format, &config), &device).expect("loads from memory");
    let from_dir = LoadedRun::open(&dir, &device).expect("loads from its directory");
    let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|";
    let graphs = vec![(cell.to_string(), Benchmark::Nb201.parse_cell(cell).unwrap())];
    assert_eq!(
        from_bytes.predict(&graphs).unwrap(),
        from_dir.predict(&graphs).unwrap()
    );
    let newer = r#"{"format_version": 99, "written_by": "narformer 9.0.0"}"#;
    let err = LoadedRun::from_bytes(origin, files(newer, &config), &device)
        .expect_err("a newer format is refused")
        .to_string();
    assert!(
        err.contains("99") && err.contains("narformer 9.0.0") && err.contains("update narformer"),
        "{err}"
    );
    let torn = LoadedRun::from_bytes(origin, files(format, "{"), &device)
        .expect_err("a torn config is an error")
        .to_string();
    assert!(torn.contains("config.json"), "{torn}");
}
