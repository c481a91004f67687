//! Statistics for comparing agents (plain vs harnessed): per-arm descriptives, the relative
//! change with a seeded bootstrap interval, rank tests, Holm's adjustment and a verdict
//! sentence. Used by `harnessgym compare`, whose report's `statistics` block is
//! [`Statistics`] serialized.
//!
//! The design (docs/decisions.md, "Statistics"):
//! - trials are the units; trial `i` of every arm forms a pair; the first arm is the baseline;
//! - an invalid trial (no score) is unsolved, is left out of the descriptives and the effect,
//!   and ranks worst in the primary test (Mann-Whitney U, two-sided);
//! - the effect is the ratio of geometric means − 1 when every valid score is > 0, else the
//!   difference of means, with a percentile bootstrap 95% interval ([`RESAMPLES`] resamples,
//!   seeded);
//! - secondary tests: Wilcoxon signed-rank on the valid pairs, Fisher's exact test on the solved
//!   counts; more than one comparison: Holm-adjusted primary p values;
//! - a verdict only with p < 0.05 and an interval that excludes no change, and at least
//!   [`MIN_VALID_FOR_VERDICT`] valid trials per arm.
//!
//! The tests' p values follow SciPy's definitions and are pinned against SciPy in the tests.
//!
//! This crate is pure: no I/O, no processes, no clock. The same inputs and seed give the same
//! outputs.

#![warn(missing_docs)]

mod bootstrap;
mod compare;
pub mod descriptive;
mod error;
pub mod fisher;
pub mod power;
pub mod rank_tests;
mod rng;
mod verdict;

use serde::{Deserialize, Serialize};

pub use bootstrap::RESAMPLES;
pub use compare::{
    ArmSummary, Comparison, Effect, EffectKind, MIN_VALID_FOR_VERDICT, SIGNIFICANCE, Statistics, analyze, holm,
};
pub use descriptive::Interval;
pub use error::StatsError;
pub use verdict::Verdict;

/// One trial of an arm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The trial's score; `None` for an invalid trial (no score).
    pub score: Option<f64>,
    /// Whether the trial solved the task (an invalid trial counts as unsolved whatever this says).
    pub solved: bool,
}

/// One arm (agent set-up) of a comparison: its name and its trials, in trial order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// The arm's name (`plain`, `harnessed`), used in the verdict sentence.
    pub name: String,
    /// Its trials; trial `i` of every arm forms a pair.
    pub trials: Vec<Trial>,
}

/// How to compare.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Whether a higher score is better (else lower is).
    pub higher_is_better: bool,
    /// The bootstrap's seed.
    pub seed: u64,
}

/// Shuffles `items` in place (Fisher-Yates) with the same generator as the bootstrap, so a
/// compare's trial order is reproducible from its seed across releases.
pub fn seeded_shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = rng::Rng::seeded(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// `x` when it is a finite number.
pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_seeded_shuffle_is_a_permutation_and_the_seed_decides_it(n in 0usize..40, seed in any::<u64>()) {
            let mut a: Vec<usize> = (0..n).collect();
            let mut b = a.clone();
            super::seeded_shuffle(&mut a, seed);
            super::seeded_shuffle(&mut b, seed);
            prop_assert_eq!(&a, &b);
            let mut sorted = a.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn different_seeds_give_different_orders() {
        let orders: std::collections::HashSet<Vec<usize>> = (0..20)
            .map(|seed| {
                let mut v: Vec<usize> = (0..6).collect();
                super::seeded_shuffle(&mut v, seed);
                v
            })
            .collect();
        assert!(orders.len() > 10, "{orders:?}");
    }
}
