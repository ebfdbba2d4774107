//! The one provenance record of every table: what the markdown says about how
//! it was made.

use trainer::Profile;

#[derive(Debug, Clone)]
pub struct Provenance {
    /// The command that regenerates the table.
    pub command: String,
    pub profile: Profile,
    pub seeds: usize,
    /// Runs trained at once (worker processes of the latency and zoo tables).
    pub workers: usize,
    pub machine: String,
    /// Wall-clock seconds the table's training took.
    pub wall_seconds: f64,
    /// Sum of the jobs' own times (what one process would have taken).
    pub job_seconds: f64,
    /// `(file name, caption)` of each plot, relative to the markdown.
    pub plots: Vec<(String, String)>,
    /// The dataset's measurement facts (engine, threads, CPU), one line, where
    /// the table's data was measured here.
    pub dataset: Option<String>,
}

impl Provenance {
    /// How long the table took: its wall clock, or, where the span of its
    /// result files is longer than all its jobs' time together (the jobs ran
    /// in several resumed sittings, idle time between them), that it did.
    pub fn wall_clock(&self) -> String {
        if self.wall_seconds <= self.job_seconds.max(60.0) {
            format!("{:.0} min wall clock", self.wall_seconds / 60.0)
        } else {
            "run over several sittings".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(wall_seconds: f64, job_seconds: f64) -> Provenance {
        Provenance {
            command: String::new(),
            profile: Profile::Quick,
            seeds: 3,
            workers: 2,
            machine: String::new(),
            wall_seconds,
            job_seconds,
            plots: Vec::new(),
            dataset: None,
        }
    }

    #[test]
    fn a_span_longer_than_the_jobs_is_no_wall_clock() {
        assert_eq!(timed(3600.0, 7000.0).wall_clock(), "60 min wall clock");
        assert_eq!(timed(30.0, 0.0).wall_clock(), "0 min wall clock");
        assert_eq!(
            timed(57_000.0, 45_000.0).wall_clock(),
            "run over several sittings"
        );
    }
}
