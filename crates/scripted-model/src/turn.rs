//! What both APIs share: choosing the phase and step of a request, the
//! action to play, SSE encoding and reply ids.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::script::{McpCall, Phase, Script, Step};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) event: &'static str,
    pub(crate) data: Value,
}

/// Encodes events as an SSE body (`event:` + one-line `data:` + blank line).
pub(crate) fn encode_sse(events: &[SseEvent]) -> Vec<u8> {
    let mut body = String::new();
    for event in events {
        body.push_str("event: ");
        body.push_str(event.event);
        body.push_str("\ndata: ");
        body.push_str(&event.data.to_string());
        body.push_str("\n\n");
    }
    body.into_bytes()
}

/// The SSE events as the log records them.
pub(crate) fn sse_for_log(events: &[SseEvent]) -> Value {
    Value::Array(events.iter().map(|event| json!({"event": event.event, "data": event.data})).collect())
}

/// What the model does in this reply.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    Shell(&'a str),
    Mcp(&'a McpCall),
    Text(&'a str),
}

impl<'a> From<&'a Step> for Action<'a> {
    fn from(step: &'a Step) -> Self {
        match step {
            Step::Shell(command) => Action::Shell(command),
            Step::Mcp(call) => Action::Mcp(call),
            Step::Text(text) => Action::Text(text),
        }
    }
}

/// Where a request stands in the script.
#[derive(Debug)]
pub(crate) enum Position<'a> {
    /// `phase.steps[step]` exists.
    Step { phase: &'a Phase, step: usize },
    /// The phase matched but has only `step` or fewer steps.
    PastEnd { phase: &'a Phase, step: usize },
    /// No user message matches a phase.
    Unmatched,
}

/// The phase of the **last** user message that matches any phase, and the
/// number of tool results after it. `prompts` are (message index, text);
/// `tool_results_after(index)` counts the tool results after that message.
pub(crate) fn locate<'a>(
    script: &'a Script,
    prompts: &[(usize, String)],
    tool_results_after: impl Fn(usize) -> usize,
) -> Position<'a> {
    let found = prompts.iter().rev().find_map(|(index, text)| script.phase_for(text).map(|phase| (*index, phase)));
    let Some((index, phase)) = found else {
        return Position::Unmatched;
    };
    let step = tool_results_after(index);
    if step < phase.steps.len() { Position::Step { phase, step } } else { Position::PastEnd { phase, step } }
}

/// The final text sent past the end of a phase.
pub(crate) fn past_end_text(phase: &Phase, step: usize) -> String {
    format!(
        "[scripted model] phase `{}` has no step {step} (it has {}); ending the turn.",
        phase.display_name(),
        phase.steps.len()
    )
}

/// The short text sent when no phase matches.
pub(crate) const UNMATCHED_TEXT: &str = "[scripted model] no script phase matches this conversation.";

/// The message of the loud failure when a scripted MCP tool is not offered.
pub(crate) fn mcp_not_visible(call: &McpCall, expected: &str, visible: &[String]) -> String {
    format!(
        "MCP TOOL NOT VISIBLE: the script calls tool `{}` of MCP server `{}` ({expected}), but the request's \
         tool list does not offer it; MCP tools offered: [{}]",
        call.tool,
        call.server,
        visible.join(", ")
    )
}

/// Unique reply ids: a per-server nonce and a counter, so ids from two
/// servers (a resumed session) never collide.
#[derive(Debug)]
pub(crate) struct Ids {
    nonce: String,
    counter: AtomicU64,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Self { nonce: format!("{:08x}", seed & 0xffff_ffff), counter: AtomicU64::new(1) }
    }

    pub(crate) fn next(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}{n:06}", self.nonce)
    }
}

/// Joins the text of a message `content` (a string, or a list of parts with
/// a `text`), newline separated.
pub(crate) fn content_text(content: &Value, part_types: &[&str]) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part.get("type").and_then(Value::as_str).is_some_and(|kind| part_types.contains(&kind)))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
