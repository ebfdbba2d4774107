//! Predicted against true values (accuracy, latency) of one run, as an SVG scatter plot.

use crate::TableError;
use plotters::prelude::*;
use std::path::Path;
use trainer::run_dir::PREDICTIONS_FILE;

/// (label, prediction) pairs of a run's `test_predictions.csv`.
pub fn read_predictions(run_dir: &Path) -> Result<Vec<(f64, f64)>, TableError> {
    let path = run_dir.join(PREDICTIONS_FILE);
    let mut reader = csv::Reader::from_path(&path).map_err(|e| TableError::file(&path, e))?;
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| TableError::file(&path, e))?;
        let number = |col: usize| -> Result<f64, TableError> {
            record
                .get(col)
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| TableError::file(&path, format!("line {}: bad number", i + 2)))
        };
        points.push((number(1)?, number(2)?));
    }
    Ok(points)
}

/// Draws at most `max_points` of `points` (every k-th, to keep the file small)
/// as predicted (y) against true (x), with the y = x line. The axes span the
/// true values from their `low_quantile` up, so a few collapsed architectures
/// (10% accuracy) do not squeeze the rest into a corner; returns how many of
/// the drawn points fell outside and were left out. `quantity` names the axes.
pub fn draw(
    points: &[(f64, f64)],
    max_points: usize,
    low_quantile: f64,
    title: &str,
    quantity: &str,
    out: &Path,
) -> Result<usize, TableError> {
    let plot_err = |e: &dyn std::fmt::Display| TableError::Plot {
        path: out.to_path_buf(),
        problem: e.to_string(),
    };
    let step = points.len().div_ceil(max_points.max(1)).max(1);
    let sampled: Vec<(f64, f64)> = points
        .iter()
        .step_by(step)
        .copied()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let mut truth: Vec<f64> = sampled.iter().map(|p| p.0).collect();
    truth.sort_by(f64::total_cmp);
    let Some(&top) = truth.last() else {
        return Err(plot_err(&"no finite points to draw"));
    };
    let rank = (low_quantile.clamp(0.0, 1.0) * (truth.len() - 1) as f64) as usize;
    let floor = truth[rank];
    let inside = |v: f64| v >= floor && v <= top;
    let shown: Vec<(f64, f64)> = sampled
        .iter()
        .copied()
        .filter(|&(a, b)| inside(a) && inside(b))
        .collect();
    let left_out = sampled.len() - shown.len();
    let (lo, hi) = (floor, top);
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        return Err(plot_err(&"the points span no range"));
    }
    let pad = (hi - lo) * 0.03;
    let (lo, hi) = (lo - pad, hi + pad);
    let root = SVGBackend::new(out, (640, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(|e| plot_err(&e))?;
    chart
        .configure_mesh()
        .x_desc(format!("true {quantity}"))
        .y_desc(format!("predicted {quantity}"))
        .draw()
        .map_err(|e| plot_err(&e))?;
    chart
        .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
        .map_err(|e| plot_err(&e))?;
    chart
        .draw_series(
            shown
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 2, BLUE.mix(0.35).filled())),
        )
        .map_err(|e| plot_err(&e))?;
    root.present().map_err(|e| plot_err(&e))?;
    Ok(left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_from_a_predictions_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv: String = std::iter::once("arch,label,prediction".to_string())
            .chain((0..50).map(|i| {
                let y = 0.7 + i as f64 * 0.004;
                format!("a{i},{y},{}", y + 0.01 * ((i % 5) as f64 - 2.0))
            }))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join(PREDICTIONS_FILE), csv).unwrap();
        let points = read_predictions(dir.path()).unwrap();
        assert_eq!(points.len(), 50);
        let out = dir.path().join("plot.svg");
        // i = 0 predicts below the lowest truth, i = 48 above the highest
        assert_eq!(
            draw(&points, 20, 0.0, "test plot", "accuracy", &out).unwrap(),
            2
        );
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("test plot"));
        assert_eq!(svg.matches("<circle").count(), 15); // every 3rd of 50, less two
        assert!(draw(&points, 20, 0.5, "upper half", "accuracy", &out).unwrap() >= 8);
    }

    #[test]
    fn a_missing_or_malformed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_predictions(dir.path()).unwrap_err().to_string();
        assert!(err.contains(PREDICTIONS_FILE), "{err}");
        std::fs::write(
            dir.path().join(PREDICTIONS_FILE),
            "arch,label,prediction\na,x,1\n",
        )
        .unwrap();
        let err = read_predictions(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
