//! Why a graph could not be built (a cycle, a dangling edge).

use thiserror::Error;

/// Why a graph could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GraphError {
    #[error("graph has a cycle through node #{node} ({name})")]
    Cycle { node: usize, name: String },
    #[error("edge {from} -> {to} names a node that does not exist (graph has {len} nodes)")]
    UnknownNode { from: usize, to: usize, len: usize },
    #[error("node #{node} ({name}) has two inputs in operand slot {slot}")]
    DuplicateOperand {
        node: usize,
        name: String,
        slot: usize,
    },
    #[error("node #{node} ({name}) has an edge to itself")]
    SelfLoop { node: usize, name: String },
}
