//! NAS-Bench-101: `nasbench101/nb101_30k.csv` under the data directory.
//!
//! 30,001 cells of 2 to 7 vertices with their 108-epoch *validation* accuracy
//! (the full benchmark's test accuracies are not in this subset). The `arch` of
//! a sample is the cell's text form `<adjacency> <ops>` (see [`Nb101Cell`]).

use crate::rows::{BadRows, Loaded, accuracy, read_rows};
use crate::{DatasetError, Sample};
use graph_ir::cells::Nb101Cell;
use std::path::Path;

/// Where the file lives, relative to the data directory.
pub const NB101_FILE: &str = "nasbench101/nb101_30k.csv";
/// The label column.
pub const NB101_LABEL: &str = "val_acc_108ep";

/// Loads every cell of `<data_dir>/nasbench101/nb101_30k.csv`.
pub fn load(data_dir: &Path, bad_rows: BadRows) -> Result<Loaded, DatasetError> {
    load_file(&data_dir.join(NB101_FILE), bad_rows)
}

/// Loads a file in the `nb101_30k.csv` format. A row whose adjacency is not
/// n*n long or not upper-triangular, whose ops are unknown, or whose label is
/// not an accuracy is an error naming its line (or skipped under [`BadRows::Skip`]).
pub fn load_file(path: &Path, bad_rows: BadRows) -> Result<Loaded, DatasetError> {
    let mut index = 0;
    read_rows(
        path,
        &["num_vertices", "adjacency_rowmajor", "ops", NB101_LABEL],
        bad_rows,
        |fields| {
            let n: usize = fields[0]
                .parse()
                .map_err(|_| format!("num_vertices {:?} is not a count", fields[0]))?;
            let cell = Nb101Cell::from_fields(fields[1], fields[2]).map_err(|e| e.to_string())?;
            if cell.num_vertices() != n {
                return Err(format!(
                    "num_vertices says {n} but the cell has {}",
                    cell.num_vertices()
                ));
            }
            let label = accuracy(NB101_LABEL, fields[3], 1.0)?;
            index += 1;
            Ok(Sample {
                index: index - 1,
                arch: cell.to_string(),
                graph: cell.to_graph(),
                label,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "hash,num_vertices,adjacency_rowmajor,ops,val_acc_4ep,val_acc_12ep,val_acc_36ep,val_acc_108ep,train_time_108ep_s,params";

    /// One valid row for each vertex count 2..=7: a chain through every vertex.
    fn chain_row(n: usize) -> String {
        let mut adjacency = vec!['0'; n * n];
        for i in 0..n - 1 {
            adjacency[i * n + i + 1] = '1';
        }
        let inner = ["c3", "c1", "mp", "c3", "c1"];
        let ops: Vec<&str> = std::iter::once("in")
            .chain(inner.iter().copied().take(n - 2))
            .chain(std::iter::once("out"))
            .collect();
        let adjacency: String = adjacency.into_iter().collect();
        format!(
            "h{n},{n},{adjacency},{},0.1,0.2,0.3,0.9{n},1.0,100",
            ops.join("|")
        )
    }

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn parses_every_vertex_count() {
        let rows: Vec<String> = (2..=7).map(chain_row).collect();
        let f = write(&format!("{HEADER}\n{}\n", rows.join("\n")));
        let loaded = load_file(f.path(), BadRows::Fail).unwrap();
        assert!(loaded.skipped.is_empty());
        let sizes: Vec<usize> = loaded.samples.iter().map(|s| s.graph.len()).collect();
        assert_eq!(sizes, vec![2, 3, 4, 5, 6, 7]);
        let s = &loaded.samples[5];
        assert_eq!(s.index, 5);
        assert!((s.label - 0.97).abs() < 1e-12);
        let again: Nb101Cell = s.arch.parse().unwrap();
        assert_eq!(again.to_graph().edges(), s.graph.edges());
    }

    #[test]
    fn bad_rows_name_their_line_and_can_be_skipped() {
        let good = chain_row(4);
        let lower = good.replace("0100001000010000", "0100101000010000");
        let short = good.replace("0100001000010000", "010000100001000");
        let unknown = good.replace("c3|c1", "c3|conv9");
        let nan = good.replace("0.94", "NaN");
        let wrong_n = good.replacen(",4,", ",5,", 1);
        let cases = [
            (&lower, "not strictly upper-triangular"),
            (&short, "15 entries, expected 4*4 = 16"),
            (&unknown, "unknown operation \"conv9\""),
            (&nan, "not an accuracy"),
            (&wrong_n, "num_vertices says 5"),
        ];
        for (row, needle) in cases {
            let f = write(&format!("{HEADER}\n{good}\n{row}\n{good}\n"));
            let msg = load_file(f.path(), BadRows::Fail).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("{}:3:", f.path().display())) && msg.contains(needle),
                "{msg}"
            );
            let loaded = load_file(f.path(), BadRows::Skip).unwrap();
            assert_eq!(loaded.samples.len(), 2);
            assert_eq!(loaded.skipped.len(), 1);
            assert!(loaded.skipped[0].to_string().contains(":3:"));
        }
    }

    #[test]
    fn a_truncated_row_is_reported() {
        let f = write(&format!("{HEADER}\n{}\nh,4,0100\n", chain_row(3)));
        let msg = load_file(f.path(), BadRows::Fail).unwrap_err().to_string();
        assert!(msg.contains(":3:") && msg.contains("fields"), "{msg}");
    }
}
