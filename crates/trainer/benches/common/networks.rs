//! The benches' whole networks: ResNet-like graphs of a chosen size.

use graph_ir::networks::NetworkBuilder;
use graph_ir::{ConvAttrs, Graph};

fn conv(kernel: usize, stride: usize) -> ConvAttrs {
    ConvAttrs {
        stride,
        ..ConvAttrs::same(kernel)
    }
}

/// A ResNet-like network of about `nodes` nodes (conv-BN-ReLU pairs with
/// residual adds, widths varying with `seed`), as the whole-network model reads them.
pub fn network(nodes: usize, seed: usize) -> Graph {
    let mut b = NetworkBuilder::new();
    let mut x = b.input(vec![1, 3, 224, 224]);
    let mut width = 32 + 16 * (seed % 4);
    x = b.conv(&x, width, conv(7, 2));
    let mut count = 2;
    let mut block = 0;
    while count + 8 < nodes {
        let stride = if block % 4 == 3 { 2 } else { 1 };
        if stride == 2 {
            width = (width * 2).min(512);
        }
        let y = b.conv(&x, width, conv(3, stride));
        let y = b.batch_norm(&y);
        let y = b.relu(&y);
        let y = b.conv(&y, width, conv(3, 1));
        let y = b.batch_norm(&y);
        let shortcut = if stride == 2 || y.channels() != x.channels() {
            count += 1;
            b.conv(&x, width, conv(1, stride))
        } else {
            x.clone()
        };
        let y = b.add(&y, &shortcut);
        x = b.relu(&y);
        count += 7;
        block += 1;
    }
    let x = b.global_average_pool(&x);
    let x = b.flatten(&x);
    b.linear(&x, 1000);
    b.build().expect("the bench network is a DAG")
}
