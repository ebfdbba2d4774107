//! The order nodes are imported in: ONNX requires files to be sorted, the
//! importer does not trust them to be; a control-flow node waits for the outer
//! values its subgraphs read.

use super::Value;
use crate::OnnxError;
use crate::proto::{GraphProto, NodeProto};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// The node's name for messages: its ONNX name, or its first output.
pub(super) fn display_name(node: &NodeProto) -> String {
    match node.name() {
        "" => node
            .output
            .first()
            .cloned()
            .unwrap_or_else(|| "<unnamed>".into()),
        name => name.to_string(),
    }
}

/// Every tensor name the subgraphs of `node` (If branches, Loop and Scan
/// bodies, nested) read.
fn subgraph_reads(node: &NodeProto) -> Vec<&String> {
    let mut out = Vec::new();
    for graph in node.attribute.iter().filter_map(|a| a.g.as_ref()) {
        for inner in &graph.node {
            out.extend(inner.input.iter().filter(|n| !n.is_empty()));
            out.extend(subgraph_reads(inner));
        }
    }
    out
}

/// The graph's nodes in dependency order (ONNX requires files to be sorted;
/// this does not trust them to be). Missing inputs and cycles are errors.
pub(super) fn topological<'g>(
    graph: &'g GraphProto,
    known: &HashMap<String, Value>,
    file: &Path,
) -> Result<Vec<&'g NodeProto>, OnnxError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            producer.insert(out, i);
        }
    }
    let mut waiting = vec![0usize; graph.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        // A control-flow node also waits for the outer values its branches read.
        let mut reads: Vec<&String> = node.input.iter().filter(|n| !n.is_empty()).collect();
        reads.extend(
            subgraph_reads(node)
                .into_iter()
                .filter(|n| producer.contains_key(n.as_str()) && !node.input.contains(n)),
        );
        reads.sort();
        reads.dedup();
        for input in reads {
            if let Some(&p) = producer.get(input.as_str()) {
                waiting[i] += 1;
                users[p].push(i);
            } else if !known.contains_key(input) {
                return Err(OnnxError::Node {
                    file: file.to_path_buf(),
                    node: display_name(node),
                    op: node.op_type().to_string(),
                    reason: format!(
                        "input '{input}' is not produced by any node, initializer or graph input"
                    ),
                });
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.node.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.node[i]);
        for &u in &users[i] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if let Some(stuck) = (0..graph.node.len()).find(|&i| waiting[i] > 0) {
        let node = &graph.node[stuck];
        return Err(OnnxError::Cycle {
            file: file.to_path_buf(),
            node: display_name(node),
            op: node.op_type().to_string(),
        });
    }
    Ok(order)
}
