//! The one graph type every narformer crate shares: a DAG of typed operations.
//!
//! [`Graph`] is acyclic by construction ([`GraphBuilder::build`] returns
//! [`GraphError::Cycle`] instead of a graph), keeps operand order on its edges,
//! and is built either by hand, by the cell builders in [`cells`], or by the
//! ONNX reader. [`catalogue`] lists every ONNX op type the workspace reads.

pub mod catalogue;
pub mod cells;
pub mod cost;
mod error;
mod graph;
pub mod kernels;
pub mod networks;
mod op;

pub use cost::{
    Cost, NodeTraffic, contraction_flops, cost_of, graph_cost, is_contraction, node_flops,
    node_traffic,
};
pub use error::GraphError;
pub use graph::{Graph, GraphBuilder, Node, NodeId, NodeSignature};
pub use op::{ConvAttrs, Op, Perm, PlainOp, PoolAttrs, RecurrentAttrs, RecurrentCell};
