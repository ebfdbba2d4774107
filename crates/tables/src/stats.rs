//! Summary statistics of the tables: mean and sample std over seeds, and
//! their `m ± s` text.

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

/// `mean ± std` of `values` times `scale`, with `digits` decimals (the mean
/// alone for one value, `-` for none).
pub(crate) fn pm(values: &[f64], scale: f64, digits: usize) -> String {
    match mean_std(&values.iter().map(|v| v * scale).collect::<Vec<_>>()) {
        Some((m, s)) if values.len() > 1 => format!("{m:.digits$} ± {s:.digits$}"),
        Some((m, _)) => format!("{m:.digits$}"),
        None => "-".into(),
    }
}

pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}
