//! End-to-end tests of the `narformer` binary on a small synthetic NB201 data
//! directory made by the test itself (no benchmark files needed).

// Test helpers panic on a broken temp dir: that is a failed test, not a user path.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

fn cell_string(k: usize) -> String {
    let op = |e: usize| OPS[(k / 5usize.pow(e as u32)) % 5];
    format!(
        "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|",
        op(0),
        op(1),
        op(2),
        op(3),
        op(4),
        op(5)
    )
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
    let path = root.join("tiny.json");
    let json = r#"{
      "benchmark": "nb201", "profile": "quick", "train_size": 0, "validation_size": 200, "seed": 0,
      "model": {"d_input": 128, "hidden": 16, "layers": 1, "groups": 8, "dropout": 0.0, "positive_output": false},
      "objective": "standardized_mse", "learning_rate": 0.003, "epochs": 3, "batch_size": 16,
      "warmup_fraction": 0.1, "pairwise_weight": 0.1, "consistency_weight": 0.5, "eval_every": 1
    }"#;
    std::fs::write(&path, json).unwrap();
    path
}

fn narformer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_narformer"))
        .args(args)
        .env_remove("NARFORMER_DATA")
        .output()
        .unwrap()
}

fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
}

#[test]
fn train_eval_predict_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path(), 300);
    let config = tiny_config(tmp.path());
    let run = tmp.path().join("run");
    let report = tmp.path().join("r.json");
    let out = narformer(&[
        "train",
        "--benchmark",
        "nb201",
        "--train-size",
        "40",
        "--seed",
        "3",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
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
    let out = narformer(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        cells.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.lines().next().unwrap().starts_with("1\t"),
        "{stdout}"
    );

    std::fs::write(&cells, format!("{}\n|bogus~0|\n", cell_string(1))).unwrap();
    let out = narformer(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        cells.to_str().unwrap(),
    ]);
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
