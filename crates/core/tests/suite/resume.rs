//! `run --resume` (snapshot issue, item 7): a run cut short goes on from its last completed phase
//! with the recorded configuration, state and session ids; completed phases are not repeated.

use std::sync::{Arc, Mutex};

use harnessgym_core::{Resumable, ResumeError, Run, RunRequest};
use harnessgym_runners::{Phase, Runner};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::support::*;

/// A step that interrupts the run (as Ctrl-C would) while the phase is running.
fn interrupting(tx: &Arc<Mutex<Option<watch::Sender<bool>>>>) -> impl Fn(&mut Ctx<'_>) + Send + Sync + 'static {
    let tx = Arc::clone(tx);
    move |_ctx| {
        if let Some(tx) = tx.lock().unwrap().as_ref() {
            tx.send(true).ok();
        }
    }
}

/// Runs `req` with `agent`, interrupted by whatever step sends on the returned channel.
async fn run_interrupted(
    req: RunRequest,
    agent: impl FnOnce(&Arc<Mutex<Option<watch::Sender<bool>>>>) -> Arc<ScriptedAgent>,
) -> (Done, Arc<ScriptedAgent>) {
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(Mutex::new(Some(tx)));
    let agent = agent(&tx);
    let runner: Arc<dyn Runner> = agent.clone();
    let done = execute(build_run(req, runner).with_cancel(rx)).await;
    assert!(done.outcome.interrupted, "the first run was meant to be interrupted");
    (done, agent)
}

async fn resume(ws: &Ws, agent: &Arc<ScriptedAgent>) -> Done {
    let resumable = Resumable::load(&ws.root, RUN_ID).expect("resumable");
    let config = resumable.config().expect("recorded config");
    let runner: Arc<dyn Runner> = agent.clone();
    execute(Run::new(config, runner).with_resume(resumable)).await
}

fn progress(ws: &Ws) -> Value {
    read_json(&ws.path(&format!(".harnessgym/runs/{RUN_ID}/progress.json")))
}

fn sessions_of(agent: &ScriptedAgent, iteration: u32) -> Vec<(Phase, Option<String>)> {
    agent.calls().into_iter().filter(|c| c.iteration == iteration).map(|c| (c.phase, c.session_id)).collect()
}

#[tokio::test]
async fn an_interrupted_reflection_is_repeated_in_the_attempts_session_and_the_attempt_is_not() {
    let ws = Ws::new();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r
    };
    let (first, _) = run_interrupted(req, |tx| {
        ScriptedAgent::new().on_every(Phase::Attempt, blocked).on(Phase::Reflection, 1, interrupting(tx)).arc()
    })
    .await;
    assert_eq!(first.summary()["final_status"], "interrupted");
    let p = progress(&ws);
    assert_eq!(p["in_flight"]["iteration"], 1);
    assert_eq!(p["in_flight"]["stage"], "attempted", "the interrupted reflection is not a completed phase");
    assert_eq!(p["loop_finished"], false);

    let again = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    let done = resume(&ws, &again).await;
    assert!(!done.outcome.interrupted);
    assert_eq!(
        sessions_of(&again, 1),
        [(Phase::Reflection, Some("scripted-1".into())), (Phase::Build, Some("scripted-1".into()))],
        "iteration 1 goes on in the attempt's recorded session, without a new attempt"
    );
    assert_eq!(again.phases_of(2), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    let summary = done.summary();
    assert_eq!(summary["final_status"], "tooling_built");
    let rows = summary["iterations"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["attempt"]["status"], "blocked", "the first run's attempt is kept");
    assert_eq!(rows[0]["reflection"]["status"], "completed");
    assert_eq!(done.result(1)["phases"]["attempt"]["status"], "blocked");
    assert_eq!(done.result(1)["phases"]["build"]["status"], "completed");
    assert_eq!(progress(&ws)["loop_finished"], true);
}

#[tokio::test]
async fn an_interrupted_build_is_repeated_in_the_reflections_session() {
    let ws = Ws::new();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 1;
        r
    };
    let (_, first_agent) = run_interrupted(req, |tx| {
        ScriptedAgent::new().on_every(Phase::Attempt, blocked).on(Phase::Build, 1, interrupting(tx)).arc()
    })
    .await;
    assert_eq!(first_agent.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert_eq!(progress(&ws)["in_flight"]["stage"], "reflected");

    let again = ScriptedAgent::new().arc();
    let done = resume(&ws, &again).await;
    assert_eq!(sessions_of(&again, 1), [(Phase::Build, Some("scripted-1".into()))]);
    assert_eq!(done.statuses(), ["tooling_built"]);
}

#[tokio::test]
async fn an_interrupted_attempt_starts_its_iteration_over_from_the_task_state() {
    let ws = Ws::with_files(&[("work.txt", "todo\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.task_state = "reset".parse().unwrap();
        r
    };
    let (first, _) = run_interrupted(req, |tx| {
        let interrupt = interrupting(tx);
        ScriptedAgent::new()
            .on(Phase::Attempt, 1, move |ctx| {
                ctx.write("work.txt", "half-done edit\n");
                interrupt(ctx);
            })
            .arc()
    })
    .await;
    assert_eq!(first.summary()["iterations"].as_array().unwrap().len(), 1, "the summary shows how far it got");
    assert_eq!(progress(&ws)["iterations"], serde_json::json!([]), "nothing of iteration 1 completed");
    assert_eq!(progress(&ws)["in_flight"], Value::Null);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_attempt = Arc::clone(&seen);
    let again = ScriptedAgent::new()
        .on_every(Phase::Attempt, move |ctx| seen_in_attempt.lock().unwrap().push(ctx.read("work.txt")))
        .arc();
    let done = resume(&ws, &again).await;
    assert_eq!(again.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
    assert_eq!(seen.lock().unwrap()[0].as_deref(), Some("todo\n"), "the resumed attempt starts from the task state");
    assert_eq!(done.summary()["iterations"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_baseline_and_best_score_are_not_recomputed_on_resume() {
    let ws = Ws::with_files(&[("post.json", "{\"status\": \"passed\", \"score\": 10}\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.optimization_mode = true;
        r.options.higher_is_better = true;
        r.options.post_attempt.command = Some("echo run >> post_runs.log; cat post.json".into());
        r
    };
    let (_, _) = run_interrupted(req, |tx| {
        let interrupt = interrupting(tx);
        ScriptedAgent::new()
            .on(Phase::Attempt, 1, |ctx| post_passes(ctx, "score", 5.0))
            .on(Phase::Attempt, 2, move |ctx| {
                post_passes(ctx, "score", 7.0);
                interrupt(ctx);
            })
            .arc()
    })
    .await;
    // Baseline and iteration 1: two post runs before the interrupt (none after it).
    let runs_before = ws.read("post_runs.log").lines().count();

    let again = ScriptedAgent::new().on(Phase::Attempt, 2, |ctx| post_passes(ctx, "score", 30.0)).arc();
    let done = resume(&ws, &again).await;
    assert_eq!(again.phases_of(1), Vec::<Phase>::new());
    let summary = done.summary();
    assert_eq!(summary["optimization"]["baseline_score"], 10.0, "the recorded baseline");
    assert_eq!(summary["best_score"], 30.0);
    let captures = summary["best_checkpoint"]["captures"].as_array().unwrap();
    let reasons: Vec<&str> = captures.iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["baseline_post_attempt_passed", "post_attempt_best_score"]);
    assert_eq!(captures[1]["iteration"], 2);
    // Resumed: iteration 2's post command and the check after restoring the best checkpoint.
    assert_eq!(ws.read("post_runs.log").lines().count(), runs_before + 2);
}

#[tokio::test]
async fn a_finished_run_an_unknown_run_and_a_run_without_progress_are_refused() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    run(request(&ws), &agent).await;

    let finished = Resumable::load(&ws.root, RUN_ID).unwrap_err();
    assert!(matches!(finished, ResumeError::Finished { .. }), "{finished}");
    assert!(finished.to_string().contains("already finished"), "{finished}");

    let unknown = Resumable::load(&ws.root, "no-such-run").unwrap_err();
    assert!(matches!(unknown, ResumeError::NoRun { .. }), "{unknown}");
    for not_a_run in ["..", ".", "../runs", ""] {
        let err = Resumable::load(&ws.root, not_a_run).unwrap_err();
        assert!(matches!(err, ResumeError::NoRun { .. }), "{not_a_run:?}: {err}");
    }

    std::fs::create_dir_all(ws.path(".harnessgym/runs/old")).unwrap();
    let old = Resumable::load(&ws.root, "old").unwrap_err();
    assert!(matches!(old, ResumeError::NoProgress { .. }), "{old}");
    assert!(old.to_string().contains("progress.json"), "{old}");

    ws.write(".harnessgym/runs/old/progress.json", "{not json");
    let broken = Resumable::load(&ws.root, "old").unwrap_err();
    assert!(matches!(broken, ResumeError::Unreadable { .. }), "{broken}");
}

#[tokio::test]
async fn a_run_recorded_by_an_earlier_progress_format_is_refused_naming_why() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new().on_every(Phase::Attempt, blocked).arc();
    run(request(&ws), &agent).await;
    // A run killed under the earlier format: its progress recorded the flags as raw strings.
    let run_dir = format!(".harnessgym/runs/{RUN_ID}");
    std::fs::remove_file(ws.path(&format!("{run_dir}/summary.json"))).unwrap();
    let mut old = progress(&ws);
    old["format"] = json!(1);
    old["started_with"]["request"] = json!({"runner": "fake", "attempt_timeout": "45m", "workspace": "."});
    ws.write(&format!("{run_dir}/progress.json"), &old.to_string());

    let err = Resumable::load(&ws.root, RUN_ID).unwrap_err();
    assert!(matches!(err, ResumeError::Unreadable { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("progress format 1") && message.contains("start the run again"), "{message}");
}

#[tokio::test]
async fn a_replaced_task_state_snapshot_refuses_the_resume() {
    let ws = Ws::with_files(&[("work.txt", "todo\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.task_state = "reset".parse().unwrap();
        r
    };
    run_interrupted(req, |tx| ScriptedAgent::new().on(Phase::Attempt, 2, interrupting(tx)).arc()).await;
    // Another run in the same workspace takes a new task-state snapshot of a changed tree.
    ws.write("work.txt", "changed by hand\n");
    let other = {
        let mut r = RunRequest { run_id: Some("other".into()), ..request(&ws) };
        r.options.task_state = "reset".parse().unwrap();
        r
    };
    run(other, &ScriptedAgent::new().arc()).await;

    let resumable = Resumable::load(&ws.root, RUN_ID).expect("loads");
    let config = resumable.config().unwrap();
    let runner: Arc<dyn Runner> = ScriptedAgent::new().arc();
    let err = Run::new(config, runner).with_resume(resumable).execute().await.expect_err("refused");
    assert!(err.to_string().contains("task-state snapshot"), "{err}");
}

#[tokio::test]
async fn the_recorded_task_text_is_used_even_after_the_task_file_changes() {
    let ws = Ws::with_files(&[("task.md", "The original task.\n")]);
    let req = {
        let mut r = RunRequest { task: Some("task.md".into()), task_text: None, ..request(&ws) };
        r.options.iterations = 2;
        r
    };
    run_interrupted(req, |tx| ScriptedAgent::new().on(Phase::Attempt, 2, interrupting(tx)).arc()).await;
    ws.write("task.md", "A different task.\n");

    let again = ScriptedAgent::new().arc();
    resume(&ws, &again).await;
    let prompt = &again.calls()[0].prompt;
    assert!(prompt.contains("The original task."), "{prompt}");
    assert!(!prompt.contains("A different task."));
}

#[tokio::test]
async fn a_run_interrupted_during_its_baseline_scores_it_on_resume() {
    let ws = Ws::with_files(&[("post.json", "{\"status\": \"passed\", \"score\": 10}\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 1;
        r.options.optimization_mode = true;
        r.options.post_attempt.command = Some("if [ -e release ]; then cat post.json; else sleep 30; fi".into());
        r.options.post_attempt.timeout = "5m".parse().unwrap();
        r
    };
    let (tx, rx) = watch::channel(false);
    let interrupter = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        tx.send(true).ok();
        tx
    });
    let first_agent = ScriptedAgent::new().arc();
    let runner: Arc<dyn Runner> = first_agent.clone();
    let first = execute(build_run(req, runner).with_cancel(rx)).await;
    drop(interrupter.await);
    assert!(first.outcome.interrupted);
    assert!(first_agent.calls().is_empty());
    assert_eq!(progress(&ws)["setup_finished"], false);

    ws.write("release", "");
    let again = ScriptedAgent::new().arc();
    let done = resume(&ws, &again).await;
    let summary = done.summary();
    assert_eq!(summary["optimization"]["baseline_score"], 10.0, "scored on resume");
    assert_eq!(summary["best_checkpoint"]["captures"][0]["reason"], "baseline_post_attempt_passed");
    assert_eq!(again.phases_of(1), [Phase::Attempt, Phase::Reflection, Phase::Build]);
}

/// An optimisation run interrupted during a reflection: the best checkpoint (here the baseline)
/// is restored at once, as for any interrupt, and the tree the reflection was looking at is put
/// back when the run resumes; edits made in between are kept aside, never lost.
async fn interrupted_reflection_sees_its_tree_on_resume(edit_between: bool) {
    let ws = Ws::with_files(&[("work.txt", "todo\n"), ("post.json", "{\"status\": \"passed\", \"score\": 10}\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 1;
        r.options.optimization_mode = true;
        r.options.higher_is_better = true;
        r.options.post_attempt.command = Some("cat post.json".into());
        r
    };
    let (_, _) = run_interrupted(req, |tx| {
        ScriptedAgent::new()
            .on(Phase::Attempt, 1, |ctx| {
                ctx.write("work.txt", "the attempt's edit\n");
                post_passes(ctx, "score", 5.0); // worse than the baseline: no new checkpoint
            })
            .on(Phase::Reflection, 1, interrupting(tx))
            .arc()
    })
    .await;
    assert_eq!(ws.read("work.txt"), "todo\n", "the interrupt restored the best checkpoint (the baseline)");
    let run_dir = format!(".harnessgym/runs/{RUN_ID}");
    assert!(ws.path(&format!("{run_dir}/interrupted/workspace/.harnessgym/snapshot")).is_file());
    if edit_between {
        ws.write("work.txt", "my own edit\n");
    }

    let seen = Arc::new(Mutex::new(None));
    let seen_in_reflection = Arc::clone(&seen);
    let again = ScriptedAgent::new()
        .on(Phase::Reflection, 1, move |ctx| *seen_in_reflection.lock().unwrap() = ctx.read("work.txt"))
        .arc();
    let done = resume(&ws, &again).await;
    assert!(!done.outcome.interrupted);
    assert_eq!(seen.lock().unwrap().as_deref(), Some("the attempt's edit\n"), "the tree the reflection was on");
    assert!(!ws.path(&format!("{run_dir}/interrupted/workspace")).exists(), "used once");
    let backup = ws.path(&format!("{run_dir}/interrupted/before_resume"));
    if edit_between {
        assert_eq!(std::fs::read_to_string(backup.join("work.txt")).unwrap(), "my own edit\n", "kept aside");
    } else {
        assert!(!backup.exists(), "nothing to keep: the workspace was the restored checkpoint");
    }
    assert_eq!(ws.read("work.txt"), "todo\n", "the run ends on its best checkpoint again");
}

#[tokio::test]
async fn an_interrupted_reflection_resumes_on_the_tree_it_was_looking_at() {
    interrupted_reflection_sees_its_tree_on_resume(false).await;
}

#[tokio::test]
async fn edits_made_between_an_interrupt_and_the_resume_are_kept_aside() {
    interrupted_reflection_sees_its_tree_on_resume(true).await;
}

/// The best checkpoint gets its browsable view on a thread of its own; a process killed before
/// that thread finished leaves it manifest-only. The resumed run ends with it browsable.
#[tokio::test]
async fn a_checkpoint_left_without_its_view_gets_it_when_the_resumed_run_ends() {
    let ws = Ws::with_files(&[("work.txt", "todo\n"), ("post.json", "{\"status\": \"passed\", \"score\": 10}\n")]);
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r.options.optimization_mode = true;
        r.options.higher_is_better = true;
        r.options.post_attempt.command = Some("cat post.json".into());
        r
    };
    run_interrupted(req, |tx| ScriptedAgent::new().on(Phase::Attempt, 1, interrupting(tx)).arc()).await;
    let best = ws.path(&format!(".harnessgym/runs/{RUN_ID}/checkpoints/best"));
    assert!(best.join("work.txt").is_file(), "browsable after the interrupted run");
    // As a kill during the view's thread would leave it: the same tree, manifest only.
    std::fs::remove_dir_all(&best).unwrap();
    let store = harnessgym_snapshot::Store::for_workspace(&ws.root).unwrap();
    let policy = harnessgym_snapshot::CopyPolicy::load(&ws.root, harnessgym_snapshot::Purpose::Copy).unwrap();
    store.capture_as(&ws.root, &best, &policy, harnessgym_snapshot::SnapshotView::ManifestOnly).unwrap();
    assert!(!best.join("work.txt").exists());

    let done = resume(&ws, &ScriptedAgent::new().arc()).await;
    assert!(!done.outcome.interrupted);
    assert_eq!(std::fs::read_to_string(best.join("work.txt")).unwrap(), "todo\n", "browsable again");
}
