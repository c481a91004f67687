//! `harnessgym mcp-call` leaves no server behind, however the call ends.

use std::path::Path;
use std::process::Stdio;

use harnessgym_test_support::process::is_dead;
use serde_json::json;
use tokio::process::Command;

use super::support::LIMIT;

/// A workspace whose server `slow` is the fixture server (newline JSON, pinned in its manifest so
/// that no framing probe runs) appending its pid to `<ws>/pids` at every start.
fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_server.py");
    let pids = ws.path().join("pids");
    let manifest = json!({
        "name": "slow",
        "command": "python3",
        "args": ["-u", script, "--framing", "ndjson", "--count-starts", pids],
        "framing": "ndjson",
    });
    let dir = ws.path().join(".harnessgym/mcp/slow");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("mcp.json"), manifest.to_string()).expect("manifest");
    ws
}

fn server_pids(ws: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(ws.join("pids")).unwrap_or_default();
    text.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

async fn mcp_call(ws: &Path, args: &[&str]) -> std::process::Output {
    let run = Command::new(harnessgym_test_support::cli_bin().as_std_path())
        .args(["mcp-call", "--workspace"])
        .arg(ws)
        .args(["--server", "slow"])
        .args(args)
        // mcp-call's `auto` sandbox finds no bwrap: the server runs unconfined, followed by the
        // host pid it records (in the sandbox's PID namespace that pid would be its own).
        .env("HARNESSGYM_BWRAP", "/nonexistent/bwrap")
        .env_remove("HARNESSGYM_MCP_TELEMETRY_PATH")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(LIMIT, run).await.expect("mcp-call returns").expect("run mcp-call")
}

/// Defect 3: a tool that sleeps past `--timeout`, a tool that answers and a tool that fails:
/// once mcp-call has returned, every server it started is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_outlives_mcp_call() {
    for (args, code) in [
        (["--tool", "sleep", "--arguments", r#"{"seconds": 30}"#, "--timeout", "1"], 1),
        (["--tool", "echo", "--arguments", r#"{"x": 1}"#, "--timeout", "20"], 0),
        (["--tool", "nope", "--arguments", "{}", "--timeout", "20"], 1),
    ] {
        let ws = workspace();
        let out = mcp_call(ws.path(), &args).await;
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let pids = server_pids(ws.path());
        assert_eq!(pids.len(), 1, "{args:?}: one server started: {pids:?}");
        for pid in pids {
            assert!(is_dead(pid), "{args:?}: server {pid} still running after mcp-call returned");
        }
    }
}
