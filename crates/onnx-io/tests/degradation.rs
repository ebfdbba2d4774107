//! What real models need to import: input shapes of models with symbolic dims
//! (the batch size goes into batch dims only under `BatchRule::Symbolic`,
//! other symbolic dims are named in the error with the flag that fixes them,
//! named shapes are used as given), and ops outside the catalogue, which
//! degrade to unknown ops where their shape can be known.

mod common;

use common::{D, model_bytes, node, value, weight};
use onnx_io::proto::{GraphProto, NodeProto, TensorProto, ValueInfoProto};
use onnx_io::{BatchRule, ImportOptions, import_bytes};
use std::path::Path;

/// A token-embedding model: `input_ids` and `attention_mask` (int64,
/// `[batch, sequence]`), embedded (`Gather`), masked (`Mul` by the unsqueezed
/// mask) and projected (`MatMul`).
fn text_model() -> Vec<u8> {
    let node = |op: &str, inputs: &[&str], output: &str| node(output, op, inputs, &[output]);
    let axes = TensorProto {
        name: Some("axes".into()),
        dims: vec![1],
        data_type: Some(7),
        int64_data: vec![2],
        ..Default::default()
    };
    let graph = GraphProto {
        name: Some("text".into()),
        node: vec![
            node("Gather", &["embedding", "input_ids"], "embedded"),
            node("Unsqueeze", &["attention_mask", "axes"], "mask3"),
            node("Cast", &["mask3"], "maskf"),
            node("Mul", &["embedded", "maskf"], "masked"),
            node("MatMul", &["masked", "projection"], "out"),
        ],
        initializer: vec![
            weight("embedding", &[1000, 16]),
            weight("projection", &[16, 8]),
            axes,
        ],
        input: vec![
            value("input_ids", 7, &[D::P("batch"), D::P("sequence")]),
            value("attention_mask", 7, &[D::P("batch"), D::P("sequence")]),
        ],
        output: vec![value("out", 1, &[D::P("batch"), D::P("sequence"), D::N(8)])],
        ..Default::default()
    };
    model_bytes(graph)
}

/// `x [1, 8]` through one `domain.op` node to `y`, declared or not.
fn one_op_model(domain: &str, op: &str, declare_output: bool) -> Vec<u8> {
    let graph = GraphProto {
        name: Some("one".into()),
        node: vec![NodeProto {
            name: Some("the_op".into()),
            op_type: Some(op.into()),
            domain: Some(domain.into()),
            input: vec!["x".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        input: vec![value("x", 1, &[D::N(1), D::N(8)])],
        output: vec![if declare_output {
            value("y", 1, &[D::N(1), D::N(8)])
        } else {
            // A tensor of unknown shape.
            ValueInfoProto {
                name: Some("y".into()),
                ..Default::default()
            }
        }],
        ..Default::default()
    };
    model_bytes(graph)
}

#[test]
fn ops_outside_the_catalogue_degrade_to_unknown_ops_where_their_shape_is_known() {
    let options = ImportOptions::default();
    let path = Path::new("one.onnx");
    // A shape-preserving contrib op: known shape, reported as unknown by name.
    let bytes = one_op_model("com.microsoft", "FastGelu", false);
    let imported = import_bytes(&bytes, path, &options).unwrap();
    assert_eq!(imported.unknown_ops.get("com.microsoft.FastGelu"), Some(&1));
    assert_eq!(imported.outputs[0].1, Some(vec![1, 8]));
    // A custom op: its shape is the file's declaration, or a named error.
    let bytes = one_op_model("my.domain", "Mystery", true);
    let imported = import_bytes(&bytes, path, &options).unwrap();
    assert_eq!(imported.unknown_ops.get("my.domain.Mystery"), Some(&1));
    let bytes = one_op_model("my.domain", "Mystery", false);
    let e = import_bytes(&bytes, path, &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("one.onnx") && e.contains("the_op") && e.contains("Mystery"),
        "{e}"
    );
}

fn import(options: &ImportOptions) -> Result<onnx_io::Imported, String> {
    import_bytes(&text_model(), Path::new("text.onnx"), options).map_err(|e| e.to_string())
}

#[test]
fn a_symbolic_sequence_is_named_with_the_flag_that_gives_it() {
    let options = ImportOptions {
        batch_size: 4,
        batch_rule: BatchRule::Symbolic,
        ..Default::default()
    };
    let e = import(&options).unwrap_err();
    assert!(e.contains("text.onnx") && e.contains("input_ids"), "{e}");
    assert!(e.contains("dim 1 ('sequence')"), "{e}");
    assert!(e.contains("--input-shape input_ids=4,?"), "{e}");
}

#[test]
fn named_shapes_are_used_as_given_and_the_batch_goes_only_where_it_is_symbolic() {
    let mut options = ImportOptions {
        batch_size: 4,
        batch_rule: BatchRule::Symbolic,
        ..Default::default()
    };
    options
        .named_shapes
        .insert("input_ids".into(), vec![1, 128]);
    options
        .named_shapes
        .insert("attention_mask".into(), vec![1, 128]);
    let imported = import(&options).unwrap();
    // The batch of the given shapes is theirs, not --batch-size's.
    assert!(imported.batched_inputs.is_empty());
    assert_eq!(
        imported.outputs,
        vec![("out".to_string(), Some(vec![1, 128, 8]))]
    );
    // Given for the ids only: the mask, declared with the same dim names,
    // takes the ids' dims (not --batch-size's 4).
    options.named_shapes.remove("attention_mask");
    let imported = import(&options).unwrap();
    assert!(imported.batched_inputs.is_empty());
    let shapes: Vec<(&str, &[usize])> = imported
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.shape.as_slice()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("input_ids", &[1, 128][..]),
            ("attention_mask", &[1, 128][..])
        ]
    );
    assert!(imported.inputs.iter().all(|i| !i.is_float));
}
