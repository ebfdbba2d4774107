//! End-to-end tests of the `narformer` binary on small synthetic NB201 and NB101
//! data directories made by the tests themselves (no benchmark files needed).

// Test helpers panic on a broken temp dir: that is a failed test, not a user path.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_clean_failure, narformer, narformer_calibrated, success_stdout};
use std::path::{Path, PathBuf};
use std::process::Output;

/// NB201 cell number `k` in base-5 order, as its cell string.
fn cell_string(k: usize) -> String {
    graph_ir::cells::Nb201Cell::from_index(k).to_string()
}

/// A data directory with `cells` NB201 rows and a synthetic accuracy label.
fn data_dir(root: &Path, cells: usize) -> PathBuf {
    let dir = root.join("data");
    std::fs::create_dir_all(dir.join("nasbench201")).unwrap();
    let mut csv = String::from("arch_idx,arch_str,c10_test_200ep_mean\n");
    for i in 0..cells {
        let k = i * 7919 % 15_625;
        let s = cell_string(k);
        let acc = 60.0 + 5.0 * s.matches("nor_conv_3x3").count() as f64 + (k % 10) as f64 * 0.1;
        csv.push_str(&format!("{k},{s},{acc}\n"));
    }
    std::fs::write(dir.join("nasbench201/accuracy.csv"), csv).unwrap();
    dir
}

fn tiny_config(root: &Path) -> PathBuf {
    tiny_config_of(root, "v2")
}

fn tiny_config_of(root: &Path, architecture: &str) -> PathBuf {
    let path = root.join(format!("tiny-{architecture}.json"));
    let json = r#"{
      "benchmark": "nb201", "profile": "quick", "train_size": 0, "validation_size": 200, "seed": 0,
      "model": {"architecture": "ARCH", "d_input": 128, "hidden": 16, "layers": 1, "groups": 8, "heads": 2,
                "dropout": 0.0, "positive_output": false},
      "objective": "standardized_mse", "learning_rate": 0.003, "epochs": 3, "batch_size": 16,
      "warmup_fraction": 0.1, "pairwise_weight": 0.1, "consistency_weight": 0.5, "eval_every": 1
    }"#;
    std::fs::write(&path, json.replace("ARCH", architecture)).unwrap();
    path
}

/// The text form of a 7-vertex NB101 cell: a chain plus extra edges, ops from `k`.
fn nb101_cell(k: usize) -> (String, String) {
    let n = 7;
    let mut adjacency = vec!['0'; n * n];
    for i in 0..n - 1 {
        adjacency[i * n + i + 1] = '1';
    }
    for (bit, (i, j)) in [(0, 2), (1, 3), (2, 6), (0, 4)].into_iter().enumerate() {
        if (k >> bit) & 1 == 1 {
            adjacency[i * n + j] = '1';
        }
    }
    let inner: Vec<&str> = (0..5)
        .map(|v| ["c1", "c3", "mp"][(k / 3usize.pow(v)) % 3])
        .collect();
    (
        adjacency.into_iter().collect(),
        format!("in|{}|out", inner.join("|")),
    )
}

/// A data directory with `cells` NB101 rows (labels favour conv3x3) and one bad row last.
fn nb101_data_dir(root: &Path, cells: usize) -> PathBuf {
    let dir = root.join("data101");
    std::fs::create_dir_all(dir.join("nasbench101")).unwrap();
    let mut csv = String::from(
        "hash,num_vertices,adjacency_rowmajor,ops,val_acc_4ep,val_acc_12ep,val_acc_36ep,val_acc_108ep,train_time_108ep_s,params\n",
    );
    for k in 0..cells {
        let (adjacency, ops) = nb101_cell(k);
        let acc = 0.8 + 0.02 * ops.matches("c3").count() as f64 + 0.001 * (k % 7) as f64;
        csv.push_str(&format!(
            "h{k},7,{adjacency},{ops},0.1,0.2,0.3,{acc},1.0,1000\n"
        ));
    }
    let (adjacency, _) = nb101_cell(0);
    csv.push_str(&format!(
        "bad,7,{adjacency},in|c3|c3|conv9|c1|mp|out,0.1,0.2,0.3,0.9,1.0,1000\n"
    ));
    std::fs::write(dir.join("nasbench101/nb101_30k.csv"), csv).unwrap();
    dir
}

/// `narformer train --train-size 40 --quiet` with `[config, data dir, run dir, report]`.
fn train_run(benchmark: &str, paths: [&Path; 4], extra: &[&str]) -> Output {
    let [config, data, run, report] = paths.map(|p| p.to_str().unwrap());
    let mut args = vec![
        "train",
        "--benchmark",
        benchmark,
        "--train-size",
        "40",
        "--quiet",
        "--config",
        config,
        "--data-dir",
        data,
        "--run-dir",
        run,
        "--report",
        report,
    ];
    args.extend_from_slice(extra);
    narformer(&args)
}

fn predict(run: &Path, cells: &Path) -> Output {
    narformer(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        cells.to_str().unwrap(),
    ])
}

#[test]
fn train_eval_predict_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path(), 300);
    let config = tiny_config(tmp.path());
    let run = tmp.path().join("run");
    let report = tmp.path().join("r.json");
    let out = train_run("nb201", [&config, &data, &run, &report], &["--seed", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for key in [
        "benchmark",
        "train_size",
        "seed",
        "profile",
        "n_train",
        "n_val",
        "n_test",
        "train_seconds",
    ] {
        assert!(r.get(key).is_some(), "report lacks {key}: {r}");
    }
    assert_eq!(r["n_train"], 40);
    assert_eq!(r["n_val"], 200);
    assert_eq!(r["n_test"], 60);
    assert_eq!(r["seed"], 3);
    assert!(r["metrics"]["kendall_tau"].as_f64().unwrap().abs() <= 1.0);
    for file in ["config.json", "model.bpk", "target.json", "metrics.json"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }

    let out = narformer(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("on 60 cells"),
        "{stdout}"
    );

    let cells = tmp.path().join("cells.txt");
    std::fs::write(
        &cells,
        format!(
            "{}\n\n{}\n{}\n",
            cell_string(1),
            cell_string(2),
            cell_string(3)
        ),
    )
    .unwrap();
    let out = predict(&run, &cells);
    let stdout = success_stdout(&out);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.lines().next().unwrap().starts_with("1\t"),
        "{stdout}"
    );

    std::fs::write(&cells, format!("{}\n|bogus~0|\n", cell_string(1))).unwrap();
    let out = predict(&run, &cells);
    assert_clean_failure(&out, &["cells.txt:2", "bogus"]);
}

#[test]
fn missing_data_directory_is_a_clean_error() {
    let out = narformer(&[
        "train",
        "--train-size",
        "78",
        "--data-dir",
        "/no/such/narformer-data",
    ]);
    assert_clean_failure(&out, &["/no/such/narformer-data", "does not exist"]);
}

#[test]
fn a_named_data_directory_lacking_the_benchmark_says_how_to_fetch_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let out = narformer(&["train", "--train-size", "78", "--data-dir", dir]);
    assert_clean_failure(
        &out,
        &[
            "nasbench201/accuracy.csv",
            &format!("cargo xtask data --only nb201 --data-dir {dir}"),
        ],
    );
    // Nothing was fetched into a directory the user named.
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

fn train_on(data: &Path) -> Output {
    narformer(&[
        "train",
        "--train-size",
        "40",
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

#[test]
fn broken_csv_is_a_clean_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path(), 300);
    let csv = data.join("nasbench201/accuracy.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("5,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,not-a-number\n");
    std::fs::write(&csv, text).unwrap();
    let out = train_on(&data);
    assert_clean_failure(&out, &["accuracy.csv:", "not-a-number"]);

    std::fs::write(&csv, "arch_idx,arch_str\n0,x\n").unwrap();
    let out = train_on(&data);
    assert_clean_failure(&out, &["accuracy.csv", "c10_test_200ep_mean"]);
}

#[test]
fn nb101_with_a_baseline_skips_bad_rows_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = nb101_data_dir(tmp.path(), 280);
    let config = tiny_config_of(tmp.path(), "gnn");
    let run = tmp.path().join("run101");
    let report = tmp.path().join("r101.json");
    let train = |extra: &[&str]| train_run("nb101", [&config, &data, &run, &report], extra);
    let out = train(&[]);
    assert_clean_failure(&out, &["nb101_30k.csv:282", "unknown operation \"conv9\""]);

    let out = train(&["--skip-bad"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("skipped 1 malformed rows"), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["benchmark"], "nb101");
    assert_eq!(r["model"], "gnn");
    assert_eq!(r["skipped_rows"], 1);
    assert_eq!(r["n_test"], 40);
    assert!(run.join("test_predictions.csv").is_file());

    let out = narformer(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--split",
        "test",
        "--skip-bad",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("on 40 cells"),
        "{stdout}"
    );

    let cells = tmp.path().join("cells101.txt");
    let lines: Vec<String> = (0..3)
        .map(|k| {
            let (a, o) = nb101_cell(k * 5);
            format!("{a} {o}")
        })
        .collect();
    std::fs::write(&cells, lines.join("\n")).unwrap();
    let out = predict(&run, &cells);
    let stdout = success_stdout(&out);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    std::fs::write(&cells, format!("{}\n0110 in|out\n", lines[0])).unwrap();
    let out = predict(&run, &cells);
    assert_clean_failure(&out, &["cells101.txt:2", "not strictly upper-triangular"]);
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[test]
fn nnlqp_fixture_trains_evaluates_and_predicts_onnx_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = fixtures().join("nnlqp-mini");
    let (run, cache, report) = (
        tmp.path().join("run"),
        tmp.path().join("cache"),
        tmp.path().join("report.json"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let train_args = [
        "train",
        "--benchmark",
        "nnlqp",
        "--dataset-dir",
        &s(&dataset),
        "--epochs",
        "3",
        "--quiet",
        "--run-dir",
        &s(&run),
        "--cache-dir",
        &s(&cache),
        "--report",
        &s(&report),
    ];
    let out = success_stdout(&narformer(&train_args));
    assert!(
        out.contains("test MAPE") && out.contains("Acc(10%)"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let metrics = &report["metrics"];
    for key in ["mape", "acc10", "acc5", "kendall_tau"] {
        assert!(metrics[key].is_number(), "{key} missing in {metrics}");
    }
    assert_eq!(report["n_test"], 6); // the Stage column: 2 test networks per family
    // Every distinct ONNX file was tokenised once into the cache, under the
    // vocabulary version (the fixture has byte-identical twins: 27 distinct files).
    let cached = || {
        std::fs::read_dir(cache.join("extended-v2"))
            .unwrap()
            .count()
    };
    assert_eq!(cached(), 27);

    let eval = success_stdout(&narformer(&[
        "eval",
        "--run",
        &s(&run),
        "--dataset-dir",
        &s(&dataset),
        "--cache-dir",
        &s(&cache),
    ]));
    assert!(
        eval.contains("MAPE") && eval.contains("on 6 networks"),
        "{eval}"
    );

    // Files and directories, one JSON line per model, all positive latencies.
    let resnet = fixtures().join("onnx/resnet18.onnx");
    let out = success_stdout(&narformer(&[
        "predict",
        "--run",
        &s(&run),
        "--json",
        &s(&resnet),
        &s(&dataset.join("onnx/plain")),
    ]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 13);
    assert!(
        lines
            .iter()
            .all(|l| l["latency_ms"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(lines[0]["nodes"], 50);

    // Symbolic dims: a detector declared [batch, 3, height, width] needs its
    // shape; a text encoder's [batch, sequence] ids bind the mask's dims too.
    let predict_json = |model: &str, shape: &str| {
        let out = success_stdout(&narformer(&[
            "predict",
            "--run",
            &s(&run),
            "--json",
            &s(&fixtures().join("onnx").join(model)),
            "--input-shape",
            shape,
        ]));
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()
    };
    let detector = predict_json("detector_dynamic.onnx", "1,3,640,640");
    assert!(detector["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        detector["input_shapes"]["input"],
        serde_json::json!([1, 3, 640, 640])
    );
    let text = predict_json("transformer_encoder.onnx", "input_ids=1,128");
    assert!(text["latency_ms"].as_f64().unwrap() > 0.0);
    for input in ["input_ids", "attention_mask"] {
        assert_eq!(text["input_shapes"][input], serde_json::json!([1, 128]));
    }
    assert_eq!(text["batched_inputs"], serde_json::json!([]));
    assert_eq!(text["unknown_ops"], serde_json::json!({}));
    let unresolved = narformer(&[
        "predict",
        "--run",
        &s(&run),
        &s(&fixtures().join("onnx/detector_dynamic.onnx")),
    ]);
    assert_clean_failure(
        &unresolved,
        &["dim 2 ('height')", "--input-shape input=1,3,?,?"],
    );

    // Held-out family: trained on two, tested on all 12 of the third.
    let out = success_stdout(&narformer(&[
        "train",
        "--benchmark",
        "nnlqp",
        "--dataset-dir",
        &s(&dataset),
        "--epochs",
        "2",
        "--quiet",
        "--run-dir",
        &s(&tmp.path().join("lofo")),
        "--cache-dir",
        &s(&cache),
        "--test-family",
        "resnet",
    ]));
    assert!(out.contains("on 12 networks"), "{out}");
    assert_eq!(cached(), 27, "a second run must reuse the cache");
}

#[test]
fn bad_onnx_and_bad_label_lines_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("onnx/resnet18.onnx")).unwrap();
    let truncated = tmp.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = narformer(&["inspect", truncated.to_str().unwrap()]);
    assert_clean_failure(&out, &["truncated.onnx", "not a valid ONNX model"]);

    let dataset = tmp.path().join("ds");
    std::fs::create_dir_all(&dataset).unwrap();
    std::fs::write(
        dataset.join("gt.txt"),
        "1 a.onnx 1 2.0 vgg 1\n2 b.onnx 1 NaN vgg 1\n",
    )
    .unwrap();
    let out = narformer(&[
        "train",
        "--benchmark",
        "nnlqp",
        "--dataset-dir",
        dataset.to_str().unwrap(),
        "--quiet",
        "--run-dir",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, &["gt.txt:2", "finite and positive"]);
}

#[test]
fn inspect_summarises_a_model_and_lists_nodes() {
    let out = success_stdout(&narformer(&[
        "inspect",
        "--nodes",
        fixtures().join("onnx/vit_small.onnx").to_str().unwrap(),
    ]));
    assert!(
        out.contains("unknown ops (extended-v2 vocabulary): none"),
        "{out}"
    );
    assert!(
        out.contains("MatMul") && out.contains("LayerNormalization"),
        "{out}"
    );
    assert!(
        out.lines().filter(|l| l.starts_with('#')).count() == 95,
        "{out}"
    );
    let out = success_stdout(&narformer(&[
        "inspect",
        "--vocab",
        "nnlqp",
        fixtures().join("onnx/vit_small.onnx").to_str().unwrap(),
    ]));
    // The reference table lacks LayerNormalization, Erf, Gather, ...: reported by name.
    assert!(
        out.contains("LayerNormalization") && out.contains("Erf"),
        "{out}"
    );
}

#[test]
fn bundled_predictors_answer_without_a_run_for_both_engines() {
    let resnet = fixtures().join("onnx/resnet18.onnx");
    let out = success_stdout(&narformer(&["predict", resnet.to_str().unwrap()]));
    for id in ["cpu-ort-1t", "cpu-tract-1t"] {
        let line = out
            .lines()
            .find(|l| l.ends_with(id))
            .unwrap_or_else(|| panic!("no {id} line in: {out}"));
        let ms: f64 = line.split(" ms").next().unwrap().parse().unwrap();
        assert!(ms.is_finite() && ms > 0.0, "{line}");
    }
    let listed = success_stdout(&narformer(&["predictors"]));
    for needle in [
        "cpu-ort-1t",
        "cpu-tract-1t",
        "ort 1.31.1",
        "tract 0.23.9",
        "data/zoo",
    ] {
        assert!(listed.contains(needle), "expected {needle:?} in: {listed}");
    }
    let wrong = narformer(&[
        "predict",
        "--predictor",
        "gpu-nowhere-1t",
        resnet.to_str().unwrap(),
    ]);
    assert_clean_failure(&wrong, &["gpu-nowhere-1t", "cpu-ort-1t"]);
}

/// The latency `predict` prints for `model` with bundled predictor `id`.
fn bundled_latency(model: &Path, id: &str, calibration_dir: &Path) -> (f64, String) {
    let out = success_stdout(&narformer_calibrated(
        &["predict", "--predictor", id, model.to_str().unwrap()],
        calibration_dir,
    ));
    let line = out.lines().next().unwrap_or_default().to_string();
    let ms: f64 = line.split(" ms").next().unwrap().parse().unwrap();
    (ms, line)
}

#[test]
fn a_calibration_of_this_cpu_scales_predictions_and_others_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let resnet = fixtures().join("onnx/resnet18.onnx");
    let (plain, line) = bundled_latency(&resnet, "cpu-ort-1t", tmp.path());
    assert!(!line.contains("calibrated"), "{line}");
    let cpu = sysio::machine::cpu_model().unwrap_or_default();
    let write = |cpu: &str| {
        let calibration = serde_json::json!({
            "predictor": "cpu-ort-1t", "scale": 1.25, "ratio_quartiles": [1.2, 1.3],
            "models": 22, "cpu_model": cpu, "measured_at": 0
        });
        std::fs::write(tmp.path().join("cpu-ort-1t.json"), calibration.to_string()).unwrap();
    };
    write(&cpu);
    let (scaled, line) = bundled_latency(&resnet, "cpu-ort-1t", tmp.path());
    assert!(line.contains("calibrated here: x1.250"), "{line}");
    assert!((scaled / plain - 1.25).abs() < 1e-3, "{plain} -> {scaled}");
    let listed = success_stdout(&narformer_calibrated(&["predictors"], tmp.path()));
    assert!(listed.contains("x1.250 (22 models)"), "{listed}");
    // Made on another CPU: not this machine's, so not applied.
    write("Some Other CPU @ 1.00GHz");
    let (other, line) = bundled_latency(&resnet, "cpu-ort-1t", tmp.path());
    assert!(!line.contains("calibrated") && other == plain, "{line}");
    // A damaged calibration is an error naming its file.
    std::fs::write(tmp.path().join("cpu-ort-1t.json"), "{").unwrap();
    let broken = narformer_calibrated(
        &[
            "predict",
            "--predictor",
            "cpu-ort-1t",
            resnet.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_clean_failure(&broken, &["cpu-ort-1t.json"]);
}

#[test]
fn a_measured_zoo_trains_into_a_bundle_that_predicts_onnx_files() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (zoo, bundle) = (tmp.path().join("zoo"), tmp.path().join("predictors"));
    success_stdout(&narformer(&[
        "zoo",
        "generate",
        "--families",
        "nasbench201,squeezenet",
        "--per-family",
        "10",
        "--seed",
        "1",
        "--weights",
        "none",
        "--out",
        &s(&zoo),
    ]));
    success_stdout(&narformer(&[
        "measure",
        &s(&zoo),
        "--engine",
        "tract",
        "--warmup",
        "0",
        "--repeats",
        "2",
        "--min-repeats",
        "1",
        "--passes",
        "1",
        "--budget-ms",
        "20",
        "--busy-retries",
        "0",
    ]));
    let out = success_stdout(&narformer(&[
        "predictors",
        "bundle",
        "--data",
        &s(&zoo),
        "--out",
        &s(&bundle),
        "--epochs",
        "2",
    ]));
    assert!(out.contains("cpu-tract-1t: test MAPE"), "{out}");
    let run = bundle.join("cpu-tract-1t");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("card.json")).unwrap()).unwrap();
    assert_eq!(card["platform"], "cpu-tract-1t");
    assert_eq!(card["engine"], "tract");
    assert_eq!(card["test"]["n"], 2, "{card}"); // the last tenth of each family's 10
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["readout"], "residual");
    // The residual readout's baseline travels with the run, with tract's pruning.
    let prior: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("prior.json")).unwrap()).unwrap();
    assert_eq!(prior["pruning"], "constants", "{prior}");
    let resnet = fixtures().join("onnx/resnet18.onnx");
    let out = success_stdout(&narformer(&["predict", "--run", &s(&run), &s(&resnet)]));
    assert!(out.trim_end().ends_with("resnet18.onnx"), "{out}");
    let ms: f64 = out.split(" ms").next().unwrap().parse().unwrap();
    assert!(ms.is_finite() && ms > 0.0, "{out}");
    // A damaged prior is an error naming it, not a panic or a silent guess.
    std::fs::write(run.join("prior.json"), r#"{"pruning": "none"}"#).unwrap();
    let broken = narformer(&["predict", "--run", &s(&run), &s(&resnet)]);
    assert_clean_failure(&broken, &["prior.json"]);
}
