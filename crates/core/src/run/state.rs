//! The loop's bookkeeping: progress, recorded faults, result.json updates, the registry, activation and running one phase.

use std::time::Duration;

use camino::Utf8PathBuf;
use harnessgym_artifacts::prompts::{self, ActivationView};
use harnessgym_artifacts::registry as reg;
use harnessgym_runners::{PhaseRequest, RunnerResult};
use harnessgym_snapshot::CopyPolicy;
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::checkpoint::BestCheckpointReport;
use harnessgym_types::qualification::QualificationSummary;
use harnessgym_types::registry::Registry;
use harnessgym_types::timefmt::utc_now;
use harnessgym_types::{RecordedError, json as hjson};
use serde_json::{Map, Value, json};

use harnessgym_types::options::RunOptions;

use crate::config::RunConfig;
use crate::events::RunEvent;
use crate::progress::{PROGRESS_FILE, RunProgress};
use crate::result_file::ResultFile;

use super::{IterationWork, Loop, PhaseCall, Run, obj};

impl Loop {
    pub(super) fn new(
        run: Run,
        ws: Utf8PathBuf,
        run_id: String,
        run_dir: Utf8PathBuf,
        copy_policy: CopyPolicy,
        task_state_policy: Option<CopyPolicy>,
    ) -> Self {
        Self {
            ws,
            run_id,
            run_dir,
            copy_policy,
            task_state_policy,
            errors: Vec::new(),
            baseline: None,
            baseline_score: None,
            best_verified: None,
            best_unverified: None,
            checkpoint: BestCheckpointReport::default(),
            qualification: QualificationSummary::default(),
            facts: Vec::new(),
            last_result: None,
            interrupted: false,
            task_state_digest: None,
            in_flight: None,
            loop_finished: false,
            resumed: false,
            setup_finished: false,
            checkpoint_view: None,
            saved_in_flight: false,
            run,
        }
    }

    /// Rewrites `progress.json` (atomically). Nothing is saved once the run is cancelled: the
    /// phase that was cut short is not complete, and a resumed run repeats it.
    pub(super) fn save_progress(&mut self, in_flight: Option<&IterationWork>) {
        if self.cancelled() {
            return;
        }
        let progress = RunProgress {
            format: crate::progress::FORMAT,
            run_id: self.run_id.clone(),
            updated_at: utc_now(),
            started_with: self.run.config.recorded.without_secrets(),
            task_state_digest: self.task_state_digest.clone(),
            baseline: self.baseline.clone(),
            baseline_score: self.baseline_score,
            best_verified: self.best_verified,
            best_unverified: self.best_unverified,
            checkpoint: self.checkpoint.clone(),
            qualification: self.qualification.clone(),
            errors: self.errors.clone(),
            iterations: self.facts.clone(),
            last_result_path: self.last_result.as_ref().map(|r| r.path.clone()),
            in_flight: in_flight.map(IterationWork::in_flight),
            setup_finished: self.setup_finished,
            loop_finished: self.loop_finished,
        };
        self.saved_in_flight = progress.in_flight.is_some();
        let path = self.run_dir.join(PROGRESS_FILE);
        if let Err(e) = hjson::write_json(&path, &progress) {
            self.record(None, "progress", Some(path), e.to_string());
        }
    }

    pub(super) fn cfg(&self) -> &RunConfig {
        &self.run.config
    }

    /// Resolves when the run is cancelled (never, for a run no one can cancel). It borrows
    /// nothing, so a wait on anything can be raced against it.
    pub(super) fn until_cancelled(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut cancel = self.run.cancel.clone();
        async move {
            if cancel.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub(super) fn opts(&self) -> &RunOptions {
        &self.run.config.options
    }

    pub(super) fn task_state_dir(&self) -> Utf8PathBuf {
        match &self.run.task_state_snapshot {
            Some(given) => given.clone(),
            None => reg::harness_dir(&self.ws).join("task_state/initial"),
        }
    }

    pub(super) fn cancelled(&self) -> bool {
        *self.run.cancel.borrow()
    }

    pub(super) fn emit(&self, event: RunEvent) {
        if let Some(sink) = &self.run.events {
            sink(&event);
        }
    }

    /// Records a tolerated fault once per run (the same problem met again is not repeated).
    pub(super) fn record(&mut self, iteration: Option<u32>, phase: &str, path: Option<Utf8PathBuf>, message: String) {
        let path = path.map(|p| p.to_string());
        if self.errors.iter().any(|e| e.phase == phase && e.path == path && e.message == message) {
            return;
        }
        tracing::warn!(?iteration, phase, %message, "recorded error");
        let error = RecordedError { iteration, phase: phase.to_owned(), path, message };
        self.emit(RunEvent::Problem(error.clone()));
        self.errors.push(error);
    }

    /// Records a fault of an iteration and writes the iteration's errors into its result.json.
    pub(super) fn record_in_result(
        &mut self,
        result: &mut ResultFile,
        iteration: u32,
        phase: &str,
        path: Option<Utf8PathBuf>,
        message: String,
    ) {
        self.record(Some(iteration), phase, path, message);
        self.flush_errors(result, iteration);
    }

    pub(super) fn flush_errors(&mut self, result: &mut ResultFile, iteration: u32) {
        let mine: Vec<Value> = self
            .errors
            .iter()
            .filter(|e| e.iteration == Some(iteration))
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect();
        if mine.is_empty() {
            return;
        }
        let (_, problems) = result.update(obj(json!({ "errors": mine })));
        for p in problems {
            self.record(Some(iteration), "result", Some(result.path.clone()), p);
        }
    }

    pub(super) fn update_result(
        &mut self,
        result: &mut ResultFile,
        iteration: u32,
        update: Value,
    ) -> Map<String, Value> {
        let (doc, problems) = result.update(obj(update));
        for p in problems {
            let path = Some(result.path.clone());
            self.record_in_result(result, iteration, "result", path, p);
        }
        doc
    }

    pub(super) fn load_registry(&mut self, iteration: Option<u32>) -> Registry {
        match reg::load(&self.ws) {
            Ok(loaded) => {
                for p in loaded.problems {
                    self.record(iteration, "registry", Some(reg::registry_path(&self.ws)), p);
                }
                loaded.registry
            }
            Err(e) => {
                self.record(iteration, "registry", Some(reg::registry_path(&self.ws)), e.to_string());
                Registry::default()
            }
        }
    }

    pub(super) fn save_registry(&mut self, iteration: Option<u32>, registry: &mut Registry) {
        if let Err(e) = reg::save(&self.ws, registry) {
            self.record(iteration, "registry", Some(reg::registry_path(&self.ws)), e.to_string());
        }
    }

    pub(super) fn sync_registry(&mut self, iteration: u32, tag: Option<i64>) -> Registry {
        let mut registry = self.load_registry(Some(iteration));
        if let Err(e) = reg::sync_from_files(&self.ws, &mut registry, tag) {
            self.record(Some(iteration), "registry", Some(reg::registry_path(&self.ws)), e.to_string());
        }
        registry
    }

    pub(super) fn iteration_dir(&self, iteration: u32) -> Utf8PathBuf {
        self.run_dir.join("iterations").join(iteration.to_string())
    }

    pub(super) fn agent(&self) -> prompts::AgentFlavor {
        self.run.runner.agent()
    }

    pub(super) fn activation_view(&self) -> ActivationView {
        match hjson::read_value(&reg::harness_dir(&self.ws).join("activation.json")) {
            Ok(None) => ActivationView::Missing,
            Ok(Some(v @ Value::Object(_))) => ActivationView::Report(v),
            _ => ActivationView::Unreadable,
        }
    }

    pub(super) async fn activate(&mut self, iteration: u32, registry: &Registry, copy_name: &str) -> ActivationReport {
        // Starting servers can take their whole startup timeouts: a cancel stops it at once (the
        // servers started so far die with the dropped activation) and nothing is written.
        let cancelled = self.until_cancelled();
        let report = tokio::select! {
            report = self.run.activator.activate(&self.ws, registry) => report,
            () = cancelled => return ActivationReport::default(),
        };
        let iteration_dir = self.iteration_dir(iteration);
        for path in [reg::harness_dir(&self.ws).join("activation.json"), iteration_dir.join(copy_name)] {
            if let Err(e) = hjson::write_json(&path, &report) {
                self.record(Some(iteration), "activation", Some(path), e.to_string());
            }
        }
        report
    }

    pub(super) async fn phase(&mut self, iteration: u32, call: PhaseCall) -> RunnerResult {
        let PhaseCall { phase, phase_dir, prompt, session_id, timeout_seconds, result_path } = call;
        let name = if phase_dir == self.iteration_dir(iteration) {
            phase.as_str().to_owned()
        } else {
            phase_dir.file_name().unwrap_or("repair").to_owned()
        };
        self.emit(RunEvent::PhaseStarted { iteration, phase: name.clone() });
        let request = PhaseRequest {
            phase,
            run_id: self.run_id.clone(),
            iteration,
            workspace: self.ws.clone(),
            phase_dir,
            result_path,
            prompt,
            session_id,
            timeout: Duration::from_secs(timeout_seconds),
            cancel: self.run.cancel.clone(),
        };
        let result = self.run.runner.run_phase(request).await;
        self.emit(RunEvent::PhaseFinished { iteration, phase: name, status: result.status.as_str().to_owned() });
        result
    }
}
