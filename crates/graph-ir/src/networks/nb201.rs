//! The whole NAS-Bench-201 network of a cell (the benchmark's macro skeleton).

use super::{NetworkBuilder, Tensor};
use crate::cells::{Nb201Cell, Nb201Op};
use crate::{ConvAttrs, Graph, PoolAttrs};

/// Channels of the three stages.
const STAGE_CHANNELS: [usize; 3] = [16, 32, 64];
const CELLS_PER_STAGE: usize = 5;
const CLASSES: usize = 10;
/// CIFAR input side.
const INPUT_SIDE: usize = 32;

/// The whole network of `cell` for a `batch x 3 x 32 x 32` input:
/// - stem: 3x3 conv to 16 channels + BN;
/// - three stages of 5 cells (16, 32, 64 channels), a residual reduction block
///   between stages: `ReLU-conv3x3/2-BN -> ReLU-conv3x3-BN`, plus the shortcut
///   `AvgPool 2x2/2 -> conv1x1`;
/// - BN, ReLU, global average pool, flatten, linear to 10 classes.
///
/// In a cell, node `j` sums `op(i -> j)` over `i < j` with a chain of `Add`s;
/// `nor_conv_kxk` is ReLU-Conv-BN, `avg_pool_3x3` is a stride-1 pool,
/// `skip_connect` is a plain wire and `none` removes the edge. A node left with
/// no incoming edge is zeros: `x * 0` of the cell input, one `Mul` with a
/// constant, made only where something reads it.
///
/// Computation that no longer reaches the cell output is **kept** (it dangles
/// as an extra graph output): the networks were measured that way. In
/// `latency_help.csv` the FPGA and Eyeriss latencies are exactly linear
/// (R^2 = 1.0000) in the counts of every non-`none` edge op, dead ones
/// included, and pruning them would give cells with different measured
/// latencies the same graph.
pub fn nb201_network(cell: &Nb201Cell, batch: usize) -> Graph {
    let mut b = NetworkBuilder::new();
    let input = b.input(vec![batch, 3, INPUT_SIDE, INPUT_SIDE]);
    let stem = b.conv(&input, STAGE_CHANNELS[0], ConvAttrs::same(3));
    let mut x = b.batch_norm(&stem);
    for (stage, &channels) in STAGE_CHANNELS.iter().enumerate() {
        if stage > 0 {
            x = reduction_block(&mut b, &x, channels);
        }
        for _ in 0..CELLS_PER_STAGE {
            x = cell_block(&mut b, &x, cell);
        }
    }
    let x = b.batch_norm(&x);
    let x = b.relu(&x);
    let x = b.global_average_pool(&x);
    let x = b.flatten(&x);
    b.linear(&x, CLASSES);
    // Every edge above points from an earlier node to a later one.
    b.build().expect("the NB201 skeleton is acyclic")
}

fn relu_conv_bn(b: &mut NetworkBuilder, x: &Tensor, channels: usize, attrs: ConvAttrs) -> Tensor {
    let r = b.relu(x);
    let c = b.conv(&r, channels, attrs);
    b.batch_norm(&c)
}

/// NB201's `ResNetBasicblock` with stride 2.
fn reduction_block(b: &mut NetworkBuilder, x: &Tensor, channels: usize) -> Tensor {
    let stride2 = ConvAttrs {
        stride: 2,
        ..ConvAttrs::same(3)
    };
    let a = relu_conv_bn(b, x, channels, stride2);
    let main = relu_conv_bn(b, &a, channels, ConvAttrs::same(3));
    let pooled = b.average_pool(
        x,
        PoolAttrs {
            kernel: 2,
            stride: 2,
            pad: 0,
        },
    );
    let shortcut = b.conv(&pooled, channels, ConvAttrs::same(1));
    b.add(&shortcut, &main)
}

fn cell_block(b: &mut NetworkBuilder, x: &Tensor, cell: &Nb201Cell) -> Tensor {
    // Node values, created when first needed; a node without incoming edges is zeros.
    let mut nodes: Vec<Option<Tensor>> = vec![Some(x.clone()), None, None, None];
    let value = |b: &mut NetworkBuilder, nodes: &mut Vec<Option<Tensor>>, i: usize| {
        nodes[i].get_or_insert_with(|| b.zeros_like(x)).clone()
    };
    for j in 1..4 {
        let mut sum: Option<Tensor> = None;
        for (e, &(i, to)) in Nb201Cell::EDGES.iter().enumerate() {
            if to != j || cell.ops[e] == Nb201Op::None {
                continue;
            }
            let source = value(b, &mut nodes, i);
            let term = match cell.ops[e] {
                Nb201Op::NorConv1x1 => {
                    relu_conv_bn(b, &source, source.channels(), ConvAttrs::same(1))
                }
                Nb201Op::NorConv3x3 => {
                    relu_conv_bn(b, &source, source.channels(), ConvAttrs::same(3))
                }
                Nb201Op::AvgPool3x3 => b.average_pool(&source, PoolAttrs::same(3)),
                Nb201Op::SkipConnect | Nb201Op::None => source,
            };
            sum = Some(match sum {
                Some(acc) => b.add(&acc, &term),
                None => term,
            });
        }
        nodes[j] = sum;
    }
    value(b, &mut nodes, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeId, Op, graph_cost};

    fn cell(s: &str) -> Nb201Cell {
        s.parse().unwrap()
    }

    fn count(g: &Graph, name: &str) -> usize {
        g.node_ids()
            .filter(|&id| g.node(id).op.name() == name)
            .count()
    }

    #[test]
    fn dead_computation_is_kept_and_dangles() {
        // Node 1's conv feeds nothing, but it runs.
        let g = nb201_network(
            &cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
            1,
        );
        // stem conv, 2 reductions x 3 convs, one conv per cell.
        assert_eq!(count(&g, "Conv"), 1 + 2 * 3 + 15);
        assert_eq!(count(&g, "Mul"), 0);
        let dangling = g
            .node_ids()
            .filter(|&id| g.successors(id).is_empty())
            .count();
        assert_eq!(dangling, 15 + 1, "15 dead BNs and the classifier");
    }

    #[test]
    fn a_node_without_inputs_is_zeros_where_it_is_read() {
        // Node 1 has no input edge, but node 2 convolves it.
        let g = nb201_network(
            &cell("|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|skip_connect~2|"),
            1,
        );
        assert_eq!(count(&g, "Mul"), 15);
        assert_eq!(count(&g, "Conv"), 7 + 15);
    }

    #[test]
    fn a_cell_without_output_paths_outputs_zeros() {
        let g = nb201_network(
            &cell("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
            1,
        );
        assert_eq!(count(&g, "Mul"), 15);
        assert_eq!(count(&g, "Conv"), 7 + 15);
        let mul = g
            .node_ids()
            .find(|&id| g.node(id).op == Op::Plain(crate::PlainOp::Mul))
            .unwrap();
        assert_eq!(g.node(mul).params, 1);
    }

    #[test]
    fn the_classifier_reads_the_input_exactly_when_the_cell_does() {
        // The graph-level fact (constants propagated from zeros nodes) and the
        // cell-level one (paths of non-`none` edges) agree over a sample of the
        // space that holds constant cells of every kind.
        for k in (0..Nb201Cell::COUNT).step_by(7) {
            let c = Nb201Cell::from_index(k);
            let g = nb201_network(&c, 1);
            let reads = g.reads_input();
            // The classifier is the last node built, and a sink.
            let classifier = NodeId(g.len() - 1);
            assert_eq!(g.node(classifier).op.name(), "Gemm");
            assert!(g.successors(classifier).is_empty());
            assert_eq!(reads[classifier.0], c.reads_input(), "{c}");
        }
    }

    #[test]
    fn dead_computation_does_not_reach_the_classifier() {
        // Node 2 (a 3x3 conv of the input) feeds nothing: edge 2 -> 3 is `none`.
        let dead = nb201_network(
            &cell(
                "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|skip_connect~1|none~2|",
            ),
            1,
        );
        let live = dead.reaches(NodeId(dead.len() - 1));
        let conv3 = |id: NodeId| {
            matches!(&dead.node(id).op, Op::Conv(a) if a.kernel == 3)
                && dead.node(id).shape.as_ref().is_some_and(|s| s[1] == 16)
        };
        // The stem and the 15 dead cell convs are 3x3 at 16 channels; only the stem is live.
        let (alive, all) = dead
            .node_ids()
            .filter(|&id| conv3(id))
            .fold((0, 0), |(a, n), id| (a + usize::from(live[id.0]), n + 1));
        assert_eq!((alive, all), (1, 6));
        // Pruned to the classifier, the dead convs are gone and the rest is as it was.
        let pruned = dead.pruned_to(NodeId(dead.len() - 1)).unwrap();
        assert_eq!(pruned.len(), live.iter().filter(|&&l| l).count());
        assert_eq!(pruned.node(NodeId(pruned.len() - 1)).op.name(), "Gemm");
        let sinks = pruned
            .node_ids()
            .filter(|&id| pruned.successors(id).is_empty())
            .count();
        assert_eq!(sinks, 1);
        assert!(graph_cost(&pruned).flops < graph_cost(&dead).flops);
    }

    #[test]
    fn batch_scales_shapes_and_flops() {
        let c = cell(
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
        );
        let one = graph_cost(&nb201_network(&c, 1));
        let many = graph_cost(&nb201_network(&c, 32));
        assert_eq!(many.params, one.params);
        assert_eq!(many.flops, 32 * one.flops);
    }
}
