//! Properties the statistics must have whatever the data: swapping the arms mirrors the
//! interval and keeps the p values; the order of the trials does not matter when the arms are
//! compared independently; a change of unit (a positive factor) changes nothing relative.

use harnessgym_stats::{Arm, Comparison, Options, Statistics, Trial, analyze};
use proptest::prelude::*;

use super::support::close;

/// Scores with two decimals in (0, 1000], so that scaling cannot create or break a tie.
fn score() -> impl Strategy<Value = f64> {
    (1u32..100_000).prop_map(|c| f64::from(c) / 100.0)
}

fn trial() -> impl Strategy<Value = Trial> {
    (prop::option::weighted(0.85, score()), any::<bool>()).prop_map(|(score, solved)| Trial { score, solved })
}

fn arm(name: &str, trials: Vec<Trial>) -> Arm {
    Arm { name: name.to_owned(), trials }
}

/// Two arms of 1..16 trials each, some invalid.
fn arms() -> impl Strategy<Value = (Vec<Trial>, Vec<Trial>)> {
    (prop::collection::vec(trial(), 1..16), prop::collection::vec(trial(), 1..16))
}

/// Two arms of the same length with every trial valid (the paired bootstrap).
fn paired_arms() -> impl Strategy<Value = (Vec<Trial>, Vec<Trial>)> {
    (1usize..16).prop_flat_map(|n| {
        let valid = || (score(), any::<bool>()).prop_map(|(s, solved)| Trial { score: Some(s), solved });
        (prop::collection::vec(valid(), n), prop::collection::vec(valid(), n))
    })
}

fn run(baseline: &[Trial], other: &[Trial], higher_is_better: bool) -> Comparison {
    let options = Options { higher_is_better, seed: 7 };
    let stats: Statistics =
        analyze(&[arm("plain", baseline.to_vec()), arm("harnessed", other.to_vec())], &options).unwrap();
    stats.comparisons.into_iter().next().unwrap()
}

fn check_swap(a: &[Trial], b: &[Trial], higher_is_better: bool) -> Result<(), TestCaseError> {
    let forward = run(a, b, higher_is_better);
    let back = run(b, a, higher_is_better);
    match (&forward.effect, &back.effect) {
        (Some(f), Some(r)) => {
            prop_assert_eq!(f.kind, r.kind);
            prop_assert_eq!(f.paired, r.paired);
            let (fi, ri) = match (f.log_ratio_ci, r.log_ratio_ci) {
                (Some(fi), Some(ri)) => (fi, ri),
                _ => (f.ci, r.ci),
            };
            // Exact: the bootstrap is built to mirror under a swap.
            prop_assert_eq!(fi.low, -ri.high);
            prop_assert_eq!(fi.high, -ri.low);
        }
        (None, None) => {}
        _ => prop_assert!(false, "effect defined one way only"),
    }
    let p = |c: &Comparison| c.mann_whitney.as_ref().map(|m| m.p_value);
    prop_assert_eq!(p(&forward), p(&back));
    if let (Some(f), Some(r)) = (&forward.mann_whitney, &back.mann_whitney) {
        prop_assert!(close(f.probability_of_superiority, 1.0 - r.probability_of_superiority));
    }
    prop_assert_eq!(forward.fisher_p, back.fisher_p);
    let wp = |c: &Comparison| c.wilcoxon.as_ref().and_then(|w| w.p_value);
    prop_assert_eq!(wp(&forward), wp(&back));
    Ok(())
}

proptest! {
    #[test]
    fn swapping_independent_arms_mirrors_the_interval_and_keeps_p((a, b) in arms(), hib in any::<bool>()) {
        check_swap(&a, &b, hib)?;
    }

    #[test]
    fn swapping_paired_arms_mirrors_the_interval_and_keeps_p((a, b) in paired_arms(), hib in any::<bool>()) {
        check_swap(&a, &b, hib)?;
        prop_assert!(run(&a, &b, hib).effect.unwrap().paired);
    }

    #[test]
    fn permuting_trials_of_independent_arms_changes_nothing(
        (a, b) in arms(),
        hib in any::<bool>(),
        rot_a in 0usize..16,
        rot_b in 0usize..16,
        reverse in any::<bool>(),
    ) {
        let mut pa = a.clone();
        let mut pb = b.clone();
        let (la, lb) = (pa.len(), pb.len());
        pa.rotate_left(rot_a % la);
        pb.rotate_left(rot_b % lb);
        if reverse {
            pa.reverse();
        }
        let mut before = run(&a, &b, hib);
        let mut after = run(&pa, &pb, hib);
        prop_assume!(!before.effect.as_ref().is_some_and(|e| e.paired));
        prop_assume!(!after.effect.as_ref().is_some_and(|e| e.paired));
        // Wilcoxon is about the pairs, which a permutation changes by definition.
        before.wilcoxon = None;
        after.wilcoxon = None;
        prop_assert_eq!(before, after);
    }

    #[test]
    fn permuting_pairs_together_changes_nothing((a, b) in arms(), hib in any::<bool>(), rot in 0usize..16, reverse in any::<bool>()) {
        let n = a.len().min(b.len());
        let (mut pa, mut pb) = (a[..n].to_vec(), b[..n].to_vec());
        pa.rotate_left(rot % n);
        pb.rotate_left(rot % n);
        if reverse {
            pa.reverse();
            pb.reverse();
        }
        prop_assert_eq!(run(&a[..n], &b[..n], hib), run(&pa, &pb, hib));
    }

    #[test]
    fn scaling_every_score_keeps_the_relative_change_and_p(
        (a, b) in arms(),
        hib in any::<bool>(),
        factor in prop::sample::select(vec![0.001, 0.37, 2.0, 3.5, 1000.0]),
    ) {
        let scale = |t: &[Trial]| t.iter().map(|t| Trial { score: t.score.map(|s| s * factor), ..*t }).collect::<Vec<_>>();
        let before = run(&a, &b, hib);
        let after = run(&scale(&a), &scale(&b), hib);
        let p = |c: &Comparison| c.mann_whitney.as_ref().map(|m| m.p_value);
        prop_assert_eq!(p(&before), p(&after));
        prop_assert_eq!(before.p_adjusted, after.p_adjusted);
        prop_assert_eq!(before.verdict, after.verdict);
        if let (Some(x), Some(y)) = (&before.effect, &after.effect) {
            // Logs of scaled scores differ in the last bits: equal to 1e-9 on the log scale.
            let near = |u: f64, v: f64| (u - v).abs() <= 1e-9;
            prop_assert!(near(x.log_ratio.unwrap(), y.log_ratio.unwrap()));
            let (xi, yi) = (x.log_ratio_ci.unwrap(), y.log_ratio_ci.unwrap());
            prop_assert!(near(xi.low, yi.low) && near(xi.high, yi.high), "{:?} vs {:?}", xi, yi);
        }
        if let (Some(x), Some(y)) = (before.minimum_detectable_change, after.minimum_detectable_change) {
            prop_assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0));
        }
    }
}
