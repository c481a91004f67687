//! Relative `--task` paths: the current directory first, then the workspace (statement 7).

use super::common::{Tmp, harnessgym, only_run_dir, output, read_json, s, write};

#[test]
fn relative_task_resolves_inside_the_workspace_for_a_full_fake_run() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    let elsewhere = tmp.dir("elsewhere");
    write(&ws.join("task.md"), "TASK-MARKER-7: make the numbers add up.\n");

    let out = output(
        harnessgym(&elsewhere)
            .args(["run", "--runner", "fake", "--iterations", "2", "--task", "task.md"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(!elsewhere.join(".harnessgym").exists(), "the run wrote into the current directory");

    let run_dir = only_run_dir(&ws);
    let config = read_json(&run_dir.join("run_config.json"));
    assert_eq!(config["task_path"], s(&ws.join("task.md")));
    assert_eq!(config["workspace"], s(&ws));
    let prompt = std::fs::read_to_string(run_dir.join("iterations/1/attempt.prompt.txt")).expect("attempt prompt");
    assert!(prompt.contains("TASK-MARKER-7"), "the attempt prompt lacks the task text");

    let summary = read_json(&run_dir.join("summary.json"));
    let statuses: Vec<&str> = summary["iterations"]
        .as_array()
        .expect("iterations")
        .iter()
        .map(|i| i["status"].as_str().unwrap_or("?"))
        .collect();
    // Without a verifier.py the fake agent's second attempt passes its artifact-context check.
    assert_eq!(statuses, ["tooling_built", "solved"]);
    assert_eq!(summary["final_status"], "solved");
    assert_eq!(summary["solved"], true);
    assert!(out.stdout.contains("Final status: solved\nSolved and verified: True\n"), "{}", out.stdout);
}

#[test]
fn relative_task_in_the_current_directory_wins_over_the_workspace() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    let cwd = tmp.dir("cwd");
    write(&ws.join("task.md"), "FROM-WORKSPACE\n");
    write(&cwd.join("task.md"), "FROM-CWD\n");

    let out = output(
        harnessgym(&cwd)
            .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let run_dir = only_run_dir(&ws);
    assert_eq!(read_json(&run_dir.join("run_config.json"))["task_path"], s(&cwd.join("task.md")));
    let prompt = std::fs::read_to_string(run_dir.join("iterations/1/attempt.prompt.txt")).expect("attempt prompt");
    assert!(prompt.contains("FROM-CWD") && !prompt.contains("FROM-WORKSPACE"));
}
