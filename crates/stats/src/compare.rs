//! The comparison of every arm with the baseline.

use serde::{Deserialize, Serialize};

use crate::bootstrap::{RESAMPLES, percentile_interval};
use crate::descriptive::{Descriptives, Interval, describe, mean, sorted, wilson_interval};
use crate::fisher::fisher_exact;
use crate::power::minimum_detectable_change;
use crate::rank_tests::{MannWhitney, Wilcoxon, mann_whitney, wilcoxon};
use crate::verdict::Verdict;
use crate::{Arm, Options, StatsError, finite};

/// Fewest valid trials per arm for a verdict.
pub const MIN_VALID_FOR_VERDICT: usize = 4;
/// Significance level of the verdict (two-sided, on the Holm-adjusted Mann-Whitney p).
pub const SIGNIFICANCE: f64 = 0.05;

/// The `statistics` block of a compare report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// Whether a higher score is better.
    pub higher_is_better: bool,
    /// The bootstrap's seed.
    pub seed: u64,
    /// Resamples per bootstrap interval.
    pub resamples: usize,
    /// Every arm, the baseline first.
    pub arms: Vec<ArmSummary>,
    /// Every other arm compared with the baseline, in the arms' order.
    pub comparisons: Vec<Comparison>,
}

/// One arm's trials summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The arm's name.
    pub name: String,
    /// Trials.
    pub n: usize,
    /// Trials with a score.
    pub valid: usize,
    /// Trials without one.
    pub invalid: usize,
    /// Descriptives of the valid scores.
    #[serde(flatten)]
    pub scores: Descriptives,
    /// Solved trials (an invalid trial is unsolved).
    pub solved: usize,
    /// `solved / n`; `None` without trials.
    pub solved_rate: Option<f64>,
    /// The solved rate's Wilson 95% interval; `None` without trials.
    pub solved_rate_ci: Option<Interval>,
}

/// What the effect measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    /// Ratio of geometric means − 1 (every valid score of both arms is > 0).
    Relative,
    /// Difference of means, arm − baseline, in the score's unit.
    Absolute,
}

/// The arm's change against the baseline, over valid scores, with its bootstrap interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Relative or absolute.
    pub kind: EffectKind,
    /// The change: a fraction (−0.189 = −18.9%) when relative, else in the score's unit.
    pub estimate: f64,
    /// Its 95% percentile bootstrap interval.
    pub ci: Interval,
    /// `ln(geometric mean of the arm / geometric mean of the baseline)`; relative only.
    pub log_ratio: Option<f64>,
    /// The bootstrap interval of `log_ratio` (what was resampled); relative only.
    pub log_ratio_ci: Option<Interval>,
    /// Whether pairs were resampled together (both arms have the same number of trials, none
    /// invalid), else the arms independently.
    pub paired: bool,
}

/// One arm compared with the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The arm's name.
    pub arm: String,
    /// The baseline's name.
    pub baseline: String,
    /// Trials of the baseline.
    pub baseline_n: usize,
    /// Trials of the arm.
    pub arm_n: usize,
    /// Valid trials of the baseline.
    pub baseline_valid: usize,
    /// Valid trials of the arm.
    pub arm_valid: usize,
    /// Median of the arm's valid scores − the baseline's.
    pub median_difference: Option<f64>,
    /// The change and its interval; `None` when an arm has no valid score.
    pub effect: Option<Effect>,
    /// The primary test, every trial ranked (invalid ones worst); `None` when an arm has no
    /// trial.
    pub mann_whitney: Option<MannWhitney>,
    /// The Mann-Whitney p value Holm-adjusted across the comparisons with the baseline (equal to
    /// it with one comparison): the p the verdict uses.
    pub p_adjusted: Option<f64>,
    /// How many comparisons the Holm adjustment spans (1: `p_adjusted` is the raw p).
    pub adjusted_across: usize,
    /// Wilcoxon signed-rank on the pairs whose trials are both valid; `None` without such a pair.
    pub wilcoxon: Option<Wilcoxon>,
    /// Fisher's exact test (two-sided) on solved vs unsolved trials of both arms.
    pub fisher_p: f64,
    /// The minimum detectable relative change at α = 0.05 (two-sided) with 80% power (see
    /// [`crate::power::minimum_detectable_change`]).
    pub minimum_detectable_change: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Compare every arm after the first with the first (the baseline).
///
/// # Errors
/// Fewer than two arms; a score that is not a finite number.
pub fn analyze(arms: &[Arm], options: &Options) -> Result<Statistics, StatsError> {
    if arms.len() < 2 {
        return Err(StatsError::TooFewArms(arms.len()));
    }
    for arm in arms {
        for (i, t) in arm.trials.iter().enumerate() {
            if let Some(score) = t.score.filter(|s| !s.is_finite()) {
                return Err(StatsError::NonFiniteScore { arm: arm.name.clone(), trial: i + 1, score });
            }
        }
    }
    let summaries: Vec<ArmSummary> = arms.iter().map(summarize).collect();
    let baseline = &arms[0];
    let mut comparisons: Vec<Comparison> = arms[1..].iter().map(|arm| compare(baseline, arm, options)).collect();
    let raw: Vec<Option<f64>> = comparisons.iter().map(|c| c.mann_whitney.as_ref().map(|m| m.p_value)).collect();
    let across = raw.iter().flatten().count();
    for (c, p) in comparisons.iter_mut().zip(holm(&raw)) {
        c.p_adjusted = p;
        c.adjusted_across = across;
        c.verdict = Verdict::decide(c, options.higher_is_better);
    }
    Ok(Statistics {
        higher_is_better: options.higher_is_better,
        seed: options.seed,
        resamples: RESAMPLES,
        arms: summaries,
        comparisons,
    })
}

/// The valid scores of an arm, −0.0 read as 0.0.
fn valid_scores(arm: &Arm) -> Vec<f64> {
    arm.trials.iter().filter_map(|t| t.score.map(|s| s + 0.0)).collect()
}

fn summarize(arm: &Arm) -> ArmSummary {
    let scores = valid_scores(arm);
    let n = arm.trials.len();
    let solved = arm.trials.iter().filter(|t| t.solved && t.score.is_some()).count();
    ArmSummary {
        name: arm.name.clone(),
        n,
        valid: scores.len(),
        invalid: n - scores.len(),
        scores: describe(&scores),
        solved,
        solved_rate: (n > 0).then(|| solved as f64 / n as f64),
        solved_rate_ci: wilson_interval(solved as u64, n as u64),
    }
}

fn compare(baseline: &Arm, arm: &Arm, options: &Options) -> Comparison {
    let (b, h) = (valid_scores(baseline), valid_scores(arm));
    let median = |v: &[f64]| describe(v).median;
    let b_scores: Vec<Option<f64>> = baseline.trials.iter().map(|t| t.score).collect();
    let h_scores: Vec<Option<f64>> = arm.trials.iter().map(|t| t.score).collect();
    let differences: Vec<f64> =
        h_scores.iter().zip(&b_scores).filter_map(|(h, b)| Some(((*h)? + 0.0) - ((*b)? + 0.0))).collect();
    let solved = |a: &Arm| a.trials.iter().filter(|t| t.solved && t.score.is_some()).count() as u64;
    let (bs, hs) = (solved(baseline), solved(arm));
    let (bn, hn) = (baseline.trials.len() as u64, arm.trials.len() as u64);
    let mut c = Comparison {
        arm: arm.name.clone(),
        baseline: baseline.name.clone(),
        baseline_n: baseline.trials.len(),
        arm_n: arm.trials.len(),
        baseline_valid: b.len(),
        arm_valid: h.len(),
        median_difference: median(&h).zip(median(&b)).and_then(|(x, y)| finite(x - y)),
        effect: effect(
            &b,
            &h,
            b.len() == baseline.trials.len() && h.len() == arm.trials.len() && b.len() == h.len(),
            options.seed,
        ),
        mann_whitney: mann_whitney(&h_scores, &b_scores, options.higher_is_better),
        p_adjusted: None,
        adjusted_across: 1,
        wilcoxon: wilcoxon(&differences),
        fisher_p: fisher_exact([[bs, bn - bs], [hs, hn - hs]]),
        minimum_detectable_change: minimum_detectable_change(&b, &h),
        verdict: Verdict::NoDetectableDifference,
    };
    c.p_adjusted = c.mann_whitney.as_ref().map(|m| m.p_value);
    c
}

/// The effect of `arm` against `baseline` (valid scores; aligned pairs when `paired`).
fn effect(baseline: &[f64], arm: &[f64], paired: bool, seed: u64) -> Option<Effect> {
    if baseline.is_empty() || arm.is_empty() {
        return None;
    }
    let relative = baseline.iter().chain(arm).all(|&x| x > 0.0);
    if relative {
        let (lb, la): (Vec<f64>, Vec<f64>) =
            (baseline.iter().map(|x| x.ln()).collect(), arm.iter().map(|x| x.ln()).collect());
        let log_ratio = finite(mean(&sorted(&la))? - mean(&sorted(&lb))?)?;
        let (lo, hi) = percentile_interval(&lb, &la, paired, seed)?;
        Some(Effect {
            kind: EffectKind::Relative,
            estimate: finite(log_ratio.exp_m1())?,
            ci: Interval { low: finite(lo.exp_m1())?, high: finite(hi.exp_m1())? },
            log_ratio: Some(log_ratio),
            log_ratio_ci: Some(Interval { low: lo, high: hi }),
            paired,
        })
    } else {
        let estimate = finite(mean(&sorted(arm))? - mean(&sorted(baseline))?)?;
        let (lo, hi) = percentile_interval(baseline, arm, paired, seed)?;
        Some(Effect {
            kind: EffectKind::Absolute,
            estimate,
            ci: Interval { low: finite(lo)?, high: finite(hi)? },
            log_ratio: None,
            log_ratio_ci: None,
            paired,
        })
    }
}

/// Holm's step-down adjustment of `p_values` (as statsmodels' `multipletests(method="holm")`);
/// `None`s are left out and stay `None`.
pub fn holm(p_values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<(usize, f64)> = p_values.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i, p))).collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let m = order.len();
    let mut adjusted = vec![None; p_values.len()];
    let mut running = 0.0f64;
    for (rank, (i, p)) in order.into_iter().enumerate() {
        running = running.max(((m - rank) as f64 * p).min(1.0));
        adjusted[i] = Some(running);
    }
    adjusted
}
