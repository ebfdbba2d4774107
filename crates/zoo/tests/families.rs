//! Every family generates valid networks that survive ONNX export and import.

use graph_ir::{Graph, graph_cost};
use onnx_io::{ImportOptions, Weights, export_bytes, import_bytes};
use std::path::Path;
use zoo::{Family, Manifest, ModelId, generate};

fn id(family: Family, index: usize) -> ModelId {
    ModelId {
        family,
        index,
        seed: 7,
    }
}

fn round_trip(g: &Graph, weights: Weights) -> Graph {
    let bytes = export_bytes(g, weights).unwrap_or_else(|e| panic!("export: {e}"));
    let back = import_bytes(&bytes, Path::new("zoo.onnx"), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("import: {e}"));
    assert!(back.unknown_ops.is_empty(), "{:?}", back.unknown_ops);
    back.graph
}

#[test]
fn every_family_round_trips_through_onnx_with_no_unknown_ops() {
    for family in Family::ALL {
        let model = generate(id(family, 0));
        let back = round_trip(&model.graph, Weights::Stripped);
        assert_eq!(back.signature(), model.graph.signature(), "{family}");
        assert!(back.is_isomorphic_to(&model.graph), "{family}");
        assert_eq!(graph_cost(&back), graph_cost(&model.graph), "{family}");
        // The classifier's output is the last node: 1000 classes (10 for NB201).
        let classes = if family == Family::Nb201 { 10 } else { 1000 };
        let last = *model.graph.topological_order().last().expect("nodes");
        assert_eq!(
            model.graph.node(last).shape,
            Some(vec![1, classes]),
            "{family}: {}",
            model.description
        );
    }
}

#[test]
fn many_models_of_every_family_import_with_no_unknown_ops() {
    for family in Family::ALL {
        for index in 1..6 {
            let model = generate(id(family, index));
            let back = round_trip(&model.graph, Weights::Stripped);
            assert_eq!(back.len(), model.graph.len(), "{family} {index}");
        }
    }
}

#[test]
fn generation_is_deterministic_to_the_byte() {
    for family in Family::ALL {
        let a = generate(id(family, 3));
        let b = generate(id(family, 3));
        assert_eq!(a.description, b.description);
        let weights = Weights::Random { seed: 11 };
        let bytes_a = export_bytes(&a.graph, weights).unwrap_or_else(|e| panic!("{e}"));
        let bytes_b = export_bytes(&b.graph, weights).unwrap_or_else(|e| panic!("{e}"));
        assert!(bytes_a == bytes_b, "{family}: same id, different bytes");
    }
}

#[test]
fn models_vary_within_a_family() {
    for family in Family::ALL {
        let descriptions: std::collections::HashSet<String> = (0..12)
            .map(|i| generate(id(family, i)).description)
            .collect();
        assert!(
            descriptions.len() >= 8,
            "{family}: only {} distinct of 12",
            descriptions.len()
        );
    }
}

#[test]
fn families_use_their_signature_ops() {
    let ops = |family, index| -> std::collections::BTreeSet<String> {
        let g = generate(id(family, index)).graph;
        g.node_ids()
            .map(|n| g.node(n).op.name().to_string())
            .collect()
    };
    let vit = ops(Family::Vit, 0);
    for op in [
        "LayerNormalization",
        "MatMul",
        "Softmax",
        "Erf",
        "Transpose",
        "Reshape",
    ] {
        assert!(vit.contains(op), "ViT lacks {op}");
    }
    assert!(ops(Family::MobileNetV2, 0).contains("Clip"));
    assert!(ops(Family::MobileNetV3, 0).contains("HardSwish"));
    assert!(ops(Family::GoogLeNet, 0).contains("Concat"));
    assert!(ops(Family::EfficientNetB0, 0).contains("Sigmoid"));
}

#[test]
fn a_manifest_names_and_costs_its_models_and_writes_their_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let families = [Family::ResNet, Family::Nb201];
    let manifest = Manifest::new(&families, 2, 5);
    assert_eq!(manifest.models.len(), 4);
    // Families interleave.
    assert_eq!(manifest.models[0].family, Family::ResNet);
    assert_eq!(manifest.models[1].family, Family::Nb201);
    let mut written = 0;
    manifest
        .write(dir.path(), Some(Weights::Stripped), |_| written += 1)
        .expect("write");
    assert_eq!(written, 4);
    assert_eq!(Manifest::read(dir.path()).expect("read"), manifest);
    for e in &manifest.models {
        let file = dir.path().join(&e.onnx);
        let back = onnx_io::read_file(&file, &ImportOptions::default()).expect("import");
        assert_eq!(graph_cost(&back.graph).flops, e.flops);
        assert_eq!(ModelId::parse(&e.name, 5), Some(e.id(5)));
    }
}

#[test]
fn the_committed_zoo_regenerates_exactly() {
    // data/zoo's labels were measured on these graphs: a generator change that
    // alters any of them would silently detach the labels from their models.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/zoo");
    let manifest = zoo::Manifest::read(&dir).expect("data/zoo/zoo.json loads");
    for entry in &manifest.models {
        let model = zoo::generate(entry.id(manifest.seed));
        let cost = graph_ir::graph_cost(&model.graph);
        assert_eq!(model.description, entry.description, "{}", entry.name);
        assert_eq!(model.graph.len(), entry.nodes, "{}", entry.name);
        assert_eq!(
            (cost.flops, cost.params),
            (entry.flops, entry.params),
            "{}",
            entry.name
        );
    }
}
