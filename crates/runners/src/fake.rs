//! The deterministic `fake` runner: plays the agent offline so the whole loop can be exercised
//! (and demonstrated) without a model.
//!
//! - attempt, iteration 1: writes a `blocked` result (one blocker, one missing tool) on purpose;
//! - attempt, iteration ≥ 2: applies the known fix of the bundled numerical-debug demo
//!   (`examples/numerical-debug/numerics.py`) when the planted bug is present, runs
//!   `verifier.py` when there is one, and writes `solved` or `blocked`;
//! - reflection: recommends and selects the probe tool `harnessgym_fake_probe`;
//! - build: writes `.harnessgym/tools/harnessgym_fake_probe.py` and registers it (the fake plays
//!   the agent, so it may write the registry).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use camino::Utf8Path;
use harnessgym_types::registry::Artifact;
use harnessgym_types::runner::{Phase, PhaseStatus, RunnerResult};
use serde_json::{Map, Value, json};

use crate::{PhaseFiles, PhaseRequest, Runner};

/// The demo module and its planted bug: the max shift is dropped from the log-sum-exp.
pub const DEMO_MODULE: &str = "numerics.py";
/// The demo's buggy line, which the fake agent's second attempt replaces.
pub const DEMO_BUGGY_LINE: &str = "    return math.log(total)";
/// The fixed line the fake agent writes.
pub const DEMO_FIXED_LINE: &str = "    return peak + math.log(total)";
/// The name of the probe tool the fake agent builds (and its reflection selects).
pub const PROBE_NAME: &str = "harnessgym_fake_probe";
/// Where the fake agent writes its probe tool, relative to the workspace.
pub const PROBE_PATH: &str = ".harnessgym/tools/harnessgym_fake_probe.py";
/// The registry description of the probe tool.
pub const PROBE_DESCRIPTION: &str = "Probe built by the fake runner: runs verifier.py and prints its verdict.";
const VERIFIER_TIMEOUT: Duration = Duration::from_secs(10);
const OUTPUT_LIMIT: usize = 8000;

const PROBE_SOURCE: &str = r#"#!/usr/bin/env python3
"""Runs the workspace's verifier.py (when present) and reports its verdict as JSON."""
import json
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[2]
verifier = root / "verifier.py"
if not verifier.exists():
    print(json.dumps({"status": "not_run", "reason": "no verifier.py"}))
    sys.exit(0)
done = subprocess.run([sys.executable, str(verifier)], cwd=root, capture_output=True, text=True)
print(json.dumps({"status": "passed" if done.returncode == 0 else "failed",
                  "return_code": done.returncode, "stdout": done.stdout[-2000:]}))
sys.exit(done.returncode)
"#;

/// Plays the agent deterministically, without any process or network (the offline demo and the
/// tests): the first attempt fails, reflection selects a probe tool, build writes it and
/// registers it, the next attempt fixes the demo's bug.
#[derive(Clone, Debug, Default)]
pub struct FakeRunner;

#[async_trait]
impl Runner for FakeRunner {
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        let started = Instant::now();
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        let session_id = request
            .session_id
            .clone()
            .unwrap_or_else(|| format!("fake-session-{}-{}", request.run_id, request.iteration));
        let mut problems = Vec::new();
        if let Err(e) = PhaseFiles::write(&files.prompt, &request.prompt) {
            problems.push(e.to_string());
        }
        let (status, stdout) = match act(&request).await {
            Ok(done) => done,
            Err(e) => {
                problems.push(e);
                (PhaseStatus::Failed, String::new())
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let transcript = format!(
            "runner: fake\nphase: {}\nstatus: {}\nduration_seconds: {duration:.3}\nsession_id: {session_id}\n\n{stdout}",
            request.phase.as_str(),
            status.as_str()
        );
        for (path, text) in
            [(&files.stdout, stdout.as_str()), (&files.stderr, ""), (&files.transcript, transcript.as_str())]
        {
            if let Err(e) = PhaseFiles::write(path, text) {
                problems.push(e.to_string());
            }
        }
        RunnerResult {
            phase: request.phase,
            status,
            session_id: Some(session_id),
            return_code: Some(0),
            timed_out: false,
            duration_seconds: duration,
            stdout_path: Some(files.stdout),
            stderr_path: Some(files.stderr),
            transcript_path: Some(files.transcript),
            prompt_path: Some(files.prompt),
            message: problems.join("; "),
            usage: None,
            cost_usd: None,
            extra: Default::default(),
        }
    }
}

async fn act(request: &PhaseRequest) -> Result<(PhaseStatus, String), String> {
    match request.phase {
        Phase::Attempt if request.iteration <= 1 => {
            merge_result(
                &request.result_path,
                json!({
                    "status": "blocked",
                    "verified": false,
                    "summary": "The fake agent stopped its first attempt on purpose to exercise reflection and build.",
                    "blockers": ["No quick way to re-run the objective check and read its verdict."],
                    "missing_tooling": ["A probe that runs verifier.py and reports pass/fail as JSON."],
                }),
            )?;
            Ok((PhaseStatus::Blocked, "fake attempt 1 stopped on purpose (blocked)\n".into()))
        }
        Phase::Attempt => second_attempt(request).await,
        Phase::Reflection => {
            merge_result(
                &request.result_path,
                json!({"reflection": {
                    "recommendations": [
                        "Build a probe that runs verifier.py and prints a JSON verdict.",
                        "Keep notes on the numerical invariants of numerics.py.",
                    ],
                    "selected_improvement": {
                        "kind": "tool",
                        "name": PROBE_NAME,
                        "reason": "A fresh session can check the fix in one command.",
                        "target_path": PROBE_PATH,
                    },
                }}),
            )?;
            Ok((PhaseStatus::Completed, format!("fake reflection selected {PROBE_NAME}\n")))
        }
        Phase::Build => {
            let tool = request.workspace.join(PROBE_PATH);
            PhaseFiles::write(&tool, PROBE_SOURCE).map_err(|e| e.to_string())?;
            let mut loaded = harnessgym_artifacts::registry::load(&request.workspace).map_err(|e| e.to_string())?;
            let mut artifact = Artifact::new("tool", PROBE_PATH, PROBE_DESCRIPTION, Some(i64::from(request.iteration)));
            artifact.metadata.insert("source".into(), json!("fake-runner"));
            let artifact_json = serde_json::to_value(&artifact).map_err(|e| e.to_string())?;
            loaded.registry.upsert(artifact);
            harnessgym_artifacts::registry::save(&request.workspace, &mut loaded.registry)
                .map_err(|e| e.to_string())?;
            merge_result(
                &request.result_path,
                json!({
                    "status": "tooling_built",
                    "tooling": {"built": [artifact_json], "summary": "Built the verifier probe."},
                }),
            )?;
            Ok((PhaseStatus::Completed, format!("Created {tool}\nUpdated .harnessgym/registry.json\n")))
        }
    }
}

async fn second_attempt(request: &PhaseRequest) -> Result<(PhaseStatus, String), String> {
    let ws = &request.workspace;
    let module = ws.join(DEMO_MODULE);
    let mut fix_applied = false;
    if let Ok(source) = std::fs::read_to_string(&module)
        && source.lines().any(|l| l == DEMO_BUGGY_LINE)
    {
        {
            let out: String = source
                .split_inclusive('\n')
                .map(|line| match line.trim_end_matches('\n') == DEMO_BUGGY_LINE {
                    true => line.replacen(DEMO_BUGGY_LINE, DEMO_FIXED_LINE, 1),
                    false => line.to_owned(),
                })
                .collect();
            PhaseFiles::write(&module, &out).map_err(|e| e.to_string())?;
            fix_applied = true;
        }
    }
    let registry = harnessgym_artifacts::registry::load(ws).map_err(|e| e.to_string())?.registry;
    let verification = if ws.join("verifier.py").is_file() {
        run_verifier(request).await
    } else {
        let status = if registry.artifacts.is_empty() { "not_run" } else { "passed" };
        json!({"status": status, "command": "fake artifact-context check"})
    };
    let verified = verification.get("status").and_then(Value::as_str) == Some("passed");
    let used: Vec<Value> = registry.artifacts.iter().filter_map(|a| serde_json::to_value(a).ok()).collect();
    merge_result(
        &request.result_path,
        json!({
            "status": if verified { "solved" } else { "blocked" },
            "verified": verified,
            "summary": if fix_applied { "Applied the known log-sum-exp fix and ran the verifier." } else { "No known fix to apply." },
            "verification": verification,
            "used_artifacts": used,
        }),
    )?;
    let status = if verified { PhaseStatus::Completed } else { PhaseStatus::Blocked };
    let v_status = verification.get("status").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    Ok((
        status,
        format!("fake attempt {}\ndemo_fix_applied={fix_applied}\nverification_status={v_status}\n", request.iteration),
    ))
}

async fn run_verifier(request: &PhaseRequest) -> Value {
    let dir = request.phase_dir.join("fake_verifier");
    let spec = harnessgym_proc::CommandSpec::new(
        "python3",
        request.workspace.clone(),
        dir.join("stdout.txt"),
        dir.join("stderr.txt"),
    )
    .arg("verifier.py")
    .timeout(VERIFIER_TIMEOUT);
    let command = "python3 verifier.py";
    match harnessgym_proc::run_with_cancel(spec, request.cancel.clone()).await {
        Err(e) => {
            json!({"status": "failed", "command": command, "return_code": null, "stdout": "", "stderr": e.to_string()})
        }
        Ok(outcome) => {
            let read = |p: &Utf8Path| std::fs::read(p).map(|b| tail(&String::from_utf8_lossy(&b))).unwrap_or_default();
            let passed = outcome.return_code == Some(0);
            json!({
                "status": if passed { "passed" } else { "failed" },
                "command": command,
                "return_code": outcome.return_code,
                "stdout": read(&dir.join("stdout.txt")),
                "stderr": read(&dir.join("stderr.txt")),
            })
        }
    }
}

fn tail(text: &str) -> String {
    let start = text.char_indices().rev().nth(OUTPUT_LIMIT).map_or(0, |(i, _)| i);
    text[start..].to_owned()
}

/// Deep-merges `update` into result.json (the agent's way of writing it).
fn merge_result(path: &Utf8Path, update: Value) -> Result<(), String> {
    let mut current: Map<String, Value> =
        harnessgym_types::json::read_object(path).map_err(|e| e.to_string())?.unwrap_or_default();
    if let Value::Object(update) = update {
        harnessgym_types::result::deep_merge(&mut current, &update);
    }
    current.insert("updated_at".into(), json!(harnessgym_types::timefmt::utc_now()));
    harnessgym_types::json::write_json(path, &current).map_err(|e| e.to_string())
}
