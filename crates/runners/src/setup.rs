//! Which adapter a run drives: the one place that maps `--runner` and its options to a
//! [`Runner`]. Core builds a [`RunnerSetup`] from a run's configuration; the CLI only adjusts it
//! (a rehearsal points the CLIs at the scripted model server) before [`RunnerSetup::build`].

use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_types::options::{ClaudeOptions as ClaudeCliOptions, CodexOptions, RunnerKind};

use crate::Runner;
use crate::claude::{ClaudeOptions, ClaudeRunner};
use crate::command::{CommandRunner, Profile, ProfileError};
use crate::exec::{ExecOptions, ExecRunner};
use crate::fake::FakeRunner;
use crate::launcher::AgentLauncher;

/// Everything the runner of a run is built from.
#[derive(Clone, Debug)]
pub struct RunnerSetup {
    /// `--runner`.
    pub kind: RunnerKind,
    /// How Codex is called (`exec`).
    pub exec: ExecOptions,
    /// How Claude Code is called (`claude`).
    pub claude: ClaudeOptions,
    /// The TOML profile of the `command` runner, absolute.
    pub profile: Option<Utf8PathBuf>,
    /// Where the agent CLI runs (the fake runner runs nothing).
    pub launcher: AgentLauncher,
}

/// Why a runner cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `--runner command` without a profile.
    #[error("runner command needs --runner-profile FILE (a TOML profile of the agent CLI; see docs/runners.md)")]
    MissingProfile,
    /// The profile cannot be read.
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

impl RunnerSetup {
    /// The setup of `kind` with the `--codex-*` and `--claude-*` options, running locally; MCP
    /// servers are launched through `harnessgym_bin`.
    pub fn new(
        kind: RunnerKind,
        codex: CodexOptions,
        claude: ClaudeCliOptions,
        profile: Option<Utf8PathBuf>,
        harnessgym_bin: Utf8PathBuf,
    ) -> Self {
        Self {
            kind,
            exec: ExecOptions::from_cli(codex, harnessgym_bin),
            claude: ClaudeOptions::from_cli(claude),
            profile,
            launcher: AgentLauncher::Local,
        }
    }

    /// The runner `kind` names.
    pub fn build(self) -> Result<Arc<dyn Runner>, SetupError> {
        let launcher = self.launcher;
        Ok(match self.kind {
            RunnerKind::Fake => Arc::new(FakeRunner),
            RunnerKind::Exec => Arc::new(ExecRunner::new(self.exec).with_launcher(launcher)),
            RunnerKind::Claude => Arc::new(ClaudeRunner::new(self.claude).with_launcher(launcher)),
            RunnerKind::Command => {
                let profile = self.profile.ok_or(SetupError::MissingProfile)?;
                Arc::new(CommandRunner::new(Profile::load(&profile)?).with_launcher(launcher))
            }
        })
    }
}
