//! Sinusoidal encodings of scalars, computed in f32 like the reference.

/// Frequencies of the "nerf" encoding: 32 values spaced *linearly* from 1 to 2^31.
pub const NERF_FREQS: usize = 32;

/// Width of one nerf-encoded scalar: a sin and a cos per frequency.
pub const NERF_DIM: usize = 2 * NERF_FREQS;

fn nerf_frequencies() -> [f32; NERF_FREQS] {
    // torch.linspace(1, 2**31, 32): start + k * step, computed in f64 then
    // stored as f32 like the reference's f32 tensor.
    let (start, end) = (1.0f64, 2f64.powi(31));
    let step = (end - start) / (NERF_FREQS - 1) as f64;
    std::array::from_fn(|k| (start + step * k as f64) as f32)
}

/// Appends the nerf encoding of `x` to `out`: for each frequency `f_k`,
/// `[sin(x * pi * f_k), cos(x * pi * f_k)]`, all in f32.
pub fn nerf_into(x: f32, out: &mut Vec<f32>) {
    let x_pi = x * std::f32::consts::PI;
    for f in nerf_frequencies() {
        let arg = x_pi * f;
        out.push(arg.sin());
        out.push(arg.cos());
    }
}

/// The nerf encoding of `x` as a new vector of [`NERF_DIM`] values.
pub fn nerf(x: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(NERF_DIM);
    nerf_into(x, &mut out);
    out
}

/// Frequencies of the "trans" encoding.
pub const TRANS_FREQS: usize = 5;

/// Width of one trans-encoded scalar.
pub const TRANS_DIM: usize = 2 * TRANS_FREQS;

/// Appends the "trans" encoding of `x` (reference `predictor/feature/`): for j in 0..5,
/// `f_j = 1 / 10000^(j/5)`, then `[sin(x f_j), cos(x f_j)]`. Computed in f64 and
/// stored as f32, so large shape values and FLOP counts keep their precision.
pub fn trans_into(x: f64, out: &mut Vec<f32>) {
    for j in 0..TRANS_FREQS {
        let f = 1.0 / 10000f64.powf(j as f64 / TRANS_FREQS as f64);
        out.push((x * f).sin() as f32);
        out.push((x * f).cos() as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trans_golden_values() {
        let mut e = Vec::new();
        trans_into(7.0, &mut e);
        assert_eq!(e.len(), TRANS_DIM);
        // sin(7), cos(7); then f_1 = 10000^-0.2 = 0.158489...: sin(1.109425), cos(1.109425).
        assert!((e[0] - 0.656_986_6).abs() < 1e-6 && (e[1] - 0.753_902_3).abs() < 1e-6);
        assert!((e[2] - 0.895_443).abs() < 1e-6 && (e[3] - 0.445_176_3).abs() < 1e-6);
        let mut zero = Vec::new();
        trans_into(0.0, &mut zero);
        assert_eq!(zero, [0.0, 1.0].repeat(TRANS_FREQS));
    }

    #[test]
    fn frequencies_are_linear_from_one_to_two_pow_31() {
        let f = nerf_frequencies();
        assert_eq!(f[0], 1.0);
        assert_eq!(f[31], 2147483648.0);
        // (2^31 - 1) / 31 + 1 = 69273667.6..., rounded to the nearest f32.
        assert_eq!(f[1], 69273664.0);
    }

    #[test]
    fn zero_encodes_as_sin_zero_cos_one() {
        let e = nerf(0.0);
        assert_eq!(e.len(), NERF_DIM);
        for pair in e.chunks(2) {
            assert_eq!(pair, [0.0, 1.0]);
        }
    }

    #[test]
    fn golden_values_in_f32() {
        // Hand-checked: pi as f32 is 3.1415927, a little above pi, so
        // sin(pi_f32) = -8.742278e-8 in f32 and cos = -1.
        let e = nerf(1.0);
        assert_eq!(e[0], -8.742278e-8);
        assert_eq!(e[1], -1.0);
        // x = 0.5: sin(pi/2) = 1, cos(pi/2) = -4.371139e-8 in f32.
        let e = nerf(0.5);
        assert_eq!(e[0], 1.0);
        assert_eq!(e[1], -4.371139e-8);
        // Higher frequencies: f32 arguments of order 1e8 are reproduced bit for bit.
        let e = nerf(2.0);
        let arg = 2.0f32 * std::f32::consts::PI * 69273664.0f32;
        assert_eq!((e[2], e[3]), (arg.sin(), arg.cos()));
    }
}
