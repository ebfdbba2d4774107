//! A seeded stream of uniform numbers for tests that build random graphs.

/// Uniform in `[0, 1)`, from a 64-bit linear congruential generator
/// (Knuth's MMIX constants): the same stream for the same seed everywhere.
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32) / (u32::MAX >> 1) as f32
    }
}
