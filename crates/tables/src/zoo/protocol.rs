//! The zoo table's protocol: the configs of its two learned models, and the
//! per-family scoring of a split's test rows (in domain: a tenth of each family
//! held out; leave one family out: NNLQP's "unseen structure").

use serde::{Deserialize, Serialize};
use tokenizer::NetworkVocab;
use trainer::metrics::LatencyScores;
use trainer::zoo::ZooData;
use trainer::{Benchmark, Profile, TrainingConfig};

/// The configs of the zoo table's learned models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZooProtocol {
    pub profile: Profile,
    pub vocab: NetworkVocab,
    pub v2: TrainingConfig,
    /// V2 with the additive readout on tokens with node costs
    /// ([`TrainingConfig::additive`]).
    pub v2_additive: TrainingConfig,
    /// V2 additive around the kernel-level baseline ([`TrainingConfig::residual`]).
    pub v2_residual: TrainingConfig,
    pub gnn: TrainingConfig,
}

impl ZooProtocol {
    pub fn for_profile(profile: Profile) -> Self {
        // HardSwish, LayerNorm, Erf, ... are outside the reference vocabulary.
        let vocab = NetworkVocab::Extended;
        // Latencies span two to three orders of magnitude across families.
        let v2 = TrainingConfig::log_latency(profile, Benchmark::Nnlqp, vocab);
        let gnn = v2.gnn_baseline();
        let v2_additive = v2.additive();
        let v2_residual = v2.residual();
        Self {
            profile,
            vocab,
            v2,
            v2_additive,
            v2_residual,
            gnn,
        }
    }

    /// The layout the zoo is tokenised in: every model's is a prefix of it.
    pub fn data_vocab(&self) -> NetworkVocab {
        self.v2_additive
            .network
            .as_ref()
            .map_or(self.vocab, |network| network.vocab)
    }

    /// The config of a learned model kind.
    pub fn config(&self, kind: super::Kind) -> Option<&TrainingConfig> {
        match kind {
            super::Kind::V2 => Some(&self.v2),
            super::Kind::V2Additive => Some(&self.v2_additive),
            super::Kind::V2Residual => Some(&self.v2_residual),
            super::Kind::Gnn => Some(&self.gnn),
            super::Kind::Regression => None,
        }
    }

    /// Caps both models' epochs ([`TrainingConfig::cap_epochs`]).
    pub fn cap_epochs(&mut self, cap: usize) {
        self.v2.cap_epochs(cap);
        self.v2_additive.cap_epochs(cap);
        self.v2_residual.cap_epochs(cap);
        self.gnn.cap_epochs(cap);
    }
}

/// Test scores of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyScores {
    pub family: String,
    pub scores: LatencyScores,
}

/// Scores of `predictions` of the test rows, per family in first-seen order.
pub fn per_family(data: &ZooData, test: &[usize], predictions: &[f64]) -> Vec<FamilyScores> {
    data.families()
        .into_iter()
        .filter_map(|family| {
            let (p, y): (Vec<f64>, Vec<f64>) = test
                .iter()
                .zip(predictions)
                .filter(|(r, _)| data.labels.rows[**r].family == family)
                .map(|(&r, &p)| (p, data.labels.rows[r].latency_ms))
                .unzip();
            (!y.is_empty()).then(|| FamilyScores {
                family,
                scores: LatencyScores::of(&p, &y),
            })
        })
        .collect()
}
