//! Compare outputs: `<out>/<group>/trial_<n>/trial.json` and `<out>/compare_report.json`.
//! Typed where compare will compute; the rest is kept verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::post::PostRecord;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialIterationRow {
    pub iteration: u32,
    pub status: String,
    pub solved: bool,
    pub result_path: Option<String>,
    pub attempt_status: Option<String>,
    pub attempt_return_code: Option<i32>,
    pub attempt_timed_out: Option<bool>,
    pub attempt_duration_seconds: Option<f64>,
    pub attempt_message: Option<String>,
    pub attempt_transcript_path: Option<String>,
    pub score: Option<f64>,
    pub active_mcp_count: u64,
    pub active_tool_count: u64,
    pub used_active_tools: Vec<String>,
    pub mcp_call_count: u64,
    pub mcp_called_tools: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub group: String,
    pub trial: u32,
    pub workspace: String,
    pub run_id: String,
    pub run_dir: Option<String>,
    pub result_path: Option<String>,
    pub status: String,
    pub solved: bool,
    pub error: Option<String>,
    pub duration_seconds: f64,
    pub attempt_duration_seconds: Option<f64>,
    pub cumulative_attempt_duration_seconds: Option<f64>,
    pub iterations_completed: u32,
    pub iterations: Vec<TrialIterationRow>,
    pub score: Option<f64>,
    pub copied_artifacts: Vec<String>,
    pub mcp_telemetry: Value,
    pub mcp_call_count: u64,
    pub mcp_called_tools: Vec<String>,
    pub runner_validation: Value,
    pub harness_validation: Value,
    pub comparison_valid: bool,
    pub comparison_invalid_reason: String,
    pub post_result: Option<PostRecord>,
    pub objective_post_valid: Option<bool>,
    pub post_valid: Option<bool>,
    pub post_invalid_reason: String,
    pub post_score: Option<f64>,
    pub post_treated_as_worst: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{count, min, median, max, best}` over numeric values (all null when there are none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    pub count: u64,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
    pub best: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub count: u64,
    pub attempt_duration_seconds: NumericSummary,
    pub cumulative_attempt_duration_seconds: NumericSummary,
    pub iterations_completed: NumericSummary,
    pub score: NumericSummary,
    /// Also carries `valid_count`, `invalid_count`, `not_run_count`, `invalid_treated_as_worst`.
    pub post_score: NumericSummary,
    pub post_status: BTreeMap<String, u64>,
    pub comparison_valid: BTreeMap<String, u64>,
    pub mcp_call_count: NumericSummary,
    pub mcp_called_tools: Vec<String>,
    pub invalid_reasons: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub created_at: String,
    pub workspace_template: String,
    pub artifact_source: Option<String>,
    pub trials: Vec<TrialRecord>,
    pub summary: BTreeMap<String, GroupSummary>,
    #[serde(flatten)]
    pub extra: Extra,
}
