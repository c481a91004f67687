//! McpClient against real fixture servers, in both framings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use harnessgym_mcp::{Framing, McpClient, McpError, ServerCommand};
use harnessgym_proc::ProcError;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{ANSWER, bounded, fixture, wait_dead};

async fn well_behaved_session(framing: Framing) {
    let client = McpClient::start(&fixture(&["--framing", framing.as_str()]), framing).expect("start");
    assert_eq!(client.framing(), framing);
    let init = bounded(client.initialize(ANSWER)).await.expect("initialize");
    assert_eq!(init.protocol_version(), Some("2025-06-18"), "the fixture echoes our version");
    assert_eq!(init.server_name(), Some("fixture"));

    let tools = bounded(client.list_tools(ANSWER)).await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["echo", "sleep", "client_replies"], "both pages are followed");
    assert_eq!(tools[0].description.as_deref(), Some("Echo the arguments back"));
    assert_eq!(tools[2].description, None);
    assert_eq!(tools[0].raw["inputSchema"], json!({"type": "object"}));

    let args = json!({"text": "héllo\nworld", "n": [1, 2, {"deep": true}]});
    let result = bounded(client.call_tool("echo", args.clone(), ANSWER)).await.expect("tools/call");
    assert_eq!(result["structuredContent"], args);
    assert_eq!(result["isError"], json!(false));
    let text = result["content"][0]["text"].as_str().expect("text content");
    assert_eq!(serde_json::from_str::<Value>(text).expect("json text"), args);

    let diagnostics = client.diagnostics();
    assert_eq!(diagnostics.skipped, 0, "{diagnostics:?}");
    let pid = client.pid();
    let status = bounded(client.shutdown()).await.expect("status");
    assert_eq!(status.code(), Some(0), "the server exits on stdin EOF");
    assert!(wait_dead(pid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_server_full_session() {
    well_behaved_session(Framing::Ndjson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_server_full_session() {
    well_behaved_session(Framing::ContentLength).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_error_carries_the_servers_message() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        let client =
            McpClient::start(&fixture(&["--framing", framing.as_str(), "--init-error"]), framing).expect("start");
        let err = bounded(client.initialize(ANSWER)).await.expect_err("initialize must fail");
        match &err {
            McpError::Rpc { method, code, message, data } => {
                assert_eq!(method, "initialize");
                assert_eq!(*code, -32001);
                assert_eq!(message, "server refuses: missing API key");
                assert_eq!(data, &Some(json!({"hint": "set KEY"})));
            }
            other => panic!("expected Rpc, got {other:?}"),
        }
        assert!(err.to_string().contains("server refuses: missing API key"), "{err}");
        bounded(client.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_server_requests_and_stray_replies_do_not_desync() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        let client = McpClient::start(&fixture(&["--framing", framing.as_str(), "--chatty"]), framing).expect("start");
        bounded(client.initialize(ANSWER)).await.expect("initialize");
        let tools = bounded(client.list_tools(ANSWER)).await.expect("tools/list");
        assert_eq!(tools.len(), 3);
        for i in 0..3 {
            let result = bounded(client.call_tool("echo", json!({"i": i}), ANSWER)).await.expect("call");
            assert_eq!(result["structuredContent"], json!({"i": i}), "reply {i} belongs to request {i}");
        }
        // Our answers to the server's requests reach it (possibly just after
        // the reply that followed them): poll.
        let mut replies = Vec::new();
        for _ in 0..50 {
            let result = bounded(client.call_tool("client_replies", json!({}), ANSWER)).await.expect("call");
            replies = result["structuredContent"]["replies"].as_array().expect("replies").clone();
            if replies.len() >= 12 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let roots = replies.iter().find(|r| r["id"] == json!("srv-1")).expect("reply to roots/list");
        assert_eq!(roots["error"]["code"], json!(-32601), "{roots}");
        assert_eq!(roots["error"]["message"], json!("Method not found: roots/list"));
        let ping = replies.iter().find(|r| r["id"] == json!("srv-ping-1")).expect("reply to ping");
        assert_eq!(ping["result"], json!({}), "{ping}");
        let d = client.diagnostics();
        assert!(d.notifications >= 6, "{d:?}");
        assert!(d.server_requests >= 12, "{d:?}");
        assert!(d.unmatched_replies >= 6, "{d:?}");
        assert_eq!(d.skipped, 0, "{d:?}");
        bounded(client.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_stdout_is_skipped_and_remembered() {
    let client = McpClient::start(&fixture(&["--garbage"]), Framing::Ndjson).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize despite garbage");
    let tools = bounded(client.list_tools(ANSWER)).await.expect("tools/list");
    assert_eq!(tools.len(), 3);
    let result = bounded(client.call_tool("echo", json!({"x": 1}), ANSWER)).await.expect("call");
    assert_eq!(result["structuredContent"], json!({"x": 1}));
    let d = client.diagnostics();
    assert!(d.skipped >= 5 * 4, "{d:?}");
    assert!(d.samples.iter().any(|s| s.contains("this is not json")), "{d:?}");
    assert!(d.samples.iter().any(|s| s.contains("hello")), "{d:?}");
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_start_is_closed_with_exit_code_and_stderr() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        let client = McpClient::start(&fixture(&["--crash"]), framing).expect("start");
        let err = bounded(client.initialize(ANSWER)).await.expect_err("must fail");
        match &err {
            McpError::Closed { method, status, stderr_tail } => {
                assert_eq!(method, "initialize");
                assert_eq!(status.and_then(|s| s.code()), Some(3));
                assert!(stderr_tail.contains("RuntimeError: boom at startup"), "{stderr_tail:?}");
            }
            other => panic!("expected Closed, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("exit code 3") && text.contains("boom at startup"), "{text}");
        // Later requests fail the same way, immediately.
        let again = bounded(client.call_tool("echo", json!({}), ANSWER)).await.expect_err("closed");
        assert!(matches!(again, McpError::Closed { .. }), "{again:?}");
        bounded(client.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_call_does_not_steal_the_next_reply() {
    let client = McpClient::start(&fixture(&[]), Framing::Ndjson).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize");
    let started = Instant::now();
    let err = bounded(client.call_tool("sleep", json!({"seconds": 1.5}), Duration::from_millis(300)))
        .await
        .expect_err("must time out");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    match &err {
        McpError::Timeout { method, seconds } => {
            assert_eq!(method, "tools/call");
            assert!((seconds - 0.3).abs() < 1e-9);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // The late "slept" reply arrives first and must be dropped.
    let result = bounded(client.call_tool("echo", json!({"after": "timeout"}), ANSWER)).await.expect("call");
    assert_eq!(result["structuredContent"], json!({"after": "timeout"}));
    assert_eq!(client.diagnostics().unmatched_replies, 1);
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_matched_by_id() {
    let client = McpClient::start(&fixture(&["--framing", "content-length"]), Framing::ContentLength).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize");
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { (i, client.call_tool("echo", json!({"i": i}), ANSWER).await) })
        })
        .collect();
    for task in tasks {
        let (i, result) = bounded(task).await.expect("join");
        assert_eq!(result.expect("call")["structuredContent"], json!({"i": i}));
    }
    let client = Arc::try_unwrap(client).expect("sole owner");
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_is_an_rpc_error_and_the_session_goes_on() {
    let client = McpClient::start(&fixture(&[]), Framing::Ndjson).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize");
    let err = bounded(client.call_tool("nope", json!({}), ANSWER)).await.expect_err("unknown tool");
    assert!(matches!(&err, McpError::Rpc { code: -32602, message, .. } if message == "Unknown tool: nope"), "{err:?}");
    let pong = bounded(client.request("ping", json!({}), ANSWER)).await.expect("ping");
    assert_eq!(pong, json!({}));
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_framing_times_out_instead_of_hanging() {
    let client = McpClient::start(&fixture(&["--framing", "content-length"]), Framing::Ndjson).expect("start");
    let err = bounded(client.initialize(Duration::from_millis(800))).await.expect_err("no answer");
    assert!(matches!(&err, McpError::Timeout { method, .. } if method == "initialize"), "{err:?}");
    assert_eq!(err.to_string(), "MCP server did not answer initialize within 0.8s");
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_flood_does_not_block_the_server() {
    let client = McpClient::start(&fixture(&["--stderr-flood", "2000000"]), Framing::Ndjson).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize");
    for _ in 0..3 {
        bounded(client.call_tool("echo", json!({}), ANSWER)).await.expect("call");
    }
    let tail = client.stderr_tail().await;
    assert!(tail.len() <= 64 * 1024 && tail.ends_with("eee"), "tail of {} bytes", tail.len());
    bounded(client.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_a_start_error() {
    let cmd = ServerCommand::new("harnessgym-no-such-mcp-server", Vec::<String>::new(), env!("CARGO_MANIFEST_DIR"));
    let err = McpClient::start(&cmd, Framing::Ndjson).expect_err("must fail");
    assert!(matches!(&err, McpError::Start { source: ProcError::NotFound { .. }, .. }), "{err:?}");
    assert!(err.to_string().contains("harnessgym-no-such-mcp-server"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_kills_the_server() {
    let client = McpClient::start(&fixture(&[]), Framing::Ndjson).expect("start");
    bounded(client.initialize(ANSWER)).await.expect("initialize");
    let pid = client.pid();
    drop(client);
    assert!(wait_dead(pid).await, "server {pid} survived the drop");
}
