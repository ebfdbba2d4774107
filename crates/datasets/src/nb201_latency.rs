//! NAS-Bench-201 latency on 27 device settings: `nasbench201/latency_help.csv`
//! under the data directory (HELP's measurements; see docs/DATA.md).
//!
//! Columns: `arch_idx,arch_str,<setting>_ms,...`. A setting's batch size is the
//! number after the last `_` of its name when that is a power of two
//! (`1080ti_32` is batch 32; `gold_6240` is batch 1), else 1. Every latency must be a finite positive number: a missing,
//! non-numeric, zero or negative value is an error naming its line and column.

use crate::DatasetError;
use crate::rows::{column, open_csv};
use crate::split::{Split, SplitSizes};
use graph_ir::cells::Nb201Cell;
use std::path::{Path, PathBuf};

/// Where the file lives, relative to the data directory.
pub const NB201_LATENCY_FILE: &str = "nasbench201/latency_help.csv";

/// One measured device setting (a device at one batch size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSetting {
    /// The column name without `_ms` (`titan_rtx_32`, `pixel3`, ...).
    pub name: String,
    pub batch_size: usize,
}

/// Every network of the file with its latency on every setting.
#[derive(Debug, Clone)]
pub struct LatencyTable {
    pub path: PathBuf,
    pub settings: Vec<DeviceSetting>,
    /// `(arch_idx, cell)` per row.
    pub cells: Vec<(usize, Nb201Cell)>,
    /// Row-major `[networks, settings]`, milliseconds.
    pub latency_ms: Vec<f64>,
}

impl LatencyTable {
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Latency of network `row` on setting `setting`.
    pub fn latency(&self, row: usize, setting: usize) -> f64 {
        self.latency_ms[row * self.settings.len() + setting]
    }

    /// The index of the setting called `name`; an unknown name is an error
    /// that lists the valid ones.
    pub fn setting(&self, name: &str) -> Result<usize, DatasetError> {
        self.settings
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| DatasetError::Invalid {
                path: self.path.clone(),
                problem: format!(
                    "no device setting {name:?}; valid names: {}",
                    self.settings
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The seeded split every setting shares: `train` and `validation`
    /// networks, the test set is all the others.
    pub fn split(&self, train: usize, validation: usize, seed: u64) -> Result<Split, DatasetError> {
        Split::seeded(self.len(), SplitSizes { train, validation }, seed)
    }
}

/// Batch size of a setting name: its last `_`-separated part when that is a
/// power of two up to 4096 (`1080ti_32`), else 1 (`gold_6240` is a CPU model).
fn batch_of(name: &str) -> usize {
    name.rsplit_once('_')
        .and_then(|(_, n)| n.parse::<usize>().ok())
        .filter(|&n| n.is_power_of_two() && n <= 4096)
        .unwrap_or(1)
}

/// Loads `<data_dir>/nasbench201/latency_help.csv`.
pub fn load(data_dir: &Path) -> Result<LatencyTable, DatasetError> {
    load_file(&data_dir.join(NB201_LATENCY_FILE))
}

/// Loads a file in the `latency_help.csv` format.
pub fn load_file(path: &Path) -> Result<LatencyTable, DatasetError> {
    let bad_row = |line: u64, problem: String| DatasetError::BadRow {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let (mut reader, headers) = open_csv(path)?;
    let column = |name: &str| column(path, &headers, name);
    let (idx_col, arch_col) = (column("arch_idx")?, column("arch_str")?);
    let device_cols: Vec<(usize, DeviceSetting)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let name = h.strip_suffix("_ms")?;
            Some((
                i,
                DeviceSetting {
                    name: name.to_string(),
                    batch_size: batch_of(name),
                },
            ))
        })
        .collect();
    if device_cols.is_empty() {
        return Err(DatasetError::Invalid {
            path: path.to_path_buf(),
            problem: "no `<device>_ms` latency columns in the header".into(),
        });
    }
    let mut table = LatencyTable {
        path: path.to_path_buf(),
        settings: device_cols.iter().map(|(_, s)| s.clone()).collect(),
        cells: Vec::new(),
        latency_ms: Vec::new(),
    };
    for record in reader.records() {
        let record =
            record.map_err(|e| bad_row(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |col: usize, name: &str| {
            record
                .get(col)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad_row(line, format!("missing {name}")))
        };
        let index: usize = field(idx_col, "arch_idx")?
            .parse()
            .map_err(|e| bad_row(line, format!("arch_idx is not an index: {e}")))?;
        let cell: Nb201Cell = field(arch_col, "arch_str")?
            .parse()
            .map_err(|e| bad_row(line, format!("{e}")))?;
        for (col, setting) in &device_cols {
            let name = format!("{}_ms", setting.name);
            let raw = field(*col, &name)?;
            let value: f64 = raw
                .parse()
                .map_err(|_| bad_row(line, format!("{name} {raw:?} is not a number")))?;
            if !value.is_finite() || value <= 0.0 {
                return Err(bad_row(
                    line,
                    format!("{name} {value} is not a positive latency"),
                ));
            }
            table.latency_ms.push(value);
        }
        table.cells.push((index, cell));
    }
    if table.cells.is_empty() {
        return Err(DatasetError::Invalid {
            path: path.to_path_buf(),
            problem: "no rows after the header".into(),
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "arch_idx,arch_str,gpu_1_ms,gpu_32_ms,pixel3_ms,gold_6240_ms";
    const CELL: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";

    fn write(rows: &[String]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "{HEADER}").unwrap();
        for r in rows {
            writeln!(f, "{r}").unwrap();
        }
        f
    }

    #[test]
    fn reads_settings_batches_and_values() {
        let f = write(&[
            format!("0,{CELL},1.5,20,9,3"),
            format!("1,{CELL},2.5,30,11,4"),
        ]);
        let t = load_file(f.path()).unwrap();
        let names: Vec<(&str, usize)> = t
            .settings
            .iter()
            .map(|s| (s.name.as_str(), s.batch_size))
            .collect();
        assert_eq!(
            names,
            [
                ("gpu_1", 1),
                ("gpu_32", 32),
                ("pixel3", 1),
                ("gold_6240", 1)
            ]
        );
        assert_eq!(t.latency(1, 1), 30.0);
        assert_eq!(t.setting("pixel3").unwrap(), 2);
    }

    #[test]
    fn an_unknown_setting_lists_the_valid_names() {
        let f = write(&[format!("0,{CELL},1.5,20,9,3")]);
        let err = load_file(f.path())
            .unwrap()
            .setting("pixel9")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"pixel9\"")
                && err.contains("valid names: gpu_1, gpu_32, pixel3, gold_6240"),
            "{err}"
        );
    }

    #[test]
    fn bad_latencies_are_rejected_with_their_line() {
        for (bad, what) in [
            ("0", "not a positive"),
            ("-2", "not a positive"),
            ("", "missing"),
            ("nan", "not a positive"),
            ("x", "not a number"),
        ] {
            let f = write(&[
                format!("0,{CELL},1.5,20,9,3"),
                format!("1,{CELL},1.5,{bad},9,3"),
            ]);
            let err = load_file(f.path()).unwrap_err().to_string();
            assert!(
                err.contains(":3:") && err.contains("gpu_32_ms") && err.contains(what),
                "{bad:?}: {err}"
            );
        }
        // A truncated row lacks its last columns.
        let f = write(&[format!("0,{CELL},1.5")]);
        let err = load_file(f.path()).unwrap_err().to_string();
        assert!(
            err.contains(":2:") && err.contains("missing gpu_32_ms"),
            "{err}"
        );
    }
}
