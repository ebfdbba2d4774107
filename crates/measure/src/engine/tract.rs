//! tract, in process: the engine compiled into the binary.

use super::{Engine, EngineInfo, EngineKind, InputValues, RunPlan, Runs, guarded, time_runs};
use onnx_io::GraphInput;
use std::time::Instant;
use tract_onnx::prelude::*;

/// The exact version, as recorded in a dataset's metadata (pinned in Cargo.toml).
pub const TRACT_VERSION: &str = "0.23.9";

/// Runs ONNX models with tract on a fixed number of threads.
#[derive(Debug)]
pub struct Tract {
    info: EngineInfo,
}

impl Tract {
    /// `threads` = 1 runs single-threaded; more uses tract's thread pool for
    /// matrix products (set once, for the whole process).
    pub fn new(threads: usize) -> Tract {
        let threads = threads.max(1);
        if threads > 1 {
            tract_linalg::multithread::set_default_executor(
                tract_linalg::multithread::Executor::multithread(threads),
            );
        }
        Tract {
            info: EngineInfo {
                kind: EngineKind::Tract,
                version: TRACT_VERSION.into(),
                threads,
                optimization: "into_optimized".into(),
                library: None,
                library_sha256: None,
            },
        }
    }
}

impl Engine for Tract {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn time(&self, onnx: &[u8], inputs: &[GraphInput], plan: RunPlan) -> Result<Runs, String> {
        let run = || -> TractResult<Runs> {
            let start = Instant::now();
            let mut model = tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(onnx))?;
            for (i, input) in inputs.iter().enumerate() {
                let fact = if input.is_float {
                    f32::fact(&input.shape)
                } else {
                    i64::fact(&input.shape)
                };
                model = model.with_input_fact(i, fact.into())?;
            }
            let model = model.into_optimized()?.into_runnable()?;
            let load_ms = start.elapsed().as_secs_f64() * 1e3;
            let tensors: Vec<Tensor> = inputs.iter().map(tensor).collect::<TractResult<_>>()?;
            // tract consumes its inputs: each run gets a copy, made untimed.
            let feed = || -> TVec<TValue> { tensors.iter().map(|t| t.clone().into()).collect() };
            let run_ms = time_runs(plan, feed, |input| model.run(input).map(drop))?;
            Ok(Runs { load_ms, run_ms })
        };
        guarded(|| run().map_err(|e| format!("{e:#}").replace('\n', " ")))
    }
}

fn tensor(input: &GraphInput) -> TractResult<Tensor> {
    let shape = input.shape.to_vec();
    Ok(match InputValues::of(input) {
        InputValues::Float(v) => tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into(),
        InputValues::Int(v) => tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into(),
    })
}
