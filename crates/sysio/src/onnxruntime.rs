//! Where the ONNX Runtime shared library lives once `cargo xtask ort` has
//! unpacked it from the PyPI wheel: one home for the pinned version and the
//! path, shared by the set-up step and the engine that opens it.

use std::path::{Path, PathBuf};

/// The pinned ONNX Runtime release (the PyPI wheel `onnxruntime==VERSION`).
pub const VERSION: &str = "1.31.1";

/// The environment variable that names the library file (the `ort` crate's own).
pub const ENV_VAR: &str = "ORT_DYLIB_PATH";

/// The set-up directory's name under `target/`.
pub fn dir_name() -> String {
    format!("onnxruntime-{VERSION}")
}

/// The library's file name inside the wheel and the set-up directory.
pub fn file_name() -> String {
    format!("libonnxruntime.so.{VERSION}")
}

/// Where the library is looked for, in order: `$ORT_DYLIB_PATH`, then
/// `target/onnxruntime-VERSION/` found from the running executable (a binary
/// in `target/release/` or a test in `target/release/deps/`).
pub fn candidates() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::env::var_os(ENV_VAR)
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Ok(exe) = std::env::current_exe() {
        let mut dir: Option<&Path> = exe.parent();
        for _ in 0..3 {
            let Some(d) = dir else { break };
            paths.push(d.join(dir_name()).join(file_name()));
            dir = d.parent();
        }
    }
    paths
}
