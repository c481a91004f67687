//! The bundle sandbox (`--bundle-sandbox`, `--bundle-network`; issue 11): what a bundle's
//! processes — self-tests, smoke probes, MCP servers behind `harnessgym mcp-proxy` — may touch.
//! Tests that need bubblewrap say `NOT RUN` without it, and fail under `CI=true`.

use std::fs;
use std::path::{Path, PathBuf};

use harnessgym_test_support::bwrap::bwrap_or_skip;
use serde_json::{Value, json};

use super::common::{Tmp, harnessgym, output, read_json, s, write};

const SERVER: &str = include_str!("../fixtures/sandbox_server.py");

/// `<ws>/.harnessgym/mcp/<name>/` with the sandbox fixture server and a manifest (`extra` merged
/// in), registered.
fn add_server(ws: &Path, name: &str, extra: Value) {
    write(&ws.join(format!(".harnessgym/mcp/{name}/server.py")), SERVER);
    let mut manifest =
        json!({"name": name, "command": "python3", "args": [format!(".harnessgym/mcp/{name}/server.py")]});
    if let (Some(m), Value::Object(extra)) = (manifest.as_object_mut(), extra) {
        m.extend(extra);
    }
    write(&ws.join(format!(".harnessgym/mcp/{name}/mcp.json")), &manifest.to_string());
}

/// A self-test writing `paths` (the server's own script with `--self-test`).
fn self_test_writing(name: &str, paths: &[&Path]) -> Value {
    let mut command = vec![json!("python3"), json!(format!(".harnessgym/mcp/{name}/server.py")), json!("--self-test")];
    command.extend(paths.iter().map(|p| json!(s(p))));
    json!({"self_test": {"command": command}})
}

/// A directory outside the system temp dir (the sandbox's /tmp is private, so a path under it
/// would only show that the host's file is missing): read-only in the sandbox.
fn outside_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir under target/tmp")
}

fn activate(ws: &Path, flags: &[&str], env: &[(&str, &str)]) -> (super::common::Output, Value) {
    let mut cmd = harnessgym(ws);
    cmd.args(["activate", "--workspace", s(ws)]).args(flags);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(&mut cmd);
    let report = read_json(&ws.join(".harnessgym/activation.json"));
    (out, report)
}

fn server<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["mcp_servers"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

#[test]
fn a_self_test_writing_outside_the_workspace_fails_in_the_sandbox_and_passes_without_it() {
    let test = "a_self_test_writing_outside_the_workspace_fails_in_the_sandbox_and_passes_without_it";
    let Some(bwrap) = bwrap_or_skip(test) else { return };
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    let outside = outside_dir();
    let marker: PathBuf = outside.path().join("escaped.txt");
    let private_tmp = PathBuf::from(format!("/tmp/harnessgym-sandbox-test-{}.txt", std::process::id()));
    add_server(&ws, "escapes", self_test_writing("escapes", &[&marker]));
    add_server(&ws, "tmp-writer", self_test_writing("tmp-writer", &[&private_tmp]));
    add_server(&ws, "stays", self_test_writing("stays", &[&ws.join("inside.txt")]));

    let (out, report) = activate(&ws, &[], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(report["bundle_sandbox"]["mode"], "bwrap", "{}", report["bundle_sandbox"]);
    assert_eq!(report["bundle_sandbox"]["requested"], "auto");
    assert_eq!(report["bundle_sandbox"]["bwrap"], s(Path::new(bwrap.as_str())));
    assert!(!out.stderr.contains("bundle sandbox: none"), "{}", out.stderr);
    let escapes = server(&report, "escapes");
    assert_eq!(escapes["self_test"]["status"], "failed", "{escapes}");
    assert!(escapes["self_test"]["stdout"].as_str().unwrap_or("").contains("Read-only file system"), "{escapes}");
    assert_eq!(escapes["active"], false);
    assert!(!marker.exists(), "the self-test wrote outside the workspace");
    // /tmp is private: the write works, and nothing reaches the host's /tmp.
    assert_eq!(server(&report, "tmp-writer")["self_test"]["status"], "passed", "{report}");
    assert!(!private_tmp.exists(), "the sandbox's /tmp is the host's");
    // The workspace stays writable.
    assert_eq!(server(&report, "stays")["self_test"]["status"], "passed", "{report}");
    assert_eq!(fs::read_to_string(ws.join("inside.txt")).unwrap_or_default(), "written\n");
    assert_eq!(server(&report, "stays")["sandbox"], "bwrap");
    // The agents launch it the same way: through the proxy, in the sandbox.
    let toml = fs::read_to_string(ws.join(".codex/config.toml")).expect("codex config");
    assert!(toml.contains("\"--bundle-sandbox\", \"bwrap\", \"--bundle-network\", \"on\", \"--\""), "{toml}");

    // Without the sandbox the same self-test escapes.
    let (out, report) = activate(&ws, &["--bundle-sandbox", "none"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(report["bundle_sandbox"], json!({"requested": "none", "mode": "none", "network": "on"}));
    assert_eq!(server(&report, "escapes")["self_test"]["status"], "passed", "{report}");
    assert!(marker.exists());
    let _ = fs::remove_file(&private_tmp);
}

#[test]
fn a_server_launched_through_the_proxy_cannot_write_outside_the_workspace() {
    let Some(_) = bwrap_or_skip("a_server_launched_through_the_proxy_cannot_write_outside_the_workspace") else {
        return;
    };
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    add_server(&ws, "writer", json!({"self_test": true}));
    let (out, report) = activate(&ws, &[], &[]);
    assert_eq!(server(&report, "writer")["active"], true, "{}\n{report}", out.stderr);
    let outside = outside_dir();
    let call = |path: &Path| {
        let args = json!({"path": s(path)}).to_string();
        let out = output(
            harnessgym(&ws)
                .args(["mcp-call", "--workspace", s(&ws), "--server", "writer", "--tool", "write"])
                .args(["--arguments", &args]),
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    let escaped = outside.path().join("escaped.txt");
    assert!(call(&escaped).contains("Read-only file system"));
    assert!(!escaped.exists());
    assert!(call(&ws.join("inside.txt")).contains("wrote"));
    assert!(ws.join("inside.txt").exists());
}

#[test]
fn with_the_network_off_a_servers_socket_to_127_0_0_1_fails() {
    let Some(_) = bwrap_or_skip("with_the_network_off_a_servers_socket_to_127_0_0_1_fails") else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    add_server(&ws, "offline", json!({"self_test": true, "network": false}));
    add_server(&ws, "online", json!({"self_test": true}));
    let (out, report) = activate(&ws, &[], &[]);
    assert_eq!(report["quality_gate"]["status"], "passed", "{}\n{report}", out.stderr);
    assert_eq!(server(&report, "offline")["network"], false);
    assert_eq!(server(&report, "online")["network"], true);
    let toml = fs::read_to_string(ws.join(".codex/config.toml")).expect("codex config");
    assert!(toml.contains("\"--bundle-network\", \"off\""), "{toml}");
    let connect = |name: &str| {
        let args = json!({"port": port}).to_string();
        let out = output(
            harnessgym(&ws)
                .args(["mcp-call", "--workspace", s(&ws), "--server", name, "--tool", "connect"])
                .args(["--arguments", &args]),
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    let offline = connect("offline");
    assert!(offline.contains("error:"), "{offline}");
    assert!(connect("online").contains("connected"));

    // --bundle-network off cuts it for every server.
    let (out, report) = activate(&ws, &["--bundle-network", "off"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(report["bundle_sandbox"]["network"], "off");
    assert_eq!(server(&report, "online")["network"], false);
    assert!(connect("online").contains("error:"));
    drop(listener);
}

#[test]
fn auto_falls_back_to_no_sandbox_when_bwrap_is_missing_and_says_so_once() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    let outside = outside_dir();
    let marker = outside.path().join("escaped.txt");
    add_server(&ws, "escapes", self_test_writing("escapes", &[&marker]));
    add_server(&ws, "offline", json!({"self_test": true, "network": false}));
    let missing = tmp.path("no-such-bwrap");
    let env = [("HARNESSGYM_BWRAP", s(&missing))];
    let (out, report) = activate(&ws, &[], &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = format!(
        "harnessgym: bundle sandbox: none (HARNESSGYM_BWRAP={} is not an executable file); MCP servers and self-tests \
         of the bundle run unconfined (install bubblewrap, or pass --bundle-sandbox none to silence this)",
        s(&missing)
    );
    assert_eq!(out.stderr.matches("bundle sandbox").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(&line), "{}", out.stderr);
    assert_eq!(report["bundle_sandbox"]["mode"], "none");
    assert_eq!(report["bundle_sandbox"]["requested"], "auto");
    assert!(report["bundle_sandbox"]["note"].as_str().unwrap_or("").contains("is not an executable file"));
    // Unconfined: the activation works as before the sandbox existed.
    assert_eq!(server(&report, "escapes")["self_test"]["status"], "passed", "{report}");
    assert!(marker.exists());
    // "network": false cannot be enforced: said, and the launch line keeps the network.
    assert_eq!(server(&report, "offline")["network"], true);
    assert!(
        report["advisories"].to_string().contains("\\\"network\\\": false, which only the bundle sandbox enforces"),
        "{report}"
    );
    let toml = fs::read_to_string(ws.join(".codex/config.toml")).expect("codex config");
    assert!(toml.contains("\"--bundle-sandbox\", \"none\", \"--bundle-network\", \"on\""), "{toml}");

    // Asked for by name, a missing bwrap is refused before anything starts.
    let before = fs::read_to_string(ws.join(".harnessgym/activation.json")).expect("report");
    let (out, _) = activate(&ws, &["--bundle-sandbox", "bwrap"], &env);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.starts_with("harnessgym: error: --bundle-sandbox bwrap: HARNESSGYM_BWRAP="), "{}", out.stderr);
    let (out, _) = activate(&ws, &["--bundle-network", "off"], &env);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--bundle-network off needs the bundle sandbox"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(ws.join(".harnessgym/activation.json")).expect("report"), before);
}

#[test]
fn run_records_the_sandbox_options_and_refuses_a_missing_bwrap() {
    let tmp = Tmp::new();
    let ws = super::common::workspace_with_task(&tmp, "Fix it.\n");
    let out = output(
        harnessgym(&ws)
            .args(["run", "--task", "task.md", "--workspace", s(&ws), "--runner", "fake", "--iterations", "1"])
            .args(["--bundle-sandbox", "bwrap"])
            .env("HARNESSGYM_BWRAP", s(&tmp.path("no-such-bwrap"))),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--bundle-sandbox bwrap: HARNESSGYM_BWRAP="), "{}", out.stderr);
    assert!(!ws.join(".harnessgym/runs").exists(), "refused before the run started");

    let out = output(
        harnessgym(&ws)
            .args(["run", "--task", "task.md", "--workspace", s(&ws), "--runner", "fake", "--iterations", "1"])
            .args(["--run-id", "r", "--bundle-sandbox", "none"]),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let config = read_json(&ws.join(".harnessgym/runs/r/run_config.json"));
    assert_eq!((config["bundle_sandbox"].clone(), config["bundle_network"].clone()), (json!("none"), json!("on")));
}

/// Every live pid whose argv is exactly `argv` (the daemon a test leaves behind, to clean up).
fn pids_running(argv: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .filter(|pid| !harnessgym_test_support::process::is_dead(*pid))
        .collect()
}

/// A self-test that daemonises (setsid + double fork) escapes every process-group kill; the
/// sandbox's PID namespace and `--die-with-parent` take it down with the self-test.
#[test]
fn a_daemon_left_by_a_self_test_dies_with_the_sandbox_and_survives_without_it() {
    let Some(_) = bwrap_or_skip("a_daemon_left_by_a_self_test_dies_with_the_sandbox_and_survives_without_it") else {
        return;
    };
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    // An argv of this test's own (`sleep 9xx.<pid>`), so tests side by side do not see each other.
    let seconds = format!("977.{}", std::process::id());
    let argv = ["sleep", seconds.as_str()];
    let command = json!(["python3", ".harnessgym/mcp/daemon/server.py", "--daemon", seconds]);
    add_server(&ws, "daemon", json!({"self_test": {"command": command}}));

    let (out, report) = activate(&ws, &["--bundle-sandbox", "bwrap"], &[]);
    assert_eq!(server(&report, "daemon")["self_test"]["status"], "passed", "{}\n{report}", out.stderr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pids_running(&argv).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(pids_running(&argv), Vec::<i32>::new(), "the daemon outlived its sandbox");

    let (out, report) = activate(&ws, &["--bundle-sandbox", "none"], &[]);
    assert_eq!(server(&report, "daemon")["self_test"]["status"], "passed", "{}\n{report}", out.stderr);
    let survivors = pids_running(&argv);
    for pid in &survivors {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    assert!(!survivors.is_empty(), "without the sandbox the daemon escapes (else this test proves nothing)");
}

/// `harnessgym qualify`: the bundle's self-test in the clean room, under the sandbox.
#[test]
fn qualification_runs_the_bundle_in_the_sandbox() {
    let Some(_) = bwrap_or_skip("qualification_runs_the_bundle_in_the_sandbox") else { return };
    let tmp = Tmp::new();
    let bundle_ws = tmp.dir("bundle");
    let template = tmp.dir("template");
    write(&template.join("task.md"), "task\n");
    let outside = outside_dir();
    let marker = outside.path().join("escaped.txt");
    add_server(&bundle_ws, "escapes", self_test_writing("escapes", &[&marker]));
    write(
        &bundle_ws.join(".harnessgym/registry.json"),
        &json!({"artifacts": [{"kind": "mcp", "path": ".harnessgym/mcp/escapes/mcp.json"}]}).to_string(),
    );
    let qualify = |out: &str, flags: &[&str]| {
        let out = output(
            harnessgym(&tmp.root)
                .args(["qualify", "--bundle", s(&bundle_ws), "--template", s(&template), "--out", out])
                .args(flags),
        );
        serde_json::from_str::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
    };
    let sandboxed = qualify(s(&tmp.path("q1")), &[]);
    assert_eq!(sandboxed["status"], "failed", "{sandboxed}");
    assert_eq!(sandboxed["activation"]["bundle_sandbox"]["mode"], "bwrap");
    assert!(!marker.exists());
    let open = qualify(s(&tmp.path("q2")), &["--bundle-sandbox", "none"]);
    assert_eq!(open["status"], "passed", "{open}");
    assert!(marker.exists());
}
