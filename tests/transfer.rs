//! `narformer train --benchmark nb201-latency` and `narformer transfer` end
//! to end on a tiny synthetic `latency_help.csv`: pretrain one model on three
//! device settings, teach it a fourth (held out of pretraining) from 10
//! measured cells in a CSV, predict with the new run; every bad shots file
//! is a clean error naming its problem.

// Test helpers panic on a broken temp dir: that is a failed test, not a user path.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_clean_failure, narformer, success_stdout};
use graph_ir::cells::{Nb201Cell, Nb201Op};
use std::path::{Path, PathBuf};
use std::process::Command;

const SETTINGS: [&str; 4] = ["cpu", "gpu_32", "fpga", "board"];

/// Latency (ms) of a cell on each setting: a different function of its ops
/// each; `board` folds constants, so input-independent cells cost ~nothing.
fn latencies(cell: &Nb201Cell) -> [f64; 4] {
    let count = |op| cell.ops.iter().filter(|&&o| o == op).count() as f64;
    let (c3, c1, pool) = (
        count(Nb201Op::NorConv3x3),
        count(Nb201Op::NorConv1x1),
        count(Nb201Op::AvgPool3x3),
    );
    let board = if cell.reads_input() {
        4.0 + 2.0 * c3 + 0.5 * c1 + 0.3 * pool
    } else {
        0.01
    };
    [
        2.0 + c3 + 0.4 * c1 + 0.2 * pool,
        3.0 * (1.0 + 1.5 * c3 + 0.2 * c1 + 0.6 * pool),
        1.0 + 0.5 * c3 + 0.1 * c1,
        board,
    ]
}

fn cell(k: usize) -> Nb201Cell {
    Nb201Cell::from_index(k * 173 % Nb201Cell::COUNT)
}

/// A data directory with 120 cells measured on the four settings.
fn data_dir(root: &Path) -> PathBuf {
    let dir = root.join("data");
    std::fs::create_dir_all(dir.join("nasbench201")).unwrap();
    let mut csv = String::from("arch_idx,arch_str");
    for s in SETTINGS {
        csv.push_str(&format!(",{s}_ms"));
    }
    csv.push('\n');
    for k in 0..120 {
        let c = cell(k);
        let l = latencies(&c);
        csv.push_str(&format!("{k},{c},{},{},{},{}\n", l[0], l[1], l[2], l[3]));
    }
    std::fs::write(dir.join("nasbench201/latency_help.csv"), csv).unwrap();
    dir
}

/// The multi-setting config, shrunk: hidden 16, 15 epochs, 60 + 15 networks.
fn tiny_config(root: &Path) -> PathBuf {
    let mut config = trainer::TrainingConfig::nb201_multi(trainer::Profile::Quick, SETTINGS.len());
    config.model = config.model.clone().with_hidden(16).with_groups(4);
    config.epochs = 15;
    config.batch_size = 8;
    config.learning_rate = 5e-3;
    let path = root.join("tiny.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pretrain_transfer_to_a_held_out_setting_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let config = tiny_config(tmp.path());
    let pretrained = tmp.path().join("pretrained");
    let out = narformer(&[
        "train",
        "--benchmark",
        "nb201-latency",
        "--settings",
        "cpu,gpu_32,fpga",
        "--train-size",
        "60",
        "--quiet",
        "--config",
        path(&config),
        "--data-dir",
        path(&data),
        "--run-dir",
        path(&pretrained),
    ]);
    let stdout = success_stdout(&out);
    assert!(stdout.contains("test MAPE"), "{stdout}");
    // `board` is not among the run's settings yet.
    let cells_file = tmp.path().join("cells.txt");
    let cells: Vec<Nb201Cell> = (500..520).map(cell).collect();
    let text: Vec<String> = cells.iter().map(Nb201Cell::to_string).collect();
    std::fs::write(&cells_file, text.join("\n")).unwrap();
    let unknown = narformer(&[
        "predict",
        "--run",
        path(&pretrained),
        "--setting",
        "board",
        path(&cells_file),
    ]);
    assert_clean_failure(
        &unknown,
        &["no setting named \"board\"", "cpu, gpu_32, fpga"],
    );

    // Ten measurements on `board`, one of an input-independent cell.
    let shots_file = tmp.path().join("shots.csv");
    let mut shots = String::from("architecture,latency_ms\n");
    let constant = (0..Nb201Cell::COUNT)
        .map(Nb201Cell::from_index)
        .find(|c| !c.reads_input())
        .unwrap();
    shots.push_str(&format!("{constant},{}\n", latencies(&constant)[3]));
    for k in (200..).map(cell).filter(Nb201Cell::reads_input).take(9) {
        shots.push_str(&format!("{k},{}\n", latencies(&k)[3]));
    }
    std::fs::write(&shots_file, &shots).unwrap();
    let tuned = tmp.path().join("tuned");
    let out = narformer(&[
        "transfer",
        "--run",
        path(&pretrained),
        "--shots",
        path(&shots_file),
        "--name",
        "board",
        "--out",
        path(&tuned),
        "--steps",
        "200",
        "--learning-rate",
        "0.01",
    ]);
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("board: learned from 10 measured cells"),
        "{stdout}"
    );
    // Nine of the ten read their input: the predictors compete on them.
    assert!(
        stdout.contains("cross-validated log error on the shots"),
        "{stdout}"
    );
    let out = narformer(&[
        "predict",
        "--run",
        path(&tuned),
        "--setting",
        "board",
        path(&cells_file),
    ]);
    let stdout = success_stdout(&out);
    let predicted: Vec<f64> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(predicted.len(), cells.len());
    let measured: Vec<f64> = cells.iter().map(|c| latencies(c)[3]).collect();
    let mape = predicted
        .iter()
        .zip(&measured)
        .map(|(p, m)| (p - m).abs() / m)
        .sum::<f64>()
        / measured.len() as f64;
    assert!(
        mape < 0.5,
        "board MAPE {mape}: {predicted:?} vs {measured:?}"
    );
    // The new run predicts the new setting only (its head was fine-tuned for
    // it); the pretrained run is unchanged and keeps the others.
    let other = narformer(&[
        "predict",
        "--run",
        path(&tuned),
        "--setting",
        "cpu",
        path(&cells_file),
    ]);
    assert_clean_failure(&other, &["no setting named \"cpu\"", "it predicts: board"]);
    success_stdout(&narformer(&[
        "predict",
        "--run",
        path(&pretrained),
        "--setting",
        "cpu",
        path(&cells_file),
    ]));

    // Bad shots files: each a named error, and nothing written.
    let head = "architecture,latency_ms\n";
    let good: Vec<&str> = shots.lines().skip(1).collect();
    let (a, b, c) = (
        good[1].split(',').next().unwrap(),
        good[2].split(',').next().unwrap(),
        good[3].split(',').next().unwrap(),
    );
    let cases = [
        (
            format!("{head}{a},1\n|conv~0|+|x|,2\n{c},3\n"),
            "not a NAS-Bench-201 cell",
        ),
        (
            format!("{head}{a},1\n{b},-2\n{c},3\n"),
            "latency_ms must be a positive finite number",
        ),
        (
            format!("{head}{a},1\n{b},NaN\n{c},3\n"),
            "latency_ms must be a positive finite number",
        ),
        (
            format!("{head}{a},1\n{b},0\n{c},3\n"),
            "latency_ms must be a positive finite number",
        ),
        (
            format!("{head}{a},1\n{b},2\n{a},3\n"),
            "measured twice (also on line 2)",
        ),
        (format!("{head}{a},1\n{b},2\n"), "transfer needs at least 3"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}.csv"));
        std::fs::write(&bad, text).unwrap();
        let out_dir = tmp.path().join(format!("bad-run{i}"));
        let out = narformer(&[
            "transfer",
            "--run",
            path(&pretrained),
            "--shots",
            path(&bad),
            "--name",
            "board",
            "--out",
            path(&out_dir),
        ]);
        assert_clean_failure(&out, &[needle, path(&bad)]);
        assert!(!out_dir.exists());
    }
    // A name the run already has is refused.
    let again = narformer(&[
        "transfer",
        "--run",
        path(&tuned),
        "--shots",
        path(&shots_file),
        "--name",
        "board",
        "--out",
        path(&tmp.path().join("again")),
    ]);
    assert_clean_failure(&again, &["already has a setting named \"board\""]);
}

/// The `narformer` commands of the page's `sh` blocks, in order.
fn page_commands(page: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in page.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            command if in_sh && command.starts_with("narformer ") => commands.push(
                command
                    .split_whitespace()
                    .skip(1)
                    .map(String::from)
                    .collect(),
            ),
            _ => {}
        }
    }
    commands
}

#[test]
fn the_own_device_page_runs_as_written_on_tiny_data() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/own-device.md"),
    )
    .unwrap();
    let commands = page_commands(&page);
    let names: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(
        names,
        ["train", "suggest-shots", "transfer", "predict"],
        "{commands:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let config = tiny_config(tmp.path());
    let cells: Vec<String> = (500..505).map(|k| cell(k).to_string()).collect();
    std::fs::write(tmp.path().join("cells.txt"), cells.join("\n")).unwrap();
    for command in &commands {
        let mut args: Vec<String> = command.clone();
        if args[0] == "train" {
            // The page's command on the tiny table, with a tiny model.
            for extra in ["--config", path(&config), "--data-dir", path(&data)] {
                args.push(extra.to_string());
            }
            args.extend(["--train-size", "60", "--quiet"].map(String::from));
        }
        if args[0] == "transfer" {
            // The measuring step: fill in latency_ms with the device's latency.
            let shots = tmp.path().join("my-device/shots.csv");
            let text = std::fs::read_to_string(&shots).unwrap();
            let mut filled = String::from("architecture,latency_ms,onnx\n");
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split(',').collect();
                let c: Nb201Cell = fields[0].parse().unwrap();
                filled.push_str(&format!(
                    "{},{},{}\n",
                    fields[0],
                    latencies(&c)[3],
                    fields[2]
                ));
            }
            std::fs::write(&shots, filled).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_narformer"))
            .args(&args)
            .current_dir(tmp.path())
            .env_remove("NARFORMER_DATA")
            .output()
            .unwrap();
        let stdout = success_stdout(&out);
        if args[0] == "suggest-shots" {
            assert!(
                tmp.path().join("my-device/onnx/031.onnx").is_file(),
                "{stdout}"
            );
        }
        if args[0] == "predict" {
            assert_eq!(stdout.lines().count(), cells.len(), "{stdout}");
        }
    }
}
