//! NAS-Bench-201: `nasbench201/accuracy.csv` under the data directory.
//!
//! The label is `c10_test_200ep_mean` (CIFAR-10 test accuracy after 200
//! epochs, mean over seeds), divided by 100. NAR-Former V2 trained on the
//! cifar10-valid validation accuracy, which this file does not carry.

use crate::rows::{BadRows, Loaded, accuracy, read_rows};
use crate::{DatasetError, Sample};
use graph_ir::cells::Nb201Cell;
use std::path::Path;

/// Where the file lives, relative to the data directory.
pub const NB201_FILE: &str = "nasbench201/accuracy.csv";
/// The label column.
pub const NB201_LABEL: &str = "c10_test_200ep_mean";
/// Number of cells in the full space.
pub const NB201_CELLS: usize = 15_625;

/// Loads every cell of `<data_dir>/nasbench201/accuracy.csv`.
pub fn load(data_dir: &Path, bad_rows: BadRows) -> Result<Loaded, DatasetError> {
    load_file(&data_dir.join(NB201_FILE), bad_rows)
}

/// Loads a file in the `accuracy.csv` format; a malformed row is an error naming
/// its line, or is skipped under [`BadRows::Skip`].
pub fn load_file(path: &Path, bad_rows: BadRows) -> Result<Loaded, DatasetError> {
    read_rows(
        path,
        &["arch_idx", "arch_str", NB201_LABEL],
        bad_rows,
        |fields| {
            let index: usize = fields[0]
                .parse()
                .map_err(|e| format!("arch_idx is not an index: {e}"))?;
            let arch = fields[1].to_string();
            let cell: Nb201Cell = arch.parse().map_err(|e| format!("{e}"))?;
            Ok(Sample {
                index,
                arch,
                graph: cell.to_graph(),
                label: accuracy(NB201_LABEL, fields[2], 100.0)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "arch_idx,arch_str,c10_test_200ep_mean,iso_unique_str";
    const ROW: &str = "0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86,x";

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_a_valid_file() {
        let f = write(&format!("{HEADER}\n{ROW}\n"));
        let samples = load_file(f.path(), BadRows::Fail).unwrap().samples;
        assert_eq!(samples.len(), 1);
        assert!((samples[0].label - 0.8586).abs() < 1e-12);
        assert_eq!(samples[0].graph.len(), 8);
    }

    fn error_of(contents: &str) -> String {
        let f = write(contents);
        let msg = load_file(f.path(), BadRows::Fail).unwrap_err().to_string();
        assert!(msg.contains(&f.path().display().to_string()), "{msg}");
        msg
    }

    #[test]
    fn missing_column_names_the_column() {
        let msg = error_of("arch_idx,arch_str\n0,x\n");
        assert!(msg.contains("c10_test_200ep_mean"), "{msg}");
    }

    #[test]
    fn non_numeric_accuracy_names_the_line() {
        let msg = error_of(&format!(
            "{HEADER}\n{ROW}\n{}\n",
            ROW.replace("85.86", "abc")
        ));
        assert!(msg.contains(":3:") && msg.contains("abc"), "{msg}");
    }

    #[test]
    fn bad_labels_and_cells_and_truncated_rows_are_errors() {
        for (row, needle) in [
            (ROW.replace("85.86", "NaN"), "not an accuracy"),
            (ROW.replace("85.86", "-3"), "not an accuracy"),
            (
                ROW.replace("avg_pool_3x3~0", "avg_pool~0"),
                "unknown operation",
            ),
            (
                "1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|".to_string(),
                "fields",
            ),
        ] {
            let msg = error_of(&format!("{HEADER}\n{row}\n"));
            assert!(msg.contains(":2:") && msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn missing_file_and_empty_file_are_errors() {
        assert!(
            load_file(Path::new("/no/such/file.csv"), BadRows::Fail)
                .unwrap_err()
                .to_string()
                .contains("/no/such/file.csv")
        );
        let msg = error_of(&format!("{HEADER}\n"));
        assert!(msg.contains("no rows"), "{msg}");
    }
}
