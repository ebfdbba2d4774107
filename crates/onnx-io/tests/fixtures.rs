//! Imports every committed fixture (tests/fixtures/onnx, made by
//! tests/fixtures/export_fixtures.py) and the shared ResNet-18.

use onnx_io::{ImportOptions, read_file};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/onnx")
        .join(name)
}

#[test]
fn every_family_imports_with_no_unknown_ops() {
    for family in [
        "alexnet",
        "vgg16",
        "resnet18",
        "squeezenet",
        "googlenet",
        "mobilenetv2",
        "mobilenetv3",
        "mnasnet",
        "efficientnet_b0",
        "vit_small",
    ] {
        let path = fixture(&format!("{family}.onnx"));
        let imported =
            read_file(&path, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "{family}: {} nodes, unknown {:?}",
            imported.graph.len(),
            imported.unknown_ops
        );
        assert!(
            imported.unknown_ops.is_empty(),
            "{family}: {:?}",
            imported.unknown_ops
        );
        let last = *imported.graph.topological_order().last().expect("nodes");
        assert_eq!(
            imported.graph.node(last).shape.as_deref(),
            Some(&[1, 1000][..]),
            "{family}"
        );
    }
}

/// The hand-counted fixtures of `hand_counts.json`: the recurrent, transformer and
/// detector models exported from PyTorch and one model per legacy op built with
/// `onnx.helper`. Each imports with no op outside the catalogue or the extended-v2
/// vocabulary, and its contraction FLOPs are within 2% of the hand count.
#[test]
fn hand_counted_models_import_with_their_flops() {
    let counts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("hand_counts.json")).expect("hand_counts.json"),
    )
    .expect("valid JSON");
    let counts = counts.as_object().expect("an object");
    assert!(counts.len() >= 7, "{counts:?}");
    for (name, count) in counts {
        let mut options = ImportOptions {
            batch_rule: onnx_io::BatchRule::Symbolic,
            ..ImportOptions::default()
        };
        match &count["input"] {
            serde_json::Value::Object(named) => {
                for (input, dims) in named {
                    let dims = serde_json::from_value(dims.clone()).expect("dims");
                    options.named_shapes.insert(input.clone(), dims);
                }
            }
            dims => options.input_shape = Some(serde_json::from_value(dims.clone()).unwrap()),
        }
        let imported = read_file(&fixture(&format!("{name}.onnx")), &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            imported.unknown_ops.is_empty(),
            "{name}: {:?}",
            imported.unknown_ops
        );
        let vocab = tokenizer::NetworkVocab::ExtendedV2;
        for id in imported.graph.node_ids() {
            let op = &imported.graph.node(id).op;
            assert!(vocab.knows(op), "{name}: {} has no slot", op.name());
        }
        let ours = graph_ir::contraction_flops(&imported.graph) as f64;
        let hand = count["multiply_add_flops"].as_f64().expect("a count");
        let error = ours / hand - 1.0;
        println!(
            "{name}: ours {ours:.0}, by hand {hand:.0} ({:+.3}%)",
            100.0 * error
        );
        assert!(error.abs() <= 0.02, "{name}: {ours} vs {hand}");
    }
}
