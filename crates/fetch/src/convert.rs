//! Converters from the files as published to the canonical CSVs of the
//! `datasets` crate. Each is a pure function of the source bytes, so its output
//! has a fixed SHA-256 that the manifest records.

use crate::FetchError;
use graph_ir::cells::{ModuleHash, Nb101Cell, Nb201Cell, enumerate_nb101};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;

/// One row of NATS-Bench's `nats_bench.csv` (row i is NB201 index i).
#[derive(Debug, Clone, Deserialize)]
struct NatsRow {
    #[serde(rename = "CIFAR10TestAccuracy200Epochs")]
    c10: String,
    #[serde(rename = "CIFAR100TestAccuracy200Epochs")]
    c100: String,
    #[serde(rename = "ImageNetTestAccuracy200Epochs")]
    in16: String,
    #[serde(rename = "ArchitectureString")]
    arch: String,
    #[serde(rename = "UniqueString")]
    unique: String,
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>, file: &str) -> Result<Vec<u8>, FetchError> {
    writer
        .into_inner()
        .map_err(|e| FetchError::convert(file, e.to_string()))
}

/// Reads `nats_bench.csv`, checking each architecture string and accuracy.
fn read_nats(file: &str, bytes: &[u8], rows: usize) -> Result<Vec<NatsRow>, FetchError> {
    let mut reader = csv::Reader::from_reader(bytes);
    let mut out = Vec::with_capacity(rows);
    for (i, record) in reader.deserialize::<NatsRow>().enumerate() {
        let line = i + 2;
        let row = record.map_err(|e| FetchError::convert(file, format!("line {line}: {e}")))?;
        row.arch
            .parse::<Nb201Cell>()
            .map_err(|e| FetchError::convert(file, format!("line {line}: {e}")))?;
        for (column, text) in [
            ("CIFAR10", &row.c10),
            ("CIFAR100", &row.c100),
            ("ImageNet", &row.in16),
        ] {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => {}
                _ => {
                    return Err(FetchError::convert(
                        file,
                        format!("line {line}: {column} accuracy {text:?} is not a percentage"),
                    ));
                }
            }
        }
        out.push(row);
    }
    if out.len() != rows {
        return Err(FetchError::convert(
            file,
            format!("{} architectures, expected {rows}", out.len()),
        ));
    }
    Ok(out)
}

/// `nasbench201/accuracy.csv` from `nats_bench.csv`: index, cell string, the three
/// 200-epoch test accuracies (text copied as published) and the isomorphism key.
/// The 12-epoch columns of the shared copy come from a file not published with
/// these; the loader does not need them.
pub fn nb201_accuracy(file: &str, nats_csv: &[u8], rows: usize) -> Result<Vec<u8>, FetchError> {
    let nats = read_nats(file, nats_csv, rows)?;
    let mut w = csv_writer();
    let werr = |e: csv::Error| FetchError::convert(file, e.to_string());
    w.write_record([
        "arch_idx",
        "arch_str",
        "c10_test_200ep_mean",
        "c100_test_200ep_mean",
        "in16_test_200ep_mean",
        "iso_unique_str",
    ])
    .map_err(werr)?;
    for (i, row) in nats.iter().enumerate() {
        w.write_record([
            &i.to_string(),
            &row.arch,
            &row.c10,
            &row.c100,
            &row.in16,
            &row.unique,
        ])
        .map_err(werr)?;
    }
    finish(w, file)
}

/// A number of a pickled list: HELP stores phone latencies as whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn value(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(x) => x,
        }
    }

    fn text(self) -> String {
        match self {
            Number::Int(i) => i.to_string(),
            Number::Float(x) => format!("{x:?}"),
        }
    }
}

/// Reads a `torch.save`d plain list of numbers: a zip archive whose `*/data.pkl`
/// is a pickle of the list (no tensors, so no torch needed).
pub fn read_torch_list(file: &str, bytes: &[u8]) -> Result<Vec<Number>, FetchError> {
    let err = |reason: String| FetchError::convert(file, reason);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| err(format!("not a torch.save zip archive: {e}")))?;
    let name = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
        .map(str::to_string)
        .ok_or_else(|| err("the archive holds no data.pkl".to_string()))?;
    let mut pickle = Vec::new();
    archive
        .by_name(&name)
        .map_err(|e| err(format!("{name}: {e}")))?
        .read_to_end(&mut pickle)
        .map_err(|e| err(format!("{name}: {e}")))?;
    let value = serde_pickle::value_from_slice(&pickle, serde_pickle::DeOptions::new())
        .map_err(|e| err(format!("{name}: not a readable pickle: {e}")))?;
    let serde_pickle::Value::List(items) = value else {
        return Err(err(format!("{name}: the pickle is not a list")));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_pickle::Value::I64(v) => Ok(Number::Int(v)),
            serde_pickle::Value::F64(v) => Ok(Number::Float(v)),
            other => Err(err(format!("{name}: item {i} is {other:?}, not a number"))),
        })
        .collect()
}

/// `nasbench201/latency_help.csv`: index, cell string (from `nats_bench.csv`) and
/// one `<setting>_ms` column per `.pt` file, settings in name order. Every
/// latency must be a positive finite number.
pub fn nb201_latency(
    nats_file: &str,
    nats_csv: &[u8],
    settings: &[(String, Vec<u8>)],
    rows: usize,
) -> Result<Vec<u8>, FetchError> {
    let nats = read_nats(nats_file, nats_csv, rows)?;
    let mut sorted: Vec<&(String, Vec<u8>)> = settings.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut columns = Vec::with_capacity(sorted.len());
    for (path, bytes) in &sorted {
        let values = read_torch_list(path, bytes)?;
        if values.len() != rows {
            return Err(FetchError::convert(
                path,
                format!("{} latencies, expected {rows}", values.len()),
            ));
        }
        if let Some(i) = values
            .iter()
            .position(|v| !(v.value().is_finite() && v.value() > 0.0))
        {
            return Err(FetchError::convert(
                path,
                format!(
                    "latency of architecture {i} is {:?}, not a positive number",
                    values[i]
                ),
            ));
        }
        columns.push(values);
    }
    let mut w = csv_writer();
    let werr = |e: csv::Error| FetchError::convert(nats_file, e.to_string());
    let mut header = vec!["arch_idx".to_string(), "arch_str".to_string()];
    header.extend(
        sorted
            .iter()
            .map(|(path, _)| format!("{}_ms", setting_name(path))),
    );
    w.write_record(&header).map_err(werr)?;
    for (i, row) in nats.iter().enumerate() {
        let mut record = vec![i.to_string(), row.arch.clone()];
        record.extend(columns.iter().map(|c| c[i].text()));
        w.write_record(&record).map_err(werr)?;
    }
    finish(w, nats_file)
}

/// `help_nb201_latency/titan_rtx_32.pt` -> `titan_rtx_32`.
pub fn setting_name(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".pt").unwrap_or(name)
}

/// One nasbench-vis file: parallel lists keyed by NB101 module hash.
#[derive(Debug, Deserialize)]
struct VisFile {
    key: Vec<String>,
    #[serde(rename = "4_final_validation_accuracy")]
    acc4: Vec<f64>,
    #[serde(rename = "12_final_validation_accuracy")]
    acc12: Vec<f64>,
    #[serde(rename = "36_final_validation_accuracy")]
    acc36: Vec<f64>,
    #[serde(rename = "108_final_validation_accuracy")]
    acc108: Vec<f64>,
    final_training_time: Vec<f64>,
    trainable_parameters: Vec<u64>,
}

/// What the NB101 conversion found, for the log.
#[derive(Debug, Clone)]
pub struct Nb101Stats {
    pub space_size: usize,
    pub enumerate_seconds: f64,
    pub matched: usize,
}

/// `nasbench101/nb101_30k.csv` from the nasbench-vis JSON files: each key is
/// matched to its cell by enumerating the NB101 space (NB101's own representative
/// graph per hash); rows sorted by hash.
pub fn nb101(
    parts: &[(String, Vec<u8>)],
    rows: usize,
    threads: usize,
) -> Result<(Vec<u8>, Nb101Stats), FetchError> {
    let start = std::time::Instant::now();
    let space: HashMap<ModuleHash, Nb101Cell> = enumerate_nb101(threads).into_iter().collect();
    let enumerate_seconds = start.elapsed().as_secs_f64();
    let bytes = nb101_in_space(parts, rows, &space)?;
    let stats = Nb101Stats {
        space_size: space.len(),
        enumerate_seconds,
        matched: rows,
    };
    Ok((bytes, stats))
}

/// The NB101 conversion against a given space (hash -> cell).
pub fn nb101_in_space(
    parts: &[(String, Vec<u8>)],
    rows: usize,
    space: &HashMap<ModuleHash, Nb101Cell>,
) -> Result<Vec<u8>, FetchError> {
    struct Row {
        hash: ModuleHash,
        values: [f64; 5],
        params: u64,
    }
    let mut table: Vec<Row> = Vec::with_capacity(rows);
    let mut where_from: HashMap<ModuleHash, String> = HashMap::new();
    for (file, bytes) in parts {
        let vis: VisFile = serde_json::from_slice(bytes)
            .map_err(|e| FetchError::convert(file, format!("not nasbench-vis JSON: {e}")))?;
        let n = vis.key.len();
        let lengths = [
            vis.acc4.len(),
            vis.acc12.len(),
            vis.acc36.len(),
            vis.acc108.len(),
            vis.final_training_time.len(),
            vis.trainable_parameters.len(),
        ];
        if lengths.iter().any(|&l| l != n) {
            return Err(FetchError::convert(
                file,
                format!("lists of different lengths: {n} keys, others {lengths:?}"),
            ));
        }
        for i in 0..n {
            let hash: ModuleHash = vis.key[i]
                .parse()
                .map_err(|e| FetchError::convert(file, format!("key {i}: {e}")))?;
            let values = [
                vis.acc4[i],
                vis.acc12[i],
                vis.acc36[i],
                vis.acc108[i],
                vis.final_training_time[i],
            ];
            if values[..4]
                .iter()
                .any(|a| !(a.is_finite() && (0.0..=1.0).contains(a)))
            {
                return Err(FetchError::convert(
                    file,
                    format!("key {i} ({hash}): an accuracy outside [0, 1]: {values:?}"),
                ));
            }
            if let Some(first) = where_from.insert(hash, format!("{file} position {i}")) {
                return Err(FetchError::convert(
                    file,
                    format!("key {i} ({hash}) repeats {first}"),
                ));
            }
            table.push(Row {
                hash,
                values,
                params: vis.trainable_parameters[i],
            });
        }
    }
    if table.len() != rows {
        return Err(FetchError::convert(
            &parts
                .iter()
                .map(|p| p.0.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            format!("{} cells, expected {rows}", table.len()),
        ));
    }
    table.sort_by_key(|r| r.hash);
    let mut w = csv_writer();
    let werr = |e: csv::Error| FetchError::convert("nasbench101/nb101_30k.csv", e.to_string());
    w.write_record([
        "hash",
        "num_vertices",
        "adjacency_rowmajor",
        "ops",
        "val_acc_4ep",
        "val_acc_12ep",
        "val_acc_36ep",
        "val_acc_108ep",
        "train_time_108ep_s",
        "params",
    ])
    .map_err(werr)?;
    for row in &table {
        let cell = space.get(&row.hash).ok_or_else(|| {
            FetchError::convert(
                where_from
                    .get(&row.hash)
                    .map_or("nasbench-vis", |s| s.as_str()),
                format!("key {} is no cell of the NB101 space", row.hash),
            )
        })?;
        let text = cell.to_string();
        let (adjacency, ops) = text.split_once(' ').unwrap_or((&text, ""));
        let mut record = vec![
            row.hash.to_string(),
            cell.num_vertices().to_string(),
            adjacency.to_string(),
            ops.to_string(),
        ];
        record.extend(row.values.iter().map(|v| format!("{v:?}")));
        record.push(row.params.to_string());
        w.write_record(&record).map_err(werr)?;
    }
    finish(w, "nasbench101/nb101_30k.csv")
}

/// Checks a file published in its final form: `rows` non-empty lines of text.
pub fn as_published(file: &str, bytes: &[u8], rows: usize) -> Result<Vec<u8>, FetchError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FetchError::convert(file, format!("not UTF-8 text: {e}")))?;
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if lines != rows {
        return Err(FetchError::convert(
            file,
            format!("{lines} lines, expected {rows}"),
        ));
    }
    Ok(bytes.to_vec())
}
