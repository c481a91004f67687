//! The embedding example is built and run as a user would run it.

use std::process::Command;

#[test]
fn the_example_runs_its_own_agent_on_the_demo_task_and_prints_phases_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ws");
    let out = Command::new(env!("CARGO_BIN_EXE_embed-harnessgym")).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));

    // The observer saw every phase and every score, in order.
    let lines: Vec<&str> = stdout.lines().collect();
    let position =
        |line: &str| lines.iter().position(|l| *l == line).unwrap_or_else(|| panic!("no {line:?} in\n{stdout}"));
    let order = [
        "baseline: score 54 (not verified); best none yet",
        "iteration 1: attempt…",
        "iteration 1: attempt blocked",
        "iteration 1: score 54 (not verified); best none yet",
        "iteration 1: reflection completed",
        "iteration 1: build completed",
        "iteration 1: tooling_built",
        "iteration 2: attempt completed",
        "iteration 2: score 0 (verified); best 0",
        "iteration 3: verified",
    ];
    let positions: Vec<usize> = order.iter().map(|l| position(l)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order:\n{stdout}");
    assert!(
        stdout.contains("finished: verified after 3 iteration(s); baseline None, best verified Some(0.0)"),
        "{stdout}"
    );

    // What the run left: the fix, the skill the agent built, a summary with the verified best.
    let numerics = std::fs::read_to_string(dir.join("numerics.py")).unwrap();
    assert!(numerics.contains("return peak + math.log(total)"), "{numerics}");
    assert!(dir.join(".harnessgym/skills/lse-check/SKILL.md").is_file());
    let runs: Vec<_> = std::fs::read_dir(dir.join(".harnessgym/runs")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run_dir = runs.into_iter().next().unwrap().unwrap().path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["best_score"], 0.0);
    assert_eq!(summary["final_status"], "verified");
}
