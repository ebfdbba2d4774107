//! `narformer predictors calibrate` over several predictors: each one in a
//! child process of its own, so no engine's leftovers time another's models.

use anyhow::{Context, Result, bail};

/// `narformer predictors calibrate --predictor ID` with the other `flags` of
/// the parent's command line, in a child process.
pub fn calibrate_in_child(id: &str, flags: &[std::ffi::OsString]) -> Result<()> {
    let exe = std::env::current_exe().context("locating the narformer binary")?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(["predictors", "calibrate", "--predictor", id])
        .args(flags);
    let status = cmd
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("calibrating {id} failed ({status})");
    }
    Ok(())
}
