//! Codex: `POST /v1/responses`, Responses-API SSE.

use harnessgym_scripted_model::{Api, Outcome, Step};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{ATTEMPT_PROMPT, REFLECT_PROMPT, codex_body, mask_id, post_json, start};

fn completed() -> Value {
    json!({"type": "response.completed", "response": {"id": "resp_*", "status": "completed", "usage": {
        "input_tokens": 400, "input_tokens_details": {"cached_tokens": 100},
        "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 440}}})
}

/// The events with ids masked; asserts the SSE framing and the event names.
fn events(reply: &super::support::HttpReply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = reply.sse();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["response.output_item.done", "response.completed"]);
    let mut data: Vec<Value> = events
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(data["type"], name.as_str(), "data.type repeats the event name");
            data
        })
        .collect();
    mask_id(&mut data[1], "/response/id", "resp_");
    data
}

#[tokio::test]
async fn attempt_step_0_is_an_exec_command_call() {
    let server = start().await;
    let reply = post_json(server.addr(), "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, 0, true)).await;
    let mut data = events(&reply);
    mask_id(&mut data[0], "/item/id", "fc_");
    mask_id(&mut data[0], "/item/call_id", "call_");
    // real-clients.md §2.5, the minimal reply codex accepts.
    assert_eq!(
        data,
        vec![
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call", "id": "fc_*",
            "call_id": "call_*", "name": "exec_command", "arguments": "{\"cmd\":\"echo hi > out.txt\"}", "status": "completed"}}),
            completed(),
        ]
    );
    let log = server.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].api, Some(Api::OpenaiResponses));
    assert_eq!(
        log[0].outcome,
        Outcome::Scripted { phase: "attempt".into(), step: 0, action: Step::Shell("echo hi > out.txt".into()) }
    );
    assert_eq!(log[0].body["prompt_cache_key"], "thread-1", "the parsed body is logged");
    assert_eq!(log[0].reply[0]["event"], "response.output_item.done");
    assert!(server.failures().is_empty());
}

#[tokio::test]
async fn the_step_advances_with_tool_results() {
    let server = start().await;
    let mcp = post_json(server.addr(), "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, 1, true)).await;
    let mut data = events(&mcp);
    mask_id(&mut data[0], "/item/id", "fc_");
    mask_id(&mut data[0], "/item/call_id", "call_");
    assert_eq!(
        data[0],
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call",
        "id": "fc_*", "call_id": "call_*", "namespace": "mcp__probe", "name": "echo",
        "arguments": "{\"text\":\"ping\"}", "status": "completed"}})
    );

    let text = post_json(server.addr(), "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, 2, true)).await;
    let mut data = events(&text);
    mask_id(&mut data[0], "/item/id", "msg_");
    assert_eq!(
        data,
        vec![
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "message", "role": "assistant",
            "id": "msg_*", "content": [{"type": "output_text", "text": "ATTEMPT DONE"}]}}),
            completed(),
        ]
    );

    // Past the last step: a final text, logged as such (not a failure).
    let past = post_json(server.addr(), "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, 3, true)).await;
    let data = events(&past);
    assert_eq!(data[0]["item"]["type"], "message");
    assert!(data[0]["item"]["content"][0]["text"].as_str().unwrap().contains("has no step 3"));

    let outcomes: Vec<Outcome> = server.request_log().into_iter().map(|entry| entry.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Scripted {
                phase: "attempt".into(),
                step: 1,
                action: Step::Mcp(harnessgym_scripted_model::McpCall {
                    server: "probe".into(),
                    tool: "echo".into(),
                    arguments: json!({"text": "ping"})
                })
            },
            Outcome::Scripted { phase: "attempt".into(), step: 2, action: Step::Text("ATTEMPT DONE".into()) },
            Outcome::PastEnd { phase: "attempt".into(), step: 3 },
        ]
    );
    assert!(server.failures().is_empty());
}

#[tokio::test]
async fn a_resumed_session_plays_the_phase_of_its_last_prompt() {
    let server = start().await;
    // The attempt's history (prompt, 2 calls, final message) then the reflect prompt.
    let attempt = codex_body(vec![], ATTEMPT_PROMPT, 2, true);
    let mut history: Vec<Value> = attempt["input"].as_array().unwrap()[2..].to_vec();
    history.push(
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ATTEMPT DONE"}]}),
    );
    let reply = post_json(server.addr(), "/v1/responses", &codex_body(history, REFLECT_PROMPT, 0, true)).await;
    let data = events(&reply);
    assert_eq!(data[0]["item"]["content"][0]["text"], "REFLECTED");
    assert_eq!(
        server.request_log()[0].outcome,
        Outcome::Scripted { phase: "reflect".into(), step: 0, action: Step::Text("REFLECTED".into()) }
    );
}

#[tokio::test]
async fn a_conversation_no_phase_matches_gets_a_short_text() {
    let server = start().await;
    let reply =
        post_json(server.addr(), "/v1/responses", &codex_body(vec![], "Generate a title for this chat", 0, true)).await;
    let data = events(&reply);
    assert_eq!(data[0]["item"]["type"], "message");
    assert_eq!(server.request_log()[0].outcome, Outcome::Unmatched);
    assert!(server.failures().is_empty());
}
