//! One trial: a fresh copy of the template (and the arm's bundle), an attempt-only [`Run`],
//! scoring, validity and budget, then `trial.json` written atomically as the last act.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_runners::Runner;
use harnessgym_scoring::{PostCommand, extract_score, extract_score_strict, post_command_passed, run_post_command};
use harnessgym_snapshot::{CopyPolicy, Purpose, Store};
use harnessgym_types::compare::{TrialBudget, TrialIterationRow, TrialRecord};
use harnessgym_types::post::PostRecord;
use harnessgym_types::runner::RunnerResult;
use harnessgym_types::telemetry::TelemetrySummary;
use harnessgym_types::timefmt::utc_now_micros;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::compare::slots::ScoreSlots;
use crate::compare::spec::{TRIAL_SPEC_FORMAT, TrialSpec};
use crate::events::{EventSink, RunEvent};
use crate::hooks::{Activator, NotRunQualifier, ScoreGate};
use crate::result_file::MAX_RESULT_BYTES;
use crate::{Run, RunConfig};

/// Why a trial did not produce a `trial.json`.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The spec cannot be read or is not one this version runs.
    #[error("trial spec {path}: {message}")]
    Spec {
        /// The spec file.
        path: Utf8PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The trial's workspace could not be prepared (the template copy or the bundle).
    #[error("trial {arm} #{trial}: {message}")]
    Setup {
        /// The arm.
        arm: String,
        /// The trial.
        trial: u32,
        /// What failed.
        message: String,
    },
    /// Cancelled before its end: no trial.json, so `--resume` runs it again.
    #[error("trial {arm} #{trial} was interrupted; `harnessgym compare --resume` runs it again")]
    Interrupted {
        /// The arm.
        arm: String,
        /// The trial.
        trial: u32,
    },
    /// Another process runs this trial now.
    #[error("trial {arm} #{trial} is running in another process ({dir} is locked); wait for it or stop it")]
    Busy {
        /// The arm.
        arm: String,
        /// The trial.
        trial: u32,
        /// The trial's directory.
        dir: Utf8PathBuf,
    },
    /// `trial.json` could not be written.
    #[error("trial {arm} #{trial}: {source}")]
    Write {
        /// The arm.
        arm: String,
        /// The trial.
        trial: u32,
        /// What writing said.
        source: harnessgym_types::TypesError,
    },
}

/// Reads a trial spec, refusing another format.
pub fn read_spec(path: &Utf8Path) -> Result<TrialSpec, TrialError> {
    let err = |message: String| TrialError::Spec { path: path.to_owned(), message };
    let value = harnessgym_types::json::read_value_at_most(path, 16 * 1024 * 1024)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("does not exist".into()))?;
    let format = value.get("format").and_then(Value::as_u64);
    if format != Some(u64::from(TRIAL_SPEC_FORMAT)) {
        return Err(err(format!(
            "format {} is not {TRIAL_SPEC_FORMAT}; run it with the harnessgym that wrote it",
            format.map_or_else(|| "missing".to_owned(), |f| f.to_string())
        )));
    }
    let mut spec: TrialSpec = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
    let ssh_args = &mut spec.request.options.remote.ssh_args;
    if ssh_args.iter().any(|a| a.ends_with("=<redacted>")) {
        let given: Option<Vec<String>> =
            std::env::var(super::SSH_ARGS_ENV).ok().and_then(|v| serde_json::from_str(&v).ok());
        match given {
            Some(real) if harnessgym_proc::remote::redact_ssh_args(&real) == *ssh_args => *ssh_args = real,
            _ => {
                return Err(err(format!(
                    "its --remote-ssh-arg values hold secrets and were redacted; run it through `harnessgym compare`, or \
                     set {} to the JSON list of the real values",
                    super::SSH_ARGS_ENV
                )));
            }
        }
    }
    Ok(spec)
}

/// A finished trial's record, if its `trial.json` is complete (what `--resume` keeps).
pub fn complete_record(path: &Utf8Path) -> Option<TrialRecord> {
    let record: TrialRecord = harnessgym_types::json::read_typed(path).ok().flatten()?;
    (record.complete == Some(true)).then_some(record)
}

/// Makes the trial's agent once its workspace exists (a rehearsal starts its scripted model
/// server there).
#[async_trait::async_trait]
pub trait RunnerFactory: Send + Sync {
    /// The runner for `config`; an error makes the trial invalid with this reason.
    async fn runner(&self, config: &RunConfig) -> Result<Arc<dyn Runner>, String>;
}

/// What a trial runs with besides its spec.
pub struct TrialContext {
    /// Makes the agent.
    pub runners: Arc<dyn RunnerFactory>,
    /// The bundle's activation (the real one launches MCP servers through `harnessgym mcp-proxy`).
    pub activator: Arc<dyn Activator>,
    /// Turns `true` to stop the trial (no trial.json is written).
    pub cancel: watch::Receiver<bool>,
}

/// Times the trial's events carry (activation is the time from an iteration's start to its
/// attempt's start).
#[derive(Default)]
struct Timeline {
    iteration_started: Option<Instant>,
    activation_seconds: f64,
}

/// Runs the trial of `spec` to its end and writes its `trial.json`. A complete `trial.json`
/// already there is returned as it is (the trial ran before).
pub async fn run_trial(spec: &TrialSpec, ctx: TrialContext) -> Result<TrialRecord, TrialError> {
    let record_path = spec.record_path();
    if let Some(done) = complete_record(&record_path) {
        return Ok(done);
    }
    let started_at = utc_now_micros();
    let clock = Instant::now();
    let setup_err = |message: String| TrialError::Setup { arm: spec.arm.clone(), trial: spec.trial, message };
    let ws = spec.workspace();
    std::fs::create_dir_all(&spec.trial_dir).map_err(|e| setup_err(format!("creating {}: {e}", spec.trial_dir)))?;
    // One process per trial: an orphan of a killed compare still running it keeps a resumed
    // compare from starting it twice.
    let lock =
        std::fs::File::open(&spec.trial_dir).map_err(|e| setup_err(format!("opening {}: {e}", spec.trial_dir)))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(TrialError::Busy { arm: spec.arm.clone(), trial: spec.trial, dir: spec.trial_dir.clone() });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(setup_err(format!("locking {}: {e}", spec.trial_dir))),
    }
    if let Some(done) = complete_record(&record_path) {
        return Ok(done);
    }
    // Whatever an interrupted earlier try left goes: the trial starts from the template again.
    for stale in ["trial.json", "post.stdout.txt", "post.stderr.txt", "post.remote.txt", "events.ndjson"] {
        let _ = std::fs::remove_file(spec.trial_dir.join(stale));
    }
    let store = Store::open(&spec.store).map_err(|e| setup_err(e.to_string()))?;
    store
        .copy_out(&spec.template_snapshot, &ws, &CopyPolicy::builtin(Purpose::Copy))
        .map_err(|e| setup_err(format!("copying the template: {e}")))?;
    let (copied, refused) = match &spec.bundle {
        Some(bundle) => {
            let copy = harnessgym_qualify::copy_bundle(bundle, &ws)
                .map_err(|e| setup_err(format!("copying the bundle: {e}")))?;
            (copy.files, copy.refused.iter().map(ToString::to_string).collect())
        }
        None => (Vec::new(), Vec::new()),
    };
    let setup_seconds = clock.elapsed().as_secs_f64();

    let events = EventLog::open(spec);
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let gate: Arc<dyn ScoreGate> = Arc::new(ScoreSlots::new(spec.score_slots_dir.clone(), spec.score_jobs));
    let mut post_seconds = 0.0;
    let (outcome, error) = match RunConfig::from_request(spec.request.clone(), &ws) {
        Err(e) => (None, Some(e.to_string())),
        Ok(config) => match ctx.runners.runner(&config).await {
            Err(e) => (None, Some(e)),
            Ok(runner) => {
                let sink = events.sink(Arc::clone(&timeline));
                let run = Run::new(config, runner)
                    .with_activator(ctx.activator)
                    .with_qualifier(Arc::new(NotRunQualifier))
                    .with_cancel(ctx.cancel.clone())
                    .with_events(sink)
                    .with_score_gate(Arc::clone(&gate));
                // The workspace is a fresh copy of the template's snapshot: reset restores from it.
                let run = match spec.request.options.task_state {
                    harnessgym_types::options::TaskState::Reset => {
                        run.with_task_state_snapshot(spec.template_snapshot.clone())
                    }
                    harnessgym_types::options::TaskState::Continue => run,
                };
                match run.execute().await {
                    Ok(outcome) => (Some(outcome), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            }
        },
    };
    if outcome.as_ref().is_some_and(|o| o.interrupted) || *ctx.cancel.borrow() {
        return Err(TrialError::Interrupted { arm: spec.arm.clone(), trial: spec.trial });
    }

    let mut rows = Vec::new();
    let mut attempts: Vec<RunnerResult> = Vec::new();
    let mut iteration_posts: Vec<Option<PostRecord>> = Vec::new();
    if let Some(outcome) = &outcome {
        for it in &outcome.summary.iterations {
            let doc = harnessgym_types::json::read_object_at_most(Utf8Path::new(&it.result_path), MAX_RESULT_BYTES)
                .ok()
                .flatten()
                .unwrap_or_default();
            let post: Option<PostRecord> = doc.get("post_attempt").and_then(|p| serde_json::from_value(p.clone()).ok());
            let row = iteration_row(spec, it, &doc, post.as_ref());
            if let Some(p) = &post {
                post_seconds += p.duration_seconds;
            }
            iteration_posts.push(post);
            if let Some(a) = &it.attempt {
                attempts.push(a.clone());
            }
            rows.push(row);
        }
    }

    // The reference's single post command after the trial (`--no-post-every-iteration`).
    let mut final_post: Option<PostRecord> = None;
    if !spec.post_every_iteration
        && let Some(command) = spec.post_command.as_deref()
    {
        let remote = crate::config::post_remote_workspace(&spec.request.options.remote, &ws).ok().flatten();
        let _slot = gate.acquire().await;
        let record = run_post_command(
            &PostCommand {
                command,
                cwd: &ws,
                log_dir: &spec.trial_dir,
                prefix: "post",
                timeout: std::time::Duration::from_secs(spec.post_timeout_seconds),
                score_key: &spec.post_score_key,
                remote: remote.as_ref(),
            },
            ctx.cancel.clone(),
        )
        .await;
        if *ctx.cancel.borrow() {
            return Err(TrialError::Interrupted { arm: spec.arm.clone(), trial: spec.trial });
        }
        post_seconds += record.duration_seconds;
        final_post = Some(record);
    }

    let telemetry = workspace_telemetry(&ws);
    let runner_validation = runner_validation(error.as_deref(), &rows);
    let harness_validation = harness_validation(spec, !copied.is_empty(), &rows, &telemetry);
    let runner_valid = runner_validation["valid"].as_bool().unwrap_or(false);
    let harness_valid = harness_validation["valid"].as_bool().unwrap_or(false);
    let comparison_valid = runner_valid && harness_valid;
    let comparison_invalid_reason = [&runner_validation["reason"], &harness_validation["reason"]]
        .iter()
        .filter_map(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("; ");

    // Verified scores: per iteration, or the one final post command.
    let passed_score = |p: &PostRecord| {
        post_command_passed(p)
            .then(|| p.json.as_ref().and_then(|j| extract_score_strict(j, &spec.post_score_key)))
            .flatten()
    };
    let (post_ran, best, last, post_result) = if spec.post_every_iteration {
        let scores: Vec<Option<f64>> = iteration_posts.iter().map(|p| p.as_ref().and_then(passed_score)).collect();
        let best = scores
            .iter()
            .flatten()
            .copied()
            .reduce(|a, b| if harnessgym_scoring::is_better(b, Some(a), spec.higher_is_better) { b } else { a });
        let last_post = iteration_posts.iter().rev().flatten().next().cloned();
        let ran = iteration_posts.iter().any(Option::is_some);
        (ran, best, scores.last().copied().flatten(), last_post)
    } else {
        let score = final_post.as_ref().and_then(passed_score);
        (final_post.is_some(), score, score, final_post.clone())
    };
    let objective_valid = post_ran.then_some(best.is_some());
    let post_valid = objective_valid.map(|v| v && comparison_valid);
    let post_invalid_reason = match (post_ran, post_valid) {
        (true, Some(false)) if !comparison_valid => comparison_invalid_reason.clone(),
        (true, Some(false)) => match &post_result {
            Some(p) if !post_command_passed(p) => {
                let rc = p.return_code.map_or_else(|| "None".to_owned(), |c| c.to_string());
                format!("post command did not pass: status={} return_code={rc}", p.status)
            }
            _ => format!("post command did not emit numeric score for key {}", spec.post_score_key),
        },
        _ => String::new(),
    };

    let last_row = rows.last();
    let budget = budget(spec, &attempts, &timeline, post_seconds, setup_seconds);
    let (run_id, run_dir, solved) = match &outcome {
        Some(o) => (o.run_id.clone(), o.run_dir.to_string(), o.summary.solved),
        None => (spec.request.run_id.clone().unwrap_or_default(), String::new(), false),
    };
    let record = TrialRecord {
        group: spec.arm.clone(),
        trial: spec.trial,
        workspace: ws.to_string(),
        run_id,
        run_dir: Some(run_dir),
        result_path: last_row.and_then(|r| r.result_path.clone()),
        status: last_row.map_or_else(|| "failed".to_owned(), |r| r.status.clone()),
        solved,
        error,
        duration_seconds: clock.elapsed().as_secs_f64(),
        attempt_duration_seconds: last_row.and_then(|r| r.attempt_duration_seconds),
        cumulative_attempt_duration_seconds: Some(
            rows.iter().filter_map(|r| r.attempt_duration_seconds).fold(0.0, |a, b| a + b),
        ),
        iterations_completed: rows.len() as u32,
        score: last_row.and_then(|r| r.score),
        iterations: rows,
        copied_artifacts: copied,
        mcp_call_count: telemetry.count,
        mcp_called_tools: telemetry.called_tools.clone(),
        mcp_telemetry: serde_json::to_value(&telemetry).unwrap_or(Value::Null),
        runner_validation,
        harness_validation,
        comparison_valid,
        comparison_invalid_reason,
        post_result,
        objective_post_valid: objective_valid,
        post_valid,
        post_invalid_reason,
        post_score: if post_valid == Some(true) { best } else { None },
        post_treated_as_worst: post_ran && post_valid != Some(true),
        best_post_score: Some(best),
        final_post_score: Some(last),
        block: Some(spec.block),
        started_at: Some(started_at),
        finished_at: Some(utc_now_micros()),
        budget: Some(budget),
        refused_artifacts: refused,
        complete: Some(true),
        extra: Default::default(),
    };
    harnessgym_types::json::write_json(&record_path, &record).map_err(|source| TrialError::Write {
        arm: spec.arm.clone(),
        trial: spec.trial,
        source,
    })?;
    Ok(record)
}

fn iteration_row(
    spec: &TrialSpec,
    it: &harnessgym_types::summary::IterationRow,
    doc: &Map<String, Value>,
    post: Option<&PostRecord>,
) -> TrialIterationRow {
    let usage = doc.get("harness_usage").and_then(Value::as_object).cloned().unwrap_or_default();
    let count = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    let strings = |k: &str| -> Vec<String> {
        usage
            .get(k)
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
    };
    let attempt = it.attempt.as_ref();
    let post_score = post
        .filter(|p| post_command_passed(p))
        .and_then(|p| p.json.as_ref())
        .and_then(|j| extract_score_strict(j, &spec.post_score_key));
    let mut extra = harnessgym_types::Extra::new();
    extra.insert("active_skill_count".into(), json!(count("active_skill_count")));
    TrialIterationRow {
        iteration: it.iteration,
        status: it.status.clone(),
        solved: it.solved,
        result_path: Some(it.result_path.clone()),
        attempt_status: attempt.map(|a| a.status.as_str().to_owned()),
        attempt_return_code: attempt.and_then(|a| a.return_code),
        attempt_timed_out: attempt.map(|a| a.timed_out),
        attempt_duration_seconds: attempt.map(|a| a.duration_seconds),
        attempt_message: attempt.map(|a| a.message.clone()),
        attempt_transcript_path: attempt.and_then(|a| a.transcript_path.as_ref().map(ToString::to_string)),
        score: extract_score(&Value::Object(doc.clone()), &spec.request.options.score_key),
        post_status: post.map(|p| if post_command_passed(p) { "passed".to_owned() } else { p.status.clone() }),
        post_score,
        active_mcp_count: count("active_mcp_count"),
        active_tool_count: count("active_tool_count"),
        used_active_tools: strings("used_active_tools"),
        mcp_call_count: count("mcp_call_count"),
        mcp_called_tools: strings("mcp_called_tools"),
        extra,
    }
}

fn workspace_telemetry(ws: &Utf8Path) -> TelemetrySummary {
    let path = ws.join(".harnessgym/mcp_calls.jsonl");
    let text = std::fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    harnessgym_types::telemetry::summarize(path.as_str(), &text, 20)
}

/// The runner's side of validity (the reference's rules: timeouts and "blocked" are valid).
fn runner_validation(error: Option<&str>, rows: &[TrialIterationRow]) -> Value {
    if let Some(e) = error {
        return json!({"valid": false, "reason": format!("runner trial raised exception: {e}"),
            "failed_iterations": [], "failed_attempts": []});
    }
    if rows.is_empty() {
        return json!({"valid": false, "reason": "runner trial invalid: no iterations completed",
            "failed_iterations": [], "failed_attempts": []});
    }
    let failed: Vec<&TrialIterationRow> =
        rows.iter().filter(|r| r.attempt_status.as_deref() == Some("failed") || r.status == "failed").collect();
    if failed.is_empty() {
        return json!({"valid": true, "reason": "", "failed_iterations": [], "failed_attempts": []});
    }
    let numbers: Vec<String> = failed.iter().map(|r| r.iteration.to_string()).collect();
    json!({
        "valid": false,
        "reason": format!("runner attempt failed in iteration(s): {}", numbers.join(", ")),
        "failed_iterations": failed.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        "failed_attempts": failed.iter().map(|r| json!({
            "iteration": r.iteration,
            "status": r.status,
            "attempt_status": r.attempt_status,
            "attempt_return_code": r.attempt_return_code,
            "attempt_timed_out": r.attempt_timed_out,
            "attempt_message": r.attempt_message,
            "attempt_transcript_path": r.attempt_transcript_path,
        })).collect::<Vec<_>>(),
    })
}

/// The harness's side of validity. A bundle counts as active when it activated an MCP tool *or*
/// a skill (the reference counted MCP tools only, so a skills-only arm was always invalid).
fn harness_validation(
    spec: &TrialSpec,
    copied_any: bool,
    rows: &[TrialIterationRow],
    telemetry: &TelemetrySummary,
) -> Value {
    if spec.bundle.is_none() {
        return json!({"required": false, "valid": true, "reason": ""});
    }
    let active_required = spec.require_active_harness && copied_any;
    let tool_use_required = spec.require_harness_tool_use && copied_any;
    let max = |f: &dyn Fn(&TrialIterationRow) -> u64| rows.iter().map(f).max().unwrap_or(0);
    let active_tools = max(&|r| r.active_tool_count);
    let active_mcp = max(&|r| r.active_mcp_count);
    let active_skills = max(&|r| r.extra.get("active_skill_count").and_then(Value::as_u64).unwrap_or(0));
    let reason = if !copied_any {
        "harnessed trial invalid: the bundle had no artifacts to copy".to_owned()
    } else if active_required && active_tools == 0 && active_skills == 0 {
        "harnessed trial invalid: copied artifacts did not activate any generated MCP tool or skill".to_owned()
    } else if tool_use_required && telemetry.count == 0 {
        "harnessed trial invalid: generated MCP tools activated but no MCP tool calls were recorded".to_owned()
    } else {
        String::new()
    };
    json!({
        "required": true,
        "active_harness_required": active_required,
        "tool_use_required": tool_use_required,
        "valid": reason.is_empty(),
        "reason": reason,
        "active_tool_count": active_tools,
        "active_mcp_count": active_mcp,
        "active_skill_count": active_skills,
        "mcp_call_count": telemetry.count,
        "mcp_successful_call_count": telemetry.successful_count,
        "mcp_called_tools": telemetry.called_tools,
        "mcp_call_status_counts": telemetry.status_counts,
    })
}

fn budget(
    spec: &TrialSpec,
    attempts: &[RunnerResult],
    timeline: &Mutex<Timeline>,
    post_seconds: f64,
    setup_seconds: f64,
) -> TrialBudget {
    let sum = |f: &dyn Fn(&RunnerResult) -> Option<u64>| -> Option<u64> {
        if attempts.is_empty() { None } else { attempts.iter().map(f).sum() }
    };
    let input = sum(&|a| a.usage.as_ref().and_then(|u| u.input_tokens));
    let cached = sum(&|a| a.usage.as_ref().and_then(|u| u.cached_input_tokens));
    let output = sum(&|a| a.usage.as_ref().and_then(|u| u.output_tokens));
    let reported: Option<f64> = if attempts.is_empty() {
        None
    } else {
        attempts.iter().map(|a| a.cost_usd).try_fold(0.0, |acc, c| c.map(|c| acc + c))
    };
    let usage =
        harnessgym_types::runner::Usage { input_tokens: input, cached_input_tokens: cached, output_tokens: output };
    let (cost, source) = match (reported, &spec.prices) {
        (Some(c), _) => (Some(c), "runner"),
        (None, Some(prices)) => match prices.cost(spec.model.as_deref(), &usage) {
            Some(c) => (Some(c), "prices"),
            None => (None, "unknown"),
        },
        (None, None) => (None, "unknown"),
    };
    let prompt_bytes = attempts
        .iter()
        .filter_map(|a| a.prompt_path.as_ref())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    TrialBudget {
        attempt_seconds: attempts.iter().map(|a| a.duration_seconds).fold(0.0, |a, b| a + b),
        activation_seconds: timeline.lock().map(|t| t.activation_seconds).unwrap_or(0.0),
        post_seconds,
        setup_seconds,
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
        cost_usd: cost,
        cost_source: source.to_owned(),
        prompt_bytes,
    }
}

/// The trial's progress as NDJSON lines (`{at, arm, trial, event, …}`), appended as they happen;
/// the compare's display reads them.
struct EventLog {
    path: Utf8PathBuf,
    arm: String,
    trial: u32,
}

impl EventLog {
    fn open(spec: &TrialSpec) -> Arc<Self> {
        Arc::new(Self { path: spec.events_path(), arm: spec.arm.clone(), trial: spec.trial })
    }

    fn append(&self, mut line: Map<String, Value>) {
        use std::io::Write;
        line.insert("at".into(), json!(utc_now_micros()));
        line.insert("arm".into(), json!(self.arm));
        line.insert("trial".into(), json!(self.trial));
        let Ok(mut text) = serde_json::to_string(&line) else { return };
        text.push('\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path, error = %e, "could not append a trial event");
        }
    }

    fn sink(self: Arc<Self>, timeline: Arc<Mutex<Timeline>>) -> EventSink {
        Arc::new(move |event: &RunEvent| {
            let line = match event {
                RunEvent::Started { run_id, .. } => json!({"event": "started", "run_id": run_id}),
                RunEvent::IterationStarted { iteration } => {
                    if let Ok(mut t) = timeline.lock() {
                        t.iteration_started = Some(Instant::now());
                    }
                    json!({"event": "iteration_started", "iteration": iteration})
                }
                RunEvent::PhaseStarted { iteration, phase } => {
                    if phase == "attempt"
                        && let Ok(mut t) = timeline.lock()
                        && let Some(start) = t.iteration_started.take()
                    {
                        t.activation_seconds += start.elapsed().as_secs_f64();
                    }
                    json!({"event": "phase_started", "iteration": iteration, "phase": phase})
                }
                RunEvent::PhaseFinished { iteration, phase, status } => {
                    json!({"event": "phase_finished", "iteration": iteration, "phase": phase, "status": status})
                }
                RunEvent::Scored { iteration, score, verified, best } => json!({
                    "event": "scored", "iteration": iteration, "score": score, "verified": verified, "best": best
                }),
                RunEvent::IterationFinished { iteration, status, solved } => {
                    json!({"event": "iteration_finished", "iteration": iteration, "status": status, "solved": solved})
                }
                RunEvent::Problem(e) => json!({"event": "problem", "message": e.message}),
                RunEvent::Finished { .. } => json!({"event": "run_finished"}),
                _ => return,
            };
            if let Value::Object(map) = line {
                self.append(map);
            }
        })
    }
}
