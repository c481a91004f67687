//! `--task-state` through the loop (§5.1; statements 31, 32).

use std::sync::{Arc, Mutex};

use harnessgym_core::RunRequest;
use harnessgym_runners::Phase;

use super::support::{ScriptedAgent, Ws, request, run};

fn two_iterations(ws: &Ws, task_state: &str) -> RunRequest {
    {
        let mut r = request(ws);
        r.options.iterations = 2;
        r.options.task_state = task_state.parse().unwrap();
        r
    }
}

/// Appends `" <iteration>"` to work.txt and remembers what the attempt found there.
fn appending_agent(seen: Arc<Mutex<Vec<String>>>) -> ScriptedAgent {
    ScriptedAgent::new().on_every(Phase::Attempt, move |cx| {
        let before = cx.read("work.txt").unwrap_or_default();
        seen.lock().unwrap().push(before.clone());
        cx.write("work.txt", &format!("{before} {}", cx.req.iteration));
    })
}

#[tokio::test]
async fn statement_31_reset_restores_the_task_but_keeps_artifacts() {
    let ws = Ws::with_files(&[("work.txt", "original")]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let agent = appending_agent(seen.clone())
        .on(Phase::Build, 1, |cx| cx.write(".harnessgym/tools/marker.txt", "MARKER-FROM-ITERATION-1"))
        .arc();
    let done = run(two_iterations(&ws, "reset"), &agent).await;

    assert_eq!(*seen.lock().unwrap(), ["original", "original"], "iteration 2 started from the original");
    assert_eq!(ws.read("work.txt"), "original 2", "the work file ends as the last iteration wrote it");
    let snapshot = ws.path(".harnessgym/task_state/initial");
    let captured = harnessgym_snapshot::snapshot_file(&snapshot, "work.txt").unwrap().expect("in the snapshot");
    assert_eq!(captured, b"original");
    assert!(!snapshot.join("work.txt").exists(), "an internal snapshot has no browsable view");
    // .harnessgym survives the reset, so iteration 1's artifact reaches iteration 2's prompt.
    assert_eq!(ws.read(".harnessgym/tools/marker.txt"), "MARKER-FROM-ITERATION-1");
    let prompt = done.iteration_text(2, "attempt.prompt.txt");
    assert!(prompt.contains(".harnessgym/tools/marker.txt"), "{prompt}");
    assert!(prompt.contains("MARKER-FROM-ITERATION-1"), "preview missing:\n{prompt}");
    assert!(!done.iteration_text(1, "attempt.prompt.txt").contains("marker.txt"));
}

#[tokio::test]
async fn statement_32_continue_compounds_edits_without_a_snapshot() {
    let ws = Ws::with_files(&[("work.txt", "original")]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let agent = appending_agent(seen.clone()).arc();
    let _done = run(two_iterations(&ws, "continue"), &agent).await;

    assert_eq!(*seen.lock().unwrap(), ["original", "original 1"]);
    assert_eq!(ws.read("work.txt"), "original 1 2");
    assert!(!ws.exists(".harnessgym/task_state/initial"));
    assert!(!ws.exists(".harnessgym/task_state"));
}

#[tokio::test]
async fn task_state_reset_keeps_agent_dirs_and_ignored_paths_only() {
    let ws = Ws::with_files(&[
        ("work.txt", "original"),
        (".harnessgymignore", "scratch/\n"),
        (".git/HEAD", "ref: refs/heads/main"),
        ("sub/.agents/note.txt", "nested, not top level"),
    ]);
    let found = Arc::new(Mutex::new(Vec::new()));
    let record = found.clone();
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| {
            cx.write("scratch/cache.txt", "ignored by .harnessgymignore");
            cx.write(".agents/skills/s/SKILL.md", "activation dir");
            cx.write(".claude/settings.json", "{}");
            cx.write(".codex/config.toml", "# codex");
            cx.write("new_file.txt", "created in iteration 1");
            cx.write(".git/HEAD", "edited");
            cx.write("sub/.agents/note.txt", "edited");
        })
        .on(Phase::Attempt, 2, move |cx| {
            let mut out = record.lock().unwrap();
            for rel in [
                "scratch/cache.txt",
                ".agents/skills/s/SKILL.md",
                ".claude/settings.json",
                ".codex/config.toml",
                "new_file.txt",
            ] {
                out.push((rel.to_owned(), cx.exists(rel)));
            }
            out.push((format!(".git/HEAD={}", cx.read(".git/HEAD").unwrap_or_default()), true));
            out.push((format!("sub/.agents/note.txt={}", cx.read("sub/.agents/note.txt").unwrap_or_default()), true));
        })
        .arc();
    let _done = run(two_iterations(&ws, "reset"), &agent).await;

    let found = found.lock().unwrap().clone();
    let expected: Vec<(String, bool)> = [
        ("scratch/cache.txt", true),
        (".agents/skills/s/SKILL.md", true),
        (".claude/settings.json", true),
        (".codex/config.toml", true),
        ("new_file.txt", false),
        // `.git` and nested `.agents` are task state: restored to the original.
        (".git/HEAD=ref: refs/heads/main", true),
        ("sub/.agents/note.txt=nested, not top level", true),
    ]
    .into_iter()
    .map(|(p, e)| (p.to_owned(), e))
    .collect();
    assert_eq!(found, expected);
}
