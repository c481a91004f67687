//! OpenAI Responses API (codex 0.169): `POST /v1/responses`, streamed as SSE.
//!
//! Shapes follow real-clients.md §2.5, the minimal reply codex was verified
//! to accept: one `response.output_item.done` and one `response.completed`.

use serde_json::{Value, json};

use crate::script::Usage;
use crate::turn::{Action, Ids, SseEvent, content_text, mcp_not_visible};

/// Codex's shell tools, in order of preference, as they appear in `tools`.
const SHELL_TOOLS: &[&str] = &["exec_command", "shell_command", "shell"];

fn input(body: &Value) -> &[Value] {
    body.get("input").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn tools(body: &Value) -> &[Value] {
    body.get("tools").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The user messages of `input`: (index, text). Codex sends the prompt as
/// its own `message` with role `user` (after a `<environment_context>` one).
pub(crate) fn prompts(body: &Value) -> Vec<(usize, String)> {
    input(body)
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            str_field(item, "role") == Some("user") && str_field(item, "type").is_none_or(|kind| kind == "message")
        })
        .map(|(index, item)| {
            (index, content_text(item.get("content").unwrap_or(&Value::Null), &["input_text", "text"]))
        })
        .collect()
}

/// Tool results after input item `index`: every `*_call_output` item
/// (`function_call_output` for shell and MCP calls).
pub(crate) fn tool_results_after(body: &Value, index: usize) -> usize {
    input(body)
        .iter()
        .skip(index + 1)
        .filter(|item| str_field(item, "type").is_some_and(|kind| kind.ends_with("_call_output")))
        .count()
}

/// The output item for `action`, resolved against the request's tools.
fn output_item(action: Action<'_>, body: &Value, ids: &Ids) -> Result<Value, String> {
    match action {
        Action::Text(text) => Ok(json!({
            "type": "message",
            "role": "assistant",
            "id": ids.next("msg"),
            "content": [{"type": "output_text", "text": text}],
        })),
        Action::Shell(command) => {
            let offered = function_names(tools(body));
            let Some(tool) = SHELL_TOOLS.iter().find(|name| offered.contains(name)) else {
                return Err(format!(
                    "SHELL TOOL NOT VISIBLE: the script runs a shell command, but the request offers none of {SHELL_TOOLS:?}; \
                     functions offered: [{}]",
                    offered.join(", ")
                ));
            };
            let arguments = match *tool {
                "exec_command" => json!({"cmd": command}),
                "shell_command" => json!({"command": command}),
                _ => json!({"command": ["bash", "-lc", command]}),
            };
            Ok(function_call(ids, None, tool, &arguments))
        }
        Action::Mcp(call) => {
            let namespace = format!("mcp__{}", call.server);
            // Codex shows a server named `plan-sweep` as the namespace `mcp__plan_sweep`.
            let shown = format!("mcp__{}", call.server.replace('-', "_"));
            if let Some(found) = [&namespace, &shown].into_iter().find(|ns| namespace_has(tools(body), ns, &call.tool))
            {
                Ok(function_call(ids, Some(found), &call.tool, &call.arguments))
            } else {
                Err(mcp_not_visible(call, &format!("codex namespace `{namespace}`"), &visible_mcp(tools(body))))
            }
        }
    }
}

fn function_call(ids: &Ids, namespace: Option<&str>, name: &str, arguments: &Value) -> Value {
    let mut item = json!({
        "type": "function_call",
        "id": ids.next("fc"),
        "call_id": ids.next("call"),
        "name": name,
        "arguments": arguments.to_string(),
        "status": "completed",
    });
    if let (Some(namespace), Some(object)) = (namespace, item.as_object_mut()) {
        object.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    }
    item
}

fn function_names(tools: &[Value]) -> Vec<&str> {
    tools
        .iter()
        .filter(|tool| str_field(tool, "type") == Some("function"))
        .filter_map(|tool| str_field(tool, "name"))
        .collect()
}

fn namespace_has(tools: &[Value], namespace: &str, tool: &str) -> bool {
    tools.iter().any(|entry| {
        str_field(entry, "type") == Some("namespace")
            && str_field(entry, "name") == Some(namespace)
            && entry
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|inner| inner.iter().any(|candidate| str_field(candidate, "name") == Some(tool)))
    })
}

/// `mcp__<server>/<tool>` for every tool of every `mcp__*` namespace, plus
/// flat functions named `mcp__*`.
fn visible_mcp(tools: &[Value]) -> Vec<String> {
    let mut visible = Vec::new();
    for entry in tools {
        let Some(name) = str_field(entry, "name").filter(|name| name.starts_with("mcp__")) else { continue };
        match entry.get("tools").and_then(Value::as_array) {
            Some(inner) if str_field(entry, "type") == Some("namespace") => {
                visible.extend(
                    inner.iter().filter_map(|tool| str_field(tool, "name")).map(|tool| format!("{name}/{tool}")),
                );
            }
            _ => visible.push(name.to_owned()),
        }
    }
    visible
}

/// The SSE reply: `response.output_item.done` then `response.completed`
/// with the script's usage.
pub(crate) fn reply(action: Action<'_>, body: &Value, ids: &Ids, usage: &Usage) -> Result<Vec<SseEvent>, String> {
    let item = output_item(action, body, ids)?;
    Ok(vec![
        SseEvent {
            event: "response.output_item.done",
            data: json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        },
        SseEvent {
            event: "response.completed",
            data: json!({
                "type": "response.completed",
                "response": {"id": ids.next("resp"), "status": "completed", "usage": usage_json(usage)},
            }),
        },
    ])
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    })
}

/// An OpenAI-style error body.
pub(crate) fn error_body(message: &str) -> Value {
    json!({"error": {"message": message, "type": "server_error", "code": "scripted_model_failure"}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::McpCall;

    #[test]
    fn prompts_skip_non_user_items_and_join_parts() {
        let body = json!({"input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sys"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
            {"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "c"},
            {"type": "function_call_output", "call_id": "c", "output": "x"},
            {"role": "user", "content": "plain"},
        ]});
        assert_eq!(prompts(&body), vec![(1, "a\nb".to_owned()), (4, "plain".to_owned())]);
        assert_eq!(tool_results_after(&body, 1), 1);
        assert_eq!(tool_results_after(&body, 4), 0);
    }

    #[test]
    fn shell_falls_back_to_shell_command_then_shell() {
        let ids = Ids::new(0);
        for (tool, arguments) in
            [("shell_command", json!({"command": "ls"})), ("shell", json!({"command": ["bash", "-lc", "ls"]}))]
        {
            let body = json!({"tools": [{"type": "function", "name": tool}]});
            let item = output_item(Action::Shell("ls"), &body, &ids).unwrap();
            assert_eq!(item["name"], tool);
            assert_eq!(serde_json::from_str::<Value>(item["arguments"].as_str().unwrap()).unwrap(), arguments);
        }
        let error = output_item(Action::Shell("ls"), &json!({"tools": []}), &ids).unwrap_err();
        assert!(error.starts_with("SHELL TOOL NOT VISIBLE"), "{error}");
    }

    #[test]
    fn a_server_name_with_a_dash_finds_the_namespace_codex_shows_with_an_underscore() {
        let body = json!({"tools": [{"type": "namespace", "name": "mcp__plan_sweep", "tools": [{"name": "sweep"}]}]});
        let call = McpCall { server: "plan-sweep".into(), tool: "sweep".into(), arguments: json!({}) };
        let item = output_item(Action::Mcp(&call), &body, &Ids::new(0)).unwrap();
        assert_eq!(item["namespace"], "mcp__plan_sweep");
        assert_eq!(item["name"], "sweep");
    }

    #[test]
    fn a_flat_mcp_function_does_not_count_as_the_namespace() {
        let body = json!({"tools": [{"type": "function", "name": "mcp__probe__echo"}]});
        let call = McpCall { server: "probe".into(), tool: "echo".into(), arguments: json!({}) };
        let error = output_item(Action::Mcp(&call), &body, &Ids::new(0)).unwrap_err();
        assert!(error.contains("MCP tools offered: [mcp__probe__echo]"), "{error}");
    }
}
