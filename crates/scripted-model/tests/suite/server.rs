//! Loud failures, 404s, HTTP details, concurrency, the JSONL log, shutdown.

use harnessgym_scripted_model::{Api, LoggedRequest, Outcome, Script, ScriptedModelServer, ServerOptions};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::support::{ATTEMPT_PROMPT, SCRIPT, claude_body, codex_body, post_json, request, send_raw, start};

#[tokio::test]
async fn a_scripted_mcp_tool_missing_from_the_codex_request_fails_loudly() {
    let server = start().await;
    let reply = post_json(server.addr(), "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, 1, false)).await;
    assert_eq!(reply.status, 422);
    let message = reply.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("MCP TOOL NOT VISIBLE"), "{message}");
    assert!(message.contains("`mcp__probe`"), "{message}");
    let failures = server.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].status, 422);
    assert_eq!(failures[0].outcome, Outcome::Failure { phase: Some("attempt".into()), step: Some(1), message });
}

#[tokio::test]
async fn a_scripted_mcp_tool_missing_from_the_claude_request_fails_loudly() {
    let server = start().await;
    let reply =
        post_json(server.addr(), "/v1/messages?beta=true", &claude_body(vec![], ATTEMPT_PROMPT, 1, false, true)).await;
    assert_eq!(reply.status, 500);
    let body = reply.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("MCP TOOL NOT VISIBLE") && message.contains("mcp__probe__echo"), "{message}");
    assert!(server.failures()[0].is_failure());
    assert_eq!(server.failures()[0].api, Some(Api::AnthropicMessages));
}

#[tokio::test]
async fn unknown_paths_and_methods_get_404_and_are_logged() {
    let server = start().await;
    let unknown = post_json(server.addr(), "/v1/chat/completions", &json!({"model": "x"})).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]["message"].as_str().unwrap().contains("POST /v1/chat/completions"));
    let wrong_method = request(server.addr(), "GET", "/v1/responses", &[], b"").await;
    assert_eq!(wrong_method.status, 404);
    let failures = server.failures();
    let seen: Vec<(&str, &str, u16)> =
        failures.iter().map(|entry| (entry.method.as_str(), entry.path.as_str(), entry.status)).collect();
    assert_eq!(seen, [("POST", "/v1/chat/completions", 404), ("GET", "/v1/responses", 404)]);
    assert_eq!(failures[0].outcome, Outcome::NotFound);
    assert_eq!(failures[0].body, json!({"model": "x"}));
}

#[tokio::test]
async fn head_gets_200_without_a_body() {
    let server = start().await;
    let reply = send_raw(server.addr(), b"HEAD /api/hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((reply.status, reply.header("content-length"), reply.body.len()), (200, Some("0"), 0));
    assert_eq!(server.request_log()[0].outcome, Outcome::Utility);
}

#[tokio::test]
async fn bad_bodies_and_compressed_bodies_are_loud_failures() {
    let server = start().await;
    let not_json = request(server.addr(), "POST", "/v1/responses", &[], b"not json").await;
    assert_eq!(not_json.status, 400);
    let compressed = request(server.addr(), "POST", "/v1/messages", &[("Content-Encoding", "zstd")], b"\x28\xb5").await;
    assert_eq!(compressed.status, 415);
    let garbage = send_raw(server.addr(), b"NONSENSE\r\n\r\n").await;
    assert_eq!(garbage.status, 400);
    let statuses: Vec<u16> = server.failures().iter().map(|entry| entry.status).collect();
    assert_eq!(statuses, [400, 415, 400]);
}

#[tokio::test]
async fn chunked_bodies_and_expect_100_continue_are_understood() {
    let server = start().await;
    let body = codex_body(vec![], ATTEMPT_PROMPT, 0, true).to_string();
    let (first, second) = body.split_at(body.len() / 2);
    let raw = format!(
        "POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n{:x};ext=1\r\n{first}\r\n{:X}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let continue_line = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert!(bytes.starts_with(continue_line));
    let reply = super::support::parse_response(&bytes[continue_line.len()..]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.sse()[0].1["item"]["name"], "exec_command");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_step() {
    let server = start().await;
    let addr = server.addr();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..24usize {
        tasks.spawn(async move {
            let step = n % 3;
            if n % 2 == 0 {
                let reply = post_json(addr, "/v1/responses", &codex_body(vec![], ATTEMPT_PROMPT, step, true)).await;
                let item = reply.sse()[0].1["item"].clone();
                (step, item["name"].as_str().or(item["type"].as_str()).unwrap().to_owned())
            } else {
                let reply =
                    post_json(addr, "/v1/messages", &claude_body(vec![], ATTEMPT_PROMPT, step, true, true)).await;
                let block = reply.sse()[1].1["content_block"].clone();
                (step, block["name"].as_str().or(block["type"].as_str()).unwrap().to_owned())
            }
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    for (step, name) in &answers {
        let expected: &[&str] = match step {
            0 => &["exec_command", "Bash"],
            1 => &["echo", "mcp__probe__echo"],
            _ => &["message", "text"],
        };
        assert!(expected.contains(&name.as_str()), "step {step} answered {name}");
    }
    let log = server.request_log();
    assert_eq!(log.len(), 24);
    let mut seqs: Vec<u64> = log.iter().map(|entry| entry.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..24).collect::<Vec<u64>>());
    assert!(server.failures().is_empty());
    // Reply ids are unique across concurrent requests.
    let mut ids: Vec<String> = log.iter().map(|entry| entry.reply.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24);
}

#[tokio::test]
async fn the_jsonl_log_has_every_request_with_credentials_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = camino::Utf8PathBuf::from_path_buf(dir.path().join("model-requests.jsonl")).unwrap();
    let script = Script::from_json_str(SCRIPT).unwrap();
    let server =
        ScriptedModelServer::start_with(script, ServerOptions { log_jsonl: Some(path.clone()) }).await.unwrap();
    let body = claude_body(vec![], ATTEMPT_PROMPT, 0, true, true).to_string();
    let secret = "sk-ant-secret-value";
    request(
        server.addr(),
        "POST",
        "/v1/messages",
        &[("x-api-key", secret), ("Authorization", "Bearer sk-other")],
        body.as_bytes(),
    )
    .await;
    request(server.addr(), "GET", "/nope", &[], b"").await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(secret) && !text.contains("sk-other"), "{text}");
    let lines: Vec<LoggedRequest> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines, server.request_log());
    assert_eq!(lines[0].headers["x-api-key"], "[redacted]");
    assert_eq!(lines[0].headers["authorization"], "[redacted]");
    assert_eq!(lines[1].outcome, Outcome::NotFound);
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let server = start().await;
    let addr = server.addr();
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_eq!(server.base_url_openai(), format!("http://127.0.0.1:{}/v1", addr.port()));
    assert_eq!(server.base_url_anthropic(), format!("http://127.0.0.1:{}", addr.port()));
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn an_invalid_script_is_refused_at_start() {
    let script = Script { phases: vec![], usage: Default::default() };
    let error = ScriptedModelServer::start(script).await.unwrap_err();
    assert!(error.to_string().contains("no phases"), "{error}");
}
