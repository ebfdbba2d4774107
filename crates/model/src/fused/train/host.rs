//! Training with the weights held on the host between steps: the fused
//! model, its Adam moments ([`HostAdam`]) and where each buffer lives in
//! Burn's model ([`Slots`]). A step computes the gradients by hand and
//! updates the weights in place; Burn's modules and optimiser state are
//! written only when asked (validation, snapshots, the end of a run), where
//! a step through Burn copies every weight out of the modules, runs Adam as
//! a chain of tensor ops and builds new modules.

use super::StepDropout;
use super::adam::{AdamSettings, HostAdam, OptimizerStateError};
use super::params::{Slots, cell_slots, network_slots};
use crate::cell::CellModel;
use crate::fused::{CellChunk, FlatGraphs, FusedV2Cell, FusedV2Network};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::TensorData;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum HostModel {
    Cell(FusedV2Cell),
    Network(FusedV2Network),
}

impl HostModel {
    fn weights_mut(&mut self) -> Vec<&mut [f32]> {
        match self {
            HostModel::Cell(cell) => cell.weights_mut(),
            HostModel::Network(network) => network
                .weights_mut()
                .expect("only V2-encoder networks are trained on the host"),
        }
    }
}

/// A model trained on the host: see the module docs.
#[derive(Debug, Clone)]
pub struct HostTraining {
    model: HostModel,
    slots: Slots,
    adam: HostAdam,
}

/// What a step of a [`HostTraining`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostInput {
    /// Padded cells ([`CellChunk`]).
    Cells,
    /// Flat graphs ([`FlatGraphs`]).
    Flat,
}

impl HostTraining {
    /// `model` (on an autodiff device) and the state of Burn's Adam
    /// `optim` moved to the host; `None` for a model without a hand-written
    /// step (the baselines, multi-setting and GraphSAGE models).
    pub fn of(
        model: &CellModel,
        optim: &ModuleOptimizer,
        settings: AdamSettings,
    ) -> Option<Result<Self, OptimizerStateError>> {
        let (model, slots) = match model {
            CellModel::V2(v2) => (HostModel::Cell(FusedV2Cell::of(v2)), cell_slots(v2)),
            CellModel::V2Network(network) => {
                let fused = FusedV2Network::of(network).filter(FusedV2Network::trains_by_hand)?;
                (HostModel::Network(fused), network_slots(network))
            }
            _ => return None,
        };
        let mut model = model;
        let sizes: Vec<usize> = model.weights_mut().iter().map(|w| w.len()).collect();
        Some(
            HostAdam::from_burn(settings, optim, &sizes, &slots).map(|adam| HostTraining {
                model,
                slots,
                adam,
            }),
        )
    }

    /// What [`Self::step_cells`] or [`Self::step_flat`] reads.
    pub fn input(&self) -> HostInput {
        match self.model {
            HostModel::Cell(_) => HostInput::Cells,
            HostModel::Network(_) => HostInput::Flat,
        }
    }

    /// One step of the cell model on `chunk`: the loss `loss` gives for the
    /// predictions, and, when it is finite, Adam's update at rate `lr`.
    /// `None` for a whole-network model.
    pub fn step_cells(
        &mut self,
        chunk: CellChunk<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
        lr: f64,
    ) -> Option<f32> {
        let HostModel::Cell(cell) = &self.model else {
            return None;
        };
        let (value, grads) = cell.train_step(chunk, dropout, loss);
        if value.is_finite() {
            self.adam
                .step(self.model.weights_mut(), grads.buffers(), lr);
        }
        Some(value)
    }

    /// [`Self::step_cells`] for the whole-network model on flat graphs
    /// (`None` for a cell model).
    pub fn step_flat(
        &mut self,
        graphs: FlatGraphs<'_>,
        dropout: Option<StepDropout>,
        loss: impl FnOnce(&[f32]) -> (f32, Vec<f32>),
        lr: f64,
    ) -> Option<f32> {
        let HostModel::Network(network) = &self.model else {
            return None;
        };
        let (value, grads) = network.train_step(graphs, dropout, loss)?;
        if value.is_finite() {
            self.adam
                .step(self.model.weights_mut(), grads.buffers(), lr);
        }
        Some(value)
    }

    /// `model` (the one this was made from, or its later form) with the
    /// weights trained here.
    pub fn write_into(&mut self, model: CellModel) -> CellModel {
        let weights = self.model.weights_mut();
        let values: HashMap<ParamId, &[f32]> = self
            .slots
            .iter()
            .zip(weights)
            .filter_map(|(slot, w)| Some((slot.as_ref()?.id, &*w)))
            .collect();
        model.map(&mut WriteBack { values })
    }

    /// Burn's Adam holding the moments trained here (for a snapshot).
    pub fn optimizer(&self) -> Result<ModuleOptimizer, OptimizerStateError> {
        self.adam.to_burn(&self.slots)
    }
}

/// Replaces each parameter's value by its host weights (same device, same
/// gradient requirement).
struct WriteBack<'a> {
    values: HashMap<ParamId, &'a [f32]>,
}

impl ModuleMapper for WriteBack<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(values) = self.values.get(&param.id) else {
            return param;
        };
        param.map(|tensor| {
            let data = TensorData::new(values.to_vec(), tensor.shape());
            let fresh = Tensor::<D>::from_data(data, &tensor.device());
            if tensor.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
