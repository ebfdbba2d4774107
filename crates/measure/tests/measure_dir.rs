//! End to end on tiny models, with every engine: a zoo directory is
//! measured, a model the engine cannot run is recorded as failed, a killed
//! run resumes, a busy machine is noticed. ONNX Runtime takes part when its
//! library is found (`cargo xtask ort`; CI always has it, and fails without).

use measure::{Engine, Outcome, Protocol, compare_labels, journal_file, measure_dir, open_engine};
use onnx_io::ImportOptions;
use onnx_io::Weights;
use std::path::Path;
use zoo::{Family, Manifest};

fn quick() -> Protocol {
    Protocol {
        warmup: 0,
        repeats: 3,
        min_repeats: 2,
        budget_ms: 50.0,
        attempts: 1,
        passes: 1,
        ..Protocol::default()
    }
}

/// tract, and ONNX Runtime when its library is set up.
fn engines() -> Vec<Box<dyn Engine>> {
    let mut all = vec![open_engine(measure::EngineKind::Tract, 1, None).expect("tract")];
    match open_engine(measure::EngineKind::Ort, 1, None) {
        Ok(ort) => all.push(ort),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI runs ONNX Runtime: {e}"),
        Err(e) => eprintln!("ONNX Runtime left out: {e}"),
    }
    all
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("readable")
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_zoo_is_measured_and_a_broken_model_is_recorded_as_failed() {
    for engine in engines() {
        zoo_measured_with_failures_recorded(engine.as_ref());
    }
}

fn zoo_measured_with_failures_recorded(engine: &dyn Engine) {
    let platform = engine.info().platform();
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201, Family::Vit], 2, 3)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    // A user's file with stripped weights: it imports, but cannot run.
    let graph = zoo::generate(zoo::ModelId {
        family: Family::Nb201,
        index: 9,
        seed: 3,
    })
    .graph;
    onnx_io::write_file(&graph, Weights::Stripped, &dir.path().join("stripped.onnx"))
        .expect("export");
    // Not ONNX at all.
    std::fs::write(dir.path().join("garbage.onnx"), b"not a model").expect("write");

    let mut seen = 0;
    let meta = measure_dir(
        dir.path(),
        engine,
        &quick(),
        &ImportOptions::default(),
        |_, _, _| seen += 1,
    )
    .expect("measure");
    assert_eq!(seen, 6, "{platform}");
    assert_eq!(meta.measured, 4, "{platform}");
    assert_eq!(meta.failed, 2, "{platform}");
    assert_eq!(meta.platform, platform);
    let journal = measure::Journal::open(dir.path(), &platform).expect("journal");
    for r in journal.records() {
        match (&r.outcome, r.name.as_str()) {
            (Outcome::Failed { error }, "stripped" | "garbage") => {
                assert!(
                    !error.is_empty(),
                    "{platform} {}: the engine's message is kept",
                    r.name
                )
            }
            (Outcome::Ok(t), _) => {
                assert!(t.median_ms > 0.0 && t.run_ms.len() >= 2, "{}", r.name)
            }
            (other, name) => panic!("{platform} {name}: unexpected {other:?}"),
        }
    }
    let gt = lines(&dir.path().join("gt.txt"));
    assert_eq!(gt.len(), 4);
    assert!(
        gt[0].starts_with("0 onnx/nasbench201_0000.onnx 1 "),
        "{}",
        gt[0]
    );
    assert!(
        gt[0].ends_with(&format!(" nasbench201 {platform}")),
        "{}",
        gt[0]
    );
    let same = compare_labels(dir.path(), dir.path(), &platform).expect("compare");
    assert_eq!((same.median_relative_difference, same.models), (0.0, 4));
    assert_eq!(same.within_2_percent, 1.0);
}

#[test]
fn a_killed_run_resumes_without_losing_or_repeating_a_model() {
    for engine in engines() {
        killed_run_resumes(engine.as_ref());
    }
}

fn killed_run_resumes(engine: &dyn Engine) {
    let platform = engine.info().platform();
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201], 4, 1)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    measure_dir(
        dir.path(),
        engine,
        &quick(),
        &ImportOptions::default(),
        |_, _, _| {},
    )
    .expect("first run");
    let journal = dir.path().join(journal_file(&platform));
    let full = lines(&journal);
    assert_eq!(full.len(), 4);
    // Simulate a kill: the last model's line was half written, the one before never.
    let mut text = full[..2].join("\n");
    text.push('\n');
    text.push_str(&full[2][..full[2].len() / 2]);
    std::fs::write(&journal, text).expect("truncate");

    let mut measured_again = Vec::new();
    measure_dir(
        dir.path(),
        engine,
        &quick(),
        &ImportOptions::default(),
        |r, _, _| measured_again.push(r.name.clone()),
    )
    .expect("resume");
    assert_eq!(measured_again.len(), 2, "{platform}: {measured_again:?}");
    let after = lines(&journal);
    assert_eq!(after.len(), 4);
    assert_eq!(
        after[..2],
        full[..2],
        "finished records are kept as they were"
    );
    let mut names: Vec<String> = after
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("every line parses");
            v["name"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "no model twice");
    assert_eq!(lines(&dir.path().join("gt.txt")).len(), 4);
}

#[test]
fn several_passes_label_each_model_by_its_fastest_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201], 2, 4)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    let protocol = Protocol {
        passes: 3,
        ..quick()
    };
    let tract = measure::Tract::new(1);
    let meta = measure_dir(
        dir.path(),
        &tract,
        &protocol,
        &ImportOptions::default(),
        |_, _, _| {},
    )
    .expect("measure");
    assert_eq!(meta.measured, 2);
    let journal = measure::Journal::open(dir.path(), &meta.platform).expect("journal");
    assert_eq!(journal.records().count(), 6);
    for name in ["nasbench201_0000", "nasbench201_0001"] {
        // (median, busy) per pass. A pass timed while the machine was busy
        // (another test, a build) is passed over when a quiet one exists.
        let passes: Vec<(f64, bool)> = journal
            .records()
            .filter(|r| r.name == name)
            .map(|r| match &r.outcome {
                Outcome::Ok(t) => (t.median_ms, t.busy),
                Outcome::Failed { error } => panic!("{error}"),
            })
            .collect();
        let quiet = passes.iter().any(|&(_, busy)| !busy);
        let mut medians: Vec<f64> = passes
            .iter()
            .filter(|&&(_, busy)| !quiet || !busy)
            .map(|&(m, _)| m)
            .collect();
        medians.sort_by(f64::total_cmp);
        let line = lines(&dir.path().join("gt.txt"))
            .into_iter()
            .find(|l| l.contains(name))
            .expect("labelled");
        let label: f64 = line
            .split(' ')
            .nth(3)
            .and_then(|v| v.parse().ok())
            .expect("latency");
        assert!((label - medians[0]).abs() < 1e-5, "{line} vs {medians:?}");
    }
}

/// A model with [batch, sequence] int64 inputs: measured once its shape is
/// given by name (the mask takes the ids' dims), a named failure before.
#[test]
fn token_inputs_are_measured_with_their_given_shapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx/token_model.onnx");
    std::fs::copy(&fixture, dir.path().join("tokens.onnx")).expect("copy");
    let symbolic = ImportOptions {
        batch_rule: onnx_io::BatchRule::Symbolic,
        ..ImportOptions::default()
    };
    let tract = measure::Tract::new(1);
    let meta = measure_dir(dir.path(), &tract, &quick(), &symbolic, |_, _, _| {}).expect("measure");
    let journal = measure::Journal::open(dir.path(), &meta.platform).expect("journal");
    let Some(Outcome::Failed { error }) = journal.records().next().map(|r| &r.outcome) else {
        panic!("unresolved dims must fail the model");
    };
    assert!(
        error.contains("'sequence'") && error.contains("--input-shape"),
        "{error}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&fixture, dir.path().join("tokens.onnx")).expect("copy");
    let mut given = symbolic.clone();
    given.named_shapes.insert("input_ids".into(), vec![2, 16]);
    for engine in engines() {
        let meta = measure_dir(dir.path(), engine.as_ref(), &quick(), &given, |_, _, _| {})
            .expect("measure");
        assert_eq!(meta.measured, 1, "{meta:?}");
        assert_eq!(meta.input_shapes["custom"], vec![2, 16]);
    }
}

/// Two engine settings measured in one directory: `gt.txt` holds both
/// settings' rows, a model keeps its GraphID, each has its metadata.
#[test]
fn every_engine_setting_keeps_its_rows_in_one_label_file() {
    let engines = engines();
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201], 2, 5)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    let single = measure::Tract::new(1);
    // A second setting: the same engine at two threads.
    let double = measure::Tract::new(2);
    let mut settings: Vec<&dyn Engine> = vec![&single, &double];
    settings.extend(engines.iter().skip(1).map(|e| e.as_ref()));
    for engine in &settings {
        measure_dir(
            dir.path(),
            *engine,
            &quick(),
            &ImportOptions::default(),
            |_, _, _| {},
        )
        .expect("measure");
    }
    let gt = lines(&dir.path().join("gt.txt"));
    assert_eq!(gt.len(), 2 * settings.len(), "{gt:?}");
    for engine in &settings {
        let platform = engine.info().platform();
        let rows: Vec<&String> = gt.iter().filter(|l| l.ends_with(&platform)).collect();
        assert_eq!(rows.len(), 2, "{platform}: {gt:?}");
        assert!(
            rows[0].starts_with("0 onnx/nasbench201_0000.onnx "),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].starts_with("1 onnx/nasbench201_0001.onnx "),
            "{}",
            rows[1]
        );
        let meta = measure::read_metadata(dir.path(), &platform).expect("metadata");
        assert_eq!(meta.engine, engine.info().kind.name());
        assert_eq!(
            meta.optimization.as_deref(),
            Some(engine.info().optimization.as_str())
        );
    }
    assert_eq!(measure::platforms_in(dir.path()).len(), settings.len());
}

/// A timing on a machine judged busy is retried and, still busy, marked so
/// (a limit of -1 other cores makes every timing busy, whatever the load).
#[test]
fn a_timing_on_a_busy_machine_is_retried_and_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201], 1, 6)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    let protocol = Protocol {
        max_other_cores: -1.0,
        busy_retries: 1,
        ..quick()
    };
    let tract = measure::Tract::new(1);
    let meta = measure_dir(
        dir.path(),
        &tract,
        &protocol,
        &ImportOptions::default(),
        |_, _, _| {},
    )
    .expect("measure");
    assert_eq!((meta.measured, meta.busy, meta.busy_retried), (1, 1, 1));
    let journal = measure::Journal::open(dir.path(), &meta.platform).expect("journal");
    let Some(Outcome::Ok(t)) = journal.records().next().map(|r| &r.outcome) else {
        panic!("measured");
    };
    assert!(t.busy && t.busy_retries == 1, "{t:?}");
    assert!(
        t.other_cores.is_some() && t.load_before.is_some() && t.load_after.is_some(),
        "{t:?}"
    );
}
