//! Graphs held for training or scoring: encoded tokens, or the tokenizer's
//! compact form encoded when a batch needs it. A whole network of about 200
//! nodes is about 290 KB encoded (its tokens' sinusoids and a dense adjacency)
//! and about 15 KB compact, so an NNLQP-sized set fits in memory only compact.

use std::borrow::Cow;
use tokenizer::{CompactTokens, GraphTokens};

/// Graphs, each readable as [`GraphTokens`].
#[derive(Debug, Clone)]
pub enum Graphs {
    Encoded(Vec<GraphTokens>),
    /// Encoded on each read ([`CompactTokens::encode`], deterministic).
    Compact(Vec<CompactTokens>),
}

impl Graphs {
    pub fn len(&self) -> usize {
        match self {
            Graphs::Encoded(g) => g.len(),
            Graphs::Compact(g) => g.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Graph `i`, encoded. Panics when `i` is out of range, as indexing does.
    pub fn get(&self, i: usize) -> Cow<'_, GraphTokens> {
        match self {
            Graphs::Encoded(g) => Cow::Borrowed(&g[i]),
            Graphs::Compact(g) => Cow::Owned(g[i].encode()),
        }
    }

    /// The graphs at `indices`, in that order, in the same form.
    pub fn select(&self, indices: &[usize]) -> Graphs {
        match self {
            Graphs::Encoded(g) => Graphs::Encoded(indices.iter().map(|&i| g[i].clone()).collect()),
            Graphs::Compact(g) => Graphs::Compact(indices.iter().map(|&i| g[i].clone()).collect()),
        }
    }

    /// Graphs `range`, encoded (borrowed when they already are).
    pub fn encoded(&self, range: std::ops::Range<usize>) -> Cow<'_, [GraphTokens]> {
        match self {
            Graphs::Encoded(g) => Cow::Borrowed(&g[range]),
            Graphs::Compact(g) => Cow::Owned(g[range].iter().map(CompactTokens::encode).collect()),
        }
    }
}

impl From<Vec<GraphTokens>> for Graphs {
    fn from(graphs: Vec<GraphTokens>) -> Self {
        Graphs::Encoded(graphs)
    }
}

impl From<Vec<CompactTokens>> for Graphs {
    fn from(graphs: Vec<CompactTokens>) -> Self {
        Graphs::Compact(graphs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizer::{NetworkTokenizer, NetworkVocab};
    use zoo::{Family, ModelId, generate};

    #[test]
    fn compact_graphs_read_as_their_encoding() {
        let tokenizer = NetworkTokenizer::new(NetworkVocab::Extended);
        let compact: Vec<CompactTokens> = [Family::ResNet, Family::Vit, Family::AlexNet]
            .into_iter()
            .map(|family| {
                tokenizer.compact(
                    &generate(ModelId {
                        family,
                        index: 0,
                        seed: 1,
                    })
                    .graph,
                    1,
                )
            })
            .collect();
        let encoded: Vec<GraphTokens> = compact.iter().map(CompactTokens::encode).collect();
        let (held, full) = (Graphs::from(compact), Graphs::from(encoded.clone()));
        assert_eq!((held.len(), full.len()), (3, 3));
        for (i, graph) in encoded.iter().enumerate() {
            assert_eq!(held.get(i).as_ref(), graph);
            assert_eq!(full.get(i).as_ref(), graph);
        }
        let picked = held.select(&[2, 0]);
        assert!(matches!(picked, Graphs::Compact(_)));
        assert_eq!(picked.get(0).as_ref(), &encoded[2]);
        assert_eq!(held.encoded(1..3).as_ref(), &encoded[1..3]);
        assert!(matches!(full.encoded(0..2), Cow::Borrowed(_)));
    }
}
