//! The JSON script: phases chosen by a prompt substring, steps chosen by the
//! number of tool results, and the usage figures every reply reports.

use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ScriptError;

/// A whole script (the `--model-script FILE` format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The phases, tried in order: the first whose `match` is a substring of
    /// the conversation's current prompt wins.
    pub phases: Vec<Phase>,
    /// The token usage reported by every reply (default 100 input, 0 cached,
    /// 10 output).
    #[serde(default)]
    pub usage: Usage,
}

/// One phase of a conversation (attempt, reflect, build, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// A name for the request log; defaults to the `match` string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A case-sensitive substring of the phase's user prompt.
    #[serde(rename = "match")]
    pub match_text: String,
    /// Step `n` answers a request that already holds `n` tool results after
    /// the prompt.
    pub steps: Vec<Step>,
}

impl Phase {
    /// The name used in the request log.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.match_text)
    }
}

/// One scripted model turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Run a shell command: codex `exec_command` (or `shell_command` /
    /// `shell`, whichever the request lists), claude `Bash`.
    Shell(String),
    /// Call a tool of an MCP server: codex namespace `mcp__<server>` + bare
    /// tool name, claude `mcp__<server>__<tool>`.
    Mcp(McpCall),
    /// A final assistant message (ends the turn).
    Text(String),
}

/// The MCP tool a [`Step::Mcp`] calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpCall {
    /// The server name as the client knows it (the MCP config key).
    pub server: String,
    /// The tool's bare name.
    pub tool: String,
    /// The tool arguments (an object; default `{}`).
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Token figures reported in every reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Usage {
    /// All input tokens, cached ones included (OpenAI's meaning; Anthropic's
    /// `input_tokens` is reported as `input_tokens - cached_input_tokens`).
    pub input_tokens: u64,
    /// Input tokens served from the prompt cache (OpenAI
    /// `input_tokens_details.cached_tokens`, Anthropic
    /// `cache_read_input_tokens`).
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self { input_tokens: 100, cached_input_tokens: 0, output_tokens: 10 }
    }
}

impl Script {
    /// Parses and validates a script.
    pub fn from_json_str(text: &str) -> Result<Self, ScriptError> {
        let script: Script = serde_json::from_str(text).map_err(ScriptError::Parse)?;
        script.validate()?;
        Ok(script)
    }

    /// Reads, parses and validates a script file.
    pub fn from_file(path: &Utf8Path) -> Result<Self, ScriptError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScriptError::Read { path: path.to_owned(), source })?;
        Self::from_json_str(&text)
    }

    /// Checks what serde cannot: at least one phase, non-empty match strings
    /// and steps, MCP names, object arguments, cached ≤ input tokens.
    pub fn validate(&self) -> Result<(), ScriptError> {
        let invalid = |message: String| Err(ScriptError::Invalid(message));
        if self.phases.is_empty() {
            return invalid("the script has no phases".to_owned());
        }
        for (index, phase) in self.phases.iter().enumerate() {
            if phase.match_text.is_empty() {
                return invalid(format!("phase {index}: `match` is empty"));
            }
            if phase.steps.is_empty() {
                return invalid(format!("phase {index} ({}): no steps", phase.display_name()));
            }
            for (step_index, step) in phase.steps.iter().enumerate() {
                let at = format!("phase {index} ({}) step {step_index}", phase.display_name());
                match step {
                    Step::Shell(command) if command.trim().is_empty() => {
                        return invalid(format!("{at}: empty shell command"));
                    }
                    Step::Mcp(call) if call.server.is_empty() || call.tool.is_empty() => {
                        return invalid(format!("{at}: MCP `server` and `tool` must be non-empty"));
                    }
                    Step::Mcp(call) if !call.arguments.is_object() => {
                        return invalid(format!("{at}: MCP `arguments` must be a JSON object"));
                    }
                    _ => {}
                }
            }
        }
        if self.usage.cached_input_tokens > self.usage.input_tokens {
            return invalid("usage: cached_input_tokens exceeds input_tokens".to_owned());
        }
        Ok(())
    }

    /// The first phase (in script order) whose `match` occurs in `text`.
    pub fn phase_for(&self, text: &str) -> Option<&Phase> {
        self.phases.iter().find(|phase| text.contains(&phase.match_text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_example() {
        let script = Script::from_json_str(
            r#"{"phases": [{"name": "attempt", "match": "HarnessGym attempt", "steps": [
                {"shell": "echo hi > out.txt"},
                {"mcp": {"server": "probe", "tool": "echo", "arguments": {"text": "ping"}}},
                {"text": "done"}]}]}"#,
        )
        .unwrap();
        assert_eq!(script.usage, Usage::default());
        assert_eq!(
            script.phases[0].steps,
            vec![
                Step::Shell("echo hi > out.txt".into()),
                Step::Mcp(McpCall { server: "probe".into(), tool: "echo".into(), arguments: json!({"text": "ping"}) }),
                Step::Text("done".into()),
            ]
        );
    }

    #[test]
    fn the_crate_doc_example_is_a_valid_script() {
        let doc: String = include_str!("lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//!"))
            .map(|line| line.strip_prefix(' ').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        let example = doc.split("```json\n").nth(1).unwrap().split("```").next().unwrap();
        let script = Script::from_json_str(example).unwrap();
        assert_eq!(script.phases.len(), 2);
        assert_eq!(script.phases[1].display_name(), "reflect");
    }

    #[test]
    fn rejects_typos_and_empty_parts() {
        for bad in [
            r#"{"phases": []}"#,
            r#"{"phases": [{"match": "", "steps": [{"text": "x"}]}]}"#,
            r#"{"phases": [{"match": "a", "steps": []}]}"#,
            r#"{"phases": [{"match": "a", "steps": [{"shel": "x"}]}]}"#,
            r#"{"phases": [{"match": "a", "steps": [{"mcp": {"server": "s", "tool": "t", "arguments": [1]}}]}]}"#,
            r#"{"phases": [{"match": "a", "steps": [{"text": "x"}]}], "usage": {"input_tokens": 1, "cached_input_tokens": 2}}"#,
            r#"{"phases": [{"match": "a", "steps": [{"text": "x"}]}], "extra": 1}"#,
        ] {
            assert!(Script::from_json_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_phase_in_script_order_wins() {
        let script = Script::from_json_str(
            r#"{"phases": [{"match": "reflect", "steps": [{"text": "r"}]},
                           {"match": "attempt", "steps": [{"text": "a"}]}]}"#,
        )
        .unwrap();
        assert_eq!(script.phase_for("attempt then reflect").map(Phase::display_name), Some("reflect"));
        assert_eq!(script.phase_for("attempt").map(Phase::display_name), Some("attempt"));
        assert!(script.phase_for("nothing").is_none());
    }
}
