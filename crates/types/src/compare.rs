//! Compare outputs: `<out>/<group>/trial_<n>/trial.json` and `<out>/compare_report.json`.
//! Typed where compare will compute; the rest is kept verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::post::PostRecord;

/// One iteration of a trial, as `trial.json` lists it (from its result.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialIterationRow {
    /// The iteration number (1-based).
    pub iteration: u32,
    /// The result's `status`.
    pub status: String,
    /// Whether the result is solved and verified.
    pub solved: bool,
    /// Its result.json.
    pub result_path: Option<String>,
    /// The attempt's runner status.
    pub attempt_status: Option<String>,
    /// The attempt's exit code.
    pub attempt_return_code: Option<i32>,
    /// Whether the attempt hit its timeout.
    pub attempt_timed_out: Option<bool>,
    /// The attempt's wall-clock time.
    pub attempt_duration_seconds: Option<f64>,
    /// The runner's message about the attempt.
    pub attempt_message: Option<String>,
    /// The attempt's transcript.
    pub attempt_transcript_path: Option<String>,
    /// The result's score (`--score-key`): the agent's own claim, listed, never used for a verdict.
    pub score: Option<f64>,
    /// The post command's status for this iteration (compare's post-every-iteration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_status: Option<String>,
    /// The post command's score for this iteration, when it passed (strictly its own key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_score: Option<f64>,
    /// Active MCP servers (from the result's `harness_usage`).
    pub active_mcp_count: u64,
    /// Active MCP tools.
    pub active_tool_count: u64,
    /// Active tools the agent used.
    pub used_active_tools: Vec<String>,
    /// MCP tool calls recorded.
    pub mcp_call_count: u64,
    /// Distinct tools called.
    pub mcp_called_tools: Vec<String>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `<out>/<group>/trial_<n>/trial.json`: one run of the task in the compare.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// `plain` or `harnessed`.
    pub group: String,
    /// The trial number (1-based).
    pub trial: u32,
    /// The trial's workspace (a copy of the template).
    pub workspace: String,
    /// Its run id (`compare-<group>-<n>`).
    pub run_id: String,
    /// Its run directory.
    pub run_dir: Option<String>,
    /// The last iteration's result.json.
    pub result_path: Option<String>,
    /// The last iteration's status, or `failed`.
    pub status: String,
    /// Whether the last iteration is solved.
    pub solved: bool,
    /// The exception that ended the run, if any.
    pub error: Option<String>,
    /// Wall-clock time of the trial.
    pub duration_seconds: f64,
    /// The last iteration's attempt time.
    pub attempt_duration_seconds: Option<f64>,
    /// The sum of the attempt times.
    pub cumulative_attempt_duration_seconds: Option<f64>,
    /// How many iterations ran.
    pub iterations_completed: u32,
    /// One row per iteration.
    pub iterations: Vec<TrialIterationRow>,
    /// The last iteration's score.
    pub score: Option<f64>,
    /// Artifacts copied in from `--artifact-source`, sorted.
    pub copied_artifacts: Vec<String>,
    /// The summary of the workspace's MCP telemetry.
    pub mcp_telemetry: Value,
    /// MCP tool calls recorded.
    pub mcp_call_count: u64,
    /// Distinct tools called.
    pub mcp_called_tools: Vec<String>,
    /// `{valid, reason, failed_iterations, failed_attempts}`: whether the runner behaved.
    pub runner_validation: Value,
    /// Whether the harness was active and used as required (`{required, valid, reason, …}`).
    pub harness_validation: Value,
    /// Runner and harness validation both valid.
    pub comparison_valid: bool,
    /// Why not (runner first, then harness); empty when valid.
    pub comparison_invalid_reason: String,
    /// The post command's record, when one ran.
    pub post_result: Option<PostRecord>,
    /// The post command passed with a numeric score; null when none ran.
    pub objective_post_valid: Option<bool>,
    /// `objective_post_valid` and `comparison_valid`; null when no post command ran.
    pub post_valid: Option<bool>,
    /// Why the post score does not count; empty when it does.
    pub post_invalid_reason: String,
    /// The post score, when `post_valid`.
    pub post_score: Option<f64>,
    /// A post command ran and its score does not count (the summary ranks it worst).
    pub post_treated_as_worst: bool,
    /// Ours, absent from the reference's files: the best verified score over the iterations.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present_or_absent")]
    pub best_post_score: Option<Option<f64>>,
    /// Ours: the last iteration's verified score (the reference's only figure).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present_or_absent")]
    pub final_post_score: Option<Option<f64>>,
    /// Ours: the block the trial ran in (block `i` holds trial `i` of every arm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
    /// Ours: when the trial started (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Ours: when it finished (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Ours: what the trial spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<TrialBudget>,
    /// Ours: bundle entries that were not copied (unsafe paths), with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_artifacts: Vec<String>,
    /// Ours: the trial ran to its end; `--resume` keeps exactly the trials whose trial.json says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a trial spent: what was equalised (the attempt budget) and what was only measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrialBudget {
    /// Attempt wall time (equalised: the same timeouts in every arm).
    pub attempt_seconds: f64,
    /// Activation before each attempt (outside the attempt budget).
    pub activation_seconds: f64,
    /// Post commands.
    pub post_seconds: f64,
    /// The copy of the template and the bundle into the trial's workspace.
    pub setup_seconds: f64,
    /// Input tokens (null when the runner reports none).
    pub input_tokens: Option<u64>,
    /// Cached input tokens.
    pub cached_input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
    /// Spend in US dollars: reported by the runner or computed from `--prices`; null when
    /// unknown (never 0 for unknown).
    pub cost_usd: Option<f64>,
    /// `runner`, `prices` or `unknown`.
    pub cost_source: String,
    /// Bytes of the prompts the agent was given.
    pub prompt_bytes: u64,
}

/// A key that is written (as a value or null) only when set: `Some(None)` is `null`, `None` is
/// absent (the reference's files do not have it).
mod present_or_absent {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Option<f64>>, serializer: S) -> Result<S::Ok, S::Error> {
        value.flatten().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<f64>>, D::Error> {
        Option::<f64>::deserialize(deserializer).map(Some)
    }
}

/// `{count, min, median, max, best}` over numeric values (all null when there are none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    /// How many values.
    pub count: u64,
    /// The smallest.
    pub min: Option<f64>,
    /// The median.
    pub median: Option<f64>,
    /// The largest.
    pub max: Option<f64>,
    /// The best: the max when higher is better, else the min (durations: the min).
    pub best: Option<f64>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A group's summary in compare_report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Trials in the group.
    pub count: u64,
    /// Over the last attempts' times.
    pub attempt_duration_seconds: NumericSummary,
    /// Over the cumulative attempt times.
    pub cumulative_attempt_duration_seconds: NumericSummary,
    /// Over iterations completed (best = max).
    pub iterations_completed: NumericSummary,
    /// Over trial scores.
    pub score: NumericSummary,
    /// Also carries `valid_count`, `invalid_count`, `not_run_count`, `invalid_treated_as_worst`.
    pub post_score: NumericSummary,
    /// Post statuses counted (`not_run` when none ran).
    pub post_status: BTreeMap<String, u64>,
    /// `valid` / `invalid` trials counted.
    pub comparison_valid: BTreeMap<String, u64>,
    /// Over MCP call counts (best = max).
    pub mcp_call_count: NumericSummary,
    /// Distinct tools called in any trial.
    pub mcp_called_tools: Vec<String>,
    /// Invalid reasons counted.
    pub invalid_reasons: BTreeMap<String, u64>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `<out>/compare_report.json`: every trial and a summary per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// When it was written.
    pub created_at: String,
    /// The template every trial copied.
    pub workspace_template: String,
    /// The `.harnessgym` the harnessed trials copied artifacts from.
    pub artifact_source: Option<String>,
    /// Every trial, plain first.
    pub trials: Vec<TrialRecord>,
    /// `plain` and `harnessed` summaries.
    pub summary: BTreeMap<String, GroupSummary>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
