//! `.harnessgym/activation.json` (and the per-iteration copies): what was projected into the
//! agent's native places before a session, and the quality gate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SkillActivation {
    pub artifact_path: String,
    #[serde(default)]
    pub skill_path: String,
    #[serde(default)]
    pub activated_path: String,
    #[serde(default)]
    pub codex_activated_path: String,
    #[serde(default)]
    pub claude_activated_path: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One MCP server entry. Fields the loop does not need stay in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpServerActivation {
    #[serde(default)]
    pub artifact_path: String,
    #[serde(default)]
    pub name: String,
    /// Missing means active (the reference's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default)]
    pub enabled_tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl McpServerActivation {
    pub fn is_active(&self) -> bool {
        self.active != Some(false)
    }

    /// `enabled_tools` ∪ `smoke.tools`.
    pub fn tools(&self) -> Vec<String> {
        let mut tools = self.enabled_tools.clone();
        if let Some(list) = self.smoke.as_ref().and_then(|s| s.get("tools")).and_then(Value::as_array) {
            tools.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        tools.sort();
        tools.dedup();
        tools
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub kind: String,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverallGate {
    pub status: String,
    pub active_mcp_count: u64,
    pub inactive_mcp_count: u64,
    pub active_tool_count: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for OverallGate {
    fn default() -> Self {
        Self {
            status: "passed".into(),
            active_mcp_count: 0,
            inactive_mcp_count: 0,
            active_tool_count: 0,
            warnings: vec![],
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivationReport {
    #[serde(default)]
    pub skills: Vec<SkillActivation>,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerActivation>,
    #[serde(default)]
    pub quarantined_artifacts: Vec<ArtifactRef>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Advice that does not fail the gate (e.g. SKILL.md frontmatter off the Agent Skills rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<String>,
    #[serde(default)]
    pub quality_gate: OverallGate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_call_helper: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ActivationReport {
    pub fn active_servers(&self) -> impl Iterator<Item = &McpServerActivation> {
        self.mcp_servers.iter().filter(|s| s.is_active())
    }

    /// Distinct tools of active servers, sorted.
    pub fn active_tools(&self) -> Vec<String> {
        let mut tools: Vec<String> = self.active_servers().flat_map(McpServerActivation::tools).collect();
        tools.sort();
        tools.dedup();
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_reference_shape_and_keeps_unknown_fields() {
        let v = json!({
          "mcp_servers": [{"active": true, "args": ["s.py"], "artifact_path": ".harnessgym/mcp/k/mcp.json",
             "command": "python3", "cwd": "/ws", "enabled_tools": ["run_verifier"], "name": "k",
             "smoke": {"status": "passed", "tools": ["run_verifier", "list"]}, "startup_timeout_sec": 10}],
          "quality_gate": {"active_mcp_count": 1, "active_tool_count": 2, "inactive_mcp_count": 0, "status": "passed", "warnings": []},
          "quarantined_artifacts": [{"kind": "skill", "path": ".harnessgym/skills/gone"}],
          "skills": [], "warnings": []});
        let r: ActivationReport = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.active_tools(), ["list", "run_verifier"]);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }
}
