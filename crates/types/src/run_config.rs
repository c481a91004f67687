//! `runs/<id>/run_config.json`: the resolved configuration of a run (the task text is not stored).

use serde::{Deserialize, Serialize};

use crate::Extra;

/// run_config.json: the settings a run was started with (flags resolved, durations in seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfigFile {
    /// The run's id (its directory name under `runs/`).
    pub run_id: String,
    /// The workspace root.
    pub workspace: String,
    /// The task file; null for `--task-text`.
    pub task_path: Option<String>,
    /// Maximum number of iterations.
    pub iterations: u32,
    /// Attempt timeout.
    pub attempt_timeout_seconds: u64,
    /// Per-iteration attempt timeouts, the last repeating (`--attempt-timeouts`); empty when not
    /// given.
    #[serde(default)]
    pub attempt_timeout_schedule_seconds: Vec<u64>,
    /// Build (and repair) timeout.
    pub build_timeout_seconds: u64,
    /// Reflection timeout.
    pub reflection_timeout_seconds: u64,
    /// Agent runner: `exec`, `claude`, `command` or `fake`.
    pub runner: String,
    /// Codex executable.
    pub codex_bin: String,
    /// Claude Code executable.
    pub claude_bin: String,
    /// Model passed to Claude Code.
    pub claude_model: Option<String>,
    /// Claude Code permission mode (empty: not passed).
    pub claude_permission_mode: String,
    /// Per-phase budget passed to Claude Code.
    pub claude_max_budget_usd: Option<f64>,
    /// Extra arguments for Claude Code.
    #[serde(default)]
    pub claude_extra_args: Vec<String>,
    /// Still reflect and build after a verified solve.
    pub build_after_solve: bool,
    /// Stop once the verified score reaches this value.
    pub stop_score: Option<f64>,
    /// Key scores are read under.
    pub score_key: String,
    /// Higher scores are better.
    pub higher_is_better: bool,
    /// `continue` (edits compound) or `reset` (every iteration starts from the initial workspace).
    pub task_state: String,
    /// Attempts only: no reflection or build (compare trials).
    pub attempt_only: bool,
    /// How ambitious the generated harness should be: `standard` or `deep`.
    pub harness_depth: String,
    /// Shell command that scores the workspace after every attempt.
    pub post_attempt_command: Option<String>,
    /// Key read from the post command's JSON.
    pub post_attempt_score_key: String,
    /// Post command timeout.
    pub post_attempt_timeout_seconds: u64,
    /// Optimisation mode: baseline, improved/verified statuses, best checkpoint.
    pub optimization_mode: bool,
    /// Restore the best verified checkpoint at the end.
    pub restore_best: bool,
    /// Qualify built artifacts in a clean room after each build.
    pub qualify_artifacts: bool,
    /// Same-session repair builds after a failed qualification.
    pub artifact_repair_attempts: u32,
    /// Keys we do not model, kept; ours: the Codex settings, `runner_profile`,
    /// `keep_qualification_rooms`, the remote settings.
    #[serde(flatten)]
    pub extra: Extra,
}
