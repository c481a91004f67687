//! `runs/<id>/summary.json`: written last, always — also after faults and interruptions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::BestCheckpointReport;
use crate::post::PostRecord;
use crate::qualification::QualificationSummary;
use crate::runner::RunnerResult;
use crate::{Extra, RecordedError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRow {
    pub iteration: u32,
    pub status: String,
    pub result_path: String,
    pub attempt: Option<RunnerResult>,
    pub reflection: Option<RunnerResult>,
    pub build: Option<RunnerResult>,
    pub solved: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizationSummary {
    pub enabled: bool,
    pub score_key: String,
    pub higher_is_better: bool,
    pub baseline_score: Option<f64>,
    pub best_score: Option<f64>,
    pub improved: bool,
    pub restore_best: bool,
    pub best_checkpoint: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_delta_from_baseline: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_improvement: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_reduction: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HarnessUsageRow {
    pub iteration: u32,
    pub active_skill_count: u64,
    pub active_mcp_count: u64,
    pub active_tool_count: u64,
    pub declared_tool_use_count: u64,
    pub inferred_tool_use_count: u64,
    pub used_active_tools: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityGateRow {
    pub iteration: u32,
    pub status: String,
    pub active_mcp_count: u64,
    pub inactive_mcp_count: u64,
    pub active_tool_count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub iterations: Vec<IterationRow>,
    /// Last iteration's status; `not_started` with no iterations; `interrupted` after Ctrl-C.
    pub final_status: String,
    pub solved: bool,
    /// Best *verified* score (baseline included when its post command passed).
    pub best_score: Option<f64>,
    /// Best score that was never verified (failed post command, unverified claim), if better.
    #[serde(default)]
    pub best_unverified_score: Option<f64>,
    pub baseline_post_attempt: Option<PostRecord>,
    pub optimization: OptimizationSummary,
    pub best_checkpoint: BestCheckpointReport,
    pub artifact_qualification: QualificationSummary,
    pub harness_usage: Vec<HarnessUsageRow>,
    pub harness_quality_gates: Vec<QualityGateRow>,
    #[serde(default)]
    pub errors: Vec<RecordedError>,
    #[serde(flatten)]
    pub extra: Extra,
}
