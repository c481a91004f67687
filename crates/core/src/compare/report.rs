//! `compare_report.json`: the reference's keys (`created_at`, `workspace_template`,
//! `artifact_source`, `trials`, `summary`), so its readers keep working, plus ours: `arms`,
//! `statistics` (harnessgym-stats), `verdicts`, `design`, `budget`, `tool_use`,
//! `invalid_trials`, `spend` and `scores` (what the scores are and whether there are any).

use std::collections::{BTreeMap, BTreeSet};

use harnessgym_stats::{Arm, Options, Trial};
use harnessgym_types::compare::{CompareReport, GroupSummary, NumericSummary, TrialRecord};
use serde_json::{Value, json};

use super::executor::TrialQueue;
use super::{CompareConfig, trial};

/// The report and what the CLI prints from it.
pub struct Built {
    /// The report.
    pub report: CompareReport,
    /// One sentence per arm against the baseline.
    pub verdicts: Vec<String>,
    /// Planned trials without a complete trial.json.
    pub unfinished: usize,
}

/// `{count, min, median, max, best}` (the median of an even count is the mean of the middle two).
pub fn numeric_summary(values: &[f64], higher_is_better: bool) -> NumericSummary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    };
    let (min, max) = (v.first().copied(), v.last().copied());
    NumericSummary {
        count: n as u64,
        min,
        median,
        max,
        best: if higher_is_better { max } else { min },
        extra: Default::default(),
    }
}

fn group_summary(trials: &[&TrialRecord], higher_is_better: bool) -> GroupSummary {
    let values = |f: &dyn Fn(&TrialRecord) -> Option<f64>| trials.iter().filter_map(|t| f(t)).collect::<Vec<_>>();
    let mut post_score = numeric_summary(&values(&|t| t.post_score), higher_is_better);
    let valid = trials.iter().filter(|t| t.post_valid == Some(true)).count();
    let invalid = trials.iter().filter(|t| t.post_result.is_some() && t.post_valid != Some(true)).count();
    let not_run = trials.iter().filter(|t| t.post_result.is_none()).count();
    post_score.extra.insert("valid_count".into(), json!(valid));
    post_score.extra.insert("invalid_count".into(), json!(invalid));
    post_score.extra.insert("not_run_count".into(), json!(not_run));
    post_score.extra.insert("invalid_treated_as_worst".into(), json!(invalid > 0));
    let count_by = |key: &dyn Fn(&TrialRecord) -> String| -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for t in trials {
            *m.entry(key(t)).or_default() += 1;
        }
        m
    };
    let post_status = count_by(&|t| t.post_result.as_ref().map_or_else(|| "not_run".into(), |p| p.status.clone()));
    let comparison_valid = count_by(&|t| if t.comparison_valid { "valid".to_owned() } else { "invalid".to_owned() });
    let mut invalid_reasons = BTreeMap::new();
    for t in trials.iter().filter(|t| !t.comparison_valid || t.post_treated_as_worst) {
        let reason = [&t.post_invalid_reason, &t.comparison_invalid_reason]
            .into_iter()
            .find(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| "not_run".into());
        *invalid_reasons.entry(reason).or_default() += 1;
    }
    let tools: BTreeSet<String> = trials.iter().flat_map(|t| t.mcp_called_tools.iter().cloned()).collect();
    GroupSummary {
        count: trials.len() as u64,
        attempt_duration_seconds: numeric_summary(&values(&|t| t.attempt_duration_seconds), false),
        cumulative_attempt_duration_seconds: numeric_summary(
            &values(&|t| t.cumulative_attempt_duration_seconds),
            false,
        ),
        iterations_completed: numeric_summary(&values(&|t| Some(f64::from(t.iterations_completed))), true),
        score: numeric_summary(&values(&|t| t.score), higher_is_better),
        post_score,
        post_status,
        comparison_valid,
        mcp_call_count: numeric_summary(&values(&|t| Some(t.mcp_call_count as f64)), true),
        mcp_called_tools: tools.into_iter().collect(),
        invalid_reasons,
        extra: Default::default(),
    }
}

/// The arm's spend and time: what was equalised and what was only measured.
fn arm_budget(trials: &[&TrialRecord]) -> Value {
    let budgets: Vec<_> = trials.iter().filter_map(|t| t.budget.as_ref()).collect();
    let total = |f: &dyn Fn(&harnessgym_types::compare::TrialBudget) -> f64| {
        budgets.iter().map(|b| f(b)).fold(0.0, |a, b| a + b)
    };
    let known_tokens = |f: &dyn Fn(&harnessgym_types::compare::TrialBudget) -> Option<u64>| -> Option<u64> {
        if budgets.is_empty() { None } else { budgets.iter().map(|b| f(b)).sum() }
    };
    let costs: Vec<f64> = budgets.iter().filter_map(|b| b.cost_usd).collect();
    let unknown_cost = budgets.len() - costs.len();
    let per_trial = |f: &dyn Fn(&harnessgym_types::compare::TrialBudget) -> f64| {
        numeric_summary(&budgets.iter().map(|b| f(b)).collect::<Vec<_>>(), false).median
    };
    json!({
        "trials": budgets.len(),
        "attempt_seconds": total(&|b| b.attempt_seconds),
        "attempt_seconds_median": per_trial(&|b| b.attempt_seconds),
        "activation_seconds": total(&|b| b.activation_seconds),
        "activation_seconds_median": per_trial(&|b| b.activation_seconds),
        "post_seconds": total(&|b| b.post_seconds),
        "setup_seconds": total(&|b| b.setup_seconds),
        "input_tokens": known_tokens(&|b| b.input_tokens),
        "cached_input_tokens": known_tokens(&|b| b.cached_input_tokens),
        "output_tokens": known_tokens(&|b| b.output_tokens),
        "cost_usd": if unknown_cost == 0 && !costs.is_empty() { json!(costs.iter().fold(0.0, |a, b| a + b)) } else { Value::Null },
        "cost_usd_known": costs.iter().fold(0.0, |a, b| a + b),
        "trials_with_unknown_cost": unknown_cost,
        "prompt_bytes": budgets.iter().map(|b| b.prompt_bytes).sum::<u64>(),
        "prompt_bytes_median": per_trial(&|b| b.prompt_bytes as f64),
    })
}

/// Builds the report from the trials' records.
pub fn build(cfg: &CompareConfig, queue: &TrialQueue, interrupted: bool) -> Built {
    let r = &cfg.request;
    let hib = r.higher_is_better;
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut unfinished = 0;
    for arm in &cfg.arms {
        for i in 1..=cfg.trials {
            match trial::complete_record(&cfg.trial_spec(arm, i).record_path()) {
                Some(rec) => records.push(rec),
                None => unfinished += 1,
            }
        }
    }
    let by_arm = |name: &str| records.iter().filter(|t| t.group == name).collect::<Vec<_>>();
    let verified_scores = r.post_command.is_some();

    let mut summary = BTreeMap::new();
    let mut budget = serde_json::Map::new();
    let mut tool_use = serde_json::Map::new();
    let mut stats_arms = Vec::new();
    for arm in &cfg.arms {
        let trials = by_arm(&arm.name);
        summary.insert(arm.name.clone(), group_summary(&trials, hib));
        budget.insert(arm.name.clone(), arm_budget(&trials));
        let with_calls = trials.iter().filter(|t| t.mcp_call_count > 0).count();
        let mut by_tool: BTreeMap<String, u64> = BTreeMap::new();
        for t in &trials {
            for row in &t.iterations {
                for tool in &row.mcp_called_tools {
                    *by_tool.entry(tool.clone()).or_default() += 1;
                }
            }
        }
        tool_use.insert(
            arm.name.clone(),
            json!({"has_bundle": arm.bundle.is_some(), "trials": trials.len(), "trials_with_tool_calls": with_calls,
                "tool_calls": trials.iter().map(|t| t.mcp_call_count).sum::<u64>(), "iterations_calling_tool": by_tool}),
        );
        // Trial order within the arm, so trial i of every arm pairs up.
        let mut ordered = trials.clone();
        ordered.sort_by_key(|t| t.trial);
        stats_arms.push(Arm {
            name: arm.name.clone(),
            trials: ordered
                .iter()
                .map(|t| Trial {
                    score: if t.post_valid == Some(true) { t.post_score } else { None },
                    solved: t.solved && t.comparison_valid,
                })
                .collect(),
        });
    }
    let statistics = harnessgym_stats::analyze(&stats_arms, &Options { higher_is_better: hib, seed: cfg.seed }).ok();
    let score_name = if verified_scores { r.post_score_key.as_str() } else { "score" };
    let mut verdicts = Vec::new();
    if let Some(stats) = &statistics {
        for c in &stats.comparisons {
            let arm_cfg = cfg.arms.iter().find(|a| a.name == c.arm);
            let mut sentence = if verified_scores {
                c.sentence(score_name)
            } else {
                let solved = |name: &str| stats.arms.iter().find(|a| a.name == name).map_or(0, |a| a.solved);
                format!(
                    "{} vs {}: no verified scores (no --post-command): solved {} of {} vs {} of {}, Fisher p = {:.3}; \
                     pass --post-command for a verdict on scores",
                    c.arm,
                    c.baseline,
                    solved(&c.baseline),
                    c.baseline_n,
                    solved(&c.arm),
                    c.arm_n,
                    c.fisher_p
                )
            };
            if verified_scores && let Some(mde) = c.minimum_detectable_change {
                sentence.push_str(&format!(
                    "; this design detects changes of ±{:.1}% or more (80% power at α = 0.05, normal approximation on \
                     the log scale)",
                    mde * 100.0
                ));
            }
            if arm_cfg.is_some_and(|a| a.bundle.is_some()) {
                let trials = by_arm(&c.arm);
                let with_calls = trials.iter().filter(|t| t.mcp_call_count > 0).count();
                sentence.push_str(&format!("; tools called in {with_calls} of {} trials", trials.len()));
                if with_calls == 0 && !trials.is_empty() {
                    sentence.push_str(": the harness never reached the agent");
                }
            }
            verdicts.push(sentence);
        }
    }

    let invalid_trials: Vec<Value> = records
        .iter()
        .filter(|t| !t.comparison_valid || t.post_treated_as_worst)
        .map(|t| {
            let reason = [&t.post_invalid_reason, &t.comparison_invalid_reason]
                .into_iter()
                .find(|r| !r.is_empty())
                .cloned()
                .unwrap_or_default();
            json!({"arm": t.group, "trial": t.trial, "reason": reason})
        })
        .collect();
    let design: Vec<Vec<Value>> = cfg
        .design()
        .into_iter()
        .map(|block| block.into_iter().map(|(a, t)| json!({"arm": cfg.arms[a].name, "trial": t})).collect())
        .collect();

    let mut extra = harnessgym_types::Extra::new();
    extra.insert("format".into(), json!(1));
    extra.insert(
        "arms".into(),
        json!(
            cfg.arms
                .iter()
                .map(|a| json!({"name": a.name, "source": a.source, "bundle": a.bundle}))
                .collect::<Vec<_>>()
        ),
    );
    extra.insert("baseline".into(), json!(cfg.arms.first().map(|a| a.name.clone())));
    extra.insert("statistics".into(), serde_json::to_value(&statistics).unwrap_or(Value::Null));
    extra.insert("verdicts".into(), json!(verdicts));
    extra.insert(
        "scores".into(),
        json!({
            "verified": verified_scores,
            "post_command": r.post_command,
            "post_score_key": r.post_score_key,
            "higher_is_better": hib,
            "trial_score": if !verified_scores { "none: without --post-command there are no verified scores; the statistics cover solved rates only and agents' self-reported scores are listed, never used for a verdict" }
                else if r.post_every_iteration { "best_post_score: the best verified score over the trial's iterations" }
                else { "final_post_score: the post command's score after the last iteration" },
            "invalid_trials": "ranked worst in the rank tests; left out of means, medians and the relative change",
        }),
    );
    extra.insert(
        "design".into(),
        json!({
            "seed": cfg.seed,
            "seed_given": cfg.seed_given,
            "trials_per_arm": cfg.trials,
            "iterations": cfg.iterations,
            "blocks": design,
            "interleaving": "blocks of one trial per arm, arm order shuffled with the seed in each block; trial i of every arm forms a pair",
            "jobs": r.jobs,
            "score_jobs": r.score_jobs,
        }),
    );
    extra.insert(
        "budget".into(),
        json!({
            "equalised": {
                "runner": r.runner.as_str(),
                "model": match r.runner {
                    harnessgym_types::options::RunnerKind::Exec => r.codex.model.clone(),
                    harnessgym_types::options::RunnerKind::Claude => r.claude.model.clone(),
                    _ => None,
                },
                "attempt_timeout_seconds": r.attempt_timeout.seconds(),
                "attempt_timeout_schedule_seconds": r.attempt_timeouts.as_ref().map(|s| s.0.clone()),
                "iterations": cfg.iterations,
                "task_state": r.task_state.as_str(),
                "bundle_sandbox": r.sandbox.mode.as_str(),
                "bundle_network": r.sandbox.network.as_str(),
                "stop_score": r.stop_score,
                "template": "a fresh copy of one captured snapshot per trial",
            },
            "measured_only": ["activation_seconds (before each attempt, outside its timeout)", "tokens", "cost_usd",
                "prompt_bytes (harnessed prompts list the bundle's artifacts)", "post_seconds", "setup_seconds"],
            "arms": budget,
        }),
    );
    extra.insert("tool_use".into(), Value::Object(tool_use));
    extra.insert("invalid_trials".into(), json!(invalid_trials));
    extra.insert(
        "spend".into(),
        json!({
            "spent_usd": queue.spent(),
            "max_cost_usd": r.max_cost_usd,
            "stopped_by_budget": queue.stopped_by_budget(),
            "trials_not_started": queue.unstarted(),
        }),
    );
    extra.insert("unfinished_trials".into(), json!(unfinished));
    extra.insert("interrupted".into(), json!(interrupted));
    let report = CompareReport {
        created_at: harnessgym_types::timefmt::utc_now(),
        workspace_template: cfg.template.to_string(),
        artifact_source: r
            .artifact_source
            .clone()
            .or_else(|| cfg.arms.iter().find_map(|a| a.bundle.as_ref().map(ToString::to_string))),
        trials: records,
        summary,
        extra,
    };
    Built { report, verdicts, unfinished }
}
