//! `narformer predict` on one ONNX file, end to end after the checkpoint is
//! loaded: parse + shape inference, tokenise, model forward (paper-size
//! whole-network model, 2 layers x 512). Run: `cargo bench -p trainer --bench predict_onnx`.
//! The file is `$NARFORMER_DATA/onnx/resnet18-v1-7-no-weight.onnx`, else the
//! committed torchvision ResNet-18 fixture.

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::Duration;
use tokenizer::{NetworkTokenizer, NetworkVocab};
use trainer::train::{Scoring, TargetScaling, predict_with};
use trainer::{Profile, TrainingConfig};

/// The allocator the `narformer` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn model_file() -> PathBuf {
    let shared = std::env::var_os("NARFORMER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("onnx/resnet18-v1-7-no-weight.onnx");
    if shared.is_file() {
        shared
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx/resnet18.onnx")
    }
}

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let vocab = NetworkVocab::Extended;
    let config = TrainingConfig::latency(Profile::Paper, 0, vocab);
    let model = config.model.init(&device);
    // The checkpoint is loaded and made ready to score once, as a loaded run is.
    let scoring = Scoring::of(&model);
    let path = model_file();
    let options = onnx_io::ImportOptions::default();
    let mut group = c.benchmark_group("predict_onnx");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("resnet18_end_to_end", |b| {
        b.iter(|| {
            let imported = onnx_io::read_file(&path, &options).expect("imports");
            let tokens = NetworkTokenizer::new(vocab).tokenize(&imported.graph, 1);
            predict_with(
                &model,
                &scoring,
                &[tokens],
                &TargetScaling::IDENTITY,
                &device,
                1,
            )
            .expect("predicts")
        })
    });
    group.bench_function("resnet18_parse_and_tokenize", |b| {
        b.iter(|| {
            let imported = onnx_io::read_file(&path, &options).expect("imports");
            NetworkTokenizer::new(vocab).tokenize(&imported.graph, 1)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
