//! Cell predictors behind one type: the NAR-Former V2 model and the two
//! baselines of the paper's analysis, chosen by [`CellModelConfig::architecture`],
//! so the trainer, checkpoints and CLI treat all three alike.

use crate::GraphBatch;
use crate::gnn::GnnModel;
use crate::network::{Encoder, NetworkSizes, Readout, V2NetworkModel};
use crate::transformer::TransformerModel;
use crate::v2::V2CellModel;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which network reads the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// NAR-Former V2 (the paper's section 3; reference `predictor/model.py`).
    V2,
    /// GraphSAGE-style GNN (mean aggregation + root term), mean readout.
    Gnn,
    /// Vanilla Transformer encoder (softmax attention over all tokens), mean readout.
    Transformer,
}

impl Architecture {
    pub const ALL: [Architecture; 3] = [
        Architecture::V2,
        Architecture::Gnn,
        Architecture::Transformer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::V2 => "v2",
            Architecture::Gnn => "gnn",
            Architecture::Transformer => "transformer",
        }
    }
}

impl FromStr for Architecture {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown model {s:?} (known: v2, gnn, transformer)"))
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Config, Debug)]
pub struct CellModelConfig {
    #[config(default = "Architecture::V2")]
    pub architecture: Architecture,
    /// Token width (128 for the cell tokenizer).
    #[config(default = 128)]
    pub d_input: usize,
    #[config(default = 512)]
    pub hidden: usize,
    #[config(default = 6)]
    pub layers: usize,
    /// FFN groups of the V2 layers.
    #[config(default = 8)]
    pub groups: usize,
    /// Attention heads of the Transformer baseline.
    #[config(default = 4)]
    pub heads: usize,
    #[config(default = 0.05)]
    pub dropout: f64,
    /// `true`: prediction = softplus(-z), always positive (the reference).
    /// `false`: prediction = z, for standardised targets.
    #[config(default = true)]
    pub positive_output: bool,
    /// Width of the graph-level static feature; above 0 the V2 architecture is
    /// the whole-network model ([`V2NetworkModel`]: sum readout, static branch).
    #[config(default = 0)]
    pub d_static: usize,
    /// Whole-network models only: device settings with a learned embedding
    /// (one model for many devices); 0 for a single-device model.
    #[config(default = 0)]
    pub devices: usize,
    /// Whole-network models only: how node embeddings become the prediction.
    #[config(default = "Readout::Sum")]
    pub readout: Readout,
}

impl CellModelConfig {
    /// Whether the sizes fit the architecture.
    pub fn check(&self) -> Result<(), String> {
        let (divisor, what) = match self.architecture {
            Architecture::V2 => (self.groups, "groups"),
            Architecture::Transformer => (self.heads, "heads"),
            Architecture::Gnn => (1, "1"),
        };
        if self.hidden == 0 || self.layers == 0 || divisor == 0 {
            return Err("model.hidden, model.layers, groups and heads must be positive".into());
        }
        if self.d_static > 0 && self.architecture == Architecture::Transformer {
            return Err(format!(
                "the whole-network (static-feature) variant exists for v2 and gnn, not {}",
                self.architecture
            ));
        }
        if self.readout.is_per_node() && (self.d_static == 0 || self.devices > 0) {
            return Err(
                "model.readout = additive or residual needs a single-device whole-network model \
                 (model.d_static > 0, model.devices = 0)"
                    .into(),
            );
        }
        if self.devices > 0 && self.d_static == 0 {
            return Err("model.devices needs the whole-network model (model.d_static > 0)".into());
        }
        if !self.hidden.is_multiple_of(divisor) {
            return Err(format!(
                "model.hidden {} is not a multiple of model.{what} {divisor}",
                self.hidden
            ));
        }
        Ok(())
    }

    fn network_sizes(&self) -> NetworkSizes {
        NetworkSizes {
            d_input: self.d_input,
            d_static: self.d_static,
            hidden: self.hidden,
            layers: self.layers,
            groups: self.groups,
            dropout: self.dropout,
            positive_output: self.positive_output,
            devices: self.devices,
            readout: self.readout,
        }
    }

    pub fn init(&self, device: &Device) -> CellModel {
        let (d, h, l, p, pos) = (
            self.d_input,
            self.hidden,
            self.layers,
            self.dropout,
            self.positive_output,
        );
        match self.architecture {
            Architecture::V2 if self.d_static > 0 => CellModel::V2Network(V2NetworkModel::new(
                Encoder::V2,
                self.network_sizes(),
                device,
            )),
            Architecture::V2 => {
                CellModel::V2(V2CellModel::new(d, h, l, self.groups, p, pos, device))
            }
            Architecture::Gnn if self.d_static > 0 => CellModel::GnnNetwork(V2NetworkModel::new(
                Encoder::Sage,
                self.network_sizes(),
                device,
            )),
            Architecture::Gnn => CellModel::Gnn(GnnModel::new(d, h, l, p, pos, device)),
            Architecture::Transformer => {
                CellModel::Transformer(TransformerModel::new(d, h, l, self.heads, p, pos, device))
            }
        }
    }
}

/// A cell predictor of any [`Architecture`].
#[derive(Module, Debug)]
pub enum CellModel {
    V2(V2CellModel),
    V2Network(V2NetworkModel),
    Gnn(GnnModel),
    Transformer(TransformerModel),
    /// The GNN baseline adapted to whole networks (sum readout, static branch).
    GnnNetwork(V2NetworkModel),
}

impl CellModel {
    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`, mask `[batch, nodes]`
    /// - output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        match self {
            CellModel::V2(m) => m.forward(batch),
            CellModel::V2Network(m) | CellModel::GnnNetwork(m) => m.forward(batch),
            CellModel::Gnn(m) => m.forward(batch),
            CellModel::Transformer(m) => m.forward(batch),
        }
    }

    /// Applies `f` to the whole-network model inside; other models are returned unchanged.
    pub fn map_network(self, f: impl FnOnce(V2NetworkModel) -> V2NetworkModel) -> Self {
        match self {
            CellModel::V2Network(m) => CellModel::V2Network(f(m)),
            CellModel::GnnNetwork(m) => CellModel::GnnNetwork(f(m)),
            other => other,
        }
    }

    /// The whole-network model inside, if this is one (it also reads [`crate::FlatBatch`]es).
    pub fn network(&self) -> Option<&V2NetworkModel> {
        match self {
            CellModel::V2Network(m) | CellModel::GnnNetwork(m) => Some(m),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn tiny() -> CellModelConfig {
        CellModelConfig::new()
            .with_d_input(16)
            .with_hidden(32)
            .with_layers(2)
    }

    /// Row-major tokens, adjacency and mask of one padded graph.
    struct Padded {
        tokens: Vec<f32>,
        adjacency: Vec<f32>,
        mask: Vec<f32>,
    }

    /// A random graph of `n` real nodes, padded to `pad_to`.
    fn graph(n: usize, pad_to: usize, seed: u64) -> Padded {
        let mut next = crate::test_noise::uniform(seed);
        let mut tokens = vec![0.0; pad_to * 16];
        for v in tokens.iter_mut().take(n * 16) {
            *v = next() * 2.0 - 1.0;
        }
        // pads hold garbage: they must not matter
        for v in tokens.iter_mut().skip(n * 16) {
            *v = 7.0;
        }
        let mut adj = vec![0.0; pad_to * pad_to];
        for i in 0..n {
            for j in i + 1..n {
                if j == i + 1 || next() < 0.3 {
                    adj[i * pad_to + j] = 1.0;
                    adj[j * pad_to + i] = 1.0;
                }
            }
        }
        let mask = (0..pad_to).map(|i| if i < n { 1.0 } else { 0.0 }).collect();
        Padded {
            tokens,
            adjacency: adj,
            mask,
        }
    }

    fn batch(graphs: &[Padded], nodes: usize, device: &Device) -> GraphBatch {
        let b = graphs.len();
        let cat = |f: fn(&Padded) -> &[f32]| {
            graphs
                .iter()
                .flat_map(|g| f(g).to_vec())
                .collect::<Vec<f32>>()
        };
        GraphBatch {
            tokens: Tensor::from_data(TensorData::new(cat(|g| &g.tokens), [b, nodes, 16]), device),
            adjacency: Tensor::from_data(
                TensorData::new(cat(|g| &g.adjacency), [b, nodes, nodes]),
                device,
            ),
            mask: Tensor::from_data(TensorData::new(cat(|g| &g.mask), [b, nodes]), device),
            statics: None,
        }
    }

    fn tiny_of(architecture: Architecture) -> CellModelConfig {
        tiny().with_architecture(architecture).with_dropout(0.0)
    }

    #[test]
    fn prediction_does_not_depend_on_padding_or_batch_mates() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        for architecture in Architecture::ALL {
            device.seed(0);
            let model = tiny_of(architecture).init(&device);
            for n in 2..=7 {
                let alone = model.forward(batch(&[graph(n, n, n as u64)], n, &device));
                let alone: Vec<f32> = alone.into_data().try_to_vec::<f32>().unwrap();
                let padded = model.forward(batch(
                    &[graph(7, 9, 2), graph(n, 9, n as u64), graph(9, 9, 3)],
                    9,
                    &device,
                ));
                let padded: Vec<f32> = padded.into_data().try_to_vec::<f32>().unwrap();
                let gap = (alone[0] - padded[1]).abs() / alone[0].abs().max(1e-3);
                assert!(
                    gap < 1e-4,
                    "{architecture} with {n} nodes: alone {} vs padded {}",
                    alone[0],
                    padded[1]
                );
            }
        }
    }

    #[test]
    fn baselines_at_quick_sizes_have_about_the_parameters_of_v2() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        let quick = |a: Architecture, hidden| {
            CellModelConfig::new()
                .with_architecture(a)
                .with_hidden(hidden)
                .with_layers(3)
                .init(&device)
                .num_params() as f64
        };
        let v2 = quick(Architecture::V2, 128);
        for (a, hidden) in [(Architecture::Gnn, 192), (Architecture::Transformer, 80)] {
            let ratio = quick(a, hidden) / v2;
            assert!((0.9..1.1).contains(&ratio), "{a}: {ratio:.3} x V2's {v2}");
        }
    }

    #[test]
    fn architecture_names_round_trip() {
        for a in Architecture::ALL {
            assert_eq!(a.to_string().parse::<Architecture>().unwrap(), a);
        }
        assert!("mlp".parse::<Architecture>().is_err());
    }

    #[test]
    fn paper_size_has_about_8_6_million_parameters() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        let n = CellModelConfig::new().init(&device).num_params();
        assert!((8_400_000..8_800_000).contains(&n), "{n} parameters");
    }

    #[test]
    fn output_is_positive_and_finite() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        for architecture in Architecture::ALL {
            let model = tiny_of(architecture).init(&device);
            let x = Tensor::<3>::random([4, 6, 16], Distribution::Normal(0.0, 3.0), &device);
            let adj = Tensor::<3>::ones([4, 6, 6], &device);
            let out = model.forward(GraphBatch {
                tokens: x,
                adjacency: adj,
                mask: Tensor::ones([4, 6], &device),
                statics: None,
            });
            let out: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
            assert!(
                out.iter().all(|v| v.is_finite() && *v > 0.0),
                "{architecture}: {out:?}"
            );
        }
    }
}
