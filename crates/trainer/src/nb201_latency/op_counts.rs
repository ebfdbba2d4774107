//! The kernel-level additive baseline of NB201 latency, in the style of
//! nn-Meter (MobiSys 2021): a network's latency as a fixed part (stem,
//! reductions, classifier) plus a cost per edge op of its cell. Every cell of
//! a network is the same cell, so the op counts of one cell are the features:
//! least squares on a handful of measurements fits its five coefficients. On
//! devices whose latency is additive (simulated accelerators, large-batch GPUs)
//! ten measurements pin it down; few-shot transfer keeps it when it predicts
//! the shots better than the transferred model ([`super::fine_tune_cells`]).

use super::View;
use crate::regression::least_squares;
use graph_ir::cells::{Nb201Cell, Nb201Op};
use serde::{Deserialize, Serialize};

/// The ops that cost something, in feature order after the constant.
const COSTED: [Nb201Op; 4] = [
    Nb201Op::SkipConnect,
    Nb201Op::NorConv1x1,
    Nb201Op::NorConv3x3,
    Nb201Op::AvgPool3x3,
];

/// Features of a cell: 1, then its edges of each [`COSTED`] op (in
/// [`View::Live`], only the edges whose result reaches the output).
pub fn features(cell: &Nb201Cell, view: View) -> [f64; 5] {
    let live = cell.live_edges();
    let mut x = [1.0, 0.0, 0.0, 0.0, 0.0];
    for (e, op) in cell.ops.iter().enumerate() {
        if view == View::Live && !live[e] {
            continue;
        }
        if let Some(i) = COSTED.iter().position(|c| c == op) {
            x[1 + i] += 1.0;
        }
    }
    x
}

/// A fitted additive model: latency (ms) = coefficients . [`features`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpCountFit {
    /// The view the op counts are taken in.
    pub view: View,
    /// The constant, then per [`COSTED`] op.
    pub coefficients: [f64; 5],
    /// Predictions are at least this (half the smallest fitted latency): a
    /// linear fit extrapolated can go to zero or below.
    pub floor_ms: f64,
}

impl OpCountFit {
    /// Least squares on measured cells; `None` with fewer than two or a
    /// non-positive label. In [`View::Live`] (a device that folds constants)
    /// the input-independent cells are left out: such a device runs them at
    /// next to nothing, whatever their ops.
    pub fn fit(cells: &[&Nb201Cell], labels_ms: &[f64], view: View) -> Option<Self> {
        if cells.len() != labels_ms.len() {
            return None;
        }
        let (cells, labels_ms): (Vec<&Nb201Cell>, Vec<f64>) = cells
            .iter()
            .zip(labels_ms)
            .filter(|(c, _)| view == View::Full || c.reads_input())
            .map(|(&c, &y)| (c, y))
            .unzip();
        if cells.len() < 2 {
            return None;
        }
        if labels_ms.iter().any(|y| !(y.is_finite() && *y > 0.0)) {
            return None;
        }
        let smallest = labels_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let x: Vec<Vec<f64>> = cells.iter().map(|c| features(c, view).to_vec()).collect();
        let w = least_squares(&x, &labels_ms);
        let coefficients: [f64; 5] = w.try_into().ok()?;
        Some(Self {
            view,
            coefficients,
            floor_ms: smallest / 2.0,
        })
    }

    /// Whether it predicts the input-independent networks too (in
    /// [`View::Full`]: a device that runs every op).
    pub fn covers_constant_networks(&self) -> bool {
        self.view == View::Full
    }

    /// Predicted latency (ms) of the network of `cell`.
    pub fn predict(&self, cell: &Nb201Cell) -> f64 {
        let x = features(cell, self.view);
        let y: f64 = x.iter().zip(&self.coefficients).map(|(a, b)| a * b).sum();
        y.max(self.floor_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_additive_device_is_recovered_from_a_few_cells() {
        // 2 ms fixed, then 0.1 per skip, 0.5 per 1x1, 1.5 per 3x3, 0.3 per pool.
        let truth = |c: &Nb201Cell| {
            let x = features(c, View::Full);
            2.0 + 0.1 * x[1] + 0.5 * x[2] + 1.5 * x[3] + 0.3 * x[4]
        };
        let cells: Vec<Nb201Cell> = (0..12)
            .map(|i| Nb201Cell::from_index(i * 1301 + 7))
            .collect();
        let refs: Vec<&Nb201Cell> = cells.iter().collect();
        let labels: Vec<f64> = cells.iter().map(truth).collect();
        let fit = OpCountFit::fit(&refs, &labels, View::Full).expect("fits");
        for i in (0..Nb201Cell::COUNT).step_by(97) {
            let cell = Nb201Cell::from_index(i);
            assert!((fit.predict(&cell) - truth(&cell)).abs() < 1e-6, "{cell}");
        }
    }

    #[test]
    fn the_live_view_counts_only_edges_that_reach_the_output() {
        let cell: Nb201Cell =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
                .parse()
                .expect("cell");
        assert_eq!(features(&cell, View::Full), [1.0, 1.0, 0.0, 3.0, 1.0]);
        assert_eq!(features(&cell, View::Live), [1.0, 1.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn a_folding_device_fits_only_the_cells_that_read_their_input() {
        let reading: Vec<Nb201Cell> = (0..8)
            .map(|i| Nb201Cell::from_index(i * 1901 + 3))
            .filter(Nb201Cell::reads_input)
            .collect();
        let constant: Nb201Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"
            .parse()
            .expect("cell");
        assert!(!constant.reads_input());
        let truth = |c: &Nb201Cell| 1.0 + features(c, View::Live)[3];
        let mut cells: Vec<&Nb201Cell> = reading.iter().collect();
        let mut labels: Vec<f64> = reading.iter().map(truth).collect();
        // Folded to a constant: measured at next to nothing.
        cells.push(&constant);
        labels.push(0.004);
        let live = OpCountFit::fit(&cells, &labels, View::Live).expect("fits");
        assert!(!live.covers_constant_networks());
        for c in &reading {
            assert!((live.predict(c) - truth(c)).abs() < 1e-6, "{c}");
        }
        // In the whole view every cell counts, and the fit covers them all.
        let full = OpCountFit::fit(&cells, &labels, View::Full).expect("fits");
        assert!(full.covers_constant_networks());
    }

    #[test]
    fn bad_measurements_fit_nothing() {
        let cell = Nb201Cell::from_index(5);
        assert_eq!(OpCountFit::fit(&[&cell], &[1.0], View::Full), None);
        assert_eq!(
            OpCountFit::fit(&[&cell, &cell], &[1.0, 0.0], View::Full),
            None
        );
        assert_eq!(
            OpCountFit::fit(&[&cell, &cell], &[1.0, f64::NAN], View::Full),
            None
        );
    }
}
