//! Tokenizer B of NAR-Former V2: cells of NAS-Bench-101/201 (reference `predictor/data_process/data_and_encoding_generate.py`).
//!
//! Token i = `nerf(op_index_i) [64] ++ nerf(i) [64]`, where i is the node id.

use crate::GraphTokens;
use crate::encoding::{NERF_DIM, nerf_into};
use crate::tokens::symmetric_adjacency;
use graph_ir::{Graph, Op};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Width of a cell token.
pub const CELL_TOKEN_DIM: usize = 2 * NERF_DIM;

/// Which op-index table to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellVocab {
    /// input 0, conv1x1-bn-relu 1, conv3x3-bn-relu 2, maxpool3x3 3, output 4.
    Nb101,
    /// input 0, nor_conv_1x1 1, nor_conv_3x3 2, avg_pool_3x3 3, skip_connect 4, none 5, output 6.
    Nb201,
}

impl CellVocab {
    /// The reference's op index of `op`, or `None` when the op is not in this space.
    pub fn index(self, op: &Op) -> Option<u32> {
        match (self, op) {
            (_, Op::Input) => Some(0),
            (CellVocab::Nb101, Op::ConvBnRelu(c)) if c.kernel == 1 => Some(1),
            (CellVocab::Nb101, Op::ConvBnRelu(c)) if c.kernel == 3 => Some(2),
            (CellVocab::Nb101, Op::MaxPool(p)) if p.kernel == 3 => Some(3),
            (CellVocab::Nb101, Op::Output) => Some(4),
            (CellVocab::Nb201, Op::ReluConvBn(c)) if c.kernel == 1 => Some(1),
            (CellVocab::Nb201, Op::ReluConvBn(c)) if c.kernel == 3 => Some(2),
            (CellVocab::Nb201, Op::AveragePool(p)) if p.kernel == 3 => Some(3),
            (CellVocab::Nb201, Op::Identity) => Some(4),
            (CellVocab::Nb201, Op::Zero) => Some(5),
            (CellVocab::Nb201, Op::Output) => Some(6),
            _ => None,
        }
    }
}

/// Why a graph could not be tokenised.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenizeError {
    #[error("node #{node} ({name}): op {op} is not in the {vocab:?} cell vocabulary")]
    OpNotInVocab {
        node: usize,
        name: String,
        op: String,
        vocab: CellVocab,
    },
}

/// The 128-dim cell tokenizer.
#[derive(Debug, Clone, Copy)]
pub struct CellTokenizer {
    pub vocab: CellVocab,
}

impl CellTokenizer {
    pub fn new(vocab: CellVocab) -> Self {
        Self { vocab }
    }

    pub fn tokenize(&self, graph: &Graph) -> Result<GraphTokens, TokenizeError> {
        let n = graph.len();
        let mut features = Vec::with_capacity(n * CELL_TOKEN_DIM);
        for id in graph.node_ids() {
            let node = graph.node(id);
            let index = self
                .vocab
                .index(&node.op)
                .ok_or_else(|| TokenizeError::OpNotInVocab {
                    node: id.0,
                    name: node.name.clone(),
                    op: node.op.to_string(),
                    vocab: self.vocab,
                })?;
            nerf_into(index as f32, &mut features);
            nerf_into(id.0 as f32, &mut features);
        }
        Ok(GraphTokens {
            n,
            dim: CELL_TOKEN_DIM,
            features,
            adjacency: symmetric_adjacency(n, &graph.directed_adjacency()),
            statics: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::nerf;
    use graph_ir::cells::{Nb101Cell, Nb101Op, Nb201Cell};

    const S: &str =
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|none~2|";

    #[test]
    fn nb201_tokens_have_reference_layout() {
        let g = S.parse::<Nb201Cell>().unwrap().to_graph();
        let t = CellTokenizer::new(CellVocab::Nb201).tokenize(&g).unwrap();
        assert_eq!((t.n, t.dim), (8, 128));
        // Op indices in node order: input, avg, c1, skip, c3, skip, none, output.
        for (i, op_index) in [0, 3, 1, 4, 2, 4, 5, 6].into_iter().enumerate() {
            assert_eq!(
                &t.token(i)[..64],
                nerf(op_index as f32).as_slice(),
                "node {i} op"
            );
            assert_eq!(
                &t.token(i)[64..],
                nerf(i as f32).as_slice(),
                "node {i} position"
            );
        }
        // Token 0 is nerf(0) ++ nerf(0): sin 0 = 0, cos 0 = 1 everywhere.
        assert!(t.token(0).chunks(2).all(|p| p == [0.0, 1.0]));
        // Symmetric adjacency with the reference successors.
        let succ: [&[usize]; 8] = [&[1, 2, 4], &[3, 5], &[6], &[6], &[7], &[7], &[7], &[]];
        for (i, s) in succ.iter().enumerate() {
            for &j in s.iter() {
                assert_eq!(t.adjacency[i * 8 + j], 1.0);
                assert_eq!(t.adjacency[j * 8 + i], 1.0);
            }
        }
        assert_eq!(t.adjacency.iter().sum::<f32>(), 2.0 * 10.0);
        assert!((0..8).all(|i| t.adjacency[i * 9] == 0.0));
    }

    #[test]
    fn golden_token_values() {
        let g = S.parse::<Nb201Cell>().unwrap().to_graph();
        let t = CellTokenizer::new(CellVocab::Nb201).tokenize(&g).unwrap();
        // Node 1 is avg_pool_3x3 (index 3): sin/cos(3 * pi_f32 * f_k) in f32.
        let golden = GOLDEN_NODE1;
        for (k, &(sin, cos)) in golden.iter().enumerate() {
            assert_eq!(
                (t.token(1)[2 * k], t.token(1)[2 * k + 1]),
                (sin as f32, cos as f32),
                "freq {k}"
            );
        }
    }

    // From Python: every product rounded to f32 with struct.pack('f'), then
    // sin/cos of that exact f32 argument in f64, rounded to f32.
    const GOLDEN_NODE1: [(f64, f64); 3] = [
        (-2.384976127700611e-8, -1.0),
        (0.526298999786377, 0.8502995371818542),
        (0.8950236439704895, 0.44601866602897644),
    ];

    #[test]
    fn op_outside_the_vocabulary_is_an_error() {
        let cell = Nb101Cell::new(
            vec![false, true, false, false, false, true, false, false, false],
            vec![Nb101Op::Input, Nb101Op::MaxPool3x3, Nb101Op::Output],
        )
        .unwrap();
        let err = CellTokenizer::new(CellVocab::Nb201)
            .tokenize(&cell.to_graph())
            .unwrap_err();
        assert!(err.to_string().contains("node #1"), "{err}");
        assert!(
            CellTokenizer::new(CellVocab::Nb101)
                .tokenize(&cell.to_graph())
                .is_ok()
        );
    }
}
