//! NAS-Bench-201 cells: the six edge ops of a cell string, and the cell's graph.

use super::CellError;
use crate::{ConvAttrs, Graph, GraphBuilder, Node, NodeId, Op, PoolAttrs};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An operation on a NAS-Bench-201 edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Nb201Op {
    None,
    SkipConnect,
    NorConv1x1,
    NorConv3x3,
    AvgPool3x3,
}

impl Nb201Op {
    pub const ALL: [Nb201Op; 5] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

    /// The name used in NAS-Bench-201 cell strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The typed graph op this edge operation becomes.
    pub fn to_op(self) -> Op {
        match self {
            Nb201Op::None => Op::Zero,
            Nb201Op::SkipConnect => Op::Identity,
            Nb201Op::NorConv1x1 => Op::ReluConvBn(ConvAttrs::same(1)),
            Nb201Op::NorConv3x3 => Op::ReluConvBn(ConvAttrs::same(3)),
            Nb201Op::AvgPool3x3 => Op::AveragePool(PoolAttrs::same(3)),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// A NAS-Bench-201 cell: the operations on its six edges, in cell-string order
/// (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Nb201Cell {
    pub ops: [Nb201Op; 6],
}

/// Predecessor token positions of each of the 8 tokens (input, 6 edge ops, output).
const NB201_OPERANDS: [&[usize]; 8] = [&[], &[0], &[0], &[1], &[0], &[1], &[2, 3], &[4, 5, 6]];

impl Nb201Cell {
    /// Cells in the space: five ops on each of six edges.
    pub const COUNT: usize = 15_625;

    /// Cell number `index` (taken modulo [`Nb201Cell::COUNT`]) in base-5
    /// order: edge `e`'s op is digit `e` of `index` (edge 0 the lowest), an
    /// index into [`Nb201Op::ALL`]. (Not NAS-Bench-201's own `arch_idx` order.)
    pub fn from_index(index: usize) -> Self {
        let mut rest = index % Self::COUNT;
        let ops = std::array::from_fn(|_| {
            let op = Nb201Op::ALL[rest % 5];
            rest /= 5;
            op
        });
        Self { ops }
    }

    /// The cell as an 8-node graph: input, the six edge ops in string order, output.
    /// Edges: 0->{1,2,4}, 1->{3,5}, 2->{6}, 3->{6}, {4,5,6}->7.
    pub fn to_graph(&self) -> Graph {
        let mut b = GraphBuilder::new();
        let mut ids = vec![b.add_node(Node::new("input", Op::Input))];
        for (i, op) in self.ops.iter().enumerate() {
            ids.push(b.add_node(Node::new(format!("e{}_{}", i + 1, op.as_str()), op.to_op())));
        }
        ids.push(b.add_node(Node::new("output", Op::Output)));
        for (to, froms) in NB201_OPERANDS.iter().enumerate() {
            for (slot, &from) in froms.iter().enumerate() {
                b.connect(NodeId(from), NodeId(to), slot);
            }
        }
        // The fixed wiring above is a DAG, so this cannot fail.
        b.build().expect("NB201 wiring is acyclic")
    }
}

impl Nb201Cell {
    /// Edges `(from node, to node)` in cell-string order.
    pub const EDGES: [(usize, usize); 6] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

    /// Whether the cell's output depends on its input: some path of
    /// non-`none` edges leads from node 0 to node 3. When none does, the
    /// output is zeros or a function of zeros alone (a constant), and so is
    /// everything the network computes after the first cell: a pipeline that
    /// folds constants measures such a network at almost nothing (about 2% of
    /// the space; HW-NAS-Bench's pixel3 and raspi4 columns, 0.003-0.02 ms).
    pub fn reads_input(&self) -> bool {
        let mut reads = [true, false, false, false];
        for (e, &(from, to)) in Self::EDGES.iter().enumerate() {
            if self.ops[e] != Nb201Op::None && reads[from] {
                reads[to] = true;
            }
        }
        reads[3]
    }

    /// Per edge: its op is not `none` and it lies on a path of such edges from
    /// the input (node 0) to the output (node 3), so its result reaches the
    /// output. A device that drops unused computation runs these edges only.
    pub fn live_edges(&self) -> [bool; 6] {
        let mut from_input = [true, false, false, false];
        let mut to_output = [false, false, false, true];
        let used = |e: usize| self.ops[e] != Nb201Op::None;
        for (e, &(from, to)) in Self::EDGES.iter().enumerate() {
            if used(e) && from_input[from] {
                from_input[to] = true;
            }
        }
        for (e, &(from, to)) in Self::EDGES.iter().enumerate().rev() {
            if used(e) && to_output[to] {
                to_output[from] = true;
            }
        }
        std::array::from_fn(|e| {
            let (from, to) = Self::EDGES[e];
            used(e) && from_input[from] && to_output[to]
        })
    }

    /// Whether the cell's output is zeros (a narrower case of not
    /// [`Self::reads_input`], where even the constant is known): zeros stay
    /// zeros through a wire or a pool, while ReLU-Conv-BN of zeros is BN's shift.
    pub fn writes_zeros(&self) -> bool {
        let mut zeros = [false, true, true, true];
        for (e, &(from, to)) in Self::EDGES.iter().enumerate() {
            let keeps_zeros = matches!(self.ops[e], Nb201Op::SkipConnect | Nb201Op::AvgPool3x3);
            if self.ops[e] != Nb201Op::None && !(zeros[from] && keeps_zeros) {
                zeros[to] = false;
            }
        }
        zeros[3]
    }
}

impl FromStr for Nb201Cell {
    type Err = CellError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| CellError::Nb201 {
            input: input.to_string(),
            reason,
        };
        let groups: Vec<&str> = input.trim().split('+').collect();
        if groups.len() != 3 {
            return Err(err(format!(
                "expected 3 '+'-separated nodes, found {}",
                groups.len()
            )));
        }
        let mut ops = Vec::with_capacity(6);
        for (node, group) in groups.iter().enumerate() {
            let inner = group
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| {
                    err(format!(
                        "node {} is not enclosed in '|': {group:?}",
                        node + 1
                    ))
                })?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != node + 1 {
                return Err(err(format!(
                    "node {} needs {} edges, found {}",
                    node + 1,
                    node + 1,
                    edges.len()
                )));
            }
            for (from, edge) in edges.iter().enumerate() {
                let (name, src) = edge
                    .split_once('~')
                    .ok_or_else(|| err(format!("edge {edge:?} lacks '~<input>'")))?;
                let op = Nb201Op::parse(name)
                    .ok_or_else(|| err(format!("unknown operation {name:?}")))?;
                if src != from.to_string() {
                    return Err(err(format!(
                        "edge {edge:?} of node {} should read from node {from}",
                        node + 1
                    )));
                }
                ops.push(op);
            }
        }
        let ops: [Nb201Op; 6] = ops
            .try_into()
            .map_err(|_| err("expected six edges".to_string()))?;
        Ok(Nb201Cell { ops })
    }
}

impl fmt::Display for Nb201Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o: Vec<&str> = self.ops.iter().map(|op| op.as_str()).collect();
        write!(
            f,
            "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_by_index_are_base_5_digits_and_cover_the_space() {
        assert_eq!(Nb201Cell::from_index(0).ops, [Nb201Op::ALL[0]; 6]);
        let cell = Nb201Cell::from_index(1 + 2 * 5 + 4 * 5usize.pow(5));
        assert_eq!(cell.ops[0], Nb201Op::ALL[1]);
        assert_eq!(cell.ops[1], Nb201Op::ALL[2]);
        assert_eq!(cell.ops[5], Nb201Op::ALL[4]);
        let all: std::collections::HashSet<String> = (0..Nb201Cell::COUNT)
            .map(|k| Nb201Cell::from_index(k).to_string())
            .collect();
        assert_eq!(all.len(), Nb201Cell::COUNT);
        assert_eq!(
            Nb201Cell::from_index(Nb201Cell::COUNT),
            Nb201Cell::from_index(0)
        );
    }

    const S: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|";

    #[test]
    fn input_independence_follows_the_non_none_paths() {
        let cell = |s: &str| s.parse::<Nb201Cell>().unwrap();
        // Node 1 is a conv of the input, but only zeros reach the output.
        let dead = cell("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|");
        assert!(!dead.reads_input());
        assert!(!dead.writes_zeros()); // a conv of zeros: a constant, not zeros
        let zeros = cell("|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|none~2|");
        assert!(!zeros.reads_input() && zeros.writes_zeros());
        let live = cell("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|");
        assert!(live.reads_input() && !live.writes_zeros());
        // 341 of the 15,625 cells (2.2%) compute a constant, 201 of them zeros.
        let cells = (0..Nb201Cell::COUNT).map(Nb201Cell::from_index);
        let constant = cells.clone().filter(|c| !c.reads_input()).count();
        assert_eq!(constant, 341);
        assert_eq!(cells.filter(|c| c.writes_zeros()).count(), 201);
    }

    #[test]
    fn live_edges_reach_the_output_from_the_input() {
        // Node 2 feeds the output only through `none`: edges 2 and 3 are dead.
        let cell: Nb201Cell = S.parse().unwrap();
        assert_eq!(cell.live_edges(), [true, false, false, true, true, false]);
        // A cell reads its input exactly when some edge is live.
        for cell in (0..Nb201Cell::COUNT).map(Nb201Cell::from_index) {
            assert_eq!(
                cell.reads_input(),
                cell.live_edges().contains(&true),
                "{cell}"
            );
        }
    }

    #[test]
    fn parses_and_prints_back() {
        let cell: Nb201Cell = S.parse().unwrap();
        assert_eq!(cell.ops[2], Nb201Op::AvgPool3x3);
        assert_eq!(cell.ops[5], Nb201Op::None);
        assert_eq!(cell.to_string(), S);
    }

    #[test]
    fn graph_has_the_reference_wiring() {
        let g: Graph = S.parse::<Nb201Cell>().unwrap().to_graph();
        insta::assert_snapshot!(g.to_string(), @r"
        #0 input Input
        #1 e1_nor_conv_3x3 ReluConvBn(k3 s1 p1 d1 g1) <- #0
        #2 e2_nor_conv_3x3 ReluConvBn(k3 s1 p1 d1 g1) <- #0
        #3 e3_avg_pool_3x3 AveragePool(k3 s1 p1) <- #1
        #4 e4_skip_connect Identity <- #0
        #5 e5_nor_conv_3x3 ReluConvBn(k3 s1 p1 d1 g1) <- #1
        #6 e6_none Zero <- #2,#3
        #7 output Output <- #4,#5,#6
        ");
    }

    #[test]
    fn malformed_strings_are_errors() {
        for bad in [
            "",
            "|nor_conv_3x3~0|",
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|none1|+|none~0|none~1|none~2|",
            "none~0+|none~0|none~1|+|none~0|none~1|none~2|",
        ] {
            let err = bad.parse::<Nb201Cell>().unwrap_err();
            assert!(err.to_string().contains("malformed"), "{bad}: {err}");
        }
    }
}
