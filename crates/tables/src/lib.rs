//! Reproducing the paper's tables with one command.
//!
//! - [`runs`]: a run's key (benchmark, size, model, seed, profile, config hash)
//!   and its directory; a [`runs::Runner`] that trains the missing runs as
//!   parallel `narformer train` processes and reuses finished ones.
//! - [`accuracy`]: the NAS-Bench-201 / NAS-Bench-101 Kendall's tau table
//!   (V2 and both baselines), as markdown beside the published numbers.
//! - [`latency`]: the NAS-Bench-201 latency table on 27 device settings
//!   (per-setting and multi-setting models, transfer, regression baselines).
//! - [`scatter`]: predicted against true accuracy of one run, as SVG.
//! - `worker`: the one worker loop of the multi-process tables (latency, zoo).

pub mod accuracy;
mod error;
pub mod latency;
pub mod runs;
pub mod scatter;
mod worker;
pub mod zoo;

pub use error::TableError;
