//! The compare report's view: what `compare_report.json` says, arranged for the templates.
//!
//! Works on ours (with `statistics`, `budget`, `design`, …) and on the reference's (trials and
//! summaries only): its statistics are computed here from the trials' post scores, and what its
//! file lacks is said to be not recorded.

use std::collections::{BTreeMap, BTreeSet};

use harnessgym_stats::{Arm, Comparison, EffectKind, Options, Statistics, Trial};
use harnessgym_types::compare::{CompareReport, TrialRecord};
use serde::Serialize;
use serde_json::Value;

use crate::ReportError;
use crate::charts::{self, Category, Chart, LineStyle, Series, StripStyle};
use crate::fmt::{NOT_RECORDED, num, p_value, percent, secs, usd};

/// Everything the compare templates show.
#[derive(Debug, Serialize)]
pub(crate) struct CompareView {
    created_at: String,
    template: String,
    artifact_source: String,
    /// Who computed the statistics.
    origin: String,
    score_key: String,
    direction: String,
    trial_score: String,
    verdicts: Vec<String>,
    arms: Vec<ArmRow>,
    trials: Vec<TrialRow>,
    tool_totals: Vec<ToolTotals>,
    tools: Vec<ToolRow>,
    invalid: Vec<InvalidRow>,
    budget: Option<BudgetView>,
    design: Vec<(String, String)>,
    spend: Vec<(String, String)>,
    notes: Vec<String>,
    /// Filled for the HTML only.
    pub(crate) charts: Vec<ChartSlot>,
}

/// A chart, or why there is none.
#[derive(Debug, Serialize)]
pub(crate) struct ChartSlot {
    title: String,
    chart: Option<Chart>,
    missing: String,
}

impl ChartSlot {
    pub(crate) fn new(title: &str, chart: Option<Chart>, missing: &str) -> Self {
        Self { title: title.to_owned(), chart, missing: missing.to_owned() }
    }
}

#[derive(Debug, Serialize)]
struct ArmRow {
    name: String,
    baseline: bool,
    trials: usize,
    valid: usize,
    invalid: usize,
    attempts: u64,
    attempt_time: String,
    median_iqr: String,
    best: String,
    change: String,
    p: String,
    verdict: String,
}

#[derive(Debug, Serialize)]
struct TrialRow {
    arm: String,
    trial: u32,
    block: String,
    valid: bool,
    score: String,
    best: String,
    last: String,
    iterations: u32,
    attempt_time: String,
    tool_calls: u64,
    status: String,
    cost: String,
}

#[derive(Debug, Serialize)]
struct ToolTotals {
    arm: String,
    trials: usize,
    trials_with_calls: usize,
    calls: u64,
}

#[derive(Debug, Serialize)]
struct ToolRow {
    arm: String,
    tool: String,
    trials: usize,
    iterations: usize,
}

#[derive(Debug, Serialize)]
struct InvalidRow {
    arm: String,
    trial: u32,
    reason: String,
}

#[derive(Debug, Serialize)]
struct BudgetView {
    equalised: Vec<(String, String)>,
    measured_only: Vec<String>,
    arms: Vec<BudgetRow>,
}

#[derive(Debug, Serialize)]
struct BudgetRow {
    arm: String,
    attempt: String,
    activation: String,
    post: String,
    setup: String,
    input_tokens: String,
    output_tokens: String,
    cost: String,
    prompt_bytes: String,
}

/// The arms in the report's order (`arms`), else the summary's groups with `plain` first, else
/// the trials' groups in order of appearance.
fn arm_names(report: &CompareReport) -> Vec<String> {
    if let Some(Value::Array(arms)) = report.extra.get("arms") {
        let names: Vec<String> =
            arms.iter().filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned)).collect();
        if !names.is_empty() {
            return names;
        }
    }
    let mut names: Vec<String> = Vec::new();
    for t in &report.trials {
        if !names.contains(&t.group) {
            names.push(t.group.clone());
        }
    }
    for g in report.summary.keys() {
        if !names.contains(g) {
            names.push(g.clone());
        }
    }
    if let Some(i) = names.iter().position(|n| n == "plain") {
        let plain = names.remove(i);
        names.insert(0, plain);
    }
    names
}

fn trials_of<'a>(report: &'a CompareReport, arm: &str) -> Vec<&'a TrialRecord> {
    let mut t: Vec<&TrialRecord> = report.trials.iter().filter(|t| t.group == arm).collect();
    t.sort_by_key(|t| t.trial);
    t
}

/// The trial's score for the statistics: its post score when that counts.
fn trial_score(t: &TrialRecord) -> Option<f64> {
    if t.post_valid == Some(true) { t.post_score } else { None }
}

fn invalid_reason(t: &TrialRecord) -> Option<String> {
    (!t.comparison_valid || t.post_treated_as_worst).then(|| {
        [&t.post_invalid_reason, &t.comparison_invalid_reason]
            .into_iter()
            .find(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| "no reason recorded".to_owned())
    })
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => NOT_RECORDED.to_owned(),
        Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.as_f64().map_or_else(|| n.to_string(), |x| num(Some(x))),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(a)) => a.iter().map(|x| show(Some(x))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

/// The statistics block: the report's own, else computed from the trials (a reference report).
fn statistics(report: &CompareReport, names: &[String], higher_is_better: bool) -> (Option<Statistics>, bool) {
    if let Some(v) = report.extra.get("statistics")
        && let Ok(Some(stats)) = serde_json::from_value::<Option<Statistics>>(v.clone())
    {
        return (Some(stats), true);
    }
    let arms: Vec<Arm> = names
        .iter()
        .map(|name| Arm {
            name: name.clone(),
            trials: trials_of(report, name)
                .into_iter()
                .map(|t| Trial { score: trial_score(t), solved: t.solved && t.comparison_valid })
                .collect(),
        })
        .collect();
    let seed = report.extra.get("design").and_then(|d| d.get("seed")).and_then(Value::as_u64).unwrap_or(0);
    (harnessgym_stats::analyze(&arms, &Options { higher_is_better, seed }).ok(), false)
}

fn change(c: &Comparison) -> String {
    match &c.effect {
        Some(e) if e.kind == EffectKind::Relative => {
            format!("{} [{} … {}]", percent(e.estimate), percent(e.ci.low), percent(e.ci.high))
        }
        Some(e) => format!("{} [{} … {}] (absolute)", num(Some(e.estimate)), num(Some(e.ci.low)), num(Some(e.ci.high))),
        None => "—".to_owned(),
    }
}

/// Builds the view of `report`.
pub(crate) fn view(report: &CompareReport) -> CompareView {
    let scores = report.extra.get("scores");
    let recorded_direction = scores.and_then(|s| s.get("higher_is_better")).and_then(Value::as_bool);
    let higher_is_better = recorded_direction.unwrap_or(false);
    let names = arm_names(report);
    let (stats, own) = statistics(report, &names, higher_is_better);
    let score_key = scores
        .and_then(|s| s.get("post_score_key"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| report.trials.iter().find_map(|t| t.post_result.as_ref().map(|p| p.score_key.clone())))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "score".to_owned());
    let baseline = report
        .extra
        .get("baseline")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| names.first().cloned())
        .unwrap_or_default();

    let arms = names
        .iter()
        .map(|name| {
            let trials = trials_of(report, name);
            let summary = stats.as_ref().and_then(|s| s.arms.iter().find(|a| &a.name == name));
            let comparison = stats.as_ref().and_then(|s| s.comparisons.iter().find(|c| &c.arm == name));
            let cumulative: Vec<f64> = trials.iter().filter_map(|t| t.cumulative_attempt_duration_seconds).collect();
            let (median_iqr, best) = match summary {
                Some(a) => (
                    match (a.scores.median, a.scores.q1, a.scores.q3) {
                        (Some(m), Some(q1), Some(q3)) => {
                            format!("{} [{} – {}]", num(Some(m)), num(Some(q1)), num(Some(q3)))
                        }
                        _ => "—".to_owned(),
                    },
                    num(if higher_is_better { a.scores.max } else { a.scores.min }),
                ),
                None => ("—".to_owned(), "—".to_owned()),
            };
            ArmRow {
                name: name.clone(),
                baseline: *name == baseline,
                trials: trials.len(),
                valid: summary.map_or(0, |a| a.valid),
                invalid: summary.map_or(0, |a| a.invalid),
                attempts: trials.iter().map(|t| u64::from(t.iterations_completed)).sum(),
                attempt_time: if cumulative.is_empty() { "—".into() } else { secs(Some(cumulative.iter().sum())) },
                median_iqr,
                best,
                change: comparison
                    .map_or_else(|| if *name == baseline { "baseline".into() } else { "—".into() }, change),
                p: comparison.map_or_else(|| "—".to_owned(), |c| p_value(c.p_adjusted)),
                verdict: comparison.map_or_else(|| "—".to_owned(), |c| c.verdict.to_string()),
            }
        })
        .collect();

    let mut verdicts: Vec<String> = match report.extra.get("verdicts") {
        Some(Value::Array(v)) if own => v.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if verdicts.is_empty()
        && let Some(s) = &stats
    {
        verdicts = s.comparisons.iter().map(|c| c.sentence(&score_key)).collect();
    }

    let trials = names
        .iter()
        .flat_map(|name| trials_of(report, name))
        .map(|t| TrialRow {
            arm: t.group.clone(),
            trial: t.trial,
            block: t.block.map_or_else(|| "—".to_owned(), |b| b.to_string()),
            valid: invalid_reason(t).is_none() && trial_score(t).is_some(),
            score: num(trial_score(t)),
            best: t.best_post_score.map_or_else(|| NOT_RECORDED.to_owned(), num),
            last: t.final_post_score.map_or_else(|| NOT_RECORDED.to_owned(), num),
            iterations: t.iterations_completed,
            attempt_time: secs(t.cumulative_attempt_duration_seconds),
            tool_calls: t.mcp_call_count,
            status: t.status.clone(),
            cost: t.budget.as_ref().map_or_else(|| NOT_RECORDED.to_owned(), |b| usd(b.cost_usd)),
        })
        .collect();

    let mut tool_totals = Vec::new();
    let mut tools = Vec::new();
    for name in &names {
        let trials = trials_of(report, name);
        tool_totals.push(ToolTotals {
            arm: name.clone(),
            trials: trials.len(),
            trials_with_calls: trials.iter().filter(|t| t.mcp_call_count > 0).count(),
            calls: trials.iter().map(|t| t.mcp_call_count).sum(),
        });
        let mut by_tool: BTreeMap<&str, (BTreeSet<u32>, usize)> = BTreeMap::new();
        for t in &trials {
            for tool in &t.mcp_called_tools {
                by_tool.entry(tool).or_default().0.insert(t.trial);
            }
            for row in &t.iterations {
                for tool in &row.mcp_called_tools {
                    by_tool.entry(tool).or_default().1 += 1;
                }
            }
        }
        tools.extend(by_tool.into_iter().map(|(tool, (trials, iterations))| ToolRow {
            arm: name.clone(),
            tool: tool.to_owned(),
            trials: trials.len(),
            iterations,
        }));
    }

    let invalid = names
        .iter()
        .flat_map(|name| trials_of(report, name))
        .filter_map(|t| invalid_reason(t).map(|reason| InvalidRow { arm: t.group.clone(), trial: t.trial, reason }))
        .collect();

    let budget = report.extra.get("budget").map(|b| BudgetView {
        equalised: b
            .get("equalised")
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), show(Some(v)))).collect())
            .unwrap_or_default(),
        measured_only: b
            .get("measured_only")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        arms: names
            .iter()
            .map(|name| {
                let a = b.pointer(&format!("/arms/{name}")).cloned().unwrap_or(Value::Null);
                let f = |k: &str| a.get(k).and_then(Value::as_f64);
                let tokens =
                    |k: &str| a.get(k).and_then(Value::as_u64).map_or_else(|| "—".to_owned(), |t| t.to_string());
                BudgetRow {
                    arm: name.clone(),
                    attempt: secs(f("attempt_seconds")),
                    activation: secs(f("activation_seconds")),
                    post: secs(f("post_seconds")),
                    setup: secs(f("setup_seconds")),
                    input_tokens: tokens("input_tokens"),
                    output_tokens: tokens("output_tokens"),
                    cost: match (f("cost_usd"), a.get("trials_with_unknown_cost").and_then(Value::as_u64)) {
                        (Some(c), _) => usd(Some(c)),
                        (None, Some(n)) if n > 0 => {
                            format!("unknown for {n} trials (known {})", usd(f("cost_usd_known")))
                        }
                        _ => "—".to_owned(),
                    },
                    prompt_bytes: tokens("prompt_bytes"),
                }
            })
            .collect(),
    });

    let design = match report.extra.get("design") {
        Some(d) => vec![
            ("seed".to_owned(), show(d.get("seed"))),
            ("trials per arm".to_owned(), show(d.get("trials_per_arm"))),
            ("iterations".to_owned(), show(d.get("iterations"))),
            (
                "blocks".to_owned(),
                d.get("blocks").and_then(Value::as_array).map_or_else(|| NOT_RECORDED.into(), |b| b.len().to_string()),
            ),
            ("interleaving".to_owned(), show(d.get("interleaving"))),
            ("jobs".to_owned(), show(d.get("jobs"))),
            ("score jobs".to_owned(), show(d.get("score_jobs"))),
        ],
        None => Vec::new(),
    };
    let spend = match report.extra.get("spend") {
        Some(s) => vec![
            ("spent".to_owned(), usd(s.get("spent_usd").and_then(Value::as_f64))),
            (
                "cap".to_owned(),
                s.get("max_cost_usd").and_then(Value::as_f64).map_or_else(|| "none".into(), |c| usd(Some(c))),
            ),
            ("stopped by the cap".to_owned(), show(s.get("stopped_by_budget"))),
            ("trials not started".to_owned(), show(s.get("trials_not_started"))),
        ],
        None => Vec::new(),
    };
    let mut notes = Vec::new();
    if report.extra.get("interrupted").and_then(Value::as_bool) == Some(true) {
        notes.push("The compare was interrupted: the report covers the trials that finished.".to_owned());
    }
    if let Some(n) = report.extra.get("unfinished_trials").and_then(Value::as_u64).filter(|n| *n > 0) {
        notes.push(format!("{n} planned trials have no complete trial.json (not in the statistics)."));
    }

    let direction = match recorded_direction {
        Some(true) => "higher is better".to_owned(),
        Some(false) => "lower is better".to_owned(),
        None => "lower is better (assumed: the direction is not recorded; it is the default)".to_owned(),
    };
    let trial_score_text = scores.and_then(|s| s.get("trial_score")).and_then(Value::as_str).map_or_else(
        || "post_score: the post command's score after the last iteration (the only one recorded)".to_owned(),
        str::to_owned,
    );
    let origin = if own {
        "harnessgym compare (the report's statistics block)".to_owned()
    } else {
        "computed by harnessgym report from the trials' post scores (the file has no statistics block)".to_owned()
    };
    CompareView {
        created_at: report.created_at.clone(),
        template: report.workspace_template.clone(),
        artifact_source: report.artifact_source.clone().unwrap_or_else(|| "—".into()),
        origin,
        score_key,
        direction,
        trial_score: trial_score_text,
        verdicts,
        arms,
        trials,
        tool_totals,
        tools,
        invalid,
        budget,
        design,
        spend,
        notes,
        charts: Vec::new(),
    }
}

/// The HTML report's charts.
pub(crate) fn charts(report: &CompareReport) -> Result<Vec<ChartSlot>, ReportError> {
    let higher_is_better =
        report.extra.get("scores").and_then(|s| s.get("higher_is_better")).and_then(Value::as_bool).unwrap_or(false);
    let names = arm_names(report);
    let baseline = names.first().cloned().unwrap_or_default();
    let label = |name: &str| if *name == baseline { format!("{name} (baseline)") } else { name.to_owned() };
    let category = |name: &String, f: &dyn Fn(&TrialRecord) -> Option<f64>| Category {
        label: label(name),
        values: trials_of(report, name).into_iter().map(f).collect(),
    };
    let baseline_median = harnessgym_stats::descriptive::describe(
        &trials_of(report, &baseline).into_iter().filter_map(trial_score).collect::<Vec<_>>(),
    )
    .median;
    let mut slots = Vec::new();
    let title = "Score per trial by arm";
    let scores = charts::strip(
        &names.iter().map(|n| category(n, &trial_score)).collect::<Vec<_>>(),
        &StripStyle {
            title,
            y_desc: if higher_is_better { "score (higher is better)" } else { "score (lower is better)" },
            boxes: true,
            reference_line: baseline_median,
            worst_high: !higher_is_better,
        },
        "One point per trial; hollow points are invalid trials (ranked worst, drawn at the worst edge); boxes: quartiles, median, min–max; dashed: the baseline's median.",
    )?;
    slots.push(ChartSlot::new(title, scores, "no trial has a verified score"));

    let title = "Best score so far per iteration (median over the arm's trials)";
    let best_so_far = best_so_far_series(report, &names, higher_is_better);
    let iterations = best_so_far.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max);
    let lines = charts::lines(
        &best_so_far,
        &LineStyle {
            title,
            x_desc: "iteration",
            y_desc: "best verified score so far",
            reference_line: None,
            highlight: None,
            x_keys: (1..=iterations as u32).map(f64::from).collect(),
        },
        "One point per iteration and arm: the median over the arm's trials of the best verified score up to that iteration.",
    )?;
    slots.push(ChartSlot::new(
        title,
        lines,
        "per-iteration post scores not recorded (a reference report lists only the last one)",
    ));

    let title = "Attempt time per trial (cumulative over its iterations)";
    let times = charts::strip(
        &names.iter().map(|n| category(n, &|t| t.cumulative_attempt_duration_seconds)).collect::<Vec<_>>(),
        &StripStyle { title, y_desc: "seconds", boxes: false, reference_line: None, worst_high: true },
        "One point per trial.",
    )?;
    slots.push(ChartSlot::new(title, times, "attempt times not recorded"));

    let title = "Generated-tool calls per trial";
    let calls = charts::strip(
        &names.iter().map(|n| category(n, &|t| Some(t.mcp_call_count as f64))).collect::<Vec<_>>(),
        &StripStyle { title, y_desc: "MCP tool calls", boxes: false, reference_line: None, worst_high: false },
        "One point per trial: the MCP tools/call requests its agent made through the telemetry proxy.",
    )?;
    slots.push(ChartSlot::new(title, calls, "no trials"));
    Ok(slots)
}

/// Per arm, per iteration: the median over trials of the best verified score so far.
fn best_so_far_series(report: &CompareReport, names: &[String], higher_is_better: bool) -> Vec<Series> {
    let mut out = Vec::new();
    for name in names {
        let mut per_iteration: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for t in trials_of(report, name) {
            let mut best: Option<f64> = None;
            for row in &t.iterations {
                if let Some(s) = row.post_score.filter(|s| s.is_finite()) {
                    best = Some(match best {
                        Some(b) if (higher_is_better && b >= s) || (!higher_is_better && b <= s) => b,
                        _ => s,
                    });
                }
                if let Some(b) = best {
                    per_iteration.entry(row.iteration).or_default().push(b);
                }
            }
        }
        let points: Vec<(f64, f64)> = per_iteration
            .into_iter()
            .filter_map(|(it, v)| harnessgym_stats::descriptive::describe(&v).median.map(|m| (f64::from(it), m)))
            .collect();
        if !points.is_empty() {
            out.push(Series { name: name.clone(), points });
        }
    }
    out
}
