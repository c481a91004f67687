//! Exit codes: 0 for any finished run (solved or not), 1 when its state could not be saved, 2
//! for usage errors (clap).

use super::common::{Tmp, harnessgym, output, s, workspace_with_task};

#[test]
fn unsolved_run_exits_0() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make the numbers add up.\n");
    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("Final status: tooling_built\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Solved and verified: False\n"), "{}", out.stdout);
}

/// Runs `harnessgym run <args>` in a fresh tempdir and checks clap's usage-error exit.
fn assert_usage_error(args: &[&str], stderr_mentions: &str) {
    let tmp = Tmp::new();
    let out = output(harnessgym(&tmp.root).arg("run").args(args));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains(stderr_mentions), "stderr does not mention {stderr_mentions:?}: {}", out.stderr);
    assert!(!out.stderr.contains("harnessgym: error:"), "a usage error is not a run error: {}", out.stderr);
    assert!(!tmp.path(".harnessgym").exists(), "a usage error created files");
}

#[test]
fn unknown_flag_exits_2() {
    assert_usage_error(&["--task-text", "x", "--no-such-flag"], "'--no-such-flag'");
}

#[test]
fn task_and_task_text_together_exit_2() {
    assert_usage_error(&["--task", "a.md", "--task-text", "x"], "cannot be used with");
}

#[test]
fn missing_task_source_exits_2() {
    assert_usage_error(&["--runner", "fake"], "--task");
}

#[test]
fn bad_runner_exits_2() {
    assert_usage_error(&["--task-text", "x", "--runner", "gpt"], "invalid value 'gpt' for '--runner");
}

#[test]
fn dropped_tui_goal_runner_exits_2() {
    assert_usage_error(&["--task-text", "x", "--runner", "tui-goal"], "invalid value 'tui-goal' for '--runner");
}

#[test]
fn bad_task_state_exits_2() {
    assert_usage_error(&["--task-text", "x", "--task-state", "keep"], "invalid value 'keep' for '--task-state");
}

#[test]
fn non_integer_iterations_exits_2() {
    assert_usage_error(&["--task-text", "x", "--iterations", "two"], "invalid value 'two' for '--iterations");
}

#[test]
fn missing_subcommand_exits_2() {
    let tmp = Tmp::new();
    let out = output(&mut harnessgym(&tmp.root));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("Usage: harnessgym <COMMAND>"), "{}", out.stderr);
}

#[test]
fn a_summary_that_cannot_be_written_exits_1_naming_what_was_lost_and_where_the_rest_is() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    // The post command takes summary.json's place (as a full disk would refuse the file).
    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
            .args(["--run-id", "lost", "--post-attempt-command"])
            .arg("mkdir -p .harnessgym/runs/lost/summary.json; echo '{\"status\": \"failed\"}'"),
    );
    assert_eq!(out.code, Some(1), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    let run_dir = ws.join(".harnessgym/runs/lost");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("harnessgym: error: the run's summary was not saved")
            && last.ends_with(&format!("is in {}", s(&run_dir))),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("summary.json"), "stdout points to a summary that does not exist: {}", out.stdout);
    assert!(!out.stderr.contains('\u{1b}'), "colour codes in a file: {:?}", out.stderr);
}
