//! The mobile families, all built from inverted residual blocks:
//! MobileNetV2, MobileNetV3 (large and small), MnasNet, EfficientNet-B0.

use crate::blocks::{Act, CLASSES, ConvSpec, classifier, finish, residual, squeeze_excite, start};
use crate::{Dice, list, scaled};
use graph_ir::networks::{NetworkBuilder, Tensor};
use graph_ir::{Graph, PlainOp};

/// A squeeze-excite stage inside a block.
#[derive(Debug, Clone, Copy)]
struct Se {
    squeeze: usize,
    inner: Act,
    gate: PlainOp,
}

/// An inverted residual (MBConv) block.
#[derive(Debug, Clone, Copy)]
struct Block {
    hidden: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    act: Act,
    se: Option<Se>,
}

/// Expand 1x1 (when `hidden` differs from the input), depthwise kxk, optional
/// squeeze-excite, project 1x1, and a residual when shapes allow.
fn inverted_residual(b: &mut NetworkBuilder, x: &Tensor, block: Block) -> Tensor {
    let mut y = x.clone();
    if block.hidden != x.channels() {
        y = ConvSpec::new(block.hidden, 1).act(block.act).apply(b, &y);
    }
    y = ConvSpec::new(block.hidden, block.kernel)
        .stride(block.stride)
        .depthwise(block.hidden)
        .act(block.act)
        .apply(b, &y);
    if let Some(se) = block.se {
        y = squeeze_excite(b, &y, se.squeeze, se.inner, se.gate);
    }
    y = ConvSpec::new(block.out, 1).act(Act::None).apply(b, &y);
    if block.stride == 1 && block.out == x.channels() {
        residual(b, x, &y)
    } else {
        y
    }
}

/// A stage's depth: the base depth +-1, at least 1.
fn jitter(dice: &mut Dice, depth: usize) -> usize {
    (depth as isize + *dice.pick(&[-1isize, 0, 0, 1])).max(1) as usize
}

/// (expansion, channels, depth, stride, kernel, squeeze-excite) of one stage.
type Stage = (usize, usize, usize, usize, usize, bool);

/// Stages of MobileNetV2-style `(expansion, channels, depth, stride)` with a
/// kernel per stage, built after a stem, closed by a 1x1 head conv and the classifier.
struct StagedNet {
    stem: usize,
    stages: Vec<Stage>,
    head: usize,
    act: Act,
    se: fn(usize, usize) -> Se,
}

impl StagedNet {
    fn build(&self) -> Graph {
        let (mut b, x) = start(224);
        let mut x = ConvSpec::new(self.stem, 3)
            .stride(2)
            .act(self.act)
            .apply(&mut b, &x);
        for &(t, c, n, s, k, se) in &self.stages {
            for i in 0..n {
                let hidden = x.channels() * t;
                let block = Block {
                    hidden,
                    out: c,
                    kernel: k,
                    stride: if i == 0 { s } else { 1 },
                    act: self.act,
                    se: se.then(|| (self.se)(x.channels(), hidden)),
                };
                x = inverted_residual(&mut b, &x, block);
            }
        }
        let x = ConvSpec::new(self.head, 1).act(self.act).apply(&mut b, &x);
        classifier(&mut b, &x);
        finish(b)
    }

    fn describe(&self, name: &str, width: f64) -> String {
        let part = |f: fn(&Stage) -> usize| list(&self.stages.iter().map(f).collect::<Vec<_>>());
        format!(
            "{name} width {width} expansions {} kernels {} depths {} se {}",
            part(|s| s.0),
            part(|s| s.4),
            part(|s| s.2),
            part(|s| usize::from(s.5)),
        )
    }
}

fn no_se(_: usize, _: usize) -> Se {
    Se {
        squeeze: 8,
        inner: Act::Relu,
        gate: PlainOp::Sigmoid,
    }
}

/// MobileNetV2: width multiplier, per-stage expansion (3/4/6), kernel (3/5/7)
/// and depth (+-1); ReLU6 throughout.
pub(crate) fn mobilenet_v2(dice: &mut Dice) -> (Graph, String) {
    let width = *dice.pick(&[0.35, 0.5, 0.75, 1.0, 1.3]);
    let base = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let stages = base
        .iter()
        .enumerate()
        .map(|(i, &(t, c, n, s))| {
            let t = if i == 0 { t } else { *dice.pick(&[3, 4, 6]) };
            let k = *dice.pick(&[3, 5, 7]);
            let n = if i == 0 { n } else { jitter(dice, n) };
            (t, scaled(c, width), n, s, k, false)
        })
        .collect();
    let net = StagedNet {
        stem: scaled(32, width),
        stages,
        head: scaled(1280, width.max(1.0)),
        act: Act::Relu6,
        se: no_se,
    };
    (net.build(), net.describe("mobilenetv2", width))
}

/// MnasNet (torchvision's B1 layout): width multiplier, per-stage expansion
/// (3/6), kernel (3/5), depth (+-1) and squeeze-excite (as in MnasNet-A1) on or off.
pub(crate) fn mnasnet(dice: &mut Dice) -> (Graph, String) {
    let width = *dice.pick(&[0.5, 0.75, 1.0, 1.3]);
    let base = [
        (3, 24, 3, 2),
        (3, 40, 3, 2),
        (6, 80, 3, 2),
        (6, 96, 2, 1),
        (6, 192, 4, 2),
        (6, 320, 1, 1),
    ];
    let stages: Vec<_> = base
        .iter()
        .map(|&(_, c, n, s)| {
            let t = *dice.pick(&[3, 6]);
            let k = *dice.pick(&[3, 5]);
            let se = dice.chance(0.3);
            (t, scaled(c, width), jitter(dice, n), s, k, se)
        })
        .collect();
    let (mut b, x) = start(224);
    let x = ConvSpec::new(scaled(32, width), 3)
        .stride(2)
        .apply(&mut b, &x);
    // The separable first block: depthwise 3x3, then 1x1 to 16 channels.
    let c = x.channels();
    let x = ConvSpec::new(c, 3).depthwise(c).apply(&mut b, &x);
    let mut x = ConvSpec::new(scaled(16, width), 1)
        .act(Act::None)
        .apply(&mut b, &x);
    for &(t, c, n, s, k, se) in &stages {
        for i in 0..n {
            let hidden = x.channels() * t;
            let block = Block {
                hidden,
                out: c,
                kernel: k,
                stride: if i == 0 { s } else { 1 },
                act: Act::Relu,
                se: se.then(|| Se {
                    squeeze: scaled(hidden / 4, 1.0),
                    inner: Act::Relu,
                    gate: PlainOp::Sigmoid,
                }),
            };
            x = inverted_residual(&mut b, &x, block);
        }
    }
    let x = ConvSpec::new(1280, 1).apply(&mut b, &x);
    classifier(&mut b, &x);
    let net = StagedNet {
        stem: 0,
        stages,
        head: 1280,
        act: Act::Relu,
        se: no_se,
    };
    (finish(b), net.describe("mnasnet", width))
}

/// EfficientNet-B0: width (0.75-1.2) and depth (0.8-1.2) multipliers,
/// per-stage expansion (4/6), kernel (3/5) and squeeze-excite (mostly on); SiLU.
pub(crate) fn efficientnet_b0(dice: &mut Dice) -> (Graph, String) {
    let width = *dice.pick(&[0.75, 1.0, 1.1, 1.2]);
    let depth = *dice.pick(&[0.8, 1.0, 1.2]);
    let base = [
        (1, 16, 1, 1, 3),
        (6, 24, 2, 2, 3),
        (6, 40, 2, 2, 5),
        (6, 80, 3, 2, 3),
        (6, 112, 3, 1, 5),
        (6, 192, 4, 2, 5),
        (6, 320, 1, 1, 3),
    ];
    let stages = base
        .iter()
        .enumerate()
        .map(|(i, &(t, c, n, s, k))| {
            let t = if i == 0 { t } else { *dice.pick(&[4, 6]) };
            let k = if i == 0 { k } else { *dice.pick(&[3, 5]) };
            let n = ((n as f64 * depth).ceil() as usize).max(1);
            (t, scaled(c, width), n, s, k, dice.chance(0.8))
        })
        .collect();
    let net = StagedNet {
        stem: scaled(32, width),
        stages,
        head: scaled(1280, width.max(1.0)),
        act: Act::Swish,
        // EfficientNet squeezes to a quarter of the block's *input* channels.
        se: |input, _| Se {
            squeeze: (input / 4).max(1),
            inner: Act::Swish,
            gate: PlainOp::Sigmoid,
        },
    };
    (
        net.build(),
        net.describe(&format!("efficientnetb0 depth {depth}"), width),
    )
}

/// MobileNetV3 large or small: width multiplier, and per block the kernel
/// (3/5/7), expansion scale (0.75-1.25) and squeeze-excite (flipped with
/// probability 1/4 from the published layout); hard-swish, hard-sigmoid gates.
pub(crate) fn mobilenet_v3(dice: &mut Dice) -> (Graph, String) {
    use Act::{HardSwish as HS, Relu as RE};
    let large = dice.chance(0.5);
    // (kernel, expanded, out, se, act, stride)
    let layout: &[(usize, usize, usize, bool, Act, usize)] = if large {
        &[
            (3, 16, 16, false, RE, 1),
            (3, 64, 24, false, RE, 2),
            (3, 72, 24, false, RE, 1),
            (5, 72, 40, true, RE, 2),
            (5, 120, 40, true, RE, 1),
            (5, 120, 40, true, RE, 1),
            (3, 240, 80, false, HS, 2),
            (3, 200, 80, false, HS, 1),
            (3, 184, 80, false, HS, 1),
            (3, 184, 80, false, HS, 1),
            (3, 480, 112, true, HS, 1),
            (3, 672, 112, true, HS, 1),
            (5, 672, 160, true, HS, 2),
            (5, 960, 160, true, HS, 1),
            (5, 960, 160, true, HS, 1),
        ]
    } else {
        &[
            (3, 16, 16, true, RE, 2),
            (3, 72, 24, false, RE, 2),
            (3, 88, 24, false, RE, 1),
            (5, 96, 40, true, HS, 2),
            (5, 240, 40, true, HS, 1),
            (5, 240, 40, true, HS, 1),
            (5, 120, 48, true, HS, 1),
            (5, 144, 48, true, HS, 1),
            (5, 288, 96, true, HS, 2),
            (5, 576, 96, true, HS, 1),
            (5, 576, 96, true, HS, 1),
        ]
    };
    let width = *dice.pick(&[0.5, 0.75, 1.0, 1.25]);
    let (mut b, x) = start(224);
    let mut x = ConvSpec::new(scaled(16, width), 3)
        .stride(2)
        .act(HS)
        .apply(&mut b, &x);
    let (mut kernels, mut ses) = (Vec::new(), Vec::new());
    for &(k, expanded, out, se, act, stride) in layout {
        let k = if dice.chance(0.5) {
            *dice.pick(&[3, 5, 7])
        } else {
            k
        };
        let se = se != dice.chance(0.25);
        let hidden = scaled(expanded, width * *dice.pick(&[0.75, 1.0, 1.25]));
        kernels.push(k);
        ses.push(usize::from(se));
        let block = Block {
            hidden,
            out: scaled(out, width),
            kernel: k,
            stride,
            act,
            se: se.then(|| Se {
                squeeze: scaled(hidden / 4, 1.0),
                inner: RE,
                gate: PlainOp::HardSigmoid,
            }),
        };
        x = inverted_residual(&mut b, &x, block);
    }
    let last = scaled(if large { 960 } else { 576 }, width);
    let x = ConvSpec::new(last, 1).act(HS).apply(&mut b, &x);
    let x = b.global_average_pool(&x);
    let x = b.flatten(&x);
    let x = b.linear(&x, if large { 1280 } else { 1024 });
    let x = b.unary(&x, PlainOp::HardSwish);
    b.linear(&x, CLASSES);
    let description = format!(
        "mobilenetv3_{} width {width} kernels {} se {}",
        if large { "large" } else { "small" },
        list(&kernels),
        list(&ses)
    );
    (finish(b), description)
}
