//! Small Vision Transformers: patch embedding, pre-norm blocks of multi-head
//! attention and a GELU MLP, mean-pooled tokens, a linear head. Written as
//! torch.onnx writes them at opset 17 (MatMul + Add linears, erf GELU).

use crate::Dice;
use crate::blocks::{CLASSES, finish, start};
use graph_ir::networks::{NetworkBuilder, Tensor};
use graph_ir::{ConvAttrs, Graph, Op, PlainOp};

/// A ViT with a varied patch size (16/32), width, heads, depth and MLP ratio.
pub(crate) fn vit(dice: &mut Dice) -> (Graph, String) {
    let patch = *dice.pick(&[16, 32]);
    let width: usize = *dice.pick(&[96, 128, 192, 256, 384]);
    let heads_options: Vec<usize> = [2, 3, 4, 6, 8]
        .into_iter()
        .filter(|h| width.is_multiple_of(*h) && width / h >= 16)
        .collect();
    let heads = *dice.pick(&heads_options);
    let depth = dice.int(2, 12);
    let mlp_ratio = *dice.pick(&[2, 3, 4]);
    let (mut b, x) = start(224);
    let x = b.conv(
        &x,
        width,
        ConvAttrs {
            stride: patch,
            pad: 0,
            bias: true,
            ..ConvAttrs::same(patch)
        },
    );
    let side = 224 / patch;
    let tokens = side * side;
    let x = b.reshape(&x, vec![1, width, tokens]);
    let x = b.transpose(&x, &[0, 2, 1]);
    let mut x = b.with_constant(&x, Op::Add, tokens * width);
    for _ in 0..depth {
        let h = b.layer_norm(&x);
        let a = attention(&mut b, &h, heads);
        x = b.add(&x, &a);
        let h = b.layer_norm(&x);
        let h = b.dense(&h, mlp_ratio * width);
        let h = gelu(&mut b, &h);
        let h = b.dense(&h, width);
        x = b.add(&x, &h);
    }
    let x = b.layer_norm(&x);
    let x = b.mean_tokens(&x);
    b.linear(&x, CLASSES);
    let description =
        format!("vit patch {patch} width {width} heads {heads} depth {depth} mlp x{mlp_ratio}");
    (finish(b), description)
}

/// Multi-head self-attention on `[1, T, D]` tokens -> `[1, T, D]`.
fn attention(b: &mut NetworkBuilder, x: &Tensor, heads: usize) -> Tensor {
    let (t, d) = (x.shape[1], x.shape[2]);
    let head = d / heads;
    // [1, T, D] -> [1, heads, T, head] (or [1, heads, head, T] for keys).
    let split = |b: &mut NetworkBuilder, perm: &[usize]| {
        let y = b.dense(x, d);
        let y = b.reshape(&y, vec![1, t, heads, head]);
        b.transpose(&y, perm)
    };
    let q = split(b, &[0, 2, 1, 3]);
    let k = split(b, &[0, 2, 3, 1]);
    let v = split(b, &[0, 2, 1, 3]);
    let scores = b.matmul(&q, &k);
    let scores = b.with_constant(&scores, Op::Plain(PlainOp::Div), 1);
    let weights = b.softmax(&scores);
    let mixed = b.matmul(&weights, &v);
    let mixed = b.transpose(&mixed, &[0, 2, 1, 3]);
    let mixed = b.reshape(&mixed, vec![1, t, d]);
    b.dense(&mixed, d)
}

/// Exact GELU as exported: `x * 0.5 * (1 + erf(x / sqrt 2))`.
fn gelu(b: &mut NetworkBuilder, x: &Tensor) -> Tensor {
    let scaled = b.with_constant(x, Op::Plain(PlainOp::Div), 1);
    let e = b.unary(&scaled, PlainOp::Erf);
    let shifted = b.with_constant(&e, Op::Add, 1);
    let product = b.mul(x, &shifted);
    b.with_constant(&product, Op::Plain(PlainOp::Mul), 1)
}
