//! The converters on small hand-made inputs: formats, and errors that name the file.

use fetch::convert::{self, Number};
use graph_ir::cells::{ModuleHash, Nb101Cell, module_hash};
use std::collections::HashMap;
use std::io::Write;

const NATS_HEADER: &str = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString\n";
const CELL_A: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
const CELL_B: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";

fn nats(rows: &[(&str, &str)]) -> Vec<u8> {
    let mut text = NATS_HEADER.to_string();
    for (acc, cell) in rows {
        text.push_str(&format!("{acc},52.9,26.6,{cell},(0)@x+0\n"));
    }
    text.into_bytes()
}

/// A `torch.save`-style archive: `<stem>/data.pkl` holding a pickled list, stored uncompressed.
fn torch_file(
    stem: &str,
    list: &serde_pickle::Value,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let pickle = serde_pickle::value_to_vec(list, serde_pickle::SerOptions::new())?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{stem}/data.pkl"), options)?;
    zip.write_all(&pickle)?;
    zip.start_file(format!("{stem}/version"), options)?;
    zip.write_all(b"3\n")?;
    Ok(zip.finish()?.into_inner())
}

fn floats(values: &[f64]) -> serde_pickle::Value {
    serde_pickle::Value::List(
        values
            .iter()
            .map(|&v| serde_pickle::Value::F64(v))
            .collect(),
    )
}

#[test]
fn nb201_accuracy_copies_the_published_text() -> Result<(), Box<dyn std::error::Error>> {
    let out = convert::nb201_accuracy(
        "nats_bench.csv",
        &nats(&[("85.86333333333334", CELL_A), ("93.66000000000001", CELL_B)]),
        2,
    )?;
    let text = String::from_utf8(out)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "arch_idx,arch_str,c10_test_200ep_mean,c100_test_200ep_mean,in16_test_200ep_mean,iso_unique_str"
    );
    assert_eq!(
        lines[1],
        format!("0,{CELL_A},85.86333333333334,52.9,26.6,(0)@x+0")
    );
    assert_eq!(
        lines[2],
        format!("1,{CELL_B},93.66000000000001,52.9,26.6,(0)@x+0")
    );
    Ok(())
}

#[test]
fn nb201_accuracy_names_the_bad_line() {
    for (rows, needle) in [
        (
            nats(&[("85.8", CELL_A), ("abc", CELL_B)]),
            "line 3: CIFAR10 accuracy \"abc\"",
        ),
        (nats(&[("85.8", CELL_A), ("93.6", "|bogus~0|")]), "line 3"),
        (nats(&[("85.8", CELL_A)]), "1 architectures, expected 2"),
    ] {
        let err = convert::nb201_accuracy("nats_bench.csv", &rows, 2)
            .expect_err("bad input must fail")
            .to_string();
        assert!(
            err.contains("nats_bench.csv") && err.contains(needle),
            "{err}"
        );
    }
}

#[test]
fn torch_lists_of_floats_and_ints_are_read() -> Result<(), Box<dyn std::error::Error>> {
    let f = torch_file("fpga", &floats(&[2.57296, 5.31536]))?;
    assert_eq!(
        convert::read_torch_list("fpga.pt", &f)?,
        vec![Number::Float(2.57296), Number::Float(5.31536)]
    );
    let ints = serde_pickle::Value::List(vec![
        serde_pickle::Value::I64(9),
        serde_pickle::Value::I64(18),
    ]);
    let i = torch_file("pixel2", &ints)?;
    assert_eq!(
        convert::read_torch_list("pixel2.pt", &i)?,
        vec![Number::Int(9), Number::Int(18)]
    );
    for (bytes, needle) in [
        (b"not a zip".to_vec(), "not a torch.save zip archive"),
        (torch_file("x", &serde_pickle::Value::I64(3))?, "not a list"),
        (
            torch_file(
                "x",
                &serde_pickle::Value::List(vec![serde_pickle::Value::String("a".into())]),
            )?,
            "item 0",
        ),
    ] {
        let err = convert::read_torch_list("bad.pt", &bytes)
            .expect_err("bad input must fail")
            .to_string();
        assert!(err.contains("bad.pt") && err.contains(needle), "{err}");
    }
    Ok(())
}

#[test]
fn nb201_latency_joins_settings_in_name_order() -> Result<(), Box<dyn std::error::Error>> {
    let table = nats(&[("85.8", CELL_A), ("93.6", CELL_B)]);
    let settings = vec![
        (
            "help_nb201_latency/pixel2.pt".to_string(),
            torch_file(
                "pixel2",
                &serde_pickle::Value::List(vec![
                    serde_pickle::Value::I64(9),
                    serde_pickle::Value::I64(18),
                ]),
            )?,
        ),
        (
            "help_nb201_latency/fpga.pt".to_string(),
            torch_file("fpga", &floats(&[2.57296, 5.0]))?,
        ),
    ];
    let text = String::from_utf8(convert::nb201_latency(
        "nats_bench.csv",
        &table,
        &settings,
        2,
    )?)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "arch_idx,arch_str,fpga_ms,pixel2_ms");
    assert_eq!(lines[1], format!("0,{CELL_A},2.57296,9"));
    assert_eq!(lines[2], format!("1,{CELL_B},5.0,18"));

    let zero = vec![(
        "help_nb201_latency/fpga.pt".to_string(),
        torch_file("fpga", &floats(&[2.5, 0.0]))?,
    )];
    let err = convert::nb201_latency("nats_bench.csv", &table, &zero, 2)
        .expect_err("a zero latency must fail")
        .to_string();
    assert!(
        err.contains("fpga.pt") && err.contains("architecture 1"),
        "{err}"
    );
    let short = vec![(
        "help_nb201_latency/fpga.pt".to_string(),
        torch_file("fpga", &floats(&[2.5]))?,
    )];
    let err = convert::nb201_latency("nats_bench.csv", &table, &short, 2)
        .expect_err("a short list must fail")
        .to_string();
    assert!(err.contains("1 latencies, expected 2"), "{err}");
    Ok(())
}

fn vis_json(keys: &[String], acc108: &[f64]) -> Vec<u8> {
    let n = keys.len();
    serde_json::json!({
        "key": keys,
        "4_final_validation_accuracy": vec![0.25; n],
        "12_final_validation_accuracy": vec![0.5; n],
        "36_final_validation_accuracy": vec![0.75; n],
        "108_final_validation_accuracy": acc108,
        "final_training_time": vec![1768.9759521484375; n],
        "trainable_parameters": vec![8555530u64; n],
    })
    .to_string()
    .into_bytes()
}

#[test]
fn nb101_matches_keys_to_cells_and_sorts_by_hash() -> Result<(), Box<dyn std::error::Error>> {
    let cells: Vec<Nb101Cell> = ["0110000100010000 in|c3|mp|out", "010001000 in|c1|out"]
        .iter()
        .map(|t| t.parse())
        .collect::<Result<_, _>>()?;
    let space: HashMap<ModuleHash, Nb101Cell> =
        cells.iter().map(|c| (module_hash(c), c.clone())).collect();
    let keys: Vec<String> = cells.iter().map(|c| module_hash(c).to_string()).collect();
    let parts = vec![
        ("data-20k.json".to_string(), vis_json(&keys[..1], &[0.93])),
        ("data-10k.json".to_string(), vis_json(&keys[1..], &[0.89])),
    ];
    let text = String::from_utf8(convert::nb101_in_space(&parts, 2, &space)?)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let mut sorted = keys.clone();
    sorted.sort();
    assert!(lines[1].starts_with(&sorted[0]) && lines[2].starts_with(&sorted[1]));
    assert!(
        lines.contains(
            &format!(
                "{},4,0110000100010000,in|c3|mp|out,0.25,0.5,0.75,0.93,1768.9759521484375,8555530",
                keys[0]
            )
            .as_str()
        ),
        "{text}"
    );

    // A key outside the space, a repeated key and a malformed key are named.
    let stranger = vec![(
        "data-20k.json".to_string(),
        vis_json(&["0".repeat(32)], &[0.9]),
    )];
    let err = convert::nb101_in_space(&stranger, 1, &space)
        .expect_err("unknown key")
        .to_string();
    assert!(
        err.contains("data-20k.json position 0") && err.contains("no cell"),
        "{err}"
    );
    let twice = vec![
        ("a.json".to_string(), vis_json(&keys[..1], &[0.9])),
        ("b.json".to_string(), vis_json(&keys[..1], &[0.9])),
    ];
    let err = convert::nb101_in_space(&twice, 2, &space)
        .expect_err("repeated key")
        .to_string();
    assert!(
        err.contains("b.json") && err.contains("repeats a.json position 0"),
        "{err}"
    );
    let junk = vec![("a.json".to_string(), vis_json(&["xyz".to_string()], &[0.9]))];
    let err = convert::nb101_in_space(&junk, 1, &space)
        .expect_err("bad key")
        .to_string();
    assert!(
        err.contains("a.json") && err.contains("not a module hash"),
        "{err}"
    );
    let truncated = vec![("a.json".to_string(), b"{\"key\": [\"00".to_vec())];
    let err = convert::nb101_in_space(&truncated, 1, &space)
        .expect_err("truncated")
        .to_string();
    assert!(
        err.contains("a.json") && err.contains("not nasbench-vis JSON"),
        "{err}"
    );
    Ok(())
}
