//! Ranking and latency metrics.

use std::cmp::Ordering;

/// Kendall's tau-b between `x` and `y`, ties handled, in O(n log n) (Knight's
/// algorithm: sort by x, count discordant pairs as merge-sort swaps on y).
///
/// `None` when fewer than two points, the lengths differ, or either side is constant.
/// Mean absolute percentage error, in percent.
pub fn mape(predictions: &[f64], labels: &[f64]) -> f64 {
    let n = labels.len().max(1) as f64;
    100.0
        * predictions
            .iter()
            .zip(labels)
            .map(|(p, y)| ((p - y) / y).abs())
            .sum::<f64>()
        / n
}

/// Share of predictions within `tolerance` relative error of the label
/// (Acc(10%) is `accuracy_within(.., 0.10)`).
pub fn accuracy_within(predictions: &[f64], labels: &[f64], tolerance: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    predictions
        .iter()
        .zip(labels)
        .filter(|(p, y)| ((*p - *y) / *y).abs() <= tolerance)
        .count() as f64
        / n
}

pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let pairs = |t: u64| t * (t - 1) / 2;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));

    let (mut ties_x, mut ties_xy) = (0u64, 0u64);
    let (mut run_x, mut run_xy) = (1u64, 1u64);
    for w in order.windows(2) {
        let same_x = x[w[0]].total_cmp(&x[w[1]]) == Ordering::Equal;
        let same_y = y[w[0]].total_cmp(&y[w[1]]) == Ordering::Equal;
        if same_x {
            run_x += 1;
            run_xy = if same_y {
                run_xy + 1
            } else {
                flush(&mut ties_xy, run_xy)
            };
        } else {
            run_x = flush(&mut ties_x, run_x);
            run_xy = flush(&mut ties_xy, run_xy);
        }
    }
    flush(&mut ties_x, run_x);
    flush(&mut ties_xy, run_xy);

    let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let mut buffer = vec![0.0; n];
    let swaps = merge_count(&mut ys, &mut buffer);

    let mut ties_y = 0u64;
    let mut run_y = 1u64;
    for w in ys.windows(2) {
        if w[0].total_cmp(&w[1]) == Ordering::Equal {
            run_y += 1;
        } else {
            run_y = flush(&mut ties_y, run_y);
        }
    }
    flush(&mut ties_y, run_y);

    let total = pairs(n as u64);
    let denominator = ((total - ties_x) as f64 * (total - ties_y) as f64).sqrt();
    if denominator == 0.0 {
        return None;
    }
    let numerator =
        total as f64 - ties_x as f64 - ties_y as f64 + ties_xy as f64 - 2.0 * swaps as f64;
    Some(numerator / denominator)
}

/// Adds the pairs of a finished run of equal values; returns the new run length 1.
fn flush(total: &mut u64, run: u64) -> u64 {
    *total += run * (run - 1) / 2;
    1
}

/// Sorts `v` ascending and returns the number of strictly inverted pairs.
fn merge_count(v: &mut [f64], buffer: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut swaps = merge_count(&mut v[..mid], &mut buffer[..mid])
        + merge_count(&mut v[mid..], &mut buffer[mid..]);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buffer[k] = v[j];
            swaps += (mid - i) as u64;
            j += 1;
        } else {
            buffer[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buffer[k..k + mid - i].copy_from_slice(&v[i..mid]);
    let k = k + mid - i;
    buffer[k..n].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buffer[..n]);
    swaps
}

/// Test scores of a latency predictor on a set of networks.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyScores {
    pub n: usize,
    /// Percent.
    pub mape: f64,
    /// Fraction within 10%.
    pub acc10: f64,
    /// Fraction within 5% (NaN in results stored before it was recorded).
    #[serde(default = "not_recorded", deserialize_with = "nan_if_null")]
    pub acc5: f64,
    /// NaN (stored as JSON null) when undefined, e.g. for constant labels.
    #[serde(deserialize_with = "nan_if_null")]
    pub spearman: f64,
}

fn not_recorded() -> f64 {
    f64::NAN
}

/// JSON has no NaN: serde_json writes it as `null`; read that back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl LatencyScores {
    pub fn of(predictions: &[f64], labels: &[f64]) -> Self {
        Self {
            n: labels.len(),
            mape: mape(predictions, labels),
            acc10: accuracy_within(predictions, labels, 0.10),
            acc5: accuracy_within(predictions, labels, 0.05),
            spearman: spearman(predictions, labels).unwrap_or(f64::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mape_and_accuracy_within() {
        let y = [1.0, 2.0, 4.0, 10.0];
        let p = [1.04, 1.85, 4.0, 13.0];
        // errors 4%, 7.5%, 0%, 30% (clear of the float boundaries at exactly 5% and 10%)
        assert!((mape(&p, &y) - 10.375).abs() < 1e-9);
        assert_eq!(accuracy_within(&p, &y, 0.10), 0.75);
        assert_eq!(accuracy_within(&p, &y, 0.05), 0.5);
    }

    fn brute_force(x: &[f64], y: &[f64]) -> f64 {
        let (mut s, mut tx, mut ty, n) = (0.0, 0.0, 0.0, x.len());
        for i in 0..n {
            for j in i + 1..n {
                let a = (x[i] - x[j]).signum() * if x[i] == x[j] { 0.0 } else { 1.0 };
                let b = (y[i] - y[j]).signum() * if y[i] == y[j] { 0.0 } else { 1.0 };
                s += a * b;
                tx += a * a;
                ty += b * b;
            }
        }
        s / (tx * ty).sqrt()
    }

    #[test]
    fn hand_checked_cases() {
        // C = 6, D = 4 over 10 pairs.
        let t = kendall_tau_b(&[1., 2., 3., 4., 5.], &[3., 4., 1., 2., 5.]).unwrap();
        assert!((t - 0.2).abs() < 1e-12, "{t}");
        // One tie in x, one in y: C = 4, D = 0, tau_b = 4 / sqrt(5 * 5).
        let t = kendall_tau_b(&[1., 1., 2., 3.], &[1., 2., 2., 3.]).unwrap();
        assert!((t - 0.8).abs() < 1e-12, "{t}");
        // Perfect and reversed.
        assert_eq!(kendall_tau_b(&[1., 2., 3.], &[10., 20., 30.]), Some(1.0));
        assert_eq!(kendall_tau_b(&[1., 2., 3.], &[3., 2., 1.]), Some(-1.0));
        // Joint ties count in neither direction: x = (1,1,2), y = (5,5,6): tau_b = 2 / sqrt(2*2).
        assert_eq!(kendall_tau_b(&[1., 1., 2.], &[5., 5., 6.]), Some(1.0));
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 2.0], &[1.0]), None);
    }

    #[test]
    fn matches_brute_force_on_random_data_with_ties() {
        let mut state = 12345u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((state >> 33) % m) as f64
        };
        for trial in 0..50 {
            let n = 2 + trial * 3;
            let x: Vec<f64> = (0..n).map(|_| next(7)).collect();
            let y: Vec<f64> = (0..n).map(|_| next(5)).collect();
            if let Some(t) = kendall_tau_b(&x, &y) {
                assert!((t - brute_force(&x, &y)).abs() < 1e-12, "n={n}");
            }
        }
    }
}

/// Average ranks (1-based; ties share the mean of their ranks).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation (Pearson's r of the average ranks).
///
/// `None` when fewer than two points, the lengths differ, or either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Pearson's correlation coefficient.
///
/// `None` when fewer than two points, the lengths differ, or either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod spearman_tests {
    use super::*;

    #[test]
    fn pearson_of_linear_and_constant_data() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let r = pearson(&x, &[3.0, 5.0, 7.0, 9.0]).unwrap();
        assert!((r - 1.0).abs() < 1e-12, "{r}");
        let r = pearson(&x, &[1.0, 1.0, 1.0, 2.0]).unwrap();
        assert!((r - 0.7745966692414834).abs() < 1e-12, "{r}");
        assert_eq!(pearson(&x, &[2.0; 4]), None);
        assert_eq!(pearson(&x[..1], &[2.0]), None);
    }

    #[test]
    fn spearman_of_monotone_and_reversed_data() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(spearman(&x, &[10.0, 20.0, 25.0, 100.0]), Some(1.0));
        assert_eq!(spearman(&x, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        // Ties take average ranks: x ranks 1,2,3,4 vs y ranks 1.5,1.5,3,4.
        let rho = spearman(&x, &[1.0, 1.0, 2.0, 3.0]).unwrap();
        assert!((rho - 0.9486833).abs() < 1e-6, "{rho}");
        assert_eq!(spearman(&x, &[1.0; 4]), None);
    }
}
