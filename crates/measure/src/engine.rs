//! The inference engine that runs the models: tract, in process.

use onnx_io::GraphInput;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;
use tract_onnx::prelude::*;

/// The engine's name and exact version, as recorded in a dataset's metadata.
pub const ENGINE: &str = "tract";
pub const ENGINE_VERSION: &str = "0.23.9";

/// Runs ONNX models with tract on a fixed number of threads.
#[derive(Debug)]
pub struct Tract {
    threads: usize,
}

/// How many runs one timing makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    pub warmup: usize,
    pub min: usize,
    pub max: usize,
    pub budget_ms: f64,
}

/// What one model's timing run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Runs {
    /// Loading, optimising and planning the model.
    pub load_ms: f64,
    /// One wall-clock time per timed run, in milliseconds.
    pub run_ms: Vec<f64>,
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
        Tract { threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Loads `onnx` with its inputs fixed to `inputs` (shapes and element
    /// types) and runs it `runs.warmup` times untimed, then `runs.min` times
    /// timed, then more, up to `runs.max`, while the timed runs stay within
    /// `runs.budget_ms`. Any failure, a panic inside the engine included, is
    /// the engine's message.
    pub fn time(&self, onnx: &[u8], inputs: &[GraphInput], runs: RunPlan) -> Result<Runs, String> {
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
            let tensors: Vec<Tensor> = inputs.iter().map(input_tensor).collect();
            let feed = || -> TVec<TValue> { tensors.iter().map(|t| t.clone().into()).collect() };
            for _ in 0..runs.warmup {
                model.run(feed())?;
            }
            let mut run_ms: Vec<f64> = Vec::with_capacity(runs.max);
            while run_ms.len() < runs.max.max(1) {
                let spent: f64 = run_ms.iter().sum();
                let per_run = spent / run_ms.len().max(1) as f64;
                if run_ms.len() >= runs.min && spent + per_run > runs.budget_ms {
                    break;
                }
                let input = feed();
                let start = Instant::now();
                let out = model.run(input)?;
                run_ms.push(start.elapsed().as_secs_f64() * 1e3);
                drop(out);
            }
            Ok(Runs { load_ms, run_ms })
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(runs)) => Ok(runs),
            Ok(Err(e)) => Err(format!("{e:#}").replace('\n', " ")),
            Err(panic) => Err(format!(
                "the engine panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        }
    }
}

/// A fixed input: floats in `[-1, 1)`, the same for every run of every
/// model; integer inputs (token ids, masks, lengths) all ones, valid for any
/// embedding table with two rows or more and a mask that keeps every token.
fn input_tensor(input: &GraphInput) -> Tensor {
    let shape = &input.shape;
    let n: usize = shape.iter().product();
    if !input.is_float {
        return tract_ndarray::ArrayD::from_elem(shape.to_vec(), 1i64).into();
    }
    let values: Vec<f32> = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) % 2000) as f32 / 1000.0) - 1.0)
        .collect();
    tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), values)
        .map(Tensor::from)
        .unwrap_or_else(|_| Tensor::from(0f32))
}
