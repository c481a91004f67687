//! `harnessgym activate`, `harnessgym mcp-call` and the `mcp_call.py` helper, with real fixture
//! servers (harnessgym-mcp's test fixtures) behind the real proxy: spec/integration.md §7 C1 and
//! spec/core.md §8 statement 52.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harnessgym_types::activation::ActivationReport;
use harnessgym_types::registry::Registry;
use harnessgym_types::telemetry::TelemetrySummary;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::common::{Tmp, binary, harnessgym, output, read_json, s, write};

fn fixture(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures").join(script)
}

/// `<ws>/.harnessgym/mcp/<name>/{server.py, mcp.json}` from a fixture script, the way an agent
/// lays out a server.
fn add_server(ws: &Path, name: &str, script: &str, flags: &[&str], extra: Value) {
    let rel = format!(".harnessgym/mcp/{name}/server.py");
    write(&ws.join(&rel), &fs::read_to_string(fixture(script)).expect("fixture"));
    let mut args = vec![json!(rel)];
    args.extend(flags.iter().map(|f| json!(f)));
    let mut manifest = json!({"name": name, "command": "python3", "args": args});
    if let (Some(m), Value::Object(extra)) = (manifest.as_object_mut(), extra) {
        m.extend(extra);
    }
    write(&ws.join(format!(".harnessgym/mcp/{name}/mcp.json")), &manifest.to_string());
}

fn telemetry(ws: &Path) -> Vec<Value> {
    fs::read_to_string(ws.join(".harnessgym/mcp_calls.jsonl"))
        .map(|t| t.lines().map(|l| serde_json::from_str(l).expect("telemetry line is JSON")).collect())
        .unwrap_or_default()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn mcp_call(ws: &Path, args: &[&str]) -> super::common::Output {
    output(
        harnessgym(ws).args(["mcp-call", "--workspace", s(ws)]).args(args).env_remove("HARNESSGYM_MCP_TELEMETRY_PATH"),
    )
}

/// A workspace with the reference-style `probe-server` (Content-Length, tool `probe`).
fn probe_workspace(tmp: &Tmp) -> PathBuf {
    let ws = tmp.dir("ws");
    add_server(&ws, "probe-server", "reference_server.py", &[], json!({"self_test": true}));
    ws
}

/// C1: through the manifest fallback (no activation.json), the echoed object on stdout, rc 0,
/// one telemetry line.
#[test]
fn c1_mcp_call_prints_the_echoed_object_and_logs_one_line() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);
    let out = mcp_call(&ws, &["--server", "probe-server", "--tool", "probe", "--arguments", r#"{"shape":[2,4]}"#]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(json_of(&out.stdout), json!({"ok": true, "arguments": {"shape": [2, 4]}}));
    assert_eq!(
        out.stdout,
        "{\n  \"arguments\": {\n    \"shape\": [\n      2,\n      4\n    ]\n  },\n  \"ok\": true\n}\n"
    );
    let lines = telemetry(&ws);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["server"], "probe-server");
    assert_eq!(lines[0]["tool_name"], "probe");
    assert_eq!(lines[0]["status"], "completed");
    assert_eq!(lines[0]["argument_keys"], json!(["shape"]));
}

#[test]
fn mcp_call_raw_and_arguments_file() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);
    write(&ws.join("args.json"), r#"{"from": "file"}"#);
    let out = mcp_call(
        &ws,
        &[
            "--server",
            "probe-server",
            "--tool",
            "probe",
            "--arguments",
            "{\"ignored\": 1}",
            "--arguments-file",
            s(&ws.join("args.json")),
            "--raw",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let raw = json_of(&out.stdout);
    assert_eq!(raw["content"][0]["text"], r#"{"ok":true,"arguments":{"from":"file"}}"#);
}

#[test]
fn mcp_call_list_tools_logs_nothing() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);
    let out = mcp_call(&ws, &["--server", "probe-server", "--list-tools"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let listing = json_of(&out.stdout);
    let names: Vec<&str> =
        listing["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["probe"]);
    assert_eq!(listing["tools"][0]["inputSchema"], json!({"type": "object"}));
    assert!(telemetry(&ws).is_empty(), "only tools/call is logged");
}

/// A JSON-RPC error → rc 1 and `{"ok": false, "error": …}` on stderr; a tool-level `isError`
/// → rc 1 with the payload on stdout.
#[test]
fn mcp_call_errors_exit_1() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);

    let out = mcp_call(&ws, &["--server", "probe-server", "--tool", "nosuch"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    let err = json_of(&out.stderr);
    assert_eq!(err["ok"], false);
    assert!(err["error"].as_str().expect("error text").contains("unknown tool nosuch"), "{err}");

    let out = mcp_call(&ws, &["--server", "probe-server", "--tool", "fail"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(json_of(&out.stdout), json!({"text": "it broke", "isError": true}));

    let statuses: Vec<Value> = telemetry(&ws).iter().map(|l| l["status"].clone()).collect();
    assert_eq!(statuses, [json!("error"), json!("completed")]);
    assert_eq!(telemetry(&ws)[1]["is_error"], true);

    let out = mcp_call(&ws, &["--server", "nope", "--tool", "probe"]);
    assert_eq!(out.code, Some(1));
    assert!(json_of(&out.stderr)["error"].as_str().expect("text").contains("could not find active MCP server 'nope'"));

    let out = mcp_call(&ws, &["--server", "probe-server", "--tool", "probe", "--arguments", "[1, 2]"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(json_of(&out.stderr), json!({"ok": false, "error": "MCP tool arguments must be a JSON object"}));
}

/// `--arguments` that is not JSON at all is named as such, with serde_json's reason and position.
#[test]
fn mcp_call_invalid_json_arguments_are_not_called_a_non_object() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);
    let out = mcp_call(&ws, &["--server", "probe-server", "--tool", "probe", "--arguments", "{bad"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        json_of(&out.stderr),
        json!({"ok": false, "error": "MCP tool arguments are not valid JSON: key must be a string at line 1 column 2"})
    );
    assert!(telemetry(&ws).is_empty(), "nothing was called");
}

/// `--timeout`: the proxy answers -32000 first, so the telemetry line says `timeout`.
#[test]
fn mcp_call_timeout_is_reported_by_the_proxy() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    add_server(&ws, "slow", "mcp_server.py", &["--framing", "content-length"], json!({"self_test": true}));
    let started = Instant::now();
    let out =
        mcp_call(&ws, &["--server", "slow", "--tool", "sleep", "--arguments", r#"{"seconds": 30}"#, "--timeout", "1"]);
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert_eq!(out.code, Some(1));
    let err = json_of(&out.stderr);
    assert!(err["error"].as_str().expect("text").contains("did not produce a response"), "{err}");
    let lines = telemetry(&ws);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["status"], "timeout");
    // The server still busy with the call does not outlive mcp-call (issue 11, defect 7).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !harnessgym_test_support::process::processes_under(&tmp.root).is_empty() {
        let left = harnessgym_test_support::process::processes_under(&tmp.root);
        assert!(Instant::now() < deadline, "mcp-call left its server running: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `harnessgym activate` prints the report it writes; the helper it writes works with python3;
/// mcp-call then uses the framing recorded in activation.json.
#[test]
fn activate_prints_the_report_and_the_helper_works() {
    let tmp = Tmp::new();
    let ws = probe_workspace(&tmp);
    let out = output(harnessgym(&tmp.root).args(["activate", "--workspace", s(&ws)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report_path = ws.join(".harnessgym/activation.json");
    assert_eq!(json_of(&out.stdout), read_json(&report_path), "stdout is the report");
    assert!(
        out.stderr.contains(&format!("Activation report: {} (quality gate: passed)", report_path.display())),
        "{}",
        out.stderr
    );
    let report = read_json(&report_path);
    let entry = &report["mcp_servers"][0];
    assert_eq!(entry["name"], "probe-server");
    assert_eq!(entry["active"], true);
    assert_eq!(entry["framing"], "content-length");
    assert_eq!(entry["smoke"], json!({"status": "passed", "tools": ["probe"]}));
    let toml = fs::read_to_string(ws.join(".codex/config.toml")).expect("config.toml");
    let bin = fs::canonicalize(binary()).expect("binary");
    assert!(
        toml.contains(&format!("command = \"{}\"", bin.display()))
            || toml.contains(&format!("command = \"{}\"", binary())),
        "{toml}"
    );
    assert!(toml.contains("\"mcp-proxy\""), "{toml}");

    let helper = ws.join(".harnessgym/runtime/mcp_call.py");
    let out = output(
        assert_cmd::Command::new("python3")
            .current_dir(&ws)
            .arg(&helper)
            .args(["--server", "probe-server", "--tool", "probe", "--arguments", r#"{"shape":[2,4]}"#])
            .env_remove("HARNESSGYM_MCP_TELEMETRY_PATH"),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(json_of(&out.stdout), json!({"ok": true, "arguments": {"shape": [2, 4]}}));
    let lines = telemetry(&ws);
    assert_eq!(lines.len(), 1);
    assert_eq!((&lines[0]["server"], &lines[0]["status"]), (&json!("probe-server"), &json!("completed")));
}

#[test]
fn activate_without_a_bundle_is_an_error() {
    let tmp = Tmp::new();
    let ws = tmp.dir("empty");
    let out = output(harnessgym(&tmp.root).args(["activate", "--workspace", s(&ws)]));
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("has no .harnessgym/ bundle"), "{}", out.stderr);
}

/// Statement 52: an attempt's output that mentions the tool of an active MCP (`self_test: true`)
/// counts it as used, against the activation report `harnessgym activate` wrote.
#[test]
fn attempt_output_naming_an_active_tool_counts_as_use() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    add_server(&ws, "kernel-tools", "reference_server.py", &["--tool", "run_verifier"], json!({"self_test": true}));
    let out = output(harnessgym(&tmp.root).args(["activate", "--workspace", s(&ws)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report: ActivationReport =
        serde_json::from_value(read_json(&ws.join(".harnessgym/activation.json"))).expect("report");
    assert_eq!(report.active_tools(), ["run_verifier"]);
    let result = serde_json::Map::new();
    let registry = Registry::default();
    let sources = [("attempt.stdout.txt".to_owned(), "Calling the MCP tool run_verifier on the kernel.".to_owned())];
    let usage = harnessgym_core::usage::harness_usage(&harnessgym_core::usage::UsageInput {
        activation: &report,
        result: &result,
        registry: &registry,
        sources: &sources,
        telemetry: &TelemetrySummary::default(),
    });
    assert_eq!(usage["inferred_harness_tools"], json!(["run_verifier"]));
    assert_eq!(usage["used_active_tools"], json!(["run_verifier"]));
}
