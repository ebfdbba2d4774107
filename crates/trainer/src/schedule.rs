//! Learning-rate schedule: linear warmup over the first part of the steps,
//! then linear decay to 0, stepped every iteration.

#[derive(Debug, Clone, Copy)]
pub struct WarmupLinear {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl WarmupLinear {
    pub fn new(peak: f64, warmup_fraction: f64, total_steps: usize) -> Self {
        let warmup_steps = ((total_steps as f64) * warmup_fraction).round() as usize;
        Self {
            peak,
            warmup_steps,
            total_steps: total_steps.max(1),
        }
    }

    /// Learning rate for (0-based) iteration `step`.
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            self.peak * (step + 1) as f64 / self.warmup_steps as f64
        } else {
            let left = self.total_steps.saturating_sub(step) as f64;
            let span = (self.total_steps - self.warmup_steps).max(1) as f64;
            self.peak * left / span
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let s = WarmupLinear::new(1e-3, 0.1, 100);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.at(0) - 1e-4).abs() < 1e-12);
        assert!((s.at(9) - 1e-3).abs() < 1e-12);
        assert!((s.at(10) - 1e-3).abs() < 1e-12);
        assert!(s.at(55) < s.at(20));
        assert!(s.at(99) > 0.0 && s.at(99) < 2e-5);
    }
}
