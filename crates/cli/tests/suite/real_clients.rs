//! The real `codex` (0.169.0) and `claude` (2.1.330) CLIs, installed from npm by `.ci/run` into
//! `target/agent-clis` (or named by HARNESSGYM_CODEX_BIN / HARNESSGYM_CLAUDE_BIN), driven through
//! two iterations by `harnessgym run --model-script` against the scripted model server on
//! 127.0.0.1: the attempt edits a file and calls a tool of a pre-built MCP server through the
//! proxy; reflection names an artifact; the build writes a skill and a newline-JSON MCP server
//! with a self-test; qualification passes; iteration 2 sees the new tool and calls it.
//!
//! Under `CI=true` a missing CLI fails the test; elsewhere the test says it did not run.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn find_cli(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        return Some(PathBuf::from(path));
    }
    let installed = repo_root().join("target/agent-clis/node_modules/.bin").join(name);
    if installed.exists() {
        return Some(installed);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{name} is not installed: .ci/run installs it with npm into target/agent-clis (or set {env_var})"
    );
    eprintln!("NOT RUN: {name} is not installed (npm install --prefix target/agent-clis …, see .ci/run)");
    None
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let target = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn rehearse(runner: &str, bin_flag: &str, bin: &PathBuf) {
    let fixture = repo_root().join("crates/cli/tests/fixtures/rehearsal");
    // The workspace under the temp dir (issue 11): the rehearsal keeps Codex's home out of it, in
    // the cache dir, which is here a directory outside the temp dir of this test's own.
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ws = dir.path().join("ws");
    copy_dir(&fixture.join("workspace"), &ws);
    let output = Command::cargo_bin("harnessgym")
        .unwrap()
        .current_dir(&ws)
        .env("IS_SANDBOX", "1")
        .env("XDG_CACHE_HOME", cache.path())
        .env("OPENAI_API_KEY", "sk-must-not-leak")
        .args([
            "run",
            "--task",
            "task.md",
            "--workspace",
            ".",
            "--runner",
            runner,
            "--iterations",
            "2",
            "--run-id",
            "real",
        ])
        .args(["--attempt-timeout", "180s", "--build-timeout", "180s"])
        .arg(bin_flag)
        .arg(bin)
        .arg("--model-script")
        .arg(fixture.join("script.json"))
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    assert!(
        stdout.contains("Final status: solved") && stdout.contains("Solved and verified: True"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("no failures"), "the model script saw every scripted tool:\n{stdout}");
    if runner == "exec" {
        let home = cache.path().join("harnessgym/rehearsal");
        assert!(stderr.contains(&format!("Codex home: {}/", home.display())), "{stderr}");
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0, "the home outside the workspace is removed");
    }

    let run = ws.join(".harnessgym/runs/real");
    let summary = read_json(&run.join("summary.json"));
    let statuses: Vec<&str> =
        summary["iterations"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["tooling_built", "solved"]);
    // The attempt edited the workspace.
    assert_eq!(std::fs::read_to_string(ws.join("work.txt")).unwrap().trim(), "edited-by-agent");
    // Sessions: reflection and build resumed the attempt's session; usage was recorded.
    let first = &summary["iterations"][0];
    let session = first["attempt"]["session_id"].as_str().unwrap();
    assert!(!session.is_empty());
    assert_eq!(first["reflection"]["session_id"], session);
    assert_eq!(first["build"]["session_id"], session);
    assert!(first["attempt"]["usage"]["input_tokens"].as_u64().unwrap() > 0, "{first}");
    // Qualification passed in the clean room; the registry knows the built artifacts.
    assert_eq!(summary["artifact_qualification"]["reports"][0]["status"], "passed", "{summary}");
    let registry = read_json(&ws.join(".harnessgym/registry.json"));
    let paths: Vec<&str> =
        registry["artifacts"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&".harnessgym/mcp/calc/mcp.json") && paths.contains(&".harnessgym/skills/calc-usage/SKILL.md"),
        "{paths:?}"
    );
    // Activation: both servers active, the skill linked for both agents.
    let activation = read_json(&ws.join(".harnessgym/activation.json"));
    assert_eq!(activation["quality_gate"]["active_mcp_count"], 2, "{activation}");
    for link in [".agents/skills/calc-usage", ".claude/skills/calc-usage"] {
        assert!(std::fs::symlink_metadata(ws.join(link)).unwrap().file_type().is_symlink(), "{link}");
    }
    // Telemetry: one line per real tools/call, through the proxy, in each iteration.
    let telemetry = std::fs::read_to_string(ws.join(".harnessgym/mcp_calls.jsonl")).unwrap();
    let calls: Vec<Value> = telemetry.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let called: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| (c["server"].as_str().unwrap(), c["tool_name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(called, [("probe", "echo", "completed"), ("calc", "add", "completed")]);
    let second = read_json(&run.join("iterations/2/result.json"));
    assert_eq!(second["harness_usage"]["mcp_called_tools"], serde_json::json!(["add"]), "per attempt, not cumulative");
    assert!(second["harness_usage"]["used_active_tools"].as_array().unwrap().contains(&Value::from("add")));
    // Secrets never reach the files HarnessGym writes.
    for name in ["run_config.json", "summary.json", "iterations/1/attempt.transcript.txt", "iterations/2/result.json"] {
        let text = std::fs::read_to_string(run.join(name)).unwrap();
        assert!(!text.contains("sk-must-not-leak"), "{name} leaks a secret");
    }
}

#[test]
fn real_codex_rehearses_two_iterations_through_the_proxy() {
    let Some(codex) = find_cli("codex", "HARNESSGYM_CODEX_BIN") else { return };
    rehearse("exec", "--codex-bin", &codex);
}

#[test]
fn real_claude_rehearses_two_iterations_through_the_proxy() {
    let Some(claude) = find_cli("claude", "HARNESSGYM_CLAUDE_BIN") else { return };
    rehearse("claude", "--claude-bin", &claude);
}

/// Issue 11: Codex with its home under the temp dir, where bubblewrap is installed, cannot run a
/// shell command; the attempt is a broken environment naming the cause and the fix, not a
/// completed attempt.
#[tokio::test(flavor = "multi_thread")]
async fn real_codex_with_its_home_under_the_temp_dir_is_a_broken_environment_under_bubblewrap() {
    let test = "real_codex_with_its_home_under_the_temp_dir_is_a_broken_environment_under_bubblewrap";
    let Some(codex) = find_cli("codex", "HARNESSGYM_CODEX_BIN") else { return };
    let Some(_bwrap) = harnessgym_test_support::bwrap::bwrap_or_skip(test) else { return };
    let script = r##"{"phases": [{"match": "# HarnessGym attempt, iteration 1", "steps": [
      {"shell": "echo edited > work.txt"}, {"shell": "python3 agent/result.py '{\"status\": \"solved\"}'"},
      {"text": "DONE"}]}]}"##;
    let server = harnessgym_scripted_model::ScriptedModelServer::start(
        harnessgym_scripted_model::Script::from_json_str(script).unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    copy_dir(&repo_root().join("crates/cli/tests/fixtures/rehearsal/workspace"), &ws);
    let home = camino::Utf8PathBuf::from_path_buf(dir.path().join("codex-home")).unwrap();
    let plan = harnessgym_scripted_model::CodexRehearsal::new(server.base_url_openai());
    for (path, text) in plan.files(&home) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let output = tokio::task::spawn_blocking({
        let ws = ws.clone();
        let home = home.clone();
        move || {
            Command::cargo_bin("harnessgym")
                .unwrap()
                .current_dir(&ws)
                .env("CODEX_HOME", home.as_str())
                .env_remove("OPENAI_API_KEY")
                .args(["run", "--task", "task.md", "--workspace", ".", "--runner", "exec", "--iterations", "1"])
                .args(["--run-id", "broken", "--no-qualify-artifacts", "--attempt-timeout", "180s"])
                .arg("--codex-bin")
                .arg(&codex)
                .timeout(std::time::Duration::from_secs(300))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result = read_json(&ws.join(".harnessgym/runs/broken/iterations/1/result.json"));
    let attempt = &result["phases"]["attempt"];
    assert_eq!(attempt["status"], "failed", "{attempt}\n{stderr}");
    let message = attempt["message"].as_str().unwrap();
    // The scripted model's turn goes on after a failed command, but codex may end it early: one
    // failed command or both, always the helper's.
    assert!(message.starts_with("broken environment: "), "{message}");
    assert!(
        message.contains("failed: `bwrap: execvp codex-linux-sandbox")
            || message.contains("failed the same way: `bwrap: execvp codex-linux-sandbox"),
        "{message}"
    );
    assert!(message.contains(&format!("CODEX_HOME ({}", dir.path().canonicalize().unwrap().display())), "{message}");
    assert!(message.contains("Fix: point CODEX_HOME at a directory outside the temp dir"), "{message}");
    assert!(!ws.join("work.txt").exists(), "no shell command of the agent ran");
}

/// A compare rehearsed with the real CLI: the harnessed arm's bundle has an MCP server
/// (`zorbcalc`) whose name appears only in prompts where it is active, so the script calls its
/// tool there and nowhere else; the plain arm has no such tool.
fn rehearse_compare(runner: &str, bin_flag: &str, bin: &PathBuf) {
    let fixture = repo_root().join("crates/cli/tests/fixtures/rehearsal/workspace");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let template = root.join("template");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("task.md"), "Write the smallest number you can into answer.txt.\n").unwrap();
    std::fs::write(
        template.join("score.py"),
        "import json\nprint(json.dumps({\"status\": \"passed\", \"score\": float(open(\"answer.txt\").read())}))\n",
    )
    .unwrap();
    let server =
        std::fs::read_to_string(fixture.join("agent/mcp_server.py")).unwrap().replace("\"calc\":", "\"zorbcalc\":");
    let mcp = root.join("bundle/.harnessgym/mcp/zorbcalc");
    std::fs::create_dir_all(&mcp).unwrap();
    std::fs::write(mcp.join("server.py"), server).unwrap();
    std::fs::write(
        mcp.join("mcp.json"),
        r#"{"name": "zorbcalc", "command": "python3", "args": [".harnessgym/mcp/zorbcalc/server.py", "zorbcalc"], "enabled_tools": ["add"], "self_test": true, "framing": "ndjson"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("bundle/.harnessgym/registry.json"),
        r#"{"version": 1, "artifacts": [{"id": "mcp:zorbcalc", "kind": "mcp", "path": ".harnessgym/mcp/zorbcalc/mcp.json", "description": "adds numbers"}]}"#,
    )
    .unwrap();
    let script = root.join("script.json");
    std::fs::write(
        &script,
        r##"{"phases": [
  {"name": "harnessed-attempt", "match": "zorbcalc", "steps": [
    {"mcp": {"server": "zorbcalc", "tool": "add", "arguments": {"a": 2, "b": 3}}},
    {"shell": "echo 5 > answer.txt"},
    {"text": "USED THE TOOL"}]},
  {"name": "plain-attempt", "match": "# HarnessGym attempt", "steps": [
    {"shell": "echo 9 > answer.txt"},
    {"text": "BY HAND"}]}
]}"##,
    )
    .unwrap();
    let out = root.join("out");
    let output = Command::cargo_bin("harnessgym")
        .unwrap()
        .current_dir(&root)
        .env("IS_SANDBOX", "1")
        .args(["compare", "--task", "template/task.md", "--workspace-template", "template", "--output-dir", "out"])
        .args(["--artifact-source", "bundle", "--runner", runner, "--trials", "1", "--seed", "4"])
        .args(["--post-command", "python3 score.py", "--attempt-timeout", "180s"])
        .arg(bin_flag)
        .arg(bin)
        .arg("--model-script")
        .arg(&script)
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let report = read_json(&out.join("compare_report.json"));
    let trial = |arm: &str| {
        report["trials"].as_array().unwrap().iter().find(|t| t["group"] == arm).cloned().unwrap_or_default()
    };
    let (plain, harnessed) = (trial("plain"), trial("harnessed"));
    let stderr_of =
        |arm: &str| std::fs::read_to_string(out.join(arm).join("trial_1/trial.stderr.txt")).unwrap_or_default();
    assert_eq!(harnessed["comparison_valid"], true, "{harnessed}\n{}", stderr_of("harnessed"));
    assert_eq!(plain["comparison_valid"], true, "{plain}\n{}", stderr_of("plain"));
    assert_eq!(harnessed["post_score"], 5.0, "{harnessed}");
    assert_eq!(plain["post_score"], 9.0, "{plain}");
    assert_eq!(harnessed["mcp_called_tools"], serde_json::json!(["add"]), "{harnessed}");
    assert_eq!(plain["mcp_call_count"], 0, "{plain}");
    assert!(stderr_of("harnessed").contains("no failures"), "{}", stderr_of("harnessed"));
    assert_eq!(report["tool_use"]["harnessed"]["trials_with_tool_calls"], 1);
    assert!(harnessed["budget"]["input_tokens"].as_u64().unwrap() > 0, "{harnessed}");
    assert!(stdout.contains("tools called in 1 of 1 trials"), "{stdout}");
}

#[test]
fn real_codex_runs_a_rehearsed_compare_where_only_the_harnessed_arm_can_call_the_tool() {
    let Some(codex) = find_cli("codex", "HARNESSGYM_CODEX_BIN") else { return };
    rehearse_compare("exec", "--codex-bin", &codex);
}

#[test]
fn real_claude_runs_a_rehearsed_compare_where_only_the_harnessed_arm_can_call_the_tool() {
    let Some(claude) = find_cli("claude", "HARNESSGYM_CLAUDE_BIN") else { return };
    rehearse_compare("claude", "--claude-bin", &claude);
}
