use harnessgym_stats::{Arm, Options, Trial};

/// Equal within 1e-9 relative; values SciPy gives as exactly 0 (a clipped Wilson end) within
/// 1e-15 absolute.
pub fn close(actual: f64, expected: f64) -> bool {
    let diff = (actual - expected).abs();
    diff <= 1e-9 * actual.abs().max(expected.abs()) || diff <= 1e-15
}

#[track_caller]
pub fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(close(actual, expected), "{what}: got {actual:e}, SciPy says {expected:e}");
}

/// An arm of valid trials, solved when the score is even.
pub fn arm(name: &str, scores: &[Option<f64>]) -> Arm {
    Arm {
        name: name.to_owned(),
        trials: scores
            .iter()
            .map(|&score| Trial { score, solved: score.is_some_and(|s| s.rem_euclid(2.0) < 1.0) })
            .collect(),
    }
}

pub fn valid(scores: &[f64]) -> Vec<Option<f64>> {
    scores.iter().copied().map(Some).collect()
}

pub const LOWER: Options = Options { higher_is_better: false, seed: 42 };
