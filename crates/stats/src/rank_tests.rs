//! Rank tests: Mann-Whitney U (with invalid trials ranked worst) and the Wilcoxon signed-rank
//! test, as SciPy defines them.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Largest arm (in trials) for which Mann-Whitney uses its exact distribution (when nothing ties).
pub const MANN_WHITNEY_EXACT_MAX: usize = 20;

/// How a Mann-Whitney p value was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MannWhitneyMethod {
    /// The exact null distribution of U (no ties, both arms ≤ 20 trials): SciPy's
    /// `method="exact"`.
    Exact,
    /// The normal approximation with tie and continuity correction: SciPy's
    /// `method="asymptotic"`, `use_continuity=True`.
    Asymptotic,
}

/// A two-sided Mann-Whitney U test of an arm against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of the arm: the number of (arm, baseline) trial pairs in which the arm's trial is better,
    /// ties counting ½ (SciPy's `statistic` with the arm as `x`, on the "better" scale).
    pub u: f64,
    /// The two-sided p value.
    pub p_value: f64,
    /// How `p_value` was computed.
    pub method: MannWhitneyMethod,
    /// P(a trial of the arm is better than one of the baseline) + ½·P(tie): `u / (n_arm ·
    /// n_baseline)`.
    pub probability_of_superiority: f64,
}

/// How well a trial did, on a scale where higher is better: its score (negated when lower is
/// better), −∞ for an invalid trial.
pub(crate) fn goodness(score: Option<f64>, higher_is_better: bool) -> f64 {
    match score {
        None => f64::NEG_INFINITY,
        Some(s) if higher_is_better => s,
        Some(s) => -s,
    }
}

/// Average ranks (1-based) of `values` (no NaN) and the sizes of their tie groups.
fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        // `==`, not `total_cmp`: 0.0 and −0.0 tie.
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        groups.push(end - start);
        start = end;
    }
    (ranks, groups)
}

/// The two-sided Mann-Whitney U test of `arm` against `baseline`, every trial counted: `None` is
/// an invalid trial, ranked worst (below every score, tied with the other invalid trials).
/// `higher_is_better` says which scores are worse. With every trial valid and
/// `higher_is_better`, this is `scipy.stats.mannwhitneyu(arm, baseline)` with `method="exact"`
/// when nothing ties and both arms have at most [`MANN_WHITNEY_EXACT_MAX`] trials, else
/// `method="asymptotic"` (tie and continuity corrected). `None` when either arm is empty.
pub fn mann_whitney(arm: &[Option<f64>], baseline: &[Option<f64>], higher_is_better: bool) -> Option<MannWhitney> {
    let (n1, n2) = (arm.len(), baseline.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let values: Vec<f64> =
        arm.iter().chain(baseline).map(|&s| goodness(s.map(|v| v + 0.0), higher_is_better)).collect();
    let (ranks, groups) = average_ranks(&values);
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let u = u1.max(u2);
    let ties = groups.iter().any(|&g| g > 1);
    let (p, method) = if !ties && n1 <= MANN_WHITNEY_EXACT_MAX && n2 <= MANN_WHITNEY_EXACT_MAX {
        (2.0 * exact_u_sf(u.round() as usize, n1, n2), MannWhitneyMethod::Exact)
    } else {
        let n = n1f + n2f;
        let tie_term: f64 = groups.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
        let s = (n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        let numerator = u - n1f * n2f / 2.0 - 0.5;
        // Everything tied: s = 0, z = −∞, SciPy's p = 2 clipped to 1.
        let p = if s > 0.0 { 2.0 * Normal::standard().sf(numerator / s) } else { 1.0 };
        (p, MannWhitneyMethod::Asymptotic)
    };
    Some(MannWhitney { u: u1, p_value: p.clamp(0.0, 1.0), method, probability_of_superiority: u1 / (n1f * n2f) })
}

/// P(U ≥ k) under the null for samples of `m` and `n` (counted exactly, then divided).
fn exact_u_sf(k: usize, m: usize, n: usize) -> f64 {
    // counts[i][j][u]: arrangements of i + j values with U = u; c(i, j, u) = c(i−1, j, u−j) +
    // c(i, j−1, u).
    let mut prev: Vec<Vec<u64>> = (0..=n).map(|_| vec![1]).collect(); // i = 0: U = 0 once
    for i in 1..=m {
        let mut cur: Vec<Vec<u64>> = Vec::with_capacity(n + 1);
        cur.push(vec![1]); // j = 0
        for j in 1..=n {
            let mut c = vec![0u64; i * j + 1];
            for (u, slot) in c.iter_mut().enumerate() {
                let from_i = if u >= j { prev[j].get(u - j).copied().unwrap_or(0) } else { 0 };
                let from_j = cur[j - 1].get(u).copied().unwrap_or(0);
                *slot = from_i + from_j;
            }
            cur.push(c);
        }
        prev = cur;
    }
    let counts = &prev[n];
    let total: u64 = counts.iter().sum();
    let tail: u64 = counts.iter().skip(k).sum();
    tail as f64 / total as f64
}

/// How a Wilcoxon signed-rank p value was computed (SciPy's `wilcoxon` default, `method="auto"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// The exact null distribution (at most 50 pairs, no zero difference, no ties).
    Exact,
    /// All 2ⁿ sign flips of the differences' (tied) ranks, counted exactly — what SciPy's
    /// permutation test does for at most 13 pairs with zeros or ties.
    ExactConditional,
    /// The normal approximation with tie correction, no continuity correction (more than 50
    /// pairs, or more than 13 with zeros or ties).
    Asymptotic,
}

/// A two-sided Wilcoxon signed-rank test on paired differences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// Pairs tested (both trials valid).
    pub pairs: usize,
    /// Pairs whose difference is not zero (zeros are dropped: `zero_method="wilcox"`).
    pub nonzero: usize,
    /// min(R₊, R₋), SciPy's two-sided `statistic`.
    pub statistic: f64,
    /// The two-sided p value; `None` when no difference is non-zero.
    pub p_value: Option<f64>,
    /// How `p_value` was computed; `None` with it.
    pub method: Option<WilcoxonMethod>,
}

/// The two-sided Wilcoxon signed-rank test of `differences` (arm − baseline per pair), as
/// `scipy.stats.wilcoxon(differences)` with its defaults (`zero_method="wilcox"`,
/// `correction=False`, `method="auto"`). `None` for no pairs.
pub fn wilcoxon(differences: &[f64]) -> Option<Wilcoxon> {
    let pairs = differences.len();
    if pairs == 0 {
        return None;
    }
    let nonzero: Vec<f64> = differences.iter().copied().filter(|&d| d != 0.0).collect();
    let zeros = pairs - nonzero.len();
    let abs: Vec<f64> = nonzero.iter().map(|d| d.abs()).collect();
    let (ranks, groups) = average_ranks(&abs);
    let r_plus: f64 = nonzero.iter().zip(&ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| r).sum();
    let r_minus: f64 = nonzero.iter().zip(&ranks).filter(|(d, _)| **d < 0.0).map(|(_, r)| r).sum();
    let statistic = r_plus.min(r_minus);
    if nonzero.is_empty() {
        return Some(Wilcoxon { pairs, nonzero: 0, statistic, p_value: None, method: None });
    }
    let ties = groups.iter().any(|&g| g > 1);
    let method = if pairs > 50 {
        WilcoxonMethod::Asymptotic
    } else if !ties && zeros == 0 {
        WilcoxonMethod::Exact
    } else if pairs <= 13 {
        WilcoxonMethod::ExactConditional
    } else {
        WilcoxonMethod::Asymptotic
    };
    let p = match method {
        WilcoxonMethod::Exact | WilcoxonMethod::ExactConditional => signed_rank_exact_p(&ranks, r_plus),
        WilcoxonMethod::Asymptotic => {
            let c = nonzero.len() as f64;
            let tie_term: f64 = groups.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
            let mn = c * (c + 1.0) * 0.25;
            let se = ((c * (c + 1.0) * (2.0 * c + 1.0) - tie_term / 2.0) / 24.0).sqrt();
            2.0 * Normal::standard().sf(((r_plus - mn) / se).abs())
        }
    };
    Some(Wilcoxon { pairs, nonzero: nonzero.len(), statistic, p_value: Some(p.clamp(0.0, 1.0)), method: Some(method) })
}

/// Two-sided p of R₊ over all sign flips of `ranks` (halves allowed): 2·min(P(T ≤ r₊),
/// P(T ≥ r₊)), counted on doubled (integral) ranks.
fn signed_rank_exact_p(ranks: &[f64], r_plus: f64) -> f64 {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let max: usize = doubled.iter().sum();
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    let mut reach = 0;
    for &r in &doubled {
        for s in (0..=reach).rev() {
            let c = counts[s];
            counts[s + r] += c;
        }
        reach += r;
    }
    let observed = (2.0 * r_plus).round() as usize;
    let total: u64 = counts.iter().sum();
    let le: u64 = counts[..=observed.min(max)].iter().sum();
    let ge: u64 = counts.iter().skip(observed).sum();
    (2.0 * le.min(ge) as f64 / total as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_u_distribution_is_symmetric_and_sums_to_one() {
        assert_eq!(exact_u_sf(0, 3, 4), 1.0);
        // U ranges over 0..=12 for 3 vs 4; P(U ≥ 7) = P(U ≤ 5).
        let upper = exact_u_sf(7, 3, 4);
        let lower = 1.0 - exact_u_sf(6, 3, 4);
        assert!((upper - lower).abs() < 1e-15);
        assert_eq!(exact_u_sf(12, 3, 4), 1.0 / 35.0);
    }

    #[test]
    fn invalid_trials_rank_below_every_score_in_both_directions() {
        let arm = [Some(1.0), Some(2.0)];
        let baseline = [None, None];
        let up = mann_whitney(&arm, &baseline, true).unwrap();
        let down = mann_whitney(&arm, &baseline, false).unwrap();
        assert_eq!(up.probability_of_superiority, 1.0);
        assert_eq!(down.probability_of_superiority, 1.0);
    }
}
