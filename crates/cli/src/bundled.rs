//! The predictors bundled into this build that a command was asked for, and
//! their calibration on this machine: shared by `predict`, `predictors check`
//! and `predictors calibrate`.

use anyhow::{Context, Result};
use predictors::{Calibration, Predictor};
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

/// What to tell a user whose CPU is not the one the labels of `uncalibrated`
/// predictors were measured on: their latencies are that machine's until they
/// are calibrated here (`None` when every one was measured on this CPU).
pub(crate) fn other_machine_note(uncalibrated: &[&Predictor], cpu: &str) -> Option<String> {
    let elsewhere: Vec<&Predictor> = uncalibrated
        .iter()
        .copied()
        .filter(|p| p.card.device != cpu)
        .collect();
    if elsewhere.is_empty() {
        return None;
    }
    let ids: Vec<&str> = elsewhere.iter().map(|p| p.id()).collect();
    let mut devices: Vec<&str> = elsewhere.iter().map(|p| p.card.device.as_str()).collect();
    devices.sort_unstable();
    devices.dedup();
    Some(format!(
        "note: the latencies of {} are those of the CPU their labels were measured on ({}), not of \
         this one ({cpu}); `narformer predictors calibrate` measures their reference models here (a \
         few minutes on an idle machine) and scales their predictions to this CPU",
        ids.join(", "),
        devices.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictors_of_another_cpu_are_named_until_calibrated() {
        let bundled = predictors::all().unwrap();
        let refs: Vec<&Predictor> = bundled.iter().collect();
        let first = refs
            .first()
            .expect("data/predictors is bundled into every build");
        let note = other_machine_note(&refs, "Some Other CPU").unwrap();
        assert!(note.contains(first.id()), "{note}");
        assert!(note.contains(&first.card.device), "{note}");
        assert!(note.contains("(Some Other CPU)"), "{note}");
        assert!(note.contains("narformer predictors calibrate"), "{note}");
        // On the labels' own CPU, or with every predictor calibrated, nothing to say.
        let same: Vec<&Predictor> = refs
            .iter()
            .copied()
            .filter(|p| p.card.device == first.card.device)
            .collect();
        assert_eq!(other_machine_note(&same, &first.card.device), None);
        assert_eq!(other_machine_note(&[], "Some Other CPU"), None);
    }
}
