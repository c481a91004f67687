//! Clean-room qualification through the loop (core.md §2.6; integration.md §5): the default
//! `CleanRoomQualifier` with real MCP server processes (the fixture server of harnessgym-mcp),
//! the repair phase in the build session, precise quarantine, the run's one room.

use std::sync::Arc;

use camino::Utf8Path;
use harnessgym_core::RunRequest;
use harnessgym_runners::Phase;
use harnessgym_runners::fake::{FakeRunner, PROBE_PATH};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::support::{Ctx, ScriptedAgent, Ws, blocked, build_run, execute, read_json, request, run};

const MCP: &str = ".harnessgym/mcp/ir-tools/harnessgym-mcp.json";
const SERVER: &str = ".harnessgym/mcp/ir-tools/server.py";

fn fixture_server() -> String {
    let path = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures/mcp_server.py");
    std::fs::read_to_string(path).unwrap()
}

/// Writes the fixture server and a manifest whose self-test passes or fails.
fn build_server(cx: &Ctx<'_>, self_test_passes: bool) {
    cx.write(SERVER, &fixture_server());
    let self_test = if self_test_passes {
        json!(true)
    } else {
        json!(["python3", "-c", "import sys; print('expected 42, got 41'); sys.exit(1)"])
    };
    let manifest = json!({"name": "ir-tools", "command": "python3", "args": [SERVER], "self_test": self_test});
    cx.write(MCP, &manifest.to_string());
}

fn is_repair(cx: &Ctx<'_>) -> bool {
    cx.req.phase_dir.file_name().is_some_and(|n| n.starts_with("repair_"))
}

fn entry(ws: &Ws, path: &str) -> Value {
    let registry = read_json(&ws.path(".harnessgym/registry.json"));
    registry["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("{path} not registered: {registry}"))
}

fn room(done: &super::support::Done) -> camino::Utf8PathBuf {
    done.outcome.run_dir.join("qualification/room")
}

#[tokio::test]
async fn failing_self_test_is_repaired_in_the_same_session_then_passes() {
    let ws = Ws::with_files(&[("task.md", "Fix it.\n")]);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, |cx| {
            if is_repair(cx) {
                // The repair can inspect the failure in the room, which is still on disk.
                let report =
                    cx.read(".harnessgym/runs/test-run/iterations/1/qualification/attempt_1/qualification.json");
                let report: Value = serde_json::from_str(&report.unwrap()).unwrap();
                let room = Utf8Path::new(report["fresh_workspace"].as_str().unwrap());
                assert!(room.join(MCP).is_file(), "the room is kept for the repair to inspect");
                build_server(cx, true);
            } else {
                build_server(cx, false);
            }
        })
        .arc();
    let done = run(request(&ws), &agent).await;

    // build_tooling twice: the build and one repair, resuming the build's session.
    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build, Phase::Build]);
    let calls = agent.calls();
    assert_eq!(calls[3].session_id, calls[2].session_id);
    assert_eq!(calls[3].phase_dir, done.iteration_dir(1).join("repair_1"));
    assert!(calls[3].prompt.contains("repair attempt 1") && calls[3].prompt.contains("expected 42, got 41"));

    // The artifact: qualified, no quarantine.
    let e = entry(&ws, MCP);
    assert_eq!(e["metadata"]["qualification"]["status"], "passed");
    assert_eq!(e["metadata"]["qualification"]["iteration"], 1);
    assert!(e["metadata"].get("quarantine").is_none() && e["metadata"].get("quarantined").is_none());

    // The post-build activation gate in the workspace: passed, the server's tools active (the
    // reference's test server had 1 tool; the fixture server has 3).
    let after = read_json(&done.iteration_dir(1).join("post_build_activation.json"));
    assert_eq!(after["quality_gate"]["status"], "passed", "{after}");
    assert_eq!(after["quality_gate"]["active_mcp_count"], 1);
    assert_eq!(after["quality_gate"]["active_tool_count"], 3);

    // result.json and the summary.
    let result = done.result(1);
    assert_eq!(result["artifact_qualification"]["status"], "passed");
    assert_eq!(result["artifact_qualification"]["qualified_artifacts"], json!([MCP]));
    assert_eq!(result["phases"]["repair_1"]["status"], "completed");
    let rows = done.summary()["artifact_qualification"]["reports"].as_array().unwrap().clone();
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "passed"], "one summary row per attempt");
    assert_eq!(rows[0]["failed_artifacts"], json!([MCP]));
    assert_eq!(rows[1]["active_tool_count"], 3);
    assert_eq!(rows[0]["fresh_workspace"], rows[1]["fresh_workspace"], "one room per run");
    for (k, row) in rows.iter().enumerate() {
        let path = done.iteration_dir(1).join(format!("qualification/attempt_{}/qualification.json", k + 1));
        assert_eq!(row["report_path"], path.as_str());
        assert!(path.is_file());
    }
    // The room is gone at the end; the template stays.
    assert!(!room(&done).exists());
    let template = done.outcome.run_dir.join("qualification/workspace_template");
    assert!(harnessgym_snapshot::snapshot_file(&template, "task.md").unwrap().is_some());
    assert_eq!(done.summary()["artifact_qualification"]["template"]["files"], json!(["task.md"]));
}

#[tokio::test]
async fn without_repairs_the_failing_server_is_quarantined_and_hidden() {
    let ws = Ws::new();
    let agent =
        ScriptedAgent::new().on_every(Phase::Attempt, blocked).on(Phase::Build, 1, |cx| build_server(cx, false)).arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.qualification.repair_attempts = 0;
        r
    };
    let done = run(req, &agent).await;

    assert_eq!(agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build], "no repair");
    let e = entry(&ws, MCP);
    assert_eq!(e["metadata"]["quarantined"], true);
    assert_eq!(e["metadata"]["quarantine"]["status"], "quarantined");
    let reason = e["metadata"]["quarantine"]["reason"].as_str().unwrap();
    assert!(reason.contains("self-test exited 1"), "its own failure reason: {reason}");
    let q = &done.result(1)["artifact_qualification"];
    assert_eq!(q["status"], "failed");
    assert_eq!(q["quarantined_artifacts"], json!([MCP]));

    let prompt = done.iteration_text(2, "attempt.prompt.txt");
    assert!(prompt.contains("quarantined artifact(s) are hidden"), "{prompt}");
    assert!(!prompt.contains(&format!("- mcp: {MCP}")), "{prompt}");
    // Not activated for the next session either.
    let before_2 = read_json(&done.iteration_dir(2).join("activation.json"));
    assert_eq!(before_2["mcp_servers"], json!([]));
    assert_eq!(before_2["quarantined_artifacts"][0]["path"], MCP);
}

#[tokio::test]
async fn old_broken_artifact_neither_fails_nor_quarantines_healthy_new_ones() {
    // Deliberately different (decisions.md "Qualification"): verdicts are per artifact. The
    // reference re-tested the old server, failed the iteration and quarantined the new tool.
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on_every(Phase::Attempt, blocked)
        .on(Phase::Build, 1, |cx| build_server(cx, false))
        .on(Phase::Build, 2, |cx| cx.write(".harnessgym/tools/probe.py", "print('probe')\n"))
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 3;
        r.options.qualification.repair_attempts = 0;
        r
    };
    let done = run(req, &agent).await;

    let old = entry(&ws, MCP);
    assert_eq!(old["metadata"]["quarantine"]["iteration"], 1, "quarantined by iteration 1 …");
    let first_report = old["metadata"]["quarantine"]["report_path"].as_str().unwrap().to_owned();
    assert!(first_report.contains("/iterations/1/"), "… and not re-quarantined later: {first_report}");

    let second = &done.result(2)["artifact_qualification"];
    assert_eq!(second["status"], "passed", "{second}");
    assert_eq!(second["failed_artifacts"], json!([]), "the old server is not blamed");
    assert!(second.get("quarantined_artifacts").is_none());
    let old_verdict = second["verdicts"].as_array().unwrap().iter().find(|v| v["path"] == MCP).unwrap();
    assert_eq!((old_verdict["status"].as_str(), old_verdict["counted"].as_bool()), (Some("failed"), Some(false)));
    let probe = entry(&ws, ".harnessgym/tools/probe.py");
    assert_eq!(probe["metadata"]["qualification"]["status"], "passed");
    assert!(probe["metadata"].get("quarantined").is_none());

    // Iteration 3 built nothing: nothing quarantined, the report passes.
    let third = &done.result(3)["artifact_qualification"];
    assert_eq!(third["status"], "passed");
    assert_eq!(third["failed_artifacts"], json!([]));
    let rows = done.summary()["artifact_qualification"]["reports"].as_array().unwrap().clone();
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "passed", "passed"]);
}

#[tokio::test]
async fn fake_demo_run_has_one_gate_row_no_best_score_and_one_passed_qualification() {
    let example = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/numerical-debug");
    let ws = Ws::new();
    for name in ["numerics.py", "task.md", "verifier.py"] {
        std::fs::copy(example.join(name), ws.path(name)).unwrap();
    }
    let req = {
        let mut r = RunRequest { task: Some(ws.path("task.md").to_string()), task_text: None, ..request(&ws) };
        r.options.iterations = 2;
        r
    };
    let done = execute(build_run(req, Arc::new(FakeRunner))).await;

    let summary = done.summary();
    let gates = summary["harness_quality_gates"].as_array().unwrap();
    assert_eq!(gates.len(), 1, "{gates:?}");
    assert_eq!(gates[0]["iteration"], 1);
    assert_eq!(summary["best_score"], Value::Null);
    let rows = summary["artifact_qualification"]["reports"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "passed");
    assert_eq!(rows[0]["iteration"], 1);
    assert_eq!(entry(&ws, PROBE_PATH)["metadata"]["qualification"]["status"], "passed");
    let template = &summary["artifact_qualification"]["template"];
    assert_eq!(template["files"], json!(["numerics.py", "task.md", "verifier.py"]));
}

#[tokio::test]
async fn the_room_is_removed_at_the_end_unless_kept() {
    for keep in [false, true] {
        let ws = Ws::new();
        let agent = ScriptedAgent::new()
            .on(Phase::Attempt, 1, blocked)
            .on(Phase::Build, 1, |cx| cx.write(".harnessgym/tools/probe.py", "print(1)\n"))
            .arc();
        let done = run(
            {
                let mut r = request(&ws);
                r.options.qualification.keep_rooms = keep;
                r
            },
            &agent,
        )
        .await;
        assert_eq!(done.result(1)["artifact_qualification"]["status"], "passed");
        assert_eq!(room(&done).exists(), keep, "keep = {keep}");
        if keep {
            assert!(room(&done).join(".harnessgym/tools/probe.py").is_file(), "a kept room holds real files");
        }
        let config = read_json(&done.outcome.run_dir.join("run_config.json"));
        assert_eq!(config["keep_qualification_rooms"], keep);
    }
}

#[tokio::test]
async fn the_room_is_removed_after_an_interrupt() {
    let ws = Ws::new();
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, move |cx| {
            if is_repair(cx) {
                // Ctrl-C arrives during the repair.
                let _ = tx.send(true);
            } else {
                build_server(cx, false);
            }
        })
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r
    };
    let done = execute(build_run(req, agent.clone()).with_cancel(rx)).await;

    assert!(done.outcome.interrupted);
    assert_eq!(done.summary()["final_status"], "interrupted");
    assert!(agent.phases_of(2).is_empty());
    assert!(!room(&done).exists(), "removed after the interrupt too");
}

#[tokio::test]
async fn qualification_off_makes_no_template_and_no_room() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, |cx| cx.write(".harnessgym/tools/probe.py", "print(1)\n"))
        .arc();
    let done = run(
        {
            let mut r = request(&ws);
            r.options.qualification.enabled = false;
            r.options.qualification.keep_rooms = true;
            r
        },
        &agent,
    )
    .await;
    assert!(!done.outcome.run_dir.join("qualification").exists());
    assert_eq!(done.summary()["artifact_qualification"], json!({"template": null, "reports": []}));
}

/// The template is derived from the task-state snapshot (`--task-state reset`), under the copy
/// policy; the room is cleaned in the background between uses, and every qualification still
/// starts from a room equal to the template: each iteration's new server has a self-test that
/// fails when it finds what an earlier iteration's self-test left in the room.
#[tokio::test]
async fn every_qualification_gets_a_clean_room_and_a_derived_template_follows_the_copy_policy() {
    let ws = Ws::with_files(&[
        ("keep.txt", "kept\n"),
        (".git/HEAD", "ref: refs/heads/main\n"),
        ("src/__pycache__/m.cpython-311.pyc", "bytecode"),
        ("src/m.py", "x = 1\n"),
    ]);
    let agent = ScriptedAgent::new()
        .on_every(Phase::Attempt, blocked)
        .on_every(Phase::Build, move |cx| {
            let i = cx.req.iteration;
            let dir = format!(".harnessgym/mcp/tools-{i}");
            cx.write(&format!("{dir}/server.py"), &fixture_server());
            // Every qualification re-tests every artifact in the room (its working directory):
            // this self-test fails when its own mark from an earlier qualification is still there.
            let script = format!(
                "import os, sys\np = 'scribble-{i}.txt'\nfound = os.path.exists(p)\nopen(p, 'w').write('x')\n\
                 sys.exit(1 if found else 0)\n"
            );
            let manifest = json!({
                "name": format!("tools-{i}"), "command": "python3", "args": [format!("{dir}/server.py")],
                "self_test": ["python3", "-c", script],
            });
            cx.write(&format!("{dir}/harnessgym-mcp.json"), &manifest.to_string());
        })
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 3;
        r.options.task_state = "reset".parse().unwrap();
        r.options.qualification.repair_attempts = 0;
        r
    };
    let done = run(req, &agent).await;
    let summary = done.summary();
    let statuses: Vec<&str> = summary["artifact_qualification"]["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "passed", "passed"], "{summary}");
    for i in 1..=3 {
        let report = read_json(&done.iteration_dir(i).join("qualification/attempt_1/qualification.json"));
        let names: Vec<&str> =
            report["copied_artifacts"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(names.iter().any(|n| n.contains(&format!("tools-{i}"))), "iteration {i}: {names:?}");
        let servers = report["activation"]["mcp_servers"].as_array().unwrap();
        assert!(servers.iter().all(|s| s["cwd"] == room(&done).as_str()), "self-tests run in the room");
        assert_eq!(servers.len(), i as usize, "iteration {i} re-tests every server");
        for server in servers {
            assert_eq!(server["self_test"]["status"], "passed", "iteration {i}: {server}");
        }
    }
    assert_eq!(summary["artifact_qualification"]["template"]["files"], json!(["keep.txt", "src/m.py"]));
    assert!(!room(&done).exists(), "removed at the end");
}

/// A registry that needs the task's files in the room (a skill kept among them) starts the room's
/// copy at run start, in the background; a Ctrl-C before the first qualification stops that copy
/// and removes whatever it wrote — no room, no staging, nothing for the next run to finish.
#[tokio::test]
async fn an_interrupt_while_the_room_is_copied_leaves_no_room_and_nothing_to_finish() {
    let mut files: Vec<(String, String)> = (0..3000).map(|i| (format!("data/f{i}.txt"), format!("{i}\n"))).collect();
    files.push(("docs/SKILL.md".into(), "---\nname: notes\ndescription: Notes.\n---\nBody\n".into()));
    files.push((
        ".harnessgym/registry.json".into(),
        json!({"version": 1, "metadata": {}, "artifacts": [
            {"id": "skill:docs/SKILL.md", "kind": "skill", "path": "docs/SKILL.md", "iteration": null, "metadata": {}}
        ]})
        .to_string(),
    ));
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let ws = Ws::with_files(&refs);
    let (tx, rx) = watch::channel(false);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, move |_| {
            let _ = tx.send(true);
        })
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.task_state = "reset".parse().unwrap();
        r
    };
    let done = execute(build_run(req, agent.clone()).with_cancel(rx)).await;

    assert!(done.outcome.interrupted);
    assert!(!room(&done).exists(), "removed, copied or not");
    let qualification = done.outcome.run_dir.join("qualification");
    let left: Vec<String> = std::fs::read_dir(&qualification)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("workspace_template"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no staging or marker left beside the template");
    let journal = ws.path(".harnessgym/store/journal");
    assert_eq!(std::fs::read_dir(&journal).unwrap().count(), 0, "nothing for the next open to finish");
}

#[tokio::test]
async fn a_cancel_during_a_hanging_self_test_ends_the_run_at_once() {
    let ws = Ws::new();
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, blocked)
        .on(Phase::Build, 1, move |cx| {
            // A server whose self-test never ends (its timeout: two minutes).
            cx.write(SERVER, &fixture_server());
            let manifest = json!({"name": "ir-tools", "command": "python3", "args": [SERVER],
                "self_test": ["sleep", "973"], "self_test_timeout_sec": 120});
            cx.write(MCP, &manifest.to_string());
            // Ctrl-C once qualification is under way.
            let tx = Arc::clone(&tx);
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(1500));
                let _ = tx.send(true);
            });
        })
        .arc();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.qualification.repair_attempts = 0;
        r
    };
    let done = execute(build_run(req, agent.clone()).with_cancel(rx)).await;

    assert!(done.outcome.interrupted);
    assert!(
        done.elapsed < std::time::Duration::from_secs(10),
        "the cancel waited for the self-test: {:?}",
        done.elapsed
    );
    assert!(!harnessgym_test_support::process::is_running(&["sleep", "973"]), "the self-test outlived the run");
}
