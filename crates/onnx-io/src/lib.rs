//! Reads ONNX models into (and writes them from) the shared [`graph_ir::Graph`] (reference `predictor/feature/`).
//!
//! - Decoding uses the official `onnx.proto`, compiled by prost + protox at build time.
//! - One graph node per op output; weights, biases and BN statistics are not
//!   nodes but the op's [`graph_ir::Node::params`]; operand order is kept.
//! - Shape arithmetic on constants (`Shape -> Gather -> Concat -> Reshape`) is
//!   folded at import, like an inference engine would, so it leaves no nodes.
//! - Every output shape is inferred statically from the input shape and batch size.
//! - Files with stripped weights (dims but no data, the NNLQP format) load.

mod attrs;
pub mod conformance;
mod constant;
mod error;
mod export;
mod import;
mod shape;

/// The message types generated from `proto/onnx.proto`.
#[allow(missing_debug_implementations, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::OnnxError;
pub use export::{EXPORT_OPSET, ExportError, Weights, export_bytes, export_model, write_file};
pub use import::{
    BatchRule, GraphInput, ImportOptions, Imported, KnownTensor, import_bytes, read_file,
    read_tensor,
};
