//! Where each trained buffer of a fused model lives in Burn's model. The
//! gradients of a step ([`CellGradients`], [`NetworkGradients`]) and the
//! fused model's weights are lists of buffers in one order; a [`Slot`] per
//! buffer names the Burn parameter behind it, so gradients go to Burn's
//! optimiser and weights trained on the host go back into Burn's modules.

use super::{CellGradients, NetworkGradients};
use crate::fused::network::{Encoder, Readout};
use crate::fused::{Dense, FusedV2Cell, FusedV2Network, GroupLinearNorm, Layer};
use crate::grouped_ffn::GroupedLinearNorm;
use crate::layer::V2Layer;
use crate::network::V2NetworkModel;
use crate::v2::V2CellModel;
use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

/// The Burn parameter behind one buffer: its id, dims and (plain) device.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) id: ParamId,
    pub(crate) dims: Vec<usize>,
    pub(crate) device: Device,
}

/// A buffer's parameter; `None` where Burn has none (the bias of a Linear
/// or norm built without one: its fused buffer stays zero and untrained).
pub(crate) type Slots = Vec<Option<Slot>>;

fn slot<const D: usize>(param: &Param<Tensor<D>>) -> Option<Slot> {
    let tensor = param.val();
    Some(Slot {
        id: param.id,
        dims: tensor.dims().to_vec(),
        device: tensor.device().inner(),
    })
}

fn linear_slots(linear: &Linear) -> [Option<Slot>; 2] {
    [slot(&linear.weight), linear.bias.as_ref().and_then(slot)]
}

fn group_slots(g: &GroupedLinearNorm) -> [Option<Slot>; 4] {
    [
        slot(&g.weight),
        slot(&g.bias),
        slot(&g.gamma),
        slot(&g.beta),
    ]
}

/// In the order of `LayerGrad::buffers` and [`Layer::weights_mut`].
fn layer_slots(layer: &V2Layer) -> Slots {
    let mut out = Vec::new();
    for linear in [&layer.degree_gate, &layer.qk, &layer.neighbour, &layer.root] {
        out.extend(linear_slots(linear));
    }
    out.extend([
        slot(&layer.norm.gamma),
        layer.norm.beta.as_ref().and_then(slot),
        slot(&layer.layer_scale),
    ]);
    out.extend(group_slots(&layer.ffn.up));
    out.extend(group_slots(&layer.ffn.down));
    out
}

/// The parameters of a [`V2CellModel`], in the order of [`CellGradients`].
pub(crate) fn cell_slots(model: &V2CellModel) -> Slots {
    let mut out: Slots = model.layers.iter().flat_map(layer_slots).collect();
    for linear in [&model.fusion_hidden, &model.fusion_out]
        .into_iter()
        .chain(&model.head.layers)
    {
        out.extend(linear_slots(linear));
    }
    out
}

/// The trained parameters of a [`V2NetworkModel`] with the V2 encoder, in
/// the order of [`NetworkGradients`]: the layers, the sum readout's static
/// branch, and the head the readout uses.
pub(crate) fn network_slots(model: &V2NetworkModel) -> Slots {
    let mut out: Slots = model.layers.iter().flat_map(layer_slots).collect();
    if model.node_head.is_none() {
        out.extend(linear_slots(&model.static_branch));
    }
    let head = model.node_head.as_ref().unwrap_or(&model.head);
    for linear in &head.layers {
        out.extend(linear_slots(linear));
    }
    out
}

/// `buffers` (in the order of `slots`) as Burn's gradients; buffers without
/// a parameter are left out.
pub(crate) fn gradients_params(buffers: Vec<&[f32]>, slots: &[Option<Slot>]) -> GradientsParams {
    assert_eq!(buffers.len(), slots.len(), "gradients of another model");
    let mut grads = GradientsParams::new();
    for (values, slot) in buffers.into_iter().zip(slots) {
        let Some(slot) = slot else { continue };
        let data = TensorData::new(values.to_vec(), slot.dims.clone());
        match slot.dims.len() {
            1 => grads.register(slot.id, Tensor::<1>::from_data(data, &slot.device)),
            2 => grads.register(slot.id, Tensor::<2>::from_data(data, &slot.device)),
            3 => grads.register(slot.id, Tensor::<3>::from_data(data, &slot.device)),
            rank => unreachable!("the V2 models have no parameter of rank {rank}"),
        }
    }
    grads
}

impl CellGradients {
    /// The gradients keyed by `model`'s parameter ids, for Burn's optimiser.
    /// `model` must be the one the step's weights were copied from.
    pub fn into_params(self, model: &V2CellModel) -> GradientsParams {
        gradients_params(self.buffers(), &cell_slots(model))
    }
}

impl NetworkGradients {
    /// The gradients keyed by `model`'s parameter ids, for Burn's optimiser.
    /// `model` must be the one the step's weights were copied from.
    pub fn into_params(self, model: &V2NetworkModel) -> GradientsParams {
        gradients_params(self.buffers(), &network_slots(model))
    }
}

impl Dense {
    fn weights_mut(&mut self) -> [&mut [f32]; 2] {
        [&mut self.weight, &mut self.bias]
    }
}

impl GroupLinearNorm {
    fn weights_mut(&mut self) -> [&mut [f32]; 4] {
        [
            &mut self.weight,
            &mut self.bias,
            &mut self.gamma,
            &mut self.beta,
        ]
    }
}

impl Layer {
    /// Every weight buffer, in the order of [`layer_slots`].
    fn weights_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out = Vec::new();
        for dense in [
            &mut self.degree_gate,
            &mut self.qk,
            &mut self.neighbour,
            &mut self.root,
        ] {
            out.extend(dense.weights_mut());
        }
        out.extend([
            &mut self.norm_gamma[..],
            &mut self.norm_beta[..],
            &mut self.layer_scale[..],
        ]);
        out.extend(self.up.weights_mut());
        out.extend(self.down.weights_mut());
        out
    }
}

impl FusedV2Cell {
    /// Every weight buffer, in the order of [`cell_slots`].
    pub(crate) fn weights_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = self
            .layers
            .iter_mut()
            .flat_map(Layer::weights_mut)
            .collect();
        for dense in [&mut self.fusion_hidden, &mut self.fusion_out]
            .into_iter()
            .chain(&mut self.head)
        {
            out.extend(dense.weights_mut());
        }
        out
    }
}

impl FusedV2Network {
    /// Every trained weight buffer, in the order of [`network_slots`];
    /// `None` for the GraphSAGE encoder (not trained by hand).
    pub(crate) fn weights_mut(&mut self) -> Option<Vec<&mut [f32]>> {
        let Encoder::V2(layers) = &mut self.encoder else {
            return None;
        };
        let mut out: Vec<&mut [f32]> = layers.iter_mut().flat_map(Layer::weights_mut).collect();
        let head = match &mut self.readout {
            Readout::Sum {
                static_branch,
                head,
                ..
            } => {
                out.extend(static_branch.weights_mut());
                head
            }
            Readout::PerNode { head, .. } => head,
        };
        for dense in head {
            out.extend(dense.weights_mut());
        }
        Some(out)
    }
}
