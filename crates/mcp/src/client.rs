//! A JSON-RPC client for one stdio MCP server.
//!
//! The server is spawned through [`harnessgym_proc::spawn_piped`] (own
//! process group, stderr drained into a bounded tail). A reader task decodes
//! stdout and routes each response to the request with the same `id`
//! (oneshot channels), so requests may be concurrent and a late reply never
//! lands on the wrong request. Server notifications are logged and counted;
//! server→client requests are answered (`ping` → `{}`, anything else →
//! `-32601`). Undecodable output is skipped and remembered
//! ([`McpClient::diagnostics`]).

use std::collections::{HashMap, HashSet};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use camino::Utf8PathBuf;
use harnessgym_proc::{PipedChild, PipedSpec, spawn_piped};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::McpError;
use crate::framing::{DEFAULT_MAX_MESSAGE_BYTES, Decoder, Framing, encode};

/// The protocol version this client asks for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The `clientInfo.name` this client sends.
pub const CLIENT_NAME: &str = "harnessgym";

/// After stdout closed, how long to wait for the server to exit so its exit
/// status and last stderr can go into [`McpError::Closed`].
const EXIT_WAIT_ON_CLOSE: Duration = Duration::from_secs(1);

/// How long [`McpClient::notify`] may take to write its message.
pub const NOTIFY_WRITE_LIMIT: Duration = Duration::from_secs(30);

/// [`McpClient::shutdown`]: time to exit after stdin is closed, then the
/// SIGTERM→SIGKILL grace.
const SHUTDOWN_EXIT_WAIT: Duration = Duration::from_millis(500);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How many skipped-output samples [`Diagnostics`] keeps.
const MAX_SAMPLES: usize = 8;
const SAMPLE_CHARS: usize = 200;

/// A `tools/list` result longer than this many pages is a server bug.
const MAX_TOOL_PAGES: usize = 10_000;

/// How to start a stdio MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    /// Program name or path, resolved through `PATH`.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (must exist).
    pub cwd: Utf8PathBuf,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, String)>,
}

impl ServerCommand {
    /// `program args…` in `cwd`, with the inherited environment.
    pub fn new<I, S>(program: impl Into<String>, args: I, cwd: impl Into<Utf8PathBuf>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: cwd.into(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// The server's `initialize` result, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeResult(pub Value);

impl InitializeResult {
    /// `protocolVersion` chosen by the server.
    pub fn protocol_version(&self) -> Option<&str> {
        self.0.get("protocolVersion").and_then(Value::as_str)
    }

    /// `serverInfo.name`.
    pub fn server_name(&self) -> Option<&str> {
        self.0.get("serverInfo").and_then(|info| info.get("name")).and_then(Value::as_str)
    }
}

/// One entry of `tools/list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// `name` (entries without a string name are skipped).
    pub name: String,
    /// `description`, if a string.
    pub description: Option<String>,
    /// The whole entry (`inputSchema`, `annotations`, …).
    pub raw: Value,
}

/// What the reader saw besides replies: for error messages and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Undecodable or non-JSON-RPC messages skipped on stdout.
    pub skipped: u64,
    /// The last few of them (or the decoder's complaint), shortened.
    pub samples: Vec<String>,
    /// Notifications received from the server.
    pub notifications: u64,
    /// Requests the server sent us (answered with `{}` for `ping`, else `-32601`).
    pub server_requests: u64,
    /// Replies whose id matched no waiting request (late or unknown).
    pub unmatched_replies: u64,
}

#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Value>>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    diagnostics: Mutex<Diagnostics>,
}

impl Shared {
    fn register(&self, id: u64) -> Option<oneshot::Receiver<Value>> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        pending.waiting.insert(id, tx);
        Some(rx)
    }

    fn unregister(&self, id: u64) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).waiting.remove(&id);
    }

    fn take(&self, id: u64) -> Option<oneshot::Sender<Value>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).waiting.remove(&id)
    }

    /// Stdout is gone: every waiting request and every later one fails.
    fn close(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.closed = true;
        pending.waiting.clear();
    }

    fn with_diagnostics(&self, f: impl FnOnce(&mut Diagnostics)) {
        f(&mut self.diagnostics.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn skip(&self, what: String) {
        tracing::debug!(skipped = %what, "skipping unusable output from MCP server");
        self.with_diagnostics(|d| {
            d.skipped += 1;
            if d.samples.len() == MAX_SAMPLES {
                d.samples.remove(0);
            }
            d.samples.push(shorten(&what));
        });
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SAMPLE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

type Writer = Arc<tokio::sync::Mutex<Option<ChildStdin>>>;

/// Aborts the reader task when the client goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connection to one stdio MCP server. Dropping it SIGKILLs the server's
/// process group; [`Self::shutdown`] ends it gracefully.
pub struct McpClient {
    framing: Framing,
    program: String,
    pid: u32,
    child: tokio::sync::Mutex<PipedChild>,
    writer: Writer,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    _reader: AbortOnDrop,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("program", &self.program)
            .field("pid", &self.pid)
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// Starts the server and the reader task. Nothing is sent yet; call
    /// [`Self::initialize`] next. Must be called inside a tokio runtime.
    pub fn start(cmd: &ServerCommand, framing: Framing) -> Result<Self, McpError> {
        let spec = PipedSpec {
            env: cmd.env.clone(),
            ..PipedSpec::new(cmd.program.clone(), cmd.cwd.clone()).args(cmd.args.iter().cloned())
        };
        let mut child = spawn_piped(spec).map_err(|source| McpError::Start { program: cmd.program.clone(), source })?;
        let pid = child.pid();
        let writer: Writer = Arc::new(tokio::sync::Mutex::new(child.stdin.take()));
        let shared = Arc::new(Shared::default());
        let reader = tokio::spawn(read_loop(child.stdout.take(), framing, Arc::clone(&shared), Arc::clone(&writer)));
        tracing::debug!(program = %cmd.program, pid, %framing, "started MCP server");
        Ok(Self {
            framing,
            program: cmd.program.clone(),
            pid,
            child: tokio::sync::Mutex::new(child),
            writer,
            shared,
            next_id: AtomicU64::new(1),
            _reader: AbortOnDrop(reader),
        })
    }

    /// The framing this client speaks.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The server's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last bytes the server wrote to stderr.
    pub async fn stderr_tail(&self) -> String {
        self.child.lock().await.stderr_tail()
    }

    /// What the reader skipped or handled besides replies so far.
    pub fn diagnostics(&self) -> Diagnostics {
        self.shared.diagnostics.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends `initialize` (protocol [`PROTOCOL_VERSION`], no capabilities,
    /// `clientInfo` harnessgym + this crate's version), requires an object
    /// result, then sends `notifications/initialized`.
    pub async fn initialize(&self, limit: Duration) -> Result<InitializeResult, McpError> {
        let result = self.request("initialize", initialize_params(), limit).await?;
        if !result.is_object() {
            return Err(McpError::Protocol {
                method: "initialize".into(),
                reason: format!("result is not an object: {}", shorten(&result.to_string())),
            });
        }
        self.notify("notifications/initialized", json!({})).await?;
        Ok(InitializeResult(result))
    }

    /// All tools, following `nextCursor` pagination; `limit` covers every
    /// page together.
    pub async fn list_tools(&self, limit: Duration) -> Result<Vec<Tool>, McpError> {
        let deadline = Instant::now() + limit;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        for _ in 0..MAX_TOOL_PAGES {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = match self.request("tools/list", params, remaining).await {
                Err(McpError::Timeout { method, .. }) => {
                    return Err(McpError::Timeout { method, seconds: limit.as_secs_f64() });
                }
                other => other?,
            };
            let protocol = |reason: String| McpError::Protocol { method: "tools/list".into(), reason };
            let Some(page) = result.get("tools").and_then(Value::as_array) else {
                return Err(protocol(format!("result has no tools array: {}", shorten(&result.to_string()))));
            };
            for entry in page {
                match entry.get("name").and_then(Value::as_str) {
                    Some(name) if !name.is_empty() => tools.push(Tool {
                        name: name.to_owned(),
                        description: entry.get("description").and_then(Value::as_str).map(str::to_owned),
                        raw: entry.clone(),
                    }),
                    _ => {
                        tracing::warn!(pid = self.pid, entry = %shorten(&entry.to_string()), "tools/list entry without a name; ignored")
                    }
                }
            }
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.to_owned()) {
                        return Err(protocol(format!("nextCursor {next:?} repeats: pagination never ends")));
                    }
                    cursor = Some(next.to_owned());
                }
                _ => return Ok(tools),
            }
        }
        Err(McpError::Protocol { method: "tools/list".into(), reason: format!("more than {MAX_TOOL_PAGES} pages") })
    }

    /// `tools/call`; returns the `result` as sent (a tool-level failure is a
    /// result with `isError: true`, not an error here). `arguments` is
    /// omitted when null.
    pub async fn call_tool(&self, name: &str, arguments: Value, limit: Duration) -> Result<Value, McpError> {
        let mut params = Map::new();
        params.insert("name".into(), Value::String(name.to_owned()));
        if !arguments.is_null() {
            params.insert("arguments".into(), arguments);
        }
        self.request("tools/call", Value::Object(params), limit).await
    }

    /// Sends a request and waits up to `limit` for the reply with its id:
    /// the `result`, or [`McpError::Rpc`] for an `error`. On timeout the
    /// request is abandoned (a late reply is dropped) and, except for
    /// `initialize`, `notifications/cancelled` is sent.
    pub async fn request(&self, method: &str, params: Value, limit: Duration) -> Result<Value, McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Some(rx) = self.shared.register(id) else {
            return Err(self.closed_error(method).await);
        };
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let exchange = async {
            send(&self.writer, self.framing, &message).await.ok()?;
            rx.await.ok()
        };
        match timeout(limit, exchange).await {
            Err(_) => {
                self.shared.unregister(id);
                tracing::debug!(pid = self.pid, method, id, ?limit, "MCP request timed out");
                if method != "initialize" {
                    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": id, "reason": "timed out"}});
                    let (writer, framing) = (Arc::clone(&self.writer), self.framing);
                    tokio::spawn(async move {
                        let _ = send(&writer, framing, &cancel).await;
                    });
                }
                Err(McpError::Timeout { method: method.to_owned(), seconds: limit.as_secs_f64() })
            }
            Ok(None) => {
                self.shared.unregister(id);
                Err(self.closed_error(method).await)
            }
            Ok(Some(reply)) => reply_result(method, reply),
        }
    }

    /// Sends a notification (no reply expected). A server that stops
    /// reading its stdin makes this fail after [`NOTIFY_WRITE_LIMIT`].
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        match timeout(NOTIFY_WRITE_LIMIT, send(&self.writer, self.framing, &message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) => Err(self.closed_error(method).await),
            Err(_) => Err(McpError::Timeout { method: method.to_owned(), seconds: NOTIFY_WRITE_LIMIT.as_secs_f64() }),
        }
    }

    /// Closes the server's stdin (the MCP way to ask it to exit), waits
    /// briefly, then terminates its process group (SIGTERM, short grace,
    /// SIGKILL). Returns its exit status if known.
    pub async fn shutdown(self) -> Option<ExitStatus> {
        self.shutdown_within(SHUTDOWN_EXIT_WAIT, SHUTDOWN_GRACE).await
    }

    /// [`Self::shutdown`] with its two waits given: up to `exit_wait` for
    /// the server to exit once its stdin is closed, then `grace` between
    /// SIGTERM and SIGKILL. A server that cleans up after itself on SIGTERM
    /// (`harnessgym mcp-proxy` stops the server it wraps) needs a grace
    /// longer than its cleanup.
    pub async fn shutdown_within(self, exit_wait: Duration, grace: Duration) -> Option<ExitStatus> {
        // A write blocked on a server that stopped reading holds the lock;
        // the terminate below unblocks it.
        if let Ok(mut stdin) = timeout(exit_wait, self.writer.lock()).await {
            stdin.take();
        }
        let mut child = self.child.into_inner();
        if child.wait_for_exit(exit_wait).await.is_none() {
            tracing::debug!(pid = self.pid, "MCP server still running after stdin closed; terminating it");
        }
        child.terminate(grace).await
    }

    async fn closed_error(&self, method: &str) -> McpError {
        let mut child = self.child.lock().await;
        let status = child.wait_for_exit(EXIT_WAIT_ON_CLOSE).await;
        McpError::Closed { method: method.to_owned(), status, stderr_tail: child.stderr_tail() }
    }
}

pub(crate) fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION")},
    })
}

/// The `result` of a reply, or its `error` as [`McpError::Rpc`].
fn reply_result(method: &str, reply: Value) -> Result<Value, McpError> {
    let Value::Object(mut reply) = reply else {
        return Err(McpError::Protocol { method: method.into(), reason: "reply is not an object".into() });
    };
    if let Some(error) = reply.remove("error").filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(-32603);
        let message = match error.get("message") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => error.to_string(),
        };
        let data = error.get("data").cloned();
        return Err(McpError::Rpc { method: method.into(), code, message, data });
    }
    reply.remove("result").ok_or_else(|| McpError::Protocol {
        method: method.into(),
        reason: "reply has neither result nor error".into(),
    })
}

/// Writes one framed message; `Err` when stdin is closed or broken.
async fn send(writer: &Writer, framing: Framing, message: &Value) -> Result<(), ()> {
    let bytes = encode(framing, message);
    let mut guard = writer.lock().await;
    let Some(stdin) = guard.as_mut() else { return Err(()) };
    match async {
        stdin.write_all(&bytes).await?;
        stdin.flush().await
    }
    .await
    {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %e, "writing to MCP server stdin failed");
            Err(())
        }
    }
}

async fn read_loop(stdout: Option<ChildStdout>, framing: Framing, shared: Arc<Shared>, writer: Writer) {
    if let Some(mut stdout) = stdout {
        let mut decoder = Decoder::new(framing, DEFAULT_MAX_MESSAGE_BYTES);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "reading MCP server stdout failed");
                    break;
                }
            };
            decoder.push(&buf[..n]);
            loop {
                match decoder.next_message() {
                    Ok(None) => break,
                    Ok(Some(message)) => dispatch(message, framing, &shared, &writer),
                    Err(e) => shared.skip(e.to_string()),
                }
            }
        }
        if decoder.buffered() > 0 {
            shared.skip(format!("{} bytes of an unfinished message at end of output", decoder.buffered()));
        }
    }
    tracing::debug!("MCP server stdout closed");
    shared.close();
}

fn dispatch(message: Value, framing: Framing, shared: &Shared, writer: &Writer) {
    let map = match message {
        Value::Object(map) => map,
        Value::Array(batch) => {
            for item in batch {
                dispatch(item, framing, shared, writer);
            }
            return;
        }
        other => return shared.skip(format!("not a JSON-RPC message: {other}")),
    };
    let method = map.get("method").and_then(Value::as_str);
    let id = map.get("id").filter(|id| !id.is_null());
    match (method, id) {
        (Some(method), Some(id)) => {
            shared.with_diagnostics(|d| d.server_requests += 1);
            let reply = if method == "ping" {
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            } else {
                tracing::debug!(method, "MCP server sent a request we do not support; answering -32601");
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("Method not found: {method}")}})
            };
            // Never block the reader on a write: the server may be busy
            // writing to us and not reading its stdin.
            let writer = Arc::clone(writer);
            tokio::spawn(async move {
                let _ = send(&writer, framing, &reply).await;
            });
        }
        (Some(method), None) => {
            shared.with_diagnostics(|d| d.notifications += 1);
            tracing::debug!(method, "MCP server notification");
        }
        (None, Some(id)) if map.contains_key("result") || map.contains_key("error") => {
            let key = id.as_u64().or_else(|| id.as_str().and_then(|s| s.parse().ok()));
            match key.and_then(|key| shared.take(key)) {
                Some(waiting) => {
                    let _ = waiting.send(Value::Object(map));
                }
                None => {
                    shared.with_diagnostics(|d| d.unmatched_replies += 1);
                    tracing::debug!(%id, "reply matches no waiting request (late or unknown id); dropped");
                }
            }
        }
        _ => shared.skip(format!("not a JSON-RPC message: {}", Value::Object(map))),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn initialize_params_are_spec_compliant() {
        assert_eq!(
            initialize_params(),
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "harnessgym", "version": env!("CARGO_PKG_VERSION")}})
        );
    }

    #[test]
    fn reply_result_maps_errors_and_results() {
        assert_eq!(reply_result("m", json!({"id": 1, "result": {"a": 1}})).unwrap(), json!({"a": 1}));
        let err =
            reply_result("m", json!({"id": 1, "error": {"code": -32000, "message": "bad", "data": [1]}})).unwrap_err();
        match err {
            McpError::Rpc { code, message, data, .. } => {
                assert_eq!((code, message.as_str(), data), (-32000, "bad", Some(json!([1]))));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(reply_result("m", json!({"id": 1})), Err(McpError::Protocol { .. })));
        assert_eq!(reply_result("m", json!({"id": 1, "result": null, "error": null})).unwrap(), Value::Null);
    }

    #[test]
    fn skip_keeps_the_last_samples_shortened() {
        let shared = Shared::default();
        for i in 0..20 {
            shared.skip(format!("{i}:{}", "x".repeat(500)));
        }
        let d = shared.diagnostics.lock().unwrap().clone();
        assert_eq!(d.skipped, 20);
        assert_eq!(d.samples.len(), MAX_SAMPLES);
        assert!(d.samples[MAX_SAMPLES - 1].starts_with("19:"));
        assert_eq!(d.samples[0].chars().count(), SAMPLE_CHARS + 1);
    }

    #[test]
    fn tool_and_initialize_accessors() {
        let init = InitializeResult(json!({"protocolVersion": "2024-11-05", "serverInfo": {"name": "s"}}));
        assert_eq!(init.protocol_version(), Some("2024-11-05"));
        assert_eq!(init.server_name(), Some("s"));
    }
}
