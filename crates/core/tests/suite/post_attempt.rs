//! Post-attempt commands through the loop (§4.2, §4.4, §4.5; statements 23–25; B2, B4, B5, B17).

use harnessgym_core::RunRequest;
use harnessgym_runners::fake::FakeRunner;
use harnessgym_runners::{Phase, PhaseStatus};
use serde_json::json;

use super::support::{ScriptedAgent, Ws, blocked, build_run, execute, f64_of, request, run};

fn with_post(ws: &Ws, command: &str) -> RunRequest {
    {
        let mut r = request(ws);
        r.options.post_attempt.command = Some(command.into());
        r
    }
}

#[tokio::test]
async fn statement_23_non_json_stdout_does_not_mark_solved() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, blocked).arc();
    let done = run(with_post(&ws, "echo all good"), &agent).await;

    let result = done.result(1);
    assert_ne!(result["verification"]["status"], "passed");
    assert_eq!(result["verified"], false);
    assert_eq!(result["post_attempt"]["json"], json!(null));
    let summary = done.summary();
    assert_eq!(summary["solved"], false);
    assert_eq!(summary["iterations"][0]["solved"], false);
    assert_ne!(summary["final_status"], "solved");
    // The agent went on to reflect and build: the iteration was not treated as solved.
    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    // The reason names the stdout file.
    let stdout_path = done.iteration_dir(1).join("post_attempt.stdout.txt");
    let errors = done.errors_of("post_attempt");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["message"].as_str().unwrap().contains(stdout_path.as_str()), "{errors:?}");
}

#[tokio::test]
async fn statement_24_passing_post_command_turns_a_blocked_fake_attempt_into_solved() {
    let ws = Ws::new();
    let req = {
        let mut r = with_post(&ws, r#"echo '{"status":"passed","score":1}'"#);
        r.options.iterations = 3;
        r
    };
    let done = execute(build_run(req, std::sync::Arc::new(FakeRunner))).await;

    let result = done.result(1);
    assert_eq!(result["status"], "solved");
    assert_eq!(result["verified"], true);
    assert_eq!(result["verification"]["status"], "passed");
    assert_eq!(f64_of(&result["metrics"]["score"]), 1.0);
    // The fake agent itself said `blocked`.
    assert_eq!(result["phases"]["attempt"]["status"], "blocked");
    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(summary["solved"], true);
    assert_eq!(summary["final_status"], "solved");
    assert_eq!(summary["iterations"][0]["reflection"], json!(null), "solved: no reflection");
    assert_eq!(f64_of(&summary["best_score"]), 1.0);
}

#[tokio::test]
async fn statement_25_log_line_before_the_json_is_not_json() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, blocked).arc();
    let done = run(with_post(&ws, r#"echo 'benchmark starting'; echo '{"status":"passed","score":1}'"#), &agent).await;

    let result = done.result(1);
    assert_eq!(result["post_attempt"]["status"], "completed");
    assert_eq!(result["post_attempt"]["json"], json!(null));
    assert_ne!(result["verification"]["status"], "passed");
    assert_eq!(result["verified"], false);
    assert!(result.get("metrics").is_none(), "no metrics from a non-passing check: {result}");
    assert_eq!(done.summary()["solved"], false);
    assert_eq!(done.summary()["best_score"], json!(null));
    let stdout_path = done.iteration_dir(1).join("post_attempt.stdout.txt");
    let errors = done.errors_of("post_attempt");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains(stdout_path.as_str()), "{message}");
    assert!(message.contains("log lines come before the JSON"), "{message}");
    // The error is in result.json too.
    let in_result = result["errors"].as_array().unwrap();
    assert!(in_result.iter().any(|e| e["phase"] == "post_attempt" && e["iteration"] == 1), "{in_result:?}");
}

#[tokio::test]
async fn post_command_with_empty_stdout_does_not_pass_and_names_the_file() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| cx.merge_result(json!({"status": "solved", "verified": true})))
        .arc();
    let done = run(with_post(&ws, "echo only-stderr >&2"), &agent).await;

    let result = done.result(1);
    // A configured check is authoritative (B4): the agent's claim is overridden.
    assert_eq!(result["verified"], false);
    assert_ne!(result["verification"]["status"], "passed");
    assert_eq!(done.summary()["solved"], false);
    let stdout_path = done.iteration_dir(1).join("post_attempt.stdout.txt");
    let errors = done.errors_of("post_attempt");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains(stdout_path.as_str()) && message.contains("printed nothing"), "{message}");
}

#[tokio::test]
async fn b2_failed_post_command_never_makes_the_run_solved() {
    // Reference: the failed check's score 0.5 reaches the stop score 1.0 and the run ends
    // "solved". Ours: only a passing check's score counts.
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    let req = {
        let mut r = with_post(&ws, r#"echo '{"score": 0.5}'; exit 1"#);
        r.options.iterations = 2;
        r.options.stop_score = Some(1.0);
        r
    };
    let done = run(req, &agent).await;

    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2, "the failed check must not stop the run");
    assert_eq!(summary["solved"], false);
    assert_eq!(summary["iterations"][0]["solved"], false);
    assert_eq!(summary["best_score"], json!(null));
    assert_eq!(f64_of(&summary["best_unverified_score"]), 0.5);
    let result = done.result(1);
    assert_eq!(result["post_attempt"]["status"], "failed");
    assert_eq!(f64_of(&result["post_attempt"]["score"]), 0.5);
    assert_eq!(result["verification"]["status"], "failed");
    assert!(result.get("metrics").is_none(), "a failed check's score is not a metric: {result}");
    assert_ne!(result["status"], "solved");
    assert_eq!(result["verified"], false);
}

#[tokio::test]
async fn b2_failed_post_command_in_optimization_mode_is_not_solved() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    let req = {
        let mut r = with_post(&ws, r#"echo '{"status": "failed", "score": 0.5}'"#);
        r.options.iterations = 2;
        r.options.stop_score = Some(1.0);
        r.options.optimization_mode = true;
        r
    };
    let done = run(req, &agent).await;
    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2);
    assert_eq!(summary["solved"], false);
    for i in 1..=2 {
        let result = done.result(i);
        assert_ne!(result["status"], "solved", "iteration {i}: {result}");
        assert_eq!(result["optimization"]["current_score"], json!(null));
    }
    assert_eq!(summary["best_checkpoint"]["captures"], json!([]));
}

#[tokio::test]
async fn b4_failed_post_command_overrides_the_agents_solved_claim() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on_every(Phase::Attempt, |cx| {
            cx.merge_result(json!({"status": "solved", "verified": true, "verification": {"status": "passed"}}));
        })
        .arc();
    let req = {
        let mut r = with_post(&ws, r#"echo '{"status":"failed"}'; exit 1"#);
        r.options.iterations = 2;
        r
    };
    let done = run(req, &agent).await;

    let result = done.result(1);
    assert_eq!(result["verified"], false, "verified: false is written over the claim");
    assert_eq!(result["verification"]["status"], "failed");
    assert_eq!(result["agent_claimed_status"], "solved", "the refuted claim is kept beside the status");
    assert_ne!(result["status"], "solved", "a refuted claim never reads as solved");
    let summary = done.summary();
    assert_ne!(summary["final_status"], "solved");
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2, "a refuted claim does not stop the run");
    assert_eq!(summary["iterations"][0]["solved"], false);
    assert_eq!(summary["solved"], false);
    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
}

#[tokio::test]
async fn b5_agent_top_level_score_cannot_shadow_the_post_score() {
    // The agent claims score 0 (which would reach the lower-is-better stop 1.0); the independent
    // check measures 7.
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on_every(Phase::Attempt, |cx| {
            cx.merge_result(json!({"status": "solved", "verified": true, "score": 0.0}));
        })
        .arc();
    let req = {
        let mut r = with_post(&ws, r#"echo '{"status":"passed","score":7}'"#);
        r.options.iterations = 2;
        r.options.stop_score = Some(1.0);
        r
    };
    let done = run(req, &agent).await;

    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2, "the agent's 0.0 must not reach the stop score");
    assert_eq!(summary["solved"], false);
    assert_eq!(f64_of(&summary["best_score"]), 7.0);
    let result = done.result(1);
    assert_eq!(f64_of(&result["metrics"]["score"]), 7.0);
    assert_eq!(f64_of(&result["verification"]["score"]), 7.0);
}

#[tokio::test]
async fn b17_non_utf8_output_is_decoded_lossily() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| {
            cx.stdout = b"agent says \xff\xfe and stops\n".to_vec();
            cx.stderr = b"\x80\x81 raw bytes".to_vec();
            // The agent's own result.json holds an invalid byte inside a string.
            cx.write_result_raw(b"{\"status\": \"blocked\", \"summary\": \"na\xefve \xff\"}");
            cx.status = PhaseStatus::Blocked;
        })
        .arc();
    // stdout: a JSON object whose string holds an invalid byte; stderr: garbage.
    let command = r#"printf '{"status":"passed","score":2,"note":"caf\377"}'; printf '\376\377\200garbage' >&2"#;
    let done = run(with_post(&ws, command), &agent).await;

    let result = done.result(1);
    assert_eq!(result["post_attempt"]["status"], "completed");
    assert_eq!(result["post_attempt"]["json"]["note"], "caf\u{FFFD}");
    assert_eq!(result["verification"]["status"], "passed");
    assert_eq!(result["status"], "solved");
    assert_eq!(f64_of(&result["metrics"]["score"]), 2.0);
    assert_eq!(result["summary"], "na\u{FFFD}ve \u{FFFD}", "the agent's text survives, decoded lossily");
    assert!(!done.iteration_dir(1).join("result.invalid-1.json").exists());
    let summary = done.summary();
    assert_eq!(summary["solved"], true);
    assert_eq!(summary["errors"], json!([]));
    assert!(done.iteration_text(1, "attempt.stdout.txt").contains("agent says \u{FFFD}\u{FFFD} and stops"));
    // The raw bytes are kept on disk.
    let stderr = std::fs::read(done.iteration_dir(1).join("post_attempt.stderr.txt")).unwrap();
    assert!(stderr.starts_with(b"\xfe\xff\x80"), "{stderr:?}");
}
