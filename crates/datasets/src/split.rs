//! Seeded, disjoint train / validation / test splits.

use crate::DatasetError;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: usize,
    pub validation: usize,
}

/// Indices into a dataset. Test is every index in neither train nor validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

impl Split {
    /// Shuffles `0..len` with `seed`; the first `train` indices train, the next
    /// `validation` validate, the rest test. Disjoint by construction.
    pub fn seeded(len: usize, sizes: SplitSizes, seed: u64) -> Result<Self, DatasetError> {
        let needed = sizes.train + sizes.validation;
        if needed >= len {
            return Err(DatasetError::SplitTooLarge {
                needed: needed + 1,
                available: len,
            });
        }
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let test = order.split_off(needed);
        let validation = order.split_off(sizes.train);
        Ok(Self {
            train: order,
            validation,
            test,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn splits_are_disjoint_cover_everything_and_depend_on_the_seed() {
        let sizes = SplitSizes {
            train: 78,
            validation: 200,
        };
        let a = Split::seeded(15_625, sizes, 0).unwrap();
        assert_eq!(
            (a.train.len(), a.validation.len(), a.test.len()),
            (78, 200, 15_347)
        );
        let all: HashSet<usize> = a
            .train
            .iter()
            .chain(&a.validation)
            .chain(&a.test)
            .copied()
            .collect();
        assert_eq!(all.len(), 15_625);
        assert_eq!(a, Split::seeded(15_625, sizes, 0).unwrap());
        assert_ne!(a.train, Split::seeded(15_625, sizes, 1).unwrap().train);
    }

    #[test]
    fn too_large_split_is_an_error() {
        let sizes = SplitSizes {
            train: 10,
            validation: 5,
        };
        assert!(Split::seeded(15, sizes, 0).is_err());
    }
}
