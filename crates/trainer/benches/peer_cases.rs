//! Not a timing: writes the models and inputs that `xtask/peer.py` (the
//! batched PyTorch peer of `cargo xtask bench --peer`) loads, so that both
//! sides time the same function on the same data. Each case is two
//! SafeTensors files under `target/peer/`: `<case>.weights.safetensors` (the
//! model as Burn stores it: `SafetensorsStore`, Linear weights `[in, out]`)
//! and `<case>.data.safetensors` (the inputs, this build's predictions for
//! some of them, and the model's sizes as metadata).
//!
//! The models are the throughput bench's (`benches/throughput.rs`): the NB201
//! paper and quick cell models and the whole-network model (2 x 512) on
//! 120-node graphs, with seeded random weights.

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use graph_ir::cells::{Nb201Cell, relabelled_twin};
use model::Architecture;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizer::{CellTokenizer, CellVocab, GraphTokens, NetworkTokenizer, NetworkVocab};
use trainer::batcher::flat_batch;
use trainer::train::{TargetScaling, predict_on_this_thread};
use trainer::{Benchmark, Profile, TrainingConfig};

#[path = "common/networks.rs"]
mod networks;

/// How many inputs the peer must reproduce our predictions on.
const CHECKED: usize = 64;

/// Named little-endian tensors, as SafeTensors stores them.
#[derive(Default)]
struct Tensors {
    entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Tensors {
    fn f32(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.entries
            .push((name.into(), Dtype::F32, shape.to_vec(), bytes));
    }

    fn i64(&mut self, name: &str, values: &[i64]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.entries
            .push((name.into(), Dtype::I64, vec![values.len()], bytes));
    }

    fn write(&self, path: &Path, metadata: HashMap<String, String>) {
        let views = self.entries.iter().map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).expect("consistent tensor");
            (name.clone(), view)
        });
        safetensors::serialize_to_file(views, Some(metadata), path)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peer");
    std::fs::create_dir_all(&dir).expect("target/peer is writable");
    dir
}

fn save_weights(model: &model::CellModel, path: &Path) {
    let mut store = SafetensorsStore::from_file(path)
        .skip_enum_variants(true)
        .overwrite(true);
    model
        .save_into(&mut store)
        .unwrap_or_else(|e| panic!("cannot write {}: {e:?}", path.display()));
}

/// The sizes and training settings the peer builds its model from.
fn metadata(config: &TrainingConfig) -> HashMap<String, String> {
    let m = &config.model;
    HashMap::from([
        ("architecture".into(), format!("{:?}", m.architecture)),
        ("d_input".into(), m.d_input.to_string()),
        ("d_static".into(), m.d_static.to_string()),
        ("hidden".into(), m.hidden.to_string()),
        ("layers".into(), m.layers.to_string()),
        ("groups".into(), m.groups.to_string()),
        ("positive_output".into(), m.positive_output.to_string()),
        ("readout".into(), m.readout.to_string()),
        ("batch_size".into(), config.batch_size.to_string()),
        ("learning_rate".into(), config.learning_rate.to_string()),
        ("objective".into(), format!("{:?}", config.objective)),
        ("pairwise_weight".into(), config.pairwise_weight.to_string()),
        (
            "consistency_weight".into(),
            config.consistency_weight.to_string(),
        ),
    ])
}

/// Cells of one size stacked: tokens `[cells, n, dim]`, adjacency `[cells, n, n]`.
fn stack_cells(tensors: &mut Tensors, prefix: &str, cells: &[GraphTokens]) {
    let (n, dim) = (cells[0].n, cells[0].dim);
    assert!(cells.iter().all(|c| c.n == n && c.dim == dim));
    let features: Vec<f32> = cells.iter().flat_map(|c| c.features.clone()).collect();
    let adjacency: Vec<f32> = cells.iter().flat_map(|c| c.adjacency.clone()).collect();
    tensors.f32(
        &format!("{prefix}.tokens"),
        &[cells.len(), n, dim],
        &features,
    );
    tensors.f32(
        &format!("{prefix}.adjacency"),
        &[cells.len(), n, n],
        &adjacency,
    );
}

fn nb201_case(name: &str, profile: Profile, device: &Device) {
    let config = TrainingConfig::for_profile(profile, Benchmark::Nb201, Architecture::V2, 80, 0);
    device.seed(11);
    let model = config.model.init(device);
    let tokenizer = CellTokenizer::new(CellVocab::Nb201);
    let (cells, twins): (Vec<GraphTokens>, Vec<GraphTokens>) = (0..15_625)
        .map(|i| {
            let graph = Nb201Cell::from_index(i).to_graph();
            let twin = relabelled_twin(&graph).unwrap_or_else(|| graph.clone());
            (
                tokenizer.tokenize(&graph).expect("NB201 cells tokenize"),
                tokenizer.tokenize(&twin).expect("NB201 twins tokenize"),
            )
        })
        .unzip();
    let expected = predict_on_this_thread(
        &model,
        &cells[..CHECKED],
        &TargetScaling::IDENTITY,
        device,
        CHECKED,
    )
    .expect("scores");
    let mut tensors = Tensors::default();
    stack_cells(&mut tensors, "cells", &cells);
    stack_cells(&mut tensors, "twins", &twins[..88]);
    let expected: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
    tensors.f32("expected", &[CHECKED], &expected);
    let dir = out_dir();
    save_weights(&model, &dir.join(format!("{name}.weights.safetensors")));
    tensors.write(
        &dir.join(format!("{name}.data.safetensors")),
        metadata(&config),
    );
}

fn network_case(name: &str, nodes: usize, device: &Device) {
    let mut config = TrainingConfig::latency(Profile::Paper, 0, NetworkVocab::Extended);
    config.batch_size = 16;
    device.seed(12);
    let model = config.model.init(device);
    let tokenizer = NetworkTokenizer::new(NetworkVocab::Extended);
    let graphs: Vec<GraphTokens> = (0..32)
        .map(|seed| tokenizer.tokenize(&networks::network(nodes, seed), 1))
        .collect();
    let refs: Vec<&GraphTokens> = graphs.iter().collect();
    let expected = predict_on_this_thread(
        &model,
        &graphs,
        &TargetScaling::IDENTITY,
        device,
        graphs.len(),
    )
    .expect("scores");
    let flat = flat_batch(&refs, device);
    let floats = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_to_vec().expect("f32") };
    let ints = |t: Tensor<1, Int>| -> Vec<i64> {
        t.into_data().convert::<i64>().try_to_vec().expect("i64")
    };
    let mut tensors = Tensors::default();
    let dim = graphs[0].dim;
    tensors.f32("tokens", &[flat.nodes(), dim], &floats(flat.tokens.clone()));
    tensors.i64("target", &ints(flat.target.clone()));
    tensors.i64("neighbour", &ints(flat.neighbour.clone()));
    tensors.f32("degree", &[flat.nodes(), 1], &floats(flat.degree.clone()));
    tensors.i64("graph_of_node", &ints(flat.graph_of_node.clone()));
    let statics = flat.statics.clone().expect("whole networks have statics");
    let [g, d_static] = statics.dims();
    tensors.f32("statics", &[g, d_static], &floats(statics));
    let expected: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
    tensors.f32("expected", &[graphs.len()], &expected);
    let dir = out_dir();
    save_weights(&model, &dir.join(format!("{name}.weights.safetensors")));
    tensors.write(
        &dir.join(format!("{name}.data.safetensors")),
        metadata(&config),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let device = Device::flex();
    nb201_case("nb201_paper", Profile::Paper, &device);
    nb201_case("nb201_quick", Profile::Quick, &device);
    network_case("network_120", 120, &device);
    println!("peer cases written to {}", out_dir().display());
}
