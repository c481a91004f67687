//! The validated configuration of a run, built from raw values (CLI flags or an embedding tool)
//! with the reference's defaults, validation order and messages.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_artifacts::prompts::HarnessDepth;
use harnessgym_proc::remote::{
    RemoteHost, RemoteWorkspace, default_remote_dir, normalize_remote_dir, redact_ssh_args, validate_destination,
};
use harnessgym_runners::RunnerKind;
use harnessgym_types::duration::{DurationError, parse_schedule, parse_timeout, scheduled_timeout};
use harnessgym_types::run_config::RunConfigFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Edits compound across iterations.
    Continue,
    /// Every iteration starts from the workspace as it was when the run started.
    Reset,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Continue => "continue",
            TaskState::Reset => "reset",
        }
    }
}

/// Raw values, as typed by a user. [`RunRequest::default`] holds the reference's defaults.
///
/// Serializable so a run can record what it was started with (`progress.json`) and
/// `run --resume` can rebuild the same [`RunConfig`]; keys missing from a recorded request take
/// the defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RunRequest {
    pub task: Option<String>,
    pub task_text: Option<String>,
    pub workspace: String,
    pub iterations: i64,
    pub attempt_timeout: String,
    pub attempt_timeouts: Option<String>,
    pub build_timeout: String,
    pub reflection_timeout: Option<String>,
    pub runner: String,
    pub codex_bin: String,
    pub claude_bin: String,
    pub claude_model: Option<String>,
    pub claude_permission_mode: String,
    pub claude_max_budget_usd: Option<f64>,
    pub claude_extra_args: Vec<String>,
    /// Codex `--sandbox`: `read-only`, `workspace-write` or `danger-full-access`.
    pub codex_sandbox: String,
    /// Codex `approval_policy`.
    pub codex_approval: String,
    pub codex_model: Option<String>,
    pub codex_extra_args: Vec<String>,
    /// TOML profile of the `command` runner.
    pub runner_profile: Option<String>,
    pub run_id: Option<String>,
    pub build_after_solve: bool,
    pub stop_score: Option<f64>,
    pub score_key: String,
    pub higher_is_better: bool,
    pub task_state: String,
    pub harness_depth: String,
    pub post_attempt_command: Option<String>,
    pub post_attempt_score_key: Option<String>,
    pub post_attempt_timeout: String,
    pub optimization_mode: bool,
    pub restore_best: bool,
    pub qualify_artifacts: bool,
    pub artifact_repair_attempts: i64,
    /// Keep `<run dir>/qualification/room/` when the run ends (removed by default).
    pub keep_qualification_rooms: bool,
    /// Compare trials: attempts only, no reflect/build/qualify.
    pub attempt_only: bool,
    /// `--post-attempt-remote user@host`: the post command runs in a mirror on this host.
    pub post_attempt_remote: Option<String>,
    /// `--runner-remote user@host`: the agent CLI runs in a mirror on this host.
    pub runner_remote: Option<String>,
    /// `--remote-port`.
    pub remote_port: Option<u16>,
    /// `--remote-root` [default: `~/.harnessgym-remote/<workspace name>-<hash>`].
    pub remote_root: Option<String>,
    /// `--remote-ssh-arg` (repeatable).
    pub remote_ssh_args: Vec<String>,
    /// `--remote-harnessgym`: the harnessgym binary on the runner's host [default: its PATH].
    pub remote_harnessgym: Option<String>,
    /// `--model-script`: the run is a rehearsal against a scripted model server (set up by the
    /// CLI; recorded so a rehearsal is never resumed against the real model endpoint).
    pub model_script: Option<String>,
}

impl Default for RunRequest {
    fn default() -> Self {
        Self {
            task: None,
            task_text: None,
            workspace: ".".into(),
            iterations: 3,
            attempt_timeout: "45m".into(),
            attempt_timeouts: None,
            build_timeout: "20m".into(),
            reflection_timeout: None,
            runner: "exec".into(),
            codex_bin: "codex".into(),
            claude_bin: "claude".into(),
            claude_model: None,
            claude_permission_mode: "bypassPermissions".into(),
            claude_max_budget_usd: None,
            claude_extra_args: Vec::new(),
            codex_sandbox: "workspace-write".into(),
            codex_approval: "never".into(),
            codex_model: None,
            codex_extra_args: Vec::new(),
            runner_profile: None,
            run_id: None,
            build_after_solve: false,
            stop_score: None,
            score_key: "score".into(),
            higher_is_better: false,
            task_state: "continue".into(),
            harness_depth: "deep".into(),
            post_attempt_command: None,
            post_attempt_score_key: None,
            post_attempt_timeout: "2m".into(),
            optimization_mode: false,
            restore_best: true,
            qualify_artifacts: true,
            artifact_repair_attempts: 1,
            keep_qualification_rooms: false,
            attempt_only: false,
            post_attempt_remote: None,
            runner_remote: None,
            remote_port: None,
            remote_root: None,
            remote_ssh_args: Vec::new(),
            remote_harnessgym: None,
            model_script: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("runner must be one of: exec, codex, claude, command, fake")]
    Runner,
    #[error("task_state must be one of: continue, reset")]
    TaskState,
    #[error("harness_depth must be one of: standard, deep")]
    HarnessDepth,
    #[error("runner command needs --runner-profile FILE (a TOML profile of the agent CLI; see docs/runners.md)")]
    MissingProfile,
    #[error("iterations must be positive")]
    Iterations,
    #[error("artifact_repair_attempts cannot be negative")]
    RepairAttempts,
    #[error("workspace {0} does not exist; create it first or pass an existing directory to --workspace")]
    MissingWorkspace(Utf8PathBuf),
    #[error("workspace {0} is not a directory; pass a directory to --workspace")]
    WorkspaceNotDir(Utf8PathBuf),
    #[error("provide either task text or a task file")]
    NoTask,
    #[error("task file {path} cannot be read: {message}; check the path given to --task")]
    TaskFile { path: Utf8PathBuf, message: String },
    #[error("task text cannot be empty")]
    EmptyTask,
    #[error("{flag}: {reason}")]
    Duration { flag: &'static str, reason: DurationError },
    #[error("path {0} is not valid UTF-8; use a UTF-8 path")]
    NonUtf8(String),
    #[error("{flag}: {reason}")]
    Remote { flag: &'static str, reason: String },
}

/// A validated run configuration.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub run_id: Option<String>,
    pub workspace: Utf8PathBuf,
    pub task_path: Option<Utf8PathBuf>,
    pub task_text: String,
    pub iterations: u32,
    pub attempt_timeout_seconds: u64,
    pub attempt_timeout_schedule_seconds: Vec<u64>,
    pub build_timeout_seconds: u64,
    pub reflection_timeout_seconds: u64,
    pub runner: RunnerKind,
    pub codex_bin: String,
    pub claude_bin: String,
    pub claude_model: Option<String>,
    pub claude_permission_mode: String,
    pub claude_max_budget_usd: Option<f64>,
    pub claude_extra_args: Vec<String>,
    pub codex_sandbox: String,
    pub codex_approval: String,
    pub codex_model: Option<String>,
    pub codex_extra_args: Vec<String>,
    pub runner_profile: Option<Utf8PathBuf>,
    pub build_after_solve: bool,
    pub stop_score: Option<f64>,
    pub score_key: String,
    pub higher_is_better: bool,
    pub task_state: TaskState,
    pub attempt_only: bool,
    pub harness_depth: HarnessDepth,
    pub post_attempt_command: Option<String>,
    /// Resolved: falls back to `score_key`.
    pub post_attempt_score_key: String,
    pub post_attempt_timeout_seconds: u64,
    pub optimization_mode: bool,
    pub restore_best: bool,
    pub qualify_artifacts: bool,
    pub artifact_repair_attempts: u32,
    pub keep_qualification_rooms: bool,
    /// The post command runs in this remote mirror of the workspace (`--post-attempt-remote`).
    pub post_attempt_remote: Option<RemoteWorkspace>,
    /// The agent CLI runs in this remote mirror of the workspace (`--runner-remote`).
    pub runner_remote: Option<RemoteWorkspace>,
    /// The harnessgym binary on the runner's remote host (`None`: found on its PATH).
    pub remote_harnessgym: Option<String>,
    /// What this configuration was built from, for `run --resume`.
    pub recorded: RecordedRequest,
}

/// The request a [`RunConfig`] was built from, with the directory that resolved its relative
/// paths and the task text as read at the start (a resumed run uses that text even if the task
/// file has changed or gone since).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedRequest {
    pub request: RunRequest,
    pub cwd: Utf8PathBuf,
}

impl RecordedRequest {
    /// The request as it may be written to disk: `--remote-ssh-arg` values that set remote
    /// environment variables (`SetEnv=…`, often tokens) are redacted, as in run_config.json;
    /// a resumed run needs them passed again.
    pub fn without_secrets(&self) -> Self {
        let mut copy = self.clone();
        copy.request.remote_ssh_args = harnessgym_proc::remote::redact_ssh_args(&copy.request.remote_ssh_args);
        copy
    }

    /// Whether some recorded value was redacted by [`RecordedRequest::without_secrets`].
    pub fn has_redactions(&self) -> bool {
        self.request.remote_ssh_args.iter().any(|a| a.ends_with("=<redacted>"))
    }

    /// Rebuilds the configuration the run started with.
    pub fn to_config(&self) -> Result<RunConfig, ConfigError> {
        RunConfig::from_request(self.request.clone(), &self.cwd)
    }
}

pub fn parse_runner(name: &str) -> Option<RunnerKind> {
    match name {
        "exec" | "codex" => Some(RunnerKind::Exec),
        "claude" => Some(RunnerKind::Claude),
        "command" => Some(RunnerKind::Command),
        "fake" => Some(RunnerKind::Fake),
        _ => None,
    }
}

fn utf8(path: std::path::PathBuf) -> Result<Utf8PathBuf, ConfigError> {
    Utf8PathBuf::from_path_buf(path).map_err(|p| ConfigError::NonUtf8(p.display().to_string()))
}

/// `~` expansion and absolutisation against `cwd` (no symlink resolution).
fn absolute(raw: &str, cwd: &Utf8Path) -> Utf8PathBuf {
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

/// The remote flags of a [`RunRequest`].
struct RemoteFlags<'a> {
    post_attempt_remote: &'a Option<String>,
    runner_remote: &'a Option<String>,
    remote_port: Option<u16>,
    remote_root: &'a Option<String>,
    remote_ssh_args: &'a [String],
    remote_harnessgym: &'a Option<String>,
}

/// The remote mirrors of `--post-attempt-remote` / `--runner-remote` (same port, root and ssh
/// arguments), after the checks that make their flags meaningful.
fn remote_targets(
    req: &RemoteFlags<'_>,
    runner: RunnerKind,
    has_post_command: bool,
    workspace: &Utf8Path,
) -> Result<(Option<RemoteWorkspace>, Option<RemoteWorkspace>), ConfigError> {
    let err = |flag: &'static str, reason: String| ConfigError::Remote { flag, reason };
    let post = req.post_attempt_remote.as_deref().filter(|h| !h.trim().is_empty());
    let agent = req.runner_remote.as_deref().filter(|h| !h.trim().is_empty());
    if post.is_none() && agent.is_none() {
        let stray = [
            (req.remote_port.is_some(), "--remote-port"),
            (req.remote_root.is_some(), "--remote-root"),
            (!req.remote_ssh_args.is_empty(), "--remote-ssh-arg"),
            (req.remote_harnessgym.is_some(), "--remote-harnessgym"),
        ];
        if let Some((_, flag)) = stray.iter().find(|(set, _)| *set) {
            return Err(err(flag, "only applies with --post-attempt-remote or --runner-remote user@host".into()));
        }
        return Ok((None, None));
    }
    if post.is_some() && !has_post_command {
        return Err(err("--post-attempt-remote", "needs --post-attempt-command (the command to run there)".into()));
    }
    if agent.is_none() && req.remote_harnessgym.is_some() {
        return Err(err("--remote-harnessgym", "only applies with --runner-remote".into()));
    }
    if agent.is_some() && runner == RunnerKind::Fake {
        return Err(err(
            "--runner-remote",
            "needs an agent CLI runner (exec, claude or command); the fake runner runs nothing".into(),
        ));
    }
    if req.remote_port == Some(0) {
        return Err(err("--remote-port", "must be between 1 and 65535".into()));
    }
    let dir = match req.remote_root.as_deref() {
        Some(raw) => normalize_remote_dir(raw).map_err(|reason| err("--remote-root", reason))?,
        None => default_remote_dir(workspace),
    };
    let target = |flag: &'static str, destination: &str| {
        validate_destination(destination).map_err(|reason| err(flag, reason))?;
        let mut host = RemoteHost::new(destination);
        host.port = req.remote_port;
        host.ssh_args = req.remote_ssh_args.to_vec();
        Ok(RemoteWorkspace { host, dir: dir.clone() })
    };
    Ok((
        post.map(|h| target("--post-attempt-remote", h)).transpose()?,
        agent.map(|h| target("--runner-remote", h)).transpose()?,
    ))
}

impl RunConfig {
    /// Validates in the reference's order; `cwd` resolves relative paths.
    pub fn from_request(req: RunRequest, cwd: &Utf8Path) -> Result<Self, ConfigError> {
        let mut recorded = req.clone();
        let runner = parse_runner(&req.runner).ok_or(ConfigError::Runner)?;
        let task_state = match req.task_state.as_str() {
            "continue" => TaskState::Continue,
            "reset" => TaskState::Reset,
            _ => return Err(ConfigError::TaskState),
        };
        let harness_depth = match req.harness_depth.as_str() {
            "standard" => HarnessDepth::Standard,
            "deep" => HarnessDepth::Deep,
            _ => return Err(ConfigError::HarnessDepth),
        };
        let runner_profile = req.runner_profile.as_deref().map(|p| absolute(p, cwd));
        if runner == RunnerKind::Command && runner_profile.is_none() {
            return Err(ConfigError::MissingProfile);
        }
        let iterations = u32::try_from(req.iterations).ok().filter(|n| *n > 0).ok_or(ConfigError::Iterations)?;
        let artifact_repair_attempts =
            u32::try_from(req.artifact_repair_attempts).map_err(|_| ConfigError::RepairAttempts)?;

        let workspace = absolute(&req.workspace, cwd);
        match std::fs::metadata(&workspace) {
            Err(_) => return Err(ConfigError::MissingWorkspace(workspace)),
            Ok(m) if !m.is_dir() => return Err(ConfigError::WorkspaceNotDir(workspace)),
            Ok(_) => {}
        }
        let workspace = utf8(std::fs::canonicalize(&workspace).map_err(|_| ConfigError::MissingWorkspace(workspace))?)?;

        let task_path = match req.task.as_deref() {
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
        let task_text = match (req.task_text, &task_path) {
            (Some(text), _) => text,
            (None, None) => return Err(ConfigError::NoTask),
            (None, Some(path)) => std::fs::read(path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| ConfigError::TaskFile { path: path.clone(), message: e.to_string() })?,
        };
        if task_text.trim().is_empty() {
            return Err(ConfigError::EmptyTask);
        }
        recorded.task_text = Some(task_text.clone());

        let dur =
            |flag: &'static str, raw: &str| parse_timeout(raw).map_err(|reason| ConfigError::Duration { flag, reason });
        let build_timeout_seconds = dur("--build-timeout", &req.build_timeout)?;
        let attempt_timeout_seconds = dur("--attempt-timeout", &req.attempt_timeout)?;
        let reflection_timeout_seconds = match req.reflection_timeout.as_deref() {
            Some(raw) => dur("--reflection-timeout", raw)?,
            None => build_timeout_seconds,
        };
        let attempt_timeout_schedule_seconds = match req.attempt_timeouts.as_deref() {
            Some(raw) => {
                parse_schedule(raw).map_err(|reason| ConfigError::Duration { flag: "--attempt-timeouts", reason })?
            }
            None => Vec::new(),
        };
        let post_attempt_timeout_seconds = dur("--post-attempt-timeout", &req.post_attempt_timeout)?;
        let has_post_command = req.post_attempt_command.as_deref().is_some_and(|c| !c.trim().is_empty());
        let (post_attempt_remote, runner_remote) = remote_targets(
            &RemoteFlags {
                post_attempt_remote: &req.post_attempt_remote,
                runner_remote: &req.runner_remote,
                remote_port: req.remote_port,
                remote_root: &req.remote_root,
                remote_ssh_args: &req.remote_ssh_args,
                remote_harnessgym: &req.remote_harnessgym,
            },
            runner,
            has_post_command,
            &workspace,
        )?;
        let post_attempt_command = req.post_attempt_command.filter(|c| !c.trim().is_empty());

        Ok(Self {
            run_id: req.run_id,
            post_attempt_score_key: req.post_attempt_score_key.unwrap_or_else(|| req.score_key.clone()),
            workspace,
            task_path,
            task_text,
            iterations,
            attempt_timeout_seconds,
            attempt_timeout_schedule_seconds,
            build_timeout_seconds,
            reflection_timeout_seconds,
            runner,
            codex_bin: req.codex_bin,
            claude_bin: req.claude_bin,
            claude_model: req.claude_model,
            claude_permission_mode: req.claude_permission_mode,
            claude_max_budget_usd: req.claude_max_budget_usd,
            claude_extra_args: req.claude_extra_args,
            codex_sandbox: req.codex_sandbox,
            codex_approval: req.codex_approval,
            codex_model: req.codex_model,
            codex_extra_args: req.codex_extra_args,
            runner_profile,
            build_after_solve: req.build_after_solve,
            stop_score: req.stop_score,
            score_key: req.score_key,
            higher_is_better: req.higher_is_better,
            task_state,
            attempt_only: req.attempt_only,
            harness_depth,
            post_attempt_command,
            post_attempt_timeout_seconds,
            optimization_mode: req.optimization_mode,
            restore_best: req.restore_best,
            qualify_artifacts: req.qualify_artifacts,
            artifact_repair_attempts,
            keep_qualification_rooms: req.keep_qualification_rooms,
            post_attempt_remote,
            runner_remote,
            remote_harnessgym: req.remote_harnessgym.filter(|p| !p.trim().is_empty()),
            recorded: RecordedRequest { request: recorded, cwd: cwd.to_owned() },
        })
    }

    /// The attempt timeout of iteration `i` (1-based).
    pub fn attempt_timeout_for(&self, iteration: u32) -> u64 {
        scheduled_timeout(&self.attempt_timeout_schedule_seconds, iteration, self.attempt_timeout_seconds)
    }

    pub fn to_file(&self, run_id: &str) -> RunConfigFile {
        RunConfigFile {
            run_id: run_id.to_owned(),
            workspace: self.workspace.to_string(),
            task_path: self.task_path.as_ref().map(ToString::to_string),
            iterations: self.iterations,
            attempt_timeout_seconds: self.attempt_timeout_seconds,
            attempt_timeout_schedule_seconds: self.attempt_timeout_schedule_seconds.clone(),
            build_timeout_seconds: self.build_timeout_seconds,
            reflection_timeout_seconds: self.reflection_timeout_seconds,
            runner: self.runner.as_str().to_owned(),
            codex_bin: self.codex_bin.clone(),
            claude_bin: self.claude_bin.clone(),
            claude_model: self.claude_model.clone(),
            claude_permission_mode: self.claude_permission_mode.clone(),
            claude_max_budget_usd: self.claude_max_budget_usd,
            claude_extra_args: self.claude_extra_args.clone(),
            build_after_solve: self.build_after_solve,
            stop_score: self.stop_score,
            score_key: self.score_key.clone(),
            higher_is_better: self.higher_is_better,
            task_state: self.task_state.as_str().to_owned(),
            attempt_only: self.attempt_only,
            harness_depth: match self.harness_depth {
                HarnessDepth::Standard => "standard".into(),
                HarnessDepth::Deep => "deep".into(),
            },
            post_attempt_command: self.post_attempt_command.clone(),
            post_attempt_score_key: self.post_attempt_score_key.clone(),
            post_attempt_timeout_seconds: self.post_attempt_timeout_seconds,
            optimization_mode: self.optimization_mode,
            restore_best: self.restore_best,
            qualify_artifacts: self.qualify_artifacts,
            artifact_repair_attempts: self.artifact_repair_attempts,
            extra: [
                ("codex_sandbox", serde_json::json!(self.codex_sandbox)),
                ("codex_approval", serde_json::json!(self.codex_approval)),
                ("codex_model", serde_json::json!(self.codex_model)),
                ("codex_extra_args", serde_json::json!(self.codex_extra_args)),
                ("runner_profile", serde_json::json!(self.runner_profile)),
                ("keep_qualification_rooms", serde_json::json!(self.keep_qualification_rooms)),
            ]
            .into_iter()
            .chain(self.remote_entries())
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        }
    }

    /// run_config.json keys of the remote flags, only when a remote host is used (ssh `SetEnv`
    /// values are redacted: they may carry secrets).
    fn remote_entries(&self) -> Vec<(&'static str, serde_json::Value)> {
        let Some(any) = self.post_attempt_remote.as_ref().or(self.runner_remote.as_ref()) else {
            return Vec::new();
        };
        let host = |t: &Option<RemoteWorkspace>| serde_json::json!(t.as_ref().map(|t| t.host.destination.clone()));
        vec![
            ("post_attempt_remote", host(&self.post_attempt_remote)),
            ("runner_remote", host(&self.runner_remote)),
            ("remote_port", serde_json::json!(any.host.port)),
            ("remote_root", serde_json::json!(any.dir)),
            ("remote_ssh_args", serde_json::json!(redact_ssh_args(&any.host.ssh_args))),
            ("remote_harnessgym", serde_json::json!(self.remote_harnessgym)),
        ]
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
        let req = RunRequest {
            task: Some("task.md".into()),
            workspace: ".".into(),
            post_attempt_command: Some("true".into()),
            post_attempt_remote: Some("me@127.0.0.1".into()),
            remote_ssh_args: vec!["-o".into(), "SetEnv=TOKEN=s3cret".into(), "-i".into(), "key".into()],
            ..RunRequest::default()
        };
        let config = RunConfig::from_request(req, &cwd).unwrap();
        assert_eq!(config.recorded.request.task_text.as_deref(), Some("Do the thing.\n"));
        assert!(!config.recorded.has_redactions());
        let written = config.recorded.without_secrets();
        assert_eq!(written.request.remote_ssh_args, ["-o", "SetEnv=<redacted>", "-i", "key"]);
        assert!(written.has_redactions());
        assert!(!serde_json::to_string(&written).unwrap().contains("s3cret"));
        // The recorded request rebuilds the same configuration.
        assert_eq!(config.recorded.to_config().unwrap().task_text, config.task_text);
    }
}
