//! One command at a time changes a workspace: a second `run` (or a `run --resume` of the run in
//! progress, an `activate`, a `gc`) is refused while a run holds the workspace, naming it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{Tmp, binary, harnessgym, output, s, workspace_with_task};

#[test]
fn a_second_command_on_a_workspace_in_use_is_refused_naming_the_holder() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    // The baseline's post command keeps the first run busy for a while.
    let mut first = Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
        .args(["--run-id", "first", "--optimization-mode", "--post-attempt-command", "sleep 4; echo '{}'"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let record = ws.join(".harnessgym/lock-holder.json");
    // The lock is taken first; progress.json (what a resume reads) once the run directory exists.
    let progress = ws.join(".harnessgym/runs/first/progress.json");
    let started = Instant::now();
    while !(record.is_file() && progress.is_file()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the first run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let holder = format!("pid {}", first.id());

    let runs = [
        vec!["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"],
        vec!["run", "--resume", "first", "--workspace", s(&ws)],
        vec!["activate", "--workspace", s(&ws)],
        vec!["gc", "--workspace", s(&ws), "--dry-run"],
    ];
    for args in runs {
        let out = output(harnessgym(&tmp.root).args(&args));
        assert_eq!(out.code, Some(1), "{args:?}: stdout {} stderr {}", out.stdout, out.stderr);
        assert!(out.stderr.contains("is in use by") && out.stderr.contains(&holder), "{args:?}: {}", out.stderr);
    }
    assert!(first.wait().unwrap().success());
    assert!(!record.exists(), "the record goes with the lock");
    let runs: Vec<_> = std::fs::read_dir(ws.join(".harnessgym/runs")).unwrap().collect();
    assert_eq!(runs.len(), 1, "the refused run left no run directory");

    // Free again once the first run has ended.
    let out = output(harnessgym(&tmp.root).args(["gc", "--workspace", s(&ws), "--dry-run"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn a_new_run_after_a_killed_one_says_the_last_command_did_not_finish() {
    use std::os::unix::process::CommandExt;
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    let mut killed = Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
        .args(["--run-id", "killed", "--optimization-mode", "--post-attempt-command", "sleep 60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let record = ws.join(".harnessgym/lock-holder.json");
    let started = Instant::now();
    while !record.is_file() {
        assert!(started.elapsed() < Duration::from_secs(20), "the run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", killed.id());
    assert!(Command::new("kill").args(["-KILL", "--", &group]).status().unwrap().success());
    killed.wait().unwrap();

    // The kernel dropped the lock with the process; its record says who it was.
    let out = output(harnessgym(&tmp.root).args(["run", "--runner", "fake", "--workspace", s(&ws)]).args([
        "--task",
        "task.md",
        "--iterations",
        "1",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let notice = format!("(pid {}, since ", killed.id());
    assert!(out.stderr.contains("ended without finishing") && out.stderr.contains(&notice), "{}", out.stderr);
    assert!(!record.exists());
}
