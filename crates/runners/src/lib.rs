//! Agent runners: the [`Runner`] trait every agent adapter implements, the phase files they all
//! write, and the deterministic [`fake::FakeRunner`] used by the offline demo and the tests.
//!
//! Real adapters: [`exec::ExecRunner`] (Codex CLI), [`claude::ClaudeRunner`] (Claude Code) and
//! [`command::CommandRunner`] (any CLI described by a TOML profile), all with the prompt on stdin
//! and their structured output parsed for session, final message, usage and errors. Each holds a
//! [`launcher::AgentLauncher`] that says where its CLI runs: on this machine, or on a remote host
//! over SSH ([`remote`]).
//!
//! An embedder brings its own agent by implementing [`Runner`].

#![warn(missing_docs)]

mod agent_cli;
pub mod claude;
pub mod codex_env;
pub mod command;
pub mod exec;
pub mod fake;
mod files;
pub mod launcher;
pub mod remote;
pub mod setup;

use std::time::Duration;

pub use agent_cli::Parsed;
use async_trait::async_trait;
use camino::Utf8PathBuf;
pub use files::PhaseFiles;
pub use harnessgym_artifacts::prompts::AgentFlavor;
pub use harnessgym_types::runner::{Phase, PhaseStatus, RunnerResult, Usage};
use tokio::sync::watch;

/// The runner choices of `--runner` (defined with the other run options in
/// `harnessgym_types::options`).
pub use harnessgym_types::options::RunnerKind;

/// One phase to run. `phase_dir` is the iteration dir (or `repair_<k>` for repairs): the runner
/// writes `<phase>.{prompt,stdout,stderr,transcript}.txt` there.
#[derive(Clone, Debug)]
pub struct PhaseRequest {
    /// Which phase of the iteration (attempt, reflect, build, repair).
    pub phase: Phase,
    /// The run's id (the name of its directory under `.harnessgym/runs/`).
    pub run_id: String,
    /// The iteration, from 1.
    pub iteration: u32,
    /// The task's workspace: the agent's working directory.
    pub workspace: Utf8PathBuf,
    /// Where the phase's files go (see [`PhaseFiles`]).
    pub phase_dir: Utf8PathBuf,
    /// The iteration's `result.json`, which the prompt asks the agent to write.
    pub result_path: Utf8PathBuf,
    /// The prompt (delivered on stdin, never in argv).
    pub prompt: String,
    /// The session to resume; `None` for a fresh attempt.
    pub session_id: Option<String>,
    /// How long the agent may take; then its whole process group is killed.
    pub timeout: Duration,
    /// Flips to `true` when the user interrupts the run: the runner kills its agent's group.
    pub cancel: watch::Receiver<bool>,
}

/// An agent backend: what the run loop calls for every phase of every iteration. Embedders
/// implement it to bring their own agent.
///
/// The contract:
///
/// * **No errors.** A phase never returns an error: whatever goes wrong (the agent is missing,
///   crashed, timed out, wrote nothing) is reported in the [`RunnerResult`] (`status: failed` or
///   `timeout`, a `message` for the user), so the loop always goes on.
/// * **Files.** The phase writes its prompt, the agent's stdout and stderr and a transcript at
///   [`PhaseFiles::new`]`(&request.phase_dir, request.phase)` and names them in the result.
/// * **Sessions.** `session_id` in the result is the agent's session (taken from its structured
///   output, never guessed from prose); later phases of the iteration get it in
///   [`PhaseRequest::session_id`] to resume.
/// * **Time and cancel.** The phase ends within [`PhaseRequest::timeout`] (`status: timeout`)
///   and stops promptly when [`PhaseRequest::cancel`] flips to `true` (`status: interrupted`),
///   leaving no agent process behind.
/// * The agent itself edits the workspace and writes `result.json` at
///   [`PhaseRequest::result_path`]; a runner does not write registry files.
///
/// ```
/// use async_trait::async_trait;
/// use harnessgym_runners::{PhaseFiles, PhaseRequest, PhaseStatus, Runner, RunnerResult};
///
/// /// An "agent" that only records the prompt it was given.
/// struct PromptRecorder;
///
/// #[async_trait]
/// impl Runner for PromptRecorder {
///     async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
///         let files = PhaseFiles::new(&request.phase_dir, request.phase);
///         let written = PhaseFiles::write(&files.prompt, &request.prompt)
///             .and_then(|()| PhaseFiles::write(&files.stdout, ""))
///             .and_then(|()| PhaseFiles::write(&files.stderr, ""))
///             .and_then(|()| PhaseFiles::write(&files.transcript, "recorded the prompt\n"));
///         let (status, message) = match written {
///             Ok(()) => (PhaseStatus::Completed, String::new()),
///             Err(e) => (PhaseStatus::Failed, e.to_string()),
///         };
///         RunnerResult {
///             phase: request.phase,
///             status,
///             session_id: request.session_id.clone(),
///             return_code: Some(0),
///             timed_out: false,
///             duration_seconds: 0.0,
///             stdout_path: Some(files.stdout),
///             stderr_path: Some(files.stderr),
///             transcript_path: Some(files.transcript),
///             prompt_path: Some(files.prompt),
///             message,
///             usage: None,
///             cost_usd: None,
///             extra: Default::default(),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Runner: Send + Sync {
    /// The agent the prompts are written for: where they say skills and instructions live
    /// (`.agents/skills` and AGENTS.md for Codex, `.claude/skills` and CLAUDE.md for Claude
    /// Code) and what they call the agent. Codex unless a runner says otherwise.
    fn agent(&self) -> AgentFlavor {
        AgentFlavor::Codex
    }

    /// Runs one phase to its end (completed, failed, timed out or interrupted) and reports it.
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult;

    /// Releases long-lived resources at the end of a run.
    async fn close(&self) {}
}
