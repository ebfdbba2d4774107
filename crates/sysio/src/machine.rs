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

/// The kernel release (`/proc/sys/kernel/osrelease`), or the OS name.
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::consts::OS.into())
}

/// The 1-minute load average (`/proc/loadavg`), if it can be read.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Cumulative CPU time of the whole machine and of this process, in the
/// kernel's clock ticks (Linux `/proc/stat` and `/proc/self/stat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// Every field of the `cpu` line: all time of all cores.
    total: u64,
    /// Time the cores spent running anything (user, nice, system, irq, softirq).
    busy: u64,
    /// Time the hypervisor gave this VM's cores to someone else.
    steal: u64,
    /// This process's user and system time.
    own: u64,
}

/// What else ran while this process worked, between two [`CpuTimes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    /// Other processes' CPU use, in cores (0.5 = half a core on average).
    pub other_cores: f64,
    /// The fraction of the cores' time stolen by the hypervisor.
    pub steal: f64,
}

impl CpuTimes {
    /// `None` where `/proc` cannot be read (not Linux).
    pub fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is
        // already inside user).
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may hold spaces: fields are counted after its ')'.
        let after = own_stat.rsplit_once(')')?.1;
        let own: Vec<u64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
        let own_ticks = own.get(11).copied()? + own.get(12).copied()?;
        Some(CpuTimes {
            total: (0..8).map(field).sum(),
            busy: field(0) + field(1) + field(2) + field(5) + field(6),
            steal: field(7),
            own: own_ticks,
        })
    }

    /// The activity from `self` to `later`, `None` when no time passed.
    pub fn until(&self, later: &CpuTimes) -> Option<Activity> {
        let total = later.total.checked_sub(self.total)? as f64;
        if total <= 0.0 {
            return None;
        }
        let cores = cores() as f64;
        let busy = later.busy.saturating_sub(self.busy) as f64;
        let own = later.own.saturating_sub(self.own) as f64;
        let steal = later.steal.saturating_sub(self.steal) as f64;
        Some(Activity {
            other_cores: ((busy - own).max(0.0) / total) * cores,
            steal: steal / total,
        })
    }
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

    #[test]
    fn this_process_working_is_not_counted_as_other_activity() {
        let (Some(before), Some(load)) = (super::CpuTimes::now(), super::load_average()) else {
            return; // not Linux
        };
        assert!(load >= 0.0);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = super::CpuTimes::now().expect("readable twice");
        let activity = before.until(&after).expect("time passed");
        // Our own spinning core is ours; other processes (tests run in
        // parallel) may add some, but never more than the other cores.
        assert!(
            activity.other_cores <= super::cores() as f64 - 0.5,
            "{activity:?}"
        );
        assert!((0.0..=1.0).contains(&activity.steal), "{activity:?}");
    }
}
