//! `analyze` end to end: verdicts, sentences, the JSON block, refusals.

use harnessgym_stats::{
    Arm, EffectKind, Options, Statistics, StatsError, Trial, Verdict, analyze, power::minimum_detectable_change,
};

use super::support::{LOWER, arm, valid};

const PLAIN: [f64; 8] = [1020.0, 980.0, 1110.0, 1005.0, 990.0, 1060.0, 1040.0, 1075.0];
const HARNESSED: [f64; 7] = [830.0, 850.0, 790.0, 880.0, 810.0, 845.0, 860.0];

fn harnessed_with_invalid() -> Vec<Option<f64>> {
    let mut h = valid(&HARNESSED);
    h.insert(3, None);
    h
}

#[test]
fn a_clear_improvement_is_better_and_said_in_one_sentence() {
    let stats = analyze(&[arm("plain", &valid(&PLAIN)), arm("harnessed", &harnessed_with_invalid())], &LOWER).unwrap();
    let c = &stats.comparisons[0];
    assert_eq!(c.verdict, Verdict::Better);
    let effect = c.effect.as_ref().unwrap();
    assert_eq!(effect.kind, EffectKind::Relative);
    assert!(!effect.paired, "an invalid trial breaks the pairing");
    assert!(effect.ci.low < effect.estimate && effect.estimate < effect.ci.high && effect.ci.high < 0.0);
    let sentence = c.sentence("best_cycles");
    assert!(sentence.starts_with("harnessed better: −19.0% best_cycles (95% CI −2"), "{sentence}");
    assert!(sentence.contains("%), Mann-Whitney p = 0.0"), "{sentence}");
    assert!(sentence.ends_with(", n = 8 vs 8 (8 vs 7 valid)"), "{sentence}");
    // Lower is better: each valid score of the arm beats every one of the baseline; its invalid
    // trial loses to all 8 (56 of 64 pairs).
    assert_eq!(c.mann_whitney.as_ref().unwrap().probability_of_superiority, 56.0 / 64.0);
}

#[test]
fn the_same_data_with_higher_is_better_is_worse() {
    let options = Options { higher_is_better: true, seed: 42 };
    let stats =
        analyze(&[arm("plain", &valid(&PLAIN)), arm("harnessed", &harnessed_with_invalid())], &options).unwrap();
    assert_eq!(stats.comparisons[0].verdict, Verdict::Worse);
    assert!(stats.comparisons[0].sentence("score").starts_with("harnessed worse: −19.0% score"));
}

#[test]
fn below_four_valid_trials_there_is_no_verdict() {
    let stats = analyze(
        &[arm("plain", &[Some(3.0), Some(4.0), None]), arm("harnessed", &[Some(1.0), None, Some(2.0)])],
        &LOWER,
    )
    .unwrap();
    let c = &stats.comparisons[0];
    assert_eq!(c.verdict, Verdict::TooFewValidTrials);
    assert_eq!(
        c.sentence("best_cycles"),
        "harnessed vs plain: too few valid trials for a verdict (2 vs 2): run at least 4 per arm"
    );
}

#[test]
fn overlapping_arms_show_no_detectable_difference() {
    let stats = analyze(
        &[arm("plain", &valid(&[5.0, 7.0, 6.0, 8.0, 5.5])), arm("harnessed", &valid(&[6.0, 5.2, 7.7, 6.4, 7.1]))],
        &LOWER,
    )
    .unwrap();
    let c = &stats.comparisons[0];
    assert_eq!(c.verdict, Verdict::NoDetectableDifference);
    assert!(c.effect.as_ref().unwrap().paired);
    assert!(c.sentence("t").starts_with("harnessed vs plain: no detectable difference: +"), "{}", c.sentence("t"));
}

#[test]
fn a_score_of_zero_or_below_makes_the_change_absolute() {
    let stats = analyze(
        &[arm("plain", &valid(&[0.0, 1.0, 2.0, 3.0])), arm("harnessed", &valid(&[2.0, 3.0, 4.0, 5.0]))],
        &LOWER,
    )
    .unwrap();
    let effect = stats.comparisons[0].effect.clone().unwrap();
    assert_eq!(effect.kind, EffectKind::Absolute);
    assert_eq!(effect.estimate, 2.0);
    assert_eq!((effect.log_ratio, effect.log_ratio_ci), (None, None));
    assert!(
        stats.comparisons[0].sentence("s").contains("+2.000 s (absolute, 95% CI"),
        "{}",
        stats.comparisons[0].sentence("s")
    );
    assert_eq!(stats.comparisons[0].minimum_detectable_change, None);
}

#[test]
fn three_arms_get_holm_adjusted_p_values() {
    let better: Vec<f64> = PLAIN.iter().map(|x| x * 0.8).collect();
    let same: Vec<f64> = PLAIN.iter().map(|x| x + 1.0).collect();
    let stats = analyze(
        &[arm("plain", &valid(&PLAIN)), arm("harnessed", &valid(&better)), arm("other", &valid(&same))],
        &LOWER,
    )
    .unwrap();
    assert_eq!(stats.comparisons.len(), 2);
    for c in &stats.comparisons {
        let p = c.mann_whitney.as_ref().unwrap().p_value;
        assert!(c.p_adjusted.unwrap() >= p);
    }
    let first = &stats.comparisons[0];
    assert_eq!(first.p_adjusted, Some(2.0 * first.mann_whitney.as_ref().unwrap().p_value));
    assert!(first.sentence("x").contains("(Holm-adjusted)"), "{}", first.sentence("x"));
    assert_eq!(
        harnessgym_stats::holm(&[Some(0.01), None, Some(0.04), Some(0.03)]),
        vec![Some(0.03), None, Some(0.06), Some(0.06)]
    );
}

#[test]
fn the_statistics_block_is_json_without_nan_and_reads_back() {
    let stats = analyze(
        &[arm("plain", &[None, None]), arm("harnessed", &[Some(1.0), None]), arm("empty", &[])],
        &Options { higher_is_better: true, seed: 1 },
    )
    .unwrap();
    let json = serde_json::to_string_pretty(&stats).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    let back: Statistics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stats);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["arms"][0]["mean"], serde_json::Value::Null);
    assert_eq!(value["comparisons"][0]["verdict"], "too_few_valid_trials");
    assert_eq!(value["resamples"], 10_000);
}

#[test]
fn the_same_inputs_and_seed_give_the_same_outputs_and_another_seed_another_interval() {
    let arms = [arm("plain", &valid(&PLAIN)), arm("harnessed", &harnessed_with_invalid())];
    let a = analyze(&arms, &LOWER).unwrap();
    assert_eq!(a, analyze(&arms, &LOWER).unwrap());
    let b = analyze(&arms, &Options { seed: 43, ..LOWER }).unwrap();
    assert_ne!(a.comparisons[0].effect, b.comparisons[0].effect);
    assert_eq!(a.comparisons[0].mann_whitney, b.comparisons[0].mann_whitney);
}

#[test]
fn bad_inputs_are_refused() {
    assert_eq!(analyze(&[arm("plain", &[Some(1.0)])], &LOWER), Err(StatsError::TooFewArms(1)));
    let nan = Arm { name: "harnessed".into(), trials: vec![Trial { score: Some(f64::NAN), solved: false }] };
    let err = analyze(&[arm("plain", &[Some(1.0)]), nan], &LOWER).unwrap_err();
    assert!(matches!(err, StatsError::NonFiniteScore { trial: 1, .. }), "{err}");
}

#[test]
fn invalid_trials_are_unsolved_and_counted() {
    let stats = analyze(
        &[
            Arm {
                name: "plain".into(),
                trials: vec![Trial { score: None, solved: true }, Trial { score: Some(2.0), solved: true }],
            },
            arm("harnessed", &[Some(1.0)]),
        ],
        &LOWER,
    )
    .unwrap();
    let plain = &stats.arms[0];
    assert_eq!((plain.n, plain.valid, plain.invalid, plain.solved), (2, 1, 1, 1));
    assert_eq!(plain.solved_rate, Some(0.5));
}

#[test]
fn minimum_detectable_change_is_the_log_scale_normal_approximation() {
    let b = [10.0, 12.0, 11.0, 13.0];
    let a = [9.0, 14.0, 10.0, 12.0];
    let sd = |v: &[f64]| {
        let l: Vec<f64> = v.iter().map(|x: &f64| x.ln()).collect();
        let m = l.iter().sum::<f64>() / 4.0;
        l.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 3.0
    };
    let pooled = ((sd(&b) + sd(&a)) / 2.0).sqrt();
    // z(0.975) + z(0.80)
    let expected = ((1.959963984540054 + 0.8416212335729143) * pooled * (0.5f64).sqrt()).exp_m1();
    let got = minimum_detectable_change(&b, &a).unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    assert_eq!(minimum_detectable_change(&[1.0], &a), None);
}
