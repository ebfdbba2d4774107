//! NAR-Former V2 models as Burn modules (the paper's section 3; reference `predictor/model.py`), and the GNN and
//! vanilla-Transformer baselines of the paper's analysis.
//!
//! The model crate knows nothing about files or tokenizers: it takes padded
//! tensors ([`GraphBatch`]) and returns predictions. Of backends it knows one
//! thing: on flex, [`dropout`] draws its masks on the host.

mod batch;
pub mod cell;
pub mod dropout;
pub mod fused;
pub mod gnn;
pub mod grouped_ffn;
pub mod head;
pub mod layer;
pub mod network;
#[cfg(test)]
mod test_lock;
#[cfg(test)]
mod test_noise;
pub mod transformer;
pub mod v2;

pub use batch::{FlatBatch, GraphBatch};
pub use cell::{Architecture, CellModel, CellModelConfig};
pub use layer::{V2Layer, V2LayerConfig};
pub use network::{Encoder, NetworkSizes, Readout, V2NetworkModel};
