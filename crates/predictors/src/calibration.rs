//! Calibrating a bundled predictor to the machine it runs on.
//!
//! A predictor answers for the machine state its labels were measured in, and
//! on a shared VM that state moves: re-measured on another day, the same
//! models of `data/zoo` ran 1.26x slower on ONNX Runtime and 0.94x on tract,
//! nearly uniformly across families (docs/DATA.md, "Host drift"). So each
//! card names a [`Reference`] set of its own labelled models; `narformer
//! predictors calibrate` measures them here, and the median ratio of measured
//! to labelled latency, a [`Calibration`], scales the predictor's answers on
//! this machine from then on (nn-Meter and HELP adapt to a new device with
//! measured samples too; one scale is the smallest such adaptation).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Models of the predictor's own labels to measure again on a machine:
/// regenerated from the zoo (`zoo::ModelId { family, index, seed }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The zoo's seed (`zoo.json`'s `seed`).
    pub zoo_seed: u64,
    pub models: Vec<ReferenceModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceModel {
    /// `resnet_0046`
    pub name: String,
    /// The zoo's family name as `zoo.json` spells it (`ResNet`).
    pub family: String,
    pub index: usize,
    /// Its label in the predictor's training data.
    pub latency_ms: f64,
}

/// A predictor's scale on one machine: measured / labelled latency of its
/// reference models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub predictor: String,
    /// What predictions are multiplied by: the median ratio.
    pub scale: f64,
    /// Quartiles of the ratios (how uniform the drift is).
    pub ratio_quartiles: (f64, f64),
    pub models: usize,
    /// The CPU it was measured on; another CPU ignores it.
    pub cpu_model: String,
    /// Seconds since the Unix epoch.
    pub measured_at: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("no measured reference model: nothing to calibrate {predictor} with")]
    NoRatios { predictor: String },
    #[error(transparent)]
    File(#[from] sysio::FileError),
}

impl Calibration {
    /// The calibration of `predictor` from `(measured, labelled)` latencies.
    pub fn from_pairs(
        predictor: &str,
        pairs: &[(f64, f64)],
        cpu_model: &str,
        measured_at: u64,
    ) -> Result<Calibration, CalibrationError> {
        let mut ratios: Vec<f64> = pairs
            .iter()
            .filter(|(m, l)| m.is_finite() && l.is_finite() && *m > 0.0 && *l > 0.0)
            .map(|(m, l)| m / l)
            .collect();
        if ratios.is_empty() {
            return Err(CalibrationError::NoRatios {
                predictor: predictor.to_string(),
            });
        }
        ratios.sort_by(f64::total_cmp);
        Ok(Calibration {
            predictor: predictor.to_string(),
            scale: quantile(&ratios, 0.5),
            ratio_quartiles: (quantile(&ratios, 0.25), quantile(&ratios, 0.75)),
            models: ratios.len(),
            cpu_model: cpu_model.to_string(),
            measured_at,
        })
    }

    /// Where calibrations live: `$NARFORMER_CALIBRATION_DIR`, else
    /// `$XDG_CONFIG_HOME/narformer/calibration`, else
    /// `$HOME/.config/narformer/calibration` (`None` without any of them).
    pub fn dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("NARFORMER_CALIBRATION_DIR") {
            return Some(PathBuf::from(dir));
        }
        let config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".config")))?;
        Some(config.join("narformer").join("calibration"))
    }

    fn path_in(dir: &Path, predictor: &str) -> PathBuf {
        dir.join(format!("{predictor}.json"))
    }

    /// Writes it (atomically) into `dir`; returns the file.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, CalibrationError> {
        let path = Self::path_in(dir, &self.predictor);
        sysio::write_json(&path, self)?;
        Ok(path)
    }

    /// `predictor`'s calibration in `dir`: `Ok(None)` when there is none, an
    /// error naming the file when it does not parse.
    pub fn load(dir: &Path, predictor: &str) -> Result<Option<Calibration>, CalibrationError> {
        let path = Self::path_in(dir, predictor);
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(sysio::read_json(&path)?))
    }
}

/// Linear-interpolated quantile of sorted, non-empty `values`.
fn quantile(values: &[f64], q: f64) -> f64 {
    let at = q * (values.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (at - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_median_ratio_and_bad_pairs_are_left_out() {
        let pairs = [
            (12.0, 10.0),
            (26.0, 20.0),
            (1.4, 1.0),
            (f64::NAN, 3.0),
            (5.0, 0.0),
        ];
        let c = Calibration::from_pairs("cpu-ort-1t", &pairs, "cpu", 7).unwrap();
        assert_eq!(c.models, 3);
        assert!((c.scale - 1.3).abs() < 1e-12);
        assert!((c.ratio_quartiles.0 - 1.25).abs() < 1e-12);
        assert!((c.ratio_quartiles.1 - 1.35).abs() < 1e-12);
    }

    #[test]
    fn no_usable_pair_is_an_error_naming_the_predictor() {
        let e = Calibration::from_pairs("cpu-ort-1t", &[(f64::NAN, 1.0)], "cpu", 0).unwrap_err();
        assert!(e.to_string().contains("cpu-ort-1t"), "{e}");
    }

    #[test]
    fn a_saved_calibration_loads_back_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Calibration::load(dir.path(), "cpu-ort-1t").unwrap(), None);
        let c = Calibration::from_pairs("cpu-ort-1t", &[(2.0, 1.0)], "cpu", 1).unwrap();
        let path = c.save(dir.path()).unwrap();
        assert_eq!(
            Calibration::load(dir.path(), "cpu-ort-1t").unwrap(),
            Some(c)
        );
        std::fs::write(&path, "{").unwrap();
        let e = Calibration::load(dir.path(), "cpu-ort-1t").unwrap_err();
        assert!(e.to_string().contains("cpu-ort-1t.json"), "{e}");
    }
}
