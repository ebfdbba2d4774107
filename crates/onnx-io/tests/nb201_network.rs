//! The whole NAS-Bench-201 network builder against a hand derivation, and the
//! ONNX writer against the importer (export, import, same graph).

use graph_ir::cells::Nb201Cell;
use graph_ir::networks::nb201_network;
use graph_ir::{Graph, Op, graph_cost};
use onnx_io::{ImportOptions, Weights, export_bytes, import_bytes};
use std::collections::BTreeMap;
use std::path::Path;

const ALL_CONV3: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

fn op_counts(g: &Graph) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in g.node_ids() {
        *counts.entry(g.node(id).op.name().to_string()).or_default() += 1;
    }
    counts
}

/// Hand derivation (batch 1, 32x32 input), C = stage channels, S = side:
/// - nodes: stem 3 (input, conv, BN); each cell 6 x (ReLU, conv, BN) + 3 Adds
///   (node 2 sums 2 terms, node 3 sums 3) = 21, x15 = 315; each reduction block
///   9 (2 x ReLU-conv-BN, avg pool, 1x1 conv, Add), x2 = 18; head 5 (BN, ReLU,
///   GAP, Flatten, Gemm): 341.
/// - params (BN counts scale, bias, mean, var = 4C): stem 16*3*9 + 64 = 496;
///   cell 6 * (9C^2 + 4C): 14,208 / 56,064 / 222,720 at C = 16/32/64, five each;
///   reductions 16->32: 4,608 + 128 + 9,216 + 128 + 512 = 14,592 and 32->64:
///   18,432 + 256 + 36,864 + 256 + 2,048 = 57,856; head 256 + 650. Total 1,538,810
///   (1,531,546 learnable: NAS-Bench-201's 1.53 M for this cell, plus 2 x 3,632 BN statistics).
/// - FLOPs (formulas of `graph_ir::cost`): a cell costs `C S^2 (108 C + 27)`
///   (six ReLU + conv `2*9*C - 1` + BN 4 per output, three Adds): 28,753,920 /
///   28,532,736 / 28,422,144, x5 each = 428,544,000; stem 868,352 + 65,536;
///   reductions 7,430,144 and 7,385,088; head 16,384 + 4,096 + 4,096 + 1,280.
///   Total 444,318,976 (NAS-Bench-201 lists ~220 M multiply-adds).
#[test]
fn all_conv3x3_network_matches_the_hand_derivation() {
    let cell: Nb201Cell = ALL_CONV3.parse().unwrap();
    let g = nb201_network(&cell, 1);
    assert_eq!(g.len(), 341);
    let expected: BTreeMap<String, usize> = [
        ("Input", 1),
        ("Conv", 97),
        ("BatchNormalization", 96),
        ("Relu", 95),
        ("Add", 47),
        ("AveragePool", 2),
        ("GlobalAveragePool", 1),
        ("Flatten", 1),
        ("Gemm", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(op_counts(&g), expected);

    let cost = graph_cost(&g);
    assert_eq!(cost.params, 1_538_810);
    assert_eq!(cost.flops, 444_318_976);

    // Shapes: every conv output per stage, and the head.
    let mut conv_shapes: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    for id in g.node_ids() {
        if matches!(g.node(id).op, Op::Conv(_)) {
            *conv_shapes
                .entry(g.node(id).shape.clone().unwrap())
                .or_default() += 1;
        }
    }
    let by_shape: BTreeMap<Vec<usize>, usize> = [
        (vec![1, 16, 32, 32], 1 + 30),
        (vec![1, 32, 16, 16], 3 + 30),
        (vec![1, 64, 8, 8], 3 + 30),
    ]
    .into_iter()
    .collect();
    assert_eq!(conv_shapes, by_shape);
    let last = *g.topological_order().last().unwrap();
    assert_eq!(g.node(last).op, Op::Gemm { bias: true });
    assert_eq!(g.node(last).shape, Some(vec![1, 10]));
}

/// The nodes marked as all zeros (`x * 0`).
fn zeros(g: &Graph) -> Vec<String> {
    g.node_ids()
        .filter(|&id| g.node(id).zeros)
        .map(|id| g.node(id).name.clone())
        .collect()
}

fn assert_round_trip(g: &Graph, batch: usize, weights: Weights) {
    let bytes = export_bytes(g, weights).unwrap_or_else(|e| panic!("export: {e}"));
    let options = ImportOptions {
        batch_size: batch,
        ..Default::default()
    };
    let back = import_bytes(&bytes, Path::new("exported.onnx"), &options)
        .unwrap_or_else(|e| panic!("import: {e}"));
    assert!(back.unknown_ops.is_empty(), "{:?}", back.unknown_ops);
    assert_eq!(back.graph.len(), g.len());
    assert_eq!(back.graph.signature(), g.signature());
    assert!(back.graph.is_isomorphic_to(g));
    assert_eq!(graph_cost(&back.graph), graph_cost(g));
    // A Mul by a zero constant is zeros; stripped weights have no values to tell.
    if matches!(weights, Weights::Random { .. }) {
        assert_eq!(zeros(&back.graph), zeros(g));
    }
}

#[test]
fn exported_networks_import_as_the_same_graph() {
    let cell: Nb201Cell = ALL_CONV3.parse().unwrap();
    assert_round_trip(&nb201_network(&cell, 1), 1, Weights::Stripped);
    assert_round_trip(&nb201_network(&cell, 32), 32, Weights::Random { seed: 7 });
    // Cells spread over the space, pruned and zero-output cells among them.
    for k in (0..15_625).step_by(397) {
        let ops = Nb201Cell::from_index(k).ops;
        assert_round_trip(&nb201_network(&Nb201Cell { ops }, 1), 1, Weights::Stripped);
    }
    let dead: Nb201Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
        .parse()
        .unwrap();
    let dead = nb201_network(&dead, 1);
    assert_eq!(zeros(&dead).len(), 15, "node 2 of every cell has no input");
    assert_round_trip(&dead, 1, Weights::Random { seed: 1 });
}

#[test]
fn export_is_deterministic_and_stripped_files_are_small() {
    let cell: Nb201Cell = ALL_CONV3.parse().unwrap();
    let g = nb201_network(&cell, 1);
    let random = Weights::Random { seed: 3 };
    assert_eq!(
        export_bytes(&g, random).unwrap(),
        export_bytes(&g, random).unwrap()
    );
    let stripped = export_bytes(&g, Weights::Stripped).unwrap().len();
    let full = export_bytes(&g, random).unwrap().len();
    assert!(full > 4 * 1_538_810, "{full}");
    assert!(stripped < 200_000, "{stripped}");
}

#[test]
fn cell_graphs_are_refused_with_the_node_named() {
    let cell: Nb201Cell = ALL_CONV3.parse().unwrap();
    let err = export_bytes(&cell.to_graph(), Weights::Stripped).unwrap_err();
    assert!(err.to_string().contains("node #"), "{err}");
}
