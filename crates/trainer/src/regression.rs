//! The cost-regression baselines of every latency table: latency as a least
//! squares fit on FLOPs (and memory access) over the training networks.

use graph_ir::Cost;
use serde::{Deserialize, Serialize};

/// Which cost features a regression baseline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegressionFeatures {
    /// `latency = a * FLOPs + b`
    Flops,
    /// `latency = a * FLOPs + b * memory access + c`
    FlopsMac,
}

impl RegressionFeatures {
    fn of(self, cost: &Cost) -> Vec<f64> {
        let flops = cost.flops as f64 / 1e9;
        match self {
            RegressionFeatures::Flops => vec![flops, 1.0],
            RegressionFeatures::FlopsMac => vec![flops, cost.memory_access as f64 / 1e9, 1.0],
        }
    }
}

/// Fits `features` of `train` costs to `labels` and predicts the `test` costs.
pub fn fit_and_predict(
    features: RegressionFeatures,
    train: &[Cost],
    labels: &[f64],
    test: &[Cost],
) -> Vec<f64> {
    let x = |costs: &[Cost]| costs.iter().map(|c| features.of(c)).collect::<Vec<_>>();
    let w = least_squares(&x(train), labels);
    x(test)
        .iter()
        .map(|f| f.iter().zip(&w).map(|(a, b)| a * b).sum())
        .collect()
}

/// Least squares by the normal equations (a handful of features), with a
/// tiny ridge so collinear features still solve.
pub fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut a = vec![vec![0.0; d + 1]; d];
    for (row, &target) in x.iter().zip(y) {
        for i in 0..d {
            for j in 0..d {
                a[i][j] += row[i] * row[j];
            }
            a[i][d] += row[i] * target;
        }
    }
    for (i, r) in a.iter_mut().enumerate() {
        r[i] += 1e-9 * (1.0 + r[i].abs());
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..d {
        let pivot = (col..d)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-300 {
            continue;
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / p;
                for (value, pivot) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= f * pivot;
                }
            }
        }
    }
    (0..d)
        .map(|i| {
            if a[i][i].abs() < 1e-300 {
                0.0
            } else {
                a[i][d] / a[i][i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_plane() {
        let x: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![i as f64, ((i * 7) % 5) as f64, 1.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] - 3.0 * r[1] + 0.5).collect();
        let w = least_squares(&x, &y);
        for (got, want) in w.iter().zip([2.0, -3.0, 0.5]) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
    }
}
