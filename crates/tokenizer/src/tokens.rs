//! Tokenised graphs: [`GraphTokens`] (features, adjacency, statics).

use serde::{Deserialize, Serialize};

/// A tokenised graph: one feature row per node (in node-id order) and the
/// symmetric 0/1 adjacency the models attend over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphTokens {
    /// Number of nodes.
    pub n: usize,
    /// Width of each token.
    pub dim: usize,
    /// Row-major `[n, dim]`.
    pub features: Vec<f32>,
    /// Row-major `[n, n]`, `A + A^T` of the DAG, no self-loops.
    pub adjacency: Vec<f32>,
    /// Graph-level static feature (whole networks: 40 values; cells: empty).
    #[serde(default)]
    pub statics: Vec<f32>,
}

impl GraphTokens {
    /// Row `i` of the features.
    pub fn token(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }

    /// The same graph with each token cut to its first `dim` features (a
    /// layout whose tokens are a prefix of this one's, e.g. `extended` of
    /// `extended-costs`); `dim` at least `self.dim` changes nothing.
    pub fn with_token_dim(&self, dim: usize) -> GraphTokens {
        if dim >= self.dim {
            return self.clone();
        }
        GraphTokens {
            n: self.n,
            dim,
            features: (0..self.n)
                .flat_map(|i| self.token(i)[..dim].iter().copied())
                .collect(),
            adjacency: self.adjacency.clone(),
            statics: self.statics.clone(),
        }
    }

    /// The same graph with `column[i]` appended to token `i` (one value per
    /// node; missing values are 0).
    pub fn with_column(self, column: &[f32]) -> GraphTokens {
        let dim = self.dim + 1;
        let features = (0..self.n)
            .flat_map(|i| {
                let extra = column.get(i).copied().unwrap_or(0.0);
                self.token(i).iter().copied().chain(std::iter::once(extra))
            })
            .collect();
        GraphTokens {
            n: self.n,
            dim,
            features,
            adjacency: self.adjacency,
            statics: self.statics,
        }
    }
}

/// `A + A^T` of a directed adjacency, as 0/1 floats (no self-loops in a DAG).
pub(crate) fn symmetric_adjacency(n: usize, directed: &[bool]) -> Vec<f32> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if directed[i * n + j] || directed[j * n + i] {
                a[i * n + j] = 1.0;
            }
        }
    }
    a
}
