//! Reproducing the paper's tables with one command ([`reproduce::reproduce`]).
//!
//! - [`reproduce`]: one `reproduce-table` invocation as a library call.
//! - [`runs`]: a run's key (benchmark, size, model, seed, profile, config hash)
//!   and its directory; a [`runs::Runner`] that trains the missing runs as
//!   parallel `narformer train` processes and reuses finished ones.
//! - [`accuracy`]: the NAS-Bench-201 / NAS-Bench-101 Kendall's tau table
//!   (V2 and both baselines), as markdown beside the published numbers.
//! - [`latency`]: the NAS-Bench-201 latency table on 27 device settings: its
//!   protocol (split, shots, transfer targets, baselines, repeat ceiling), jobs
//!   and markdown.
//! - [`zoo`]: the measured model-zoo table: its protocol, jobs and markdown.
//! - [`stored`]: the one stored-result format of the latency and zoo jobs;
//!   [`provenance`]: the one record of how a table was made.
//! - [`scatter`]: predicted against true values of one run, as SVG.
//! - [`worker`]: the one worker loop of the multi-process tables (latency, zoo);
//!   `stats`: mean ± std over seeds.

pub mod accuracy;
mod error;
pub mod latency;
pub mod provenance;
pub mod reproduce;
pub mod runs;
pub mod scatter;
mod stats;
pub mod stored;
pub mod worker;
pub mod zoo;

pub use error::TableError;
pub use provenance::Provenance;
