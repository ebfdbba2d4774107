//! The predictors bundled into this build that a command was asked for, and
//! their calibration on this machine: shared by `predict`, `predictors check`
//! and `predictors calibrate`.

use anyhow::{Context, Result};
use predictors::Calibration;
use std::path::{Path, PathBuf};

/// The bundled predictors named by `ids` (an unknown id is an error listing
/// the known ones), or every one when `ids` is empty.
pub(crate) fn chosen_predictors(ids: &[String]) -> Result<Vec<predictors::Predictor>> {
    if ids.is_empty() {
        return Ok(predictors::all()?);
    }
    let found: Result<Vec<_>, _> = ids.iter().map(|id| predictors::find(id)).collect();
    Ok(found?)
}

/// `predictor`'s calibration for this machine's CPU, if one was made here
/// (one made on another CPU is not this machine's and is left out).
pub(crate) fn calibration_here(predictor: &str) -> Result<Option<Calibration>> {
    let Some(dir) = Calibration::dir() else {
        return Ok(None);
    };
    let cpu = this_cpu();
    Ok(Calibration::load(&dir, predictor)?.filter(|c| c.cpu_model == cpu))
}

/// The CPU model a calibration is made on and applies to.
pub(crate) fn this_cpu() -> String {
    sysio::machine::cpu_model().unwrap_or_else(|| "unknown".into())
}

/// Where calibrations are kept: `given`, else [`Calibration::dir`].
pub(crate) fn calibration_dir(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Calibration::dir().context(
            "no place for calibrations: set NARFORMER_CALIBRATION_DIR (or HOME), or pass --dir",
        ),
    }
}
