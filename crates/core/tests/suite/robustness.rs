//! Faults the loop tolerates, interruption, run-id reuse and the JSON house style (B6, B15).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harnessgym_core::RunError;
use harnessgym_runners::{Phase, Runner};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::support::{
    RUN_ID, ScriptedAgent, Ws, assert_keys_sorted, blocked, build_run, execute, read_json, request, run,
};

#[tokio::test]
async fn b6_invalid_result_json_mid_run_is_moved_aside_and_the_loop_continues() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| {
            cx.merge_result(json!({"status": "blocked", "summary": "first"}));
        })
        .on(Phase::Reflection, 1, |cx| cx.write_result_raw("{ \"status\": \"blocked\", oops"))
        .arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.iterations = 2;
            r
        },
        &agent,
    )
    .await;

    // The agent's broken file is kept beside the result…
    let aside = done.iteration_dir(1).join("result.invalid-1.json");
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{ \"status\": \"blocked\", oops");
    // …and a fresh result.json rebuilt from the orchestrator's merges.
    let result = done.result(1);
    assert_eq!(result["run_id"], RUN_ID);
    assert_eq!(result["iteration"], 1);
    assert_eq!(result["phases"]["attempt"]["status"], "completed");
    assert_eq!(result["phases"]["reflection"]["status"], "completed");
    assert_eq!(result["phases"]["build"]["status"], "completed");
    let result_path = done.iteration_dir(1).join("result.json");
    let expected_error = |e: &Value| {
        e["iteration"] == 1
            && e["phase"] == "result"
            && e["path"] == result_path.as_str()
            && e["message"].as_str().is_some_and(|m| m.contains(aside.as_str()))
    };
    let in_result = result["errors"].as_array().unwrap();
    assert!(in_result.iter().any(expected_error), "{in_result:?}");
    let summary = done.summary();
    assert!(summary["errors"].as_array().unwrap().iter().any(expected_error), "{}", summary["errors"]);
    // The loop went on.
    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert_eq!(agent.phases_of(2), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn b6_non_object_result_json_is_moved_aside() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, |cx| cx.write_result_raw("[1, 2, 3]\n")).arc();
    let done = run(request(&ws), &agent).await;

    let aside = done.iteration_dir(1).join("result.invalid-1.json");
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), "[1, 2, 3]\n");
    let result = done.result(1);
    assert!(result.is_object());
    // The attempt left no status: the runner fallback applies, then the build rule.
    assert_eq!(result["phases"]["attempt"]["status"], "completed");
    assert_eq!(result["status"], "tooling_built");
    let errors = done.errors_of("result");
    assert!(!errors.is_empty());
    assert!(errors[0]["message"].as_str().unwrap().contains("expected a JSON object"), "{errors:?}");
    assert!(done.outcome.summary_path.is_file());
}

#[tokio::test]
async fn b6_registry_entry_without_kind_is_kept_reported_and_the_run_continues() {
    let ws = Ws::with_files(&[(".harnessgym/tools/ok.py", "print('ok')\n")]);
    let agent = ScriptedAgent::new()
        .on(Phase::Build, 1, |cx| {
            // The agent registers a tool but forgets `kind`.
            let registry = json!({"version": 1, "artifacts": [
                {"kind": "tool", "path": ".harnessgym/tools/ok.py", "description": "fine"},
                {"path": ".harnessgym/docs/no-kind.md", "description": "kindless"}
            ]});
            cx.write(".harnessgym/registry.json", &registry.to_string());
        })
        .arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.iterations = 2;
            r
        },
        &agent,
    )
    .await;

    let errors = done.errors_of("registry");
    assert_eq!(errors.len(), 1, "the same registry problem is recorded once per run: {errors:?}");
    let first = &errors[0];
    assert_eq!(first["iteration"], 1);
    assert!(first["path"].as_str().unwrap().ends_with(".harnessgym/registry.json"), "{first}");
    let message = first["message"].as_str().unwrap();
    assert!(message.contains("kind") && message.contains("no-kind.md"), "{message}");
    // The entry is kept in the file verbatim.
    let registry = read_json(&ws.path(".harnessgym/registry.json"));
    let artifacts = registry["artifacts"].as_array().unwrap();
    assert!(
        artifacts.iter().any(|a| a["path"] == ".harnessgym/docs/no-kind.md" && a.get("kind").is_none()),
        "{registry}"
    );
    // The run went on; the valid entry still reaches the next prompt.
    assert_eq!(agent.phases_of(2), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert!(done.iteration_text(2, "attempt.prompt.txt").contains("- tool: .harnessgym/tools/ok.py - fine"));
    assert_eq!(done.summary()["iterations"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn b15_reusing_a_run_id_fails_and_leaves_the_old_run_alone() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().arc();
    let first = run(request(&ws), &agent).await;
    let summary_before = std::fs::read_to_string(&first.outcome.summary_path).unwrap();
    let calls_before = agent.calls().len();

    let runner: Arc<dyn Runner> = agent.clone();
    let err = build_run(request(&ws), runner).execute().await.expect_err("second run must fail");
    assert!(matches!(&err, RunError::RunIdExists(id) if id == RUN_ID), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "run id {RUN_ID} already exists; pass another --run-id (an interrupted run goes on with --resume {RUN_ID})"
        )
    );
    assert_eq!(agent.calls().len(), calls_before, "no phase ran");
    assert_eq!(std::fs::read_to_string(&first.outcome.summary_path).unwrap(), summary_before);
}

#[tokio::test]
async fn interrupt_during_the_post_command_writes_an_interrupted_summary_promptly() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 3;
        r.options.post_attempt.command = Some("sleep 30".into());
        r.options.post_attempt.timeout = "5m".parse().unwrap();
        r
    };
    let (tx, rx) = watch::channel(false);
    let interrupter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send(true).ok();
        tx
    });
    let runner: Arc<dyn Runner> = agent.clone();
    let started = Instant::now();
    let done = execute(build_run(req, runner).with_cancel(rx)).await;
    let elapsed = started.elapsed();
    drop(interrupter.await);

    assert!(elapsed < Duration::from_secs(15), "run took {elapsed:?} after an interrupt at 1 s");
    assert!(done.outcome.interrupted);
    let summary = done.summary();
    assert_eq!(summary["final_status"], "interrupted");
    assert_eq!(summary["solved"], false);
    assert_eq!(summary["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(agent.phases_of(1), [Phase::Attempt], "no reflection after an interrupt");
    assert!(agent.phases_of(2).is_empty());
    assert_ne!(done.result(1)["post_attempt"]["status"], "completed");
}

#[tokio::test]
async fn interrupt_during_the_baseline_writes_an_interrupted_summary_without_iterations() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.optimization_mode = true;
        r.options.post_attempt.command = Some("sleep 30".into());
        r.options.post_attempt.timeout = "5m".parse().unwrap();
        r
    };
    let (tx, rx) = watch::channel(false);
    let interrupter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send(true).ok();
        tx
    });
    let runner: Arc<dyn Runner> = agent.clone();
    let started = Instant::now();
    let done = execute(build_run(req, runner).with_cancel(rx)).await;
    let elapsed = started.elapsed();
    drop(interrupter.await);

    assert!(elapsed < Duration::from_secs(15), "run took {elapsed:?} after an interrupt at 1 s");
    assert!(agent.calls().is_empty(), "no phase after an interrupted baseline");
    let summary = done.summary();
    assert_eq!(summary["final_status"], "interrupted");
    assert_eq!(summary["iterations"], json!([]));
    assert_eq!(summary["best_score"], json!(null));
    assert_ne!(summary["baseline_post_attempt"]["status"], "completed");
    assert_eq!(summary["best_checkpoint"]["reason"], "no_checkpoint_captured");
}

#[tokio::test]
async fn interrupt_during_a_phase_stops_the_loop_and_writes_the_summary() {
    let ws = Ws::new();
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(Mutex::new(Some(tx)));
    let agent = ScriptedAgent::new()
        .on(Phase::Reflection, 1, move |_cx| {
            if let Some(tx) = tx.lock().unwrap().take() {
                tx.send(true).ok();
            }
        })
        .arc();
    let runner: Arc<dyn Runner> = agent.clone();
    let done = execute(
        build_run(
            {
                let mut r = request(&ws);
                r.options.iterations = 3;
                r
            },
            runner,
        )
        .with_cancel(rx),
    )
    .await;

    assert!(done.outcome.interrupted);
    assert_eq!(done.summary()["final_status"], "interrupted");
    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection], "no build after the interrupt");
    assert!(agent.phases_of(2).is_empty());
    assert!(done.elapsed < Duration::from_secs(30));
}

#[tokio::test]
async fn json_files_use_sorted_keys_two_space_indent_and_a_trailing_newline() {
    let ws = Ws::with_files(&[("post.json", r#"{"status": "passed", "score": 3}"#)]);
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, blocked).arc();
    let req = {
        let mut r = request(&ws);
        r.options.optimization_mode = true;
        r.options.post_attempt.command = Some("cat post.json".into());
        r
    };
    let done = run(req, &agent).await;

    let files = [
        done.outcome.summary_path.clone(),
        done.outcome.run_dir.join("run_config.json"),
        done.iteration_dir(1).join("result.json"),
        done.outcome.run_dir.join("checkpoints/best_manifest.json"),
        ws.path(".harnessgym/registry.json"),
    ];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \""), "{path}: {text}");
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"), "{path}");
        assert!(!text.contains('\t'), "{path}");
        assert_keys_sorted(&text);
        // Exactly serde_json's pretty form (2-space indent) of the sorted document, plus "\n".
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text, format!("{}\n", serde_json::to_string_pretty(&value).unwrap()), "{path}");
    }
    // Timestamps: UTC, no fractional seconds, `+00:00` offset.
    let result = done.result(1);
    for key in ["created_at", "updated_at"] {
        let stamp = result[key].as_str().unwrap();
        assert_eq!(stamp.len(), "2026-11-23T20:25:48+00:00".len(), "{key}: {stamp}");
        assert!(stamp.ends_with("+00:00") && stamp.as_bytes()[10] == b'T' && !stamp.contains('.'), "{key}: {stamp}");
    }
    let summary = std::fs::read_to_string(&done.outcome.summary_path).unwrap();
    let top: Vec<&str> = summary
        .lines()
        .filter_map(|l| l.strip_prefix("  \"").and_then(|r| r.split_once('"')).map(|(k, _)| k))
        .collect();
    let mut sorted = top.clone();
    sorted.sort_unstable();
    assert_eq!(top, sorted);
    assert!(top.len() >= 10 && top.contains(&"best_unverified_score") && top.contains(&"errors"), "{top:?}");
}
