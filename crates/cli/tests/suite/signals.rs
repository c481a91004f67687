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
