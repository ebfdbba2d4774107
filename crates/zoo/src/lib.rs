//! A model zoo for latency datasets: seeded generators of 11 network families,
//! in the NNLQP / nn-Meter style of variation (channel scale per stage,
//! kernel sizes, depths, expansion ratios, squeeze-excite on or off).
//!
//! A model is named by `(family, index, seed)` and is a pure function of them,
//! so a dataset stores only its labels and regenerates its graphs (and their
//! ONNX files, byte for byte) on demand.
//!
//! Networks are built op by op with [`graph_ir::networks::NetworkBuilder`], as
//! an exporter would write them, so the ONNX importer reads an exported model
//! back to the same graph.

mod blocks;
mod cnn;
mod manifest;
mod mobile;
mod vit;

pub use manifest::{Entry, MANIFEST, Manifest, ManifestError};

use graph_ir::Graph;
use graph_ir::cells::{Nb201Cell, Nb201Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A network family. Ten are NNLQP's; `Vit` is one NNLQP lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    AlexNet,
    Vgg16,
    ResNet,
    SqueezeNet,
    GoogLeNet,
    MobileNetV2,
    MobileNetV3,
    MnasNet,
    EfficientNetB0,
    Nb201,
    Vit,
}

impl Family {
    pub const ALL: [Family; 11] = [
        Family::AlexNet,
        Family::Vgg16,
        Family::ResNet,
        Family::SqueezeNet,
        Family::GoogLeNet,
        Family::MobileNetV2,
        Family::MobileNetV3,
        Family::MnasNet,
        Family::EfficientNetB0,
        Family::Nb201,
        Family::Vit,
    ];

    /// The family's name in file names, `gt.txt` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::AlexNet => "alexnet",
            Family::Vgg16 => "vgg16",
            Family::ResNet => "resnet",
            Family::SqueezeNet => "squeezenet",
            Family::GoogLeNet => "googlenet",
            Family::MobileNetV2 => "mobilenetv2",
            Family::MobileNetV3 => "mobilenetv3",
            Family::MnasNet => "mnasnet",
            Family::EfficientNetB0 => "efficientnetb0",
            Family::Nb201 => "nasbench201",
            Family::Vit => "vit",
        }
    }

    /// The input the family is measured at: `[1, 3, 224, 224]`, or CIFAR's
    /// `[1, 3, 32, 32]` for NAS-Bench-201.
    pub fn input_shape(self) -> [usize; 4] {
        match self {
            Family::Nb201 => [1, 3, 32, 32],
            _ => [1, 3, 224, 224],
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown family '{0}'; the families are {families}", families = Family::ALL.map(|f| f.as_str()).join(", "))]
pub struct UnknownFamily(pub String);

impl FromStr for Family {
    type Err = UnknownFamily;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFamily(s.to_string()))
    }
}

/// Which model of the zoo: a pure function of these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    pub family: Family,
    pub index: usize,
    pub seed: u64,
}

impl ModelId {
    /// `<family>_<index>`, the model's name in `gt.txt` (seed is per dataset).
    pub fn name(&self) -> String {
        format!("{}_{:04}", self.family, self.index)
    }

    /// The name's inverse, given the dataset's seed.
    pub fn parse(name: &str, seed: u64) -> Option<ModelId> {
        let (family, index) = name.rsplit_once('_')?;
        Some(ModelId {
            family: family.parse().ok()?,
            index: index.parse().ok()?,
            seed,
        })
    }
}

/// A generated network and the choices that made it.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: ModelId,
    pub graph: Graph,
    /// The sampled variation in words, e.g. `resnet50 stem k7 widths 0.75,1,0.5,1`.
    pub description: String,
}

/// The model `id` names.
pub fn generate(id: ModelId) -> Model {
    let mut dice = Dice::new(id);
    let (graph, description) = match id.family {
        Family::AlexNet => cnn::alexnet(&mut dice),
        Family::Vgg16 => cnn::vgg16(&mut dice),
        Family::ResNet => cnn::resnet(&mut dice),
        Family::SqueezeNet => cnn::squeezenet(&mut dice),
        Family::GoogLeNet => cnn::googlenet(&mut dice),
        Family::MobileNetV2 => mobile::mobilenet_v2(&mut dice),
        Family::MobileNetV3 => mobile::mobilenet_v3(&mut dice),
        Family::MnasNet => mobile::mnasnet(&mut dice),
        Family::EfficientNetB0 => mobile::efficientnet_b0(&mut dice),
        Family::Nb201 => nb201(&mut dice),
        Family::Vit => vit::vit(&mut dice),
    };
    Model {
        id,
        graph,
        description,
    }
}

/// NAS-Bench-201: a uniformly drawn cell in the benchmark's whole network.
fn nb201(dice: &mut Dice) -> (Graph, String) {
    let mut ops = [Nb201Op::None; 6];
    for op in &mut ops {
        *op = *dice.pick(&Nb201Op::ALL);
    }
    let cell = Nb201Cell { ops };
    (
        graph_ir::networks::nb201_network(&cell, 1),
        cell.to_string(),
    )
}

/// The seeded choices of one model.
#[derive(Debug)]
pub(crate) struct Dice(ChaCha8Rng);

impl Dice {
    fn new(id: ModelId) -> Self {
        // Distinct, stable streams per (seed, family, index).
        let family = Family::ALL
            .iter()
            .position(|&f| f == id.family)
            .unwrap_or(0) as u64;
        let key = id
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(family << 32)
            .wrapping_add(id.index as u64);
        Dice(ChaCha8Rng::seed_from_u64(key))
    }

    pub(crate) fn pick<'a, T>(&mut self, options: &'a [T]) -> &'a T {
        &options[self.0.random_range(0..options.len())]
    }

    /// An integer in `lo..=hi`.
    pub(crate) fn int(&mut self, lo: usize, hi: usize) -> usize {
        self.0.random_range(lo..=hi)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p)
    }
}

/// Channels scaled by `scale` and rounded to a multiple of 8 (at least 8),
/// as the mobile families' `make_divisible` does.
pub(crate) fn scaled(channels: usize, scale: f64) -> usize {
    let v = channels as f64 * scale;
    let rounded = ((v + 4.0) / 8.0).floor() as usize * 8;
    let rounded = rounded.max(8);
    // Never round down by more than 10%.
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

/// A list of numbers for descriptions: `0.5,1,0.75`.
pub(crate) fn list<T: fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
