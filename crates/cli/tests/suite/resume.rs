//! `harnessgym run --resume <run_id>` on the real binary: a run SIGKILLed in the middle of an
//! iteration goes on from its last completed phase; what cannot be resumed says why.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::common::{Tmp, binary, harnessgym, output, read_json, s, workspace_with_task, write};

/// The post command: counts its runs in `$OUT/post_runs.log` (outside the workspace, which
/// `--task-state reset` puts back every iteration); its third run (iteration 2, after the
/// baseline and iteration 1) hangs until `$OUT/release` exists, so the test can kill the run there.
const POST: &str = r#"echo run >> "$OUT/post_runs.log"
n=$(wc -l < "$OUT/post_runs.log")
if [ "$n" -eq 3 ] && [ ! -e "$OUT/release" ]; then touch "$OUT/hanging"; sleep 60; fi
echo "{\"status\": \"passed\", \"score\": $((100 - n))}"
"#;

#[test]
fn a_run_killed_mid_iteration_is_resumed_from_its_last_completed_phase() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Lower the score.\n");
    let out_dir = tmp.dir("out");
    write(&ws.join("post.sh"), &POST.replace("$OUT", s(&out_dir)));
    let mut child = std::process::Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--task", "task.md", "--workspace", s(&ws), "--iterations", "3"])
        .args(["--optimization-mode", "--post-attempt-command", "sh post.sh", "--run-id", "killed"])
        .args(["--task-state", "reset"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn harnessgym");
    let started = Instant::now();
    while !out_dir.join("hanging").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the run never reached iteration 2's post command");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL the whole group (harnessgym and its hanging post command): nothing gets to clean up.
    let group = format!("-{}", child.id());
    let killed = std::process::Command::new("kill").args(["-KILL", "--", &group]).status().expect("kill");
    assert!(killed.success());
    child.wait().unwrap();
    let run_dir = ws.join(".harnessgym/runs/killed");
    assert!(!run_dir.join("summary.json").exists(), "a killed run writes no summary");
    let progress = read_json(&run_dir.join("progress.json"));
    assert_eq!(progress["iterations"].as_array().unwrap().len(), 1, "{progress}");
    write(&out_dir.join("release"), "");

    let out = output(harnessgym(&tmp.root).args(["run", "--resume", "killed", "--workspace", s(&ws)]));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("resuming at iteration 2, from its start"), "{}", out.stderr);
    // First, what the killed run left is killed: the post command's `sleep 60` (its shell was
    // killed by its parent-death signal; what that shell started gets none).
    let (first, rest) = out.stderr.split_once('\n').unwrap();
    assert!(first.starts_with("harnessgym: killed ") && first.contains("(`sleep 60`)"), "{}", out.stderr);
    assert!(rest.starts_with(&format!("[run killed] {}\n", s(&run_dir))), "{}", out.stderr);
    assert!(out.stdout.contains("Run id: killed"), "{}", out.stdout);
    let summary = read_json(&run_dir.join("summary.json"));
    let statuses: Vec<&str> =
        summary["iterations"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 3, "{summary}");
    assert_eq!(summary["optimization"]["baseline_score"], 99.0, "the recorded baseline is kept");
    // Runs: baseline, 1, killed 2, 2 again, 3, the check after restoring the best checkpoint.
    let runs = std::fs::read_to_string(out_dir.join("post_runs.log")).unwrap().lines().count();
    assert_eq!(runs, 6);
    assert_eq!(summary["best_score"], 95.0, "iteration 3 (the fifth post run) scored lowest");

    let again = output(harnessgym(&tmp.root).args(["run", "--resume", "killed", "--workspace", s(&ws)]));
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("run killed already finished"), "{}", again.stderr);
}

#[test]
fn resume_refuses_configuration_flags_and_a_task() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "A task.\n");
    let flags = output(harnessgym(&tmp.root).args([
        "run",
        "--resume",
        "some-run",
        "--workspace",
        s(&ws),
        "--iterations",
        "5",
        "--attempt-timeout",
        "1m",
    ]));
    assert_eq!(flags.code, Some(2));
    assert_eq!(
        flags.stderr,
        "harnessgym: error: --resume continues run some-run with the configuration it recorded; drop \
         --iterations, --attempt-timeout (only --workspace and --remote-ssh-arg go with it; start a new run to \
         change the configuration)\n"
    );
    let task = output(harnessgym(&tmp.root).args(["run", "--resume", "some-run", "--task", "task.md"]));
    assert_eq!(task.code, Some(2));
    assert!(task.stderr.contains("cannot be used with"), "{}", task.stderr);

    let missing = output(harnessgym(&tmp.root).args(["run", "--resume", "some-run", "--workspace", s(&ws)]));
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains("there is no run some-run in"), "{}", missing.stderr);
}

#[test]
fn a_rehearsal_is_never_resumed_against_the_real_model() {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "A task.\n");
    let first = output(harnessgym(&tmp.root).args([
        "run",
        "--runner",
        "fake",
        "--task",
        "task.md",
        "--workspace",
        s(&ws),
        "--iterations",
        "1",
        "--run-id",
        "rehearsed",
    ]));
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    // As a killed `--model-script` rehearsal leaves it: progress recorded, no summary.
    let run_dir = ws.join(".harnessgym/runs/rehearsed");
    let mut progress = read_json(&run_dir.join("progress.json"));
    assert_eq!(progress["started_with"]["request"]["model_script"], serde_json::Value::Null);
    progress["started_with"]["request"]["model_script"] = "script.json".into();
    progress["loop_finished"] = false.into();
    write(&run_dir.join("progress.json"), &progress.to_string());
    std::fs::remove_file(run_dir.join("summary.json")).unwrap();

    let out = output(harnessgym(&tmp.root).args(["run", "--resume", "rehearsed", "--workspace", s(&ws)]));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("was a rehearsal against a scripted model (--model-script script.json)"),
        "{}",
        out.stderr
    );
    assert!(!run_dir.join("summary.json").exists(), "nothing ran");
}
