//! The result lines a run prints on stdout (§1.4).

use std::path::Path;

use super::common::{Tmp, harnessgym, is_generated_run_id, output, printed_run_id, redact, s, workspace_with_task};

#[test]
fn run_prints_id_artifacts_status_solved_and_result_lines() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make the numbers add up.\n");
    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    let run_id = printed_run_id(&out.stdout);
    assert!(is_generated_run_id(&run_id), "run id {run_id:?} is not YYYYMMDDTHHMMSSZ-<8 hex>");
    let run_dir = ws.join(".harnessgym/runs").join(&run_id);
    assert!(run_dir.join("summary.json").is_file());
    let result = run_dir.join("iterations/1/result.json");
    assert!(result.is_file());
    assert!(out.stdout.contains(&format!("Run artifacts: {}\n", s(&run_dir))), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("Final result: {}\n", s(&result))), "{}", out.stdout);
    assert!(!out.stdout.contains("Optimization improved"), "only with --optimization-mode");

    insta::assert_snapshot!("run_stdout_unsolved", redact(&out.stdout, &run_id, &tmp));
}

#[test]
fn explicit_run_id_is_used_for_the_run_directory() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make the numbers add up.\n");
    let out = output(
        harnessgym(&tmp.root)
            .args([
                "run",
                "--runner",
                "fake",
                "--iterations",
                "1",
                "--task-text",
                "inline task",
                "--run-id",
                "my-run_1.a",
            ])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(printed_run_id(&out.stdout), "my-run_1.a");
    assert!(Path::new(&ws.join(".harnessgym/runs/my-run_1.a/summary.json")).is_file());
}

#[test]
fn optimization_mode_without_post_command_prints_false_and_none() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make it faster.\n");
    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md", "--optimization-mode"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let run_id = printed_run_id(&out.stdout);
    insta::assert_snapshot!("run_stdout_optimization_no_score", redact(&out.stdout, &run_id, &tmp));
}
