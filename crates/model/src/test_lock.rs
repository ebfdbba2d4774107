//! One lock for every test in this crate that seeds burn.

/// Burn's device seed is process-global and the test harness runs tests on
/// several threads: a test that seeds it or draws from it (initialising a
/// model, a random tensor) must hold this guard, or another test can reseed
/// or draw from the generator in between and runs that should be identical
/// are not.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn seeded() -> std::sync::MutexGuard<'static, ()> {
    SEEDED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
