//! Optimisation mode through the real shell (statement 26 at the CLI level).

use pretty_assertions::assert_eq;

use super::common::{Tmp, harnessgym, only_run_dir, output, printed_run_id, read_json, redact, s, write};

/// Prints `best_cycles` 10 on its first call (the baseline), 4 afterwards; the counter lives
/// outside the workspace so checkpoints and restores do not touch it.
const SCORE_PY: &str = r#"import json, pathlib
counter = pathlib.Path(__file__).resolve().parent.parent / "calls.txt"
calls = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(calls + 1))
print(json.dumps({"status": "passed", "best_cycles": 10 if calls == 0 else 4}))
"#;

#[test]
fn post_command_improvement_prints_improved_true_and_best_score() {
    let tmp = Tmp::new();
    let ws = tmp.dir("ws");
    write(&ws.join("task.md"), "Reduce the cycle count.\n");
    write(&ws.join("score.py"), SCORE_PY);

    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md", "--optimization-mode"])
            .args(["--score-key", "best_cycles", "--post-attempt-command", "python3 score.py"])
            .args(["--workspace", s(&ws)]),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("Optimization improved: True\nBest score: 4.0\n"), "{}", out.stdout);
    let calls = std::fs::read_to_string(tmp.path("calls.txt")).expect("post command ran");
    assert!(calls.trim().parse::<u32>().expect("count") >= 2, "baseline and iteration 1: {calls}");

    let run_dir = only_run_dir(&ws);
    let summary = read_json(&run_dir.join("summary.json"));
    assert_eq!(summary["best_score"], 4.0);
    assert_eq!(summary["optimization"]["improved"], true);
    assert_eq!(summary["optimization"]["baseline_score"], 10.0);
    assert_eq!(summary["baseline_post_attempt"]["score"], 10.0);
    assert_eq!(summary["solved"], false);

    let result = read_json(&run_dir.join("iterations/1/result.json"));
    assert_eq!(result["metrics"]["best_cycles"], 4.0);
    assert_eq!(result["verification"]["status"], "passed");
    assert_eq!(result["optimization"]["baseline_score"], 10.0);
    assert_eq!(result["optimization"]["improved_from_baseline"], true);

    let run_id = printed_run_id(&out.stdout);
    insta::assert_snapshot!("run_stdout_optimization_improved", redact(&out.stdout, &run_id, &tmp));
}
