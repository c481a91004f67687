//! The shipped `command` runner profiles (`crates/runners/profiles/`) against the real CLIs: the
//! test starts the scripted model server itself and adds the rehearsal settings to a copy of the
//! profile, exactly as a user would adapt a profile to their setup.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use camino::Utf8PathBuf;
use harnessgym_scripted_model::{ClaudeRehearsal, CodexRehearsal, Script, ScriptedModelServer};
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
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{name} is not installed (see .ci/run)");
    eprintln!("NOT RUN: {name} is not installed (npm install --prefix target/agent-clis …, see .ci/run)");
    None
}

const SCRIPT: &str = r##"{"phases": [{"match": "# HarnessGym attempt, iteration 1", "steps": [
  {"shell": "echo from-profile > work.txt"},
  {"shell": "python3 agent/result.py '{\"status\": \"solved\", \"verified\": true}'"},
  {"text": "PROFILE DONE"}]}],
 "usage": {"input_tokens": 50, "cached_input_tokens": 0, "output_tokens": 5}}"##;

fn toml_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// The shipped profile with `program`, extra leading args and env swapped in.
fn adapted_profile(shipped: &str, program: &Path, extra_args: &[String], env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut env_written = false;
    for line in shipped.lines() {
        if line.starts_with("program = ") {
            out.push_str(&format!("program = {}\n", toml_string(&program.to_string_lossy())));
        } else if let Some(rest) = line.strip_prefix("fresh = [").or_else(|| line.strip_prefix("resume = [")) {
            let key = if line.starts_with("fresh") { "fresh" } else { "resume" };
            let extra: Vec<String> = extra_args.iter().map(|a| toml_string(a)).collect();
            // Codex takes `exec` first; extra options go right after the first element.
            let (first, tail) = rest.split_once(", ").unwrap_or((rest.trim_end_matches(']'), "]"));
            out.push_str(&format!("{key} = [{first}, {}, {tail}\n", extra.join(", ")));
        } else if line.starts_with('[') && !env_written {
            let table: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {}", toml_string(v))).collect();
            out.push_str(&format!("env = {{ {} }}\n\n{line}\n", table.join(", ")));
            env_written = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn run_profile(profile: &str, ws: &Path) -> Value {
    std::fs::write(ws.join("profile.toml"), profile).unwrap();
    let output = Command::cargo_bin("harnessgym")
        .unwrap()
        .current_dir(ws)
        .args([
            "run",
            "--task",
            "task.md",
            "--workspace",
            ".",
            "--runner",
            "command",
            "--runner-profile",
            "profile.toml",
        ])
        .args(["--iterations", "1", "--run-id", "p", "--no-qualify-artifacts", "--attempt-timeout", "180s"])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Final status: solved"), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(ws.join("work.txt")).unwrap().trim(), "from-profile");
    serde_json::from_str(&std::fs::read_to_string(ws.join(".harnessgym/runs/p/summary.json")).unwrap()).unwrap()
}

fn workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join("agent")).unwrap();
    let fixture = repo_root().join("crates/cli/tests/fixtures/rehearsal/workspace");
    std::fs::copy(fixture.join("task.md"), ws.join("task.md")).unwrap();
    std::fs::copy(fixture.join("agent/result.py"), ws.join("agent/result.py")).unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn shipped_codex_profile_drives_the_real_codex() {
    let Some(codex) = find_cli("codex", "HARNESSGYM_CODEX_BIN") else { return };
    let server = ScriptedModelServer::start(Script::from_json_str(SCRIPT).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    // Outside the temp dir: Codex refuses to create its sandbox helper under it, and where
    // bubblewrap is installed its shell commands would then fail (issue 11).
    let home_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let home = Utf8PathBuf::from_path_buf(home_dir.path().join("codex-home")).unwrap();
    assert_eq!(
        harnessgym_runners::codex_env::home_under_temp_dir(&home, std::env::var("TMPDIR").ok().as_deref()),
        None,
        "the target directory is under the temp dir: set CARGO_TARGET_DIR elsewhere"
    );
    let plan = CodexRehearsal::new(server.base_url_openai());
    for (path, text) in plan.files(&home) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let env = plan.env(&home).set;
    let profile = adapted_profile(include_str!("../../../runners/profiles/codex.toml"), &codex, &plan.args(), &env);
    let summary = tokio::task::spawn_blocking(move || run_profile(&profile, &ws)).await.unwrap();
    let attempt = &summary["iterations"][0]["attempt"];
    assert!(!attempt["session_id"].as_str().unwrap_or("").is_empty(), "session from the profile's rule: {attempt}");
    assert!(attempt["usage"]["input_tokens"].as_u64().unwrap() > 0, "{attempt}");
    assert_eq!(attempt["message"], "PROFILE DONE");
    assert!(server.failures().is_empty(), "{:?}", server.failures());
}

#[tokio::test(flavor = "multi_thread")]
async fn shipped_claude_profile_drives_the_real_claude() {
    let Some(claude) = find_cli("claude", "HARNESSGYM_CLAUDE_BIN") else { return };
    let server = ScriptedModelServer::start(Script::from_json_str(SCRIPT).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let home = Utf8PathBuf::from_path_buf(dir.path().join("home")).unwrap();
    for d in ClaudeRehearsal::dirs(&home) {
        std::fs::create_dir_all(d).unwrap();
    }
    let plan = ClaudeRehearsal::new(server.base_url_anthropic());
    let mut env = plan.env(&home).set;
    env.push(("IS_SANDBOX".into(), "1".into()));
    let profile = adapted_profile(include_str!("../../../runners/profiles/claude.toml"), &claude, &plan.args(), &env);
    let summary = tokio::task::spawn_blocking(move || run_profile(&profile, &ws)).await.unwrap();
    let attempt = &summary["iterations"][0]["attempt"];
    assert!(!attempt["session_id"].as_str().unwrap_or("").is_empty(), "{attempt}");
    assert!(attempt["cost_usd"].as_f64().is_some(), "{attempt}");
    assert_eq!(attempt["message"], "PROFILE DONE");
    assert!(server.failures().is_empty(), "{:?}", server.failures());
}
