//! The cost-regression baselines of every latency table: latency as a least
//! squares fit on FLOPs (and memory access) over the training networks, and
//! the kernel-level additive baseline ([`KernelAdditive`]).

use graph_ir::Cost;
use graph_ir::kernels::{KernelTotals, Pruning};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// A graph's kernels, by class ([`graph_ir::kernels::kernel_totals`]).
pub type Kernels = BTreeMap<String, KernelTotals>;

/// Whether `name` is a kernel group ([`graph_ir::kernels::kernel_group`]).
fn is_group_name(name: &str) -> bool {
    matches!(name, "Conv" | "Activation" | "Binary")
}

/// The version of [`KernelAdditive`]'s fit and of the kernels it reads for an
/// engine that prunes by `pruning`, bumped when either changes, so stored
/// table results of an older fit are recomputed (2: kernel groups and a
/// selected shrinkage; 3: with a family held out, classes of one training
/// family have no columns; 4: a SiLU is one kernel; 5, tract only:
/// constants are no kernels).
pub fn kernel_additive_version(pruning: Pruning) -> u32 {
    match pruning {
        Pruning::None => 4,
        Pruning::Constants => 5,
    }
}

/// The one of [`SHRINKAGES`] with the lowest `score` (the first on ties).
fn best_shrinkage(score: impl Fn(f64) -> f64) -> f64 {
    SHRINKAGES
        .iter()
        .map(|&s| (s, score(s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(SHRINKAGES[0], |(s, _)| s)
}

/// The class-specific shrinkages [`KernelAdditive::fit_selected`] picks from.
pub const SHRINKAGES: [f64; 6] = [1e-9, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// The kernel-level additive baseline, in the style of nn-Meter (Zhang et
/// al., MobiSys 2021): a network's latency is the sum over its kernels of
/// `a_c + b_c * FLOPs + m_c * memory`, with one `(a, b, m)` per kernel class
/// `c`, one per group of classes (every convolution, the activations, the
/// binary element-wise ops: [`graph_ir::kernels::kernel_group`]) and one shared
/// by every kernel (so a class no training network has still costs
/// something), all non-negative; the per-class ones are shrunk towards zero,
/// so a rare class costs about what its group does. nn-Meter fits each kernel on
/// latencies of that kernel measured alone on the device; no such
/// measurements exist here, so the coefficients are fitted on the training
/// networks' whole latencies, minimising the squared *relative* error (the
/// tables score MAPE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelAdditive {
    /// The classes seen in training, in column order after the shared three.
    classes: Vec<String>,
    /// Non-negative coefficients, in the features' scaled units.
    weights: Vec<f64>,
    /// Each column's scale (its root mean square over training rows).
    scales: Vec<f64>,
}

impl KernelAdditive {
    /// The columns `class` adds to: its group's and its own, where seen in training.
    fn columns_of(&self, class: &str) -> impl Iterator<Item = usize> + '_ {
        let group = graph_ir::kernels::kernel_group(class);
        let own = self
            .classes
            .binary_search_by(|c| c.as_str().cmp(class))
            .ok();
        let group = group.and_then(|g| self.classes.binary_search_by(|c| c.as_str().cmp(g)).ok());
        own.into_iter().chain(group)
    }

    fn features(&self, kernels: &Kernels) -> Vec<f64> {
        let mut row = vec![0.0; 3 + 3 * self.classes.len()];
        for (class, t) in kernels {
            let values = [t.count as f64, t.flops as f64, t.memory as f64];
            for (k, v) in values.iter().enumerate() {
                row[k] += v;
            }
            for i in self.columns_of(class) {
                for (k, v) in values.iter().enumerate() {
                    row[3 + 3 * i + k] += v;
                }
            }
        }
        row
    }

    /// Fits the coefficients to `labels` (milliseconds, positive) of `train`,
    /// with the class-specific coefficients shrunk by `shrinkage` (a ridge on
    /// them alone, relative to the shared columns' squared norms): a class seen in one family
    /// only otherwise acts as that family's indicator and absorbs its offset,
    /// which a family with many such kernels then multiplies (Sigmoid, fitted
    /// on mnasnet's squeeze-excitation blocks, predicted EfficientNet-B0's
    /// swish activations at 30x their latency).
    pub fn fit(train: &[&Kernels], labels: &[f64], shrinkage: f64) -> KernelAdditive {
        KernelAdditive::fit_classes(train, labels, None, shrinkage)
    }

    /// [`Self::fit`], with a class (or group) given its own columns only where
    /// the training rows of at least two `families` have it. Meant for an unseen
    /// family: a class of one family cannot be told apart from that family's
    /// offset, however it is shrunk, so it costs what its group or every
    /// kernel does.
    fn fit_classes(
        train: &[&Kernels],
        labels: &[f64],
        families: Option<&[&str]>,
        shrinkage: f64,
    ) -> KernelAdditive {
        let mut seen_in: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (i, kernels) in train.iter().enumerate() {
            let family = families.map_or("", |f| f[i]);
            for class in kernels.keys() {
                let group = graph_ir::kernels::kernel_group(class).map(str::to_string);
                for name in std::iter::once(class.clone()).chain(group) {
                    let list = seen_in.entry(name).or_default();
                    if !list.contains(&family) {
                        list.push(family);
                    }
                }
            }
        }
        let needed = if families.is_some() { 2 } else { 1 };
        let classes: Vec<String> = seen_in
            .into_iter()
            .filter(|(_, f)| f.len() >= needed)
            .map(|(c, _)| c)
            .collect();
        let mut model = KernelAdditive {
            weights: Vec::new(),
            scales: Vec::new(),
            classes,
        };
        let rows: Vec<Vec<f64>> = train.iter().map(|k| model.features(k)).collect();
        let d = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        model.scales = (0..d)
            .map(|j| {
                let ms = rows.iter().map(|r| r[j] * r[j]).sum::<f64>() / n;
                if ms > 0.0 { ms.sqrt() } else { 1.0 }
            })
            .collect();
        // Relative error: each row divided by its label.
        let x: Vec<Vec<f64>> = rows
            .iter()
            .zip(labels)
            .map(|(r, &y)| {
                r.iter()
                    .zip(&model.scales)
                    .map(|(v, s)| v / s / y)
                    .collect()
            })
            .collect();
        let ones = vec![1.0; x.len()];
        // On the scale of the shared columns' squared norms, so one shrinkage
        // means the same on any dataset.
        let shared: f64 = x
            .iter()
            .map(|r| r.iter().take(3).map(|v| v * v).sum::<f64>())
            .sum::<f64>()
            / 3.0;
        // Groups' columns are as free as the shared ones; classes' are shrunk.
        let is_group: Vec<bool> = model.classes.iter().map(|c| is_group_name(c)).collect();
        let ridge: Vec<f64> = (0..d)
            .map(|j| match j {
                0..3 => 0.0,
                j if is_group[(j - 3) / 3] => 0.0,
                _ => shrinkage * shared,
            })
            .collect();
        model.weights = non_negative_least_squares(&x, &ones, &ridge);
        model
    }

    /// [`Self::fit`] with the shrinkage among [`SHRINKAGES`] that predicts
    /// best (mean over groups of the MAPE) a group left out of the rest: the
    /// rows' `groups` are their families, so the choice is the one that
    /// carries to an unseen family, made on training rows only. With fewer
    /// than two groups, the smallest.
    pub fn fit_selected(train: &[&Kernels], labels: &[f64], groups: &[&str]) -> KernelAdditive {
        let mut names: Vec<&str> = groups.to_vec();
        names.sort_unstable();
        names.dedup();
        if names.len() < 2 {
            return KernelAdditive::fit(train, labels, SHRINKAGES[0]);
        }
        let inner_groups =
            |rows: &[usize]| -> Vec<&str> { rows.iter().map(|&i| groups[i]).collect() };
        let shrinkage = best_shrinkage(|shrinkage| {
            let mapes: Vec<f64> = names
                .iter()
                .map(|held| {
                    let (inside, outside): (Vec<usize>, Vec<usize>) =
                        (0..train.len()).partition(|&i| groups[i] != *held);
                    let model = KernelAdditive::fit_classes(
                        &inside.iter().map(|&i| train[i]).collect::<Vec<_>>(),
                        &inside.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
                        Some(&inner_groups(&inside)),
                        shrinkage,
                    );
                    let rows: Vec<&Kernels> = outside.iter().map(|&i| train[i]).collect();
                    let truth: Vec<f64> = outside.iter().map(|&i| labels[i]).collect();
                    model.mape(&rows, &truth)
                })
                .collect();
            mapes.iter().sum::<f64>() / mapes.len() as f64
        });
        KernelAdditive::fit_classes(train, labels, Some(groups), shrinkage)
    }

    /// [`Self::fit`] with the shrinkage among [`SHRINKAGES`] of the lowest MAPE
    /// on held-out `validation` rows of the same families.
    pub fn fit_validated(
        train: &[&Kernels],
        labels: &[f64],
        validation: &[&Kernels],
        validation_labels: &[f64],
    ) -> KernelAdditive {
        let shrinkage = best_shrinkage(|shrinkage| {
            KernelAdditive::fit(train, labels, shrinkage).mape(validation, validation_labels)
        });
        KernelAdditive::fit(train, labels, shrinkage)
    }

    /// Mean absolute relative error on `rows` (0 for none).
    fn mape(&self, rows: &[&Kernels], labels: &[f64]) -> f64 {
        let total: f64 = rows
            .iter()
            .zip(labels)
            .map(|(k, &y)| (self.predict(k) - y).abs() / y)
            .sum();
        total / rows.len().max(1) as f64
    }

    /// Predicted latency (milliseconds) of one kernel of `class`: its share
    /// of [`Self::predict`], which is the sum of its kernels' costs.
    pub fn kernel_cost(&self, class: &str, totals: KernelTotals) -> f64 {
        self.predict(&Kernels::from([(class.to_string(), totals)]))
    }

    /// Whether a fit read back from a file is one [`Self::fit`] could have
    /// made: sorted classes, three coefficients and scales per column, all
    /// finite, coefficients non-negative and scales positive.
    pub fn check(&self) -> Result<(), String> {
        let columns = 3 + 3 * self.classes.len();
        if self.weights.len() != columns || self.scales.len() != columns {
            return Err(format!(
                "the kernel baseline has {} classes, so {columns} coefficients and scales, \
                 not {} and {}",
                self.classes.len(),
                self.weights.len(),
                self.scales.len()
            ));
        }
        if !self.classes.is_sorted() {
            return Err("the kernel baseline's classes are not sorted".into());
        }
        if self.weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err("a kernel baseline coefficient is negative or not finite".into());
        }
        if self.scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err("a kernel baseline scale is not positive and finite".into());
        }
        Ok(())
    }

    /// Predicted latency (milliseconds) of a graph's kernels.
    pub fn predict(&self, kernels: &Kernels) -> f64 {
        self.features(kernels)
            .iter()
            .zip(&self.scales)
            .zip(&self.weights)
            .map(|((v, s), w)| v / s * w)
            .sum()
    }
}

/// `argmin ||x w - y||^2` subject to `w >= 0`, by cyclic coordinate descent
/// on the normal equations (a few hundred columns at most), with a tiny ridge
/// so collinear columns still converge and `ridge[j]` more on column `j`.
pub fn non_negative_least_squares(x: &[Vec<f64>], y: &[f64], ridge: &[f64]) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut gram = vec![vec![0.0; d]; d];
    let mut xty = vec![0.0; d];
    for (row, &target) in x.iter().zip(y) {
        for i in 0..d {
            if row[i] == 0.0 {
                continue;
            }
            xty[i] += row[i] * target;
            for j in 0..d {
                gram[i][j] += row[i] * row[j];
            }
        }
    }
    for (i, r) in gram.iter_mut().enumerate() {
        r[i] += 1e-9 * (1.0 + r[i].abs()) + ridge.get(i).copied().unwrap_or(0.0);
    }
    let mut w = vec![0.0; d];
    // gradient = gram w - xty, kept up to date as coordinates move.
    let mut gradient: Vec<f64> = xty.iter().map(|v| -v).collect();
    for _ in 0..5000 {
        let mut largest_step: f64 = 0.0;
        for j in 0..d {
            let updated = (w[j] - gradient[j] / gram[j][j]).max(0.0);
            let step = updated - w[j];
            if step != 0.0 {
                for (g, row) in gradient.iter_mut().zip(&gram) {
                    *g += step * row[j];
                }
                w[j] = updated;
                largest_step = largest_step.max(step.abs() * gram[j][j].sqrt());
            }
        }
        if largest_step < 1e-10 {
            break;
        }
    }
    w
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

    fn kernels(items: &[(&str, u64, u64, u64)]) -> Kernels {
        items
            .iter()
            .map(|&(c, count, flops, memory)| {
                (
                    c.to_string(),
                    KernelTotals {
                        count,
                        flops,
                        memory,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_additive_baseline_recovers_per_class_costs() {
        // Conv costs 1 ms per GFLOP, Relu 2 ms per G elements, nothing fixed.
        let truth = |conv: u64, relu: u64| conv as f64 * 1e-9 + relu as f64 * 2e-9;
        let mut train = Vec::new();
        let mut labels = Vec::new();
        for i in 1..30u64 {
            let (c, r) = (
                i * 3_000_000_000 % 7_000_000_001,
                (i * 13 % 11 + 1) * 100_000_000,
            );
            train.push(kernels(&[("Conv/kxk", 5, c, 0), ("Relu", 5, 0, r)]));
            labels.push(truth(c, r));
        }
        let refs: Vec<&Kernels> = train.iter().collect();
        let model = KernelAdditive::fit(&refs, &labels, SHRINKAGES[0]);
        let probe = kernels(&[
            ("Conv/kxk", 5, 4_000_000_000, 0),
            ("Relu", 5, 0, 300_000_000),
        ]);
        let want = truth(4_000_000_000, 300_000_000);
        let got = model.predict(&probe);
        assert!((got - want).abs() / want < 0.02, "{got} vs {want}");
        // A class no training network has still costs through the shared terms.
        let unseen = kernels(&[("Softmax", 5, 0, 300_000_000)]);
        assert!(model.predict(&unseen) >= 0.0);
    }

    #[test]
    fn shrinkage_makes_a_rare_class_cost_about_what_its_group_does() {
        // Relu costs 1 ms per million elements everywhere; the one family with
        // Sigmoid (on tiny tensors) also runs slower, in step with their size,
        // for reasons the kernels do not show: an unshrunk Sigmoid coefficient
        // absorbs it at 0.1 ms per thousand elements.
        let mut train = Vec::new();
        let mut labels = Vec::new();
        for i in 1..=20u64 {
            let relu = i * 1_000_000;
            train.push(kernels(&[("Relu", 4, 0, relu)]));
            labels.push(relu as f64 / 1e6);
            train.push(kernels(&[
                ("Relu", 4, 0, relu),
                ("Sigmoid", 2, 0, i * 1_000),
            ]));
            labels.push(relu as f64 / 1e6 + 0.1 * i as f64);
        }
        let refs: Vec<&Kernels> = train.iter().collect();
        // A network whose Sigmoids are as big as its Relus: about 2 x 5 ms.
        let probe = kernels(&[("Relu", 4, 0, 5_000_000), ("Sigmoid", 4, 0, 5_000_000)]);
        let loose = KernelAdditive::fit(&refs, &labels, SHRINKAGES[0]).predict(&probe);
        let shrunk = KernelAdditive::fit(&refs, &labels, 10.0).predict(&probe);
        assert!(
            loose > 100.0,
            "the unshrunk fit should extrapolate wildly: {loose}"
        );
        assert!((5.0..30.0).contains(&shrunk), "{shrunk}");
        assert_eq!(
            graph_ir::kernels::kernel_group("Sigmoid"),
            Some("Activation")
        );
        assert_eq!(graph_ir::kernels::kernel_group("Conv/1x1"), Some("Conv"));
        assert_eq!(graph_ir::kernels::kernel_group("Concat"), None);
    }

    #[test]
    fn non_negative_least_squares_clips_at_zero() {
        let x: Vec<Vec<f64>> = (0..10).map(|i| vec![1.0, i as f64]).collect();
        // y decreases in the second column: its weight is held at zero.
        let y: Vec<f64> = (0..10).map(|i| 10.0 - i as f64).collect();
        let w = non_negative_least_squares(&x, &y, &[]);
        assert!(w[1] == 0.0 && (w[0] - 5.5).abs() < 1e-6, "{w:?}");
    }

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
