//! How a run shows its progress: progress bars on a terminal (indicatif), today's plain lines when
//! stderr is not a terminal, NDJSON events on stdout with `--json`, nothing with `--quiet`.
//! Core only emits `RunEvent`s; everything drawn is decided here.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harnessgym_core::compare::{CompareEvent, CompareEventSink, CompareOutcome};
use harnessgym_core::events::{EventSink, RunEvent};
use harnessgym_core::{RunConfig, RunOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::render;

/// The output flags of `run` (and `compare`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputMode {
    /// NDJSON events on stdout instead of the human lines.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
}

/// A run's event as one NDJSON object (docs/reports.md, "Events"); `None` for events not
/// published.
pub fn event_json(event: &RunEvent) -> Option<Value> {
    Some(match event {
        RunEvent::Started { run_id, run_dir } => json!({"event": "run_started", "run_id": run_id, "run_dir": run_dir}),
        RunEvent::Resumed { position } => json!({"event": "resumed", "position": position}),
        RunEvent::IterationStarted { iteration } => json!({"event": "iteration_started", "iteration": iteration}),
        RunEvent::PhaseStarted { iteration, phase } => {
            json!({"event": "phase_started", "iteration": iteration, "phase": phase})
        }
        RunEvent::PhaseFinished { iteration, phase, status } => {
            json!({"event": "phase_finished", "iteration": iteration, "phase": phase, "status": status})
        }
        RunEvent::Scored { iteration, score, verified, best } => {
            json!({"event": "score", "iteration": iteration, "score": score, "verified": verified, "best": best})
        }
        RunEvent::IterationFinished { iteration, status, solved } => {
            json!({"event": "iteration_finished", "iteration": iteration, "status": status, "solved": solved})
        }
        RunEvent::Problem(e) => json!({"event": "problem", "iteration": e.iteration, "phase": e.phase,
            "path": e.path, "message": e.message}),
        RunEvent::EarlierCommandInterrupted(h) => {
            json!({"event": "earlier_command_interrupted", "command": h.command, "pid": h.pid, "since": h.since})
        }
        RunEvent::Finished { summary_path } => json!({"event": "summary_written", "summary_path": summary_path}),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The last NDJSON line of `run --json`: what the human result lines say.
pub fn outcome_json(outcome: &RunOutcome) -> Value {
    let s = &outcome.summary;
    json!({
        "event": "run_finished",
        "run_id": outcome.run_id,
        "run_dir": outcome.run_dir,
        "final_status": s.final_status,
        "solved": s.solved,
        "best_score": s.best_score,
        "interrupted": outcome.interrupted,
        "summary_path": outcome.summary_path,
        "report": outcome.run_dir.join(harnessgym_report::RUN_MARKDOWN),
        "errors": s.errors.len(),
    })
}

/// What the bar shows.
#[derive(Default)]
struct BarState {
    iteration: u32,
    phase: String,
    last: Option<(f64, bool)>,
    best: Option<f64>,
    /// Telemetry lines in the workspace when the run started, and now.
    calls_at_start: Option<u64>,
    calls: u64,
}

/// Lines of the workspace's MCP telemetry (one per tools/call); 0 without the file.
fn telemetry_lines(config: &RunConfig) -> u64 {
    std::fs::read(config.workspace.join(".harnessgym/mcp_calls.jsonl"))
        .map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count() as u64)
}

/// A spinner on stderr: iteration, phase, elapsed of the phase's budget, last and best score.
pub struct RunBar {
    bar: ProgressBar,
    state: Mutex<BarState>,
    config: RunConfig,
}

impl RunBar {
    fn new(config: &RunConfig) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix} · {elapsed} of {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar, state: Mutex::new(BarState::default()), config: config.clone() }
    }

    fn budget(&self, phase: &str, iteration: u32) -> String {
        let t = &self.config.options.timeouts;
        let timeout = match phase {
            "attempt" => Some(self.config.attempt_timeout_for(iteration)),
            "reflection" => Some(self.config.reflection_timeout()),
            "build" => Some(t.build),
            _ => None,
        };
        timeout.map_or_else(|| "no budget".to_owned(), |t| t.to_string())
    }

    fn redraw(&self, state: &BarState) {
        if state.iteration == 0 {
            self.bar.set_prefix("starting");
        } else {
            self.bar.set_prefix(format!("iteration {}/{} · {}", state.iteration, self.config.iterations, state.phase));
        }
        let last = match state.last {
            Some((s, true)) => format!("{s} (verified)"),
            Some((s, false)) => format!("{s} (unverified)"),
            None => "—".to_owned(),
        };
        let best = state.best.map_or_else(|| "—".to_owned(), |b| b.to_string());
        self.bar.set_message(format!(
            "{} · last {last} · best {best} · tool calls {}",
            self.budget(&state.phase, state.iteration),
            state.calls
        ));
    }

    fn on(&self, event: &RunEvent) {
        let Ok(mut state) = self.state.lock() else { return };
        let now = telemetry_lines(&self.config);
        let start = *state.calls_at_start.get_or_insert(now);
        state.calls = now.saturating_sub(start);
        match event {
            RunEvent::IterationStarted { iteration } => {
                state.iteration = *iteration;
                state.phase = "starting".into();
            }
            RunEvent::PhaseStarted { iteration, phase } => {
                state.iteration = *iteration;
                state.phase.clone_from(phase);
                self.bar.reset_elapsed();
            }
            RunEvent::Scored { score, verified, best, .. } => {
                state.last = Some((*score, *verified));
                state.best = *best;
            }
            // Lines that stay: printed above the bar.
            RunEvent::Started { .. }
            | RunEvent::Resumed { .. }
            | RunEvent::EarlierCommandInterrupted(_)
            | RunEvent::Problem(_)
            | RunEvent::PhaseFinished { .. }
            | RunEvent::IterationFinished { .. } => {
                if let Some(line) = render::progress_line(event) {
                    self.bar.println(line);
                }
            }
            RunEvent::Finished { .. } => self.bar.finish_and_clear(),
            #[allow(unreachable_patterns)]
            _ => {}
        }
        self.redraw(&state);
    }

    /// Clears the bar (after success, failure or Ctrl-C: the screen ends clean).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// The run's event sink for `mode`, and the bar to clear at the end (when one is drawn).
pub fn run_sink(mode: OutputMode, config: &RunConfig) -> (EventSink, Option<Arc<RunBar>>) {
    if mode.json {
        let sink: EventSink = Arc::new(|event: &RunEvent| {
            if let Some(v) = event_json(event) {
                println!("{v}");
            }
        });
        return (sink, None);
    }
    if mode.quiet {
        return (Arc::new(|_: &RunEvent| {}), None);
    }
    if std::io::stderr().is_terminal() {
        let bar = Arc::new(RunBar::new(config));
        let for_sink = Arc::clone(&bar);
        return (Arc::new(move |event: &RunEvent| for_sink.on(event)), Some(bar));
    }
    (Arc::new(render::progress), None)
}

/// A compare's event as one NDJSON object; `None` for events not published.
pub fn compare_event_json(event: &CompareEvent) -> Option<Value> {
    Some(match event {
        CompareEvent::Seed { seed, given } => json!({"event": "seed", "seed": seed, "given": given}),
        CompareEvent::TemplateCaptured { files, seconds } => {
            json!({"event": "template_captured", "files": files, "seconds": seconds})
        }
        CompareEvent::Kept { count } => json!({"event": "trials_kept", "count": count}),
        CompareEvent::TrialStarted { arm, trial } => json!({"event": "trial_started", "arm": arm, "trial": trial}),
        CompareEvent::TrialProgress { arm, trial, event } => {
            json!({"event": "trial_progress", "arm": arm, "trial": trial, "progress": event})
        }
        CompareEvent::TrialFinished { arm, trial, record, problem } => json!({
            "event": "trial_finished",
            "arm": arm,
            "trial": trial,
            "valid": record.as_ref().map(|r| r.comparison_valid && !r.post_treated_as_worst),
            "score": record.as_ref().and_then(|r| r.post_score),
            "reason": record.as_ref().and_then(|r| invalid_reason(r)).or_else(|| problem.clone()),
        }),
        CompareEvent::BudgetReached { spent, cap } => {
            json!({"event": "budget_reached", "spent_usd": spent, "cap_usd": cap})
        }
        CompareEvent::SurvivorsKilled { report } => json!({"event": "survivors_killed", "report": report}),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The last NDJSON line of `compare --json`.
pub fn compare_outcome_json(outcome: &CompareOutcome) -> Value {
    json!({
        "event": "compare_finished",
        "report_path": outcome.report_path,
        "report": outcome.report_path.with_file_name(harnessgym_report::COMPARE_MARKDOWN),
        "verdicts": outcome.verdicts,
        "unfinished": outcome.unfinished,
        "interrupted": outcome.interrupted,
    })
}

fn invalid_reason(r: &harnessgym_types::compare::TrialRecord) -> Option<String> {
    (!r.comparison_valid || r.post_treated_as_worst).then(|| {
        [&r.post_invalid_reason, &r.comparison_invalid_reason]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default()
    })
}

/// Bars of a compare on stderr: one line per running trial (arm, trial, iteration, phase, elapsed
/// of the attempt budget) and a total (done/total, valid/invalid, ETA).
pub struct CompareBars {
    multi: MultiProgress,
    total: ProgressBar,
    trials: Mutex<std::collections::BTreeMap<(String, u32), ProgressBar>>,
    counts: Mutex<(u64, u64)>,
    budget: String,
}

impl CompareBars {
    fn new(total_trials: u64, attempt_budget: String) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(total_trials));
        total.set_style(
            ProgressStyle::with_template("{bar:24} {pos}/{len} trials · {msg} · ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        total.set_message("valid 0 · invalid 0");
        total.enable_steady_tick(Duration::from_millis(200));
        Self { multi, total, trials: Mutex::default(), counts: Mutex::default(), budget: attempt_budget }
    }

    fn trial_bar(&self, arm: &str, trial: u32) -> ProgressBar {
        let Ok(mut trials) = self.trials.lock() else { return ProgressBar::hidden() };
        trials
            .entry((arm.to_owned(), trial))
            .or_insert_with(|| {
                let bar = self.multi.insert_before(&self.total, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} · {msg} · {elapsed} of {len_budget}")
                        .map(|s| s.with_key("len_budget", BudgetKey(self.budget.clone())))
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("[{arm} #{trial}]"));
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            })
            .clone()
    }

    fn on(&self, event: &CompareEvent) {
        match event {
            CompareEvent::Kept { count } => self.total.inc(*count as u64),
            CompareEvent::TrialStarted { arm, trial } => {
                self.trial_bar(arm, *trial);
            }
            CompareEvent::TrialProgress { arm, trial, event } => {
                if event.get("event").and_then(Value::as_str) == Some("phase_started") {
                    let bar = self.trial_bar(arm, *trial);
                    let iteration = event.get("iteration").and_then(Value::as_u64).unwrap_or(0);
                    let phase = event.get("phase").and_then(Value::as_str).unwrap_or("?");
                    bar.set_message(format!("iteration {iteration} · {phase}"));
                    bar.reset_elapsed();
                }
            }
            CompareEvent::TrialFinished { arm, trial, record, .. } => {
                if let Ok(mut trials) = self.trials.lock()
                    && let Some(bar) = trials.remove(&(arm.clone(), *trial))
                {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.total.inc(1);
                if let Ok(mut counts) = self.counts.lock() {
                    match record.as_deref() {
                        Some(r) if invalid_reason(r).is_none() => counts.0 += 1,
                        _ => counts.1 += 1,
                    }
                    self.total.set_message(format!("valid {} · invalid {}", counts.0, counts.1));
                }
                if let Some(line) = crate::compare_cmd::progress_line(event) {
                    let _ = self.multi.println(line);
                }
            }
            other => {
                if let Some(line) = crate::compare_cmd::progress_line(other) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }

    /// Clears every bar (the screen ends clean).
    pub fn clear(&self) {
        if let Ok(mut trials) = self.trials.lock() {
            for (_, bar) in std::mem::take(&mut *trials) {
                bar.finish_and_clear();
            }
        }
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// A fixed text as a template key (the attempt budget).
#[derive(Clone)]
struct BudgetKey(String);

impl indicatif::style::ProgressTracker for BudgetKey {
    fn clone_box(&self) -> Box<dyn indicatif::style::ProgressTracker> {
        Box::new(self.clone())
    }
    fn tick(&mut self, _: &indicatif::ProgressState, _: std::time::Instant) {}
    fn reset(&mut self, _: &indicatif::ProgressState, _: std::time::Instant) {}
    fn write(&self, _: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
        let _ = w.write_str(&self.0);
    }
}

/// The compare's event sink for `mode`, and its bars to clear at the end (when drawn).
pub fn compare_sink(
    mode: OutputMode,
    total_trials: u64,
    attempt_budget: String,
) -> (CompareEventSink, Option<Arc<CompareBars>>) {
    if mode.json {
        let sink: CompareEventSink = Arc::new(|event: &CompareEvent| {
            if let Some(v) = compare_event_json(event) {
                println!("{v}");
            }
        });
        return (sink, None);
    }
    if mode.quiet {
        return (Arc::new(|_: &CompareEvent| {}), None);
    }
    if std::io::stderr().is_terminal() {
        let bars = Arc::new(CompareBars::new(total_trials, attempt_budget));
        let for_sink = Arc::clone(&bars);
        return (Arc::new(move |event: &CompareEvent| for_sink.on(event)), Some(bars));
    }
    (Arc::new(crate::compare_cmd::progress), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_objects() {
        let v = event_json(&RunEvent::Scored { iteration: 2, score: 1.5, verified: true, best: Some(1.5) }).unwrap();
        assert_eq!(v, json!({"event": "score", "iteration": 2, "score": 1.5, "verified": true, "best": 1.5}));
        let v = event_json(&RunEvent::PhaseStarted { iteration: 1, phase: "attempt".into() }).unwrap();
        assert_eq!(v.to_string(), r#"{"event":"phase_started","iteration":1,"phase":"attempt"}"#);
    }
}
