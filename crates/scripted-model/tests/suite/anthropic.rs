//! Claude: `POST /v1/messages?beta=true`, Messages-API SSE (and JSON).

use harnessgym_scripted_model::{Api, Outcome, Step};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{ATTEMPT_PROMPT, REFLECT_PROMPT, claude_body, mask_id, post_json, start};

const PATH: &str = "/v1/messages?beta=true";

fn usage(output_tokens: u64) -> Value {
    json!({"input_tokens": 300, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": output_tokens})
}

/// The events with ids masked; checks names and the message envelope.
fn events(reply: &super::support::HttpReply, stop_reason: &str) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = reply.sse();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let mut data: Vec<Value> = events
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(data["type"], name.as_str());
            data
        })
        .collect();
    mask_id(&mut data[0], "/message/id", "msg_");
    assert_eq!(
        data[0],
        json!({"type": "message_start", "message": {"id": "msg_*", "type": "message", "role": "assistant",
        "model": "claude-mock-1", "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1)}})
    );
    assert_eq!(
        &data[3..],
        &[
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage(40)}),
            json!({"type": "message_stop"}),
        ]
    );
    data[1..3].to_vec()
}

#[tokio::test]
async fn attempt_step_0_is_a_bash_tool_use() {
    let server = start().await;
    let reply = post_json(server.addr(), PATH, &claude_body(vec![], ATTEMPT_PROMPT, 0, true, true)).await;
    let mut blocks = events(&reply, "tool_use");
    mask_id(&mut blocks[0], "/content_block/id", "toolu_");
    assert_eq!(
        blocks,
        vec![
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_*", "name": "Bash", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"command\":\"echo hi > out.txt\"}"}}),
        ]
    );
    let log = server.request_log();
    assert_eq!(log[0].api, Some(Api::AnthropicMessages));
    assert_eq!(log[0].path, PATH);
    assert_eq!(
        log[0].outcome,
        Outcome::Scripted { phase: "attempt".into(), step: 0, action: Step::Shell("echo hi > out.txt".into()) }
    );
}

#[tokio::test]
async fn the_step_advances_with_tool_results() {
    let server = start().await;
    let mcp = post_json(server.addr(), PATH, &claude_body(vec![], ATTEMPT_PROMPT, 1, true, true)).await;
    let mut blocks = events(&mcp, "tool_use");
    mask_id(&mut blocks[0], "/content_block/id", "toolu_");
    assert_eq!(
        blocks,
        vec![
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_*", "name": "mcp__probe__echo", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"text\":\"ping\"}"}}),
        ]
    );

    let text = post_json(server.addr(), PATH, &claude_body(vec![], ATTEMPT_PROMPT, 2, true, true)).await;
    assert_eq!(
        events(&text, "end_turn"),
        vec![
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ATTEMPT DONE"}}),
        ]
    );
    let steps: Vec<Option<usize>> = server
        .request_log()
        .iter()
        .map(|entry| match &entry.outcome {
            Outcome::Scripted { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [Some(1), Some(2)]);
}

#[tokio::test]
async fn a_resumed_session_plays_the_phase_of_its_last_prompt() {
    let server = start().await;
    let attempt = claude_body(vec![], ATTEMPT_PROMPT, 2, true, true);
    let mut history = attempt["messages"].as_array().unwrap().clone();
    history.push(json!({"role": "assistant", "content": [{"type": "text", "text": "ATTEMPT DONE"}]}));
    let reply = post_json(server.addr(), PATH, &claude_body(history, REFLECT_PROMPT, 0, true, true)).await;
    assert_eq!(events(&reply, "end_turn")[1]["delta"]["text"], "REFLECTED");
}

#[tokio::test]
async fn without_stream_the_reply_is_one_json_message() {
    let server = start().await;
    let reply = post_json(server.addr(), "/v1/messages", &claude_body(vec![], ATTEMPT_PROMPT, 1, true, false)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let mut message = reply.json();
    mask_id(&mut message, "/id", "msg_");
    mask_id(&mut message, "/content/0/id", "toolu_");
    assert_eq!(
        message,
        json!({"id": "msg_*", "type": "message", "role": "assistant", "model": "claude-mock-1",
        "content": [{"type": "tool_use", "id": "toolu_*", "name": "mcp__probe__echo", "input": {"text": "ping"}}],
        "stop_reason": "tool_use", "stop_sequence": null, "usage": usage(40)})
    );
}

#[tokio::test]
async fn count_tokens_and_models_answer_fixed_values() {
    let server = start().await;
    let count = post_json(server.addr(), "/v1/messages/count_tokens?beta=true", &json!({"messages": []})).await;
    assert_eq!((count.status, count.json()), (200, json!({"input_tokens": 400})));
    let models = super::support::request(server.addr(), "GET", "/v1/models", &[], b"").await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"], json!([]));
    assert!(server.request_log().iter().all(|entry| entry.outcome == Outcome::Utility));
}
