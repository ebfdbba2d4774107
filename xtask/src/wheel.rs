//! Files taken out of PyPI wheels into `target/`, once: LibTorch for the
//! `tch` backend, ONNX's node tests, the ONNX Runtime library. Each is
//! downloaded with pip (no cache: the wheels are large and used once), the
//! files copied out by a short Python script (the wheels are deflated zips and
//! pip brings Python anyway), the wheels deleted, and the result built beside
//! its final place and renamed, so an interrupted set-up is redone rather than
//! half used.

use crate::workspace_root;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to unpack, and where.
#[derive(Debug)]
pub struct Unpack<'a> {
    /// The directory's name under `target/`.
    pub dir_name: String,
    /// pip requirements, pinned (`name==version`).
    pub requirements: Vec<String>,
    /// A Python script run as `python3 SCRIPT WHEEL_DIR OUT_DIR`.
    pub script: &'a str,
}

/// `target/<dir_name>`, made from the wheels unless it exists. `finish` runs
/// on the unpacked directory before it is moved into place.
pub fn unpack_once(
    unpack: &Unpack,
    run: &dyn Fn(Command) -> Result<()>,
    finish: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let target = workspace_root().join("target");
    let dir = target.join(&unpack.dir_name);
    if dir.is_dir() {
        return Ok(dir);
    }
    let partial = target.join(format!("{}.partial", unpack.dir_name));
    let wheels = target.join(format!("{}.wheels", unpack.dir_name));
    for stale in [&partial, &wheels] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("cannot clear {}", stale.display()))?;
        }
    }
    eprintln!(
        "xtask: unpacking {} from PyPI into {}",
        unpack.requirements.join(" "),
        dir.display()
    );
    let mut download = Command::new("python3");
    download
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args(["--no-cache-dir", "--only-binary", ":all:", "--dest"])
        .arg(&wheels)
        .args(&unpack.requirements);
    run(download)?;
    let script = wheels.join("unpack.py");
    std::fs::write(&script, unpack.script)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let mut extract = Command::new("python3");
    extract.arg(&script).arg(&wheels).arg(&partial);
    run(extract)?;
    std::fs::remove_dir_all(&wheels)
        .with_context(|| format!("cannot remove {}", wheels.display()))?;
    finish(&partial)?;
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("cannot move {} into place", partial.display()))?;
    Ok(dir)
}
