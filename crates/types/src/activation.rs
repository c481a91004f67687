//! `.harnessgym/activation.json` (and the per-iteration copies): what was projected into the
//! agent's native places before a session, and the quality gate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

/// A skill projected into the agents' skill directories.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SkillActivation {
    /// The registry path of the skill artifact.
    pub artifact_path: String,
    /// Its `SKILL.md`.
    #[serde(default)]
    pub skill_path: String,
    /// Where it was linked for Codex (same as `codex_activated_path`; the reference's name).
    #[serde(default)]
    pub activated_path: String,
    /// Its link under `.agents/skills/` (read by Codex).
    #[serde(default)]
    pub codex_activated_path: String,
    /// Its link under `.claude/skills/` (read by Claude Code).
    #[serde(default)]
    pub claude_activated_path: String,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One MCP server entry. Fields the loop does not need stay in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpServerActivation {
    /// The registry path of the server's manifest.
    #[serde(default)]
    pub artifact_path: String,
    /// The server's name, as the agents see it.
    #[serde(default)]
    pub name: String,
    /// Missing means active (the reference's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Tools the manifest enables.
    #[serde(default)]
    pub enabled_tools: Vec<String>,
    /// The smoke test's outcome (`status`, `tools`, …), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<Value>,
    /// Keys we do not model (command, args, cwd, framing, timeouts, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl McpServerActivation {
    /// Whether the server was activated: `active` missing or true.
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

/// An artifact named by its registry entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// Its registry `kind`.
    pub kind: String,
    /// Its registry `path`.
    pub path: String,
}

/// The activation quality gate: whether every MCP server came up cleanly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverallGate {
    /// `passed` when no server is inactive and there is no warning, else `failed`.
    pub status: String,
    /// MCP servers activated.
    pub active_mcp_count: u64,
    /// MCP servers that failed their checks.
    pub inactive_mcp_count: u64,
    /// Distinct tools of the active servers.
    pub active_tool_count: u64,
    /// The report's warnings, repeated.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Keys we do not model, kept.
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

/// activation.json: what was projected before a session, and the gate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivationReport {
    /// Skills linked.
    #[serde(default)]
    pub skills: Vec<SkillActivation>,
    /// Every MCP server found, active or not.
    #[serde(default)]
    pub mcp_servers: Vec<McpServerActivation>,
    /// Quarantined registry artifacts, not activated.
    #[serde(default)]
    pub quarantined_artifacts: Vec<ArtifactRef>,
    /// Problems that fail the gate (a server that did not start, a config that could not be
    /// written).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Advice that does not fail the gate (e.g. SKILL.md frontmatter off the Agent Skills rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<String>,
    /// The quality gate.
    #[serde(default)]
    pub quality_gate: OverallGate,
    /// The `mcp_call.py` helper written for the agent (`path`, `relative_path`, `usage`); absent
    /// without active servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_call_helper: Option<Value>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ActivationReport {
    /// Servers that are active, in report order.
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
