//! The residual readout's prior ([`model::Readout::Residual`]): each node's
//! cost under the kernel-level additive baseline, `ln` ms, appended to its
//! token. A residual run keeps the baseline it was trained on in its run
//! directory (`prior.json`), with what the labels' engine prunes, so that a
//! network it never saw gets the same prior.

use crate::TrainError;
use crate::regression::KernelAdditive;
use graph_ir::Graph;
use graph_ir::kernels::{KernelTotals, Pruning};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokenizer::GraphTokens;

/// Where a residual run keeps its [`KernelPrior`].
pub const PRIOR_FILE: &str = "prior.json";

/// A node with no kernel costs `exp(NO_KERNEL_LN)` ms under the prior:
/// nothing, whatever the head adds (it is clamped).
pub const NO_KERNEL_LN: f32 = -30.0;
/// A kernel costs at least `exp(MIN_KERNEL_LN)` ms (1e-5) under the prior,
/// so a class the baseline priced at zero can still be corrected upwards.
pub const MIN_KERNEL_LN: f32 = -11.5;

/// The baseline a residual run's prior comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelPrior {
    /// What the engine of the training labels leaves out of a run.
    pub pruning: Pruning,
    pub baseline: KernelAdditive,
}

impl KernelPrior {
    /// The prior of each node, in token order, from its kernel
    /// ([`graph_ir::kernels::node_kernels`]).
    pub fn column(&self, node_kernels: &[Option<(String, KernelTotals)>]) -> Vec<f32> {
        node_kernels
            .iter()
            .map(|kernel| match kernel {
                Some((class, totals)) => {
                    (self.baseline.kernel_cost(class, *totals).ln() as f32).max(MIN_KERNEL_LN)
                }
                None => NO_KERNEL_LN,
            })
            .collect()
    }

    /// `tokens` (of `graph`, in its topological order) with the prior appended
    /// to each; an error if the two do not have one row per node.
    pub fn append_to(&self, graph: &Graph, tokens: GraphTokens) -> Result<GraphTokens, TrainError> {
        let kernels = graph_ir::kernels::node_kernels(graph, self.pruning);
        if kernels.len() != tokens.n {
            return Err(TrainError::InvalidConfig(format!(
                "the prior has {} nodes but the tokens {}",
                kernels.len(),
                tokens.n
            )));
        }
        Ok(tokens.with_column(&self.column(&kernels)))
    }

    pub fn write(&self, run_dir: &Path) -> Result<(), TrainError> {
        Ok(sysio::write_json(&run_dir.join(PRIOR_FILE), self)?)
    }

    /// The prior a run directory holds.
    pub fn read(run_dir: &Path) -> Result<KernelPrior, TrainError> {
        let path = run_dir.join(PRIOR_FILE);
        let prior: KernelPrior = sysio::read_json(&path)?;
        prior.checked(&path)
    }

    /// A prior held in memory (a bundled predictor's `prior.json`); `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<KernelPrior, TrainError> {
        let prior: KernelPrior =
            serde_json::from_str(text).map_err(|source| sysio::FileError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        prior.checked(path)
    }

    fn checked(self, path: &Path) -> Result<KernelPrior, TrainError> {
        self.baseline
            .check()
            .map_err(|problem| TrainError::run_dir(path, problem))?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regression::Kernels;

    fn kernels(count: u64, flops: u64) -> Kernels {
        let totals = KernelTotals {
            count,
            flops,
            memory: 2 * flops,
        };
        Kernels::from([("Conv/kxk".to_string(), totals)])
    }

    #[test]
    fn a_prior_reads_back_as_written_and_a_damaged_one_is_refused() {
        let rows = [kernels(1, 1_000), kernels(2, 5_000), kernels(4, 9_000)];
        let train: Vec<&Kernels> = rows.iter().collect();
        let prior = KernelPrior {
            pruning: Pruning::Constants,
            baseline: KernelAdditive::fit(&train, &[1.0, 3.0, 6.0], 0.0),
        };
        let dir = tempfile::tempdir().unwrap();
        prior.write(dir.path()).unwrap();
        let back = KernelPrior::read(dir.path()).unwrap();
        assert_eq!(back, prior);
        let node = Some(("Conv/kxk".to_string(), rows[1]["Conv/kxk"]));
        let column = back.column(&[node, None]);
        let expected = prior.baseline.kernel_cost("Conv/kxk", rows[1]["Conv/kxk"]);
        assert!((column[0] - (expected.ln() as f32).max(MIN_KERNEL_LN)).abs() < 1e-6);
        assert_eq!(column[1], NO_KERNEL_LN);

        let mut json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&prior).unwrap()).unwrap();
        json["baseline"]["weights"] = serde_json::json!([1.0]);
        let err = KernelPrior::from_json(&json.to_string(), Path::new("p/prior.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p/prior.json") && err.contains("coefficients"),
            "{err}"
        );
        json["baseline"]["weights"] = serde_json::json!(null);
        assert!(KernelPrior::from_json(&json.to_string(), Path::new("prior.json")).is_err());
    }
}
