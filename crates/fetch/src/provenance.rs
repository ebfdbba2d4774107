//! The small provenance file written beside each converted dataset.

use crate::manifest::{DatasetSpec, SourceFile};
use crate::obtain::Origin;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub dataset: String,
    pub what: String,
    pub output: String,
    pub output_sha256: String,
    pub rows: usize,
    pub licence: String,
    /// When the file was converted, UTC (`YYYY-MM-DDTHH:MM:SSZ`).
    pub converted_utc: String,
    pub converter: String,
    pub sources: Vec<SourceRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecord {
    #[serde(flatten)]
    pub file: SourceFile,
    /// Where this run read it from: a mirror path, a kept copy or the address.
    pub obtained_from: String,
}

impl SourceRecord {
    pub fn new(file: &SourceFile, origin: &Origin) -> Self {
        SourceRecord {
            file: file.clone(),
            obtained_from: origin.to_string(),
        }
    }
}

impl Provenance {
    pub fn new(spec: &DatasetSpec, sources: Vec<SourceRecord>) -> Self {
        Provenance {
            dataset: spec.name.clone(),
            what: spec.what.clone(),
            output: spec.output.clone(),
            output_sha256: spec.output_sha256.clone(),
            rows: spec.rows,
            licence: spec.licence.clone(),
            converted_utc: utc_now(),
            converter: concat!("narformer ", env!("CARGO_PKG_VERSION")).to_string(),
            sources,
        }
    }
}

/// `nasbench201/accuracy.csv` -> `<data>/nasbench201/accuracy.provenance.json`.
pub fn provenance_path(data_dir: &Path, output: &str) -> PathBuf {
    data_dir.join(output).with_extension("provenance.json")
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
    }
}
