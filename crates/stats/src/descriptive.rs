//! Per-arm descriptives: mean, sample sd, numpy's linear quantiles, and the Wilson interval of a
//! proportion.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::finite;

/// A two-sided interval `[low, high]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The lower end.
    pub low: f64,
    /// The upper end.
    pub high: f64,
}

impl Interval {
    /// Whether the interval lies entirely above or entirely below `value`.
    pub fn excludes(&self, value: f64) -> bool {
        self.low > value || self.high < value
    }
}

/// Descriptives of the valid scores of a sample; every field is `None` when it is undefined (no
/// valid score; `sd` below two) or would not be a finite number.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptives {
    /// The arithmetic mean.
    pub mean: Option<f64>,
    /// The sample standard deviation (divisor n − 1).
    pub sd: Option<f64>,
    /// The median.
    pub median: Option<f64>,
    /// The first quartile (numpy's default linear interpolation).
    pub q1: Option<f64>,
    /// The third quartile (numpy's default linear interpolation).
    pub q3: Option<f64>,
    /// `q3 − q1`.
    pub iqr: Option<f64>,
    /// The smallest score.
    pub min: Option<f64>,
    /// The largest score.
    pub max: Option<f64>,
}

/// The descriptives of `values` (finite numbers, any order: sums run over the sorted values, so
/// the order never shows, not even in the last bit).
pub fn describe(values: &[f64]) -> Descriptives {
    let sorted = sorted(values);
    let q1 = quantile_sorted(&sorted, 0.25);
    let q3 = quantile_sorted(&sorted, 0.75);
    Descriptives {
        mean: mean(&sorted),
        sd: sample_sd(&sorted),
        median: quantile_sorted(&sorted, 0.5),
        q1,
        q3,
        iqr: q1.zip(q3).and_then(|(a, b)| finite(b - a)),
        min: sorted.first().copied(),
        max: sorted.last().copied(),
    }
}

/// `values` in ascending order.
pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The arithmetic mean; `None` for no values or an overflow.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    finite(values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample variance (divisor n − 1, two-pass); `None` below two values.
pub(crate) fn sample_variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    finite(values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (values.len() - 1) as f64)
}

/// The sample standard deviation (divisor n − 1); `None` below two values.
pub fn sample_sd(values: &[f64]) -> Option<f64> {
    sample_variance(values).map(f64::sqrt)
}

/// The `p` quantile (`0 ≤ p ≤ 1`) of ascending `sorted` values, numpy's default
/// (`method="linear"`): the value at position `(n − 1)·p`, interpolated between its neighbours.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = last as f64 * p;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    finite(lerp(sorted[lo], sorted[hi], h - lo as f64))
}

/// numpy's `_lerp`: `a + (b − a)·t`, computed from `b` when `t ≥ ½` (exact at both ends).
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// The Wilson score interval (95%) of `successes` out of `n`, as statsmodels'
/// `proportion_confint(successes, n, alpha=0.05, method="wilson")` (clipped to `[0, 1]`);
/// `None` when `n` is 0.
pub fn wilson_interval(successes: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let q = successes as f64 / n_f;
    let crit = Normal::standard().inverse_cdf(0.975);
    let crit2 = crit * crit;
    let denom = 1.0 + crit2 / n_f;
    let center = (q + crit2 / (2.0 * n_f)) / denom;
    let dist = crit * (q * (1.0 - q) / n_f + crit2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(Interval { low: (center - dist).clamp(0.0, 1.0), high: (center + dist).clamp(0.0, 1.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        let d = describe(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(d.median, Some(2.5));
        assert_eq!(d.q1, Some(1.75));
        assert_eq!(d.q3, Some(3.25));
        assert_eq!(d.iqr, Some(1.5));
        assert_eq!((d.min, d.max), (Some(1.0), Some(4.0)));
    }

    #[test]
    fn one_value_has_no_sd_and_none_has_nothing() {
        let d = describe(&[5.0]);
        assert_eq!((d.mean, d.sd, d.median, d.iqr), (Some(5.0), None, Some(5.0), Some(0.0)));
        assert_eq!(describe(&[]), Descriptives::default());
    }
}
