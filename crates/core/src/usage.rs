//! Harness usage: which generated tools and artifacts an attempt used — declared by the agent,
//! inferred from its output, and counted by MCP telemetry.

use std::collections::BTreeSet;

use harnessgym_types::activation::ActivationReport;
use harnessgym_types::registry::Registry;
use harnessgym_types::telemetry::TelemetrySummary;
use regex::Regex;
use serde_json::{Map, Value, json};

/// Characters either side of a whole-word tool mention searched for the word "tool".
const TOOL_WINDOW: usize = 30;

fn mcp_patterns(haystack: &str, token: &str) -> bool {
    haystack.contains(&format!("mcp__{token}"))
        || (haystack.contains(&format!("__{token}")) && haystack.contains("mcp__"))
        || (haystack.contains(&format!("\"{token}\"")) && haystack.contains("tools/call"))
}

fn word_near_tool(haystack: &str, token: &str) -> bool {
    let Ok(re) = Regex::new(&format!(r"\b{}\b", regex::escape(token))) else {
        return false;
    };
    re.find_iter(haystack).any(|m| {
        let start = floor_char_boundary(haystack, m.start().saturating_sub(TOOL_WINDOW));
        let end = ceil_char_boundary(haystack, (m.end() + TOOL_WINDOW).min(haystack.len()));
        haystack[start..end].contains("tool")
    })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Whether `haystack` (already lower-cased) shows a call of `token`: an MCP-qualified name
/// (`mcp__server__tool`), a quoted name in a `tools/call`, or the bare word within 30 characters
/// of the word "tool". Plain prose ("I will run the tests") does not count.
pub fn contains_usage_token(haystack: &str, token: &str) -> bool {
    let token = token.to_lowercase();
    if token.is_empty() {
        return false;
    }
    if mcp_patterns(haystack, &token) {
        return true;
    }
    let mut candidates = vec![token.clone()];
    if let Some(last) = token.rsplit('/').next().filter(|l| token.contains('/') && !l.is_empty()) {
        candidates.push(last.to_owned());
    }
    candidates.iter().any(|t| mcp_patterns(haystack, t) || word_near_tool(haystack, t))
}

/// Whether `haystack` (lower-cased) mentions an artifact: its full path, or its basename when
/// the path has a directory part.
pub fn contains_artifact_reference(haystack: &str, path: &str) -> bool {
    let path = path.to_lowercase();
    if path.is_empty() {
        return false;
    }
    if haystack.contains(&path) {
        return true;
    }
    match path.rsplit_once('/') {
        Some((_, base)) if !base.is_empty() => haystack.contains(base),
        _ => false,
    }
}

/// Declared names: strings kept; objects give their `path`, else `name`, else `id`.
fn declared(result: &Map<String, Value>, primary: &str, fallback: &str) -> Vec<String> {
    let list = match result.get(primary).and_then(Value::as_array).filter(|l| !l.is_empty()) {
        Some(l) => Some(l),
        None => result.get(fallback).and_then(Value::as_array),
    };
    let names: BTreeSet<String> = list
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => {
                ["path", "name", "id"].iter().find_map(|k| o.get(*k).and_then(Value::as_str)).map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    names.into_iter().collect()
}

/// What harness-usage inference reads about one attempt.
pub struct UsageInput<'a> {
    /// The activation the attempt ran with.
    pub activation: &'a ActivationReport,
    /// The attempt's result.json.
    pub result: &'a Map<String, Value>,
    /// The registry at the attempt.
    pub registry: &'a Registry,
    /// The attempt's output files that exist and are not empty, with their text.
    pub sources: &'a [(String, String)],
    /// Telemetry of the calls made during this attempt.
    pub telemetry: &'a TelemetrySummary,
}

/// The `harness_usage` object of result.json.
pub fn harness_usage(input: &UsageInput<'_>) -> Value {
    let active_servers: Vec<String> = input.activation.active_servers().map(|s| s.name.clone()).collect();
    let active_tools = input.activation.active_tools();
    let active_skills: Vec<String> = input.activation.skills.iter().map(|s| s.artifact_path.clone()).collect();
    let declared_tools = declared(input.result, "used_harness_tools", "used_tools");
    let declared_artifacts = declared(input.result, "used_harness_artifacts", "used_artifacts");

    let haystack = input.sources.iter().map(|(_, text)| text.as_str()).collect::<Vec<_>>().join("\n").to_lowercase();
    let inferred_tools: Vec<String> =
        active_tools.iter().filter(|t| contains_usage_token(&haystack, t)).cloned().collect();
    let candidates: BTreeSet<&str> = input
        .registry
        .artifacts
        .iter()
        .map(|a| a.path.as_str())
        .chain(active_skills.iter().map(String::as_str))
        .collect();
    let inferred_artifacts: Vec<String> =
        candidates.into_iter().filter(|p| contains_artifact_reference(&haystack, p)).map(str::to_owned).collect();

    let used_tools: BTreeSet<String> =
        declared_tools.iter().chain(&inferred_tools).chain(&input.telemetry.called_tools).cloned().collect();
    let used_artifacts: BTreeSet<String> = declared_artifacts.iter().chain(&inferred_artifacts).cloned().collect();
    let used_active: Vec<&String> = used_tools.iter().filter(|t| active_tools.contains(t)).collect();

    json!({
        "registry_artifact_count": input.registry.artifacts.len(),
        "active_skill_count": active_skills.len(),
        "active_mcp_count": active_servers.len(),
        "active_tool_count": active_tools.len(),
        "active_skills": active_skills,
        "active_mcp_servers": active_servers,
        "active_tools": active_tools,
        "used_harness_tools": used_tools,
        "used_harness_artifacts": used_artifacts,
        "declared_harness_tools": declared_tools,
        "declared_harness_artifacts": declared_artifacts,
        "inferred_harness_tools": inferred_tools,
        "inferred_harness_artifacts": inferred_artifacts,
        "inference_sources": input.sources.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "used_active_tools": used_active,
        "mcp_call_count": input.telemetry.count,
        "mcp_successful_call_count": input.telemetry.successful_count,
        "mcp_called_tools": input.telemetry.called_tools,
        "mcp_call_status_counts": input.telemetry.status_counts,
        "declared_tool_use_count": declared_tools.len(),
        "declared_artifact_use_count": declared_artifacts.len(),
        "inferred_tool_use_count": inferred_tools.len(),
        "inferred_artifact_use_count": inferred_artifacts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_46_prose_is_not_tool_use() {
        let text = "i will run the tests now.";
        assert!(!contains_usage_token(text, "run"));
        assert!(!contains_usage_token(text, "test"));
    }

    #[test]
    fn statement_47_mcp_qualified_name_counts() {
        assert!(contains_usage_token("called mcp__kernel-tools__run_verifier ok", "run_verifier"));
    }

    #[test]
    fn statement_48_tools_call_with_quoted_name_counts() {
        assert!(contains_usage_token(r#"{"method":"tools/call","params":{"name":"run_verifier"}}"#, "run_verifier"));
    }

    #[test]
    fn statement_49_word_near_tool_counts() {
        assert!(contains_usage_token("then the mcp tool run_verifier reported success", "run_verifier"));
        assert!(!contains_usage_token(&format!("run_verifier{}", " x".repeat(40)), "run_verifier"));
    }

    #[test]
    fn statement_50_artifact_path_matches_by_basename_near_tool() {
        assert!(contains_usage_token("i used kernel-tools for that", ".harnessgym/mcp/kernel-tools"));
    }

    #[test]
    fn statement_51_artifact_reference_by_path_or_basename() {
        assert!(contains_artifact_reference(
            "read .harnessgym/skills/k/skill.md first",
            ".harnessgym/skills/k/SKILL.md"
        ));
        assert!(contains_artifact_reference("opened skill.md", ".harnessgym/skills/k/SKILL.md"));
        assert!(!contains_artifact_reference("nothing here", ".harnessgym/skills/k/SKILL.md"));
        assert!(!contains_artifact_reference("nothing here", ""));
    }

    #[test]
    fn usage_object_merges_declared_inferred_and_telemetry() {
        let activation: ActivationReport = serde_json::from_value(json!({
            "mcp_servers": [{"name": "k", "active": true, "enabled_tools": ["run_verifier", "sweep"]}]
        }))
        .unwrap();
        let result = json!({"used_tools": ["sweep", {"name": "other"}]});
        let registry = Registry::default();
        let telemetry = TelemetrySummary {
            count: 2,
            successful_count: 2,
            called_tools: vec!["probe".into()],
            ..Default::default()
        };
        let sources = vec![("/a.stdout.txt".to_owned(), "mcp__k__run_verifier".to_owned())];
        let usage = harness_usage(&UsageInput {
            activation: &activation,
            result: result.as_object().unwrap(),
            registry: &registry,
            sources: &sources,
            telemetry: &telemetry,
        });
        assert_eq!(usage["used_harness_tools"], json!(["other", "probe", "run_verifier", "sweep"]));
        assert_eq!(usage["used_active_tools"], json!(["run_verifier", "sweep"]));
        assert_eq!(usage["inferred_harness_tools"], json!(["run_verifier"]));
        assert_eq!(usage["mcp_call_count"], json!(2));
        assert_eq!(usage["active_tool_count"], json!(2));
    }
}
