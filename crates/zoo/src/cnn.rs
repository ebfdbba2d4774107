//! The classic convolutional families: AlexNet, VGG-16, ResNet-18/34/50,
//! SqueezeNet, GoogLeNet (torchvision's layouts, without auxiliary heads or dropout).

use crate::blocks::{
    Act, CLASSES, ConvSpec, classifier, finish, max_pool, mlp_classifier, residual, start,
};
use crate::{Dice, list};
use graph_ir::Graph;
use graph_ir::networks::{NetworkBuilder, Tensor};

fn scale(channels: usize, s: f64) -> usize {
    ((channels as f64 * s).round() as usize).max(8)
}

/// Each base width scaled by its own draw from `choices` (drawn in order, so
/// a seed gives the same widths as before this was shared).
fn varied_widths(dice: &mut Dice, base: &[usize], choices: &[f64]) -> Vec<usize> {
    let scales: Vec<f64> = base.iter().map(|_| *dice.pick(choices)).collect();
    base.iter()
        .zip(&scales)
        .map(|(&c, &s)| scale(c, s))
        .collect()
}

/// AlexNet: five convs (first kernel 7/9/11, stride 4), three max pools, two
/// hidden fully connected layers. Each conv's width and the hidden width vary.
pub(crate) fn alexnet(dice: &mut Dice) -> (Graph, String) {
    let base = [64, 192, 384, 256, 256];
    let widths = varied_widths(dice, &base, &[0.5, 0.75, 1.0, 1.25, 1.5]);
    let first_kernel = *dice.pick(&[7, 9, 11]);
    let hidden = *dice.pick(&[1024, 2048, 4096]);
    let (mut b, x) = start(224);
    let mut x = ConvSpec::new(widths[0], first_kernel)
        .stride(4)
        .bn(false)
        .apply(&mut b, &x);
    x = max_pool(&mut b, &x, 3, 2, 0);
    x = ConvSpec::new(widths[1], 5).bn(false).apply(&mut b, &x);
    x = max_pool(&mut b, &x, 3, 2, 0);
    for &w in &widths[2..] {
        x = ConvSpec::new(w, 3).bn(false).apply(&mut b, &x);
    }
    x = max_pool(&mut b, &x, 3, 2, 0);
    mlp_classifier(&mut b, &x, hidden);
    let description = format!(
        "alexnet k{first_kernel} widths {} hidden {hidden}",
        list(&widths)
    );
    (finish(b), description)
}

/// VGG-16: stages of 2, 2, 3, 3, 3 3x3 convs with a max pool after each, with
/// or without BN, then two hidden fully connected layers. Each stage's width
/// and the hidden width vary (the hidden layer is kept under 32 M weights).
pub(crate) fn vgg16(dice: &mut Dice) -> (Graph, String) {
    let base = [64, 128, 256, 512, 512];
    let depths = [2, 2, 3, 3, 3];
    let widths = varied_widths(dice, &base, &[0.25, 0.375, 0.5, 0.75, 1.0]);
    let bn = dice.chance(0.5);
    let mut hidden = *dice.pick(&[1024, 2048, 4096]);
    while widths[4] * 49 * hidden > 32 << 20 && hidden > 512 {
        hidden /= 2;
    }
    let (mut b, mut x) = start(224);
    for (&w, &depth) in widths.iter().zip(&depths) {
        for _ in 0..depth {
            x = ConvSpec::new(w, 3).bn(bn).apply(&mut b, &x);
        }
        x = max_pool(&mut b, &x, 2, 2, 0);
    }
    mlp_classifier(&mut b, &x, hidden);
    let description = format!(
        "vgg16{} widths {} hidden {hidden}",
        if bn { "_bn" } else { "" },
        list(&widths)
    );
    (finish(b), description)
}

/// ResNet-18, -34 or -50 (basic or bottleneck blocks), with a varied stem
/// kernel, per-stage width and per-stage depth (the variant's depth +-1).
pub(crate) fn resnet(dice: &mut Dice) -> (Graph, String) {
    let variant = *dice.pick(&[18, 34, 50]);
    let base_depths: [usize; 4] = if variant == 18 {
        [2, 2, 2, 2]
    } else {
        [3, 4, 6, 3]
    };
    let bottleneck = variant == 50;
    let depths: Vec<usize> = base_depths
        .iter()
        .map(|&d| (d as isize + *dice.pick(&[-1isize, 0, 0, 1])).max(1) as usize)
        .collect();
    let widths: Vec<usize> = [64, 128, 256, 512]
        .iter()
        .map(|&c| scale(c, *dice.pick(&[0.5, 0.75, 1.0])))
        .collect();
    let stem_kernel = *dice.pick(&[3, 5, 7]);
    let (mut b, x) = start(224);
    let x = ConvSpec::new(64, stem_kernel).stride(2).apply(&mut b, &x);
    let mut x = max_pool(&mut b, &x, 3, 2, 1);
    for (stage, (&w, &depth)) in widths.iter().zip(&depths).enumerate() {
        for block in 0..depth {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            x = if bottleneck {
                bottleneck_block(&mut b, &x, w, stride)
            } else {
                basic_block(&mut b, &x, w, stride)
            };
        }
    }
    classifier(&mut b, &x);
    let description = format!(
        "resnet{variant} stem k{stem_kernel} widths {} depths {}",
        list(&widths),
        list(&depths)
    );
    (finish(b), description)
}

/// The shortcut of a residual block: identity, or a strided 1x1 conv + BN.
fn shortcut(b: &mut NetworkBuilder, x: &Tensor, out: usize, stride: usize) -> Tensor {
    if stride == 1 && x.channels() == out {
        x.clone()
    } else {
        ConvSpec::new(out, 1)
            .stride(stride)
            .act(Act::None)
            .apply(b, x)
    }
}

fn basic_block(b: &mut NetworkBuilder, x: &Tensor, out: usize, stride: usize) -> Tensor {
    let y = ConvSpec::new(out, 3).stride(stride).apply(b, x);
    let y = ConvSpec::new(out, 3).act(Act::None).apply(b, &y);
    let s = shortcut(b, x, out, stride);
    let sum = residual(b, &s, &y);
    b.relu(&sum)
}

fn bottleneck_block(b: &mut NetworkBuilder, x: &Tensor, width: usize, stride: usize) -> Tensor {
    let out = 4 * width;
    let y = ConvSpec::new(width, 1).apply(b, x);
    let y = ConvSpec::new(width, 3).stride(stride).apply(b, &y);
    let y = ConvSpec::new(out, 1).act(Act::None).apply(b, &y);
    let s = shortcut(b, x, out, stride);
    let sum = residual(b, &s, &y);
    b.relu(&sum)
}

/// SqueezeNet 1.0 or 1.1: fire modules (1x1 squeeze, then 1x1 and kxk expand
/// concatenated), with a per-model width scale and expand kernel 3 or 5.
pub(crate) fn squeezenet(dice: &mut Dice) -> (Graph, String) {
    let v11 = dice.chance(0.5);
    let s = *dice.pick(&[0.5, 0.75, 1.0, 1.25, 1.5]);
    let kernel = *dice.pick(&[3, 3, 5]);
    // (squeeze, expand) per fire module; `None` marks a max pool.
    let plan: &[Option<(usize, usize)>] = if v11 {
        &[
            Some((16, 64)),
            Some((16, 64)),
            None,
            Some((32, 128)),
            Some((32, 128)),
            None,
            Some((48, 192)),
            Some((48, 192)),
            Some((64, 256)),
            Some((64, 256)),
        ]
    } else {
        &[
            Some((16, 64)),
            Some((16, 64)),
            Some((32, 128)),
            None,
            Some((32, 128)),
            Some((48, 192)),
            Some((48, 192)),
            Some((64, 256)),
            None,
            Some((64, 256)),
        ]
    };
    let (mut b, x) = start(224);
    let (stem_width, stem_kernel) = if v11 { (64, 3) } else { (96, 7) };
    let x = ConvSpec::new(scale(stem_width, s), stem_kernel)
        .stride(2)
        .bn(false)
        .apply(&mut b, &x);
    let mut x = max_pool(&mut b, &x, 3, 2, 0);
    for step in plan {
        x = match step {
            None => max_pool(&mut b, &x, 3, 2, 0),
            Some((squeeze, expand)) => {
                let sq = ConvSpec::new(scale(*squeeze, s), 1)
                    .bn(false)
                    .apply(&mut b, &x);
                let e1 = ConvSpec::new(scale(*expand, s), 1)
                    .bn(false)
                    .apply(&mut b, &sq);
                let ek = ConvSpec::new(scale(*expand, s), kernel)
                    .bn(false)
                    .apply(&mut b, &sq);
                b.concat(&[e1, ek])
            }
        };
    }
    let x = ConvSpec::new(CLASSES, 1).bn(false).apply(&mut b, &x);
    let x = b.global_average_pool(&x);
    b.flatten(&x);
    let description = format!(
        "squeezenet{} scale {s} expand k{kernel}",
        if v11 { "1_1" } else { "1_0" }
    );
    (finish(b), description)
}

/// GoogLeNet: nine inception blocks (1x1; 1x1->3x3; 1x1->kxk; pool->1x1,
/// concatenated) with a per-stage width scale and the third branch's kernel 3 or 5.
pub(crate) fn googlenet(dice: &mut Dice) -> (Graph, String) {
    // (b1, b2 reduce, b2, b3 reduce, b3, pool proj) per block; `None` marks a max pool.
    type Inception = (usize, usize, usize, usize, usize, usize);
    let plan: [Option<Inception>; 11] = [
        Some((64, 96, 128, 16, 32, 32)),
        Some((128, 128, 192, 32, 96, 64)),
        None,
        Some((192, 96, 208, 16, 48, 64)),
        Some((160, 112, 224, 24, 64, 64)),
        Some((128, 128, 256, 24, 64, 64)),
        Some((112, 144, 288, 32, 64, 64)),
        Some((256, 160, 320, 32, 128, 128)),
        None,
        Some((256, 160, 320, 32, 128, 128)),
        Some((384, 192, 384, 48, 128, 128)),
    ];
    let stage_scales: Vec<f64> = (0..3)
        .map(|_| *dice.pick(&[0.5, 0.75, 1.0, 1.25]))
        .collect();
    let kernel = *dice.pick(&[3, 5]);
    let (mut b, x) = start(224);
    let x = ConvSpec::new(64, 7).stride(2).apply(&mut b, &x);
    let x = max_pool(&mut b, &x, 3, 2, 1);
    let x = ConvSpec::new(64, 1).apply(&mut b, &x);
    let x = ConvSpec::new(scale(192, stage_scales[0]), 3).apply(&mut b, &x);
    let mut x = max_pool(&mut b, &x, 3, 2, 1);
    let mut stage = 0;
    for step in plan {
        let Some((c1, r2, c2, r3, c3, cp)) = step else {
            x = max_pool(&mut b, &x, 3, 2, 1);
            stage += 1;
            continue;
        };
        let s = stage_scales[stage];
        let b1 = ConvSpec::new(scale(c1, s), 1).apply(&mut b, &x);
        let b2 = ConvSpec::new(scale(r2, s), 1).apply(&mut b, &x);
        let b2 = ConvSpec::new(scale(c2, s), 3).apply(&mut b, &b2);
        let b3 = ConvSpec::new(scale(r3, s), 1).apply(&mut b, &x);
        let b3 = ConvSpec::new(scale(c3, s), kernel).apply(&mut b, &b3);
        let b4 = max_pool(&mut b, &x, 3, 1, 1);
        let b4 = ConvSpec::new(scale(cp, s), 1).apply(&mut b, &b4);
        x = b.concat(&[b1, b2, b3, b4]);
    }
    classifier(&mut b, &x);
    let description = format!(
        "googlenet stage scales {} branch-3 k{kernel}",
        list(&stage_scales)
    );
    (finish(b), description)
}
