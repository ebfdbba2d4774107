//! One nested [`TrainingConfig`] describes a run; it is saved as `config.json`
//! beside the checkpoint, so one file reproduces the run.

use model::CellModelConfig;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    Nb201,
}

impl FromStr for Benchmark {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nb201" => Ok(Benchmark::Nb201),
            other => Err(format!("unknown benchmark {other:?} (known: nb201)")),
        }
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Benchmark::Nb201 => "nb201",
        })
    }
}

/// Hyper-parameter profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The reference recipe (SPEC section 5): 6 layers, hidden 512, 1000 epochs,
    /// batch 8, lr 1e-4, ratio-MSE. Meant for a GPU.
    Paper,
    /// Sized for a 2-core CPU (one 781-cell NB201 run in about 15 minutes);
    /// its loss and sizes were chosen on validation data (docs/results/quick-profile.md).
    Quick,
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Profile::Paper),
            "quick" => Ok(Profile::Quick),
            other => Err(format!("unknown profile {other:?} (known: paper, quick)")),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Paper => "paper",
            Profile::Quick => "quick",
        })
    }
}

/// What the model regresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The reference: `mean((pred / y - 1)^2)` on raw labels, positive (softplus) output.
    RatioMse,
    /// MSE on labels standardised with the training set's mean and std, linear output.
    StandardizedMse,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingConfig {
    pub benchmark: Benchmark,
    pub profile: Profile,
    pub train_size: usize,
    pub validation_size: usize,
    pub seed: u64,
    pub model: CellModelConfig,
    pub objective: Objective,
    pub learning_rate: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Share of all iterations spent warming the learning rate up.
    pub warmup_fraction: f64,
    /// Weight of the pairwise-difference loss.
    pub pairwise_weight: f64,
    /// Weight of the consistency loss against the relabelled twin.
    pub consistency_weight: f64,
    /// Validate (and maybe checkpoint) every this many epochs, and after the last.
    pub eval_every: usize,
}

impl TrainingConfig {
    pub fn for_profile(
        profile: Profile,
        benchmark: Benchmark,
        train_size: usize,
        seed: u64,
    ) -> Self {
        let paper = Self {
            benchmark,
            profile,
            train_size,
            validation_size: 200,
            seed,
            model: CellModelConfig::new(),
            objective: Objective::RatioMse,
            learning_rate: 1e-4,
            epochs: 1000,
            batch_size: 8,
            warmup_fraction: 0.1,
            pairwise_weight: 0.1,
            consistency_weight: 0.5,
            eval_every: 10,
        };
        match profile {
            Profile::Paper => paper,
            Profile::Quick => Self {
                model: CellModelConfig::new()
                    .with_hidden(128)
                    .with_layers(3)
                    .with_positive_output(false),
                objective: Objective::StandardizedMse,
                learning_rate: 1e-3,
                epochs: 300,
                batch_size: 32,
                eval_every: 5,
                ..paper
            },
        }
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<(), String> {
        let positive = self.model.positive_output;
        match (self.objective, positive) {
            (Objective::RatioMse, false) => {
                return Err("ratio_mse needs model.positive_output = true".into());
            }
            (Objective::StandardizedMse, true) => {
                return Err("standardized_mse needs model.positive_output = false".into());
            }
            _ => {}
        }
        if self.train_size < 2 || self.batch_size == 0 || self.epochs == 0 || self.eval_every == 0 {
            return Err(
                "train_size >= 2, batch_size, epochs and eval_every >= 1 are required".into(),
            );
        }
        if self.model.groups == 0 || !self.model.hidden.is_multiple_of(self.model.groups) {
            return Err(format!(
                "model.hidden {} is not a multiple of model.groups {}",
                self.model.hidden, self.model.groups
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(format!(
                "learning_rate {} must be positive",
                self.learning_rate
            ));
        }
        Ok(())
    }
}
