//! §1.9 config construction (statements 5–7).

use camino::Utf8PathBuf;
use harnessgym_core::{RunConfig, RunRequest};

use super::support::Ws;

#[test]
fn task_file_is_read_and_paths_become_absolute() {
    let tmp = Ws::with_files(&[("ws/task.md", "Fix the log-sum-exp.\n")]);
    let req = RunRequest { task: Some("ws/task.md".into()), workspace: "ws".into(), ..Default::default() };
    let config = RunConfig::from_request(req, &tmp.root).unwrap();
    assert_eq!(config.task_text, "Fix the log-sum-exp.\n");
    assert_eq!(config.workspace, tmp.path("ws"));
    assert!(config.workspace.is_absolute());
    let task_path = config.task_path.unwrap();
    assert!(task_path.is_absolute(), "{task_path}");
    assert_eq!(task_path, tmp.path("ws/task.md"));
}

#[test]
fn durations_attempt_build_and_reflection_default() {
    let ws = Ws::new();
    let req = {
        let mut r = RunRequest { task_text: Some("t".into()), workspace: ws.root.to_string(), ..Default::default() };
        r.options.timeouts.attempt = "2m".parse().unwrap();
        r.options.timeouts.build = "30s".parse().unwrap();
        r
    };
    let config = RunConfig::from_request(req, &ws.root).unwrap();
    assert_eq!(config.options.timeouts.attempt.seconds(), 120);
    assert_eq!(config.options.timeouts.build.seconds(), 30);
    // The reflection timeout falls back to the build timeout.
    assert_eq!(config.reflection_timeout().seconds(), 30);
    assert_eq!(config.attempt_timeout_for(1).seconds(), 120);
}

#[test]
fn relative_task_missing_from_cwd_resolves_inside_the_workspace() {
    let tmp = Ws::with_files(&[("ws/task.md", "inside the workspace"), ("elsewhere/.keep", "")]);
    let cwd: Utf8PathBuf = tmp.path("elsewhere");
    let req = RunRequest { task: Some("task.md".into()), workspace: tmp.path("ws").to_string(), ..Default::default() };
    let config = RunConfig::from_request(req, &cwd).unwrap();
    assert_eq!(config.task_path.as_deref(), Some(tmp.path("ws/task.md").as_path()));
    assert_eq!(config.task_text, "inside the workspace");
}

#[test]
fn task_file_with_invalid_utf8_is_read_lossily() {
    let ws = Ws::new();
    std::fs::write(ws.path("task.md"), b"Fix caf\xe9 \xff now\n").unwrap();
    let req =
        RunRequest { task: Some(ws.path("task.md").to_string()), workspace: ws.root.to_string(), ..Default::default() };
    let config = RunConfig::from_request(req, &ws.root).unwrap();
    assert_eq!(config.task_text, "Fix caf\u{FFFD} \u{FFFD} now\n");
}

#[test]
fn a_task_file_without_end_is_refused_at_the_limit_not_read_forever() {
    let ws = Ws::new();
    let mut req = RunRequest { task: Some("/dev/zero".into()), workspace: ws.root.to_string(), ..Default::default() };
    req.options.runner = harnessgym_core::options::RunnerKind::Fake;
    let err = RunConfig::from_request(req, &ws.root).unwrap_err();
    assert!(matches!(err, harnessgym_core::ConfigError::TaskTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("larger than 1048576 bytes"), "{err}");
    // At the limit, a file is still a task.
    std::fs::write(ws.path("big.md"), "x".repeat(1024 * 1024)).unwrap();
    let mut req = RunRequest { task: Some("big.md".into()), workspace: ws.root.to_string(), ..Default::default() };
    req.options.runner = harnessgym_core::options::RunnerKind::Fake;
    assert_eq!(RunConfig::from_request(req, &ws.root).unwrap().task_text.len(), 1024 * 1024);
}
