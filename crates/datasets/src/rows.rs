//! The CSV reading shared by the benchmark loaders: columns found by header
//! name, every problem tied to its line, and a choice between stopping at the
//! first bad row and skipping bad rows with a count.

use crate::{DatasetError, Sample};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a loader does with a malformed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BadRows {
    /// Stop with an error naming the line (the default).
    #[default]
    Fail,
    /// Leave the row out and carry on; [`Loaded::skipped`] lists it.
    Skip,
}

/// The rows of a benchmark file that loaded, and those that were skipped.
#[derive(Debug)]
pub struct Loaded {
    pub samples: Vec<Sample>,
    /// One [`DatasetError::BadRow`] per skipped row (empty under [`BadRows::Fail`]).
    pub skipped: Vec<DatasetError>,
}

/// Opens a CSV file with a header row (rows may have any number of fields).
pub(crate) fn open_csv(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| DatasetError::BadRow {
            path: path.to_path_buf(),
            line: 1,
            problem: e.to_string(),
        })?
        .clone();
    Ok((reader, headers))
}

/// The position of column `name` in `headers`.
pub(crate) fn column(
    path: &Path,
    headers: &csv::StringRecord,
    name: &str,
) -> Result<usize, DatasetError> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| DatasetError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
        })
}

/// Reads `path`, handing `parse` the fields of `columns` (in that order) of each
/// row; `parse` says what is wrong with a row in words, and this adds the file and line.
pub(crate) fn read_rows(
    path: &Path,
    columns: &[&str],
    bad_rows: BadRows,
    mut parse: impl FnMut(&[&str]) -> Result<Sample, String>,
) -> Result<Loaded, DatasetError> {
    let bad_row = |line: u64, problem: String| DatasetError::BadRow {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let (mut reader, headers) = open_csv(path)?;
    let positions = columns
        .iter()
        .map(|name| column(path, &headers, name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut loaded = Loaded {
        samples: Vec::new(),
        skipped: Vec::new(),
    };
    for record in reader.records() {
        let row = match record {
            Err(e) => Err(bad_row(e.position().map_or(0, |p| p.line()), e.to_string())),
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                positions
                    .iter()
                    .zip(columns)
                    .map(|(&col, name)| {
                        record
                            .get(col)
                            .map(str::trim)
                            .ok_or_else(|| format!("row has {} fields, no {name:?}", record.len()))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(|fields| parse(&fields))
                    .map_err(|problem| bad_row(line, problem))
            }
        };
        match (row, bad_rows) {
            (Ok(sample), _) => loaded.samples.push(sample),
            (Err(e), BadRows::Skip) => loaded.skipped.push(e),
            (Err(e), BadRows::Fail) => return Err(e),
        }
    }
    if loaded.samples.is_empty() {
        return Err(DatasetError::Invalid {
            path: path.to_path_buf(),
            problem: match loaded.skipped.len() {
                0 => "no rows after the header".to_string(),
                n => format!("no valid rows ({n} skipped)"),
            },
        });
    }
    Ok(loaded)
}

/// Parses an accuracy given as a fraction (`scale` 1) or a percentage (`scale` 100).
pub(crate) fn accuracy(column: &str, raw: &str, scale: f64) -> Result<f64, String> {
    let value: f64 = raw
        .parse()
        .map_err(|_| format!("{column} {raw:?} is not a number"))?;
    if !value.is_finite() || value <= 0.0 || value > scale {
        return Err(format!(
            "{column} {value} is not an accuracy in (0, {scale}]"
        ));
    }
    Ok(value / scale)
}
