//! ResNet-18 v1 from the ONNX model zoo (stripped weights, NNLQP format) at
//! 1x3x224x224: node counts, every output shape, FLOPs and params against a
//! derivation by hand, written out below independently of `graph_ir::cost`.

use graph_ir::{Op, graph_cost};
use onnx_io::{ImportOptions, read_file};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn resnet18() -> Option<onnx_io::Imported> {
    let dir = std::env::var_os("NARFORMER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = dir.join("onnx/resnet18-v1-7-no-weight.onnx");
    if !path.exists() {
        eprintln!(
            "skipping: {} is not there (set NARFORMER_DATA)",
            path.display()
        );
        return None;
    }
    Some(read_file(&path, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// One convolution of the network: (Cin, Cout, kernel, output side).
struct ConvLayer(u64, u64, u64, u64);

/// The 20 convolutions of ResNet-18 v1, in order. Stage s (1..=4) has width
/// 64 * 2^(s-1) and side 56 / 2^(s-1); stages 2-4 open with a stride-2 3x3
/// conv and have a 1x1 stride-2 downsample conv on the shortcut.
fn convs() -> Vec<ConvLayer> {
    let mut v = vec![ConvLayer(3, 64, 7, 112)]; // stem, stride 2, pad 3
    for s in 0..4u32 {
        let (w, side) = (64 * 2u64.pow(s), 56 / 2u64.pow(s));
        let win = if s == 0 { 64 } else { w / 2 };
        v.push(ConvLayer(win, w, 3, side));
        v.push(ConvLayer(w, w, 3, side));
        if s > 0 {
            v.push(ConvLayer(win, w, 1, side));
        }
        v.push(ConvLayer(w, w, 3, side));
        v.push(ConvLayer(w, w, 3, side));
    }
    v
}

#[test]
fn node_counts_match_the_architecture() {
    let Some(m) = resnet18() else { return };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in m.graph.node_ids() {
        *counts
            .entry(m.graph.node(id).op.name().to_string())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("Input", 1),
        ("Conv", 20),
        ("BatchNormalization", 20), // one after every conv
        ("Relu", 17),               // stem + 2 per basic block (8 blocks)
        ("Add", 8),                 // one per basic block
        ("MaxPool", 1),
        ("GlobalAveragePool", 1),
        ("Flatten", 1),
        ("Gemm", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(m.graph.len(), 70);
    assert!(m.unknown_ops.is_empty());
    assert_eq!(convs().len(), 20);
}

#[test]
fn every_output_shape_matches_the_derivation() {
    let Some(m) = resnet18() else { return };
    for id in m.graph.node_ids() {
        let node = m.graph.node(id);
        let name = node.name.as_str();
        let expected: Vec<usize> = if let Some(rest) = name.strip_prefix("resnetv15_stage") {
            // Every op of stage s outputs the stage's width and side.
            let s: u32 = rest[..1].parse().expect("stage digit");
            vec![
                1,
                64 * 2usize.pow(s - 1),
                56 / 2usize.pow(s - 1),
                56 / 2usize.pow(s - 1),
            ]
        } else {
            match name {
                "data" => vec![1, 3, 224, 224],
                // 7x7 stride 2 pad 3: (224 + 6 - 7) / 2 + 1 = 112
                "resnetv15_conv0_fwd" | "resnetv15_batchnorm0_fwd" | "resnetv15_relu0_fwd" => {
                    vec![1, 64, 112, 112]
                }
                // 3x3 stride 2 pad 1: (112 + 2 - 3) / 2 + 1 = 56
                "resnetv15_pool0_fwd" => vec![1, 64, 56, 56],
                "resnetv15_pool1_fwd" => vec![1, 512, 1, 1],
                "flatten_170" => vec![1, 512],
                "resnetv15_dense0_fwd" => vec![1, 1000],
                other => panic!("unexpected node {other}"),
            }
        };
        assert_eq!(node.shape.as_deref(), Some(expected.as_slice()), "{name}");
    }
}

#[test]
fn flops_and_params_match_the_derivation() {
    let Some(m) = resnet18() else { return };
    // Conv: Cout*Ho*Wo*(2*Cin*k*k - 1), no bias in this model.
    let conv_flops: u64 = convs()
        .iter()
        .map(|ConvLayer(cin, cout, k, side)| cout * side * side * (2 * cin * k * k - 1))
        .sum();
    let conv_params: u64 = convs()
        .iter()
        .map(|ConvLayer(cin, cout, k, _)| cin * cout * k * k)
        .sum();
    // Outputs of each conv = outputs of the BN after it.
    let conv_outputs: u64 = convs()
        .iter()
        .map(|ConvLayer(_, cout, _, side)| cout * side * side)
        .sum();
    let bn_flops = 4 * conv_outputs;
    let bn_params: u64 = 4 * convs().iter().map(|c| c.1).sum::<u64>();
    // ReLU and Add: one FLOP per output element.
    let stage_elems = |s: u32| 64 * 2u64.pow(s) * (56 / 2u64.pow(s)).pow(2);
    let relu_flops = 64 * 112 * 112 + (0..4).map(|s| 4 * stage_elems(s)).sum::<u64>();
    let add_flops: u64 = (0..4).map(|s| 2 * stage_elems(s)).sum();
    let maxpool_flops = 64 * 56 * 56 * 9;
    let gap_flops = 512 * 7 * 7;
    let gemm_flops = 1000 * (2 * 512 - 1 + 1);
    let gemm_params = 512 * 1000 + 1000;
    // 2 x the published 1.81 G multiply-adds, less one per conv output (no bias).
    assert_eq!(conv_flops, 3_624_638_976);
    assert_eq!(conv_params, 11_166_912);

    let cost = graph_cost(&m.graph);
    assert_eq!(
        cost.flops,
        conv_flops + bn_flops + relu_flops + add_flops + maxpool_flops + gap_flops + gemm_flops
    );
    assert_eq!(cost.params, conv_params + bn_params + gemm_params);
    assert_eq!(cost.params, 11_699_112); // 11,689,512 learnable + 9,600 BN running stats
    // Memory access: every node's output elements plus its params.
    let outputs: u64 = m
        .graph
        .node_ids()
        .map(|id| {
            m.graph
                .node(id)
                .shape
                .as_ref()
                .map_or(0, |s| s.iter().product::<usize>() as u64)
        })
        .sum();
    assert_eq!(cost.memory_access, outputs + cost.params);
    let conv_nodes = m
        .graph
        .node_ids()
        .filter(|&id| matches!(m.graph.node(id).op, Op::Conv(_)))
        .count();
    assert_eq!(conv_nodes, 20);
}

/// "trans" of a scalar, written out again from the reference's `predictor/feature/position_encoding.py` for the golden rows.
fn trans(x: f64) -> Vec<f32> {
    (0..5)
        .flat_map(|j| {
            let f = 1.0 / 10000f64.powf(j as f64 / 5.0);
            [(x * f).sin() as f32, (x * f).cos() as f32]
        })
        .collect()
}

fn row(onehot: usize, width: usize, attrs: &[f64], shape: [f64; 4]) -> Vec<f32> {
    let mut r = vec![0.0; width];
    r[onehot] = 1.0;
    for &a in attrs {
        r.extend(trans(a));
    }
    r.resize(width + 80, 0.0);
    for s in shape {
        r.extend(trans(s));
    }
    r
}

#[test]
fn golden_token_rows() {
    use tokenizer::{NetworkTokenizer, NetworkVocab};
    let Some(m) = resnet18() else { return };
    for vocab in [NetworkVocab::Nnlqp, NetworkVocab::Extended] {
        let tokens = NetworkTokenizer::new(vocab).tokenize(&m.graph, 1);
        assert_eq!(tokens.dim, vocab.token_dim());
        let width = vocab.onehot_width();
        let order = m.graph.topological_order();
        let token_of = |name: &str| {
            let pos = order
                .iter()
                .position(|&id| m.graph.node(id).name == name)
                .expect("node");
            tokens.token(pos).to_vec()
        };
        // Stem conv: slot 0; kernel 7, stride 2, pad 3, dilation 1, group 1, no bias.
        let conv = row(
            0,
            width,
            &[7.0, 2.0, 3.0, 1.0, 1.0, 0.0],
            [1.0, 64.0, 112.0, 112.0],
        );
        assert_eq!(token_of("resnetv15_conv0_fwd"), conv, "{vocab}");
        assert!((conv[width] - 0.656_986_6).abs() < 1e-6); // sin(7)
        // Gemm: slot 8; bias 1; shape [1, 1000] padded with two zeros that
        // encode as sin 0 / cos 0 = [0, 1, 0, 1, ...], not as zeros.
        let gemm = row(8, width, &[1.0], [1.0, 1000.0, 0.0, 0.0]);
        let got = token_of("resnetv15_dense0_fwd");
        assert_eq!(got, gemm, "{vocab}");
        assert_eq!(&got[width + 80 + 20..], [0.0, 1.0].repeat(10).as_slice());
        // Flatten [1, 512] is padded the same way; it is slot 14.
        assert_eq!(
            token_of("flatten_170"),
            row(14, width, &[], [1.0, 512.0, 0.0, 0.0])
        );
        assert_eq!(tokens.statics.len(), 40);
    }
}
