//! Where an agent CLI adapter starts its CLI: [`AgentLauncher`].

use crate::agent_cli::{Invocation, RawRun};
use crate::remote::{RemoteAgentOptions, RemoteLauncher};
use crate::{PhaseFiles, PhaseRequest};

/// Where the agent CLI adapters ([`crate::exec::ExecRunner`], [`crate::claude::ClaudeRunner`],
/// [`crate::command::CommandRunner`]) start their CLI: on this machine (the default) or on a
/// remote host over SSH (`--runner-remote`).
///
/// An adapter holds its launcher (`with_launcher`); nothing else decides where a phase runs.
/// Cloning a remote launcher shares its once-per-run probe of the host.
///
/// ```
/// use camino::Utf8PathBuf;
/// use harnessgym_runners::exec::{ExecOptions, ExecRunner};
/// use harnessgym_runners::launcher::AgentLauncher;
///
/// let options = ExecOptions::new("codex", Utf8PathBuf::from("/usr/local/bin/harnessgym"));
/// let runner = ExecRunner::new(options).with_launcher(AgentLauncher::Local);
/// assert!(matches!(runner.launcher(), AgentLauncher::Local));
/// ```
#[derive(Clone, Debug, Default)]
pub enum AgentLauncher {
    /// A child process of this one, in its own process group (`harnessgym_proc::run_with_cancel`).
    #[default]
    Local,
    /// A process on another host, in a mirror of the workspace (see [`crate::remote`]).
    Remote(RemoteLauncher),
}

impl AgentLauncher {
    /// A launcher that runs the agent CLI on `options.target` over SSH.
    pub fn remote(options: RemoteAgentOptions) -> Self {
        Self::Remote(RemoteLauncher::new(options))
    }

    /// Runs one phase's CLI where this launcher says: prompt file written, output streamed to the
    /// phase files, a timeout or cancel kills the agent's whole process group.
    pub(crate) async fn run_cli(&self, request: &PhaseRequest, files: &PhaseFiles, invocation: &Invocation) -> RawRun {
        match self {
            Self::Local => crate::agent_cli::run_local(request, files, invocation).await,
            Self::Remote(remote) => remote.run_cli(request, files, invocation).await,
        }
    }
}
