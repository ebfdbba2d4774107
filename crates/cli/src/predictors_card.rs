//! What a bundled predictor's card says beside its configuration: its test
//! scores (from the run's `test_predictions.csv`) and the reference models a
//! machine measures to calibrate it ([`predictors::calibration`]).

use anyhow::{Context, Result, bail};
use datasets::nnlqp::LatencyRow;
use std::path::Path;

/// Reference models per family, at these quantiles of the family's latencies:
/// small and large members, so the scale is not one size's.
const REFERENCE_QUANTILES: [f64; 2] = [1.0 / 3.0, 2.0 / 3.0];

/// The zoo models a machine measures to calibrate the predictor trained on
/// `rows` ([`REFERENCE_QUANTILES`] of each family), with their labels.
pub fn reference(data: &Path, rows: &[&LatencyRow]) -> Result<predictors::Reference> {
    let manifest = zoo::Manifest::read(data)?;
    let mut families: Vec<&str> = Vec::new();
    for r in rows {
        if !families.contains(&r.family.as_str()) {
            families.push(&r.family);
        }
    }
    let mut models = Vec::new();
    for family in families {
        let mut members: Vec<&&LatencyRow> = rows.iter().filter(|r| r.family == family).collect();
        members.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
        let mut picked: Vec<usize> = REFERENCE_QUANTILES
            .iter()
            .map(|q| (q * (members.len() - 1) as f64).round() as usize)
            .collect();
        picked.dedup();
        for i in picked {
            let row = members[i];
            let name = row
                .onnx_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let entry = manifest
                .models
                .iter()
                .find(|e| e.name == name)
                .with_context(|| format!("{}: {name} is not in zoo.json", data.display()))?;
            models.push(predictors::ReferenceModel {
                name,
                family: entry.family.as_str().to_string(),
                index: entry.index,
                latency_ms: row.latency_ms,
            });
        }
    }
    Ok(predictors::Reference {
        zoo_seed: manifest.seed,
        models,
    })
}

/// Scores of a run's `test_predictions.csv` (`...,label,prediction` rows).
pub fn test_scores(path: &std::path::Path) -> Result<trainer::metrics::LatencyScores> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut predictions = Vec::new();
    let mut labels = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let mut fields = line.rsplit(',');
        let parsed = (fields.next(), fields.next());
        let (Some(Ok(prediction)), Some(Ok(label))) = (
            parsed.0.map(str::parse::<f64>),
            parsed.1.map(str::parse::<f64>),
        ) else {
            bail!(
                "{}:{}: not a `...,label,prediction` row",
                path.display(),
                number + 1
            );
        };
        predictions.push(prediction);
        labels.push(label);
    }
    Ok(trainer::metrics::LatencyScores::of(&predictions, &labels))
}
