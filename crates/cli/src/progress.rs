//! How a run shows its progress: progress bars on a terminal (indicatif), today's plain lines when
//! stderr is not a terminal, NDJSON events on stdout with `--json`, nothing with `--quiet`.
//! Core only emits `RunEvent`s; everything drawn is decided here.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harnessgym_core::events::{EventSink, RunEvent};
use harnessgym_core::{RunConfig, RunOutcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
        self.bar.set_message(format!("{} · last {last} · best {best}", self.budget(&state.phase, state.iteration)));
    }

    fn on(&self, event: &RunEvent) {
        let Ok(mut state) = self.state.lock() else { return };
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
