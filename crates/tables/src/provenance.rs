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
