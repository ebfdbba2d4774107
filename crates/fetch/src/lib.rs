//! Getting the benchmark datasets onto a fresh machine: each dataset's public
//! files are downloaded from pinned addresses (or copied from a local mirror),
//! checked against the SHA-256 in `sources.json`, converted to the CSVs the
//! `datasets` crate reads, and written atomically with a provenance file.
//!
//! Nothing in the data directory is replaced until every file of a dataset has
//! verified and converted, and a dataset already present in a known version is
//! left alone.

pub mod convert;
mod error;
pub mod manifest;
pub mod obtain;
pub mod provenance;

pub use error::FetchError;
pub use manifest::{DatasetSpec, Manifest, SourceFile};
pub use obtain::{Origin, Sources};

use obtain::Obtained;
use provenance::{Provenance, SourceRecord};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Environment variable naming a local mirror (like `--from`), so that commands
/// that fetch on first use can work offline.
pub const MIRROR_ENV: &str = "NARFORMER_MIRROR";

/// Where the verified originals are kept inside the data directory: a later run
/// converts from them without fetching again.
pub const KEPT_DIR: &str = "originals";

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to fetch, from where, into which data directory.
#[derive(Debug, Clone)]
pub struct Request {
    pub data_dir: PathBuf,
    /// Dataset names; empty means all.
    pub only: Vec<String>,
    pub sources: Sources,
    /// Replace a present file whose checksum is not a known version.
    pub force: bool,
    /// Threads for the NB101 enumeration.
    pub threads: usize,
}

/// What happened to one dataset.
#[derive(Debug, Clone)]
pub enum Outcome {
    AlreadyPresent {
        name: String,
        output: PathBuf,
    },
    Written {
        name: String,
        output: PathBuf,
        rows: usize,
        origins: Vec<Origin>,
    },
}

/// Fetches, verifies and converts the requested datasets; `log` receives one line
/// per step worth telling.
pub fn run(request: &Request, log: &mut dyn FnMut(&str)) -> Result<Vec<Outcome>, FetchError> {
    let manifest = Manifest::builtin()?;
    let specs: Vec<&DatasetSpec> = if request.only.is_empty() {
        manifest.datasets.iter().collect()
    } else {
        request
            .only
            .iter()
            .map(|name| manifest.dataset(name))
            .collect::<Result<_, _>>()?
    };
    // Decide for every dataset before touching anything.
    let mut todo = Vec::new();
    let mut outcomes = Vec::new();
    for spec in specs {
        let output = request.data_dir.join(&spec.output);
        match std::fs::read(&output) {
            Ok(bytes) => {
                let actual = sha256_hex(&bytes);
                if spec.accepts(&actual) {
                    log(&format!(
                        "{}: {} is present and verified (SHA-256 {}); nothing to do",
                        spec.name,
                        output.display(),
                        &actual[..12]
                    ));
                    outcomes.push(Outcome::AlreadyPresent {
                        name: spec.name.clone(),
                        output,
                    });
                    continue;
                }
                if !request.force {
                    return Err(FetchError::UnknownVersion {
                        path: output,
                        actual,
                    });
                }
                todo.push(spec);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => todo.push(spec),
            Err(e) => return Err(FetchError::io(output)(e)),
        }
    }
    let kept_dir = request.data_dir.join(KEPT_DIR);
    let mut obtained: HashMap<String, Obtained> = HashMap::new();
    for spec in todo {
        for path in &spec.files {
            if obtained.contains_key(path) {
                continue;
            }
            let file = manifest.file(path)?;
            let got = obtain::obtain(file, &kept_dir, &request.sources)?;
            obtained.insert(path.clone(), got);
        }
        let bytes = convert_dataset(spec, &obtained, request.threads, log)?;
        let actual = sha256_hex(&bytes);
        if actual != spec.output_sha256 {
            return Err(FetchError::OutputMismatch {
                output: spec.output.clone(),
                expected: spec.output_sha256.clone(),
                actual,
            });
        }
        let mut records = Vec::new();
        let mut origins = Vec::new();
        for path in &spec.files {
            let file = manifest.file(path)?;
            let got = &obtained[path];
            if !matches!(got.origin, Origin::Kept(_)) {
                write_atomic(&kept_dir.join(path), &got.bytes)?;
            }
            records.push(SourceRecord::new(file, &got.origin));
            origins.push(got.origin.clone());
        }
        let output = request.data_dir.join(&spec.output);
        write_atomic(&output, &bytes)?;
        let provenance = Provenance::new(spec, records);
        let json = serde_json::to_vec_pretty(&provenance)
            .map_err(|e| FetchError::Manifest(format!("provenance: {e}")))?;
        write_atomic(
            &provenance::provenance_path(&request.data_dir, &spec.output),
            &json,
        )?;
        log(&format!(
            "{}: wrote {} ({} rows, SHA-256 {} as the manifest expects) from {}",
            spec.name,
            output.display(),
            spec.rows,
            &actual[..12],
            describe_origins(&origins)
        ));
        outcomes.push(Outcome::Written {
            name: spec.name.clone(),
            output,
            rows: spec.rows,
            origins,
        });
    }
    if outcomes
        .iter()
        .all(|o| matches!(o, Outcome::AlreadyPresent { .. }))
    {
        log("all requested datasets are present and verified; nothing was fetched");
    }
    Ok(outcomes)
}

/// Fetches the datasets producing `outputs` that are missing from `data_dir`
/// (creating it), from `$NARFORMER_MIRROR` or by download: what commands do on
/// first use. Files already there are used as they are.
pub fn ensure(
    data_dir: &Path,
    outputs: &[&str],
    progress: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(), FetchError> {
    let missing = missing(data_dir, outputs)?;
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(data_dir).map_err(FetchError::io(data_dir))?;
    let mirrors: Vec<PathBuf> = std::env::var_os(MIRROR_ENV)
        .map(|m| std::env::split_paths(&m).collect())
        .unwrap_or_default();
    log(&format!(
        "{} has no {}: fetching it (`narformer data --only {}`{})",
        data_dir.display(),
        missing.join(", "),
        missing.join(","),
        if mirrors.is_empty() {
            String::new()
        } else {
            format!(", mirror from ${MIRROR_ENV}")
        }
    ));
    let request = Request {
        data_dir: data_dir.to_path_buf(),
        only: missing,
        sources: Sources {
            mirrors,
            download: true,
            progress,
        },
        force: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    run(&request, log)?;
    Ok(())
}

/// The datasets producing those of `outputs` that `data_dir` lacks.
pub fn missing(data_dir: &Path, outputs: &[&str]) -> Result<Vec<String>, FetchError> {
    let manifest = Manifest::builtin()?;
    Ok(outputs
        .iter()
        .filter(|o| !data_dir.join(o).exists())
        .filter_map(|o| manifest.producing(o).map(|d| d.name.clone()))
        .collect())
}

fn describe_origins(origins: &[Origin]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for origin in origins {
        let text = match origin {
            Origin::Kept(_) => "kept originals".to_string(),
            Origin::Mirror { root, .. } => format!("mirror {}", root.display()),
            Origin::Download(_) => "download".to_string(),
        };
        if !kinds.contains(&text) {
            kinds.push(text);
        }
    }
    format!("{} file(s): {}", origins.len(), kinds.join(", "))
}

fn convert_dataset(
    spec: &DatasetSpec,
    obtained: &HashMap<String, Obtained>,
    threads: usize,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<u8>, FetchError> {
    let bytes_of = |path: &str| -> Result<&[u8], FetchError> {
        obtained
            .get(path)
            .map(|o| o.bytes.as_slice())
            .ok_or_else(|| FetchError::Manifest(format!("{path} was not obtained")))
    };
    let first = spec
        .files
        .first()
        .ok_or_else(|| FetchError::Manifest(format!("{} lists no files", spec.name)))?;
    match spec.name.as_str() {
        "nb201" => convert::nb201_accuracy(first, bytes_of(first)?, spec.rows),
        "nb201-latency" => {
            let settings = spec.files[1..]
                .iter()
                .map(|p| Ok((p.clone(), bytes_of(p)?.to_vec())))
                .collect::<Result<Vec<_>, FetchError>>()?;
            convert::nb201_latency(first, bytes_of(first)?, &settings, spec.rows)
        }
        "nb101" => {
            let parts = spec
                .files
                .iter()
                .map(|p| Ok((p.clone(), bytes_of(p)?.to_vec())))
                .collect::<Result<Vec<_>, FetchError>>()?;
            let (bytes, stats) = convert::nb101(&parts, spec.rows, threads)?;
            log(&format!(
                "nb101: enumerated {} distinct NAS-Bench-101 cells in {:.1} s on {threads} thread(s); matched all {} keys",
                stats.space_size, stats.enumerate_seconds, stats.matched
            ));
            Ok(bytes)
        }
        "nnlqp-labels" => convert::as_published(first, bytes_of(first)?, spec.rows),
        other => Err(FetchError::Manifest(format!(
            "no converter for dataset {other:?}"
        ))),
    }
}

/// Writes `bytes` to `path` atomically ([`sysio::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    Ok(sysio::write_atomic(path, bytes)?)
}
