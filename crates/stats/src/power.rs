//! The minimum detectable relative change.

use statrs::distribution::{ContinuousCDF, Normal};

use crate::descriptive::{sample_variance, sorted};
use crate::finite;

/// Two-sided significance level of the minimum detectable change.
pub const MDE_ALPHA: f64 = 0.05;
/// Power of the minimum detectable change.
pub const MDE_POWER: f64 = 0.80;

/// The smallest relative change (ratio of geometric means − 1, an increase; the matching
/// decrease is `1/(1 + x) − 1`) that a two-sided test at α = 0.05 detects with 80% power, by the
/// normal approximation on the log scale: `exp((z₀.₉₇₅ + z₀.₈₀) · s · √(1/n₁ + 1/n₂)) − 1`, where
/// `s` is the pooled sd of the logs of both arms' valid scores. `None` unless every score is > 0
/// and each arm has at least two.
pub fn minimum_detectable_change(baseline: &[f64], arm: &[f64]) -> Option<f64> {
    if baseline.len() < 2 || arm.len() < 2 || baseline.iter().chain(arm).any(|&x| x <= 0.0) {
        return None;
    }
    let logs = |v: &[f64]| sorted(&v.iter().map(|x| x.ln()).collect::<Vec<_>>());
    let (lb, la) = (logs(baseline), logs(arm));
    let (n1, n2) = (lb.len() as f64, la.len() as f64);
    let pooled = ((n1 - 1.0) * sample_variance(&lb)? + (n2 - 1.0) * sample_variance(&la)?) / (n1 + n2 - 2.0);
    let z = Normal::standard();
    let delta = (z.inverse_cdf(1.0 - MDE_ALPHA / 2.0) + z.inverse_cdf(MDE_POWER))
        * pooled.sqrt()
        * (1.0 / n1 + 1.0 / n2).sqrt();
    finite(delta.exp_m1())
}
