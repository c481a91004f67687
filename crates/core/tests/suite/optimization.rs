//! Optimisation mode, best checkpoints and the end-of-run restore (§2.7, §5.2, §5.3;
//! statements 26–30; B3, B14).

use harnessgym_core::RunRequest;
use harnessgym_runners::{Phase, PhaseStatus};
use serde_json::json;

use super::support::{CAT_POST, Ctx, Done, ScriptedAgent, Ws, f64_of, post_passes, request, run};

const KEY: &str = "best_cycles";

/// Optimisation mode, lower-is-better `best_cycles`, post command `cat post.json`.
fn optimization(ws: &Ws, iterations: i64, restore_best: bool) -> RunRequest {
    {
        let mut r = request(ws);
        r.options.iterations = iterations;
        r.options.optimization_mode = true;
        r.options.restore_best = restore_best;
        r.options.score_key = KEY.into();
        r.options.post_attempt.command = Some(CAT_POST.into());
        r
    }
}

/// An attempt that writes `work.txt` and a passing `post.json` with `score`.
fn attempt_scoring(score: f64, content: &'static str) -> impl Fn(&mut Ctx<'_>) + Send + Sync + 'static {
    move |cx| {
        cx.write("work.txt", content);
        post_passes(cx, KEY, score);
        cx.merge_result(json!({"status": "incomplete", "summary": content}));
    }
}

/// Baseline 10, iteration 1 scores 4 (`work.txt` = "iteration 1"), iteration 2 scores 8.
async fn four_then_eight(restore_best: bool) -> (Ws, Done) {
    let ws = Ws::with_files(&[("work.txt", "original"), ("post.json", r#"{"status": "passed", "best_cycles": 10}"#)]);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, attempt_scoring(4.0, "iteration 1"))
        .on(Phase::Attempt, 2, attempt_scoring(8.0, "iteration 2"))
        .arc();
    let done = run(optimization(&ws, 2, restore_best), &agent).await;
    (ws, done)
}

#[tokio::test]
async fn statement_26_improvement_after_a_timeout_is_improved_not_solved() {
    let ws = Ws::with_files(&[("post.json", r#"{"status": "passed", "best_cycles": 10}"#)]);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| {
            post_passes(cx, KEY, 4.0);
            cx.status = PhaseStatus::Timeout;
            cx.timed_out = true;
        })
        .arc();
    let done = run(optimization(&ws, 1, true), &agent).await;

    let result = done.result(1);
    assert_eq!(result["phases"]["attempt"]["status"], "timeout");
    assert_eq!(result["status"], "improved");
    assert_eq!(result["verified"], true);
    assert_eq!(f64_of(&result["metrics"][KEY]), 4.0);
    assert_eq!(result["optimization"]["improved_from_baseline"], true);
    assert_eq!(f64_of(&result["optimization"]["baseline_score"]), 10.0);
    let summary = done.summary();
    assert_eq!(summary["solved"], false);
    assert_eq!(summary["iterations"][0]["solved"], false);
    assert_eq!(summary["optimization"]["improved"], true);
    assert_eq!(f64_of(&summary["best_score"]), 4.0);
    assert_eq!(f64_of(&summary["optimization"]["best_score"]), 4.0);
    assert_eq!(f64_of(&summary["baseline_post_attempt"]["score"]), 10.0);
    assert_eq!(f64_of(&summary["optimization"]["absolute_delta_from_baseline"]), -6.0);
}

#[tokio::test]
async fn statement_27_best_checkpoint_is_restored_at_the_end() {
    let (ws, done) = four_then_eight(true).await;

    assert_eq!(ws.read("work.txt"), "iteration 1", "workspace restored to iteration 1");
    let summary = done.summary();
    assert_eq!(f64_of(&summary["best_score"]), 4.0);
    let checkpoint = &summary["best_checkpoint"];
    assert_eq!(checkpoint["enabled"], true);
    assert_eq!(checkpoint["restored"], true);
    assert_eq!(checkpoint["restore"]["iteration"], 1);
    assert_eq!(f64_of(&checkpoint["restore"]["score"]), 4.0);
    assert_eq!(f64_of(&checkpoint["restore"]["post_restore"]["score"]), 4.0);
    assert_eq!(checkpoint["restore"]["post_restore_passed"], true);
    let last = done.result(2);
    assert_eq!(f64_of(&last["optimization"]["restored_best_checkpoint"]["score"]), 4.0);
    assert!(done.outcome.run_dir.join("checkpoints/restored_best.stdout.txt").is_file());
}

#[tokio::test]
async fn statement_28_no_restore_best_keeps_the_final_files() {
    let (ws, done) = four_then_eight(false).await;

    assert_eq!(ws.read("work.txt"), "iteration 2");
    let checkpoint = &done.summary()["best_checkpoint"];
    assert_eq!(checkpoint["enabled"], false);
    assert_eq!(checkpoint["reason"], "disabled_by_config");
    assert_eq!(checkpoint["restored"], false);
    assert_eq!(checkpoint["captures"], json!([]));
    assert!(!done.outcome.run_dir.join("checkpoints/best").exists());
}

#[tokio::test]
async fn statement_29_captures_list_the_baseline_then_the_improvement() {
    let (_ws, done) = four_then_eight(true).await;

    let captures = done.summary()["best_checkpoint"]["captures"].as_array().unwrap().clone();
    let got: Vec<(u64, String, f64)> = captures
        .iter()
        .map(|c| (c["iteration"].as_u64().unwrap(), c["reason"].as_str().unwrap().to_owned(), f64_of(&c["score"])))
        .collect();
    assert_eq!(
        got,
        [(0, "baseline_post_attempt_passed".to_owned(), 10.0), (1, "post_attempt_best_score".to_owned(), 4.0)]
    );
    // Iteration 1's result carries its capture; iteration 2 (worse) has none.
    assert_eq!(done.result(1)["optimization"]["best_checkpoint"]["iteration"], 1);
    assert!(done.result(2)["optimization"].get("best_checkpoint").is_none());
}

#[tokio::test]
async fn statement_30_worse_than_best_but_better_than_baseline_is_still_improved() {
    let (_ws, done) = four_then_eight(true).await;

    let second = done.result(2);
    assert_eq!(second["status"], "improved");
    assert_eq!(second["optimization"]["improved_from_baseline"], true);
    assert_eq!(second["optimization"]["improved_from_previous_best"], false);
    assert_eq!(f64_of(&second["optimization"]["previous_best_score"]), 4.0);
    assert_eq!(done.statuses(), ["improved", "improved"]);
}

#[tokio::test]
async fn b3_failed_check_does_not_poison_the_best_score() {
    // Reference repro: baseline 10 passes, iteration 1 fails with 1, iteration 2 passes with 3 →
    // the reference restores the baseline and claims best 1.0. Ours keeps iteration 2.
    let ws = Ws::with_files(&[("work.txt", "original"), ("post.json", r#"{"status": "passed", "best_cycles": 10}"#)]);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, |cx| {
            cx.write("work.txt", "iteration 1");
            cx.write("post.json", r#"{"status": "failed", "best_cycles": 1}"#);
        })
        .on(Phase::Attempt, 2, attempt_scoring(3.0, "iteration 2"))
        .on(Phase::Attempt, 3, attempt_scoring(5.0, "iteration 3"))
        .arc();
    let done = run(optimization(&ws, 3, true), &agent).await;

    assert_eq!(ws.read("work.txt"), "iteration 2", "restored to the best *verified* iteration");
    let summary = done.summary();
    assert_eq!(f64_of(&summary["best_score"]), 3.0);
    assert_eq!(f64_of(&summary["best_unverified_score"]), 1.0);
    assert_eq!(summary["optimization"]["improved"], true);
    assert_eq!(summary["best_checkpoint"]["restore"]["iteration"], 2);
    let capture_iterations: Vec<u64> = summary["best_checkpoint"]["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(capture_iterations, [0, 2]);
    // Iteration 2's "previous best" is the baseline, not the failed 1.0.
    assert_eq!(f64_of(&done.result(2)["optimization"]["previous_best_score"]), 10.0);
    assert_ne!(done.result(1)["status"], "improved");
}

#[tokio::test]
async fn b3_failed_baseline_does_not_seed_the_best_score() {
    let ws = Ws::with_files(&[("work.txt", "original"), ("post.json", r#"{"status": "failed", "best_cycles": 1}"#)]);
    let agent = ScriptedAgent::new().on(Phase::Attempt, 1, attempt_scoring(5.0, "iteration 1")).arc();
    let done = run(optimization(&ws, 1, true), &agent).await;

    let summary = done.summary();
    assert_eq!(f64_of(&summary["baseline_post_attempt"]["score"]), 1.0, "the baseline record is kept");
    assert_eq!(summary["optimization"]["baseline_score"], json!(null));
    assert_eq!(f64_of(&summary["best_score"]), 5.0);
    assert_eq!(f64_of(&summary["best_unverified_score"]), 1.0);
    assert_eq!(summary["optimization"]["improved"], false);
    let captures = summary["best_checkpoint"]["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 1, "no baseline capture: {captures:?}");
    assert_eq!(captures[0]["iteration"], 1);
    let result = done.result(1);
    assert_eq!(result["optimization"]["previous_best_score"], json!(null));
    assert_eq!(result["status"], "verified");
}

#[tokio::test]
async fn b14_end_of_run_restore_never_deletes_excluded_paths() {
    let ws = Ws::with_files(&[
        ("work.txt", "original"),
        ("build/keep.txt", "tracked"),
        ("build/x.o", "object v0"),
        ("src/__pycache__/m.cpython-312.pyc", "bytecode"),
        (".git/HEAD", "ref: refs/heads/main"),
        (".harnessgymignore", "data/\n"),
        ("data/big.bin", "dataset v0"),
        ("post.json", r#"{"status": "passed", "best_cycles": 10}"#),
    ]);
    let agent = ScriptedAgent::new()
        .on(Phase::Attempt, 1, attempt_scoring(4.0, "iteration 1"))
        .on(Phase::Attempt, 2, |cx| {
            attempt_scoring(8.0, "iteration 2")(cx);
            cx.write("build/x.o", "object v2");
            cx.write("build/new.o", "new object");
            cx.write("data/big.bin", "dataset v2");
            cx.write("build/keep.txt", "edited");
            cx.write("stray.txt", "not in the checkpoint");
        })
        .arc();
    let done = run(optimization(&ws, 2, true), &agent).await;

    assert_eq!(done.summary()["best_checkpoint"]["restore"]["iteration"], 1);
    assert_eq!(ws.read("work.txt"), "iteration 1");
    assert_eq!(ws.read("build/keep.txt"), "tracked", "non-excluded files are restored");
    assert!(!ws.exists("stray.txt"), "non-excluded files absent from the checkpoint are removed");
    // Excluded paths inside a restored directory survive, untouched.
    assert_eq!(ws.read("build/x.o"), "object v2");
    assert_eq!(ws.read("build/new.o"), "new object");
    assert_eq!(ws.read("src/__pycache__/m.cpython-312.pyc"), "bytecode");
    assert_eq!(ws.read(".git/HEAD"), "ref: refs/heads/main");
    assert_eq!(ws.read("data/big.bin"), "dataset v2", ".harnessgymignore patterns are excluded too");
    // …and were never copied into the checkpoint.
    let files = done.summary()["best_checkpoint"]["latest"]["files"].clone();
    let files: Vec<&str> = files.as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(files.contains(&"build/keep.txt"), "{files:?}");
    assert!(
        !files.iter().any(|f| f.ends_with(".o")
            || f.contains("__pycache__")
            || f.starts_with(".git/")
            || f.starts_with("data/")),
        "{files:?}"
    );
}

/// Small manifests (snapshot issue, item 5): a cut file list appears in summary.json once per
/// snapshot digest; every other place describing the same tree keeps its count, digest and side
/// file but an empty list. The checkpoint's own manifest keeps its first 1,000 entries.
#[tokio::test]
async fn summary_lists_the_files_of_a_big_snapshot_once() {
    let ws = Ws::with_files(&[("post.json", r#"{"status": "passed", "best_cycles": 10}"#)]);
    for i in 0..1_200 {
        ws.write(&format!("src/d{}/f{i}.txt", i % 7), "x");
    }
    let agent = ScriptedAgent::new().arc();
    let done = run(optimization(&ws, 1, true), &agent).await;
    let summary = done.summary();
    let places = [
        ("template", &summary["artifact_qualification"]["template"], "files"),
        ("capture", &summary["best_checkpoint"]["captures"][0], "files"),
        ("latest", &summary["best_checkpoint"]["latest"], "files"),
        ("restore", &summary["best_checkpoint"]["restore"], "restored_files"),
        ("optimization", &summary["optimization"]["best_checkpoint"], "files"),
    ];
    let digest = &summary["best_checkpoint"]["latest"]["digest"];
    assert!(digest.as_str().is_some_and(|d| d.starts_with("blake3:")), "{digest}");
    let mut lengths = Vec::new();
    for (name, place, key) in places {
        assert_eq!(&place["digest"], digest, "{name}: the same tree");
        assert_eq!(place["files_truncated"], true, "{name}");
        let side = place["files_list_path"].as_str().unwrap_or_else(|| panic!("{name}: no side file"));
        assert_eq!(
            std::fs::read_to_string(side).unwrap().lines().count(),
            1_201,
            "{name}: every path in the side file"
        );
        lengths.push(place[key].as_array().unwrap_or_else(|| panic!("{name}: {key} is kept")).len());
    }
    assert_eq!(lengths, [1_000, 0, 0, 0, 0], "listed once, in the first place it appears");
    let manifest = super::support::read_json(&done.outcome.run_dir.join("checkpoints/best_manifest.json"));
    assert_eq!(manifest["files"].as_array().unwrap().len(), 1_000);
    assert_eq!(manifest["file_count"], 1_201);
}
