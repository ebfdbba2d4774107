//! Malformed models give errors naming the file and the node, never a panic.

mod common;

use common::{input, model_bytes, node, weight};
use onnx_io::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use onnx_io::{ImportOptions, import_bytes, read_file};
use prost::Message;
use std::path::{Path, PathBuf};

fn model(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> Vec<u8> {
    model_bytes(GraphProto {
        node: nodes,
        input: vec![input("x", &[1, 3, 8, 8])],
        initializer,
        ..Default::default()
    })
}

fn error_of(bytes: &[u8]) -> String {
    import_bytes(bytes, Path::new("bad.onnx"), &ImportOptions::default())
        .expect_err("must fail")
        .to_string()
}

fn assert_names(err: &str, needles: &[&str]) {
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

#[test]
fn a_valid_hand_built_model_imports() {
    let bytes = model(
        vec![
            node("conv", "Conv", &["x", "w"], &["c"]),
            node("relu", "Relu", &["c"], &["r"]),
        ],
        vec![weight("w", &[4, 3, 3, 3])],
    );
    let m = import_bytes(&bytes, Path::new("ok.onnx"), &ImportOptions::default()).expect("imports");
    assert_eq!(m.graph.len(), 3);
}

#[test]
fn truncated_and_random_files_name_the_file() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx/resnet18.onnx");
    let bytes = std::fs::read(&fixture).expect("fixture");
    let err = error_of(&bytes[..bytes.len() / 3]);
    assert_names(&err, &["bad.onnx", "not a valid ONNX model"]);
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_names(&error_of(&noise), &["bad.onnx"]);
    let missing = read_file(Path::new("/no/such/model.onnx"), &ImportOptions::default())
        .expect_err("missing");
    assert_names(
        &missing.to_string(),
        &["/no/such/model.onnx", "cannot read"],
    );
}

#[test]
fn a_cycle_names_a_node_on_it() {
    let bytes = model(
        vec![
            node("first", "Add", &["x", "b"], &["a"]),
            node("second", "Relu", &["a"], &["b"]),
        ],
        vec![],
    );
    assert_names(&error_of(&bytes), &["bad.onnx", "cycle", "first"]);
}

#[test]
fn a_missing_required_input_names_the_node() {
    // Conv without its weight.
    let bytes = model(vec![node("lonely_conv", "Conv", &["x"], &["c"])], vec![]);
    assert_names(
        &error_of(&bytes),
        &[
            "bad.onnx",
            "lonely_conv",
            "Conv",
            "required input 1 is missing",
        ],
    );
    // An input nobody produces.
    let bytes = model(vec![node("adder", "Add", &["x", "ghost"], &["a"])], vec![]);
    assert_names(&error_of(&bytes), &["adder", "'ghost' is not produced"]);
}

#[test]
fn a_shape_that_cannot_be_inferred_names_node_and_op() {
    // 4 input channels expected by the weight, 3 given.
    let bytes = model(
        vec![node("mismatch", "Conv", &["x", "w"], &["c"])],
        vec![weight("w", &[8, 4, 3, 3])],
    );
    assert_names(
        &error_of(&bytes),
        &[
            "mismatch",
            "(Conv)",
            "cannot infer the output shape",
            "channels",
        ],
    );
    // A reshape to a shape of the wrong size.
    let shape = TensorProto {
        name: Some("s".into()),
        dims: vec![2],
        data_type: Some(7),
        int64_data: vec![5, -1],
        ..Default::default()
    };
    let bytes = model(
        vec![node("bad_reshape", "Reshape", &["x", "s"], &["r"])],
        vec![shape],
    );
    assert_names(
        &error_of(&bytes),
        &["bad_reshape", "(Reshape)", "cannot reshape"],
    );
    // An unknown op with no declared output shape.
    let bytes = model(vec![node("mystery", "FancyOp", &["x"], &["y"])], vec![]);
    assert_names(
        &error_of(&bytes),
        &["mystery", "FancyOp", "outside the catalogue"],
    );
    // A pool whose window does not fit.
    let mut pool = node("big_pool", "MaxPool", &["x"], &["p"]);
    pool.attribute.push(AttributeProto {
        name: Some("kernel_shape".into()),
        ints: vec![20, 20],
        r#type: Some(7),
        ..Default::default()
    });
    assert_names(
        &error_of(&model(vec![pool], vec![])),
        &["big_pool", "does not fit"],
    );
}

#[test]
fn unknown_ops_with_declared_shapes_are_kept_and_counted() {
    let mut bytes_model = ModelProto::decode(
        model(vec![node("mystery", "FancyOp", &["x"], &["y"])], vec![]).as_slice(),
    )
    .expect("decode");
    if let Some(g) = bytes_model.graph.as_mut() {
        g.output.push(input("y", &[1, 3, 8, 8]));
    }
    let m = import_bytes(
        &bytes_model.encode_to_vec(),
        Path::new("u.onnx"),
        &ImportOptions::default(),
    )
    .expect("imports");
    assert_eq!(m.unknown_ops.get("FancyOp"), Some(&1));
}
