//! `runs/<id>/run_config.json`: the resolved configuration of a run (the task text is not stored).

use serde::{Deserialize, Serialize};

use crate::Extra;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfigFile {
    pub run_id: String,
    pub workspace: String,
    pub task_path: Option<String>,
    pub iterations: u32,
    pub attempt_timeout_seconds: u64,
    #[serde(default)]
    pub attempt_timeout_schedule_seconds: Vec<u64>,
    pub build_timeout_seconds: u64,
    pub reflection_timeout_seconds: u64,
    pub runner: String,
    pub codex_bin: String,
    pub claude_bin: String,
    pub claude_model: Option<String>,
    pub claude_permission_mode: String,
    pub claude_max_budget_usd: Option<f64>,
    #[serde(default)]
    pub claude_extra_args: Vec<String>,
    pub build_after_solve: bool,
    pub stop_score: Option<f64>,
    pub score_key: String,
    pub higher_is_better: bool,
    pub task_state: String,
    pub attempt_only: bool,
    pub harness_depth: String,
    pub post_attempt_command: Option<String>,
    pub post_attempt_score_key: String,
    pub post_attempt_timeout_seconds: u64,
    pub optimization_mode: bool,
    pub restore_best: bool,
    pub qualify_artifacts: bool,
    pub artifact_repair_attempts: u32,
    #[serde(flatten)]
    pub extra: Extra,
}
