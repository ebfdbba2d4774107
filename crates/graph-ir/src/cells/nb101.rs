//! NAS-Bench-101 cells: adjacency + ops, parsed and built into a [`crate::Graph`].

use super::CellError;
use crate::{ConvAttrs, Graph, GraphBuilder, Node, NodeId, Op, PoolAttrs};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest NAS-Bench-101 cell has 7 vertices.
pub const NB101_MAX_VERTICES: usize = 7;

/// A vertex label of a NAS-Bench-101 cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Nb101Op {
    Input,
    Conv1x1BnRelu,
    Conv3x3BnRelu,
    MaxPool3x3,
    Output,
}

impl Nb101Op {
    /// Parses the short names of the project's CSV (`in`, `c1`, `c3`, `mp`, `out`)
    /// and NAS-Bench-101's own long names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in" | "input" => Nb101Op::Input,
            "c1" | "conv1x1-bn-relu" => Nb101Op::Conv1x1BnRelu,
            "c3" | "conv3x3-bn-relu" => Nb101Op::Conv3x3BnRelu,
            "mp" | "maxpool3x3" => Nb101Op::MaxPool3x3,
            "out" | "output" => Nb101Op::Output,
            _ => return None,
        })
    }

    /// The short name used in the CSV and in the text form of a cell.
    pub fn as_str(self) -> &'static str {
        match self {
            Nb101Op::Input => "in",
            Nb101Op::Conv1x1BnRelu => "c1",
            Nb101Op::Conv3x3BnRelu => "c3",
            Nb101Op::MaxPool3x3 => "mp",
            Nb101Op::Output => "out",
        }
    }

    pub fn to_op(self) -> Op {
        match self {
            Nb101Op::Input => Op::Input,
            Nb101Op::Conv1x1BnRelu => Op::ConvBnRelu(ConvAttrs::same(1)),
            Nb101Op::Conv3x3BnRelu => Op::ConvBnRelu(ConvAttrs::same(3)),
            Nb101Op::MaxPool3x3 => Op::MaxPool(PoolAttrs::same(3)),
            Nb101Op::Output => Op::Output,
        }
    }
}

/// A NAS-Bench-101 cell: an upper-triangular adjacency over 2..=7 vertices,
/// vertex 0 the input, the last vertex the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nb101Cell {
    n: usize,
    adjacency: Vec<bool>,
    ops: Vec<Nb101Op>,
}

impl Nb101Cell {
    /// `adjacency` is row-major `n x n` (edge i -> j at `i * n + j`).
    pub fn new(adjacency: Vec<bool>, ops: Vec<Nb101Op>) -> Result<Self, CellError> {
        let n = ops.len();
        let err = |reason: String| Err(CellError::Nb101 { reason });
        if !(2..=NB101_MAX_VERTICES).contains(&n) {
            return err(format!("{n} vertices, expected 2 to {NB101_MAX_VERTICES}"));
        }
        if adjacency.len() != n * n {
            return err(format!(
                "adjacency has {} entries, expected {n}*{n} = {}",
                adjacency.len(),
                n * n
            ));
        }
        for i in 0..n {
            for j in 0..=i {
                if adjacency[i * n + j] {
                    return err(format!(
                        "adjacency is not strictly upper-triangular: edge {i} -> {j}"
                    ));
                }
            }
        }
        if ops[0] != Nb101Op::Input || ops[n - 1] != Nb101Op::Output {
            return err("first vertex must be the input and last the output".to_string());
        }
        if let Some(i) = ops[1..n - 1]
            .iter()
            .position(|op| matches!(op, Nb101Op::Input | Nb101Op::Output))
        {
            return err(format!(
                "vertex {} is an inner vertex labelled {:?}",
                i + 1,
                ops[i + 1]
            ));
        }
        Ok(Self { n, adjacency, ops })
    }

    pub fn num_vertices(&self) -> usize {
        self.n
    }

    pub fn ops(&self) -> &[Nb101Op] {
        &self.ops
    }

    /// Whether the cell has the edge `i -> j`.
    pub fn has_edge(&self, i: usize, j: usize) -> bool {
        i < self.n && j < self.n && self.adjacency[i * self.n + j]
    }

    pub fn to_graph(&self) -> Graph {
        let n = self.n;
        let mut b = GraphBuilder::new();
        for (i, op) in self.ops.iter().enumerate() {
            b.add_node(Node::new(format!("v{i}"), op.to_op()));
        }
        for j in 0..n {
            let mut slot = 0;
            for i in 0..j {
                if self.adjacency[i * n + j] {
                    b.connect(NodeId(i), NodeId(j), slot);
                    slot += 1;
                }
            }
        }
        // Upper-triangular adjacency was checked in `new`: no cycle possible.
        b.build().expect("upper-triangular adjacency is acyclic")
    }
}

impl Nb101Cell {
    /// Parses the CSV's two fields: `adjacency` as n*n characters of 0/1, row-major,
    /// and `ops` as `|`-separated short names (`in|c3|mp|out`).
    pub fn from_fields(adjacency: &str, ops: &str) -> Result<Self, CellError> {
        let err = |reason: String| CellError::Nb101 { reason };
        let ops = ops
            .split('|')
            .map(|name| {
                Nb101Op::parse(name.trim()).ok_or_else(|| {
                    err(format!(
                        "unknown operation {name:?} (known: in, c1, c3, mp, out)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let adjacency = adjacency
            .chars()
            .map(|c| match c {
                '0' => Ok(false),
                '1' => Ok(true),
                other => Err(err(format!("adjacency character {other:?} is not 0 or 1"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(adjacency, ops)
    }
}

/// The text form `<adjacency> <ops>`, for example `0110000100001000 in|c3|mp|out`:
/// what `narformer predict` reads for NAS-Bench-101 and the `arch` of a sample.
impl FromStr for Nb101Cell {
    type Err = CellError;

    fn from_str(s: &str) -> Result<Self, CellError> {
        let mut parts = s.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(adjacency), Some(ops), None) => Self::from_fields(adjacency, ops),
            _ => Err(CellError::Nb101 {
                reason: format!("{s:?} is not `<adjacency 0/1 row-major> <ops |-separated>`"),
            }),
        }
    }
}

impl fmt::Display for Nb101Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let adjacency: String = self
            .adjacency
            .iter()
            .map(|&e| if e { '1' } else { '0' })
            .collect();
        let ops: Vec<&str> = self.ops.iter().map(|op| op.as_str()).collect();
        write!(f, "{adjacency} {}", ops.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(names: &[&str]) -> Vec<Nb101Op> {
        names.iter().map(|s| Nb101Op::parse(s).unwrap()).collect()
    }

    #[test]
    fn builds_a_small_cell() {
        let adj = vec![false, true, false, false, false, true, false, false, false];
        let cell = Nb101Cell::new(adj, ops(&["in", "c3", "out"])).unwrap();
        let g = cell.to_graph();
        assert_eq!(g.len(), 3);
        assert_eq!(g.edges().len(), 2);
    }

    #[test]
    fn text_form_round_trips_and_names_what_is_wrong() {
        let text = "0110000100010000 in|c3|mp|out";
        let cell: Nb101Cell = text.parse().unwrap();
        assert_eq!(cell.to_string(), text);
        assert_eq!(cell.num_vertices(), 4);
        for (bad, needle) in [
            ("0110000100010000 in|c5|mp|out", "unknown operation \"c5\""),
            ("011000010001000 in|c3|mp|out", "15 entries"),
            (
                "0110100100010000 in|c3|mp|out",
                "not strictly upper-triangular",
            ),
            ("01x0000100010000 in|c3|mp|out", "not 0 or 1"),
            ("0110000100010000", "is not `<adjacency"),
        ] {
            let msg = bad.parse::<Nb101Cell>().unwrap_err().to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
    }

    #[test]
    fn rejects_bad_cells() {
        let lower = vec![false, false, true, false];
        assert!(Nb101Cell::new(lower, ops(&["in", "out"])).is_err());
        assert!(Nb101Cell::new(vec![false; 3], ops(&["in", "out"])).is_err());
        assert!(Nb101Cell::new(vec![false; 4], ops(&["c1", "out"])).is_err());
        assert!(Nb101Cell::new(vec![false; 9], ops(&["in", "out", "out"])).is_err());
        assert!(Nb101Cell::new(vec![false; 1], ops(&["in"])).is_err());
    }
}
