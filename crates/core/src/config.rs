//! The validated configuration of a run, built from raw values (CLI flags or an embedding tool)
//! with the reference's defaults, validation order and messages.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::remote::{
    RemoteHost, RemoteWorkspace, default_remote_dir, normalize_remote_dir, redact_ssh_args, validate_destination,
};
use harnessgym_runners::launcher::AgentLauncher;
use harnessgym_runners::remote::RemoteAgentOptions;
use harnessgym_runners::setup::RunnerSetup;
use harnessgym_types::duration::DurationError;
use harnessgym_types::options::{RemoteOptions, RunOptions, RunnerKind, Timeout};
use harnessgym_types::run_config::RunConfigFile;

/// What a user asks for: the task, where it runs, and the [`RunOptions`]. Its `Default` holds
/// the reference's defaults (defined once, by the option types).
///
/// Serializable so a run can record what it was started with (`progress.json`) and
/// `run --resume` can rebuild the same [`RunConfig`]; keys missing from a recorded request take
/// the defaults. With the `cli` feature it is also the `harnessgym run` flags (`clap::Args`).
///
/// ```
/// use harnessgym_core::RunRequest;
/// use harnessgym_core::options::RunnerKind;
///
/// let mut request = RunRequest::for_task_text("Make the tests pass.", "/tmp/ws");
/// request.options.runner = RunnerKind::Fake;
/// request.options.iterations = 2;
/// assert_eq!(request.options.timeouts.attempt.to_string(), "45m");
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default)]
pub struct RunRequest {
    /// Task file (markdown or text); relative paths are looked up in the current directory, then in the workspace.
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH", display_order = 0))]
    pub task: Option<String>,
    /// Inline task text.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT", display_order = 1))]
    pub task_text: Option<String>,
    /// Workspace root; must exist.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", default_value_t = RunRequest::default().workspace,
        display_order = 2))]
    pub workspace: String,
    /// Run id [default: <UTC time>-<8 hex>]; must not exist yet.
    #[cfg_attr(feature = "cli", arg(long, value_name = "ID", display_order = 22))]
    pub run_id: Option<String>,
    /// Rehearse with the real CLI against a scripted model server on 127.0.0.1 (exec or claude; zero tokens).
    // Recorded so a rehearsal is never resumed against the real model endpoint.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", display_order = 16))]
    pub model_script: Option<String>,
    /// Every other option of the run.
    #[serde(flatten)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub options: RunOptions,
}

impl Default for RunRequest {
    fn default() -> Self {
        Self {
            task: None,
            task_text: None,
            workspace: ".".into(),
            run_id: None,
            model_script: None,
            options: RunOptions::default(),
        }
    }
}

impl RunRequest {
    /// A request for `task_text` in `workspace`, every option at its default.
    pub fn for_task_text(task_text: impl Into<String>, workspace: impl Into<String>) -> Self {
        Self { task_text: Some(task_text.into()), workspace: workspace.into(), ..Self::default() }
    }
}

/// Why a [`RunRequest`] cannot become a [`RunConfig`]: the reference's messages, naming the flag.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// `--runner command` without `--runner-profile`.
    #[error("runner command needs --runner-profile FILE (a TOML profile of the agent CLI; see docs/runners.md)")]
    MissingProfile,
    /// `--iterations` is zero or negative.
    #[error("iterations must be positive")]
    Iterations,
    /// `--iterations` is larger than the loop counts (`u32::MAX`).
    #[error("iterations must be between 1 and {max}, got {0}", max = u32::MAX)]
    IterationsTooLarge(i64),
    /// `--artifact-repair-attempts` is negative.
    #[error("artifact_repair_attempts cannot be negative")]
    RepairAttempts,
    /// `--artifact-repair-attempts` is larger than `u32::MAX`.
    #[error("artifact_repair_attempts must be between 0 and {max}, got {0}", max = u32::MAX)]
    RepairAttemptsTooLarge(i64),
    /// The workspace does not exist.
    #[error("workspace {0} does not exist; create it first or pass an existing directory to --workspace")]
    MissingWorkspace(Utf8PathBuf),
    /// The workspace is not a directory.
    #[error("workspace {0} is not a directory; pass a directory to --workspace")]
    WorkspaceNotDir(Utf8PathBuf),
    /// Neither task text nor a task file.
    #[error("provide either task text or a task file")]
    NoTask,
    /// The task file cannot be read.
    #[error("task file {path} cannot be read: {message}; check the path given to --task")]
    TaskFile {
        /// The task file.
        path: Utf8PathBuf,
        /// What reading it said.
        message: String,
    },
    /// The task file is larger than a task can be.
    #[error(
        "task file {path} is larger than {limit} bytes; a task is a description for an agent: put data in the \
         workspace and describe it in the task"
    )]
    TaskTooLarge {
        /// The task file.
        path: Utf8PathBuf,
        /// The limit, [`MAX_TASK_BYTES`].
        limit: u64,
    },
    /// The task text is blank.
    #[error("task text cannot be empty")]
    EmptyTask,
    /// A timeout that cannot be used.
    #[error("{flag}: {reason}")]
    Duration {
        /// The flag.
        flag: &'static str,
        /// What is wrong with it.
        reason: DurationError,
    },
    /// A path that is not UTF-8.
    #[error("path {0} is not valid UTF-8; use a UTF-8 path")]
    NonUtf8(String),
    /// A remote flag that cannot be used as given.
    #[error("{flag}: {reason}")]
    Remote {
        /// The flag.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A validated run configuration: the options resolved against the machine (paths absolute,
/// fallbacks filled in, remote hosts checked). Build it with [`RunConfig::from_request`].
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The requested run id (`None`: generated when the run starts).
    pub run_id: Option<String>,
    /// The workspace, absolute and canonical.
    pub workspace: Utf8PathBuf,
    /// The task file, absolute, when the task came from a file.
    pub task_path: Option<Utf8PathBuf>,
    /// The task, as read when the configuration was built.
    pub task_text: String,
    /// The options, resolved: `timeouts.reflection` and `post_attempt.score_key` filled in,
    /// `runner_profile` and `remote.root` absolute, a blank post command or remote host dropped.
    pub options: RunOptions,
    /// `options.iterations`, validated.
    pub iterations: u32,
    /// `options.qualification.repair_attempts`, validated.
    pub repair_attempts: u32,
    /// The post command runs in this remote mirror of the workspace (`--post-attempt-remote`).
    pub post_attempt_remote: Option<RemoteWorkspace>,
    /// The agent CLI runs in this remote mirror of the workspace (`--runner-remote`).
    pub runner_remote: Option<RemoteWorkspace>,
    /// What this configuration was built from, for `run --resume`.
    pub recorded: RecordedRequest,
}

/// The request a [`RunConfig`] was built from, with the directory that resolved its relative
/// paths and the task text as read at the start (a resumed run uses that text even if the task
/// file has changed or gone since).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedRequest {
    /// The request, with `task_text` filled in.
    pub request: RunRequest,
    /// The directory relative paths were resolved against.
    pub cwd: Utf8PathBuf,
}

impl RecordedRequest {
    /// The request as it may be written to disk: `--remote-ssh-arg` values that set remote
    /// environment variables (`SetEnv=…`, often tokens) are redacted, as in run_config.json;
    /// a resumed run needs them passed again.
    pub fn without_secrets(&self) -> Self {
        let mut copy = self.clone();
        let ssh_args = &mut copy.request.options.remote.ssh_args;
        *ssh_args = redact_ssh_args(ssh_args);
        copy
    }

    /// Whether some recorded value was redacted by [`RecordedRequest::without_secrets`].
    pub fn has_redactions(&self) -> bool {
        self.request.options.remote.ssh_args.iter().any(|a| a.ends_with("=<redacted>"))
    }

    /// Rebuilds the configuration the run started with.
    pub fn to_config(&self) -> Result<RunConfig, ConfigError> {
        RunConfig::from_request(self.request.clone(), &self.cwd)
    }
}

fn utf8(path: std::path::PathBuf) -> Result<Utf8PathBuf, ConfigError> {
    Utf8PathBuf::from_path_buf(path).map_err(|p| ConfigError::NonUtf8(p.display().to_string()))
}

/// `~` expansion and absolutisation against `cwd` (no symlink resolution).
pub(crate) fn absolute(raw: &str, cwd: &Utf8Path) -> Utf8PathBuf {
    let expanded = match (raw.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => Utf8PathBuf::from(home).join(rest),
        _ if raw == "~" => std::env::var("HOME").map(Utf8PathBuf::from).unwrap_or_else(|_| raw.into()),
        _ => Utf8PathBuf::from(raw),
    };
    let joined = if expanded.is_absolute() { expanded } else { cwd.join(expanded) };
    normalize(&joined)
}

/// Removes `.` and resolves `..` lexically.
fn normalize(path: &Utf8Path) -> Utf8PathBuf {
    let mut out = Utf8PathBuf::new();
    for c in path.components() {
        match c {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_str()),
        }
    }
    out
}

/// The remote mirror of `workspace` a post command runs in (`--post-attempt-remote` and the
/// `--remote-*` flags), checked as for a run; `None` when no post host is named.
pub fn post_remote_workspace(
    remote: &RemoteOptions,
    workspace: &Utf8Path,
) -> Result<Option<RemoteWorkspace>, ConfigError> {
    remote_targets(remote, RunnerKind::Exec, true, workspace).map(|(post, _)| post)
}

/// The remote mirrors of `--post-attempt-remote` / `--runner-remote` (same port, root and ssh
/// arguments), after the checks that make their flags meaningful.
fn remote_targets(
    req: &RemoteOptions,
    runner: RunnerKind,
    has_post_command: bool,
    workspace: &Utf8Path,
) -> Result<(Option<RemoteWorkspace>, Option<RemoteWorkspace>), ConfigError> {
    let err = |flag: &'static str, reason: String| ConfigError::Remote { flag, reason };
    let post = req.post_attempt_host.as_deref().filter(|h| !h.trim().is_empty());
    let agent = req.runner_host.as_deref().filter(|h| !h.trim().is_empty());
    if post.is_none() && agent.is_none() {
        let stray = [
            (req.port.is_some(), "--remote-port"),
            (req.root.is_some(), "--remote-root"),
            (!req.ssh_args.is_empty(), "--remote-ssh-arg"),
            (req.harnessgym.is_some(), "--remote-harnessgym"),
        ];
        if let Some((_, flag)) = stray.iter().find(|(set, _)| *set) {
            return Err(err(flag, "only applies with --post-attempt-remote or --runner-remote user@host".into()));
        }
        return Ok((None, None));
    }
    if post.is_some() && !has_post_command {
        return Err(err("--post-attempt-remote", "needs --post-attempt-command (the command to run there)".into()));
    }
    if agent.is_none() && req.harnessgym.is_some() {
        return Err(err("--remote-harnessgym", "only applies with --runner-remote".into()));
    }
    if agent.is_some() && runner == RunnerKind::Fake {
        return Err(err(
            "--runner-remote",
            "needs an agent CLI runner (exec, claude or command); the fake runner runs nothing".into(),
        ));
    }
    if req.port == Some(0) {
        return Err(err("--remote-port", "must be between 1 and 65535".into()));
    }
    let dir = match req.root.as_deref() {
        Some(raw) => normalize_remote_dir(raw).map_err(|reason| err("--remote-root", reason.to_string()))?,
        None => default_remote_dir(workspace),
    };
    let target = |flag: &'static str, destination: &str| {
        validate_destination(destination).map_err(|reason| err(flag, reason.to_string()))?;
        let mut host = RemoteHost::new(destination);
        host.port = req.port;
        host.ssh_args = req.ssh_args.clone();
        Ok(RemoteWorkspace { host, dir: dir.clone() })
    };
    Ok((
        post.map(|h| target("--post-attempt-remote", h)).transpose()?,
        agent.map(|h| target("--runner-remote", h)).transpose()?,
    ))
}

/// The largest task file read (1 MiB): a task describes work for an agent; a bigger file (or
/// `/dev/zero`) is refused rather than read without end.
pub const MAX_TASK_BYTES: u64 = 1024 * 1024;

/// Reads a task file of at most [`MAX_TASK_BYTES`] (invalid UTF-8 replaced, as the reference does).
pub(crate) fn read_task_file(path: &Utf8Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let failed = |e: std::io::Error| ConfigError::TaskFile { path: path.to_owned(), message: e.to_string() };
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_TASK_BYTES + 1).read_to_end(&mut bytes)).map_err(failed)?;
    if bytes.len() as u64 > MAX_TASK_BYTES {
        return Err(ConfigError::TaskTooLarge { path: path.to_owned(), limit: MAX_TASK_BYTES });
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A timeout an embedder built from seconds: zero is refused as the parser refuses it.
fn positive(flag: &'static str, timeout: Timeout) -> Result<Timeout, ConfigError> {
    if timeout.seconds() == 0 {
        return Err(ConfigError::Duration { flag, reason: DurationError::NotPositive });
    }
    Ok(timeout)
}

impl RunConfig {
    /// Validates in the reference's order; `cwd` resolves relative paths.
    ///
    /// ```
    /// use harnessgym_core::{RunConfig, RunRequest};
    ///
    /// let ws = tempfile::tempdir().unwrap();
    /// let ws = camino::Utf8PathBuf::from_path_buf(ws.path().to_owned()).unwrap();
    /// let config = RunConfig::from_request(RunRequest::for_task_text("Fix it.", ws.as_str()), &ws).unwrap();
    /// // The reflection timeout falls back to the build timeout.
    /// assert_eq!(config.options.timeouts.reflection, Some(config.options.timeouts.build));
    /// ```
    pub fn from_request(req: RunRequest, cwd: &Utf8Path) -> Result<Self, ConfigError> {
        let mut recorded = req.clone();
        let RunRequest { task, task_text, workspace, run_id, model_script: _, mut options } = req;
        let runner_profile = options.runner_profile.as_deref().map(|p| absolute(p, cwd));
        if options.runner == RunnerKind::Command && runner_profile.is_none() {
            return Err(ConfigError::MissingProfile);
        }
        options.runner_profile = runner_profile.map(String::from);
        let iterations = match options.iterations {
            n if n <= 0 => return Err(ConfigError::Iterations),
            n => u32::try_from(n).map_err(|_| ConfigError::IterationsTooLarge(n))?,
        };
        let repair_attempts = match options.qualification.repair_attempts {
            n if n < 0 => return Err(ConfigError::RepairAttempts),
            n => u32::try_from(n).map_err(|_| ConfigError::RepairAttemptsTooLarge(n))?,
        };

        let workspace = absolute(&workspace, cwd);
        match std::fs::metadata(&workspace) {
            Err(_) => return Err(ConfigError::MissingWorkspace(workspace)),
            Ok(m) if !m.is_dir() => return Err(ConfigError::WorkspaceNotDir(workspace)),
            Ok(_) => {}
        }
        let workspace = utf8(std::fs::canonicalize(&workspace).map_err(|_| ConfigError::MissingWorkspace(workspace))?)?;

        let task_path = match task.as_deref() {
            None => None,
            Some(raw) if Utf8Path::new(raw).is_absolute() || raw.starts_with('~') => {
                let p = absolute(raw, cwd);
                Some(std::fs::canonicalize(&p).ok().and_then(|c| Utf8PathBuf::from_path_buf(c).ok()).unwrap_or(p))
            }
            Some(raw) => {
                let from_cwd = absolute(raw, cwd);
                if from_cwd.exists() { Some(from_cwd) } else { Some(normalize(&workspace.join(raw))) }
            }
        };
        let task_text = match (task_text, &task_path) {
            (Some(text), _) => text,
            (None, None) => return Err(ConfigError::NoTask),
            (None, Some(path)) => read_task_file(path)?,
        };
        if task_text.trim().is_empty() {
            return Err(ConfigError::EmptyTask);
        }
        recorded.task_text = Some(task_text.clone());

        let timeouts = &mut options.timeouts;
        timeouts.build = positive("--build-timeout", timeouts.build)?;
        timeouts.attempt = positive("--attempt-timeout", timeouts.attempt)?;
        timeouts.reflection = Some(positive("--reflection-timeout", timeouts.reflection_or_build())?);
        if timeouts.attempt_schedule.as_ref().is_some_and(|s| s.0.contains(&0)) {
            return Err(ConfigError::Duration { flag: "--attempt-timeouts", reason: DurationError::NotPositive });
        }
        options.post_attempt.timeout = positive("--post-attempt-timeout", options.post_attempt.timeout)?;
        options.post_attempt.command.take_if(|c| c.trim().is_empty());
        options.post_attempt.score_key = Some(options.post_attempt_score_key().to_owned());
        let (post_attempt_remote, runner_remote) =
            remote_targets(&options.remote, options.runner, options.post_attempt.command.is_some(), &workspace)?;
        let remote = &mut options.remote;
        for blank in [&mut remote.post_attempt_host, &mut remote.runner_host, &mut remote.harnessgym] {
            blank.take_if(|p| p.trim().is_empty());
        }
        if let Some(target) = post_attempt_remote.as_ref().or(runner_remote.as_ref()) {
            remote.root = Some(target.dir.clone());
        }

        Ok(Self {
            run_id,
            workspace,
            task_path,
            task_text,
            options,
            iterations,
            repair_attempts,
            post_attempt_remote,
            runner_remote,
            recorded: RecordedRequest { request: recorded, cwd: cwd.to_owned() },
        })
    }

    /// The attempt timeout of iteration `iteration` (1-based).
    pub fn attempt_timeout_for(&self, iteration: u32) -> Timeout {
        self.options.timeouts.attempt_for(iteration)
    }

    /// The reflection timeout (its own, else the build timeout).
    pub fn reflection_timeout(&self) -> Timeout {
        self.options.timeouts.reflection_or_build()
    }

    /// The key read from the post command's JSON.
    pub fn post_attempt_score_key(&self) -> &str {
        self.options.post_attempt_score_key()
    }

    /// The runner's TOML profile (`--runner command`), absolute.
    pub fn runner_profile(&self) -> Option<&Utf8Path> {
        self.options.runner_profile.as_deref().map(Utf8Path::new)
    }

    /// What the run's runner is built from: the adapter `--runner` names with its options, on
    /// the `--runner-remote` host when there is one. MCP servers are launched through
    /// `harnessgym_bin` (on a remote host: `--remote-harnessgym`, else the one on its PATH).
    pub fn runner_setup(&self, harnessgym_bin: Utf8PathBuf) -> RunnerSetup {
        let options = &self.options;
        let profile = self.runner_profile().map(Utf8Path::to_owned);
        let mut setup = RunnerSetup::new(
            options.runner,
            options.codex.clone(),
            options.claude.clone(),
            profile,
            harnessgym_bin.clone(),
        );
        if let Some(target) = &self.runner_remote {
            setup.launcher = AgentLauncher::remote(RemoteAgentOptions {
                target: target.clone(),
                local_harnessgym: harnessgym_bin,
                remote_harnessgym: options.remote.harnessgym.clone(),
            });
        }
        setup
    }

    /// The contents of `run_config.json` (ssh `SetEnv` values redacted: they may carry secrets).
    pub fn to_file(&self, run_id: &str) -> RunConfigFile {
        let mut options = self.options.clone();
        options.remote.ssh_args = redact_ssh_args(&options.remote.ssh_args);
        RunConfigFile::new(
            run_id.to_owned(),
            self.workspace.to_string(),
            self.task_path.as_ref().map(ToString::to_string),
            options,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_request_keeps_the_task_text_and_hides_remote_environment_values() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        std::fs::write(cwd.join("task.md"), "Do the thing.\n").unwrap();
        let req = RunRequest { task: Some("task.md".into()), workspace: ".".into(), ..RunRequest::default() };
        let mut req = req;
        req.options.post_attempt.command = Some("true".into());
        req.options.remote.post_attempt_host = Some("me@127.0.0.1".into());
        req.options.remote.ssh_args = vec!["-o".into(), "SetEnv=TOKEN=s3cret".into(), "-i".into(), "key".into()];
        let config = RunConfig::from_request(req, &cwd).unwrap();
        assert_eq!(config.recorded.request.task_text.as_deref(), Some("Do the thing.\n"));
        assert!(!config.recorded.has_redactions());
        let written = config.recorded.without_secrets();
        assert_eq!(written.request.options.remote.ssh_args, ["-o", "SetEnv=<redacted>", "-i", "key"]);
        assert!(written.has_redactions());
        assert!(!serde_json::to_string(&written).unwrap().contains("s3cret"));
        // The recorded request rebuilds the same configuration.
        assert_eq!(config.recorded.to_config().unwrap().task_text, config.task_text);
    }
}
