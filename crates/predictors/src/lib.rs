//! The latency predictors that ship inside narformer: run directories under
//! `data/predictors/<platform>/` (trained by `narformer predictors bundle`),
//! compiled into the binary by this crate's build script, so `narformer
//! predict model.onnx` answers on a fresh clone, and from a copied binary,
//! without a run directory. Each carries a [`Card`]: what it predicts (device,
//! engine, threads), from which labels, and its measured test accuracy.
//!
//! A bundled predictor records its run-directory format like any run;
//! loading one this build cannot read names both versions
//! ([`trainer::LoadedRun::from_bytes`]).

pub mod calibration;

pub use calibration::{Calibration, CalibrationError, Reference, ReferenceModel};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use trainer::metrics::LatencyScores;
use trainer::{LoadedRun, TrainError};

/// Where `card.json` lives beside a predictor's run-directory files.
pub const CARD_FILE: &str = "card.json";

/// One predictor's files, as the build script embedded them.
#[derive(Debug)]
pub(crate) struct BundledFiles {
    id: &'static str,
    card: &'static str,
    config: &'static str,
    target: &'static str,
    format: &'static str,
    model: &'static [u8],
    /// A residual predictor's `prior.json`.
    prior: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// What a bundled predictor predicts, from which labels, and how well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// The engine setting of its labels (`PlatformId`): `cpu-ort-1t`.
    pub platform: String,
    /// The CPU the labels were measured on.
    pub device: String,
    pub engine: String,
    pub engine_version: String,
    /// The engine's graph optimisation level.
    pub optimization: String,
    pub threads: usize,
    /// The labels: `data/zoo: 2200 models of 11 families`.
    pub dataset: String,
    /// The networks its test scores are on (never trained on).
    pub test_split: String,
    pub test: LatencyScores,
    /// Median relative difference of a repeat measurement of the labels (their own noise).
    pub label_repeatability: Option<f64>,
    /// The predictor: `V2, residual readout`.
    #[serde(default = "additive_model")]
    pub model: String,
    /// The command that trained it.
    pub trained_with: String,
    /// Labelled models to measure again on a machine
    /// ([`calibration`]); absent from cards written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// What the cards written before they named their model hold.
fn additive_model() -> String {
    "V2, additive readout".into()
}

/// A bundled predictor: its card, loadable into a [`LoadedRun`].
#[derive(Debug)]
pub struct Predictor {
    pub card: Card,
    files: &'static BundledFiles,
}

#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    #[error("no bundled predictor {id:?} (bundled: {known})")]
    Unknown { id: String, known: String },
    #[error("bundled predictor {id}: card.json is not a predictor card: {source}")]
    Card {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("bundled predictor {id}: {source}")]
    Load {
        id: String,
        #[source]
        source: Box<TrainError>,
    },
}

impl Predictor {
    pub fn id(&self) -> &'static str {
        self.files.id
    }

    /// The run-directory format version it was written in (`None` if its
    /// `format.json` does not parse; [`Self::load`] then says why).
    pub fn format_version(&self) -> Option<u32> {
        serde_json::from_str::<trainer::run_dir::Format>(self.files.format)
            .ok()
            .map(|f| f.format_version)
    }

    /// The model, ready to predict on `device`.
    pub fn load(&self, device: &burn::prelude::Device) -> Result<LoadedRun, PredictorError> {
        let f = self.files;
        let files = trainer::loaded::RunFiles {
            format: f.format,
            config: f.config,
            target: f.target,
            model: f.model,
            prior: f.prior,
        };
        LoadedRun::from_bytes(&PathBuf::from("data/predictors").join(f.id), files, device).map_err(
            |source| PredictorError::Load {
                id: f.id.to_string(),
                source: Box::new(source),
            },
        )
    }
}

/// Every bundled predictor, in id order.
pub fn all() -> Result<Vec<Predictor>, PredictorError> {
    BUNDLED
        .iter()
        .map(|files| {
            let card = serde_json::from_str(files.card).map_err(|source| PredictorError::Card {
                id: files.id.to_string(),
                source,
            })?;
            Ok(Predictor { card, files })
        })
        .collect()
}

/// The bundled predictor `id` (its platform id, `cpu-ort-1t`).
pub fn find(id: &str) -> Result<Predictor, PredictorError> {
    all()?
        .into_iter()
        .find(|p| p.id() == id)
        .ok_or_else(|| PredictorError::Unknown {
            id: id.to_string(),
            known: ids().join(", "),
        })
}

/// The ids of every bundled predictor.
pub fn ids() -> Vec<&'static str> {
    BUNDLED.iter().map(|f| f.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_of_the_reference_cpu_ship_and_load() {
        let device = burn::prelude::Device::flex();
        let ids = ids();
        for wanted in ["cpu-ort-1t", "cpu-tract-1t"] {
            assert!(ids.contains(&wanted), "{wanted} is not bundled: {ids:?}");
        }
        for predictor in all().unwrap() {
            assert_eq!(predictor.card.platform, predictor.id());
            let run = predictor.load(&device).unwrap();
            assert!(run.config.benchmark.is_latency());
            assert!(predictor.card.test.n > 0 && predictor.card.test.mape.is_finite());
        }
        let err = find("gpu-nowhere-1t").err().unwrap().to_string();
        assert!(
            err.contains("gpu-nowhere-1t") && err.contains("cpu-ort-1t"),
            "{err}"
        );
    }

    /// `(name, platform) -> label` of the committed zoo's `gt.txt`.
    fn zoo_labels() -> std::collections::HashMap<(String, String), f64> {
        let gt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/zoo/gt.txt");
        let text = std::fs::read_to_string(gt).unwrap();
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let name = f
                    .get(1)?
                    .trim_start_matches("onnx/")
                    .trim_end_matches(".onnx");
                Some((
                    (name.to_string(), f.get(5)?.to_string()),
                    f.get(3)?.parse().ok()?,
                ))
            })
            .collect()
    }

    #[test]
    fn each_card_names_two_reference_models_per_family_with_their_zoo_labels() {
        let labels = zoo_labels();
        for predictor in all().unwrap() {
            let reference = predictor.card.reference.as_ref().unwrap();
            assert_eq!(reference.models.len(), 22, "{}", predictor.id());
            for m in &reference.models {
                let key = (m.name.clone(), predictor.id().to_string());
                assert_eq!(labels.get(&key), Some(&m.latency_ms), "{key:?}");
                assert_eq!(m.name, format!("{}_{:04}", m.family, m.index));
            }
        }
    }

    #[test]
    fn unknown_predictor_is_an_error_listing_the_bundled_ones() {
        let err = find("gpu-nowhere-1t").err().unwrap().to_string();
        assert!(
            err.contains("gpu-nowhere-1t") && err.contains("cpu-ort-1t"),
            "{err}"
        );
    }
}
