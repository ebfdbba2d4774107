//! Adam on host buffers, as Burn's `Adam` computes it (burn-optim's
//! `adam.rs`: the same moments, bias corrections and operation order), in
//! one pass over each weight, its gradient and its two moments, split over
//! the cores. Burn's optimiser runs each of those operations as a tensor op
//! of its own (a fresh buffer per op) on weights copied out of and back into
//! the modules every step. The moments convert to and from Burn's optimiser
//! state ([`ModuleOptimizer`]) for snapshots, so a run resumes on either path.

use super::params::Slot;
use crate::fused::on_parts;
use burn::optim::{AdamConfig, ModuleOptimizer, OptimizerRecord};
use burn::store::burn_pack::{self, Bytes, DType, Reader, Scalar, Writer};
use std::collections::HashMap;

/// Adam's constants, as Burn's `AdamConfig` takes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

impl AdamSettings {
    /// Burn's optimiser with these constants.
    pub fn burn(&self) -> ModuleOptimizer {
        AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .init()
    }
}

/// Why Burn's optimiser state and the host moments could not be converted.
#[derive(Debug)]
pub enum OptimizerStateError {
    Pack(burn_pack::Error),
    Record(burn::store::RecordError),
    /// A state that does not fit the model (another model's, or damaged).
    Mismatch(String),
}

impl std::fmt::Display for OptimizerStateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptimizerStateError::Pack(e) => write!(f, "optimiser state: {e}"),
            OptimizerStateError::Record(e) => write!(f, "optimiser state: {e}"),
            OptimizerStateError::Mismatch(problem) => {
                write!(f, "optimiser state does not fit the model: {problem}")
            }
        }
    }
}

impl std::error::Error for OptimizerStateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OptimizerStateError::Pack(e) => Some(e),
            OptimizerStateError::Record(e) => Some(e),
            OptimizerStateError::Mismatch(_) => None,
        }
    }
}

/// One parameter's moments; `time` counts its steps (0: none yet, as Burn
/// has no state for it).
#[derive(Debug, Clone)]
struct Moments {
    time: usize,
    first: Vec<f32>,
    second: Vec<f32>,
}

/// Adam's state for every buffer of a fused model (empty for a buffer
/// without a Burn parameter, which is never updated).
#[derive(Debug, Clone)]
pub(crate) struct HostAdam {
    settings: AdamSettings,
    moments: Vec<Moments>,
}

/// Elements per piece of work handed to a core.
const PIECE: usize = 1 << 15;

impl HostAdam {
    /// Zero moments for buffers of `sizes` (their parameters in `slots`).
    fn new(settings: AdamSettings, sizes: &[usize], slots: &[Option<Slot>]) -> Self {
        let moments = sizes
            .iter()
            .zip(slots)
            .map(|(&len, slot)| {
                let len = if slot.is_some() { len } else { 0 };
                Moments {
                    time: 0,
                    first: vec![0.0; len],
                    second: vec![0.0; len],
                }
            })
            .collect();
        HostAdam { settings, moments }
    }

    /// One step at learning rate `lr`: every weight with a parameter moves
    /// by Adam's update of its gradient.
    pub(crate) fn step(&mut self, weights: Vec<&mut [f32]>, grads: Vec<&[f32]>, lr: f64) {
        assert_eq!(
            weights.len(),
            self.moments.len(),
            "weights of another model"
        );
        assert_eq!(
            grads.len(),
            self.moments.len(),
            "gradients of another model"
        );
        let AdamSettings {
            beta_1,
            beta_2,
            epsilon,
        } = self.settings;
        let lr = lr as f32;
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let mut parts: Vec<Vec<Piece<'_>>> = (0..threads).map(|_| Vec::new()).collect();
        let mut next = 0;
        for ((w, g), m) in weights.into_iter().zip(grads).zip(&mut self.moments) {
            if m.first.is_empty() {
                continue;
            }
            assert_eq!(w.len(), m.first.len(), "a weight of another size");
            m.time += 1;
            // As Burn: the bias corrections fold into one factor on the first
            // moment and a scaled epsilon.
            let time = m.time as i32;
            let correction_2 = (1.0 - beta_2.powi(time)).sqrt();
            let factor = correction_2 / (1.0 - beta_1.powi(time));
            let epsilon = epsilon * correction_2;
            let pieces = w
                .chunks_mut(PIECE)
                .zip(g.chunks(PIECE))
                .zip(m.first.chunks_mut(PIECE).zip(m.second.chunks_mut(PIECE)));
            for ((w, g), (first, second)) in pieces {
                parts[next % threads].push(Piece {
                    w,
                    g,
                    first,
                    second,
                    factor,
                    epsilon,
                });
                next += 1;
            }
        }
        let (keep_1, keep_2) = (1.0 - beta_1, 1.0 - beta_2);
        on_parts(parts, |pieces| {
            for p in pieces {
                for (((w, g), m), v) in p.w.iter_mut().zip(p.g).zip(p.first).zip(p.second) {
                    *m = *m * beta_1 + g * keep_1;
                    *v = *v * beta_2 + (g * g) * keep_2;
                    *w -= (*m * p.factor) / (v.sqrt() + p.epsilon) * lr;
                }
            }
        });
    }

    /// Burn's optimiser holding these moments (parameters that took no step
    /// have no state, as in Burn).
    pub(crate) fn to_burn(
        &self,
        slots: &[Option<Slot>],
    ) -> Result<ModuleOptimizer, OptimizerStateError> {
        let mut tensors = Vec::new();
        let mut scalars = Vec::new();
        for (slot, m) in slots.iter().zip(&self.moments) {
            let Some(slot) = slot.as_ref().filter(|_| m.time > 0) else {
                continue;
            };
            let id = slot.id.val();
            for (name, values) in [("moment_1", &m.first), ("moment_2", &m.second)] {
                tensors.push(burn_pack::Tensor::new(
                    format!("{id}.momentum.{name}"),
                    DType::F32,
                    slot.dims.clone(),
                    Some(id),
                    Bytes::from_elems(values.clone()),
                ));
            }
            scalars.push((format!("{id}.{RANK}"), Scalar::UInt(slot.dims.len() as u64)));
            scalars.push((format!("{id}.{TIME}"), Scalar::UInt(m.time as u64)));
        }
        let mut writer = Writer::new(tensors);
        for (key, value) in &scalars {
            writer = writer.with_scalar(key, *value);
        }
        let bytes = writer.into_bytes().map_err(OptimizerStateError::Pack)?;
        let record = OptimizerRecord::from_bytes(bytes).map_err(OptimizerStateError::Record)?;
        Ok(self.settings.burn().load_record(record))
    }

    /// The moments of Burn's optimiser `optim` for buffers of `sizes` (their
    /// parameters in `slots`); zero for parameters it has no state for.
    pub(crate) fn from_burn(
        settings: AdamSettings,
        optim: &ModuleOptimizer,
        sizes: &[usize],
        slots: &[Option<Slot>],
    ) -> Result<Self, OptimizerStateError> {
        let mut adam = HostAdam::new(settings, sizes, slots);
        let record = optim.to_record();
        if record.is_empty() {
            return Ok(adam);
        }
        let bytes = record.into_bytes().map_err(OptimizerStateError::Record)?;
        let reader = Reader::from_bytes(bytes).map_err(OptimizerStateError::Pack)?;
        let index: HashMap<u64, usize> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s.as_ref()?.id.val(), i)))
            .collect();
        let mismatch = |problem: String| OptimizerStateError::Mismatch(problem);
        for (key, value) in reader.scalars() {
            let Some(id) = key.strip_suffix(&format!(".{TIME}")) else {
                continue;
            };
            let at = id.parse().ok().and_then(|id: u64| index.get(&id));
            let (Some(&at), Ok(time)) = (at, usize::try_from(*value)) else {
                return Err(mismatch(format!("step count {key} = {value:?}")));
            };
            adam.moments[at].time = time;
        }
        for tensor in reader.into_tensors().map_err(OptimizerStateError::Pack)? {
            let (name, dtype, _, param_id, bytes) =
                tensor.into_parts().map_err(OptimizerStateError::Pack)?;
            let at = param_id.and_then(|id| index.get(&id));
            let (Some(&at), DType::F32) = (at, dtype) else {
                return Err(mismatch(format!("{name} ({dtype:?})")));
            };
            let m = &mut adam.moments[at];
            let into = match name.rsplit('.').next() {
                Some("moment_1") => &mut m.first,
                Some("moment_2") => &mut m.second,
                _ => return Err(mismatch(format!("unknown state {name}"))),
            };
            let values = f32s(&bytes)
                .ok_or_else(|| mismatch(format!("{name}: not a whole number of f32s")))?;
            if values.len() != into.len() {
                return Err(mismatch(format!(
                    "{name}: {} values for a parameter of {}",
                    values.len(),
                    into.len()
                )));
            }
            *into = values;
        }
        Ok(adam)
    }
}

/// Burn's names of a parameter's rank and Adam step count (`{id}.{name}`).
const RANK: &str = "__rank";
const TIME: &str = "momentum.time";

/// One core's share of a step: a stretch of one weight.
struct Piece<'a> {
    w: &'a mut [f32],
    g: &'a [f32],
    first: &'a mut [f32],
    second: &'a mut [f32],
    factor: f32,
    epsilon: f32,
}

/// Little-endian bytes (as Burn writes them) as f32s, or `None` when they
/// are not a whole number of them.
fn f32s(bytes: &[u8]) -> Option<Vec<f32>> {
    let chunks = bytes.chunks_exact(4);
    chunks.remainder().is_empty().then(|| {
        chunks
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}
