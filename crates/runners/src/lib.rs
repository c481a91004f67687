//! Agent runners: the [`Runner`] trait every agent adapter implements, the phase files they all
//! write, and the deterministic [`fake::FakeRunner`] used by the offline demo and the tests.
//!
//! Real adapters: [`exec::ExecRunner`] (Codex CLI) and [`claude::ClaudeRunner`] (Claude Code),
//! both with the prompt on stdin and their structured output parsed for session, final message,
//! usage and errors.

mod agent_cli;
pub mod claude;
pub mod command;
pub mod exec;
pub mod fake;
mod files;
pub mod launcher;
pub mod remote;

use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;
pub use files::PhaseFiles;
use harnessgym_artifacts::prompts::AgentFlavor;
pub use harnessgym_types::runner::{Phase, PhaseStatus, RunnerResult, Usage};
use tokio::sync::watch;

/// The runner choices of `--runner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunnerKind {
    /// Codex CLI (`codex exec`); alias `codex`.
    Exec,
    Claude,
    /// Any agent CLI described by a profile.
    Command,
    Fake,
}

impl RunnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerKind::Exec => "exec",
            RunnerKind::Claude => "claude",
            RunnerKind::Command => "command",
            RunnerKind::Fake => "fake",
        }
    }

    /// The agent named in prompts.
    pub fn agent(self) -> AgentFlavor {
        match self {
            RunnerKind::Claude => AgentFlavor::ClaudeCode,
            _ => AgentFlavor::Codex,
        }
    }
}

/// One phase to run. `phase_dir` is the iteration dir (or `repair_<k>` for repairs): the runner
/// writes `<phase>.{prompt,stdout,stderr,transcript}.txt` there.
#[derive(Clone, Debug)]
pub struct PhaseRequest {
    pub phase: Phase,
    pub run_id: String,
    pub iteration: u32,
    pub workspace: Utf8PathBuf,
    pub phase_dir: Utf8PathBuf,
    pub result_path: Utf8PathBuf,
    pub prompt: String,
    /// The session to resume; `None` for a fresh attempt.
    pub session_id: Option<String>,
    pub timeout: Duration,
    /// Flips to `true` when the user interrupts the run: the runner kills its agent's group.
    pub cancel: watch::Receiver<bool>,
}

/// An agent backend. A phase never returns an error: whatever goes wrong is reported in the
/// [`RunnerResult`] (`status: failed`, `message`), so the loop always goes on.
#[async_trait]
pub trait Runner: Send + Sync {
    fn kind(&self) -> RunnerKind;

    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult;

    /// Releases long-lived resources at the end of a run.
    async fn close(&self) {}
}
