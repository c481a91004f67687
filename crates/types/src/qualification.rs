//! Qualification reports: `iterations/<n>/qualification/attempt_<k>/qualification.json` and the
//! rows and template report in `summary.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

/// The clean workspace template captured at run start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateReport {
    /// When it was captured.
    pub created_at: String,
    /// The workspace it was captured from.
    pub workspace: String,
    /// The template (`<run dir>/qualification/workspace_template`).
    pub template_path: String,
    /// How many files it holds.
    pub file_count: usize,
    /// Its relative paths (the first 1,000 when longer: then `files_truncated` and
    /// `files_list_path` in `extra`).
    pub files: Vec<String>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `qualification.json`. `status` is `passed`, `failed` or — until qualification exists —
/// `not_run` with a `reason`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualificationReport {
    /// When the attempt ran.
    pub created_at: String,
    /// `passed`, `failed` or `not_run`.
    pub status: String,
    /// The iteration qualified; 0 for `harnessgym qualify`.
    pub iteration: u32,
    /// The workspace the bundle came from.
    #[serde(default)]
    pub source_workspace: Option<String>,
    /// The clean room the bundle was tested in.
    #[serde(default)]
    pub fresh_workspace: Option<String>,
    /// Paths copied from the bundle into the room, sorted.
    #[serde(default)]
    pub copied_artifacts: Vec<String>,
    /// The room's activation quality gate.
    #[serde(default)]
    pub quality_gate: Option<Value>,
    /// The room's whole activation report.
    #[serde(default)]
    pub activation: Option<Value>,
    /// Registry paths of the counted artifacts that failed, sorted.
    #[serde(default)]
    pub failed_artifacts: Vec<String>,
    /// Artifacts in the bundle's registry.
    #[serde(default)]
    pub registry_artifact_count: usize,
    /// Why it failed or did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// This report's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_path: Option<String>,
    /// Registry paths of the artifacts that passed (final report only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_artifacts: Option<Vec<String>>,
    /// Registry paths quarantined (final report of a failed qualification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_artifacts: Option<Vec<String>>,
    /// Keys we do not model (`verdicts`, `refused`, `room_contents`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One row of `summary.artifact_qualification.reports`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualificationRow {
    /// The iteration.
    pub iteration: u32,
    /// Its final status.
    pub status: String,
    /// Its final report.
    pub report_path: Option<String>,
    /// Its room.
    pub fresh_workspace: Option<String>,
    /// Active MCP servers in the room.
    pub active_mcp_count: u64,
    /// Active MCP tools in the room.
    pub active_tool_count: u64,
    /// MCP servers that failed in the room.
    pub inactive_mcp_count: u64,
    /// Registry paths of the artifacts that failed.
    pub failed_artifacts: Vec<String>,
}

/// `summary.artifact_qualification`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualificationSummary {
    /// The template captured at run start; null when none was.
    pub template: Option<TemplateReport>,
    /// One row per qualified iteration.
    pub reports: Vec<QualificationRow>,
}
