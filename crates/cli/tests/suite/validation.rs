//! Validation errors (§1.7–1.9): exit 2 like every usage error (the reference exits 1: a
//! deliberate change, docs/decisions.md), stderr exactly `harnessgym: error: <message>\n`, and
//! nothing written.

use pretty_assertions::assert_eq;

use super::common::{Output, Tmp, harnessgym, output, s, tree, workspace_with_task};

/// `harnessgym run --runner fake --workspace <ws> <args>` on a workspace holding only `task.md`.
fn run_fails(args: &[&str]) -> (Tmp, Output) {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "A task.\n");
    let out = output(harnessgym(&tmp.root).args(["run", "--runner", "fake", "--workspace", s(&ws)]).args(args));
    assert_eq!(out.code, Some(2), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(tree(&ws), ["task.md"], "a refused run wrote into the workspace");
    (tmp, out)
}

fn assert_exact_error(args: &[&str], message: &str) {
    let (_tmp, out) = run_fails(args);
    assert_eq!(out.stderr, format!("harnessgym: error: {message}\n"));
}

#[test]
fn zero_iterations_are_refused() {
    assert_exact_error(&["--task-text", "x", "--iterations", "0"], "iterations must be positive");
}

#[test]
fn negative_iterations() {
    assert_exact_error(&["--task-text", "x", "--iterations", "-3"], "iterations must be positive");
}

/// A count that does not fit is out of range, not "not positive".
#[test]
fn too_many_iterations_name_the_range() {
    assert_exact_error(
        &["--task-text", "x", "--iterations", "99999999999"],
        "iterations must be between 1 and 4294967295, got 99999999999",
    );
}

#[test]
fn too_many_repair_attempts_name_the_range() {
    assert_exact_error(
        &["--task-text", "x", "--artifact-repair-attempts", "99999999999"],
        "artifact_repair_attempts must be between 0 and 4294967295, got 99999999999",
    );
}

#[test]
fn negative_repair_attempts_are_refused() {
    assert_exact_error(
        &["--task-text", "x", "--artifact-repair-attempts", "-1"],
        "artifact_repair_attempts cannot be negative",
    );
}

#[test]
fn whitespace_only_task_text_is_refused() {
    assert_exact_error(&["--task-text", " \n\t "], "task text cannot be empty");
}

#[test]
fn whitespace_only_task_file() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    super::common::write(&ws.join("blank.md"), "  \n\n");
    let out =
        output(harnessgym(&tmp.root).args(["run", "--runner", "fake", "--task", "blank.md", "--workspace", s(&ws)]));
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr, "harnessgym: error: task text cannot be empty\n");
    assert_eq!(tree(&ws), ["blank.md"]);
}

#[test]
fn bad_attempt_timeout_names_the_value() {
    let (_tmp, out) = run_fails(&["--task-text", "x", "--attempt-timeout", "1x"]);
    assert!(out.stderr.starts_with("harnessgym: error: "), "{}", out.stderr);
    assert!(out.stderr.contains("invalid timeout duration: '1x'"), "{}", out.stderr);
    assert!(out.stderr.ends_with('\n') && out.stderr.lines().count() == 1, "{:?}", out.stderr);
}

#[test]

fn bad_attempt_timeout_message_is_not_repeated() {
    let (_tmp, out) = run_fails(&["--task-text", "x", "--attempt-timeout", "1x"]);
    assert_eq!(out.stderr.matches("invalid timeout duration: '1x'").count(), 1, "{}", out.stderr);
}

#[test]
fn blank_attempt_timeout_schedule_is_refused() {
    let (_tmp, out) = run_fails(&["--task-text", "x", "--attempt-timeouts", " , "]);
    assert!(out.stderr.starts_with("harnessgym: error: "), "{}", out.stderr);
    assert!(out.stderr.contains("attempt timeout schedule cannot be empty"), "{}", out.stderr);
    assert!(out.stderr.ends_with('\n') && out.stderr.lines().count() == 1, "{:?}", out.stderr);
}

#[test]

fn blank_schedule_message_is_not_repeated() {
    let (_tmp, out) = run_fails(&["--task-text", "x", "--attempt-timeouts", " , "]);
    assert_eq!(out.stderr.matches("attempt timeout schedule cannot be empty").count(), 1, "{}", out.stderr);
}

#[test]
fn missing_task_file_is_named_and_nothing_is_created() {
    let (tmp, out) = run_fails(&["--task", "nope.md"]);
    let expected = format!("harnessgym: error: task file {} cannot be read: ", s(&tmp.path("ws/nope.md")));
    assert!(out.stderr.starts_with(&expected), "expected prefix {expected:?}, got {:?}", out.stderr);
    assert!(out.stderr.ends_with("; check the path given to --task\n"), "{:?}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
}

#[test]
fn missing_workspace_is_refused_and_not_created() {
    let tmp = Tmp::new();
    let missing = tmp.path("no/such/ws");
    let out =
        output(harnessgym(&tmp.root).args(["run", "--runner", "fake", "--task-text", "x", "--workspace", s(&missing)]));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "harnessgym: error: workspace {} does not exist; create it first or pass an existing directory to --workspace\n",
            s(&missing)
        )
    );
    assert!(!tmp.path("no").exists(), "the missing workspace (or a parent) was created");
}

#[test]
fn reused_run_id_is_refused() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "A task.\n");
    let args = ["run", "--runner", "fake", "--iterations", "1", "--task", "task.md", "--run-id", "first-run"];
    let first = output(harnessgym(&tmp.root).args(args).args(["--workspace", s(&ws)]));
    assert_eq!(first.code, Some(0), "stderr: {}", first.stderr);
    let summary = ws.join(".harnessgym/runs/first-run/summary.json");
    let before = std::fs::read(&summary).expect("first summary");

    let second = output(harnessgym(&tmp.root).args(args).args(["--workspace", s(&ws)]));
    assert_eq!(second.code, Some(1), "stdout: {}", second.stdout);
    assert_eq!(second.stdout, "");
    assert_eq!(
        second.stderr,
        "harnessgym: error: run id first-run already exists; pass another --run-id (an interrupted run goes on with --resume first-run)\n"
    );
    assert_eq!(std::fs::read(&summary).expect("summary"), before, "the refused run touched the first run");
}
