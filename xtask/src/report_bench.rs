//! `cargo xtask bench report`: `harnessgym report` (release) on a 3-arm × 20-trial ×
//! 5-iteration compare: the wall time of writing both reports (Markdown and HTML, statistics
//! computed from the trials as for a reference report) and the HTML's size.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{repo_root, run};

const ARMS: [&str; 3] = ["plain", "harnessed", "harnessed-v2"];
const TRIALS: u32 = 20;
const ITERATIONS: u32 = 5;

/// A compare_report.json of ARMS × TRIALS × ITERATIONS, from the report crate's fixture (one of
/// its trials and iteration rows as the model), scores from a fixed generator.
fn synthetic_report(fixture: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(fixture).with_context(|| format!("reading {}", fixture.display()))?;
    let mut report: Value = serde_json::from_str(&text)?;
    let model_trial = report["trials"][0].clone();
    let model_row = model_trial["iterations"][0].clone();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / f64::from(1u32 << 31)
    };
    let mut trials = Vec::new();
    for (a, arm) in ARMS.iter().enumerate() {
        for t in 1..=TRIALS {
            let mut trial = model_trial.clone();
            let mut best = f64::INFINITY;
            let rows: Vec<Value> = (1..=ITERATIONS)
                .map(|i| {
                    let score = (20.0 - 3.0 * a as f64 + 4.0 * next()).round();
                    best = best.min(score);
                    let mut row = model_row.clone();
                    row["iteration"] = json!(i);
                    row["post_score"] = json!(score);
                    row["mcp_call_count"] = json!((next() * 4.0 * a as f64) as u64);
                    row["mcp_called_tools"] = if a > 0 { json!(["probe", "verify"]) } else { json!([]) };
                    row
                })
                .collect();
            trial["group"] = json!(arm);
            trial["trial"] = json!(t);
            trial["block"] = json!(t);
            trial["iterations"] = Value::Array(rows);
            trial["iterations_completed"] = json!(ITERATIONS);
            trial["post_score"] = json!(best);
            trial["best_post_score"] = json!(best);
            trial["mcp_call_count"] = json!((next() * 12.0 * a as f64) as u64);
            trial["cumulative_attempt_duration_seconds"] = json!(60.0 + 240.0 * next());
            trials.push(trial);
        }
    }
    report["trials"] = Value::Array(trials);
    report["arms"] = json!(ARMS.iter().map(|a| json!({"name": a, "source": null, "bundle": null})).collect::<Vec<_>>());
    let model_summary = report["summary"]["plain"].clone();
    report["summary"] =
        json!(ARMS.iter().map(|a| (a.to_string(), model_summary.clone())).collect::<serde_json::Map<_, _>>());
    // Statistics and verdicts computed by the report, as for a reference file (the costlier path).
    if let Some(o) = report.as_object_mut() {
        o.remove("statistics");
        o.remove("verdicts");
    }
    Ok(report)
}

/// `bench report [--runs N]`.
pub fn bench_report(args: &[String]) -> anyhow::Result<()> {
    let root = repo_root();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(10), |v| v.parse().with_context(|| format!("--runs: {v:?} is not a number")))?;
    run(Command::new("cargo").current_dir(&root).args(["build", "--release", "-p", "harnessgym-cli"]))?;
    let hg = root.join("target/release/harnessgym");
    let dir = root.join("target/bench/report");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let report = synthetic_report(&root.join("crates/report/tests/fixtures/compare/compare_report.json"))?;
    std::fs::write(dir.join("compare_report.json"), serde_json::to_string_pretty(&report)?)?;
    let mut walls = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new(&hg).arg("report").arg(&dir).output()?;
        walls.push(start.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            bail!("harnessgym report failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    walls.sort_by(f64::total_cmp);
    let html = std::fs::metadata(dir.join("compare_report.html"))?.len();
    let md = std::fs::metadata(dir.join("compare_report.md"))?.len();
    println!("| compare | runs | wall p50 | wall max | compare_report.html | compare_report.md |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} arms × {TRIALS} trials × {ITERATIONS} iterations | {runs} | {:.0} ms | {:.0} ms | {:.0} KB | {:.0} KB |",
        ARMS.len(),
        walls[walls.len() / 2],
        walls[walls.len() - 1],
        html as f64 / 1024.0,
        md as f64 / 1024.0
    );
    println!("(targets: ≤ 200 ms for both reports, HTML ≤ 1 MB; the wall time includes starting the process)");
    Ok(())
}
