//! ONNX Runtime through the `ort` crate, its shared library opened at run
//! time (the one `cargo xtask ort` unpacks from the PyPI wheel, or any file
//! `ORT_DYLIB_PATH` names). CPU execution provider, one session per model,
//! the intra-op thread count fixed, inter-op parallelism off.

use super::{Engine, EngineInfo, EngineKind, InputValues, RunPlan, Runs, guarded, time_runs};
use onnx_io::GraphInput;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynValue, Tensor};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why ONNX Runtime cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OrtError {
    #[error(
        "no ONNX Runtime library found (looked at: {looked}); run `cargo xtask ort` to unpack \
         libonnxruntime {version} from the PyPI wheel onnxruntime=={version} into target/, \
         or name the file with --ort-library or ${env}",
        looked = looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        version = sysio::onnxruntime::VERSION,
        env = sysio::onnxruntime::ENV_VAR,
    )]
    NotFound { looked: Vec<PathBuf> },
    #[error("{file}: cannot be opened as ONNX Runtime: {message}")]
    Load { file: PathBuf, message: String },
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// Runs ONNX models with ONNX Runtime on a fixed number of threads.
#[derive(Debug)]
pub struct OnnxRuntime {
    info: EngineInfo,
    environment: ort::environment::Environment,
}

/// The optimisation level sessions are built with: ONNX Runtime's default
/// for the CPU (every fusion and the NCHWc layout), as deployed.
const OPTIMIZATION: (GraphOptimizationLevel, &str) =
    (GraphOptimizationLevel::All, "ORT_ENABLE_ALL");

impl OnnxRuntime {
    /// Opens the library at `library`, or the first of
    /// [`sysio::onnxruntime::candidates`] that exists.
    pub fn new(threads: usize, library: Option<&Path>) -> Result<OnnxRuntime, OrtError> {
        let file = match library {
            Some(path) if path.is_file() => path.to_path_buf(),
            Some(path) => {
                return Err(OrtError::NotFound {
                    looked: vec![path.to_path_buf()],
                });
            }
            None => {
                let looked = sysio::onnxruntime::candidates();
                looked
                    .iter()
                    .find(|p| p.is_file())
                    .cloned()
                    .ok_or(OrtError::NotFound { looked })?
            }
        };
        let bytes = std::fs::read(&file).map_err(|source| OrtError::Read {
            file: file.clone(),
            source,
        })?;
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let load = |message: String| OrtError::Load {
            file: file.clone(),
            message,
        };
        let environment = environment(&file).map_err(load)?;
        let version = guarded(|| Ok(version_of(&file, ort::info()))).map_err(load)?;
        Ok(OnnxRuntime {
            info: EngineInfo {
                kind: EngineKind::Ort,
                version,
                threads: threads.max(1),
                optimization: OPTIMIZATION.1.into(),
                library: Some(file.display().to_string()),
                library_sha256: Some(sha256),
            },
            environment,
        })
    }
}

/// ONNX Runtime allows one environment per process: the first engine
/// opens the library and makes it, later ones share it. A later engine
/// naming another library file is refused rather than silently given the first.
fn environment(file: &Path) -> Result<ort::environment::Environment, String> {
    static OPENED: std::sync::Mutex<Option<(PathBuf, ort::environment::Environment)>> =
        std::sync::Mutex::new(None);
    let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((first, env)) = opened.as_ref() {
        return if first == file {
            Ok(env.clone())
        } else {
            Err(format!(
                "this process already opened ONNX Runtime from {}",
                first.display()
            ))
        };
    }
    let env = guarded(|| {
        ort::init_from(file)
            .map_err(|e| e.to_string())?
            .with_name("narformer-measure")
            .build()
            .map_err(|e| e.to_string())
    })?;
    *opened = Some((file.to_path_buf(), env.clone()));
    Ok(env)
}

/// The library's release: from a versioned file name (`libonnxruntime.so.1.31.1`,
/// as the wheel ships it), else from a release branch in the build string
/// (`git-branch=rel-1.31.1`), else the build string itself. The file's SHA-256,
/// recorded beside it, pins the build either way.
fn version_of(file: &Path, info: &str) -> String {
    let from_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("libonnxruntime.so."))
        .filter(|v| v.split('.').all(|p| p.parse::<u32>().is_ok()));
    let from_branch = || {
        info.split([',', ' '])
            .find_map(|f| f.strip_prefix("git-branch=rel-"))
    };
    match from_name.or_else(from_branch) {
        Some(v) => v.to_string(),
        None => format!(
            "unknown ({})",
            info.split(',').next().unwrap_or(info).trim()
        ),
    }
}

impl Engine for OnnxRuntime {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn time(&self, onnx: &[u8], inputs: &[GraphInput], plan: RunPlan) -> Result<Runs, String> {
        guarded(|| {
            let start = Instant::now();
            let mut session = Session::builder(&self.environment)
                .map_err(message)?
                .with_optimization_level(OPTIMIZATION.0)
                .map_err(message)?
                .with_intra_threads(self.info.threads)
                .map_err(message)?
                .with_inter_threads(1)
                .map_err(message)?
                .with_parallel_execution(false)
                .map_err(message)?
                .commit_from_memory(onnx)
                .map_err(message)?;
            let load_ms = start.elapsed().as_secs_f64() * 1e3;
            let names: Vec<String> = session
                .inputs()
                .iter()
                .map(|i| i.name().to_string())
                .collect();
            if names.len() != inputs.len() {
                return Err(format!(
                    "the session has {} inputs, the model's graph {}",
                    names.len(),
                    inputs.len()
                ));
            }
            let values: Vec<DynValue> = inputs
                .iter()
                .map(value)
                .collect::<Result<_, _>>()
                .map_err(message)?;
            let run_ms = time_runs(
                plan,
                || {
                    names
                        .iter()
                        .zip(&values)
                        .map(|(n, v)| (n.as_str(), v))
                        .collect::<Vec<_>>()
                },
                |feed| session.run(feed).map(drop),
            )
            .map_err(message)?;
            Ok(Runs { load_ms, run_ms })
        })
    }
}

/// ONNX Runtime's message on one line.
fn message<R>(error: ort::Error<R>) -> String {
    error.to_string().replace('\n', " ")
}

fn value(input: &GraphInput) -> Result<DynValue, ort::Error> {
    let shape: Vec<i64> = input.shape.iter().map(|&d| d as i64).collect();
    Ok(match InputValues::of(input) {
        InputValues::Float(v) => Tensor::from_array((shape, v))?.into_dyn(),
        InputValues::Int(v) => Tensor::from_array((shape, v))?.into_dyn(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_read_from_the_file_name_or_the_build_string() {
        let wheel = Path::new("/x/libonnxruntime.so.1.31.1");
        assert_eq!(
            version_of(wheel, "ORT Build Info: git-branch=HEAD"),
            "1.31.1"
        );
        let plain = Path::new("/x/libonnxruntime.so");
        let info = "ORT Build Info: git-branch=rel-1.24.2, git-commit-id=abc";
        assert_eq!(version_of(plain, info), "1.24.2");
        assert_eq!(version_of(plain, "custom, x"), "unknown (custom)");
    }

    #[test]
    fn a_missing_library_says_how_to_get_one() {
        let err = OnnxRuntime::new(1, Some(Path::new("/nonexistent/libonnxruntime.so")))
            .expect_err("no library there");
        let text = err.to_string();
        assert!(
            text.contains("cargo xtask ort") && text.contains("/nonexistent"),
            "{text}"
        );
    }
}
