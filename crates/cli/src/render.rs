//! Human output: the result lines on stdout (as the reference prints them) and progress on
//! stderr.

use std::fmt::Write;

use harnessgym_core::RunOutcome;
use harnessgym_core::events::RunEvent;

/// Python's literal for a bool.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python's repr of an optional float (`4.0`, `None`).
fn py_float(v: Option<f64>) -> String {
    match v {
        None => "None".into(),
        Some(f) => format!("{f:?}"),
    }
}

pub fn outcome_lines(outcome: &RunOutcome, optimization_mode: bool) -> String {
    let mut out = String::new();
    let s = &outcome.summary;
    let _ = writeln!(out, "Run id: {}", outcome.run_id);
    let _ = writeln!(out, "Run artifacts: {}", outcome.run_dir);
    if !s.iterations.is_empty() || outcome.interrupted {
        let _ = writeln!(out, "Final status: {}", s.final_status);
        let _ = writeln!(out, "Solved and verified: {}", py_bool(s.solved));
        if let Some(path) = &outcome.last_result_path {
            let _ = writeln!(out, "Final result: {path}");
        }
    }
    if optimization_mode {
        let _ = writeln!(out, "Optimization improved: {}", py_bool(s.optimization.improved));
        let _ = writeln!(out, "Best score: {}", py_float(s.best_score));
    }
    if !s.errors.is_empty() {
        // Only a summary that was written can be pointed to.
        let see = match &outcome.summary_error {
            None => format!(" (see {})", outcome.summary_path),
            Some(_) => String::new(),
        };
        let _ = writeln!(out, "Recorded errors: {}{see}", s.errors.len());
    }
    out
}

/// Progress lines on stderr.
pub fn progress(event: &RunEvent) {
    if let Some(line) = progress_line(event) {
        eprintln!("{line}");
    }
}

/// The progress line of an event, if it has one.
pub fn progress_line(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::PhaseFinished { iteration, phase, status } => format!("[iteration {iteration}] {phase}: {status}"),
        RunEvent::IterationFinished { iteration, status, solved } => {
            let stop = if *solved { "; stopping: solved" } else { "" };
            format!("[iteration {iteration}] result: {status}{stop}")
        }
        // First, so a run that is killed later still said which id to resume.
        RunEvent::Started { run_id, run_dir } => format!("[run {run_id}] {run_dir}"),
        RunEvent::Resumed { position } => format!("resuming at {position}"),
        RunEvent::EarlierCommandInterrupted(h) => format!(
            "harnessgym: the last command on this workspace, `{}` (pid {}, since {}), ended without finishing; \
             a run it left goes on with --resume",
            h.command, h.pid, h.since
        ),
        RunEvent::SurvivorsKilled(survivors) => {
            format!("harnessgym: {}", harnessgym_core::lock::survivors_report(survivors)?)
        }
        RunEvent::Problem(e) => {
            let at = e.path.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
            format!("harnessgym: warning: {}{at}: {}", e.phase, e.message)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals() {
        assert_eq!(py_float(Some(4.0)), "4.0");
        assert_eq!(py_float(None), "None");
        assert_eq!(py_bool(true), "True");
    }
}
