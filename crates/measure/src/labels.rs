//! The label file `gt.txt` as the measurements write and compare it: every
//! engine setting's rows, told apart by their `PlatformId`, and how far two
//! measurements of the same models are from each other.

use crate::MeasureError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A comparison of the labels with an independent second measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeatability {
    /// Models measured in both.
    pub models: usize,
    /// Median of `|second - first| / first` over them.
    pub median_relative_difference: f64,
    /// Share of them within 2% and 5% of the label.
    pub within_2_percent: f64,
    pub within_5_percent: f64,
    /// What the second measurement was (directory, date).
    pub second: String,
}

/// One row of `gt.txt`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GtRow {
    pub(crate) onnx: String,
    pub(crate) batch: String,
    pub(crate) latency: String,
    pub(crate) family: String,
    pub(crate) platform: String,
}

/// The rows of `dir/gt.txt` (none when it is absent or a line is not NNLQP's).
pub(crate) fn read_gt(dir: &Path) -> Vec<GtRow> {
    let text = std::fs::read_to_string(dir.join("gt.txt")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 6).then(|| GtRow {
                onnx: f[1].into(),
                batch: f[2].into(),
                latency: f[3].into(),
                family: f[4].into(),
                platform: f[5].into(),
            })
        })
        .collect()
}

/// The labels of `platform` in `dir/gt.txt`, by ONNX path.
pub fn labels(
    dir: &Path,
    platform: &str,
) -> Result<std::collections::HashMap<String, f64>, MeasureError> {
    let file = dir.join("gt.txt");
    if !file.is_file() {
        return Err(MeasureError::Io {
            file,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    Ok(read_gt(dir)
        .into_iter()
        .filter(|r| r.platform == platform)
        .filter_map(|r| Some((r.onnx, r.latency.parse().ok()?)))
        .collect())
}

/// How far the labels of `platform` in `second` are from those in `first`,
/// over the models measured in both (a repeatability check).
pub fn compare_labels(
    first: &Path,
    second: &Path,
    platform: &str,
) -> Result<Repeatability, MeasureError> {
    let (a, b) = (labels(first, platform)?, labels(second, platform)?);
    let mut diffs: Vec<f64> = a
        .iter()
        .filter_map(|(k, x)| b.get(k).map(|y| (y - x).abs() / x))
        .collect();
    diffs.sort_by(f64::total_cmp);
    let n = diffs.len();
    let median = match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => diffs[n / 2],
        _ => (diffs[n / 2 - 1] + diffs[n / 2]) / 2.0,
    };
    let share = |limit: f64| diffs.iter().filter(|&&d| d <= limit).count() as f64 / n.max(1) as f64;
    Ok(Repeatability {
        models: n,
        median_relative_difference: median,
        within_2_percent: share(0.02),
        within_5_percent: share(0.05),
        second: second.display().to_string(),
    })
}
