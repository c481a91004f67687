//! The fake runner end to end on a scratch copy of the bundled demo (statement 63).

use std::sync::Arc;

use camino::Utf8Path;
use harnessgym_core::RunRequest;
use harnessgym_runners::fake::{FakeRunner, PROBE_DESCRIPTION, PROBE_PATH};

use super::support::{Ws, build_run, execute, read_json, request};

/// Copies the regular files of `examples/numerical-debug` (never touching the originals).
fn demo_workspace() -> Ws {
    let example = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/numerical-debug");
    let ws = Ws::new();
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(&example).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let name = entry.file_name().into_string().unwrap();
            std::fs::copy(entry.path(), ws.path(&name)).unwrap();
            copied.push(name);
        }
    }
    copied.sort();
    assert_eq!(copied, ["numerics.py", "task.md", "verifier.py"]);
    ws
}

#[tokio::test]
async fn statement_63_fake_run_on_the_numerical_debug_example() {
    let ws = demo_workspace();
    let req = {
        let mut r = RunRequest { task: Some(ws.path("task.md").to_string()), task_text: None, ..request(&ws) };
        r.options.iterations = 2;
        r
    };
    let done = execute(build_run(req, Arc::new(FakeRunner))).await;

    // Statuses and the solved flag.
    assert_eq!(done.statuses(), ["tooling_built", "solved"]);
    let summary = done.summary();
    assert_eq!(summary["iterations"][0]["solved"], false);
    assert_eq!(summary["iterations"][1]["solved"], true);
    assert_eq!(summary["solved"], true);
    assert_eq!(summary["final_status"], "solved");
    assert_eq!(done.result(2)["verified"], true);

    // The registry has the probe, and the file is on disk.
    let registry = read_json(&ws.path(".harnessgym/registry.json"));
    let probe = registry["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == PROBE_PATH)
        .unwrap_or_else(|| panic!("probe not registered: {registry}"));
    assert_eq!(probe["kind"], "tool");
    assert_eq!(probe["description"], PROBE_DESCRIPTION);
    assert!(ws.path(PROBE_PATH).is_file());

    // Iteration 1's files.
    let first = done.iteration_dir(1);
    for name in ["result.json", "attempt.transcript.txt", "build.stdout.txt"] {
        assert!(first.join(name).is_file(), "missing iterations/1/{name}");
    }
    assert!(done.iteration_text(1, "build.stdout.txt").contains(PROBE_PATH));

    // Iteration 2's prompt lists the probe with its description.
    let prompt = done.iteration_text(2, "attempt.prompt.txt");
    assert!(prompt.contains(&format!("- tool: {PROBE_PATH} - {PROBE_DESCRIPTION}")), "{prompt}");
    assert!(prompt.contains("`task.md` (relative to the workspace)"), "{prompt}");

    // The fix is really in: the verifier passes on the workspace.
    let verifier = std::process::Command::new("python3").arg("verifier.py").current_dir(&ws.root).output().unwrap();
    assert!(verifier.status.success(), "{}", String::from_utf8_lossy(&verifier.stdout));
    // …and the repository's copy was not touched.
    let original = std::fs::read_to_string(
        Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/numerical-debug/numerics.py"),
    )
    .unwrap();
    assert!(original.contains(harnessgym_runners::fake::DEMO_BUGGY_LINE));
}
