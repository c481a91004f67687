//! `harnessgym mcp-proxy` as a real child process, between a client written here (newline JSON
//! and Content-Length, encoded and parsed by hand, strictly) and the real fixture servers.
//!
//! The binary is `<target dir>/<profile>/harnessgym`, built once per test run (a no-op when it is
//! up to date), so these tests always exercise the current proxy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::support::{LIMIT, wait_dead};

/// The `harnessgym` binary next to this test's target directory, freshly built.
fn harnessgym_bin() -> &'static Path {
    harnessgym_test_support::cli_bin().as_std_path()
}

fn fixture_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).to_str().expect("utf-8").to_owned()
}

/// The framing the test's client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Nd,
    Cl,
}

const BOTH_WIRES: [Wire; 2] = [Wire::Nd, Wire::Cl];

struct Spec {
    server: Vec<String>,
    server_framing: &'static str,
    response_timeout: f64,
    workspace: PathBuf,
    cwd: PathBuf,
    telemetry_env: Option<PathBuf>,
    server_name: &'static str,
}

impl Spec {
    /// The fixture server speaking `server_framing` with `flags`, workspace = cwd = `dir`.
    fn fixture(dir: &Path, server_framing: &'static str, flags: &[&str]) -> Self {
        let mut server = vec!["python3".to_owned(), "-u".to_owned(), fixture_path("mcp_server.py")];
        server.extend(["--framing".to_owned(), server_framing.to_owned()]);
        server.extend(flags.iter().map(|f| (*f).to_owned()));
        Self {
            server,
            server_framing,
            response_timeout: 60.0,
            workspace: dir.to_owned(),
            cwd: dir.to_owned(),
            telemetry_env: None,
            server_name: "fake-server",
        }
    }

    fn timeout(mut self, secs: f64) -> Self {
        self.response_timeout = secs;
        self
    }

    fn start(&self, wire: Wire) -> Proxy {
        let mut cmd = Command::new(harnessgym_bin());
        // No bundle sandbox: these tests follow the server by its pid, which in the sandbox's PID
        // namespace is not the host's (the sandbox has its own tests: the cli's suite::sandbox).
        cmd.args(["mcp-proxy", "--bundle-sandbox", "none", "--server-name", self.server_name, "--workspace"])
            .arg(&self.workspace)
            .arg("--cwd")
            .arg(&self.cwd)
            .args(["--server-framing", self.server_framing, "--response-timeout"])
            .arg(self.response_timeout.to_string())
            .arg("--")
            .args(&self.server)
            .current_dir(&self.cwd)
            .env_remove("HARNESSGYM_MCP_TELEMETRY_PATH")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(path) = &self.telemetry_env {
            cmd.env("HARNESSGYM_MCP_TELEMETRY_PATH", path);
        }
        let mut child = cmd.spawn().expect("start harnessgym mcp-proxy");
        let stdin = child.stdin.take();
        let out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout"));
        Proxy { child, stdin, out, wire }
    }
}

struct Proxy {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
    wire: Wire,
}

impl Proxy {
    async fn send(&mut self, message: &Value) {
        let body = serde_json::to_string(message).expect("json");
        let bytes = match self.wire {
            Wire::Nd => format!("{body}\n"),
            Wire::Cl => format!("Content-Length: {}\r\n\r\n{body}", body.len()),
        };
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes.as_bytes()).await.expect("write to the proxy");
        stdin.flush().await.expect("flush");
    }

    /// Bytes as they are, whatever the framing.
    async fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).await.expect("write to the proxy");
        stdin.flush().await.expect("flush");
    }

    /// One raw newline-JSON line from the proxy, whatever the client's framing.
    async fn recv_ndjson_line(&mut self) -> Value {
        let mut line = String::new();
        tokio::time::timeout(LIMIT, self.out.read_line(&mut line)).await.expect("in time").expect("read");
        assert!(line.ends_with('\n'), "not a whole line: {:?}", shorten(&line));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON line ({e}): {line:?}"))
    }

    async fn request(&mut self, id: Value, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
    }

    async fn call(&mut self, id: i64, tool: &str, arguments: Value) {
        self.request(json!(id), "tools/call", json!({"name": tool, "arguments": arguments})).await;
    }

    /// The next message, parsed strictly in the client's framing; `None` at a clean EOF.
    async fn recv_unbounded(&mut self) -> Option<Value> {
        let mut line = String::new();
        if self.out.read_line(&mut line).await.expect("read from the proxy") == 0 {
            return None;
        }
        let body = match self.wire {
            Wire::Nd => {
                assert!(line.ends_with('\n'), "not a whole line: {:?}", shorten(&line));
                line.into_bytes()
            }
            Wire::Cl => {
                let len: usize = line
                    .strip_prefix("Content-Length: ")
                    .and_then(|l| l.strip_suffix("\r\n"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("expected a Content-Length header, got {:?}", shorten(&line)));
                let mut blank = String::new();
                self.out.read_line(&mut blank).await.expect("read");
                assert_eq!(blank, "\r\n", "header block must end with a blank line");
                let mut body = vec![0u8; len];
                self.out.read_exact(&mut body).await.expect("read body");
                body
            }
        };
        Some(serde_json::from_slice(&body).unwrap_or_else(|e| panic!("bad JSON from the proxy ({e})")))
    }

    async fn recv(&mut self) -> Option<Value> {
        tokio::time::timeout(LIMIT, self.recv_unbounded()).await.expect("the proxy did not answer in time (hung?)")
    }

    /// Messages up to and including the reply to `id`: (reply, everything before it).
    async fn recv_reply(&mut self, id: &Value) -> (Value, Vec<Value>) {
        let mut others = Vec::new();
        loop {
            let message = self.recv().await.unwrap_or_else(|| panic!("EOF before the reply to {id}; got {others:?}"));
            if message.get("id") == Some(id) && message.get("method").is_none() {
                return (message, others);
            }
            others.push(message);
        }
    }

    /// The reply to `id`, with nothing else before it.
    async fn only_reply(&mut self, id: Value) -> Value {
        let (reply, others) = self.recv_reply(&id).await;
        assert!(others.is_empty(), "unexpected messages before the reply to {id}: {others:?}");
        reply
    }

    async fn initialize(&mut self) -> Value {
        self.request(
            json!(0),
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "proxy-test", "version": "1"}}),
        )
        .await;
        let reply = self.only_reply(json!(0)).await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        reply
    }

    /// Closes stdin, then returns every message still written and the exit status.
    async fn finish(mut self) -> (Vec<Value>, ExitStatus) {
        self.stdin = None;
        let mut rest = Vec::new();
        while let Some(message) = self.recv().await {
            rest.push(message);
        }
        let status =
            tokio::time::timeout(LIMIT, self.child.wait()).await.expect("proxy did not exit").expect("wait for proxy");
        (rest, status)
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

fn telemetry_lines(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad telemetry line {l:?}: {e}"))).collect()
}

fn telemetry(dir: &Path) -> Vec<Value> {
    telemetry_lines(&dir.join(".harnessgym/mcp_calls.jsonl"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The decoded `content[0].text` of a tools/call reply.
fn text_of(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text content in {reply}"))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// P1 in every combination of client and server framing (X1: a newline-JSON client in front of a
/// Content-Length server; the reverse too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_x1_session_in_the_clients_framing_and_one_telemetry_line() {
    for (wire, server_framing) in
        [(Wire::Cl, "content-length"), (Wire::Nd, "ndjson"), (Wire::Nd, "content-length"), (Wire::Cl, "ndjson")]
    {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), server_framing, &[]).start(wire);
        let init = proxy.initialize().await;
        assert_eq!(init["result"]["serverInfo"]["name"], "fixture", "{wire:?}/{server_framing}: {init}");
        assert_eq!(init["jsonrpc"], "2.0");

        // The notification got no reply: the next message is the tools/list reply.
        proxy.request(json!(1), "tools/list", json!({})).await;
        let list = proxy.only_reply(json!(1)).await;
        assert_eq!(list["result"]["tools"][0]["name"], "echo");
        assert_eq!(list["result"]["nextCursor"], "page-2");

        proxy.call(2, "probe", json!({"shape": [2, 4]})).await;
        let reply = proxy.only_reply(json!(2)).await;
        assert_eq!(
            serde_json::from_str::<Value>(text_of(&reply)).expect("json"),
            json!({"ok": true, "arguments": {"shape": [2, 4]}})
        );

        let (rest, status) = proxy.finish().await;
        assert!(rest.is_empty(), "{rest:?}");
        assert!(status.success(), "{status:?}");

        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["server"], "fake-server");
        assert_eq!(line["method"], "tools/call");
        assert_eq!(line["tool_name"], "probe");
        assert_eq!(line["status"], "completed");
        assert_eq!(line["argument_keys"], json!(["shape"]));
        assert_eq!(line["argument_json_bytes"], json!(r#"{"shape":[2,4]}"#.len()));
        assert_eq!(line["request_id"], json!(2));
        assert_eq!(line["is_error"], json!(false));
        assert_eq!(line["error_message"], "");
        let ms = line["duration_ms"].as_u64().expect("duration_ms is a whole number ≥ 0");
        let us = line["duration_us"].as_u64().expect("duration_us is a whole number");
        assert!(us / 1000 == ms || us.div_ceil(1000) == ms, "{ms} ms vs {us} µs");
        assert!(line["result_json_bytes"].as_u64().expect("result size") > 20);
        assert!(line["created_at"].as_str().expect("created_at").ends_with('Z'));
        assert_eq!(
            line.as_object().expect("object").keys().cloned().collect::<Vec<_>>(),
            [
                "argument_json_bytes",
                "argument_keys",
                "created_at",
                "duration_ms",
                "duration_us",
                "error_message",
                "is_error",
                "method",
                "request_id",
                "result_json_bytes",
                "server",
                "status",
                "tool_name"
            ],
            "the reference's keys (sorted) plus duration_us and is_error"
        );
    }
}

/// P2, changed on purpose: the log follows `--workspace`, not `--cwd`; the environment wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_telemetry_path_comes_from_the_workspace_and_the_environment_wins() {
    let ws = tempdir();
    let cwd = tempdir();
    let mut spec = Spec::fixture(ws.path(), "ndjson", &[]);
    spec.cwd = cwd.path().to_owned();
    let mut proxy = spec.start(Wire::Nd);
    proxy.initialize().await;
    proxy.call(1, "echo", json!({"a": 1})).await;
    proxy.only_reply(json!(1)).await;
    proxy.finish().await;
    assert_eq!(telemetry(ws.path()).len(), 1);
    assert!(!cwd.path().join(".harnessgym").exists(), "nothing is written under --cwd");

    let elsewhere = tempdir();
    let env_path = elsewhere.path().join("deep/calls.jsonl");
    spec.telemetry_env = Some(env_path.clone());
    let mut proxy = spec.start(Wire::Cl);
    proxy.initialize().await;
    proxy.call(1, "echo", json!({"b": 2})).await;
    proxy.only_reply(json!(1)).await;
    proxy.finish().await;
    let lines = telemetry_lines(&env_path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["argument_keys"], json!(["b"]));
    assert_eq!(telemetry(ws.path()).len(), 1, "the workspace log got nothing new");
}

/// B1, changed on purpose: the server's protocolVersion reaches the client unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_version_is_forwarded_unchanged() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "content-length", &["--protocol-version", "2024-11-05"]).start(Wire::Nd);
    proxy
        .request(
            json!(0),
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "2"}}),
        )
        .await;
    let reply = proxy.only_reply(json!(0)).await;
    assert_eq!(reply["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(reply["result"]["serverInfo"]["name"], "fixture");
    proxy.finish().await;
}

/// X2: a notification, a server→client request, a ping and a stray reply before every reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_messages_before_replies_shift_nothing_and_requests_round_trip() {
    for (wire, server_framing) in [(Wire::Nd, "ndjson"), (Wire::Cl, "content-length"), (Wire::Nd, "content-length")] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), server_framing, &["--chatty"]).start(wire);
        proxy.request(json!(0), "initialize", json!({"protocolVersion": "2025-06-18"})).await;
        let (init, before) = proxy.recv_reply(&json!(0)).await;
        assert_eq!(init["result"]["serverInfo"]["name"], "fixture");
        let methods: Vec<&str> = before.iter().filter_map(|m| m["method"].as_str()).collect();
        assert_eq!(methods, ["notifications/message", "roots/list", "ping"], "{before:?}");
        assert_eq!(before.len(), 3, "the stray reply to an unknown id is not forwarded: {before:?}");
        assert_eq!(before[1]["id"], "srv-1");
        // Answer the server's requests.
        proxy.send(&json!({"jsonrpc": "2.0", "id": "srv-1", "result": {"roots": [{"uri": "file:///ws"}]}})).await;
        proxy.send(&json!({"jsonrpc": "2.0", "id": "srv-ping-1", "result": {}})).await;

        for i in 1..=3 {
            proxy.call(i, "echo", json!({"i": i})).await;
            let (reply, before) = proxy.recv_reply(&json!(i)).await;
            assert_eq!(reply["result"]["structuredContent"], json!({"i": i}), "reply {i} is its own");
            assert_eq!(before.len(), 3, "{before:?}");
        }
        proxy.call(9, "client_replies", json!({})).await;
        let (reply, _) = proxy.recv_reply(&json!(9)).await;
        let replies = &reply["result"]["structuredContent"]["replies"];
        assert_eq!(replies[0], json!({"jsonrpc": "2.0", "id": "srv-1", "result": {"roots": [{"uri": "file:///ws"}]}}));
        assert_eq!(replies[1]["id"], "srv-ping-1");
        proxy.finish().await;

        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 4);
        let ids: Vec<&Value> = lines.iter().map(|l| &l["request_id"]).collect();
        assert_eq!(ids, [&json!(1), &json!(2), &json!(3), &json!(9)]);
        assert!(lines.iter().all(|l| l["status"] == "completed"), "{lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_concurrent_calls_answered_out_of_order_each_reach_their_id() {
    for wire in BOTH_WIRES {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &["--reorder", "3"]).start(wire);
        proxy.initialize().await;
        for id in [11, 12, 13] {
            proxy.call(id, "echo", json!({"n": id, "pad": "x".repeat(id as usize)})).await;
        }
        let mut order = Vec::new();
        for _ in 0..3 {
            let reply = proxy.recv().await.expect("reply");
            let id = reply["id"].as_i64().expect("numeric id");
            assert_eq!(reply["result"]["structuredContent"]["n"], json!(id), "{reply}");
            order.push(id);
        }
        assert_eq!(order, [13, 12, 11], "the server answered in reverse");
        proxy.finish().await;
        let lines = telemetry(dir.path());
        for line in &lines {
            let id = line["request_id"].as_u64().expect("id") as usize;
            let args = json!({"n": id, "pad": "x".repeat(id)});
            assert_eq!(line["argument_json_bytes"], json!(args.to_string().len()));
        }
        assert_eq!(lines.len(), 3);
    }
}

async fn hundred_calls(spec: &Spec, wire: Wire, first_id: i64) {
    let mut proxy = spec.start(wire);
    proxy.initialize().await;
    let ids: Vec<i64> = (first_id..first_id + 100).collect();
    for &id in &ids {
        proxy.call(id, "echo", json!({"k": id})).await;
    }
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let reply = proxy.recv().await.expect("reply");
        let id = reply["id"].as_i64().expect("numeric id");
        assert_eq!(reply["result"]["structuredContent"], json!({"k": id}));
        assert!(seen.insert(id), "id {id} answered twice");
    }
    let (rest, status) = proxy.finish().await;
    assert!(rest.is_empty(), "{rest:?}");
    assert!(status.success());
    assert_eq!(seen, ids.into_iter().collect());
}

/// 100 calls in flight at once → 100 replies, 100 telemetry lines, each id once; three proxies
/// appending to one file at the same time never break a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_calls_give_exactly_a_hundred_telemetry_lines() {
    let dir = tempdir();
    let spec = Spec::fixture(dir.path(), "content-length", &["--reorder", "10"]);
    hundred_calls(&spec, Wire::Nd, 1000).await;
    let lines = telemetry(dir.path());
    assert_eq!(lines.len(), 100);
    let ids: BTreeSet<i64> = lines.iter().map(|l| l["request_id"].as_i64().expect("id")).collect();
    assert_eq!(ids, (1000..1100).collect());
    assert!(lines.iter().all(|l| l["status"] == "completed" && l["argument_keys"] == json!(["k"])));

    let shared = dir.path().join("shared.jsonl");
    let mut spec = Spec::fixture(dir.path(), "ndjson", &["--reorder", "5"]);
    spec.telemetry_env = Some(shared.clone());
    tokio::join!(
        hundred_calls(&spec, Wire::Nd, 0),
        hundred_calls(&spec, Wire::Cl, 0),
        hundred_calls(&spec, Wire::Nd, 0)
    );
    let lines = telemetry_lines(&shared);
    assert_eq!(lines.len(), 300, "every line whole, none lost");
    for id in 0..100 {
        assert_eq!(lines.iter().filter(|l| l["request_id"] == json!(id)).count(), 3, "id {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabyte_result_and_argument_cross_in_both_framings() {
    const SIZE: usize = 5_000_000;
    for (wire, server_framing) in [(Wire::Nd, "content-length"), (Wire::Cl, "ndjson")] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), server_framing, &[]).start(wire);
        proxy.initialize().await;
        proxy.call(1, "blob", json!({"bytes": SIZE})).await;
        let reply = proxy.only_reply(json!(1)).await;
        let text = text_of(&reply);
        assert_eq!(text.len(), SIZE);
        assert!(text.bytes().all(|b| b == b'x'));
        let big = "y".repeat(SIZE);
        proxy.call(2, "echo", json!({"big": big})).await;
        let reply = proxy.only_reply(json!(2)).await;
        assert_eq!(reply["result"]["structuredContent"]["big"].as_str().map(str::len), Some(SIZE));
        proxy.call(3, "echo", json!({"after": true})).await;
        assert_eq!(proxy.only_reply(json!(3)).await["result"]["structuredContent"], json!({"after": true}));
        proxy.finish().await;
        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 3);
        assert!(lines[0]["result_json_bytes"].as_u64().expect("size") > SIZE as u64);
        assert!(lines[1]["argument_json_bytes"].as_u64().expect("size") > SIZE as u64);
    }
}

/// A tools/call that hangs gets -32000 after --response-timeout (telemetry: timeout); the
/// server's late reply is dropped, so the client sees one reply per id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_in_tools_call_times_out_and_the_late_reply_is_dropped() {
    for wire in BOTH_WIRES {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).timeout(2.0).start(wire);
        proxy.initialize().await;
        let started = Instant::now();
        proxy.call(7, "sleep", json!({"seconds": 3})).await;
        let reply = proxy.only_reply(json!(7)).await;
        let waited = started.elapsed();
        assert_eq!(reply["error"]["code"], -32000, "{reply}");
        assert_eq!(reply["error"]["message"], "wrapped MCP server did not produce a response");
        assert!(secs(waited) >= 1.9 && secs(waited) < 2.9, "timed out after {waited:?}");
        // The server answers 7 late (dropped), then this one.
        proxy.call(8, "echo", json!({"after": "timeout"})).await;
        let reply = proxy.only_reply(json!(8)).await;
        assert_eq!(reply["result"]["structuredContent"], json!({"after": "timeout"}));
        let (rest, _) = proxy.finish().await;
        assert!(rest.is_empty(), "the late reply must not reach the client: {rest:?}");

        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!((&lines[0]["request_id"], &lines[0]["status"]), (&json!(7), &json!("timeout")));
        assert_eq!(lines[0]["error_message"], "wrapped MCP server did not produce a response");
        assert!(lines[0]["duration_ms"].as_u64().expect("ms") >= 1900);
        assert_eq!((&lines[1]["request_id"], &lines[1]["status"]), (&json!(8), &json!("completed")));
    }
}

/// Claude's `server/discover`: a non-spec request the server ignores gets -32601 after about a
/// second; one it answers gets only its own answer; spec methods are not cut off at a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_unknown_method_gets_method_not_found_after_a_second() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "content-length", &["--silent-unknown"]).start(Wire::Nd);
    proxy.initialize().await;
    let started = Instant::now();
    proxy.request(json!("d-1"), "server/discover", json!({})).await;
    let reply = proxy.only_reply(json!("d-1")).await;
    let waited = started.elapsed();
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert!(reply["error"]["message"].as_str().expect("message").contains("server/discover"));
    assert!(secs(waited) >= 0.9 && secs(waited) < 5.0, "answered after {waited:?}");

    proxy.call(2, "sleep", json!({"seconds": 1.5})).await;
    let reply = proxy.only_reply(json!(2)).await;
    assert_eq!(text_of(&reply), "slept", "a spec method waits for --response-timeout, not 1 s");
    proxy.finish().await;

    // A server that does answer: its own error, once.
    let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Cl);
    proxy.initialize().await;
    proxy.request(json!(5), "server/discover", json!({})).await;
    let reply = proxy.only_reply(json!(5)).await;
    assert_eq!(reply["error"]["message"], "Method not found: server/discover", "the server's own reply");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (rest, _) = proxy.finish().await;
    assert!(rest.is_empty(), "no second reply after the 1 s mark: {rest:?}");
}

/// A server that dies at start: the pending requests are answered with an error carrying its
/// stderr, and the proxy exits even though the client keeps its side open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_crashing_at_start_answers_pending_requests_and_exits() {
    for wire in BOTH_WIRES {
        let dir = tempdir();
        let started = Instant::now();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &["--crash"]).start(wire);
        proxy.request(json!(1), "initialize", json!({"protocolVersion": "2025-06-18"})).await;
        proxy.call(2, "echo", json!({"x": 1})).await;
        for id in [1, 2] {
            let reply = proxy.only_reply(json!(id)).await;
            assert_eq!(reply["error"]["code"], -32000, "{reply}");
            assert_eq!(reply["error"]["message"], "wrapped MCP server exited before replying");
            assert!(reply["error"]["data"]["stderr"].as_str().expect("stderr").contains("boom at startup"));
        }
        assert!(proxy.recv().await.is_none(), "stdout closes");
        // stdin is still open here: the proxy must exit on its own.
        tokio::time::timeout(Duration::from_secs(20), proxy.child.wait())
            .await
            .expect("the proxy exits while the client still holds its stdin")
            .expect("wait");
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 1);
        assert_eq!((&lines[0]["request_id"], &lines[0]["status"]), (&json!(2), &json!("error")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_stderr_flood_does_not_block() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "content-length", &["--stderr-flood", "10000000"]).start(Wire::Nd);
    proxy.initialize().await;
    for i in 1..=3 {
        proxy.call(i, "echo", json!({"i": i})).await;
        assert_eq!(proxy.only_reply(json!(i)).await["result"]["structuredContent"], json!({"i": i}));
    }
    let (_, status) = proxy.finish().await;
    assert!(status.success());
    assert_eq!(telemetry(dir.path()).len(), 3);
}

/// Non-JSON-RPC output on the server's stdout neither kills the proxy nor reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_server_stdout_is_dropped_and_the_session_goes_on() {
    for (wire, server_framing) in [(Wire::Nd, "ndjson"), (Wire::Cl, "content-length"), (Wire::Cl, "ndjson")] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), server_framing, &["--garbage"]).start(wire);
        assert_eq!(proxy.initialize().await["result"]["serverInfo"]["name"], "fixture");
        for i in 1..=3 {
            proxy.call(i, "echo", json!({"i": i})).await;
            assert_eq!(proxy.only_reply(json!(i)).await["result"]["structuredContent"], json!({"i": i}));
        }
        let (rest, status) = proxy.finish().await;
        assert!(rest.is_empty(), "{rest:?}");
        assert!(status.success());
    }
}

/// Client EOF: the proxy answers what is pending, stops the server (by pid: gone) and exits
/// promptly, even while the server is busy in a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_eof_stops_the_server_and_the_proxy_promptly() {
    for busy in [false, true] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Nd);
        proxy.initialize().await;
        proxy.call(1, "pid", json!({})).await;
        let pid: u32 = text_of(&proxy.only_reply(json!(1)).await).parse().expect("pid");
        if busy {
            proxy.call(2, "sleep", json!({"seconds": 30})).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let started = Instant::now();
        let (rest, status) = proxy.finish().await;
        let took = started.elapsed();
        assert!(status.success(), "{status:?}");
        assert!(took < Duration::from_secs(6), "exit took {took:?}");
        assert!(wait_dead(pid).await, "server {pid} still alive");
        if busy {
            assert_eq!(rest.len(), 1, "{rest:?}");
            assert_eq!(rest[0]["id"], 2);
            assert_eq!(rest[0]["error"]["code"], -32000);
            let lines = telemetry(dir.path());
            assert_eq!(lines.last().map(|l| l["status"].clone()), Some(json!("error")));
        } else {
            assert!(rest.is_empty(), "{rest:?}");
            assert!(took < Duration::from_secs(3), "an idle server exits on EOF at once: {took:?}");
        }
    }
}

/// A client may reuse an id once its request is answered: the first request's timer must not
/// answer the second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_id_is_not_answered_by_the_earlier_requests_timer() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).timeout(3.0).start(Wire::Nd);
    proxy.initialize().await;
    proxy.call(1, "echo", json!({"first": true})).await;
    assert_eq!(proxy.only_reply(json!(1)).await["result"]["structuredContent"], json!({"first": true}));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // Answered at ~3.5 s; the first request's timer fires at ~3 s.
    proxy.call(1, "sleep", json!({"seconds": 1.5})).await;
    let reply = proxy.only_reply(json!(1)).await;
    assert_eq!(text_of(&reply), "slept", "{reply}");
    let (rest, _) = proxy.finish().await;
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_style_content_length_server_serves_a_newline_json_client() {
    let dir = tempdir();
    let mut spec = Spec::fixture(dir.path(), "content-length", &[]);
    spec.server = vec!["python3".into(), fixture_path("reference_server.py")];
    let mut proxy = spec.start(Wire::Nd);
    let init = proxy.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "reference-style");
    proxy.request(json!(1), "tools/list", json!({})).await;
    assert_eq!(proxy.only_reply(json!(1)).await["result"]["tools"][0]["name"], "probe");
    proxy.call(2, "probe", json!({"shape": [2, 4]})).await;
    let reply = proxy.only_reply(json!(2)).await;
    assert_eq!(text_of(&reply), r#"{"ok":true,"arguments":{"shape":[2,4]}}"#);
    proxy.finish().await;
    assert_eq!(telemetry(dir.path())[0]["tool_name"], "probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_server_command_exits_2() {
    let out = tokio::time::timeout(
        LIMIT,
        Command::new(harnessgym_bin()).args(["mcp-proxy", "--server-name", "x"]).stdin(Stdio::null()).output(),
    )
    .await
    .expect("in time")
    .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing wrapped server command"));
}

/// The telemetry thread writes lines behind the replies: a client that leaves the moment it has
/// its last reply (here after 300 calls in flight at once) still finds every line in the file once
/// the proxy has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_is_written_when_the_client_leaves_right_after_the_last_reply() {
    for (wire, server_framing) in [(Wire::Nd, "ndjson"), (Wire::Cl, "content-length")] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), server_framing, &[]).start(wire);
        proxy.initialize().await;
        for id in 1..=300 {
            proxy.call(id, "echo", json!({"n": id})).await;
        }
        let mut seen = BTreeSet::new();
        for _ in 0..300 {
            let reply = proxy.recv().await.expect("reply");
            assert!(seen.insert(reply["id"].as_i64().expect("numeric id")), "{reply}");
        }
        let (rest, status) = proxy.finish().await;
        assert!(rest.is_empty() && status.success(), "{rest:?} {status:?}");
        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 300, "{wire:?}: one line per call, none lost at exit");
        let ids: BTreeSet<i64> = lines.iter().map(|l| l["request_id"].as_i64().expect("id")).collect();
        assert_eq!(ids, (1..=300).collect());
        assert!(lines.iter().all(|l| l["status"] == "completed"));
    }
}

/// Lines do not wait for the proxy to exit: a reply's line is in the file shortly after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_lands_while_the_proxy_is_still_running() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Nd);
    proxy.initialize().await;
    for id in 1..=3 {
        proxy.call(id, "echo", json!({"n": id})).await;
        proxy.only_reply(json!(id)).await;
        let started = Instant::now();
        while telemetry(dir.path()).len() < id as usize {
            assert!(started.elapsed() < Duration::from_secs(5), "line {id} not written while the proxy runs");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    proxy.finish().await;
    assert_eq!(telemetry(dir.path()).len(), 3);
}

/// SIGTERM, SIGINT or SIGHUP: the proxy stops the server, answers the call still waiting (with
/// its line), writes every line and exits 128 + the signal's number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_answers_pending_calls_writes_every_line_and_exits() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Nd);
        proxy.initialize().await;
        proxy.call(1, "pid", json!({})).await;
        let server_pid: u32 = text_of(&proxy.only_reply(json!(1)).await).parse().expect("pid");
        proxy.call(2, "sleep", json!({"seconds": 30})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let proxy_pid = proxy.child.id().expect("proxy pid").to_string();
        let started = Instant::now();
        let sent = std::process::Command::new("kill").args([&format!("-{signal}"), &proxy_pid]).status();
        assert!(sent.expect("run kill").success());

        let reply = proxy.only_reply(json!(2)).await;
        assert_eq!(reply["error"]["code"], -32000, "{reply}");
        assert_eq!(
            reply["error"]["message"],
            "wrapped MCP server was stopped before replying (the proxy was told to stop)"
        );
        assert!(proxy.recv().await.is_none(), "stdout closes");
        let status = tokio::time::timeout(LIMIT, proxy.child.wait()).await.expect("proxy exits").expect("wait");
        assert_eq!(status.code(), Some(code), "SIG{signal}: {status:?}");
        assert!(started.elapsed() < Duration::from_secs(6), "SIG{signal}: took {:?}", started.elapsed());
        assert!(wait_dead(server_pid).await, "SIG{signal}: server {server_pid} still alive");

        let lines = telemetry(dir.path());
        let got: Vec<(&Value, &Value)> = lines.iter().map(|l| (&l["request_id"], &l["status"])).collect();
        assert_eq!(got, [(&json!(1), &json!("completed")), (&json!(2), &json!("error"))], "SIG{signal}");
    }
}

/// Calls still waiting when the client leaves are answered on the way out, and their lines are
/// the last thing the proxy writes: all of them are in the file once it has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_calls_answered_on_the_way_out_are_all_written() {
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Nd);
    proxy.initialize().await;
    // The fixture serves one request at a time: everything after the sleep stays pending.
    proxy.call(1, "sleep", json!({"seconds": 30})).await;
    for id in 2..=400 {
        proxy.call(id, "echo", json!({"n": id})).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rest, status) = proxy.finish().await;
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.len(), 400, "every pending call is answered");
    assert!(rest.iter().all(|r| r["error"]["code"] == -32000), "{:?}", rest.first());
    let lines = telemetry(dir.path());
    assert_eq!(lines.len(), 400, "no line lost at exit");
    let ids: BTreeSet<i64> = lines.iter().map(|l| l["request_id"].as_i64().expect("id")).collect();
    assert_eq!(ids, (1..=400).collect());
    assert!(lines.iter().all(|l| l["status"] == "error"));
}

/// The JSON-RPC 2.0 parse error, exactly.
fn parse_error() -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}})
}

/// The JSON-RPC 2.0 invalid-request error for `id`.
fn invalid_request(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "Invalid Request"}})
}

/// Defect 1: a bad first line (not JSON, JSON that is no message, non-UTF-8, a header-like line
/// an ndjson client never follows with a blank line) does not decide the framing: it is
/// answered, and the next valid `initialize` starts the session as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_first_line_is_answered_and_the_session_still_starts() {
    let cases: [(&[u8], Value); 5] = [
        (b"garbage\n", parse_error()),
        (b"42\n", invalid_request(Value::Null)),
        (b"\xff\xfe\x00\x80 bytes\n", parse_error()),
        (b"hello: world\n", parse_error()),
        (b"{broken\n", parse_error()),
    ];
    for (first, answer) in cases {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "content-length", &[]).start(Wire::Nd);
        proxy.send_raw(first).await;
        // The session starts right after the bad line; its answer comes first.
        proxy.request(json!(0), "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}})).await;
        assert_eq!(proxy.recv().await, Some(answer.clone()), "after {first:?}");
        let init = proxy.only_reply(json!(0)).await;
        assert_eq!(init["result"]["serverInfo"]["name"], "fixture", "after {first:?}: {init}");
        proxy.call(1, "echo", json!({"x": 1})).await;
        assert_eq!(proxy.only_reply(json!(1)).await["result"]["structuredContent"], json!({"x": 1}));
        let (rest, status) = proxy.finish().await;
        assert!(rest.is_empty(), "{rest:?}");
        assert!(status.success(), "after {first:?}: {status:?}");
        assert_eq!(telemetry(dir.path()).len(), 1, "after {first:?}");
    }
    // A Content-Length client whose first line is garbage: answered (newline JSON, the default
    // until the client's framing is known), then the session goes on in Content-Length.
    let dir = tempdir();
    let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(Wire::Cl);
    proxy.send_raw(b"garbage\n").await;
    assert_eq!(proxy.recv_ndjson_line().await, parse_error());
    assert_eq!(proxy.initialize().await["result"]["serverInfo"]["name"], "fixture");
    proxy.call(1, "echo", json!({"x": 1})).await;
    assert_eq!(proxy.only_reply(json!(1)).await["result"]["structuredContent"], json!({"x": 1}));
    let (_, status) = proxy.finish().await;
    assert!(status.success(), "{status:?}");
}

/// Defect 1: a client that never sends one valid message gets every line answered, and the
/// proxy says so on stderr and exits non-zero at EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_one_valid_message_fails_with_a_clear_message() {
    let dir = tempdir();
    let spec = Spec::fixture(dir.path(), "ndjson", &[]);
    let mut cmd = Command::new(harnessgym_bin());
    cmd.args(["mcp-proxy", "--server-name", "s", "--workspace"])
        .arg(dir.path())
        .arg("--cwd")
        .arg(dir.path())
        .args(["--server-framing", "ndjson", "--"])
        .args(&spec.server)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start the proxy");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"garbage\n42\n\xff\xfe\n").await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(LIMIT, child.wait_with_output()).await.expect("in time").expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("no valid MCP message"), "stderr: {stderr}");
    let answers: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(answers, [parse_error(), invalid_request(Value::Null), parse_error()]);
    assert!(telemetry(dir.path()).is_empty());
}

/// Defect 2: garbage later in the stream gets a JSON-RPC error in the client's framing (-32700
/// for what does not parse, -32600 with its id for what parses but is no message), nothing of it
/// reaches the server or the telemetry, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_garbage_is_answered_per_json_rpc_and_the_session_goes_on() {
    for wire in BOTH_WIRES {
        let dir = tempdir();
        let mut proxy = Spec::fixture(dir.path(), "ndjson", &[]).start(wire);
        proxy.initialize().await;
        let unparseable: &[u8] = match wire {
            Wire::Nd => b"not json\n",
            Wire::Cl => b"Content-Length: 5\r\n\r\nnope!",
        };
        proxy.send_raw(unparseable).await;
        assert_eq!(proxy.recv().await, Some(parse_error()), "{wire:?}");
        for (message, answer) in [
            (json!({"jsonrpc": "2.0", "id": 5, "foo": 1}), invalid_request(json!(5))),
            (json!(42), invalid_request(Value::Null)),
            (json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": "x"}), invalid_request(json!(6))),
            (
                json!({"jsonrpc": "1.0", "id": "a", "method": "tools/call", "params": {"name": "echo"}}),
                invalid_request(json!("a")),
            ),
            (json!({"jsonrpc": "2.0", "id": {"no": 1}, "method": "tools/call"}), invalid_request(Value::Null)),
            (json!([]), invalid_request(Value::Null)),
        ] {
            proxy.send(&message).await;
            assert_eq!(proxy.recv().await, Some(answer), "{wire:?}: {message}");
        }
        proxy.call(9, "echo", json!({"after": "garbage"})).await;
        assert_eq!(proxy.only_reply(json!(9)).await["result"]["structuredContent"], json!({"after": "garbage"}));
        let (rest, status) = proxy.finish().await;
        assert!(rest.is_empty(), "{wire:?}: {rest:?}");
        assert!(status.success());
        let lines = telemetry(dir.path());
        assert_eq!(lines.len(), 1, "only the echo is a tool call: {lines:?}");
        assert_eq!(lines[0]["request_id"], json!(9));
    }
}
