//! Benchmark loaders and seeded splits.
//!
//! - [`data_dir`]: where the benchmark files live (`--data-dir`, `NARFORMER_DATA`, `data/`).
//! - [`nb201`]: NAS-Bench-201 cells with their CIFAR-10 accuracy.
//! - [`nb201_latency`]: NAS-Bench-201 networks' latency on 27 device settings.
//! - [`nb101`]: the 30k-cell NAS-Bench-101 subset with its validation accuracy.
//! - [`nnlqp`]: NNLQP-format latency datasets (ONNX files + `gt.txt`), their splits
//!   and the tokenised-graph cache.
//! - [`split`]: disjoint train / validation / test index sets from a seed.

pub mod data_dir;
mod error;
pub mod nb101;
pub mod nb201;
pub mod nb201_latency;
pub mod nnlqp;
mod rows;
pub mod shots;
pub mod split;

pub use error::DatasetError;
pub use rows::{BadRows, Loaded};
pub use split::{Split, SplitSizes};

/// One labelled architecture, whatever the benchmark.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The benchmark's own index of the architecture.
    pub index: usize,
    /// The architecture in the benchmark's text form (the cell string for NB201,
    /// `<adjacency> <ops>` for NB101).
    pub arch: String,
    pub graph: graph_ir::Graph,
    /// The regression target (accuracy as a fraction).
    pub label: f64,
}
