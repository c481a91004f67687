//! The telemetry proxy (`harnessgym mcp-proxy`): sits between an agent's MCP client and a
//! generated server, translating framings, and logs one telemetry line per `tools/call`.
//!
//! Full duplex: any number of requests may be in flight; replies are matched to requests by id
//! and written in the client's framing; server notifications and server→client requests are
//! forwarded; nothing is reordered. The client's framing is detected from its first bytes; the
//! server's is given (activation determined it). The server's `protocolVersion` is forwarded
//! unchanged.
//!
//! Timeouts: a request whose method is not in the MCP specification (Claude's `server/discover`
//! is the known case) that the server leaves unanswered for 1 s is answered `-32601` on the
//! server's behalf; spec methods wait `--response-timeout`, then get a `-32000` error. A late
//! reply to an answered request is dropped, so the client never sees two replies to one id.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::{PipedSpec, spawn_piped};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::framing::{DEFAULT_MAX_MESSAGE_BYTES, Decoder, Framing, detect, encode};

/// Methods of the MCP specification (client → server requests).
const SPEC_METHODS: [&str; 14] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
];

/// How long a non-spec request may stay unanswered before `-32601` is sent for the server.
const UNKNOWN_METHOD_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub server_name: String,
    /// Where telemetry goes (`<workspace>/.harnessgym/mcp_calls.jsonl`) unless
    /// `HARNESSGYM_MCP_TELEMETRY_PATH` is set.
    pub workspace: Option<Utf8PathBuf>,
    pub cwd: Utf8PathBuf,
    pub server_framing: Framing,
    pub response_timeout: Duration,
    /// The server's argv.
    pub command: Vec<String>,
    /// Explicit telemetry file (from `HARNESSGYM_MCP_TELEMETRY_PATH`).
    pub telemetry_path: Option<Utf8PathBuf>,
}

impl ProxyOptions {
    pub fn telemetry_file(&self) -> Utf8PathBuf {
        match (&self.telemetry_path, &self.workspace) {
            (Some(p), _) => p.clone(),
            (None, Some(ws)) => ws.join(".harnessgym/mcp_calls.jsonl"),
            (None, None) => self.cwd.join(".harnessgym/mcp_calls.jsonl"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("harnessgym mcp-proxy: missing wrapped server command (pass it after --)")]
    NoCommand,
    #[error("harnessgym mcp-proxy: could not start the server: {0}")]
    Spawn(#[from] harnessgym_proc::ProcError),
}

/// A client request waiting for its reply.
struct Pending {
    method: String,
    started: Instant,
    call: Option<CallInfo>,
}

/// What a `tools/call` telemetry line needs from the request.
struct CallInfo {
    created_at: String,
    tool_name: String,
    argument_keys: Vec<String>,
    argument_json_bytes: usize,
    request_id: Value,
}

type PendingMap = Arc<Mutex<HashMap<String, Pending>>>;

fn id_key(id: &Value) -> String {
    id.to_string()
}

fn sorted_compact_len(v: &Value) -> usize {
    // serde_json's map is sorted (no preserve_order), so to_string is the sorted compact form.
    v.to_string().len()
}

fn call_info(message: &Value) -> CallInfo {
    let params = message.get("params");
    let arguments = params.and_then(|p| p.get("arguments")).filter(|a| a.is_object()).cloned().unwrap_or(json!({}));
    let mut argument_keys: Vec<String> = arguments.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    argument_keys.sort();
    CallInfo {
        created_at: harnessgym_types::timefmt::utc_now_micros(),
        tool_name: params
            .and_then(|p| p.get("name"))
            .map(|n| n.as_str().map(str::to_owned).unwrap_or_else(|| n.to_string()))
            .unwrap_or_default(),
        argument_keys,
        argument_json_bytes: sorted_compact_len(&arguments),
        request_id: message.get("id").cloned().unwrap_or(Value::Null),
    }
}

/// Appends telemetry lines; one `write` per line on an `O_APPEND` file, so concurrent proxies
/// never interleave within a line.
struct Telemetry {
    path: Utf8PathBuf,
    server: String,
}

impl Telemetry {
    fn record(&self, call: &CallInfo, started: Instant, status: &str, reply: &Value) {
        let elapsed = started.elapsed();
        let error = reply.get("error").filter(|e| e.is_object());
        let error_message = error
            .and_then(|e| e.get("message"))
            .map(|m| m.as_str().map(str::to_owned).unwrap_or_else(|| m.to_string()))
            .unwrap_or_default();
        let result = error.or_else(|| reply.get("result")).cloned().unwrap_or(Value::Null);
        let is_error = reply.get("result").and_then(|r| r.get("isError")) == Some(&Value::Bool(true));
        let line = json!({
            "created_at": call.created_at,
            "server": self.server,
            "request_id": call.request_id,
            "method": "tools/call",
            "tool_name": call.tool_name,
            "duration_ms": elapsed.as_millis() as u64,
            "duration_us": elapsed.as_micros() as u64,
            "status": status,
            "error_message": error_message,
            "argument_keys": call.argument_keys,
            "argument_json_bytes": call.argument_json_bytes,
            "result_json_bytes": sorted_compact_len(&result),
            "is_error": is_error,
        });
        let mut text = line.to_string();
        text.push('\n');
        if let Err(e) = append(&self.path, text.as_bytes()) {
            tracing::warn!("harnessgym mcp-proxy could not write MCP telemetry to {}: {e}", self.path);
        }
    }
}

fn append(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(bytes)
}

fn error_reply(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(d) = data {
        error["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// Runs the proxy between `client_in`/`client_out` (the agent side, usually stdin/stdout) and
/// the server. Returns when the client closes its side (the server is then stopped) or the
/// server exits.
pub async fn run_proxy<R, W>(options: ProxyOptions, mut client_in: R, client_out: W) -> Result<(), ProxyError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (program, args) = options.command.split_first().ok_or(ProxyError::NoCommand)?;
    let mut spec = PipedSpec::new(program.clone(), options.cwd.clone()).args(args.iter().cloned());
    if let Some(ws) = &options.workspace {
        spec = spec.env("HARNESSGYM_WORKSPACE", ws.as_str());
    }
    let mut child = spawn_piped(spec)?;
    let (Some(mut server_in), Some(mut server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Ok(());
    };
    let telemetry = Arc::new(Telemetry { path: options.telemetry_file(), server: options.server_name.clone() });
    let pending: PendingMap = Arc::default();
    let server_framing = options.server_framing;

    // One writer per side keeps messages whole and in order.
    let (to_client, mut client_rx) = mpsc::unbounded_channel::<Value>();
    let (to_server, mut server_rx) = mpsc::unbounded_channel::<Value>();
    let (framing_tx, framing_rx) = tokio::sync::watch::channel(None::<Framing>);

    let client_writer = tokio::spawn(async move {
        let mut out = client_out;
        let mut framing_rx = framing_rx;
        while let Some(message) = client_rx.recv().await {
            let framing = match *framing_rx.borrow_and_update() {
                Some(f) => f,
                None => Framing::Ndjson,
            };
            if out.write_all(&encode(framing, &message)).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let server_writer = tokio::spawn(async move {
        while let Some(message) = server_rx.recv().await {
            if server_in.write_all(&encode(server_framing, &message)).await.is_err() || server_in.flush().await.is_err()
            {
                break;
            }
        }
        // Dropping server_in closes the server's stdin.
    });

    // Server → client.
    let server_reader = {
        let pending = Arc::clone(&pending);
        let telemetry = Arc::clone(&telemetry);
        let to_client = to_client.clone();
        tokio::spawn(async move {
            let mut decoder = Decoder::new(server_framing, DEFAULT_MAX_MESSAGE_BYTES);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_out.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_message() {
                        Ok(None) => break,
                        Ok(Some(message)) => forward_from_server(message, &pending, &telemetry, &to_client),
                        Err(e) => tracing::warn!("harnessgym mcp-proxy: unreadable message from the server: {e}"),
                    }
                }
            }
        })
    };

    // Client → server.
    let mut decoder: Option<Decoder> = None;
    let mut early: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut server_reader = server_reader;
    let mut server_done = false;
    loop {
        let n = tokio::select! {
            read = client_in.read(&mut buf) => match read { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = &mut server_reader => {
                server_done = true;
                break;
            }
        };
        let decoder = match &mut decoder {
            Some(d) => {
                d.push(&buf[..n]);
                d
            }
            None => {
                early.extend_from_slice(&buf[..n]);
                let Some(framing) = detect(&early) else { continue };
                let _ = framing_tx.send(Some(framing));
                let mut d = Decoder::new(framing, DEFAULT_MAX_MESSAGE_BYTES);
                d.push(&std::mem::take(&mut early));
                decoder.insert(d)
            }
        };
        loop {
            match decoder.next_message() {
                Ok(None) => break,
                Ok(Some(message)) => {
                    forward_from_client(message, &pending, &telemetry, &to_client, &to_server, options.response_timeout)
                }
                Err(e) => tracing::warn!("harnessgym mcp-proxy: unreadable message from the client: {e}"),
            }
        }
    }
    // Client gone (or server gone): close the server's stdin, let it deliver the replies still in
    // flight, stop it, then account for whatever stayed unanswered.
    drop(to_server);
    let _ = server_writer.await;
    if !server_done {
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut server_reader).await;
    }
    server_reader.abort();
    let stderr_tail = child.stderr_tail();
    let _ = child.terminate(Duration::from_secs(1)).await;
    let leftovers: Vec<(String, Pending)> = pending.lock().map(|mut p| p.drain().collect()).unwrap_or_default();
    for (_, p) in leftovers {
        if let Some(call) = &p.call {
            let reply = error_reply(&call.request_id, -32000, "wrapped MCP server exited before replying", None);
            telemetry.record(call, p.started, "error", &reply);
        }
    }
    drop(to_client);
    let _ = client_writer.await;
    if !stderr_tail.is_empty() {
        tracing::debug!(server = %options.server_name, "server stderr tail: {stderr_tail}");
    }
    Ok(())
}

fn forward_from_client(
    message: Value,
    pending: &PendingMap,
    telemetry: &Arc<Telemetry>,
    to_client: &mpsc::UnboundedSender<Value>,
    to_server: &mpsc::UnboundedSender<Value>,
    response_timeout: Duration,
) {
    let method = message.get("method").and_then(Value::as_str).map(str::to_owned);
    let id = message.get("id").filter(|id| !id.is_null()).cloned();
    if let (Some(method), Some(id)) = (method, id) {
        let key = id_key(&id);
        let call = (method == "tools/call").then(|| call_info(&message));
        let spec = SPEC_METHODS.contains(&method.as_str());
        if let Ok(mut map) = pending.lock() {
            map.insert(key.clone(), Pending { method, started: Instant::now(), call });
        }
        let wait = if spec { response_timeout } else { UNKNOWN_METHOD_WAIT };
        let pending = Arc::clone(pending);
        let telemetry = Arc::clone(telemetry);
        // Weak: a pending timer must not keep the client writer alive after shutdown.
        let to_client = to_client.downgrade();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(p) = pending.lock().ok().and_then(|mut map| map.remove(&key)) else { return };
            let reply = if spec {
                error_reply(
                    &id,
                    -32000,
                    "wrapped MCP server did not produce a response",
                    Some(json!(format!("no reply to {} within {} s", p.method, wait.as_secs_f64()))),
                )
            } else {
                error_reply(&id, -32601, &format!("Method not found: {}", p.method), None)
            };
            if let Some(call) = &p.call {
                telemetry.record(call, p.started, "timeout", &reply);
            }
            if let Some(to_client) = to_client.upgrade() {
                let _ = to_client.send(reply);
            }
        });
    }
    let _ = to_server.send(message);
}

fn forward_from_server(
    message: Value,
    pending: &PendingMap,
    telemetry: &Arc<Telemetry>,
    to_client: &mpsc::UnboundedSender<Value>,
) {
    let is_response = message.get("method").is_none() && message.get("id").is_some();
    if is_response {
        let key = message.get("id").map(id_key).unwrap_or_default();
        let Some(p) = pending.lock().ok().and_then(|mut map| map.remove(&key)) else {
            // A late reply to a request already answered for the server (or an unknown id).
            tracing::debug!("harnessgym mcp-proxy: dropped a reply with no pending request (id {key})");
            return;
        };
        if let Some(call) = &p.call {
            let status = if message.get("error").is_some_and(Value::is_object) { "error" } else { "completed" };
            telemetry.record(call, p.started, status, &message);
        }
    }
    let _ = to_client.send(message);
}
