//! Stop rules, `--build-after-solve`, and the placeholder qualification/activation (§2.2, §2.5,
//! §2.6).

use std::sync::Arc;

use harnessgym_core::hooks::{NOT_RUN_REASON, NotRunQualifier};
use harnessgym_runners::Phase;
use serde_json::json;

use super::support::{ScriptedAgent, Ws, blocked, build_run, execute, f64_of, read_json, request, run};

fn solved_and_verified(cx: &mut super::support::Ctx<'_>) {
    cx.merge_result(json!({"status": "solved", "verified": true, "metrics": {"score": 0.5}}));
}

#[tokio::test]
async fn build_after_solve_reflects_and_builds_then_keeps_solved() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, solved_and_verified)
        // The build agent overwrites the status, as the fake does.
        .on(Phase::Build, 1, |cx| cx.merge_result(json!({"status": "tooling_built", "verified": false})))
        .arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.iterations = 3;
            r.options.build_after_solve = true;
            r
        },
        &agent,
    )
    .await;

    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert!(agent.phases_of(2).is_empty(), "the run stops after the solved iteration");
    let result = done.result(1);
    assert_eq!(result["status"], "solved");
    assert_eq!(result["verified"], true);
    assert_eq!(result["primary_task_solved_before_build"], true);
    assert_eq!(result["phases"]["reflection"]["status"], "completed");
    assert_eq!(result["phases"]["build"]["status"], "completed");
    assert!(result["registry_path"].as_str().unwrap().ends_with(".harnessgym/registry.json"));
    assert!(result["harness_quality_gate"].is_object());
    let summary = done.summary();
    assert_eq!(summary["solved"], true);
    assert_eq!(summary["final_status"], "solved");
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(summary["harness_quality_gates"].as_array().unwrap().len(), 1);
    // Reflection and build resumed the attempt's session.
    let calls = agent.calls();
    assert_eq!(calls[1].session_id.as_deref(), Some("scripted-1"));
    assert_eq!(calls[2].session_id.as_deref(), Some("scripted-1"));
}

#[tokio::test]
async fn solved_without_build_after_solve_stops_before_reflection() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, solved_and_verified).arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.iterations = 3;
            r
        },
        &agent,
    )
    .await;

    assert_eq!(agent.phases_of(1), [Phase::Attempt]);
    assert!(done.result(1).get("primary_task_solved_before_build").is_none());
    assert_eq!(done.summary()["solved"], true);
    // Without a post command, a solved-and-verified result's score counts.
    assert_eq!(f64_of(&done.summary()["best_score"]), 0.5);
}

#[tokio::test]
async fn stop_score_reached_after_attempt_skips_reflect_and_build() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, solved_and_verified).arc();
    // Lower is better by default: 0.5 ≤ 1.0. Even --build-after-solve does not build (§2.2-12).
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 3;
        r.options.stop_score = Some(1.0);
        r.options.build_after_solve = true;
        r
    };
    let done = run(req, &agent).await;

    assert_eq!(agent.phases_of(1), [Phase::Attempt]);
    assert!(agent.phases_of(2).is_empty());
    let result = done.result(1);
    assert!(result["phases"].get("reflection").is_none());
    assert!(result["phases"].get("build").is_none());
    assert!(result.get("primary_task_solved_before_build").is_none());
    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(summary["iterations"][0]["solved"], true);
    assert_eq!(summary["iterations"][0]["reflection"], json!(null));
    assert_eq!(summary["iterations"][0]["build"], json!(null));
    assert_eq!(f64_of(&summary["best_score"]), 0.5);
}

#[tokio::test]
async fn unverified_score_never_reaches_the_stop_score() {
    // Decision: without a post command, only a solved-and-verified result's score counts.
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on_every(Phase::Attempt, |cx| cx.merge_result(json!({"status": "blocked", "metrics": {"score": 0.1}})))
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.stop_score = Some(1.0);
        r
    };
    let done = run(req, &agent).await;

    let summary = done.summary();
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2);
    assert_eq!(summary["solved"], false);
    assert_eq!(summary["best_score"], json!(null));
    assert_eq!(f64_of(&summary["best_unverified_score"]), 0.1);
}

#[tokio::test]
async fn qualification_is_recorded_as_not_run_with_a_reason() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, |cx| cx.write(".harnessgym/tools/t.py", "print(1)\n"))
        .arc();
    // The placeholder qualifier (the default is the clean room: see suite::qualification).
    let done = execute(build_run(request(&ws), agent).with_qualifier(Arc::new(NotRunQualifier))).await;

    let summary = done.summary();
    let reports = summary["artifact_qualification"]["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["iteration"], 1);
    assert_eq!(reports[0]["status"], "not_run");
    let report_path = reports[0]["report_path"].as_str().unwrap();
    let report = read_json(camino::Utf8Path::new(report_path));
    assert_eq!(report["status"], "not_run");
    assert_eq!(report["reason"], NOT_RUN_REASON);
    let in_result = &done.result(1)["artifact_qualification"];
    assert_eq!(in_result["status"], "not_run");
    assert_eq!(in_result["reason"], NOT_RUN_REASON);
    assert_eq!(in_result["report_path"], report_path);
    // Nothing was marked qualified or quarantined.
    let registry = read_json(&ws.path(".harnessgym/registry.json"));
    let tool = &registry["artifacts"][0];
    assert_eq!(tool["path"], ".harnessgym/tools/t.py");
    assert!(tool["metadata"].get("qualification").is_none() && tool["metadata"].get("quarantined").is_none());
}

#[tokio::test]
async fn qualification_off_records_no_reports() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, blocked).arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.qualification.enabled = false;
            r
        },
        &agent,
    )
    .await;
    assert_eq!(done.summary()["artifact_qualification"]["reports"], json!([]));
    assert!(done.result(1).get("artifact_qualification").is_none());
}

#[tokio::test]
async fn activation_smoke_tests_a_built_server_and_keeps_a_broken_one_inactive() {
    // Integration test A7 through the loop: a server without a self-test (and here one that
    // exits at once) is reported but inactive; nothing is configured for the agents.
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, |cx| cx.write(".harnessgym/mcp/srv/mcp.json", r#"{"name": "srv", "command": "false"}"#))
        .arc();
    // Without qualification (which would quarantine the broken server: see suite::qualification).
    let done = run(
        {
            let mut r = request(&ws);
            r.options.qualification.enabled = false;
            r
        },
        &agent,
    )
    .await;

    let before = read_json(&done.iteration_dir(1).join("activation.json"));
    assert_eq!(before["mcp_servers"], json!([]), "nothing was built before the attempt");
    let after = read_json(&done.iteration_dir(1).join("post_build_activation.json"));
    let server = &after["mcp_servers"][0];
    assert_eq!(server["name"], "srv");
    assert_eq!(server["active"], false);
    assert_eq!(server["smoke"]["status"], "failed");
    assert_eq!(server["self_test"]["status"], "not_configured");
    assert_eq!(after["quality_gate"]["status"], "failed");
    assert_eq!(after["quality_gate"]["inactive_mcp_count"], 1);
    assert_eq!(after["quality_gate"]["active_tool_count"], 0);
    let registry = read_json(&ws.path(".harnessgym/registry.json"));
    assert_eq!(registry["artifacts"][0]["kind"], "mcp");
    assert!(!ws.exists(".codex/config.toml"));
    assert!(!ws.exists(".harnessgym/claude_mcp_config.json"));
    let usage = &done.summary()["harness_usage"][0];
    assert_eq!(usage["active_mcp_count"], 0);
    assert_eq!(usage["active_tool_count"], 0);
}
