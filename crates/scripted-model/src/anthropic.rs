//! Anthropic Messages API (claude 2.1.330): `POST /v1/messages?beta=true`,
//! streamed as SSE when `stream` is true (always, in practice), JSON
//! otherwise.
//!
//! Event order follows real-clients.md §3.2: `message_start` →
//! `content_block_start` → `content_block_delta` → `content_block_stop` →
//! `message_delta` → `message_stop`.

use serde_json::{Value, json};

use crate::script::Usage;
use crate::turn::{Action, Ids, SseEvent, content_text, mcp_not_visible};

/// Claude Code's shell tool.
const SHELL_TOOL: &str = "Bash";

fn messages(body: &Value) -> &[Value] {
    body.get("messages").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn tool_names(body: &Value) -> Vec<&str> {
    body.get("tools")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|tool| tool.get("name").and_then(Value::as_str))
        .collect()
}

/// The user messages: (index, all their text blocks joined). The first one
/// also carries a `<system-reminder>` block, hence the join.
pub(crate) fn prompts(body: &Value) -> Vec<(usize, String)> {
    messages(body)
        .iter()
        .enumerate()
        .filter(|(_, message)| message.get("role").and_then(Value::as_str) == Some("user"))
        .map(|(index, message)| (index, content_text(message.get("content").unwrap_or(&Value::Null), &["text"])))
        .collect()
}

/// `tool_result` blocks in the messages after message `index`.
pub(crate) fn tool_results_after(body: &Value, index: usize) -> usize {
    messages(body)
        .iter()
        .skip(index + 1)
        .filter_map(|message| message.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
        .count()
}

/// The assistant content block for `action` and the stop reason.
fn content_block(action: Action<'_>, body: &Value, ids: &Ids) -> Result<(Value, &'static str), String> {
    let tool_use = |name: &str, input: &Value| {
        (json!({"type": "tool_use", "id": ids.next("toolu"), "name": name, "input": input}), "tool_use")
    };
    match action {
        Action::Text(text) => Ok((json!({"type": "text", "text": text}), "end_turn")),
        Action::Shell(command) => {
            let offered = tool_names(body);
            if offered.contains(&SHELL_TOOL) {
                Ok(tool_use(SHELL_TOOL, &json!({"command": command})))
            } else {
                Err(format!(
                    "SHELL TOOL NOT VISIBLE: the script runs a shell command, but the request offers no `{SHELL_TOOL}` \
                     tool; tools offered: [{}]",
                    offered.join(", ")
                ))
            }
        }
        Action::Mcp(call) => {
            let name = format!("mcp__{}__{}", call.server, call.tool);
            let offered = tool_names(body);
            if offered.contains(&name.as_str()) {
                Ok(tool_use(&name, &call.arguments))
            } else {
                let visible: Vec<String> =
                    offered.iter().filter(|tool| tool.starts_with("mcp__")).map(|tool| (*tool).to_owned()).collect();
                Err(mcp_not_visible(call, &format!("claude tool `{name}`"), &visible))
            }
        }
    }
}

/// Anthropic's usage: `input_tokens` excludes cache reads.
fn usage_json(usage: &Usage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": usage.input_tokens.saturating_sub(usage.cached_input_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "output_tokens": output_tokens,
    })
}

fn model(body: &Value) -> &str {
    body.get("model").and_then(Value::as_str).unwrap_or("claude-mock-1")
}

/// Whether the request asked for a stream.
pub(crate) fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// The streamed reply.
pub(crate) fn reply_sse(action: Action<'_>, body: &Value, ids: &Ids, usage: &Usage) -> Result<Vec<SseEvent>, String> {
    let (block, stop_reason) = content_block(action, body, ids)?;
    let (start_block, delta) = match block.get("type").and_then(Value::as_str) {
        Some("tool_use") => {
            let mut start = block.clone();
            let input = start.get_mut("input").map(Value::take).unwrap_or_default();
            if let Some(object) = start.as_object_mut() {
                object.insert("input".to_owned(), json!({}));
            }
            (start, json!({"type": "input_json_delta", "partial_json": input.to_string()}))
        }
        _ => {
            let text = block.get("text").cloned().unwrap_or_default();
            (json!({"type": "text", "text": ""}), json!({"type": "text_delta", "text": text}))
        }
    };
    let message = json!({
        "id": ids.next("msg"),
        "type": "message",
        "role": "assistant",
        "model": model(body),
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
        "usage": usage_json(usage, 1),
    });
    Ok(vec![
        SseEvent { event: "message_start", data: json!({"type": "message_start", "message": message}) },
        SseEvent {
            event: "content_block_start",
            data: json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        },
        SseEvent {
            event: "content_block_delta",
            data: json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        },
        SseEvent { event: "content_block_stop", data: json!({"type": "content_block_stop", "index": 0}) },
        SseEvent {
            event: "message_delta",
            data: json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": usage_json(usage, usage.output_tokens),
            }),
        },
        SseEvent { event: "message_stop", data: json!({"type": "message_stop"}) },
    ])
}

/// The non-streamed reply (a whole `message` object).
pub(crate) fn reply_json(action: Action<'_>, body: &Value, ids: &Ids, usage: &Usage) -> Result<Value, String> {
    let (block, stop_reason) = content_block(action, body, ids)?;
    Ok(json!({
        "id": ids.next("msg"),
        "type": "message",
        "role": "assistant",
        "model": model(body),
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage_json(usage, usage.output_tokens),
    }))
}

/// An Anthropic-style error body.
pub(crate) fn error_body(message: &str) -> Value {
    json!({"type": "error", "error": {"type": "api_error", "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_join_text_blocks_and_tool_results_count_after() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            {"role": "user", "content": "next"},
        ]});
        assert_eq!(
            prompts(&body),
            vec![
                (0, "<system-reminder>x</system-reminder>\ngo".to_owned()),
                (2, String::new()),
                (3, "next".to_owned())
            ]
        );
        assert_eq!(tool_results_after(&body, 0), 1);
        assert_eq!(tool_results_after(&body, 3), 0);
    }
}
