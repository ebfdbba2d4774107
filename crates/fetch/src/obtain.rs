//! Getting one public file: from the data directory's own copy of the originals,
//! from a local mirror, or by downloading its pinned address; always checked
//! against the manifest's SHA-256 before anything uses it.

use crate::manifest::SourceFile;
use crate::{FetchError, sha256_hex};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where source files may come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Local mirrors laid out like `../shared/data/originals`, searched in order.
    pub mirrors: Vec<PathBuf>,
    /// Download files no mirror has.
    pub download: bool,
    /// Show a progress bar for downloads (on a terminal).
    pub progress: bool,
}

/// Where a verified file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The copy kept under `<data dir>/originals/` by an earlier run.
    Kept(PathBuf),
    /// A `--from` mirror (`root`) and the file found in or beside it.
    Mirror {
        root: PathBuf,
        path: PathBuf,
    },
    Download(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Kept(p) => write!(f, "kept copy {}", p.display()),
            Origin::Mirror { path, .. } => write!(f, "mirror copy {}", path.display()),
            Origin::Download(url) => write!(f, "{url}"),
        }
    }
}

/// A source file's bytes, verified against the manifest.
#[derive(Debug, Clone)]
pub struct Obtained {
    pub bytes: Vec<u8>,
    pub origin: Origin,
}

/// Checks `bytes` against the manifest entry: the error names the file, where it
/// came from and both checksums.
pub fn verify(file: &SourceFile, bytes: &[u8], origin: &Origin) -> Result<(), FetchError> {
    let actual = sha256_hex(bytes);
    if actual == file.sha256 {
        return Ok(());
    }
    Err(FetchError::Checksum {
        file: file.path.clone(),
        origin: origin.to_string(),
        expected: file.sha256.clone(),
        expected_bytes: file.bytes,
        actual,
        bytes: bytes.len() as u64,
    })
}

/// The paths a mirror may hold `file` at: its mirror path, then the same path one
/// level up. The second is for files published in their final form (the NNLQP
/// labels), which the shared data layout keeps beside `originals/`; a copy found
/// there is verified like any other.
fn mirror_candidates(mirror: &Path, file: &SourceFile) -> Vec<PathBuf> {
    let mut candidates = vec![mirror.join(&file.path)];
    if let Some(parent) = mirror.parent() {
        candidates.push(parent.join(&file.path));
    }
    candidates
}

/// Gets `file`: the kept copy in `kept_dir` if it verifies, else the first mirror
/// that has it (a mirror copy that does not verify is an error, not skipped), else
/// a download of its pinned address.
pub fn obtain(
    file: &SourceFile,
    kept_dir: &Path,
    sources: &Sources,
) -> Result<Obtained, FetchError> {
    let kept = kept_dir.join(&file.path);
    if let Ok(bytes) = std::fs::read(&kept) {
        let origin = Origin::Kept(kept);
        if verify(file, &bytes, &origin).is_ok() {
            return Ok(Obtained { bytes, origin });
        }
    }
    let mut tried = Vec::new();
    for mirror in &sources.mirrors {
        for path in mirror_candidates(mirror, file) {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let origin = Origin::Mirror {
                        root: mirror.clone(),
                        path,
                    };
                    verify(file, &bytes, &origin)?;
                    return Ok(Obtained { bytes, origin });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tried.push(path.display().to_string())
                }
                Err(e) => return Err(FetchError::io(path)(e)),
            }
        }
    }
    if !sources.download {
        return Err(FetchError::NotMirrored {
            file: file.path.clone(),
            tried: if tried.is_empty() {
                "no --from given".to_string()
            } else {
                tried.join(", ")
            },
        });
    }
    let bytes = download(&file.url, file.bytes, &file.path, sources.progress)?;
    let origin = Origin::Download(file.url.clone());
    verify(file, &bytes, &origin)?;
    Ok(Obtained { bytes, origin })
}

/// Downloads `url`, reading at most a little more than `expected_bytes` (a larger
/// answer is wrong anyway and fails the checksum), with a progress bar.
pub fn download(
    url: &str,
    expected_bytes: u64,
    label: &str,
    progress: bool,
) -> Result<Vec<u8>, FetchError> {
    let fail = |reason: String| FetchError::Download {
        url: url.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_global(Some(Duration::from_secs(600)))
        .user_agent(concat!("narformer/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let total = response.body().content_length().unwrap_or(expected_bytes);
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:28} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    let limit = expected_bytes + (1 << 20);
    let mut reader = response.body_mut().as_reader().take(limit);
    let mut bytes = Vec::with_capacity(expected_bytes as usize);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(bytes)
}
