//! The real CLIs against a model endpoint that is down (nothing listens): the phase fails fast
//! with a clear message instead of retrying forever (retries are off in a rehearsal).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use harnessgym_runners::claude::{ClaudeOptions, ClaudeRunner};
use harnessgym_runners::exec::{ExecOptions, ExecRunner};
use harnessgym_runners::{Phase, PhaseRequest, PhaseStatus, Runner};
use harnessgym_scripted_model::{ClaudeRehearsal, CodexRehearsal};

fn find_cli(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        return Some(PathBuf::from(path));
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/agent-clis/node_modules/.bin").join(name);
    if installed.exists() {
        return Some(installed);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{name} is not installed (see .ci/run)");
    eprintln!("NOT RUN: {name} is not installed (npm install --prefix target/agent-clis …, see .ci/run)");
    None
}

/// A port nothing listens on: bind, note it, close.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn request(root: &Utf8PathBuf) -> PhaseRequest {
    let (tx, cancel) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    std::fs::create_dir_all(root.join("ws")).unwrap();
    PhaseRequest {
        phase: Phase::Attempt,
        run_id: "r".into(),
        iteration: 1,
        workspace: root.join("ws"),
        phase_dir: root.join("iter"),
        result_path: root.join("iter/result.json"),
        prompt: "# HarnessGym attempt, iteration 1\nDo the task.".into(),
        session_id: None,
        timeout: Duration::from_secs(120),
        cancel,
    }
}

#[tokio::test]
async fn codex_fails_fast_and_clearly_when_the_model_endpoint_is_down() {
    let Some(codex) = find_cli("codex", "HARNESSGYM_CODEX_BIN") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    let plan = CodexRehearsal::new(format!("http://127.0.0.1:{}/v1", dead_port()));
    let home = root.join("codex-home");
    for (path, text) in plan.files(&home) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut options = ExecOptions::new(codex.to_string_lossy(), Utf8PathBuf::from("/nonexistent/harnessgym"));
    let env = plan.env(&home);
    options.env = env.set;
    options.env_remove = env.remove;
    options.config_overrides = plan.args().chunks(2).filter_map(|p| p.get(1).cloned()).collect();
    let started = Instant::now();
    let r = ExecRunner::new(options).run_phase(request(&root)).await;
    assert!(started.elapsed() < Duration::from_secs(60), "no retry loop: took {:?}", started.elapsed());
    assert_eq!(r.status, PhaseStatus::Failed, "{r:?}");
    assert!(r.message.to_lowercase().contains("connect"), "the message names the connection failure: {}", r.message);
}

#[tokio::test]
async fn claude_fails_fast_and_clearly_when_the_model_endpoint_is_down() {
    let Some(claude) = find_cli("claude", "HARNESSGYM_CLAUDE_BIN") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    let plan = ClaudeRehearsal::new(format!("http://127.0.0.1:{}", dead_port()));
    let home = root.join("home");
    for d in ClaudeRehearsal::dirs(&home) {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut options = ClaudeOptions::new(claude.to_string_lossy());
    let env = plan.env(&home);
    options.env = env.set;
    options.env.push(("IS_SANDBOX".into(), "1".into()));
    options.env_remove = env.remove;
    options.cli.model = Some(plan.model.clone());
    let started = Instant::now();
    let r = ClaudeRunner::new(options).run_phase(request(&root)).await;
    assert!(started.elapsed() < Duration::from_secs(60), "no retry loop: took {:?}", started.elapsed());
    assert_eq!(r.status, PhaseStatus::Failed, "{r:?}");
    assert!(r.message.to_lowercase().contains("connect"), "the message names the connection failure: {}", r.message);
}
