//! What [`crate::analyze`] refuses.

/// Inputs [`crate::analyze`] cannot compare.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A comparison needs a baseline and at least one other arm.
    #[error("a comparison needs at least two arms (the baseline first), got {0}")]
    TooFewArms(usize),
    /// A score is NaN or infinite (an invalid trial is `None`, not NaN).
    #[error("arm {arm:?}, trial {trial}: score {score} is not a finite number (an invalid trial has no score)")]
    NonFiniteScore {
        /// The arm's name.
        arm: String,
        /// The trial's position in the arm (1-based).
        trial: usize,
        /// The score as given.
        score: f64,
    },
}
