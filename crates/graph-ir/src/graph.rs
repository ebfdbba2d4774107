//! The one graph type: a DAG of typed ops with shapes and operand slots, built by [`GraphBuilder`].

use crate::{GraphError, Op};
use petgraph::Direction;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What [`Graph::signature`] records of a node: op, shape, params, operand names.
pub type NodeSignature = (Op, Option<Vec<usize>>, u64, Vec<String>);

/// Index of a node, in the order the nodes were added. Cell tokenizers use it
/// as the node's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub usize);

/// One operation and what is known of its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub op: Op,
    /// Output shape, when known (`[N, C, H, W]` for image tensors).
    pub shape: Option<Vec<usize>>,
    /// Number of weight elements the op owns (weights, bias, BN statistics): these
    /// are not nodes, so the count travels with the op.
    #[serde(default)]
    pub params: u64,
    /// Its output is all zeros whatever its input (NAS-Bench-201's `none`,
    /// written as a Mul by a zero constant), which an engine that folds
    /// constants computes once, before the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zeros: bool,
}

impl Node {
    pub fn new(name: impl Into<String>, op: Op) -> Self {
        Self {
            name: name.into(),
            op,
            shape: None,
            params: 0,
            zeros: false,
        }
    }

    pub fn with_shape(mut self, shape: Vec<usize>) -> Self {
        self.shape = Some(shape);
        self
    }

    pub fn with_params(mut self, params: u64) -> Self {
        self.params = params;
        self
    }

    /// Marks the output as all zeros ([`Node::zeros`]).
    pub fn all_zeros(mut self) -> Self {
        self.zeros = true;
        self
    }
}

/// Collects nodes and edges; [`GraphBuilder::build`] checks them and returns a [`Graph`].
#[derive(Debug, Default, Clone)]
pub struct GraphBuilder {
    nodes: Vec<Node>,
    /// (from, to, operand slot of `to`)
    edges: Vec<(usize, usize, usize)>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }

    /// Makes `from`'s output operand number `slot` of `to`.
    pub fn connect(&mut self, from: NodeId, to: NodeId, slot: usize) -> &mut Self {
        self.edges.push((from.0, to.0, slot));
        self
    }

    /// Checks node references, operand slots and acyclicity.
    pub fn build(self) -> Result<Graph, GraphError> {
        let len = self.nodes.len();
        let mut inner = DiGraph::<Node, usize>::with_capacity(len, self.edges.len());
        for node in self.nodes {
            inner.add_node(node);
        }
        let mut seen_slots = std::collections::HashSet::new();
        for &(from, to, slot) in &self.edges {
            if from >= len || to >= len {
                return Err(GraphError::UnknownNode { from, to, len });
            }
            let name = || inner[NodeIndex::new(to)].name.clone();
            if from == to {
                return Err(GraphError::SelfLoop {
                    node: to,
                    name: name(),
                });
            }
            if !seen_slots.insert((to, slot)) {
                return Err(GraphError::DuplicateOperand {
                    node: to,
                    name: name(),
                    slot,
                });
            }
            inner.add_edge(NodeIndex::new(from), NodeIndex::new(to), slot);
        }
        let order = toposort(&inner, None).map_err(|cycle| {
            let node = cycle.node_id().index();
            GraphError::Cycle {
                node,
                name: inner[cycle.node_id()].name.clone(),
            }
        })?;
        let order = order.into_iter().map(|ix| NodeId(ix.index())).collect();
        Ok(Graph { inner, order })
    }
}

/// A directed acyclic graph of typed operations. Edges carry the operand slot
/// of their target, so operand order never depends on iteration order.
#[derive(Debug, Clone)]
pub struct Graph {
    inner: DiGraph<Node, usize>,
    order: Vec<NodeId>,
}

impl Graph {
    /// Node name -> (op, shape, params, operand names in slot order): the
    /// graph up to node numbering, for comparing an exported and re-imported graph.
    pub fn signature(&self) -> std::collections::BTreeMap<String, NodeSignature> {
        self.node_ids()
            .map(|id| {
                let n = self.node(id);
                let operands = self
                    .operands(id)
                    .iter()
                    .map(|&o| self.node(o).name.clone())
                    .collect();
                (
                    n.name.clone(),
                    (n.op.clone(), n.shape.clone(), n.params, operands),
                )
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.node_count() == 0
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.inner[NodeIndex::new(id.0)]
    }

    /// Node ids in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.len()).map(NodeId)
    }

    /// Node ids in a topological order (every node after all of its operands).
    pub fn topological_order(&self) -> &[NodeId] {
        &self.order
    }

    /// For each node id, whether its value depends on a graph input: an
    /// `Input` does, a [`Node::zeros`] node does not, and any other node does
    /// when one of its operands does. The others are constants (computed from
    /// weights and zeros alone), which an engine that folds constants never runs.
    pub fn reads_input(&self) -> Vec<bool> {
        let mut reads = vec![false; self.len()];
        for &id in &self.order {
            let node = self.node(id);
            reads[id.0] = node.op == Op::Input
                || (!node.zeros && self.operands(id).iter().any(|o| reads[o.0]));
        }
        reads
    }

    /// For each node id, whether `target` is reachable from it (`target`
    /// itself included): the nodes an engine that drops computation nobody
    /// reads keeps when `target` is the result it is asked for.
    pub fn reaches(&self, target: NodeId) -> Vec<bool> {
        let mut reaches = vec![false; self.len()];
        if target.0 >= self.len() {
            return reaches;
        }
        reaches[target.0] = true;
        for &id in self.order.iter().rev() {
            if reaches[id.0] {
                for o in self.operands(id) {
                    reaches[o.0] = true;
                }
            }
        }
        reaches
    }

    /// The graph of the nodes from which `target` is reachable ([`Self::reaches`]),
    /// in the same relative order: what an engine that drops computation nobody
    /// reads runs to compute `target`.
    pub fn pruned_to(&self, target: NodeId) -> Result<Graph, GraphError> {
        let keep = self.reaches(target);
        let mut new_id = vec![usize::MAX; self.len()];
        let mut b = GraphBuilder::new();
        for id in self.node_ids().filter(|id| keep[id.0]) {
            new_id[id.0] = b.add_node(self.node(id).clone()).0;
        }
        for id in self.node_ids().filter(|id| keep[id.0]) {
            for (slot, o) in self.operands(id).into_iter().enumerate() {
                b.connect(NodeId(new_id[o.0]), NodeId(new_id[id.0]), slot);
            }
        }
        b.build()
    }

    /// The operands of `id`, in operand-slot order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut ins: Vec<(usize, NodeId)> = self
            .inner
            .edges_directed(NodeIndex::new(id.0), Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source().index())))
            .collect();
        ins.sort_unstable();
        ins.into_iter().map(|(_, n)| n).collect()
    }

    /// The nodes that use `id`'s output, in ascending id order.
    pub fn successors(&self, id: NodeId) -> Vec<NodeId> {
        let mut outs: Vec<NodeId> = self
            .inner
            .neighbors_directed(NodeIndex::new(id.0), Direction::Outgoing)
            .map(|n| NodeId(n.index()))
            .collect();
        outs.sort_unstable();
        outs.dedup();
        outs
    }

    /// `(from, to)` pairs, sorted.
    pub fn edges(&self) -> Vec<(NodeId, NodeId)> {
        let mut edges: Vec<(NodeId, NodeId)> = self
            .inner
            .edge_references()
            .map(|e| (NodeId(e.source().index()), NodeId(e.target().index())))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Dense directed adjacency in node-id order: `a[i * n + j]` is true for an edge i -> j.
    pub fn directed_adjacency(&self) -> Vec<bool> {
        let n = self.len();
        let mut a = vec![false; n * n];
        for (from, to) in self.edges() {
            a[from.0 * n + to.0] = true;
        }
        a
    }

    /// Whether the two graphs are the same DAG up to renumbering of the nodes
    /// (ops and edges must match; names and shapes are ignored).
    pub fn is_isomorphic_to(&self, other: &Graph) -> bool {
        petgraph::algo::is_isomorphic_matching(
            &self.inner,
            &other.inner,
            |a, b| a.op == b.op,
            |_, _| true,
        )
    }

    /// The same graph with its nodes renumbered: new node `i` is old node `order[i]`.
    /// Returns `None` unless `order` is a permutation of the node ids.
    pub fn renumbered(&self, order: &[usize]) -> Option<Graph> {
        let n = self.len();
        let mut new_of_old = vec![usize::MAX; n];
        for (new, &old) in order.iter().enumerate() {
            if old >= n || new_of_old[old] != usize::MAX {
                return None;
            }
            new_of_old[old] = new;
        }
        if order.len() != n {
            return None;
        }
        let mut builder = GraphBuilder::new();
        for &old in order {
            builder.add_node(self.node(NodeId(old)).clone());
        }
        for e in self.inner.edge_references() {
            builder.connect(
                NodeId(new_of_old[e.source().index()]),
                NodeId(new_of_old[e.target().index()]),
                *e.weight(),
            );
        }
        // Renumbering cannot create a cycle or a bad edge in a valid graph.
        builder.build().ok()
    }
}

impl fmt::Display for Graph {
    /// One line per node, in id order: `#id name Op [shape] <- operands`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in self.node_ids() {
            let node = self.node(id);
            write!(f, "#{} {} {}", id.0, node.name, node.op)?;
            if let Some(shape) = &node.shape {
                write!(f, " {shape:?}")?;
            }
            let operands = self.operands(id);
            if !operands.is_empty() {
                let list: Vec<String> = operands.iter().map(|n| format!("#{}", n.0)).collect();
                write!(f, " <- {}", list.join(","))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(len: usize) -> GraphBuilder {
        let mut b = GraphBuilder::new();
        let ids: Vec<NodeId> = (0..len)
            .map(|i| b.add_node(Node::new(format!("n{i}"), Op::Relu)))
            .collect();
        for w in ids.windows(2) {
            b.connect(w[0], w[1], 0);
        }
        b
    }

    #[test]
    fn cycle_is_an_error_value() {
        let mut b = chain(3);
        b.connect(NodeId(2), NodeId(0), 0);
        let err = b.build().unwrap_err();
        assert!(matches!(err, GraphError::Cycle { .. }), "{err}");
    }

    #[test]
    fn bad_edges_are_errors() {
        let mut b = chain(2);
        b.connect(NodeId(0), NodeId(5), 1);
        assert_eq!(
            b.build().unwrap_err(),
            GraphError::UnknownNode {
                from: 0,
                to: 5,
                len: 2
            }
        );
        let mut b = chain(2);
        b.connect(NodeId(0), NodeId(1), 0);
        assert!(matches!(
            b.build().unwrap_err(),
            GraphError::DuplicateOperand { slot: 0, .. }
        ));
        let mut b = chain(2);
        b.connect(NodeId(1), NodeId(1), 3);
        assert!(matches!(
            b.build().unwrap_err(),
            GraphError::SelfLoop { node: 1, .. }
        ));
    }

    #[test]
    fn operands_follow_slots_not_insertion_order() {
        let mut b = GraphBuilder::new();
        let x = b.add_node(Node::new("x", Op::Input));
        let y = b.add_node(Node::new("y", Op::Input));
        let add = b.add_node(Node::new("add", Op::Add));
        b.connect(y, add, 1).connect(x, add, 0);
        let g = b.build().unwrap();
        assert_eq!(g.operands(add), vec![x, y]);
        assert_eq!(g.topological_order().last(), Some(&add));
    }

    #[test]
    fn renumbering_keeps_the_graph_isomorphic() {
        let g = chain(4).build().unwrap();
        let r = g.renumbered(&[3, 1, 2, 0]).unwrap();
        assert!(g.is_isomorphic_to(&r));
        assert_eq!(r.node(NodeId(0)).name, "n3");
        assert!(g.renumbered(&[0, 0, 1, 2]).is_none());
        assert!(g.renumbered(&[0, 1]).is_none());
    }
}
