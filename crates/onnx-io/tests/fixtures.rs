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
