//! The telemetry proxy (`harnessgym mcp-proxy`): sits between an agent's MCP client and a
//! generated server, translating framings, and logs one telemetry line per `tools/call`.
//!
//! Full duplex: any number of requests may be in flight; replies are matched to requests by id
//! and written in the client's framing; server notifications and server→client requests are
//! forwarded; nothing is reordered. The client's framing is that of its first valid message (no
//! bad line decides it); the server's is given (activation determined it). The server's
//! `protocolVersion` is forwarded unchanged.
//!
//! Client garbage (`intake`): what does not parse is answered `-32700` (id null), what parses but
//! is no JSON-RPC message `-32600` (its id when usable), in the client's framing (newline JSON
//! until it is known); neither reaches the server or the telemetry. A client that closes without
//! one valid message ends the proxy with [`ProxyExit::NoValidMessage`].
//!
//! Timeouts: a request whose method is not in the MCP specification (Claude's `server/discover`
//! is the known case) that the server leaves unanswered for 1 s is answered `-32601` on the
//! server's behalf; spec methods wait `--response-timeout`, then get a `-32000` error. A late
//! reply to an answered request is dropped, so the client never sees two replies to one id.
//! When the server exits (or is stopped because the client left or the proxy got SIGTERM, SIGINT
//! or SIGHUP), every request still waiting is answered with a `-32000` error carrying the end of
//! the server's stderr. A stop signal is honoured in every phase, the drain after client EOF
//! included: when the proxy has exited, the server's process group is gone.
//!
//! Telemetry: one line per `tools/call` however it ends (a reply, an error, a timeout, the server
//! exiting or being stopped), appended to the telemetry file by a writer thread of its own.
//!
//! # Decision: the data path is plain threads with blocking I/O
//!
//! One thread reads the client and writes the server, one reads the server and writes the client,
//! one answers requests whose time is up, one appends telemetry. A message crosses exactly one
//! thread hand-off per direction, as in the minimal relay `cargo xtask bench mcp` compares us with;
//! the async version (tokio's stdin/stdout on the blocking pool, writer tasks behind channels)
//! added four to five hand-offs and tripled the latency the proxy adds (docs/benchmarks.md). The
//! server is still started and stopped through `harnessgym-proc`; only its two pipes are used
//! here, in blocking mode.
//!
//! # Decision: the reply first, its telemetry line after, on a thread of its own
//!
//! A reply is written to the client before anything is done about its line: the server thread
//! then queues the reply, the request's parts and the timing for the telemetry thread, which
//! builds the line (sizes, key lists, the timestamp) and appends it. The file stays open
//! (`O_APPEND`, opened at the first line, reopened when it has been removed or a write fails), and
//! the lines queued at the time go out in one `write` of whole lines, so lines from concurrent
//! proxies never interleave. While calls keep coming, the telemetry thread looks for lines every
//! millisecond instead of being woken for each one: on a 2-core machine a wake-up per call cost
//! as much latency as the write it moved off the reply's path (docs/benchmarks.md). After 20 empty
//! looks it sleeps until the next line wakes it.
//!
//! The line is queued under the lock that orders writes to the client, and before it returns
//! (client EOF, server exit, SIGTERM/SIGINT/SIGHUP) the proxy closes that side — nothing more
//! reaches the client — and waits for the telemetry thread to write everything queued: once the
//! proxy has exited, every reply the client got has its line in the file. Only a SIGKILL can part
//! them, within the millisecond or so between a reply and the write of its line. (The first
//! versions wrote the line before the reply, with an open, a write and a close, which cost ~40 µs
//! a call.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::{PipedSpec, spawn_piped};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::framing::{DEFAULT_MAX_MESSAGE_BYTES, Decoder, Framing, encode_into};

mod intake;

use intake::{ClientDecoder, Intake};

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

/// Read size on both pipes.
const CHUNK: usize = 64 * 1024;

/// An encoding buffer that grew past this (a huge message) is given back after use.
const KEEP_BUFFER: usize = 1024 * 1024;

/// Queued telemetry lines are written together up to about this many bytes per `write`.
const TELEMETRY_BATCH: usize = 64 * 1024;

/// While calls keep coming, the telemetry thread looks for new lines this often rather than being
/// woken by each one.
const TELEMETRY_POLL: Duration = Duration::from_millis(1);

/// Looks that find nothing before the telemetry thread waits to be woken again.
const TELEMETRY_IDLE_LOOKS: u32 = 20;

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

/// Why [`run_proxy`] returned. In every case the server has been stopped, every request still
/// waiting has been answered and every telemetry line written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyExit {
    /// The client closed its side.
    ClientClosed,
    /// The server exited first.
    ServerExited,
    /// The proxy got this signal (SIGTERM, SIGINT or SIGHUP).
    Signal(i32),
    /// The client closed its side after sending bytes of which not one was a valid message (each
    /// was answered with a JSON-RPC error); `rejected` counts them.
    NoValidMessage { rejected: u64 },
}

/// What the client sent, counted when it closes its side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ClientSummary {
    /// Messages relayed to the server.
    forwarded: u64,
    /// Things answered with a JSON-RPC error instead.
    rejected: u64,
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

/// What a `tools/call` telemetry line needs from the request: its parts, moved out of it once it
/// has been encoded for the server; the telemetry thread measures and formats them.
struct CallInfo {
    created_at: SystemTime,
    /// `params.name`.
    tool_name: Option<Value>,
    /// `params.arguments` when it is an object (anything else counts as `{}`).
    arguments: Option<Value>,
    request_id: Value,
}

/// A settled `tools/call`, on its way to the telemetry thread.
struct Record {
    call: CallInfo,
    duration: Duration,
    /// `completed`, `error` or `timeout`.
    status: &'static str,
    /// What the client got.
    reply: Value,
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

/// Takes what the telemetry line needs out of a `tools/call` request (already encoded for the
/// server, so nothing is copied).
fn take_call_info(message: &mut Value, created_at: SystemTime) -> CallInfo {
    let request_id = message.get("id").cloned().unwrap_or(Value::Null);
    let (tool_name, arguments) = match message.get_mut("params") {
        Some(Value::Object(params)) => (params.remove("name"), params.remove("arguments").filter(Value::is_object)),
        _ => (None, None),
    };
    CallInfo { created_at, tool_name, arguments, request_id }
}

/// `2026-11-24T08:15:02.123456Z`, as `harnessgym_types::timefmt::utc_now_micros` writes the
/// present (the proxy records the time at the request and formats it later).
fn format_utc_micros(t: SystemTime) -> String {
    harnessgym_types::timefmt::format_system_time_micros(t)
}

/// One telemetry line: the reference's keys plus `duration_us` and `is_error`, in sorted order
/// (field order is serialisation order).
#[derive(Serialize)]
struct Line<'a> {
    argument_json_bytes: usize,
    argument_keys: Vec<&'a str>,
    created_at: &'a str,
    duration_ms: u64,
    duration_us: u64,
    error_message: &'a str,
    is_error: bool,
    method: &'static str,
    request_id: &'a Value,
    result_json_bytes: usize,
    server: &'a str,
    status: &'a str,
    tool_name: &'a str,
}

/// Appends `record`'s line (with its `\n`) to `out`.
fn write_line(out: &mut Vec<u8>, server: &str, record: &Record) {
    let Record { call, duration, status, reply } = record;
    let error = reply.get("error").filter(|e| e.is_object());
    let error_message: Cow<'_, str> = match error.and_then(|e| e.get("message")) {
        Some(Value::String(m)) => m.into(),
        Some(other) => other.to_string().into(),
        None => "".into(),
    };
    // An absent result counts as `null`.
    let result_json_bytes = error.or_else(|| reply.get("result")).map_or(4, sorted_compact_len);
    let is_error = reply.get("result").and_then(|r| r.get("isError")) == Some(&Value::Bool(true));
    let mut argument_keys: Vec<&str> = call
        .arguments
        .as_ref()
        .and_then(Value::as_object)
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    argument_keys.sort_unstable();
    let tool_name: Cow<'_, str> = match &call.tool_name {
        Some(Value::String(name)) => name.into(),
        Some(other) => other.to_string().into(),
        None => "".into(),
    };
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let line = Line {
        argument_json_bytes: call.arguments.as_ref().map_or(2, sorted_compact_len),
        argument_keys,
        created_at: &format_utc_micros(call.created_at),
        duration_ms: micros.saturating_add(500) / 1000,
        duration_us: micros,
        error_message: &error_message,
        is_error,
        method: "tools/call",
        request_id: &call.request_id,
        result_json_bytes,
        server,
        status,
        tool_name: &tool_name,
    };
    let start = out.len();
    match serde_json::to_writer(&mut *out, &line) {
        Ok(()) => out.push(b'\n'),
        Err(_) => out.truncate(start),
    }
}

/// The telemetry file, open for appending.
struct TelemetryFile {
    path: Utf8PathBuf,
    open: Option<File>,
}

impl TelemetryFile {
    /// Appends whole lines with one `write`; on failure the file is reopened and the write tried
    /// once more.
    fn append(&mut self, bytes: &[u8]) {
        let mut result = Ok(());
        for _ in 0..2 {
            result = self.current().and_then(|file| file.write_all(bytes));
            if result.is_ok() {
                return;
            }
            self.open = None;
        }
        if let Err(e) = result {
            tracing::warn!("harnessgym mcp-proxy could not write MCP telemetry to {}: {e}", self.path);
        }
    }

    /// The open file, unless it has been removed since the last line (then, as at the first line,
    /// the file at the path, created with its directory when missing). A file moved away keeps
    /// this proxy's lines.
    fn current(&mut self) -> std::io::Result<&mut File> {
        let removed = match &self.open {
            Some(file) => file.metadata().is_ok_and(|meta| meta.nlink() == 0),
            None => true,
        };
        if removed {
            self.open = Some(open_append(&self.path)?);
        }
        match &mut self.open {
            Some(file) => Ok(file),
            None => Err(std::io::Error::other("telemetry file not open")),
        }
    }
}

/// Opens `path` for appending; its directory is created only when missing.
fn open_append(path: &Utf8Path) -> std::io::Result<File> {
    let open = || std::fs::OpenOptions::new().create(true).append(true).open(path);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            open()
        }
        other => other,
    }
}

/// The telemetry thread: builds and appends the line of every settled call until the proxy
/// closes the channel. Lines already queued are written together, whole.
fn telemetry_loop(mut file: TelemetryFile, server: &str, records: &Receiver<Record>) {
    let mut buf = Vec::new();
    // Idle: the next line wakes this thread.
    while let Ok(first) = records.recv() {
        let mut next = Some(first);
        let mut empty_looks = 0;
        // Busy: looks for lines every TELEMETRY_POLL, so that a call does not wake this thread.
        loop {
            buf.clear();
            if let Some(record) = next.take() {
                write_line(&mut buf, server, &record);
            }
            let mut closed = false;
            while buf.len() < TELEMETRY_BATCH {
                match records.try_recv() {
                    Ok(record) => write_line(&mut buf, server, &record),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let full = buf.len() >= TELEMETRY_BATCH;
            if buf.is_empty() {
                empty_looks += 1;
            } else {
                file.append(&buf);
                empty_looks = 0;
            }
            if buf.capacity() > KEEP_BUFFER {
                buf = Vec::new();
            }
            if closed {
                return;
            }
            if empty_looks >= TELEMETRY_IDLE_LOOKS {
                break;
            }
            if !full {
                std::thread::sleep(TELEMETRY_POLL);
            }
        }
    }
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
    response_timeout: Duration,
    /// Set by the client thread when the client has closed its side.
    client: Mutex<Option<ClientSummary>>,
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
/// errors are written whole, one at a time, and the telemetry of each settled call is queued
/// right after its reply.
struct ClientOut {
    out: Box<dyn Write + Send>,
    framing: Framing,
    broken: bool,
    /// Reused for every message.
    buf: Vec<u8>,
    /// The telemetry thread's queue; `None` once the proxy has closed, when nothing more is
    /// written to the client either.
    telemetry: Option<Sender<Record>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `tools/call` being answered: its request's parts, when it started, how it ended.
type Settled = (CallInfo, Instant, &'static str);

impl Shared {
    /// Writes `message` to the client; then, when it answers a `tools/call`, queues its
    /// telemetry line — under the same lock, so no reply goes out without its line queued.
    fn to_client(&self, message: Value, settled: Option<Settled>) {
        let duration = settled.as_ref().map(|(_, started, _)| started.elapsed());
        let mut guard = lock(&self.out);
        let out = &mut *guard;
        let Some(telemetry) = &out.telemetry else { return };
        if !out.broken {
            encode_into(out.framing, &message, &mut out.buf);
            if out.out.write_all(&out.buf).and_then(|()| out.out.flush()).is_err() {
                tracing::debug!("harnessgym mcp-proxy: the client stopped reading");
                out.broken = true;
            }
            if out.buf.capacity() > KEEP_BUFFER {
                out.buf = Vec::new();
            }
        }
        if let (Some((call, _, status)), Some(duration)) = (settled, duration) {
            let _ = telemetry.send(Record { call, duration, status, reply: message });
        }
    }

    /// The reply to a request the server did not answer in time.
    fn timed_out(&self, p: &Pending) -> Value {
        let wait = if p.spec { self.response_timeout } else { UNKNOWN_METHOD_WAIT };
        if p.spec {
            error_reply(
                &p.id,
                -32000,
                "wrapped MCP server did not produce a response",
                Some(json!(format!("no reply to {} within {} s", p.method, wait.as_secs_f64()))),
            )
        } else {
            error_reply(&p.id, -32601, &format!("Method not found: {}", p.method), None)
        }
    }
}

/// Waits for `signal`; forever when it could not be listened for.
async fn received(signal: &mut Option<Signal>) {
    if let Some(s) = signal
        && s.recv().await.is_some()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// Runs the proxy between `client_in`/`client_out` (the agent side, usually stdin/stdout) and
/// the server. Returns when the client closes its side (the server is then stopped), the server
/// exits, or the process gets SIGTERM, SIGINT or SIGHUP (the server is stopped). `client_in` is
/// read on a thread of its own that is left behind if the proxy ends otherwise (a blocking read
/// cannot be interrupted); it holds nothing else.
pub async fn run_proxy<R, W>(options: ProxyOptions, client_in: R, client_out: W) -> Result<ProxyExit, ProxyError>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    // The server first: its start-up is the slow part, everything else overlaps with it.
    let (program, args) = options.command.split_first().ok_or(ProxyError::NoCommand)?;
    let mut spec = PipedSpec::new(program.clone(), options.cwd.clone()).args(args.iter().cloned());
    if let Some(ws) = &options.workspace {
        spec = spec.env("HARNESSGYM_WORKSPACE", ws.as_str());
    }
    let mut child = spawn_piped(spec)?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Ok(ProxyExit::ServerExited);
    };
    let mut stop_signals = [(15, SignalKind::terminate()), (2, SignalKind::interrupt()), (1, SignalKind::hangup())]
        .map(|(number, kind)| (number, signal(kind).ok()));
    // Blocking mode (tokio hands them back that way), for the threads below.
    let server_in = File::from(server_in.into_owned_fd()?);
    let server_out = File::from(server_out.into_owned_fd()?);

    let (records_tx, records) = std::sync::mpsc::channel::<Record>();
    let writer = {
        let file = TelemetryFile { path: options.telemetry_file(), open: None };
        let server = options.server_name.clone();
        std::thread::Builder::new()
            .name("mcp-proxy-telemetry".into())
            .spawn(move || telemetry_loop(file, &server, &records))?
    };
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        timer: Condvar::new(),
        out: Mutex::new(ClientOut {
            out: Box::new(client_out),
            framing: Framing::Ndjson,
            broken: false,
            buf: Vec::new(),
            telemetry: Some(records_tx),
        }),
        response_timeout: options.response_timeout,
        client: Mutex::new(None),
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

    // Whichever comes first.
    let [(n0, s0), (n1, s1), (n2, s2)] = &mut stop_signals;
    let mut exit = tokio::select! {
        _ = client_done => ProxyExit::ClientClosed,
        _ = &mut server_done => ProxyExit::ServerExited,
        () = received(s0) => ProxyExit::Signal(*n0),
        () = received(s1) => ProxyExit::Signal(*n1),
        () = received(s2) => ProxyExit::Signal(*n2),
    };
    let mut server_finished = exit == ProxyExit::ServerExited;
    match exit {
        // Its last words on stderr explain the exit to the client.
        ProxyExit::ServerExited => {
            let _ = child.wait_for_exit(Duration::from_millis(500)).await;
        }
        // The client thread closed the server's stdin: the server may deliver the replies still
        // in flight, then exit. A stop signal meanwhile stops it at once, as in any other phase:
        // whoever stops the proxy finds the server's process group gone when the proxy has exited.
        ProxyExit::ClientClosed => {
            tokio::select! {
                done = tokio::time::timeout(DRAIN_WAIT, &mut server_done) => server_finished = done.is_ok(),
                () = received(s0) => exit = ProxyExit::Signal(*n0),
                () = received(s1) => exit = ProxyExit::Signal(*n1),
                () = received(s2) => exit = ProxyExit::Signal(*n2),
            }
        }
        // Stopped from outside: the server is stopped at once.
        ProxyExit::Signal(_) | ProxyExit::NoValidMessage { .. } => {}
    }
    let stderr_tail = child.stderr_tail();
    let _ = child.terminate(Duration::from_secs(1)).await;
    // The server's stdout is closed now; let its thread forward what it still holds.
    if !server_finished {
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut server_done).await;
    }

    // Every request still waiting is answered, so the client never waits for a reply that cannot
    // come (a server that crashed, or one stopped because the client left or the proxy was told
    // to stop).
    let message = match exit {
        ProxyExit::ServerExited => "wrapped MCP server exited before replying",
        ProxyExit::ClientClosed | ProxyExit::NoValidMessage { .. } => {
            "wrapped MCP server was stopped before replying (the client closed its input)"
        }
        ProxyExit::Signal(_) => "wrapped MCP server was stopped before replying (the proxy was told to stop)",
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
        shared.to_client(reply, p.call.map(|call| (call, p.started, "error")));
    }
    let _ = timer.join();
    // Closed: nothing more reaches the client or the log, and every line queued is written before
    // the proxy exits.
    drop(lock(&shared.out).telemetry.take());
    let _ = writer.join();
    if !stderr_tail.is_empty() {
        tracing::debug!(server = %options.server_name, "server stderr tail: {stderr_tail}");
    }
    // A client that left without sending one valid message (whichever side was seen to end
    // first) is a failure the caller reports.
    let client = *lock(&shared.client);
    Ok(match client {
        Some(ClientSummary { forwarded: 0, rejected }) if rejected > 0 && !matches!(exit, ProxyExit::Signal(_)) => {
            ProxyExit::NoValidMessage { rejected }
        }
        _ => exit,
    })
}

/// Client → server: detects the client's framing, answers what is not a valid message (see
/// `intake`), registers requests, forwards every valid message.
fn client_loop(shared: &Shared, mut client_in: impl Read, server_in: File, server_framing: Framing) {
    let mut relay = ClientRelay { server_in: Some(server_in), server_framing, bytes: Vec::new(), framing: None };
    let mut intake = ClientDecoder::new(DEFAULT_MAX_MESSAGE_BYTES);
    let mut summary = ClientSummary::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match client_in.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        intake.push(&buf[..n]);
        relay.drain(shared, &mut intake, &mut summary);
    }
    intake.finish();
    relay.drain(shared, &mut intake, &mut summary);
    *lock(&shared.client) = Some(summary);
    // Dropping `server_in` (with `relay`) closes the server's stdin: the MCP way to ask it to exit.
}

/// The client thread's side of the server's stdin.
struct ClientRelay {
    server_in: Option<File>,
    server_framing: Framing,
    /// Reused for every message.
    bytes: Vec<u8>,
    /// The client's framing as last told to the writer of the client's side.
    framing: Option<Framing>,
}

impl ClientRelay {
    /// Handles everything complete in `intake`.
    fn drain(&mut self, shared: &Shared, intake: &mut ClientDecoder, summary: &mut ClientSummary) {
        while let Some(item) = intake.next() {
            // Detected with this item: everything from here on, answers included, goes out in it.
            if intake.framing() != self.framing {
                self.framing = intake.framing();
                if let Some(framing) = self.framing {
                    lock(&shared.out).framing = framing;
                }
            }
            match item {
                Intake::Forward(message) => {
                    summary.forwarded += 1;
                    self.forward(shared, message);
                }
                Intake::Answer { reply, why } => {
                    summary.rejected += 1;
                    tracing::warn!("harnessgym mcp-proxy: answered a message from the client with an error: {why}");
                    shared.to_client(reply, None);
                }
            }
        }
    }

    fn forward(&mut self, shared: &Shared, mut message: Value) {
        let received = (Instant::now(), SystemTime::now());
        encode_into(self.server_framing, &message, &mut self.bytes);
        // Registered before it is written: the reply may come back at once.
        if !register(shared, &mut message, received) {
            return;
        }
        if let Some(w) = self.server_in.as_mut()
            && w.write_all(&self.bytes).is_err()
        {
            // The server closed its stdin or died: what is pending is answered by the timer or
            // when the server's stdout closes.
            tracing::debug!("harnessgym mcp-proxy: the server stopped reading");
            self.server_in = None;
        }
        if self.bytes.capacity() > KEEP_BUFFER {
            self.bytes = Vec::new();
        }
    }
}

/// Records a client request as pending (a `tools/call`'s name and arguments are moved out of
/// `message`, which has been encoded already). `false`: the proxy is shutting down and has
/// answered it.
fn register(shared: &Shared, message: &mut Value, (started, created_at): (Instant, SystemTime)) -> bool {
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").filter(|id| !id.is_null());
    let (Some(method), Some(id)) = (method, id) else { return true };
    let spec = SPEC_METHODS.contains(&method);
    let wait = if spec { shared.response_timeout } else { UNKNOWN_METHOD_WAIT };
    let (id, method) = (id.clone(), method.to_owned());
    let call = (method == "tools/call").then(|| take_call_info(message, created_at));
    let key = id_key(&id);
    let pending = Pending {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        id,
        method,
        started,
        deadline: started.checked_add(wait),
        spec,
        call,
    };
    let mut state = lock(&shared.state);
    if state.closed {
        let (text, data) = state.closed_reply.clone().unwrap_or_default();
        drop(state);
        let reply = error_reply(&pending.id, -32000, &text, data);
        shared.to_client(reply, pending.call.map(|call| (call, started, "error")));
        return false;
    }
    let deadline = pending.deadline;
    state.pending.insert(key, pending);
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
    let mut settled = None;
    if message.get("method").is_none()
        && let Some(id) = message.get("id")
    {
        let key = id_key(id);
        let Some(p) = lock(&shared.state).pending.remove(&key) else {
            // A late reply to a request already answered for the server (or an unknown id).
            tracing::debug!("harnessgym mcp-proxy: dropped a reply with no pending request (id {key})");
            return;
        };
        if let Some(call) = p.call {
            let status = if message.get("error").is_some_and(Value::is_object) { "error" } else { "completed" };
            settled = Some((call, p.started, status));
        }
    }
    shared.to_client(message, settled);
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
            for p in due {
                let reply = shared.timed_out(&p);
                shared.to_client(reply, p.call.map(|call| (call, p.started, "timeout")));
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

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use pretty_assertions::assert_eq;

    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
    }

    #[test]
    fn timestamps_match_the_reference_format() {
        // Expected values from Python's datetime.fromtimestamp(t, timezone.utc).
        for (t, expected) in [
            (at(0, 0), "1970-01-01T00:00:00.000000Z"),
            (at(951_782_400, 1), "2000-02-29T00:00:00.000001Z"),
            (at(1_709_164_799, 999_999), "2024-02-28T23:59:59.999999Z"),
            (at(1_795_481_517, 555_035), "2026-11-24T00:51:57.555035Z"),
            (at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z"),
            (at(253_402_300_799, 123_456), "9999-12-31T23:59:59.123456Z"),
        ] {
            assert_eq!(format_utc_micros(t), expected);
        }
        let now = format_utc_micros(SystemTime::now());
        assert_eq!(now.len(), harnessgym_types::timefmt::utc_now_micros().len());
    }

    /// The line the first versions built with `json!` (sorted keys), byte for byte.
    fn reference_line(server: &str, r: &Record) -> Vec<u8> {
        let reply = &r.reply;
        let error = reply.get("error").filter(|e| e.is_object());
        let error_message = error
            .and_then(|e| e.get("message"))
            .map(|m| m.as_str().map(str::to_owned).unwrap_or_else(|| m.to_string()))
            .unwrap_or_default();
        let arguments = r.call.arguments.as_ref().filter(|a| a.is_object());
        let mut keys: Vec<String> =
            arguments.and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        let line = json!({
            "created_at": format_utc_micros(r.call.created_at),
            "server": server,
            "request_id": r.call.request_id,
            "method": "tools/call",
            "tool_name": r.call.tool_name.as_ref().map(|n| n.as_str().map(str::to_owned).unwrap_or_else(|| n.to_string())).unwrap_or_default(),
            "duration_ms": (r.duration.as_micros() as u64 + 500) / 1000,
            "duration_us": r.duration.as_micros() as u64,
            "status": r.status,
            "error_message": error_message,
            "argument_keys": keys,
            "argument_json_bytes": arguments.map_or(2, |a| a.to_string().len()),
            "result_json_bytes": error.or_else(|| reply.get("result")).map_or(4, |v| v.to_string().len()),
            "is_error": reply.get("result").and_then(|r| r.get("isError")) == Some(&Value::Bool(true)),
        });
        let mut text = serde_json::to_vec(&line).unwrap();
        text.push(b'\n');
        text
    }

    fn record(request: Value, status: &'static str, micros: u64, reply: Value) -> Record {
        let mut request = request;
        Record {
            call: take_call_info(&mut request, at(1_795_481_517, 42)),
            duration: Duration::from_micros(micros),
            status,
            reply,
        }
    }

    #[test]
    fn telemetry_lines_are_the_reference_lines() {
        let records = [
            record(
                json!({"id": 7, "method": "tools/call", "params": {"name": "probe", "arguments": {"z": [1, 2], "a": "é\n"}}}),
                "completed",
                1499,
                json!({"id": 7, "jsonrpc": "2.0", "result": {"content": [{"type": "text", "text": "ok"}], "isError": true}}),
            ),
            record(
                json!({"id": "s-1", "method": "tools/call", "params": {"name": 5, "arguments": [1]}}),
                "error",
                2500,
                json!({"id": "s-1", "error": {"code": -32000, "message": {"nested": true}, "data": "x"}}),
            ),
            record(json!({"id": 1, "method": "tools/call"}), "timeout", 0, json!({"id": 1})),
            record(
                json!({"id": 2.5, "method": "tools/call", "params": {"arguments": {}}}),
                "completed",
                u64::from(u32::MAX),
                json!({"id": 2.5, "result": null, "error": "not an object"}),
            ),
        ];
        for r in &records {
            let mut out = b"earlier line\n".to_vec();
            write_line(&mut out, "srv \"q\"", r);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("earlier line\n{}", String::from_utf8(reference_line("srv \"q\"", r)).unwrap())
            );
        }
    }

    #[test]
    fn call_info_takes_name_and_arguments_out_of_the_request() {
        let mut request = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"k": 1}, "_meta": {"m": 1}}});
        let call = take_call_info(&mut request, UNIX_EPOCH);
        assert_eq!(
            (call.tool_name, call.arguments, call.request_id),
            (Some(json!("echo")), Some(json!({"k": 1})), json!(3))
        );
        assert_eq!(request["params"], json!({"_meta": {"m": 1}}));
    }

    #[test]
    fn a_removed_telemetry_file_is_recreated_and_a_moved_one_keeps_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("sub/calls.jsonl")).unwrap();
        let mut file = TelemetryFile { path: path.clone(), open: None };
        file.append(b"1\n");
        std::fs::remove_file(&path).unwrap();
        file.append(b"2\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2\n");
        let moved = path.with_extension("old");
        std::fs::rename(&path, &moved).unwrap();
        file.append(b"3\n");
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "2\n3\n");
    }
}
