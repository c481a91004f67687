//! Qualification reports: `iterations/<n>/qualification/attempt_<k>/qualification.json` and the
//! rows and template report in `summary.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

/// The clean workspace template captured at run start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateReport {
    pub created_at: String,
    pub workspace: String,
    pub template_path: String,
    pub file_count: usize,
    pub files: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `qualification.json`. `status` is `passed`, `failed` or — until qualification exists —
/// `not_run` with a `reason`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualificationReport {
    pub created_at: String,
    pub status: String,
    pub iteration: u32,
    #[serde(default)]
    pub source_workspace: Option<String>,
    #[serde(default)]
    pub fresh_workspace: Option<String>,
    #[serde(default)]
    pub copied_artifacts: Vec<String>,
    #[serde(default)]
    pub quality_gate: Option<Value>,
    #[serde(default)]
    pub activation: Option<Value>,
    #[serde(default)]
    pub failed_artifacts: Vec<String>,
    #[serde(default)]
    pub registry_artifact_count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_artifacts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_artifacts: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One row of `summary.artifact_qualification.reports`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualificationRow {
    pub iteration: u32,
    pub status: String,
    pub report_path: Option<String>,
    pub fresh_workspace: Option<String>,
    pub active_mcp_count: u64,
    pub active_tool_count: u64,
    pub inactive_mcp_count: u64,
    pub failed_artifacts: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualificationSummary {
    pub template: Option<TemplateReport>,
    pub reports: Vec<QualificationRow>,
}
