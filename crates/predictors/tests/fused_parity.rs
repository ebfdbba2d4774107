//! The bundled predictors are trained whole-network models: on them, the
//! fused inference path (what `narformer predict` runs) predicts what Burn's
//! modules predict, within 1e-5 relative, on the published architectures
//! committed as fixtures.

use burn::prelude::Device;
use std::path::Path;
use trainer::train::predict_on_this_thread;

#[test]
fn every_bundled_predictor_scores_the_fixtures_as_burn_does() {
    let device = Device::flex();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx");
    let options = onnx_io::ImportOptions::default();
    let predictors = predictors::all().expect("the bundled predictors list");
    assert!(!predictors.is_empty());
    for predictor in predictors {
        let run = predictor.load(&device).expect("a bundled predictor loads");
        let inputs: Vec<_> = ["resnet18", "mobilenetv3", "vit_small", "googlenet"]
            .iter()
            .map(|name| {
                run.tokenize_onnx(&fixtures.join(format!("{name}.onnx")), &options)
                    .expect("a fixture imports")
            })
            .collect();
        let fused = run.predict_networks(&inputs).expect("predicts");
        let tokens: Vec<_> = inputs.iter().map(|i| i.tokens.clone()).collect();
        let burn = predict_on_this_thread(&run.model, &tokens, &run.scaling, &device, 16)
            .expect("Burn predicts");
        for ((f, b), input) in fused.iter().zip(&burn).zip(&inputs) {
            assert!(
                (f - b).abs() <= 1e-5 * b.abs(),
                "{}: {}: fused {f} ms, Burn {b} ms",
                predictor.id(),
                input.source.display()
            );
        }
    }
}
