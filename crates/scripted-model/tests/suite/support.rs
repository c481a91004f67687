//! A minimal HTTP/1.1 client, SSE parsing and request fixtures.

use std::net::SocketAddr;

use harnessgym_scripted_model::{Script, ScriptedModelServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A whole HTTP response.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The SSE events as (event name, data JSON).
    pub fn sse(&self) -> Vec<(String, Value)> {
        assert_eq!(self.header("content-type"), Some("text/event-stream"), "{}", self.text());
        let text = self.text();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut event = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(payload) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(payload).unwrap());
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                (event.unwrap(), data.unwrap())
            })
            .collect()
    }
}

/// Sends raw bytes, reads to EOF (the server closes), parses the response.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    parse_response(&bytes)
}

pub fn parse_response(bytes: &[u8]) -> HttpReply {
    let split = bytes.windows(4).position(|window| window == b"\r\n\r\n").expect("no end of head");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let body = bytes[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let reply = HttpReply { status, headers, body };
    let length: usize = reply.header("content-length").expect("Content-Length").parse().unwrap();
    assert_eq!(length, reply.body.len(), "Content-Length matches the body");
    assert_eq!(reply.header("connection"), Some("close"));
    reply
}

/// One request with a `Content-Length` body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in extra_headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw).await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> HttpReply {
    request(addr, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes()).await
}

pub const SCRIPT: &str = r#"{
  "phases": [
    {"name": "attempt", "match": "HarnessGym attempt", "steps": [
      {"shell": "echo hi > out.txt"},
      {"mcp": {"server": "probe", "tool": "echo", "arguments": {"text": "ping"}}},
      {"text": "ATTEMPT DONE"}
    ]},
    {"name": "reflect", "match": "Reflect on", "steps": [{"text": "REFLECTED"}]}
  ],
  "usage": {"input_tokens": 400, "cached_input_tokens": 100, "output_tokens": 40}
}"#;

pub async fn start() -> ScriptedModelServer {
    ScriptedModelServer::start(Script::from_json_str(SCRIPT).unwrap()).await.unwrap()
}

pub const ATTEMPT_PROMPT: &str = "HarnessGym attempt 1: fix the bug, then write result.json.";
pub const REFLECT_PROMPT: &str = "Reflect on the attempt and name one artifact.";

/// Codex's tools as 0.169 lists them (abridged): `exec_command`, other
/// functions, and the MCP server as a namespace.
pub fn codex_tools(with_probe: bool) -> Value {
    let mut tools = vec![
        json!({"type": "function", "name": "exec_command", "parameters": {"type": "object"}}),
        json!({"type": "function", "name": "write_stdin", "parameters": {"type": "object"}}),
        json!({"type": "namespace", "name": "multi_agent_v1", "description": "", "tools": [{"type": "function", "name": "spawn"}]}),
        json!({"type": "web_search"}),
    ];
    if with_probe {
        tools.push(
            json!({"type": "namespace", "name": "mcp__probe", "description": "Tools in the mcp__probe namespace.",
            "tools": [{"type": "function", "name": "echo", "parameters": {"type": "object"}}]}),
        );
    }
    Value::Array(tools)
}

fn codex_user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A codex request body: system/environment items, `prompts` as user
/// messages, and after the last prompt `tool_results` call/output pairs.
pub fn codex_body(history: Vec<Value>, prompt: &str, tool_results: usize, with_probe: bool) -> Value {
    let mut input = vec![
        json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]}),
        codex_user("<environment_context>\n  <cwd>/ws</cwd>\n</environment_context>"),
    ];
    input.extend(history);
    input.push(codex_user(prompt));
    for n in 0..tool_results {
        input.push(json!({"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": format!("call_h{n}")}));
        input.push(json!({"type": "function_call_output", "call_id": format!("call_h{n}"), "output": "Process exited with code 0\nOutput:\n"}));
    }
    json!({
        "model": "mock-model", "input": input, "tools": codex_tools(with_probe), "tool_choice": "auto",
        "parallel_tool_calls": true, "store": false, "stream": true, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1",
    })
}

pub fn claude_tools(with_probe: bool) -> Value {
    let mut tools = vec![
        json!({"name": "Bash", "input_schema": {"type": "object"}}),
        json!({"name": "Edit", "input_schema": {"type": "object"}}),
        json!({"name": "Read", "input_schema": {"type": "object"}}),
    ];
    if with_probe {
        tools.push(json!({"name": "mcp__probe__echo", "input_schema": {"type": "object"}}));
    }
    Value::Array(tools)
}

/// A claude request body: the first user message carries a
/// `<system-reminder>` block, then `tool_results` tool_use/tool_result turns.
pub fn claude_body(history: Vec<Value>, prompt: &str, tool_results: usize, with_probe: bool, stream: bool) -> Value {
    let mut messages = history;
    messages.push(json!({"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions…\n</system-reminder>"},
        {"type": "text", "text": prompt},
    ]}));
    for n in 0..tool_results {
        messages.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": format!("toolu_h{n}"), "name": "Bash", "input": {"command": "true"}}]}));
        messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("toolu_h{n}"), "content": "(Bash completed with no output)", "is_error": false}]}));
    }
    json!({
        "model": "claude-mock-1", "messages": messages, "system": [{"type": "text", "text": "You are Claude Code."}],
        "tools": claude_tools(with_probe), "max_tokens": 32000, "stream": stream, "thinking": {"type": "adaptive"},
    })
}

/// Replaces the string at `pointer` after checking its prefix.
pub fn mask_id(value: &mut Value, pointer: &str, prefix: &str) {
    let shown = value.to_string();
    let slot = value.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer} in {shown}"));
    let id = slot.as_str().unwrap();
    assert!(id.starts_with(prefix) && id.len() > prefix.len(), "{pointer} = {id:?}");
    *slot = Value::String(format!("{prefix}*"));
}
