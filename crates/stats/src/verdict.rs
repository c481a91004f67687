//! The verdict of a comparison and the sentence that states it.

use serde::{Deserialize, Serialize};

use crate::compare::{Comparison, EffectKind, MIN_VALID_FOR_VERDICT, SIGNIFICANCE};

/// What a comparison concludes about the arm against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better (in the direction of `higher_is_better`): the adjusted Mann-Whitney p < 0.05, the
    /// bootstrap interval excludes no change, and both say the arm is better.
    Better,
    /// Worse, on the same evidence.
    Worse,
    /// Neither (also when the test and the interval point in opposite directions).
    NoDetectableDifference,
    /// Fewer than [`MIN_VALID_FOR_VERDICT`] valid trials in an arm.
    TooFewValidTrials,
}

impl std::fmt::Display for Verdict {
    /// `better`, `worse`, `no detectable difference`, `too few valid trials for a verdict`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Better => "better",
            Self::Worse => "worse",
            Self::NoDetectableDifference => "no detectable difference",
            Self::TooFewValidTrials => "too few valid trials for a verdict",
        })
    }
}

impl Verdict {
    /// The verdict of `c` (its `p_adjusted` set).
    pub(crate) fn decide(c: &Comparison, higher_is_better: bool) -> Self {
        if c.baseline_valid < MIN_VALID_FOR_VERDICT || c.arm_valid < MIN_VALID_FOR_VERDICT {
            return Self::TooFewValidTrials;
        }
        let (Some(p), Some(effect), Some(mw)) = (c.p_adjusted, c.effect.as_ref(), c.mann_whitney.as_ref()) else {
            return Self::NoDetectableDifference;
        };
        if p >= SIGNIFICANCE || !effect.ci.excludes(0.0) {
            return Self::NoDetectableDifference;
        }
        // The interval is above 0 when the arm scores higher.
        let ci_better = (effect.ci.low > 0.0) == higher_is_better;
        let test_better = mw.probability_of_superiority > 0.5;
        match (ci_better, test_better) {
            (true, true) => Self::Better,
            (false, false) => Self::Worse,
            _ => Self::NoDetectableDifference,
        }
    }
}

impl Comparison {
    /// The verdict as one sentence, e.g. `harnessed better: −18.9% best_cycles (95% CI −25.1% …
    /// −12.0%), Mann-Whitney p = 0.004, n = 8 vs 8 (8 vs 7 valid)`. Counts are the baseline's
    /// first; `score_key` names the score; the p is the Holm-adjusted one (said so when there
    /// were several comparisons).
    pub fn sentence(&self, score_key: &str) -> String {
        let counts =
            format!("n = {} vs {} ({} vs {} valid)", self.baseline_n, self.arm_n, self.baseline_valid, self.arm_valid);
        let head = match self.verdict {
            Verdict::TooFewValidTrials => {
                return format!(
                    "{} vs {}: {} ({} vs {}): run at least {MIN_VALID_FOR_VERDICT} per arm",
                    self.arm, self.baseline, self.verdict, self.baseline_valid, self.arm_valid
                );
            }
            Verdict::Better | Verdict::Worse => format!("{} {}", self.arm, self.verdict),
            Verdict::NoDetectableDifference => format!("{} vs {}: {}", self.arm, self.baseline, self.verdict),
        };
        let effect = match &self.effect {
            Some(e) if e.kind == EffectKind::Relative => {
                format!("{} {score_key} (95% CI {} … {})", percent(e.estimate), percent(e.ci.low), percent(e.ci.high))
            }
            Some(e) => format!(
                "{} {score_key} (absolute, 95% CI {} … {})",
                number(e.estimate),
                number(e.ci.low),
                number(e.ci.high)
            ),
            None => format!("{score_key}: no valid scores to compare"),
        };
        let p = match self.p_adjusted {
            Some(p) if self.adjusted_across > 1 => format!("Mann-Whitney {} (Holm-adjusted)", p_value(p)),
            Some(p) => format!("Mann-Whitney {}", p_value(p)),
            None => "Mann-Whitney p = n/a".to_owned(),
        };
        format!("{head}: {effect}, {p}, {counts}")
    }
}

/// `−18.9%`, `+4.0%` (a real minus sign).
fn percent(fraction: f64) -> String {
    signed(&format!("{:+.1}%", fraction * 100.0))
}

/// Four significant digits, signed.
fn number(x: f64) -> String {
    let digits = if x == 0.0 { 0 } else { (3 - x.abs().log10().floor() as i32).clamp(0, 9) as usize };
    signed(&format!("{x:+.digits$}"))
}

fn signed(s: &str) -> String {
    s.replacen('-', "−", 1)
}

/// `p = 0.004`: three decimals (`p < 0.001` below), four when three would round a significant p
/// up to 0.050.
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else if p < SIGNIFICANCE && format!("{p:.3}") == "0.050" {
        format!("p = {p:.4}")
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_the_report() {
        assert_eq!(percent(-0.1889), "−18.9%");
        assert_eq!(percent(0.04), "+4.0%");
        assert_eq!(number(-3.25871), "−3.259");
        assert_eq!(number(1234.5), "+1234");
        assert_eq!(number(0.0), "+0");
        assert_eq!(p_value(0.0042), "p = 0.004");
        assert_eq!(p_value(0.0496), "p = 0.0496");
        assert_eq!(p_value(0.0004), "p < 0.001");
    }
}
