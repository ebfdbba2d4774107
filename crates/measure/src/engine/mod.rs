//! The inference engines that run the models: tract (pure Rust, in process)
//! and ONNX Runtime (its shared library opened at run time), behind one
//! trait, timed the same way.

mod onnxruntime;
mod tract;

pub use onnxruntime::{OnnxRuntime, OrtError};
pub use tract::{TRACT_VERSION, Tract};

use onnx_io::GraphInput;
use serde::{Deserialize, Serialize};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// The engines `measure` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Tract,
    Ort,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Tract, EngineKind::Ort];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Tract => "tract",
            EngineKind::Ort => "ort",
        }
    }

    /// The `PlatformId` of this engine's labels at `threads` threads.
    pub fn platform(self, threads: usize) -> String {
        format!("cpu-{}-{threads}t", self.name())
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EngineKind::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine '{s}' (known: tract, ort)"))
    }
}

/// What a dataset records about the engine that timed it: what it is, its
/// exact version, its settings, and for a loaded library the file's SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub kind: EngineKind,
    pub version: String,
    pub threads: usize,
    /// The graph optimisation applied before timing (it decides what is
    /// fused, so what a latency means).
    pub optimization: String,
    /// The shared library opened, for an engine that is not compiled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_sha256: Option<String>,
}

impl EngineInfo {
    pub fn platform(&self) -> String {
        self.kind.platform(self.threads)
    }
}

/// The engine of `kind` at `threads` threads; ONNX Runtime's library is
/// `ort_library` or the first found (see [`OnnxRuntime::new`]).
pub fn open_engine(
    kind: EngineKind,
    threads: usize,
    ort_library: Option<&std::path::Path>,
) -> Result<Box<dyn Engine>, OrtError> {
    Ok(match kind {
        EngineKind::Tract => Box::new(Tract::new(threads)),
        EngineKind::Ort => Box::new(OnnxRuntime::new(threads, ort_library)?),
    })
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

/// An engine that loads a model and times runs of it.
pub trait Engine {
    fn info(&self) -> &EngineInfo;

    /// Loads `onnx` with its inputs fixed to `inputs` (shapes and element
    /// types) and times it by `plan` ([`time_runs`]). Any failure, a panic
    /// inside the engine included, is the engine's message.
    fn time(&self, onnx: &[u8], inputs: &[GraphInput], plan: RunPlan) -> Result<Runs, String>;
}

/// Runs `run` `plan.warmup` times untimed, then `plan.min` times timed, then
/// more, up to `plan.max`, while the timed runs stay within `plan.budget_ms`.
/// Each run's input comes from `feed`, outside the timed span. The same loop
/// for every engine, so their timings mean the same thing.
pub fn time_runs<I, E>(
    plan: RunPlan,
    mut feed: impl FnMut() -> I,
    mut run: impl FnMut(I) -> Result<(), E>,
) -> Result<Vec<f64>, E> {
    for _ in 0..plan.warmup {
        run(feed())?;
    }
    let mut run_ms: Vec<f64> = Vec::with_capacity(plan.max);
    while run_ms.len() < plan.max.max(1) {
        let spent: f64 = run_ms.iter().sum();
        let per_run = spent / run_ms.len().max(1) as f64;
        if run_ms.len() >= plan.min && spent + per_run > plan.budget_ms {
            break;
        }
        let input = feed();
        let start = Instant::now();
        run(input)?;
        run_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(run_ms)
}

/// `work`'s result, with a panic inside it turned into an error message.
pub(crate) fn guarded<T>(work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
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

/// A fixed input's values: floats in `[-1, 1)`, the same for every run of
/// every model and engine; integer inputs (token ids, masks, lengths) all
/// ones, valid for any embedding table with two rows or more and a mask that
/// keeps every token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputValues {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

impl InputValues {
    pub(crate) fn of(input: &GraphInput) -> InputValues {
        let n: usize = input.shape.iter().product();
        if !input.is_float {
            return InputValues::Int(vec![1; n]);
        }
        InputValues::Float(
            (0..n)
                .map(|i| ((i.wrapping_mul(2_654_435_761) % 2000) as f32 / 1000.0) - 1.0)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_stops_at_the_budget_after_the_minimum() {
        let plan = RunPlan {
            warmup: 1,
            min: 2,
            max: 10,
            budget_ms: 0.0,
        };
        let mut calls = 0;
        let runs = time_runs::<_, ()>(
            plan,
            || (),
            |()| {
                calls += 1;
                Ok(())
            },
        )
        .expect("runs");
        assert_eq!((runs.len(), calls), (2, 3));
        let failing = time_runs(plan, || (), |()| Err::<(), _>("boom"));
        assert_eq!(failing, Err("boom"));
    }

    #[test]
    fn engines_parse_and_name_their_platforms() {
        assert_eq!("ort".parse::<EngineKind>(), Ok(EngineKind::Ort));
        assert!("onnx".parse::<EngineKind>().is_err());
        assert_eq!(EngineKind::Tract.platform(1), "cpu-tract-1t");
    }
}
