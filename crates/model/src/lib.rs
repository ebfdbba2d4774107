//! NAR-Former V2 models as Burn modules (SPEC section 4).
//!
//! The model crate knows nothing about files, tokenizers or backends: it takes
//! padded tensors ([`GraphBatch`]) and returns predictions.

mod batch;
pub mod cell;
pub mod grouped_ffn;
pub mod layer;

pub use batch::GraphBatch;
pub use cell::{CellModel, CellModelConfig};
pub use layer::{V2Layer, V2LayerConfig};
