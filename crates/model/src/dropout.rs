//! Dropout with the mask drawn fast on the CPU backend. Burn's
//! [`Dropout::forward`] draws one Bernoulli sample per element through its
//! ChaCha-based sampler, which on flex costs about a fifth of a training step
//! of the paper-size models; here one 64-bit seed is drawn from Burn's seeded
//! generator per call (so `device.seed(s)` still makes a run repeatable) and
//! expanded into the mask by SplitMix64 (Steele, Lea and Flood, OOPSLA 2014),
//! two 32-bit draws per hash. Same distribution as Burn's: each element kept
//! with probability `1 - prob` and scaled by `1 / (1 - prob)`. Other backends
//! draw on their device, through Burn.

use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

/// [`Dropout::forward`], with the mask drawn on the host on flex.
///
/// # Shapes
/// - input: any; output: the same
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    if device != Device::flex().autodiff() {
        return layer.forward(input);
    }
    let keep = 1.0 - layer.prob;
    let shape = input.shape();
    let mask = host_mask(shape.num_elements(), keep, seed_from(&device));
    input * Tensor::from_data(TensorData::new(mask, shape), &device)
}

/// A seed for the masks of one hand-written training step
/// ([`crate::fused::StepDropout`]), from Burn's seeded generator of `device`.
pub fn step_seed(device: &Device) -> u64 {
    seed_from(device)
}

/// The seed of mask number `site` of a step seeded `seed`: hashed, so the
/// sites' SplitMix64 streams do not overlap.
pub(crate) fn mix_seed(seed: u64, site: u64) -> u64 {
    mix(seed ^ mix(site.wrapping_mul(GAMMA)))
}

/// 64 bits from Burn's generator of `device`: two uniform draws of 2^32.
fn seed_from(device: &Device) -> u64 {
    let halves: Vec<f32> = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), device)
        .into_data()
        .try_to_vec()
        .unwrap_or_default();
    halves.iter().fold(0u64, |seed, h| {
        (seed << 32) | ((*h as f64 * 4_294_967_296.0) as u64 & 0xffff_ffff)
    })
}

/// `n` mask values: `1 / keep` with probability `keep`, else 0. Hash `i`
/// is SplitMix64's `i`-th output, computed from its counter directly, so the
/// loop has no carried state and vectorises.
fn host_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    host_mask_range(0, n, keep, seed)
}

/// Elements `start..start + len` of the mask [`host_mask`] draws from
/// `seed`: a part of a batch draws its own stretch, the same values
/// whatever the split.
pub(crate) fn host_mask_range(start: usize, len: usize, keep: f64, seed: u64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let value = |half: u64| if half < threshold { scale } else { 0.0 };
    let bits = |pair: usize| mix(seed.wrapping_add((pair as u64 + 1).wrapping_mul(GAMMA)));
    let mut mask = vec![0.0f32; len];
    // An odd start takes the upper half of its pair first.
    let skip = (start % 2).min(len);
    if skip == 1 {
        mask[0] = value(bits(start / 2) >> 32);
    }
    let first_pair = start.div_ceil(2);
    for (i, pair) in mask[skip..].chunks_mut(2).enumerate() {
        let bits = bits(first_pair + i);
        for (m, half) in pair.iter_mut().zip([bits & 0xffff_ffff, bits >> 32]) {
            *m = value(half);
        }
    }
    mask
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function of its state.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;

    #[test]
    fn the_host_mask_keeps_the_right_share_scaled() {
        let mask = host_mask(200_001, 0.9, 7);
        assert_eq!(mask.len(), 200_001);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        let scale = (1.0f64 / 0.9) as f32;
        assert!(mask.iter().all(|&m| m == 0.0 || m == scale));
        assert_ne!(host_mask(64, 0.5, 1), host_mask(64, 0.5, 2));
    }

    #[test]
    fn a_stretch_of_the_mask_is_the_whole_masks_stretch() {
        let whole = host_mask(101, 0.5, 11);
        for (start, len) in [(0, 101), (1, 7), (2, 50), (37, 64), (100, 1), (5, 0)] {
            assert_eq!(
                host_mask_range(start, len, 0.5, 11),
                whole[start..start + len],
                "{start}..+{len}"
            );
        }
    }

    #[test]
    fn training_dropout_is_seeded_and_passes_gradients_through_kept_elements() {
        let _lock = crate::test_lock::seeded();
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.25).init();
        let run = || {
            device.seed(3);
            let x = Tensor::<2>::ones([64, 32], &device).require_grad();
            let y = dropout(&layer, x.clone());
            let grads = y.clone().sum().backward();
            let grad: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
            let y: Vec<f32> = y.into_data().try_to_vec().unwrap();
            (y, grad)
        };
        let (y, grad) = run();
        assert_eq!(run().0, y, "the same seed gives the same mask");
        // On flex the mask is the host's, from one seed drawn after the reseed.
        device.seed(3);
        assert_eq!(y, host_mask(64 * 32, 0.75, seed_from(&device)));
        // The output of an all-ones input is the mask; its gradient is the mask too.
        assert_eq!(grad, y);
        let dropped = y.iter().filter(|&&v| v == 0.0).count();
        assert!((300..=730).contains(&dropped), "{dropped} of 2048 dropped");
        // Inference (no autodiff) passes the input through.
        let plain = Tensor::<2>::ones([4, 4], &Device::flex());
        let out: Vec<f32> = dropout(&layer, plain).into_data().try_to_vec().unwrap();
        assert!(out.iter().all(|&v| v == 1.0));
    }
}
