//! Embedding `harnessgym-core` in a tool of your own.
//!
//! The program runs HarnessGym's loop on a scratch copy of the bundled numerical-debug task
//! (`examples/numerical-debug`) with:
//!
//! - a [`Runner`] of its own, [`RuleAgent`]: no model, a few rules an in-house agent might have —
//!   it studies the task in iteration 1, fixes the log-sum-exp in iteration 2, and in between
//!   writes the skill it wished it had;
//! - an event observer that prints every phase and every score as the run goes;
//! - the independent check the task ships (`python3 verifier.py`, lower `score` is better) as the
//!   post-attempt command, in optimisation mode, so the best verified workspace is kept.
//!
//! ```sh
//! cargo run -p harnessgym-embed-example -- [DIR]
//! ```
//!
//! DIR (default: a new temporary directory) must be empty or absent.
//!
//! The agent here builds a skill. An agent that builds MCP servers needs them launched through
//! an installed `harnessgym` (`harnessgym mcp-proxy`): pass its path with `Run::with_activator`
//! and `Run::with_qualifier` (see `Run::new`).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_core::events::RunEvent;
use harnessgym_core::{Run, RunConfig, RunRequest};
use harnessgym_runners::{Phase, PhaseFiles, PhaseRequest, PhaseStatus, Runner, RunnerResult};

/// The demo task, as the CLI's `harnessgym demo` ships it.
const TASK_FILES: [(&str, &str); 3] = [
    ("task.md", include_str!("../../numerical-debug/task.md")),
    ("numerics.py", include_str!("../../numerical-debug/numerics.py")),
    ("verifier.py", include_str!("../../numerical-debug/verifier.py")),
];

/// The line our rule recognises, and what it becomes: the max shift put back.
const DRIFTING: &str = "    return math.log(total)";
const FIXED: &str = "    return peak + math.log(total)";

/// An agent made of rules. HarnessGym needs only [`Runner::run_phase`]: run the phase, write
/// what it saw beside the prompt, and say how it ended — never fail the loop.
#[derive(Debug, Default)]
struct RuleAgent;

impl RuleAgent {
    /// What the agent does in `request`'s phase; the text is its transcript.
    fn act(request: &PhaseRequest) -> Result<(PhaseStatus, String), String> {
        let ws = &request.workspace;
        match (request.phase, request.iteration) {
            (Phase::Attempt, 1) => {
                merge_result(
                    request,
                    serde_json::json!({"status": "blocked", "summary": "Read the task; the drift is in logsumexp."}),
                )?;
                Ok((PhaseStatus::Blocked, "studied numerics.py; no edit yet\n".into()))
            }
            (Phase::Attempt, _) => {
                let module = ws.join("numerics.py");
                let source = std::fs::read_to_string(&module).map_err(|e| format!("{module}: {e}"))?;
                let fixed = source.replacen(DRIFTING, FIXED, 1);
                std::fs::write(&module, &fixed).map_err(|e| format!("{module}: {e}"))?;
                merge_result(request, serde_json::json!({"status": "solved", "summary": "Added the max shift back."}))?;
                Ok((PhaseStatus::Completed, format!("fix applied: {}\n", fixed != source)))
            }
            (Phase::Reflection, _) => {
                let improvement = "a skill: check log-sum-exp against a naive sum on small inputs";
                merge_result(request, serde_json::json!({"selected_improvement": improvement}))?;
                Ok((PhaseStatus::Completed, format!("selected: {improvement}\n")))
            }
            (Phase::Build, _) => {
                let skill = ws.join(".harnessgym/skills/lse-check/SKILL.md");
                write(
                    &skill,
                    "---\nname: lse-check\ndescription: Compare logsumexp with a naive sum on small inputs.\n---\n\n\
                     Run `python3 verifier.py` and read `failures` before editing numerics.py.\n",
                )?;
                Ok((PhaseStatus::Completed, format!("built {skill}\n")))
            }
        }
    }
}

#[async_trait]
impl Runner for RuleAgent {
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        let (status, transcript, message) = match Self::act(&request) {
            Ok((status, transcript)) => (status, transcript, String::new()),
            Err(message) => (PhaseStatus::Failed, String::new(), message),
        };
        let mut result = RunnerResult::new(request.phase, status);
        let written = write(&files.prompt, &request.prompt).and_then(|()| write(&files.transcript, &transcript));
        result.message = written.err().unwrap_or(message);
        result.session_id = Some(request.session_id.unwrap_or_else(|| format!("rules-{}", request.iteration)));
        result.prompt_path = Some(files.prompt);
        result.transcript_path = Some(files.transcript);
        result
    }
}

fn write(path: &Utf8Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{parent}: {e}"))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
}

/// Merges `update` into the iteration's result.json (the file the agent reports through).
fn merge_result(request: &PhaseRequest, update: serde_json::Value) -> Result<(), String> {
    let path = &request.result_path;
    let mut doc: serde_json::Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(doc), Some(update)) = (doc.as_object_mut(), update.as_object()) {
        doc.extend(update.clone());
    }
    write(path, &format!("{doc:#}\n"))
}

/// The observer: one line per phase and per score. HarnessGym calls it on the loop's task; keep
/// it quick.
fn print_event(event: &RunEvent) {
    match event {
        RunEvent::Started { run_id, .. } => println!("run {run_id} started"),
        RunEvent::PhaseStarted { iteration, phase } => println!("iteration {iteration}: {phase}…"),
        RunEvent::PhaseFinished { iteration, phase, status } => println!("iteration {iteration}: {phase} {status}"),
        RunEvent::Scored { iteration, score, verified, best } => {
            let when = if *iteration == 0 { "baseline".to_owned() } else { format!("iteration {iteration}") };
            let check = if *verified { "verified" } else { "not verified" };
            let best = best.map_or_else(|| "none yet".to_owned(), |b| b.to_string());
            println!("{when}: score {score} ({check}); best {best}");
        }
        RunEvent::IterationFinished { iteration, status, .. } => println!("iteration {iteration}: {status}"),
        RunEvent::Problem(problem) => println!("recorded problem: {}", problem.message),
        _ => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (dir, _temp) = match std::env::args().nth(1) {
        Some(dir) => (Utf8PathBuf::from(dir), None),
        None => {
            let temp = tempfile::Builder::new().prefix("harnessgym-embed-").tempdir()?;
            let dir = Utf8PathBuf::from_path_buf(temp.path().to_owned())
                .map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))?;
            (dir, Some(temp))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    for (name, text) in TASK_FILES {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name} into {dir}"))?;
    }

    let mut request = RunRequest { task: Some("task.md".into()), ..RunRequest::default() };
    request.workspace = dir.to_string();
    request.options.iterations = 3;
    request.options.optimization_mode = true;
    request.options.post_attempt.command = Some("python3 verifier.py".into());
    let config = RunConfig::from_request(request, &dir)?;

    let outcome = Run::new(config, Arc::new(RuleAgent)).with_events(Arc::new(print_event)).execute().await?;
    let summary = &outcome.summary;
    println!(
        "finished: {} after {} iteration(s); baseline {:?}, best verified {:?}",
        summary.final_status,
        summary.iterations.len(),
        summary.optimization.baseline_score,
        summary.best_score
    );
    println!("files: {}", outcome.run_dir);
    Ok(())
}
