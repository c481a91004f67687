//! The seeded percentile bootstrap of a difference of means (of log scores: the log ratio of
//! geometric means; or of raw scores).
//!
//! Designed so that the interval does not depend on the order of the trials, and so that
//! swapping the two arms negates it exactly (`[a, b]` becomes `[−b, −a]`, bit for bit):
//! - Paired (every pair valid): the per-pair differences are sorted and resampled in
//!   antithetic pairs (Hall, 1989): each draw of positions `i` is used together with its mirror
//!   `n − 1 − i`. Swapping the arms negates and reverses the sorted differences, which maps
//!   each draw's mean onto the negated mean of its mirror.
//! - Independent arms: each arm's values are sorted, and the arms are taken in a canonical order
//!   (fewer values first, then the lexicographically smaller list), so each arm receives the
//!   same index draws whichever of them is the baseline. With equal sizes the second resample of
//!   each pair exchanges the two arms' draws (which makes identical arms exactly symmetric).
//! - The percentiles are numpy's linear ones, the upper one computed from the top of the sorted
//!   resamples exactly as the lower one from the bottom.

use std::cmp::Ordering;

use crate::descriptive::lerp;
use crate::rng::Rng;

/// Resamples drawn for every bootstrap interval.
pub const RESAMPLES: usize = 10_000;

/// The bootstrap's 95% percentile interval of `mean(arm) − mean(baseline)`: over the pairwise
/// differences when `paired` (`arm` and `baseline` of equal length, aligned), else over the
/// arms resampled independently. `None` when either side is empty (or `paired` with different
/// lengths).
pub(crate) fn percentile_interval(baseline: &[f64], arm: &[f64], paired: bool, seed: u64) -> Option<(f64, f64)> {
    if baseline.is_empty() || arm.is_empty() {
        return None;
    }
    let mut rng = Rng::seeded(seed);
    let mut stats = Vec::with_capacity(RESAMPLES);
    if paired {
        if baseline.len() != arm.len() {
            return None;
        }
        let mut d: Vec<f64> = arm.iter().zip(baseline).map(|(h, b)| h - b).collect();
        d.sort_by(f64::total_cmp);
        let n = d.len();
        let mut draw = vec![0usize; n];
        while stats.len() < RESAMPLES {
            for slot in &mut draw {
                *slot = rng.below(n);
            }
            stats.push(mean_at(&d, draw.iter().copied()));
            stats.push(mean_at(&d, draw.iter().map(|&i| n - 1 - i)));
        }
    } else {
        let mut b = baseline.to_vec();
        let mut h = arm.to_vec();
        b.sort_by(f64::total_cmp);
        h.sort_by(f64::total_cmp);
        // The arm that draws first; the statistic keeps its sign (arm − baseline).
        let arm_first = canonical_cmp(&h, &b) != Ordering::Greater;
        let (first, second) = if arm_first { (&h, &b) } else { (&b, &h) };
        let sign_diff = |mf: f64, ms: f64| if arm_first { mf - ms } else { ms - mf };
        let mut i_draw = vec![0usize; first.len()];
        let mut j_draw = vec![0usize; second.len()];
        let same_size = first.len() == second.len();
        while stats.len() < RESAMPLES {
            for slot in &mut i_draw {
                *slot = rng.below(first.len());
            }
            for slot in &mut j_draw {
                *slot = rng.below(second.len());
            }
            stats.push(sign_diff(mean_at(first, i_draw.iter().copied()), mean_at(second, j_draw.iter().copied())));
            if same_size {
                stats.push(sign_diff(mean_at(first, j_draw.iter().copied()), mean_at(second, i_draw.iter().copied())));
            }
        }
    }
    stats.truncate(RESAMPLES);
    stats.sort_by(f64::total_cmp);
    Some(percentile_pair(&stats, 0.025))
}

/// Fewer values first, then lexicographic (by `total_cmp`).
fn canonical_cmp(a: &[f64], b: &[f64]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().zip(b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal))
}

/// The mean of `values` at `positions`, summed in the positions' order.
fn mean_at(values: &[f64], positions: impl ExactSizeIterator<Item = usize>) -> f64 {
    let count = positions.len() as f64;
    positions.map(|i| values[i]).sum::<f64>() / count
}

/// numpy's linear `p` and `1 − p` percentiles of ascending `sorted` (non-empty), the upper one
/// computed from the top exactly as the lower one from the bottom.
fn percentile_pair(sorted: &[f64], p: f64) -> (f64, f64) {
    let last = sorted.len() - 1;
    let h = last as f64 * p;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    let t = h - lo as f64;
    (lerp(sorted[lo], sorted[hi], t), lerp(sorted[last - lo], sorted[last - hi], t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_pair_matches_numpy_linear() {
        let v: Vec<f64> = (0..10_000).map(f64::from).collect();
        // numpy.percentile(range(10000), [2.5, 97.5]) = [249.975, 9749.025]
        let (lo, hi) = percentile_pair(&v, 0.025);
        assert!((lo - 249.975).abs() < 1e-9 && (hi - 9749.025).abs() < 1e-9, "{lo} {hi}");
    }

    #[test]
    fn swapping_identical_independent_arms_gives_a_symmetric_interval() {
        let x = [1.0, 2.0, 4.0, 8.0];
        let (a, b) = percentile_interval(&x, &x, false, 3).unwrap();
        assert_eq!(a, -b);
    }
}
