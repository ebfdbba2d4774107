//! A new device's measurements for few-shot transfer (`narformer transfer
//! --shots FILE`): a CSV of `architecture,latency_ms` rows, each architecture
//! a NAS-Bench-201 cell string. Every problem is an error naming the file and
//! line: an unknown cell, a latency that is not a positive finite number, a
//! cell measured twice, fewer rows than [`MIN_SHOTS`].

use crate::DatasetError;
use crate::rows::{column, open_csv};
use graph_ir::cells::Nb201Cell;
use std::collections::HashMap;
use std::path::Path;

/// Fewer measurements cannot fit the transfer: a new setting's scale and
/// offset are two numbers, and one more is needed to tell them from noise.
pub const MIN_SHOTS: usize = 3;

/// One measured architecture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shot {
    pub cell: Nb201Cell,
    pub latency_ms: f64,
    /// Its line in the file.
    pub line: usize,
}

/// Reads and checks a shots file.
pub fn load_nb201(path: &Path) -> Result<Vec<Shot>, DatasetError> {
    let (mut reader, headers) = open_csv(path)?;
    let arch_col = column(path, &headers, "architecture")?;
    let latency_col = column(path, &headers, "latency_ms")?;
    let bad = |line: usize, problem: String| DatasetError::BadRow {
        path: path.to_path_buf(),
        line: line as u64,
        problem,
    };
    let mut shots = Vec::new();
    let mut seen: HashMap<Nb201Cell, usize> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(line, e.to_string()))?;
        let field = |col: usize, name: &str| {
            record
                .get(col)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(line, format!("missing {name}")))
        };
        let arch = field(arch_col, "architecture")?;
        let cell: Nb201Cell = arch
            .parse()
            .map_err(|e| bad(line, format!("not a NAS-Bench-201 cell: {e}")))?;
        let text = field(latency_col, "latency_ms")?;
        let latency_ms: f64 = text
            .parse()
            .map_err(|_| bad(line, format!("latency_ms {text:?} is not a number")))?;
        if !(latency_ms.is_finite() && latency_ms > 0.0) {
            return Err(bad(
                line,
                format!("latency_ms must be a positive finite number of milliseconds, got {text}"),
            ));
        }
        if let Some(first) = seen.insert(cell, line) {
            return Err(bad(
                line,
                format!("{cell} is measured twice (also on line {first}): give each cell once"),
            ));
        }
        shots.push(Shot {
            cell,
            latency_ms,
            line,
        });
    }
    if shots.len() < MIN_SHOTS {
        return Err(DatasetError::Invalid {
            path: path.to_path_buf(),
            problem: format!(
                "{} measured cells; transfer needs at least {MIN_SHOTS} (10 or more recommended)",
                shots.len()
            ),
        });
    }
    Ok(shots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|";
    const B: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    const C: &str = "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|";

    /// Loads `text` from a CSV file in a directory removed afterwards.
    fn load(text: &str) -> Result<Vec<Shot>, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shots.csv");
        std::fs::write(&path, text).unwrap();
        load_nb201(&path)
    }

    fn error(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_cells_and_latencies() {
        let shots = load(&format!(
            "architecture,latency_ms\n{A},1.5\n{B},2\n{C},0.01\n"
        ))
        .unwrap();
        assert_eq!(shots.len(), 3);
        assert_eq!(shots[2].line, 4);
        assert_eq!(shots[1].latency_ms, 2.0);
        assert_eq!(shots[0].cell.to_string(), A);
    }

    #[test]
    fn every_bad_shot_is_a_named_error() {
        let head = "architecture,latency_ms\n";
        let unknown = error(&format!("{head}{A},1\n|conv~0|+|x|,2\n{C},3\n"));
        assert!(
            unknown.contains(":3: not a NAS-Bench-201 cell"),
            "{unknown}"
        );
        for bad in ["0", "-1", "NaN", "inf"] {
            let e = error(&format!("{head}{A},1\n{B},{bad}\n{C},3\n"));
            assert!(
                e.contains(":3: latency_ms must be a positive finite"),
                "{e}"
            );
        }
        let word = error(&format!("{head}{A},fast\n{B},1\n{C},3\n"));
        assert!(
            word.contains(":2: latency_ms \"fast\" is not a number"),
            "{word}"
        );
        let twice = error(&format!("{head}{A},1\n{B},2\n{A},1.1\n"));
        assert!(
            twice.contains(":4:") && twice.contains("measured twice (also on line 2)"),
            "{twice}"
        );
        let few = error(&format!("{head}{A},1\n{B},2\n"));
        assert!(
            few.contains("2 measured cells; transfer needs at least 3"),
            "{few}"
        );
        let header = error(&format!("arch,ms\n{A},1\n"));
        assert!(
            header.contains("missing column \"architecture\""),
            "{header}"
        );
    }
}
