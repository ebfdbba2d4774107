//! NAR-Former V2 models as Burn modules (the paper's section 3; reference `predictor/model.py`), and the GNN and
//! vanilla-Transformer baselines of the paper's analysis.
//!
//! The model crate knows nothing about files, tokenizers or backends: it takes
//! padded tensors ([`GraphBatch`]) and returns predictions.

mod batch;
pub mod cell;
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
