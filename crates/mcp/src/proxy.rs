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
//! When the server exits (or is stopped because the client left), every request still waiting
//! is answered with a `-32000` error carrying the end of the server's stderr.
//!
//! # Decision: the data path is three plain threads with blocking I/O
//!
//! One thread reads the client and writes the server, one reads the server and writes the client,
//! one answers requests whose time is up. A message crosses exactly one thread hand-off per
//! direction, as in the minimal relay `cargo xtask bench mcp` compares us with; the async version
//! (tokio's stdin/stdout on the blocking pool, writer tasks behind channels) added four to five
//! hand-offs and tripled the latency the proxy adds (docs/benchmarks.md). The server is still
//! started and stopped through `harnessgym-proc`; only its two pipes are used here, in blocking
//! mode.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::{PipedSpec, spawn_piped};
use serde_json::{Value, json};

use crate::framing::{DEFAULT_MAX_MESSAGE_BYTES, Decoder, Framing, detect, encode};

/// Methods of the MCP specification (client → server requests), up to 2025-11-25.
const SPEC_METHODS: [&str; 17] = [
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
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
];

/// How long a non-spec request may stay unanswered before `-32601` is sent for the server.
const UNKNOWN_METHOD_WAIT: Duration = Duration::from_secs(1);

/// After the client closes its side: how long the server gets to take the last requests and to
/// deliver the replies still in flight before it is stopped.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Characters of the server's stderr tail quoted in the error for requests it never answered.
const STDERR_IN_ERROR: usize = 2000;

/// Client bytes that fit neither framing after this many: assume newline JSON (the spec).
const DETECT_LIMIT: usize = 64 * 1024;

/// Read size on both pipes.
const CHUNK: usize = 64 * 1024;

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
    #[error("harnessgym mcp-proxy: {0}")]
    Io(#[from] std::io::Error),
}

/// A client request waiting for its reply.
struct Pending {
    /// Distinguishes a request from an earlier one that reused its id, so the earlier one's timer
    /// never answers the later one.
    seq: u64,
    id: Value,
    method: String,
    started: Instant,
    /// When the proxy answers for the server (`None`: never).
    deadline: Option<Instant>,
    /// A method of the MCP specification (`-32000` on timeout) or not (`-32601`).
    spec: bool,
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

static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

/// A request, a notification, a response, or a batch of them.
fn is_jsonrpc(message: &Value) -> bool {
    match message {
        Value::Object(m) => {
            m.get("method").is_some_and(Value::is_string)
                || (m.contains_key("id") && (m.contains_key("result") || m.contains_key("error")))
        }
        Value::Array(items) => !items.is_empty() && items.iter().all(is_jsonrpc),
        _ => false,
    }
}

/// The last `n` characters of `text`.
fn last_chars(text: &str, n: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(n)).collect()
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// [`encode`]'s bytes, serialised straight into the buffer (`Value`'s `Display`, which `encode`
/// uses, goes through `fmt::Write` and costs the proxy several µs a message).
fn frame(framing: Framing, message: &Value) -> Vec<u8> {
    let Ok(body) = serde_json::to_vec(message) else { return encode(framing, message) };
    match framing {
        Framing::Ndjson => {
            let mut out = body;
            out.push(b'\n');
            out
        }
        Framing::ContentLength => {
            let mut out = Vec::with_capacity(body.len() + 32);
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body);
            out
        }
    }
}

/// Counts bytes instead of keeping them.
struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `v` as compact, sorted-key JSON (serde_json's map is sorted: no
/// preserve_order), without building the text.
fn sorted_compact_len(v: &Value) -> usize {
    let mut count = ByteCount(0);
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

fn call_info(message: &Value) -> CallInfo {
    let params = message.get("params");
    // A non-object counts as `{}`.
    let arguments = params.and_then(|p| p.get("arguments")).filter(|a| a.is_object());
    let mut argument_keys: Vec<String> =
        arguments.and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();
    argument_keys.sort();
    CallInfo {
        created_at: harnessgym_types::timefmt::utc_now_micros(),
        tool_name: params
            .and_then(|p| p.get("name"))
            .map(|n| n.as_str().map(str::to_owned).unwrap_or_else(|| n.to_string()))
            .unwrap_or_default(),
        argument_keys,
        argument_json_bytes: arguments.map_or(2, sorted_compact_len),
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
        // An absent result counts as `null`.
        let result_json_bytes = error.or_else(|| reply.get("result")).map_or(4, sorted_compact_len);
        let is_error = reply.get("result").and_then(|r| r.get("isError")) == Some(&Value::Bool(true));
        let line = json!({
            "created_at": call.created_at,
            "server": self.server,
            "request_id": call.request_id,
            "method": "tools/call",
            "tool_name": call.tool_name,
            "duration_ms": (elapsed.as_micros() as u64 + 500) / 1000,
            "duration_us": elapsed.as_micros() as u64,
            "status": status,
            "error_message": error_message,
            "argument_keys": call.argument_keys,
            "argument_json_bytes": call.argument_json_bytes,
            "result_json_bytes": result_json_bytes,
            "is_error": is_error,
        });
        let mut text = serde_json::to_vec(&line).unwrap_or_default();
        text.push(b'\n');
        if let Err(e) = append(&self.path, &text) {
            tracing::warn!("harnessgym mcp-proxy could not write MCP telemetry to {}: {e}", self.path);
        }
    }
}

/// Opened per line (the file may be moved or removed between calls); its directory is created
/// only when missing.
fn append(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    let open = || std::fs::OpenOptions::new().create(true).append(true).open(path);
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            open()?
        }
        other => other?,
    };
    file.write_all(bytes)
}

fn error_reply(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(d) = data {
        error["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// The proxy's state, shared by its threads.
struct Shared {
    state: Mutex<State>,
    /// Wakes the timer thread: an earlier deadline, or the end.
    timer: Condvar,
    out: Mutex<ClientOut>,
    telemetry: Telemetry,
    response_timeout: Duration,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    /// When the timer thread wakes next (`None`: only when notified).
    wake_at: Option<Instant>,
    /// The server is gone and its leftovers answered: new requests are answered at once.
    closed: bool,
    /// The error those requests get.
    closed_reply: Option<(String, Option<Value>)>,
}

/// The client's side of the conversation: replies, forwarded server messages and synthesized
/// errors are written whole, one at a time.
struct ClientOut {
    out: Box<dyn Write + Send>,
    framing: Framing,
    broken: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn to_client(&self, message: &Value) {
        let mut out = lock(&self.out);
        if out.broken {
            return;
        }
        let bytes = frame(out.framing, message);
        if out.out.write_all(&bytes).and_then(|()| out.out.flush()).is_err() {
            tracing::debug!("harnessgym mcp-proxy: the client stopped reading");
            out.broken = true;
        }
    }

    /// The reply to a request the server did not answer in time.
    fn timed_out(&self, p: &Pending) -> Value {
        let wait = if p.spec { self.response_timeout } else { UNKNOWN_METHOD_WAIT };
        let reply = if p.spec {
            error_reply(
                &p.id,
                -32000,
                "wrapped MCP server did not produce a response",
                Some(json!(format!("no reply to {} within {} s", p.method, wait.as_secs_f64()))),
            )
        } else {
            error_reply(&p.id, -32601, &format!("Method not found: {}", p.method), None)
        };
        if let Some(call) = &p.call {
            self.telemetry.record(call, p.started, "timeout", &reply);
        }
        reply
    }
}

/// Runs the proxy between `client_in`/`client_out` (the agent side, usually stdin/stdout) and
/// the server. Returns when the client closes its side (the server is then stopped) or the
/// server exits. `client_in` is read on a thread of its own that is left behind if the server
/// exits first (a blocking read cannot be interrupted); it holds nothing else.
pub async fn run_proxy<R, W>(options: ProxyOptions, client_in: R, client_out: W) -> Result<(), ProxyError>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (program, args) = options.command.split_first().ok_or(ProxyError::NoCommand)?;
    let mut spec = PipedSpec::new(program.clone(), options.cwd.clone()).args(args.iter().cloned());
    if let Some(ws) = &options.workspace {
        spec = spec.env("HARNESSGYM_WORKSPACE", ws.as_str());
    }
    let mut child = spawn_piped(spec)?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Ok(());
    };
    // Blocking mode (tokio hands them back that way), for the threads below.
    let server_in = File::from(server_in.into_owned_fd()?);
    let server_out = File::from(server_out.into_owned_fd()?);
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        timer: Condvar::new(),
        out: Mutex::new(ClientOut { out: Box::new(client_out), framing: Framing::Ndjson, broken: false }),
        telemetry: Telemetry { path: options.telemetry_file(), server: options.server_name.clone() },
        response_timeout: options.response_timeout,
    });
    let server_framing = options.server_framing;

    let (client_done_tx, client_done) = tokio::sync::oneshot::channel::<()>();
    let (server_done_tx, mut server_done) = tokio::sync::oneshot::channel::<()>();
    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name("mcp-proxy-client".into()).spawn(move || {
            client_loop(&shared, client_in, server_in, server_framing);
            let _ = client_done_tx.send(());
        })?;
    }
    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name("mcp-proxy-server".into()).spawn(move || {
            server_loop(&shared, server_out, server_framing);
            let _ = server_done_tx.send(());
        })?;
    }
    let timer = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name("mcp-proxy-timer".into()).spawn(move || timer_loop(&shared))?
    };

    // Whichever side ends first.
    let server_exited = tokio::select! {
        _ = client_done => false,
        _ = &mut server_done => true,
    };
    let mut server_finished = server_exited;
    if server_exited {
        // Its last words on stderr explain the exit to the client.
        let _ = child.wait_for_exit(Duration::from_millis(500)).await;
    } else {
        // The client thread closed the server's stdin: the server may deliver the replies still
        // in flight, then exit.
        server_finished = tokio::time::timeout(DRAIN_WAIT, &mut server_done).await.is_ok();
    }
    let stderr_tail = child.stderr_tail();
    let _ = child.terminate(Duration::from_secs(1)).await;
    // The server's stdout is closed now; let its thread forward what it still holds.
    if !server_finished {
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut server_done).await;
    }

    // Every request still waiting is answered, so the client never waits for a reply that cannot
    // come (a server that crashed, or one stopped because the client left).
    let message = if server_exited {
        "wrapped MCP server exited before replying"
    } else {
        "wrapped MCP server was stopped before replying (the client closed its input)"
    };
    let tail = last_chars(&stderr_tail, STDERR_IN_ERROR);
    let data = (!tail.is_empty()).then(|| json!({"stderr": tail}));
    let mut leftovers: Vec<Pending> = {
        let mut state = lock(&shared.state);
        state.closed = true;
        state.closed_reply = Some((message.to_owned(), data.clone()));
        state.pending.drain().map(|(_, p)| p).collect()
    };
    shared.timer.notify_all();
    leftovers.sort_by_key(|p| p.seq);
    for p in leftovers {
        let reply = error_reply(&p.id, -32000, message, data.clone());
        if let Some(call) = &p.call {
            shared.telemetry.record(call, p.started, "error", &reply);
        }
        shared.to_client(&reply);
    }
    let _ = timer.join();
    if !stderr_tail.is_empty() {
        tracing::debug!(server = %options.server_name, "server stderr tail: {stderr_tail}");
    }
    Ok(())
}

/// Client → server: detects the client's framing, registers requests, forwards every message.
fn client_loop(shared: &Shared, mut client_in: impl Read, server_in: File, server_framing: Framing) {
    let mut server_in = Some(std::io::BufWriter::with_capacity(CHUNK, server_in));
    let mut decoder: Option<Decoder> = None;
    let mut early: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match client_in.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let decoder = match &mut decoder {
            Some(d) => {
                d.push(&buf[..n]);
                d
            }
            None => {
                early.extend_from_slice(&buf[..n]);
                let framing = match detect(&early) {
                    Some(f) => f,
                    None if early.len() > DETECT_LIMIT => Framing::Ndjson,
                    None => continue,
                };
                lock(&shared.out).framing = framing;
                let mut d = Decoder::new(framing, DEFAULT_MAX_MESSAGE_BYTES);
                d.push(&std::mem::take(&mut early));
                decoder.insert(d)
            }
        };
        loop {
            match decoder.next_message() {
                Ok(None) => break,
                Ok(Some(message)) => {
                    if !register(shared, &message) {
                        continue;
                    }
                    let Some(w) = server_in.as_mut() else { continue };
                    let bytes = frame(server_framing, &message);
                    if w.write_all(&bytes).and_then(|()| w.flush()).is_err() {
                        // The server closed its stdin or died: what is pending is answered by the
                        // timer or when the server's stdout closes.
                        tracing::debug!("harnessgym mcp-proxy: the server stopped reading");
                        server_in = None;
                    }
                }
                Err(e) => tracing::warn!("harnessgym mcp-proxy: unreadable message from the client: {e}"),
            }
        }
    }
    // Dropping `server_in` closes the server's stdin: the MCP way to ask it to exit.
}

/// Records a client request as pending. `false`: the proxy is shutting down and has answered it.
fn register(shared: &Shared, message: &Value) -> bool {
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").filter(|id| !id.is_null());
    let (Some(method), Some(id)) = (method, id) else { return true };
    let spec = SPEC_METHODS.contains(&method);
    let started = Instant::now();
    let wait = if spec { shared.response_timeout } else { UNKNOWN_METHOD_WAIT };
    let pending = Pending {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        id: id.clone(),
        method: method.to_owned(),
        started,
        deadline: started.checked_add(wait),
        spec,
        call: (method == "tools/call").then(|| call_info(message)),
    };
    let mut state = lock(&shared.state);
    if state.closed {
        let (text, data) = state.closed_reply.clone().unwrap_or_default();
        drop(state);
        let reply = error_reply(id, -32000, &text, data);
        if let Some(call) = &pending.call {
            shared.telemetry.record(call, started, "error", &reply);
        }
        shared.to_client(&reply);
        return false;
    }
    let deadline = pending.deadline;
    state.pending.insert(id_key(id), pending);
    // The timer thread sleeps until `wake_at`; only an earlier deadline needs to wake it.
    if let Some(d) = deadline
        && state.wake_at.is_none_or(|w| d < w)
    {
        state.wake_at = Some(d);
        shared.timer.notify_one();
    }
    true
}

/// Server → client: replies settle their pending request (telemetry), everything JSON-RPC is
/// forwarded, late replies and garbage are dropped.
fn server_loop(shared: &Shared, mut server_out: File, server_framing: Framing) {
    let mut decoder = Decoder::new(server_framing, DEFAULT_MAX_MESSAGE_BYTES);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match server_out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder.next_message() {
                Ok(None) => break,
                Ok(Some(message)) => forward_from_server(shared, message),
                Err(e) => tracing::warn!("harnessgym mcp-proxy: unreadable message from the server: {e}"),
            }
        }
    }
}

fn forward_from_server(shared: &Shared, message: Value) {
    if !is_jsonrpc(&message) {
        // Garbage a server printed on stdout (a debug print that happens to be JSON): a real
        // client may give up on the whole connection over it, so it stops here.
        tracing::debug!("harnessgym mcp-proxy: dropped a non-JSON-RPC message from the server");
        return;
    }
    let is_response = message.get("method").is_none() && message.get("id").is_some();
    if is_response {
        let key = message.get("id").map(id_key).unwrap_or_default();
        let Some(p) = lock(&shared.state).pending.remove(&key) else {
            // A late reply to a request already answered for the server (or an unknown id).
            tracing::debug!("harnessgym mcp-proxy: dropped a reply with no pending request (id {key})");
            return;
        };
        if let Some(call) = &p.call {
            let status = if message.get("error").is_some_and(Value::is_object) { "error" } else { "completed" };
            shared.telemetry.record(call, p.started, status, &message);
        }
    }
    shared.to_client(&message);
}

/// Answers requests whose deadline passed, until the proxy closes.
fn timer_loop(shared: &Shared) {
    let mut state = lock(&shared.state);
    loop {
        if state.closed {
            return;
        }
        let now = Instant::now();
        let expired: Vec<String> = state
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        if !expired.is_empty() {
            let due: Vec<Pending> = expired.iter().filter_map(|k| state.pending.remove(k)).collect();
            drop(state);
            let mut due = due;
            due.sort_by_key(|p| p.seq);
            for p in &due {
                let reply = shared.timed_out(p);
                shared.to_client(&reply);
            }
            state = lock(&shared.state);
            continue;
        }
        // With nothing pending, keep the planned wake-up: sleeping "until notified" would make
        // every next request wake this thread (one context switch per call).
        let next = state.pending.values().filter_map(|p| p.deadline).min();
        state.wake_at = next.or(state.wake_at.filter(|w| *w > now));
        state = match state.wake_at {
            Some(at) => {
                shared
                    .timer
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared.timer.wait(state).unwrap_or_else(PoisonError::into_inner),
        };
    }
}
