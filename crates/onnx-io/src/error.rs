//! Why an ONNX file could not be read, naming the file and node.

use graph_ir::GraphError;
use std::path::PathBuf;

/// Why an ONNX file could not be turned into a graph. Every variant names the
/// file, and the node (ONNX node name, falling back to its first output) where
/// one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a valid ONNX model (protobuf decoding failed: {source})")]
    Decode {
        file: PathBuf,
        source: prost::DecodeError,
    },
    #[error("{file}: the model has no graph")]
    NoGraph { file: PathBuf },
    #[error("{file}: graph input '{input}': {reason}")]
    Input {
        file: PathBuf,
        input: String,
        reason: String,
    },
    #[error("{file}: node '{node}' ({op}): {reason}")]
    Node {
        file: PathBuf,
        node: String,
        op: String,
        reason: String,
    },
    #[error("{file}: the graph has a cycle through node '{node}' ({op})")]
    Cycle {
        file: PathBuf,
        node: String,
        op: String,
    },
    #[error("{file}: {source}")]
    Graph { file: PathBuf, source: GraphError },
}
