//! The iteration and its stages: attempt → reflect → build → finalize (qualify, activate, final
//! status). A stage that ends its iteration breaks with the loop's [`Next`].

use std::ops::ControlFlow;
use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_artifacts::prompts::{
    self, AttemptPromptInput, BuildPromptInput, ReflectionPromptInput, RepairPromptInput, StopTarget,
};
use harnessgym_artifacts::registry as reg;
use harnessgym_runners::{Phase, PhaseStatus, RunnerResult};
use harnessgym_scoring::{post_command_passed, reached_stop_score, verified_score};
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::json as hjson;
use harnessgym_types::qualification::QualificationRow;
use harnessgym_types::registry::Registry;
use harnessgym_types::summary::{HarnessUsageRow, IterationRow, QualityGateRow};
use harnessgym_types::telemetry::{TelemetrySummary, summarize};
use harnessgym_types::timefmt::utc_now;
use serde_json::{Map, Value, json};

use crate::events::RunEvent;
use crate::hooks::{QualificationOutcome, QualifyRequest, RepairHook};
use crate::progress::{InFlight, IterationFacts, Stage};
use crate::result_file::ResultFile;
use crate::usage::{UsageInput, harness_usage};

use super::{IterationWork, Loop, Next, PhaseCall, obj};

/// The stages that go on in the attempt's session and end alike ([`Loop::stage_done`]).
#[derive(Clone, Copy)]
enum SessionStage {
    Reflection,
    Build,
}

impl Loop {
    pub(super) async fn run_iterations(&mut self) {
        if self.loop_finished {
            return;
        }
        let mut in_flight = self.in_flight.take();
        // A resumed run repeats an interrupted attempt from the task state it would have had.
        let resumed = self.resumed;
        let first = self.facts.last().map_or(1, |f| f.row.iteration + 1);
        for iteration in in_flight.as_ref().map_or(first, |f| f.iteration)..=self.cfg().iterations {
            if self.cancelled() {
                self.interrupted = true;
                break;
            }
            let restore_task_state = iteration > 1 || (resumed && in_flight.is_none());
            let next = self.iteration(iteration, in_flight.take(), restore_task_state).await;
            if self.cancelled() {
                self.interrupted = true;
                break;
            }
            if matches!(next, Next::Stop) {
                break;
            }
        }
        if !self.interrupted {
            self.loop_finished = true;
            self.save_progress(None);
        }
    }

    /// One iteration, or the rest of one a resumed run left in flight. Faults are recorded; the
    /// loop goes on. Progress is saved after each stage that completes without a cancel.
    pub(super) async fn iteration(
        &mut self,
        iteration: u32,
        in_flight: Option<InFlight>,
        restore_task_state: bool,
    ) -> Next {
        match self.stages(iteration, in_flight, restore_task_state).await {
            ControlFlow::Break(next) | ControlFlow::Continue(next) => next,
        }
    }

    /// The stages still to run; a stage that ends the iteration breaks out with the loop's next
    /// step.
    async fn stages(
        &mut self,
        iteration: u32,
        in_flight: Option<InFlight>,
        restore_task_state: bool,
    ) -> ControlFlow<Next, Next> {
        let mut work = match in_flight {
            Some(f) => self.reload_iteration(f),
            None => self.attempt_stage(iteration, restore_task_state).await?,
        };
        if work.stage < Stage::Reflected {
            self.reflect_stage(&mut work).await?;
        }
        if work.stage < Stage::Built {
            self.build_stage(&mut work).await?;
        }
        ControlFlow::Continue(self.finalize_stage(work).await)
    }

    /// Task-state reset, activation, the attempt, the post command, scores and checkpoint.
    /// Breaks when the iteration ended there (stop rules, `--attempt-only`, a cancel).
    pub(super) async fn attempt_stage(
        &mut self,
        iteration: u32,
        restore_task_state: bool,
    ) -> ControlFlow<Next, IterationWork> {
        self.emit(RunEvent::IterationStarted { iteration });
        if let (true, Some(policy)) = (restore_task_state, &self.task_state_policy) {
            let snapshot = self.task_state_dir();
            if let Err(e) = harnessgym_snapshot::restore(&snapshot, &self.ws, policy) {
                self.record(Some(iteration), "task_state", Some(snapshot), e.to_string());
            }
        }
        let registry = self.sync_registry(iteration, None);
        let iteration_dir = self.iteration_dir(iteration);
        if let Err(e) = std::fs::create_dir_all(&iteration_dir) {
            self.record(Some(iteration), "setup", Some(iteration_dir.clone()), e.to_string());
        }
        let activation = self.activate(iteration, &registry, "activation.json").await;
        let now = utc_now();
        let initial = obj(json!({
            "run_id": self.run_id,
            "iteration": iteration,
            "status": "running",
            "verified": false,
            "task_path": self.cfg().task_path.as_ref().map(ToString::to_string),
            "registry_artifact_count": registry.artifacts.len(),
            "phases": {},
            "created_at": now,
            "updated_at": now,
        }));
        let result_path = iteration_dir.join("result.json");
        let mut result = match ResultFile::create(result_path.clone(), initial.clone()) {
            Ok(r) => r,
            Err(e) => {
                self.record(Some(iteration), "result", Some(result_path.clone()), e);
                ResultFile::detached(result_path.clone(), initial)
            }
        };

        // Attempt: always a fresh session.
        let listings = reg::listings(&self.ws, &registry);
        let quarantined_count = registry.quarantined().count();
        let activation_view = self.activation_view();
        let stop_target = self.opts().stop_score.map(|value| StopTarget {
            score_key: self.opts().score_key.clone(),
            higher_is_better: self.opts().higher_is_better,
            value,
        });
        let task_origin = self.cfg().task_path.as_ref().map(|p| match p.strip_prefix(&self.ws) {
            Ok(rel) => rel.to_string(),
            Err(_) => p.to_string(),
        });
        let prompt = prompts::attempt_prompt(&AttemptPromptInput {
            agent: self.agent(),
            iteration,
            workspace: &self.ws,
            task_origin: task_origin.as_deref(),
            task_text: self.cfg().task_text.trim(),
            artifacts: &listings,
            quarantined_count,
            activation: &activation_view,
            stop_target: stop_target.as_ref(),
            result_path: &result_path,
        });
        let telemetry_offset = std::fs::metadata(self.telemetry_path()).map(|m| m.len()).unwrap_or(0);
        let timeout = self.cfg().attempt_timeout_for(iteration).seconds();
        let attempt = self
            .phase(
                iteration,
                PhaseCall {
                    phase: Phase::Attempt,
                    phase_dir: iteration_dir.clone(),
                    prompt,
                    session_id: None,
                    timeout_seconds: timeout,
                    result_path: result_path.clone(),
                },
            )
            .await;
        let telemetry = self.telemetry_since(telemetry_offset);
        if !attempt.message.is_empty() && attempt.status == PhaseStatus::Failed {
            let path = attempt.stderr_path.clone();
            self.record_in_result(&mut result, iteration, "attempt", path, attempt.message.clone());
        }
        let mut doc = self.update_result(&mut result, iteration, json!({"phases": {"attempt": attempt}}));
        if harnessgym_types::result::status(&doc).is_none_or(|s| s == "running") {
            doc =
                self.update_result(&mut result, iteration, json!({"status": attempt.status.fallback_result_status()}));
        }

        // Independent scoring, even after a timeout or failure (not after an interrupt).
        let post = if self.cancelled() {
            None
        } else {
            self.post(&iteration_dir, "post_attempt", self.run.cancel.clone()).await
        };
        let post_passed = post.as_ref().is_some_and(post_command_passed);
        if let Some(record) = &post {
            if let Some(message) = &record.message {
                let path = record.stdout_path.clone();
                self.record_in_result(&mut result, iteration, "post_attempt", path, message.clone());
            }
            let update = self.post_update(record, post_passed, harnessgym_types::result::status(&doc));
            doc = self.update_result(&mut result, iteration, update);
        }

        let usage = self.usage_value(&activation, &doc, &registry, &attempt, &telemetry);
        doc = self.update_result(&mut result, iteration, json!({"harness_usage": usage}));

        // Score, best and checkpoint: only verified scores count.
        let score = verified_score(&doc, post.as_ref(), self.post_configured(), &self.opts().score_key);
        self.track_scores(iteration, &doc, post.as_ref(), score, &mut result);

        let stop = self.opts().stop_score;
        let reached = reached_stop_score(score, stop, self.opts().higher_is_better);
        let solved_verified = self.solved_verified(&doc, post.as_ref());
        let phases = (Some(attempt.clone()), None, None);
        if self.opts().attempt_only || self.cancelled() {
            let solved = solved_verified || reached;
            self.finish_iteration(iteration, result, &doc, phases, solved, Some(&usage), None);
            return ControlFlow::Break(if solved { Next::Stop } else { Next::Continue });
        }
        if reached {
            self.finish_iteration(iteration, result, &doc, phases, true, Some(&usage), None);
            return ControlFlow::Break(Next::Stop);
        }
        let solved_first = solved_verified && stop.is_none();
        if solved_first && !self.opts().build_after_solve {
            self.finish_iteration(iteration, result, &doc, phases, true, Some(&usage), None);
            return ControlFlow::Break(Next::Stop);
        }
        let work = IterationWork {
            iteration,
            stage: Stage::Attempted,
            dir: iteration_dir,
            result,
            doc,
            activation,
            attempt,
            reflection: None,
            build: None,
            telemetry,
            post,
            usage,
            solved_first,
        };
        self.save_progress(Some(&work));
        ControlFlow::Continue(work)
    }

    /// Picks up an iteration a resumed run left in flight: its result.json and activation report
    /// from disk, the rest from the progress file.
    pub(super) fn reload_iteration(&mut self, f: InFlight) -> IterationWork {
        let iteration = f.iteration;
        self.emit(RunEvent::IterationStarted { iteration });
        self.put_back_in_flight_tree(iteration);
        let dir = self.iteration_dir(iteration);
        let result = ResultFile::reopen(dir.join("result.json"));
        let (doc, problem) = result.read();
        if let Some(message) = problem {
            self.record(Some(iteration), "result", Some(result.path.clone()), message);
        }
        let activation_path = dir.join("activation.json");
        let activation = match hjson::read_typed::<ActivationReport>(&activation_path) {
            Ok(Some(report)) => report,
            Ok(None) => ActivationReport::default(),
            Err(e) => {
                self.record(Some(iteration), "activation", Some(activation_path), e.to_string());
                ActivationReport::default()
            }
        };
        let usage = doc.get("harness_usage").cloned().unwrap_or(Value::Null);
        IterationWork {
            iteration,
            stage: f.stage,
            dir,
            result,
            doc,
            activation,
            attempt: f.attempt,
            reflection: f.reflection,
            build: f.build,
            telemetry: f.telemetry,
            post: f.post,
            usage,
            solved_first: f.solved_first,
        }
    }

    /// Reflection in the attempt's session. Breaks when the iteration ended (a cancel).
    pub(super) async fn reflect_stage(&mut self, w: &mut IterationWork) -> ControlFlow<Next> {
        let iteration = w.iteration;
        let result_path = w.result.path.clone();
        let reflection_prompt = prompts::reflection_prompt(&ReflectionPromptInput {
            agent: self.agent(),
            iteration,
            result_json: &Value::Object(w.doc.clone()),
            result_path: &result_path,
            depth: self.opts().harness_depth,
        });
        let reflection = self
            .phase(
                iteration,
                PhaseCall {
                    phase: Phase::Reflection,
                    phase_dir: w.dir.clone(),
                    prompt: reflection_prompt,
                    session_id: w.attempt.session_id.clone(),
                    timeout_seconds: self.cfg().reflection_timeout().seconds(),
                    result_path,
                },
            )
            .await;
        self.stage_done(w, SessionStage::Reflection, reflection)
    }

    /// Build in the reflection's session (else the attempt's). Breaks when the iteration ended.
    pub(super) async fn build_stage(&mut self, w: &mut IterationWork) -> ControlFlow<Next> {
        let iteration = w.iteration;
        let result_path = w.result.path.clone();
        let reflection_stdout =
            w.reflection.as_ref().and_then(|r| r.stdout_path.as_ref()).and_then(|p| std::fs::read(p).ok());
        let selected = prompts::selected_improvement_text(
            &Value::Object(w.doc.clone()),
            reflection_stdout.as_deref().map(String::from_utf8_lossy).as_deref(),
        );
        let build_prompt = prompts::build_prompt(&BuildPromptInput {
            agent: self.agent(),
            iteration,
            selected_improvement: &selected,
            result_path: &result_path,
            depth: self.opts().harness_depth,
        });
        let build_session =
            w.reflection.as_ref().and_then(|r| r.session_id.clone()).or_else(|| w.attempt.session_id.clone());
        let build = self
            .phase(
                iteration,
                PhaseCall {
                    phase: Phase::Build,
                    phase_dir: w.dir.clone(),
                    prompt: build_prompt,
                    session_id: build_session,
                    timeout_seconds: self.opts().timeouts.build.seconds(),
                    result_path,
                },
            )
            .await;
        self.stage_done(w, SessionStage::Build, build)
    }

    /// The tail of reflection and build: the phase's record into result.json and the work;
    /// then, after a cancel, the iteration reported as far as it got (a break), else the stage
    /// saved as progress.
    fn stage_done(&mut self, w: &mut IterationWork, done: SessionStage, outcome: RunnerResult) -> ControlFlow<Next> {
        let (name, slot, stage) = match done {
            SessionStage::Reflection => ("reflection", &mut w.reflection, Stage::Reflected),
            SessionStage::Build => ("build", &mut w.build, Stage::Built),
        };
        *slot = Some(outcome.clone());
        w.doc = self.update_result(&mut w.result, w.iteration, json!({ "phases": { name: outcome } }));
        if self.cancelled() {
            self.end_cancelled(w);
            return ControlFlow::Break(Next::Stop);
        }
        w.stage = stage;
        self.save_progress(Some(w));
        ControlFlow::Continue(())
    }

    /// A cancel during reflection or build: the iteration is reported as far as it got (not
    /// saved as progress, so a resumed run repeats the interrupted phase).
    pub(super) fn end_cancelled(&mut self, w: &mut IterationWork) {
        let phases = (Some(w.attempt.clone()), w.reflection.clone(), w.build.clone());
        let placeholder = ResultFile::detached(w.result.path.clone(), Map::new());
        let result = std::mem::replace(&mut w.result, placeholder);
        self.finish_iteration(w.iteration, result, &w.doc, phases, false, Some(&w.usage), None);
    }

    /// Register, qualify and activate the built artifacts for the next session; final status.
    pub(super) async fn finalize_stage(&mut self, w: IterationWork) -> Next {
        let IterationWork {
            iteration,
            mut result,
            activation,
            attempt,
            reflection,
            build,
            telemetry,
            post,
            mut usage,
            solved_first,
            ..
        } = w;
        let build_completed = build.as_ref().is_some_and(|b| b.status == PhaseStatus::Completed);
        let mut registry = self.sync_registry(iteration, Some(i64::from(iteration)));
        if self.opts().qualification.enabled {
            let session = build
                .as_ref()
                .and_then(|b| b.session_id.clone())
                .or_else(|| reflection.as_ref().and_then(|r| r.session_id.clone()));
            self.qualify(iteration, &mut result, session).await;
            registry = self.load_registry(Some(iteration));
        }
        let post_build = self.activate(iteration, &registry, "post_build_activation.json").await;
        let gate = serde_json::to_value(&post_build.quality_gate).unwrap_or(Value::Null);
        let mut doc = self.update_result(
            &mut result,
            iteration,
            json!({
                "registry_artifact_count": registry.artifacts.len(),
                "registry_path": reg::registry_path(&self.ws),
                "harness_quality_gate": gate,
            }),
        );
        let gate_row = QualityGateRow {
            iteration,
            status: post_build.quality_gate.status.clone(),
            active_mcp_count: post_build.quality_gate.active_mcp_count,
            inactive_mcp_count: post_build.quality_gate.inactive_mcp_count,
            active_tool_count: post_build.quality_gate.active_tool_count,
        };
        let phases = (Some(attempt.clone()), reflection, build);

        if solved_first {
            // --build-after-solve: the task was solved before building.
            doc = self.update_result(
                &mut result,
                iteration,
                json!({"status": "solved", "verified": true, "primary_task_solved_before_build": true}),
            );
            self.finish_iteration(iteration, result, &doc, phases, true, Some(&usage), Some(gate_row));
            return Next::Stop;
        }

        usage = self.usage_value(&activation, &doc, &registry, &attempt, &telemetry);
        doc = self.update_result(&mut result, iteration, json!({"harness_usage": usage}));
        let status = harnessgym_types::result::status(&doc);
        let unfinished = status.is_none_or(|s| matches!(s, "running" | "blocked" | "incomplete"));
        if unfinished && build_completed && !self.solved_verified(&doc, post.as_ref()) {
            doc = self.update_result(&mut result, iteration, json!({"status": "tooling_built"}));
        }
        // The agent may have edited result.json during reflect/build; re-check the stop rules.
        let score = verified_score(&doc, post.as_ref(), self.post_configured(), &self.opts().score_key);
        let reached = reached_stop_score(score, self.opts().stop_score, self.opts().higher_is_better);
        let solved = (self.solved_verified(&doc, post.as_ref()) && self.opts().stop_score.is_none()) || reached;
        self.finish_iteration(iteration, result, &doc, phases, solved, Some(&usage), Some(gate_row));
        if solved { Next::Stop } else { Next::Continue }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_iteration(
        &mut self,
        iteration: u32,
        mut result: ResultFile,
        doc: &Map<String, Value>,
        phases: (Option<RunnerResult>, Option<RunnerResult>, Option<RunnerResult>),
        solved: bool,
        usage: Option<&Value>,
        gate: Option<QualityGateRow>,
    ) {
        self.flush_errors(&mut result, iteration);
        let status = harnessgym_types::result::status(doc).unwrap_or("unknown").to_owned();
        let count = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
        let usage_row = usage.map(|u| HarnessUsageRow {
            iteration,
            active_skill_count: count(u, "active_skill_count"),
            active_mcp_count: count(u, "active_mcp_count"),
            active_tool_count: count(u, "active_tool_count"),
            declared_tool_use_count: count(u, "declared_tool_use_count"),
            inferred_tool_use_count: count(u, "inferred_tool_use_count"),
            used_active_tools: u
                .get("used_active_tools")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        });
        self.emit(RunEvent::IterationFinished { iteration, status: status.clone(), solved });
        self.facts.push(IterationFacts {
            row: IterationRow {
                iteration,
                status,
                result_path: result.path.to_string(),
                attempt: phases.0,
                reflection: phases.1,
                build: phases.2,
                solved,
            },
            usage: usage_row,
            gate,
        });
        self.last_result = Some(result);
        self.save_progress(None);
    }

    pub(super) async fn qualify(&mut self, iteration: u32, result: &mut ResultFile, session: Option<String>) {
        let request = QualifyRequest {
            iteration,
            workspace: self.ws.clone(),
            run_dir: self.run_dir.clone(),
            iteration_dir: self.iteration_dir(iteration),
            repair_attempts: self.cfg().repair_attempts,
            keep_rooms: self.opts().qualification.keep_rooms,
            more_iterations: iteration < self.cfg().iterations,
        };
        let qualifier = Arc::clone(&self.run.qualifier);
        // Self-tests and smoke probes can take their whole timeouts: a cancel stops them at once
        // (their processes die with the dropped qualification); the stage is then repeated on
        // resume, as it was never recorded.
        let cancelled = self.until_cancelled();
        let mut hook = SessionRepair { state: self, result, session, iteration };
        let outcome = tokio::select! {
            outcome = qualifier.qualify(&request, &mut hook) => outcome,
            () = cancelled => QualificationOutcome { reports: Vec::new() },
        };
        for report in &outcome.reports {
            let path = report.report_path.as_deref().map(Utf8PathBuf::from);
            if let Some(path) = &path
                && let Err(e) = hjson::write_json(path, report)
            {
                self.record(Some(iteration), "qualification", Some(path.clone()), e.to_string());
            }
            let gate = report.quality_gate.as_ref();
            let gate_count = |key: &str| gate.and_then(|g| g.get(key)).and_then(Value::as_u64).unwrap_or(0);
            self.qualification.reports.push(QualificationRow {
                iteration,
                status: report.status.clone(),
                report_path: report.report_path.clone(),
                fresh_workspace: report.fresh_workspace.clone(),
                active_mcp_count: gate_count("active_mcp_count"),
                active_tool_count: gate_count("active_tool_count"),
                inactive_mcp_count: gate_count("inactive_mcp_count"),
                failed_artifacts: report.failed_artifacts.clone(),
            });
        }
        if let Some(last) = outcome.reports.last() {
            let value = serde_json::to_value(last).unwrap_or(Value::Null);
            self.update_result(result, iteration, json!({ "artifact_qualification": value }));
        }
    }

    pub(super) fn telemetry_path(&self) -> Utf8PathBuf {
        reg::harness_dir(&self.ws).join("mcp_calls.jsonl")
    }

    /// Telemetry lines appended since `offset` (bug B12: per attempt, not workspace-cumulative).
    pub(super) fn telemetry_since(&self, offset: u64) -> TelemetrySummary {
        let path = self.telemetry_path();
        let text = std::fs::read(&path)
            .map(|bytes| String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned())
            .unwrap_or_default();
        summarize(path.as_str(), &text, 20)
    }

    /// The attempt's output for usage inference. The transcript's `command:` line is left out:
    /// it lists the configured tools (e.g. `enabled_tools=[…]` overrides), which would count every
    /// active tool as used (bug B13's false positives).
    pub(super) fn attempt_sources(attempt: &RunnerResult) -> Vec<(String, String)> {
        [&attempt.stdout_path, &attempt.stderr_path, &attempt.transcript_path]
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let bytes = std::fs::read(p).ok()?;
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                if Some(p) == attempt.transcript_path.as_ref() {
                    text = text.lines().filter(|l| !l.starts_with("command: ")).collect::<Vec<_>>().join("\n");
                }
                (!text.trim().is_empty()).then(|| (p.to_string(), text))
            })
            .collect()
    }

    pub(super) fn usage_value(
        &self,
        activation: &ActivationReport,
        result: &Map<String, Value>,
        registry: &Registry,
        attempt: &RunnerResult,
        telemetry: &TelemetrySummary,
    ) -> Value {
        let sources = Self::attempt_sources(attempt);
        harness_usage(&UsageInput { activation, result, registry, sources: &sources, telemetry })
    }
}

/// Backs a qualifier's repair requests with the build session of the iteration.
struct SessionRepair<'a> {
    state: &'a mut Loop,
    result: &'a mut ResultFile,
    session: Option<String>,
    iteration: u32,
}

#[async_trait::async_trait]
impl RepairHook for SessionRepair<'_> {
    async fn repair(&mut self, repair_attempt: u32, failed_report: &Value) -> bool {
        let Some(session) = self.session.clone() else {
            return false;
        };
        if self.state.cancelled() {
            return false;
        }
        let iteration = self.iteration;
        let dir = self.state.iteration_dir(iteration).join(format!("repair_{repair_attempt}"));
        let prompt = prompts::repair_prompt(&RepairPromptInput {
            agent: self.state.agent(),
            iteration,
            repair_attempt,
            qualification_report: failed_report,
            result_path: &self.result.path,
            depth: self.state.opts().harness_depth,
        });
        let timeout = self.state.opts().timeouts.build.seconds();
        let outcome = self
            .state
            .phase(
                iteration,
                PhaseCall {
                    phase: Phase::Build,
                    phase_dir: dir,
                    prompt,
                    session_id: Some(session),
                    timeout_seconds: timeout,
                    result_path: self.result.path.clone(),
                },
            )
            .await;
        if let Some(next) = &outcome.session_id {
            self.session = Some(next.clone());
        }
        let key = format!("repair_{repair_attempt}");
        self.state.update_result(self.result, iteration, json!({ "phases": { key: outcome } }));
        self.state.sync_registry(iteration, Some(i64::from(iteration)));
        true
    }
}
