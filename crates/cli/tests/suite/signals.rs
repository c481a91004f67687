//! A signal ends a command promptly even while it waits for MCP servers to start: the wait is
//! cancelled, the servers die with it. The bound (5 s against startup timeouts of 30 s per
//! server) is a correctness bound, not a speed goal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{Tmp, binary, s, workspace_with_task, write};

const BOUND: Duration = Duration::from_secs(5);

/// Three MCP servers that never answer `initialize` (`sleep <tag>`: a tag of each test's own, as
/// tests run side by side), each with a 30 s startup timeout.
fn silent_servers(ws: &std::path::Path, tag: &str) {
    for name in ["one", "two", "three"] {
        let manifest = format!(
            r#"{{"name": "{name}", "command": "sleep", "args": ["{tag}"], "startup_timeout_sec": 30, "self_test": true}}"#
        );
        write(&ws.join(format!(".harnessgym/mcp/{name}/mcp.json")), &manifest);
    }
}

fn signal(pid: u32, name: &str) {
    assert!(Command::new("kill").args([format!("-{name}"), pid.to_string()]).status().unwrap().success());
}

/// Waits for `child` to exit, at most `BOUND` after `since`; its exit code.
fn exit_within(child: &mut std::process::Child, since: Instant) -> Option<i32> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // The figure docs/decisions.md quotes (`cargo test signals -- --nocapture`).
            eprintln!("signal-to-exit latency: {} ms", since.elapsed().as_millis());
            return status.code();
        }
        if since.elapsed() > BOUND {
            let _ = child.kill();
            panic!("still running {BOUND:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No process runs `sleep <tag>` any more (the servers died with the command).
fn no_server_left(tag: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        if !harnessgym_test_support::process::is_running(&["sleep", tag]) {
            return;
        }
        assert!(Instant::now() < deadline, "a `sleep {tag}` server outlived the command");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_while_a_run_starts_silent_servers_ends_the_run_promptly() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    silent_servers(&ws, "971");
    let mut run = Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    signal(run.id(), "TERM");
    assert_eq!(exit_within(&mut run, sent), Some(143));
    no_server_left("971");
}

#[test]
fn sigint_while_activate_starts_silent_servers_ends_it_promptly() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    silent_servers(&ws, "972");
    let mut activate = Command::new(binary())
        .current_dir(&tmp.root)
        .args(["activate", "--workspace", s(&ws)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let sent = Instant::now();
    signal(activate.id(), "INT");
    assert_eq!(exit_within(&mut activate, sent), Some(130));
    no_server_left("972");
}

/// A server that answers `initialize`, then hangs where `mode` says: `smoke` never answers
/// `tools/list`; `selftest` answers it but its `--self-test` never ends. `tag` marks its argv.
fn hanging_server(ws: &std::path::Path, mode: &str, tag: &str) {
    let server = r#"import json, sys, time
mode = sys.argv[1]
if "--self-test" in sys.argv:
    time.sleep(600)
    sys.exit(0)
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    if msg.get("method") == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "h", "version": "1"}}
    elif msg.get("method") == "tools/list" and mode == "selftest":
        result = {"tools": [{"name": "t", "description": "t", "inputSchema": {"type": "object"}}]}
    else:
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"#;
    write(&ws.join(".harnessgym/mcp/hang/server.py"), server);
    let manifest = format!(
        r#"{{"name": "hang", "command": "python3", "args": [".harnessgym/mcp/hang/server.py", "{mode}", "{tag}"], "startup_timeout_sec": 60, "tool_timeout_sec": 60, "self_test": true}}"#
    );
    write(&ws.join(".harnessgym/mcp/hang/mcp.json"), &manifest);
}

fn signal_while_hanging(mode: &str, tag: &str, name: &str, code: i32) {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    hanging_server(&ws, mode, tag);
    let mut run = Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server (or its self-test) is up and hanging.
    let deadline = Instant::now() + Duration::from_secs(30);
    // argv[0] may be a resolved interpreter (pyenv): match the rest of the command line.
    let wanted = |cmdline: &str| {
        cmdline.contains(".harnessgym/mcp/hang/server.py")
            && cmdline.contains(tag)
            && (mode != "selftest" || cmdline.contains("--self-test"))
    };
    let hanging = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
            !zombie && wanted(&String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
    };
    while !hanging() {
        assert!(Instant::now() < deadline, "the {mode} wait never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(run.id(), name);
    assert_eq!(exit_within(&mut run, sent), Some(code));
    let deadline = Instant::now() + BOUND;
    while hanging() {
        assert!(Instant::now() < deadline, "the hanging {mode} process outlived the run");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_during_a_smoke_probe_that_hangs_ends_the_run_promptly() {
    signal_while_hanging("smoke", "975", "INT", 130);
}

#[test]
fn sigterm_during_a_self_test_that_hangs_ends_the_run_promptly() {
    signal_while_hanging("selftest", "976", "TERM", 143);
}
