//! The whole-network latency model (the paper's section 3; reference `predictor/model.py`): an encoder (two
//! [`V2Layer`]s, or GraphSAGE layers for the GNN baseline), a **sum** over
//! nodes, a static-feature branch, and the MLP head on `concat(graph, static)`.
//!
//! With [`Readout::Additive`] the graph's latency is instead a sum of node
//! latencies: each node's final embedding, beside its input token, goes
//! through a per-node head to `ln` of that node's share, and the graph's
//! prediction is `ln(sum_i exp(z_i))`, in `ln(ms)`. Latency adds up over the
//! kernels an engine runs (nn-Meter's premise), so a network of an unseen
//! family is a new mix of known nodes rather than a point outside the graph
//! embeddings the sum readout has seen.
//!
//! [`Readout::Residual`] is the additive readout around a prior: the token's
//! last feature is `ln` of the node's cost under a kernel-level baseline
//! fitted beforehand, and the per-node head predicts the correction,
//! `z_i = prior_i + delta_i`. An untrained head starts from the baseline,
//! and what it learns is how a node's context moves its cost.
//!
//! With `devices > 0` it predicts for many device settings at once: a learned
//! embedding per setting joins the head's input, so one encoder pass per network
//! serves every setting (the encoder, the costly part, never sees the device).

use crate::dropout::dropout;
use crate::gnn::{SageLayer, sage_stack};
use crate::head::RegressionHead;
use crate::layer::{V2Layer, v2_stack};
use crate::{FlatBatch, GraphBatch};
use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Which layers read the node tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    V2,
    Sage,
}

/// How node embeddings become the graph's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    /// The paper's: a sum of node embeddings, the static branch, the MLP head.
    #[default]
    Sum,
    /// A per-node latency head; the graph's `ln` latency is `ln(sum exp z_i)`.
    Additive,
    /// [`Readout::Additive`] with `z_i` a correction of the prior in the
    /// token's last feature (`ln` ms).
    Residual,
}

impl Readout {
    /// Whether the graph's latency is a sum of per-node shares.
    pub fn is_per_node(self) -> bool {
        matches!(self, Readout::Additive | Readout::Residual)
    }
}

impl std::str::FromStr for Readout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sum" => Ok(Readout::Sum),
            "additive" => Ok(Readout::Additive),
            "residual" => Ok(Readout::Residual),
            other => Err(format!(
                "unknown readout {other:?} (known: sum, additive, residual)"
            )),
        }
    }
}

impl std::fmt::Display for Readout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Readout::Sum => "sum",
            Readout::Additive => "additive",
            Readout::Residual => "residual",
        })
    }
}

/// A node's `ln` latency share is kept in `[MIN_NODE_LN, MAX_NODE_LN]` before
/// `exp` (about 1e-13 ms to 3e6 ms): finite in f32 whatever the weights.
const MIN_NODE_LN: f64 = -30.0;
const MAX_NODE_LN: f64 = 15.0;

/// Sizes of a [`V2NetworkModel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkSizes {
    pub d_input: usize,
    pub d_static: usize,
    pub hidden: usize,
    pub layers: usize,
    pub groups: usize,
    pub dropout: f64,
    pub positive_output: bool,
    /// Device settings with a learned embedding; 0 for a single-device model.
    pub devices: usize,
    pub readout: Readout,
}

#[derive(Module, Debug)]
pub struct V2NetworkModel {
    /// The V2 encoder (empty for the GNN).
    pub(crate) layers: Vec<V2Layer>,
    /// The GraphSAGE encoder (empty for V2).
    pub(crate) sage: Vec<SageLayer>,
    pub(crate) static_branch: Linear,
    pub(crate) dropout: Dropout,
    /// `[devices, hidden]`, multi-device models only.
    pub(crate) devices: Option<Param<Tensor<2>>>,
    pub(crate) head: RegressionHead,
    /// Per-node readouts only: `[hidden + d_input] -> ln` of a node's share
    /// (or its correction of the prior).
    pub(crate) node_head: Option<RegressionHead>,
    /// [`Readout::Residual`]: the token's last feature is the prior. Set by
    /// the config, not stored with the weights.
    #[module(skip)]
    pub(crate) residual: bool,
}

impl V2NetworkModel {
    pub fn new(encoder: Encoder, s: NetworkSizes, device: &Device) -> Self {
        let (layers, sage) = match encoder {
            Encoder::V2 => (
                v2_stack(s.d_input, s.hidden, s.layers, s.groups, s.dropout, device),
                Vec::new(),
            ),
            Encoder::Sage => (
                Vec::new(),
                sage_stack(s.d_input, s.hidden, s.layers, s.dropout, device),
            ),
        };
        let devices = (s.devices > 0).then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            }
            .init([s.devices, s.hidden], device)
        });
        let head_input = if s.devices > 0 { 3 } else { 2 } * s.hidden;
        Self {
            layers,
            sage,
            static_branch: LinearConfig::new(s.d_static, s.hidden).init(device),
            dropout: DropoutConfig::new(s.dropout).init(),
            devices,
            head: RegressionHead::with_input(
                head_input,
                s.hidden,
                s.dropout,
                s.positive_output,
                device,
            ),
            node_head: s.readout.is_per_node().then(|| {
                RegressionHead::with_input(s.hidden + s.d_input, s.hidden, s.dropout, false, device)
            }),
            residual: s.readout == Readout::Residual,
        }
    }

    /// Each node's `ln` latency share.
    ///
    /// # Shapes
    /// - x: `[nodes, hidden]` (encoded), tokens: `[nodes, d_input]`
    /// - output: `[nodes]`, each node's `ln` share, clamped
    fn node_shares(&self, head: &RegressionHead, x: Tensor<2>, tokens: Tensor<2>) -> Tensor<1> {
        let [nodes, d_input] = tokens.dims();
        let prior = self
            .residual
            .then(|| tokens.clone().narrow(1, d_input - 1, 1).reshape([nodes])); // [nodes]
        let z = head.forward(Tensor::cat(vec![x, tokens], 1)); // [nodes]
        let z = match prior {
            Some(prior) => z + prior,
            None => z,
        };
        z.clamp(MIN_NODE_LN, MAX_NODE_LN)
    }

    /// The same model with setting `to`'s embedding replaced by setting `from`'s
    /// (a starting point for a setting the model has not been trained on).
    pub fn with_setting_copied(mut self, from: usize, to: usize) -> Self {
        self.devices = self.devices.map(|table| {
            table.map(|t| {
                let [settings, hidden] = t.dims();
                if from >= settings || to >= settings {
                    return t;
                }
                let row = t.clone().narrow(0, from, 1); // [1, hidden]
                t.slice_assign([to..to + 1, 0..hidden], row)
            })
        });
        self
    }

    /// The same model with its regression head frozen (no gradients): a
    /// fine-tune of it fits the setting embeddings only.
    pub fn with_head_frozen(mut self) -> Self {
        self.head = self.head.set_require_grad(false);
        self
    }

    /// The same model with one more setting, its embedding a copy of setting
    /// `from`'s: a new device's starting point. The new setting's index is the
    /// old number of settings; a model without settings is returned unchanged.
    pub fn with_setting_added(mut self, from: usize) -> Self {
        self.devices = self.devices.map(|table| {
            table.map(|t| {
                let [settings, _] = t.dims();
                let row = t.clone().narrow(0, from.min(settings.saturating_sub(1)), 1); // [1, hidden]
                Tensor::cat(vec![t, row], 0) // [settings + 1, hidden]
            })
        });
        self
    }

    /// `concat(graph sum, static branch)`.
    ///
    /// # Shapes
    /// - graph: `[batch, hidden]`, statics: `[batch, d_static]` (zeros when absent)
    /// - output: `[batch, 2 * hidden]`
    fn with_statics(&self, graph: Tensor<2>, statics: Option<Tensor<2>>) -> Tensor<2> {
        let [b, _] = graph.dims();
        let [d_static, _] = self.static_branch.weight.dims(); // Linear stores [in, out]
        let statics = statics.unwrap_or_else(|| Tensor::zeros([b, d_static], &graph.device()));
        let statics = relu(dropout(&self.dropout, self.static_branch.forward(statics))); // [batch, hidden]
        Tensor::cat(vec![graph, statics], 1)
    }

    /// # Shapes
    /// - tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`
    /// - output: `[batch, nodes, hidden]`
    fn encode_padded(&self, tokens: Tensor<3>, adjacency: Tensor<3>) -> Tensor<3> {
        let mut x = tokens;
        for layer in &self.layers {
            x = layer.forward(x, adjacency.clone()); // [batch, nodes, hidden]
        }
        for layer in &self.sage {
            x = layer.forward(x, adjacency.clone()); // [batch, nodes, hidden]
        }
        x
    }

    /// # Shapes
    /// - batch: as [`Self::embed_padded`]; output: `[batch]`, `ln(ms)`
    fn additive_padded(&self, head: &RegressionHead, batch: GraphBatch) -> Tensor<1> {
        let [b, n, d_input] = batch.tokens.dims();
        let x = self.encode_padded(batch.tokens.clone(), batch.adjacency); // [batch, nodes, hidden]
        let [_, _, hidden] = x.dims();
        let z = self.node_shares(
            head,
            x.reshape([b * n, hidden]),
            batch.tokens.reshape([b * n, d_input]),
        ); // [batch * nodes]
        let shares = z.reshape([b, n]).exp() * batch.mask; // [batch, nodes]
        shares
            .sum_dim(1)
            .clamp_min(f32::MIN_POSITIVE as f64)
            .log()
            .reshape([b])
    }

    /// # Shapes
    /// - batch: as [`FlatBatch`]; output: `[graphs]`, `ln(ms)`
    fn additive_flat(&self, head: &RegressionHead, batch: &FlatBatch) -> Tensor<1> {
        let x = self.encode_flat(batch); // [nodes, hidden]
        let z = self.node_shares(head, x, batch.tokens.clone()); // [nodes]
        let per_graph = batch.sum_per_graph(z.exp().unsqueeze_dim::<2>(1)); // [graphs, 1]
        per_graph
            .clamp_min(f32::MIN_POSITIVE as f64)
            .log()
            .reshape([batch.graphs])
    }

    /// # Shapes
    /// - batch: tokens `[nodes, d_input]`; output: `[nodes, hidden]`
    fn encode_flat(&self, batch: &FlatBatch) -> Tensor<2> {
        let mut x = batch.tokens.clone();
        for layer in &self.layers {
            x = layer.forward_flat(x, batch); // [nodes, hidden]
        }
        for layer in &self.sage {
            x = layer.forward_flat(x, batch); // [nodes, hidden]
        }
        x
    }

    /// # Shapes
    /// - batch: tokens `[batch, nodes, d_input]`, adjacency `[batch, nodes, nodes]`,
    ///   mask `[batch, nodes]`, statics `[batch, d_static]` (zeros when absent)
    /// - output: `[batch, 2 * hidden]`
    fn embed_padded(&self, batch: GraphBatch) -> Tensor<2> {
        let [b, _, _] = batch.tokens.dims();
        let x = self.encode_padded(batch.tokens, batch.adjacency);
        let [_, _, hidden] = x.dims();
        let mask = batch.mask.unsqueeze_dim::<3>(2); // [batch, nodes, 1]
        let graph = (x * mask).sum_dim(1).reshape([b, hidden]); // [batch, hidden]
        self.with_statics(graph, batch.statics)
    }

    /// # Shapes
    /// - batch: tokens `[nodes, d_input]` of `graphs` graphs, statics `[graphs, d_static]`
    /// - output: `[graphs, 2 * hidden]`
    pub fn embed(&self, batch: &FlatBatch) -> Tensor<2> {
        let x = self.encode_flat(batch);
        self.with_statics(batch.sum_per_graph(x), batch.statics.clone())
    }

    /// Single-device prediction from a padded batch (multi-device models use setting 0).
    ///
    /// # Shapes
    /// - batch: as [`GraphBatch`]; output: `[batch]`
    pub fn forward(&self, batch: GraphBatch) -> Tensor<1> {
        if let Some(head) = &self.node_head {
            return self.additive_padded(head, batch);
        }
        let embedding = self.embed_padded(batch);
        self.head_for_all(embedding)
    }

    /// Single-device prediction (multi-device models use setting 0).
    ///
    /// # Shapes
    /// - batch: `graphs` graphs; output: `[graphs]`
    pub fn forward_flat(&self, batch: &FlatBatch) -> Tensor<1> {
        if let Some(head) = &self.node_head {
            return self.additive_flat(head, batch);
        }
        let embedding = self.embed(batch);
        self.head_for_all(embedding)
    }

    fn head_for_all(&self, embedding: Tensor<2>) -> Tensor<1> {
        if self.devices.is_some() {
            let [b, _] = embedding.dims();
            let zeros = Tensor::<1, Int>::zeros([b], &embedding.device());
            let graphs = Tensor::<1, Int>::arange(0..b as i64, &embedding.device());
            return self.predict_pairs(embedding, graphs, zeros);
        }
        self.head.forward(embedding)
    }

    /// Latency of network `graph[p]` on device setting `setting[p]`, for every pair `p`.
    /// A single-device model ignores `setting`.
    ///
    /// # Shapes
    /// - embedding: `[graphs, 2 * hidden]` (from [`Self::embed`])
    /// - graph, setting: `[pairs]`
    /// - output: `[pairs]`
    pub fn predict_pairs(
        &self,
        embedding: Tensor<2>,
        graph: Tensor<1, Int>,
        setting: Tensor<1, Int>,
    ) -> Tensor<1> {
        let rows = embedding.select(0, graph); // [pairs, 2 * hidden]
        match &self.devices {
            Some(table) => {
                let settings = table.val().select(0, setting); // [pairs, hidden]
                self.head.forward(Tensor::cat(vec![rows, settings], 1))
            }
            None => self.head.forward(rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn sizes(d_input: usize, d_static: usize, hidden: usize, devices: usize) -> NetworkSizes {
        NetworkSizes {
            d_input,
            d_static,
            hidden,
            layers: 2,
            groups: if hidden.is_multiple_of(8) { 8 } else { 4 },
            dropout: 0.0,
            positive_output: true,
            devices,
            readout: Readout::Sum,
        }
    }

    #[test]
    fn paper_size_has_about_2_3_million_parameters() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        let model = V2NetworkModel::new(Encoder::V2, sizes(152, 40, 512, 0), &device);
        let params = model.num_params();
        assert!((2_200_000..2_400_000).contains(&params), "{params}");
    }

    /// A chain of `n` nodes as a padded batch of one graph.
    fn chain(n: usize, pad_to: usize, tokens: Tensor<3>, device: &Device) -> GraphBatch {
        let mut adj = vec![0.0f32; pad_to * pad_to];
        for i in 0..n - 1 {
            adj[i * pad_to + i + 1] = 1.0;
            adj[(i + 1) * pad_to + i] = 1.0;
        }
        let mask: Vec<f32> = (0..pad_to).map(|i| if i < n { 1.0 } else { 0.0 }).collect();
        GraphBatch {
            tokens,
            adjacency: Tensor::from_data(TensorData::new(adj, [1, pad_to, pad_to]), device),
            mask: Tensor::from_data(TensorData::new(mask, [1, pad_to]), device),
            statics: None,
        }
    }

    #[test]
    fn padding_does_not_change_the_prediction_and_statics_matter() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        device.seed(1);
        let model = V2NetworkModel::new(Encoder::V2, sizes(12, 4, 16, 0), &device);
        let tokens = Tensor::<3>::random([1, 5, 12], Distribution::Normal(0.0, 1.0), &device);
        let statics = Tensor::<2>::from_data(
            TensorData::new(vec![0.5f32, 1.0, -1.0, 0.2], [1, 4]),
            &device,
        );
        let mut alone = chain(5, 5, tokens.clone(), &device);
        alone.statics = Some(statics.clone());
        let a: f32 = model.forward(alone.clone()).into_scalar();
        // The same graph padded to 8 nodes with garbage pad tokens.
        let pad = Tensor::<3>::ones([1, 3, 12], &device).mul_scalar(9.0);
        let mut padded = chain(5, 8, Tensor::cat(vec![tokens, pad], 1), &device);
        padded.statics = Some(statics);
        let p: f32 = model.forward(padded).into_scalar();
        assert!((a - p).abs() <= 1e-4 * a.abs().max(1e-3), "{a} vs {p}");
        assert!(a > 0.0);
        alone.statics = Some(Tensor::from_data(
            TensorData::new(vec![3.0f32, -2.0, 1.0, 0.0], [1, 4]),
            &device,
        ));
        assert_ne!(a, model.forward(alone).into_scalar::<f32>());
    }

    /// Two chains (5 and 3 nodes) as one flat batch.
    fn flat_pair(tokens: Tensor<2>, device: &Device) -> FlatBatch {
        // chain 0: nodes 0..5, chain 1: nodes 5..8
        let mut target = Vec::new();
        let mut neighbour = Vec::new();
        for (start, len) in [(0i64, 5i64), (5, 3)] {
            for i in start..start + len - 1 {
                target.extend([i, i + 1]);
                neighbour.extend([i + 1, i]);
            }
        }
        let degree = vec![1.0f32, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 1.0];
        let e = target.len();
        FlatBatch {
            tokens,
            target: Tensor::from_data(TensorData::new(target, [e]), device),
            neighbour: Tensor::from_data(TensorData::new(neighbour, [e]), device),
            degree: Tensor::from_data(TensorData::new(degree, [8, 1]), device),
            graph_of_node: Tensor::from_data(
                TensorData::new(vec![0i64, 0, 0, 0, 0, 1, 1, 1], [8]),
                device,
            ),
            graphs: 2,
            statics: None,
        }
    }

    #[test]
    fn flat_and_padded_batches_give_the_same_predictions() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        for encoder in [Encoder::V2, Encoder::Sage] {
            device.seed(4);
            let model = V2NetworkModel::new(encoder, sizes(12, 4, 16, 0), &device);
            let tokens = Tensor::<2>::random([8, 12], Distribution::Normal(0.0, 1.0), &device);
            let flat: Vec<f32> = model
                .forward_flat(&flat_pair(tokens.clone(), &device))
                .into_data()
                .try_to_vec()
                .unwrap();
            for (k, (start, len)) in [(0, 5), (5, 3)].into_iter().enumerate() {
                let one = tokens.clone().narrow(0, start, len).unsqueeze_dim::<3>(0);
                let padded: f32 = model.forward(chain(len, len, one, &device)).into_scalar();
                let gap = (padded - flat[k]).abs() / padded.abs().max(1e-3);
                assert!(gap < 1e-4, "{encoder:?} graph {k}: {padded} vs {}", flat[k]);
            }
        }
    }

    #[test]
    fn device_settings_change_predictions_only_through_the_embedding() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        device.seed(2);
        let model = V2NetworkModel::new(Encoder::V2, sizes(12, 4, 16, 3), &device);
        let tokens = Tensor::<2>::random([8, 12], Distribution::Normal(0.0, 1.0), &device);
        let embedding = model.embed(&flat_pair(tokens, &device));
        let ints = |v: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), &device)
        };
        let predict = |graphs: Vec<i64>, settings: Vec<i64>| -> Vec<f32> {
            model
                .predict_pairs(embedding.clone(), ints(graphs), ints(settings))
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        // Every (graph, setting) pair, in one batch.
        let all = predict(vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2]);
        // Swapping the settings of a batch permutes the predictions the same way.
        let swapped = predict(vec![0, 1, 0, 1], vec![2, 1, 1, 0]);
        let expected = [all[2], all[4], all[1], all[3]];
        for (s, e) in swapped.iter().zip(expected) {
            assert!(
                (s - e).abs() <= 1e-5 * e.abs().max(1e-3),
                "{swapped:?} vs {expected:?}"
            );
        }
        // The setting matters, and a pair's prediction does not depend on its batch mates.
        assert_ne!(all[0], all[1]);
        let alone = predict(vec![1], vec![2]);
        assert!((alone[0] - all[5]).abs() <= 1e-5 * all[5].abs().max(1e-3));

        // An added setting starts as a copy of the one it was made from.
        let grown = model.clone().with_setting_added(1);
        let on_grown: Vec<f32> = grown
            .predict_pairs(embedding.clone(), ints(vec![0, 1]), ints(vec![3, 3]))
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(on_grown, vec![all[1], all[4]]);
    }

    #[test]
    fn the_residual_readout_adds_the_prior_to_each_nodes_share() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        let per_node = |readout| {
            let mut s = sizes(12, 4, 16, 0);
            s.positive_output = false;
            s.readout = readout;
            device.seed(6); // the same weights for both readouts
            let model = V2NetworkModel::new(Encoder::V2, s, &device);
            device.seed(7);
            let tokens = Tensor::<2>::random([8, 12], Distribution::Normal(0.0, 1.0), &device);
            // Each node scored as its own graph: its share is the graph's latency.
            let mut batch = flat_pair(tokens.clone(), &device);
            batch.graph_of_node = Tensor::arange(0..8, &device);
            batch.graphs = 8;
            let prior: Vec<f32> = tokens.narrow(1, 11, 1).into_data().try_to_vec().unwrap();
            let z: Vec<f32> = model.forward_flat(&batch).into_data().try_to_vec().unwrap();
            (z, prior)
        };
        let (additive, prior) = per_node(Readout::Additive);
        let (residual, _) = per_node(Readout::Residual);
        for i in 0..8 {
            let expected = additive[i] + prior[i];
            assert!(
                (residual[i] - expected).abs() < 1e-4,
                "node {i}: {} vs {expected}",
                residual[i]
            );
        }
    }

    #[test]
    fn the_additive_readout_sums_node_shares_over_a_graph() {
        let _seeded = crate::test_lock::seeded();
        let device = Device::flex();
        for encoder in [Encoder::V2, Encoder::Sage] {
            device.seed(5);
            let mut s = sizes(12, 4, 16, 0);
            s.readout = Readout::Additive;
            s.positive_output = false;
            let model = V2NetworkModel::new(encoder, s, &device);
            let tokens = Tensor::<2>::random([8, 12], Distribution::Normal(0.0, 1.0), &device);
            let two = flat_pair(tokens.clone(), &device);
            let apart: Vec<f32> = model.forward_flat(&two).into_data().try_to_vec().unwrap();
            // The two chains as one graph of two components: latencies add up.
            let mut one = two.clone();
            one.graph_of_node = Tensor::zeros([8], &device);
            one.graphs = 1;
            let together: f32 = model.forward_flat(&one).into_scalar();
            let summed = (apart[0].exp() + apart[1].exp()).ln();
            assert!(
                (together - summed).abs() < 1e-4,
                "{encoder:?}: {together} vs {summed}"
            );
            // Padded batches (garbage in the pads) agree with flat ones.
            for (k, (start, len)) in [(0, 5), (5, 3)].into_iter().enumerate() {
                let real = tokens.clone().narrow(0, start, len).unsqueeze_dim::<3>(0);
                let pad = Tensor::<3>::ones([1, 2, 12], &device).mul_scalar(9.0);
                let batch = chain(len, len + 2, Tensor::cat(vec![real, pad], 1), &device);
                let padded: f32 = model.forward(batch).into_scalar();
                assert!(
                    (padded - apart[k]).abs() < 1e-4,
                    "{encoder:?} graph {k}: {padded} vs {}",
                    apart[k]
                );
            }
        }
    }
}
