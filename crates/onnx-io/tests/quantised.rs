//! Quantised convolutions and matmuls cost what their float counterparts
//! cost: the same output shapes, their integer weights counted as parameters,
//! and FLOPs from those weights.

mod common;

use common::{input, model_bytes, node, weight};
use onnx_io::proto::{GraphProto, TensorProto};
use onnx_io::{ImportOptions, import_bytes};
use std::path::Path;

fn int8_weight(name: &str, dims: &[i64]) -> TensorProto {
    TensorProto {
        data_type: Some(3),
        ..weight(name, dims)
    }
}

fn scalar(name: &str, data_type: i32) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(data_type),
        float_data: if data_type == 1 { vec![0.1] } else { vec![] },
        int32_data: if data_type == 1 { vec![] } else { vec![0] },
        ..Default::default()
    }
}

fn cost_of(op_node: onnx_io::proto::NodeProto, initializer: Vec<TensorProto>) -> graph_ir::Cost {
    let bytes = model_bytes(GraphProto {
        node: vec![op_node],
        input: vec![input("x", &[1, 16, 32, 32])],
        initializer,
        ..Default::default()
    });
    let imported = import_bytes(&bytes, Path::new("q.onnx"), &ImportOptions::default())
        .expect("the model imports");
    assert!(
        imported.unknown_ops.is_empty(),
        "{:?}",
        imported.unknown_ops
    );
    graph_ir::graph_cost(&imported.graph)
}

#[test]
fn a_quantised_convolution_costs_what_the_float_one_does() {
    let float = cost_of(
        node("conv", "Conv", &["x", "w"], &["y"]),
        vec![weight("w", &[32, 16, 3, 3])],
    );
    let int = cost_of(
        node(
            "qconv",
            "ConvInteger",
            &["x", "w", "x_zero_point", "w_zero_point"],
            &["y"],
        ),
        vec![
            int8_weight("w", &[32, 16, 3, 3]),
            scalar("x_zero_point", 3),
            scalar("w_zero_point", 3),
        ],
    );
    assert_eq!(int.params, float.params);
    // The float formula's `- 1` per output element is the only difference.
    let ratio = int.flops as f64 / float.flops as f64;
    assert!(
        (ratio - 1.0).abs() < 0.02,
        "{} vs {}",
        int.flops,
        float.flops
    );
    let q = cost_of(
        node(
            "qlinear",
            "QLinearConv",
            &["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
            &["y"],
        ),
        vec![
            scalar("xs", 1),
            scalar("xz", 3),
            int8_weight("w", &[32, 16, 3, 3]),
            scalar("ws", 1),
            scalar("wz", 3),
            scalar("ys", 1),
            scalar("yz", 3),
        ],
    );
    assert_eq!((q.flops, q.params), (int.flops, int.params));
}
