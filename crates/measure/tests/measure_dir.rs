//! End to end on tiny models: a zoo directory is measured, a model the
//! engine cannot run is recorded as failed, and a killed run resumes.

use measure::{JOURNAL, Outcome, Protocol, compare_labels, measure_dir};
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

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("readable")
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_zoo_is_measured_and_a_broken_model_is_recorded_as_failed() {
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
        &quick(),
        &ImportOptions::default(),
        |_, _, _| seen += 1,
    )
    .expect("measure");
    assert_eq!(seen, 6);
    assert_eq!(meta.measured, 4);
    assert_eq!(meta.failed, 2);
    let journal = measure::Journal::open(dir.path()).expect("journal");
    for r in journal.records() {
        match (&r.outcome, r.name.as_str()) {
            (Outcome::Failed { error }, "stripped" | "garbage") => {
                assert!(
                    !error.is_empty(),
                    "{}: the engine's message is kept",
                    r.name
                )
            }
            (Outcome::Ok(t), _) => {
                assert!(t.median_ms > 0.0 && t.run_ms.len() >= 2, "{}", r.name)
            }
            (other, name) => panic!("{name}: unexpected {other:?}"),
        }
    }
    let gt = lines(&dir.path().join("gt.txt"));
    assert_eq!(gt.len(), 4);
    assert!(
        gt[0].starts_with("0 onnx/nasbench201_0000.onnx 1 "),
        "{}",
        gt[0]
    );
    assert!(gt[0].ends_with(" nasbench201 cpu-tract-1t"), "{}", gt[0]);
    let (median, n) = compare_labels(dir.path(), dir.path()).expect("compare");
    assert_eq!((median, n), (0.0, 4));
}

#[test]
fn a_killed_run_resumes_without_losing_or_repeating_a_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    Manifest::new(&[Family::Nb201], 4, 1)
        .write(dir.path(), None, |_| {})
        .expect("manifest");
    measure_dir(
        dir.path(),
        &quick(),
        &ImportOptions::default(),
        |_, _, _| {},
    )
    .expect("first run");
    let journal = dir.path().join(JOURNAL);
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
        &quick(),
        &ImportOptions::default(),
        |r, _, _| measured_again.push(r.name.clone()),
    )
    .expect("resume");
    assert_eq!(measured_again.len(), 2, "{measured_again:?}");
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
    let meta = measure_dir(
        dir.path(),
        &protocol,
        &ImportOptions::default(),
        |_, _, _| {},
    )
    .expect("measure");
    assert_eq!(meta.measured, 2);
    let journal = measure::Journal::open(dir.path()).expect("journal");
    assert_eq!(journal.records().count(), 6);
    for name in ["nasbench201_0000", "nasbench201_0001"] {
        let mut medians: Vec<f64> = journal
            .records()
            .filter(|r| r.name == name)
            .map(|r| match &r.outcome {
                Outcome::Ok(t) => t.median_ms,
                Outcome::Failed { error } => panic!("{error}"),
            })
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
    measure_dir(dir.path(), &quick(), &symbolic, |_, _, _| {}).expect("measure");
    let journal = measure::Journal::open(dir.path()).expect("journal");
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
    let meta = measure_dir(dir.path(), &quick(), &given, |_, _, _| {}).expect("measure");
    assert_eq!(meta.measured, 1, "{meta:?}");
    assert_eq!(meta.input_shapes["custom"], vec![2, 16]);
}
