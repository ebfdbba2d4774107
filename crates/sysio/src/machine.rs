//! What machine this is, for the provenance of measurements and tables.

/// The CPU's model name from `/proc/cpuinfo` (Linux), if it can be read.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string())
}

/// Logical cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// "<CPU model>, <n> cores", or what is known.
pub fn describe() -> String {
    let model = cpu_model().unwrap_or_else(|| "an unknown CPU".to_string());
    format!("{model}, {} cores", cores())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_description_ends_with_the_core_count() {
        let text = super::describe();
        assert!(
            text.ends_with(&format!(", {} cores", super::cores())),
            "{text}"
        );
    }
}
