//! `runs/<id>/summary.json`: written last, always — also after faults and interruptions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::BestCheckpointReport;
use crate::post::PostRecord;
use crate::qualification::QualificationSummary;
use crate::runner::RunnerResult;
use crate::{Extra, RecordedError};

/// One iteration in summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRow {
    /// The iteration number (1-based).
    pub iteration: u32,
    /// Its result.json `status`.
    pub status: String,
    /// Its result.json.
    pub result_path: String,
    /// The attempt phase's record.
    pub attempt: Option<RunnerResult>,
    /// The reflection phase's record; null when it did not run.
    pub reflection: Option<RunnerResult>,
    /// The build phase's record; null when it did not run.
    pub build: Option<RunnerResult>,
    /// Whether its result is solved and verified.
    pub solved: bool,
}

/// `summary.optimization`: the score against the baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizationSummary {
    /// Whether optimisation mode was on.
    pub enabled: bool,
    /// The key scores were read under.
    pub score_key: String,
    /// Higher scores are better.
    pub higher_is_better: bool,
    /// The baseline's verified score.
    pub baseline_score: Option<f64>,
    /// The best verified score.
    pub best_score: Option<f64>,
    /// Whether the best beats the baseline.
    pub improved: bool,
    /// Whether `--restore-best` was on.
    pub restore_best: bool,
    /// The last checkpoint's manifest.
    pub best_checkpoint: Option<Value>,
    /// `best_score - baseline_score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_delta_from_baseline: Option<f64>,
    /// `best / baseline - 1` when higher is better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_improvement: Option<f64>,
    /// `1 - best / baseline` when lower is better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_reduction: Option<f64>,
}

/// An iteration's use of the harness (from its result.json `harness_usage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HarnessUsageRow {
    /// The iteration.
    pub iteration: u32,
    /// Skills activated.
    pub active_skill_count: u64,
    /// MCP servers active.
    pub active_mcp_count: u64,
    /// MCP tools active.
    pub active_tool_count: u64,
    /// How many tools the agent declared it used.
    pub declared_tool_use_count: u64,
    /// How many active tools the attempt's output mentions.
    pub inferred_tool_use_count: u64,
    /// Active tools used: declared, inferred or called.
    pub used_active_tools: Vec<String>,
}

/// An iteration's activation quality gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityGateRow {
    /// The iteration.
    pub iteration: u32,
    /// `passed` or `failed`.
    pub status: String,
    /// MCP servers active.
    pub active_mcp_count: u64,
    /// MCP servers that failed.
    pub inactive_mcp_count: u64,
    /// Distinct tools of the active servers.
    pub active_tool_count: u64,
}

/// summary.json: the whole run at a glance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// One row per iteration.
    pub iterations: Vec<IterationRow>,
    /// Last iteration's status; `not_started` with no iterations; `interrupted` after Ctrl-C.
    pub final_status: String,
    /// Whether the last iteration is solved and verified.
    pub solved: bool,
    /// Best *verified* score (baseline included when its post command passed).
    pub best_score: Option<f64>,
    /// Best score that was never verified (failed post command, unverified claim), if better.
    #[serde(default)]
    pub best_unverified_score: Option<f64>,
    /// The baseline post command's record (optimisation mode with a post command).
    pub baseline_post_attempt: Option<PostRecord>,
    /// Scores against the baseline.
    pub optimization: OptimizationSummary,
    /// The best checkpoint: captures and the final restore.
    pub best_checkpoint: BestCheckpointReport,
    /// The qualification template and one row per qualified iteration.
    pub artifact_qualification: QualificationSummary,
    /// Harness use per iteration.
    pub harness_usage: Vec<HarnessUsageRow>,
    /// Quality gate per iteration.
    pub harness_quality_gates: Vec<QualityGateRow>,
    /// Faults the run tolerated.
    #[serde(default)]
    pub errors: Vec<RecordedError>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
