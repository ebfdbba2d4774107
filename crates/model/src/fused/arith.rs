//! Element-wise arithmetic the fused paths share: lane-split sums, dot
//! products, the layer and group norms, the sigmoid.

/// Epsilon of Burn's `LayerNorm` (its default, which the models keep) and of
/// the grouped FFN's norms (`grouped_ffn.rs`).
pub(super) const NORM_EPS: f32 = 1e-5;

/// [`normalise`] on each `len`-wide segment of `row` with the matching
/// stretch of `gamma` and `beta` (as wide as `row`); `stats` is scratch of
/// two values per segment. Each segment's mean, variance and scaling are
/// computed as [`normalise`] computes them, so the results are the same.
pub(super) fn normalise_segments(
    row: &mut [f32],
    len: usize,
    gamma: &[f32],
    beta: &[f32],
    stats: &mut [f32],
) {
    let n = len as f32;
    let (means, invs) = stats.split_at_mut(stats.len() / 2);
    for ((y, mean), inv) in row
        .chunks_exact(len)
        .zip(means.iter_mut())
        .zip(invs.iter_mut())
    {
        *mean = lane_sum(y, |v| v) / n;
        let m = *mean;
        *inv = lane_sum(y, |v| (v - m) * (v - m)) / n;
    }
    // Independent of one another: vector square roots and divisions.
    for inv in invs.iter_mut() {
        *inv = 1.0 / (*inv + NORM_EPS).sqrt();
    }
    let segments = row
        .chunks_exact_mut(len)
        .zip(gamma.chunks_exact(len).zip(beta.chunks_exact(len)));
    for ((y, (gamma, beta)), (&mean, &inv)) in segments.zip(means.iter().zip(invs.iter())) {
        for ((v, g), b) in y.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// The sum of `f(x)` over `xs`, in eight running sums: the order lets the
/// compiler use vector lanes, where one running sum must add one at a time.
pub(super) fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f(x);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `a . b`, in eight running sums ([`lane_sum`]).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((lane, p), q) in lanes.iter_mut().zip(x).zip(y) {
            *lane += p * q;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `(y - mean) / sqrt(var + eps) * gamma + beta`, in place (biased variance).
pub(super) fn normalise(y: &mut [f32], gamma: &[f32], beta: &[f32]) {
    let n = y.len() as f32;
    let mean = lane_sum(y, |v| v) / n;
    let var = lane_sum(y, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + NORM_EPS).sqrt();
    for ((v, g), b) in y.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
