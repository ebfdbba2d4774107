//! NNLQP-format latency datasets: a label file `gt.txt` or `gt_stage.txt` with
//! lines `GraphID OnnxPath BatchSize Latency ModelType PlatformId [Stage]`, ONNX
//! paths relative to the dataset root; the in-domain and leave-one-family-out
//! splits; and an on-disk cache of tokenised graphs keyed by the ONNX file's
//! SHA-256, the batch size and the vocabulary version, so no ONNX file is parsed
//! twice.

use crate::{BadRows, DatasetError};
use onnx_io::{ImportOptions, OnnxError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokenizer::{CompactTokens, NetworkTokenizer, NetworkVocab};

/// The label files looked for in a dataset root, in this order.
pub const LABEL_FILES: [&str; 2] = ["gt_stage.txt", "gt.txt"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Train,
    Test,
}

/// One line of a label file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// 1-based line in the label file.
    pub line: usize,
    pub graph_id: String,
    /// Relative to the dataset root.
    pub onnx_path: PathBuf,
    pub batch_size: usize,
    /// Milliseconds, finite and positive.
    pub latency_ms: f64,
    /// `ModelType`: the network family.
    pub family: String,
    pub platform: String,
    pub stage: Option<Stage>,
}

/// The rows of a label file that parsed, and the bad lines skipped.
#[derive(Debug)]
pub struct LabelFile {
    pub path: PathBuf,
    pub rows: Vec<LatencyRow>,
    pub skipped: Vec<DatasetError>,
}

impl LabelFile {
    /// Platforms (`PlatformId`s) in order of first appearance.
    pub fn platforms(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for r in &self.rows {
            if !seen.contains(&r.platform) {
                seen.push(r.platform.clone());
            }
        }
        seen
    }

    /// The rows of one platform. A file of one platform is kept whole when
    /// none is named; one of several needs the name (an error lists them),
    /// as does a name the file lacks.
    pub fn for_platform(mut self, platform: Option<&str>) -> Result<LabelFile, DatasetError> {
        let platforms = self.platforms();
        let invalid = |problem: String| DatasetError::Invalid {
            path: self.path.clone(),
            problem,
        };
        match platform {
            None if platforms.len() <= 1 => Ok(self),
            None => Err(invalid(format!(
                "the labels hold {} platforms ({}): name one (--platform)",
                platforms.len(),
                platforms.join(", ")
            ))),
            Some(p) if !platforms.iter().any(|q| q == p) => Err(invalid(format!(
                "no rows of platform {p:?} (platforms: {})",
                platforms.join(", ")
            ))),
            Some(p) => {
                self.rows.retain(|r| r.platform == p);
                Ok(self)
            }
        }
    }

    /// Families in order of first appearance.
    pub fn families(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for r in &self.rows {
            if !seen.contains(&r.family) {
                seen.push(r.family.clone());
            }
        }
        seen
    }
}

/// `gt_stage.txt` or `gt.txt` in `root`.
pub fn label_file_in(root: &Path) -> Result<PathBuf, DatasetError> {
    LABEL_FILES
        .iter()
        .map(|f| root.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| DatasetError::Invalid {
            path: root.to_path_buf(),
            problem: format!(
                "no label file ({}) in the dataset root",
                LABEL_FILES.join(" or ")
            ),
        })
}

fn parse_line(line: &str) -> Result<Option<LatencyRow>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.is_empty() {
        return Ok(None);
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "expected 6 or 7 fields (GraphID OnnxPath BatchSize Latency ModelType PlatformId [Stage]), found {}",
            fields.len()
        ));
    }
    let batch_size: usize = fields[2]
        .parse()
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("batch size {:?} is not a positive integer", fields[2]))?;
    let latency_ms: f64 = fields[3]
        .parse()
        .map_err(|_| format!("latency {:?} is not a number", fields[3]))?;
    if !(latency_ms.is_finite() && latency_ms > 0.0) {
        return Err(format!("latency {latency_ms} must be finite and positive"));
    }
    let stage = match fields.get(6) {
        None => None,
        Some(&"train") => Some(Stage::Train),
        Some(&"test") => Some(Stage::Test),
        Some(other) => return Err(format!("stage {other:?} is neither train nor test")),
    };
    Ok(Some(LatencyRow {
        line: 0,
        graph_id: fields[0].to_string(),
        onnx_path: PathBuf::from(fields[1]),
        batch_size,
        latency_ms,
        family: fields[4].to_string(),
        platform: fields[5].to_string(),
        stage,
    }))
}

/// Reads a label file. A bad line is an error naming `file:line`, or, with
/// [`BadRows::Skip`], is left out and listed in [`LabelFile::skipped`].
pub fn read_labels(path: &Path, bad_rows: BadRows) -> Result<LabelFile, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(mut row)) => {
                row.line = i + 1;
                rows.push(row);
            }
            Ok(None) => {}
            Err(problem) => {
                let err = DatasetError::BadRow {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    problem,
                };
                match bad_rows {
                    BadRows::Fail => return Err(err),
                    BadRows::Skip => skipped.push(err),
                }
            }
        }
    }
    if rows.is_empty() {
        return Err(DatasetError::Invalid {
            path: path.to_path_buf(),
            problem: "no rows".into(),
        });
    }
    Ok(LabelFile {
        path: path.to_path_buf(),
        rows,
        skipped,
    })
}

/// Which rows are tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencySplit {
    /// The Stage column, or, without one, the last 200 rows of each family
    /// (the last tenth for a family of fewer than 2,000 rows).
    InDomain,
    /// Train on every other family, test on all rows of this one.
    LeaveOut(String),
}

/// Row indices of each part, as every split of the workspace: here validation
/// is a seeded tenth of the training rows (at least one), so the test rows
/// never pick a checkpoint.
pub type LatencyParts = crate::split::Split;

pub fn split(
    labels: &LabelFile,
    how: &LatencySplit,
    seed: u64,
) -> Result<LatencyParts, DatasetError> {
    let rows = &labels.rows;
    let mut test = Vec::new();
    let mut pool = Vec::new();
    match how {
        LatencySplit::LeaveOut(family) => {
            if !rows.iter().any(|r| &r.family == family) {
                return Err(DatasetError::Invalid {
                    path: labels.path.clone(),
                    problem: format!(
                        "no family {family:?} to hold out (families: {})",
                        labels.families().join(", ")
                    ),
                });
            }
            for (i, r) in rows.iter().enumerate() {
                if &r.family == family {
                    test.push(i)
                } else {
                    pool.push(i)
                }
            }
        }
        LatencySplit::InDomain if rows.iter().all(|r| r.stage.is_some()) => {
            for (i, r) in rows.iter().enumerate() {
                if r.stage == Some(Stage::Test) {
                    test.push(i)
                } else {
                    pool.push(i)
                }
            }
        }
        LatencySplit::InDomain => {
            let mut by_family: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, r) in rows.iter().enumerate() {
                by_family.entry(&r.family).or_default().push(i);
            }
            for members in by_family.values() {
                let held = if members.len() >= 2000 {
                    200
                } else {
                    members.len() / 10
                };
                let cut = members.len() - held;
                pool.extend_from_slice(&members[..cut]);
                test.extend_from_slice(&members[cut..]);
            }
            pool.sort_unstable();
            test.sort_unstable();
        }
    }
    if pool.len() < 3 || test.is_empty() {
        return Err(DatasetError::Invalid {
            path: labels.path.clone(),
            problem: format!(
                "split leaves {} training and {} test rows",
                pool.len(),
                test.len()
            ),
        });
    }
    let mut shuffled = pool.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_val = (pool.len() / 10).max(1);
    let mut validation = shuffled[..n_val].to_vec();
    let mut train = shuffled[n_val..].to_vec();
    validation.sort_unstable();
    train.sort_unstable();
    Ok(LatencyParts {
        train,
        validation,
        test,
    })
}

/// Tokenised graphs on disk: `<dir>/<vocab version>/<sha256>-b<batch>.json`.
#[derive(Debug, Clone)]
pub struct TokenCache {
    pub dir: PathBuf,
}

/// Why a network could not be tokenised.
#[derive(Debug, thiserror::Error)]
pub enum NetworkLoadError {
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error("token cache: {0}")]
    Cache(#[from] sysio::FileError),
}

impl TokenCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The compact tokens of an ONNX file: from the cache when the same bytes
    /// were tokenised before with this vocabulary and batch size, else parsed,
    /// tokenised and stored (atomically, [`sysio::write_atomic`]).
    pub fn load(
        &self,
        onnx: &Path,
        batch_size: usize,
        vocab: NetworkVocab,
    ) -> Result<CompactTokens, NetworkLoadError> {
        let bytes = std::fs::read(onnx).map_err(|source| OnnxError::Io {
            file: onnx.to_path_buf(),
            source,
        })?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        let path = self
            .dir
            .join(vocab.version())
            .join(format!("{hash}-b{batch_size}.json"));
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(tokens) = serde_json::from_str::<CompactTokens>(&text)
        {
            return Ok(tokens);
        }
        let options = ImportOptions {
            batch_size,
            ..Default::default()
        };
        let imported = onnx_io::import_bytes(&bytes, onnx, &options)?;
        let tokens = NetworkTokenizer::new(vocab).compact(&imported.graph, batch_size);
        // Compact JSON: the cache holds thousands of these.
        let text = serde_json::to_string(&tokens).map_err(|source| sysio::FileError::Json {
            path: path.clone(),
            source,
        })?;
        sysio::write_atomic(&path, text.as_bytes())?;
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_several_platforms_need_one_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gt.txt");
        std::fs::write(
            &path,
            "0 a.onnx 1 2.0 f cpu-ort-1t\n0 a.onnx 1 5.0 f cpu-tract-1t\n1 b.onnx 1 3.0 f cpu-ort-1t\n",
        )
        .expect("write");
        let read = || read_labels(&path, BadRows::Fail).expect("labels");
        let err = read()
            .for_platform(None)
            .expect_err("two platforms")
            .to_string();
        assert!(
            err.contains("cpu-ort-1t, cpu-tract-1t") && err.contains("--platform"),
            "{err}"
        );
        let ort = read().for_platform(Some("cpu-ort-1t")).expect("ort rows");
        assert_eq!(ort.rows.len(), 2);
        let err = read()
            .for_platform(Some("gpu"))
            .expect_err("absent")
            .to_string();
        assert!(err.contains("\"gpu\""), "{err}");
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gt.txt");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            ("1 a.onnx 1 nan alexnet 1\n", "finite and positive"),
            ("1 a.onnx 1 -2 alexnet 1\n", "finite and positive"),
            ("1 a.onnx 1 0 alexnet 1\n", "finite and positive"),
            ("1 a.onnx 1\n", "expected 6 or 7 fields"),
            ("1 a.onnx x 2.0 alexnet 1\n", "batch size"),
            ("1 a.onnx 1 2.0 alexnet 1 maybe\n", "stage"),
        ];
        for (text, expected) in cases {
            let (_dir, path) = write(&format!("0 ok.onnx 1 1.0 vgg 1\n{text}"));
            let err = read_labels(&path, BadRows::Fail)
                .expect_err(text)
                .to_string();
            assert!(err.contains("gt.txt:2:") && err.contains(expected), "{err}");
            let skipped = read_labels(&path, BadRows::Skip).expect("skip");
            assert_eq!((skipped.rows.len(), skipped.skipped.len()), (1, 1));
        }
    }

    #[test]
    fn splits_are_disjoint_and_hold_out_what_they_say() {
        let mut text = String::new();
        for (f, family) in ["a", "b", "c"].iter().enumerate() {
            for i in 0..30 {
                text.push_str(&format!("{f}{i} x.onnx 1 {}.0 {family} 1\n", i + 1));
            }
        }
        let (_dir, path) = write(&text);
        let labels = read_labels(&path, BadRows::Fail).expect("labels");
        let parts = split(&labels, &LatencySplit::InDomain, 0).expect("split");
        // Last tenth of each family of 30: 3 each.
        assert_eq!(parts.test.len(), 9);
        assert_eq!(parts.train.len() + parts.validation.len(), 81);
        let out = split(&labels, &LatencySplit::LeaveOut("b".into()), 0).expect("split");
        assert!(out.test.iter().all(|&i| labels.rows[i].family == "b"));
        assert_eq!(out.test.len(), 30);
        assert!(
            out.train
                .iter()
                .chain(&out.validation)
                .all(|&i| labels.rows[i].family != "b")
        );
        let err = split(&labels, &LatencySplit::LeaveOut("zzz".into()), 0).expect_err("unknown");
        assert!(err.to_string().contains("families: a, b, c"), "{err}");
    }

    #[test]
    fn the_shared_nnlqp_labels_parse_into_the_published_split() {
        let Ok(dir) = crate::data_dir::resolve(None) else {
            return;
        };
        let path = dir.join("nnlqp/gt_stage.txt");
        if !path.is_file() {
            eprintln!("skipping: {} is not there", path.display());
            return;
        }
        let labels = read_labels(&path, BadRows::Fail).expect("gt_stage.txt");
        assert_eq!(labels.rows.len(), 20_000);
        assert_eq!(labels.families().len(), 10);
        let train = labels
            .rows
            .iter()
            .filter(|r| r.stage == Some(Stage::Train))
            .count();
        let test = labels
            .rows
            .iter()
            .filter(|r| r.stage == Some(Stage::Test))
            .count();
        assert_eq!((train, test), (18_000, 2_000));
        let parts = split(&labels, &LatencySplit::InDomain, 0).expect("split");
        assert_eq!(parts.test.len(), 2_000);
        assert_eq!(parts.train.len() + parts.validation.len(), 18_000);
    }
}
