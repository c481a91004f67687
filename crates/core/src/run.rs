//! `Run`: the iteration loop — attempt → post-attempt score → reflect → build → qualify →
//! activate — with task state, best checkpoint and summary.

use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_artifacts::prompts::{
    self, ActivationView, AttemptPromptInput, BuildPromptInput, ReflectionPromptInput, RepairPromptInput, StopTarget,
};
use harnessgym_artifacts::registry as reg;
use harnessgym_runners::{Phase, PhaseRequest, PhaseStatus, Runner, RunnerResult};
use harnessgym_scoring::{
    OptimizationInput, PostCommand, extract_score, is_better, optimization_block, post_command_passed,
    reached_stop_score, run_post_command, verified_score,
};
use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotView};
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::checkpoint::{BestCheckpointReport, CheckpointManifest, RestoreReport};
use harnessgym_types::post::PostRecord;
use harnessgym_types::qualification::{QualificationRow, QualificationSummary};
use harnessgym_types::registry::Registry;
use harnessgym_types::result::is_solved_and_verified;
use harnessgym_types::summary::{HarnessUsageRow, IterationRow, OptimizationSummary, QualityGateRow, Summary};
use harnessgym_types::telemetry::{TelemetrySummary, summarize};
use harnessgym_types::timefmt::{compact_utc_now, utc_now};
use harnessgym_types::{RecordedError, json as hjson};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use harnessgym_types::options::{RunOptions, TaskState};

use crate::config::RunConfig;
use crate::events::{EventSink, RunEvent};
use crate::hooks::{Activator, CleanRoomQualifier, HarnessActivation, Qualifier, QualifyRequest, RepairHook};
use crate::progress::{InFlight, IterationFacts, PROGRESS_FILE, Resumable, RunProgress, Stage};
use crate::result_file::ResultFile;
use crate::usage::{UsageInput, harness_usage};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("run id {0} already exists; pass another --run-id (an interrupted run goes on with --resume {0})")]
    RunIdExists(String),
    #[error("run id {0:?} is not a plain directory name; use letters, digits, '-', '_' or '.'")]
    BadRunId(String),
    #[error("{0}")]
    Setup(String),
}

/// What a finished run reports to its caller (the CLI prints it).
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub run_dir: Utf8PathBuf,
    pub summary: Summary,
    pub summary_path: Utf8PathBuf,
    pub last_result_path: Option<Utf8PathBuf>,
    pub interrupted: bool,
}

/// A configured run. Build it with [`Run::new`], swap seams with the `with_*` methods, then
/// [`Run::execute`].
pub struct Run {
    config: RunConfig,
    runner: Arc<dyn Runner>,
    activator: Arc<dyn Activator>,
    qualifier: Arc<dyn Qualifier>,
    events: Option<EventSink>,
    cancel: watch::Receiver<bool>,
    resume: Option<Resumable>,
}

impl Run {
    pub fn new(config: RunConfig, runner: Arc<dyn Runner>) -> Self {
        let (_tx, cancel) = watch::channel(false);
        Self {
            config,
            runner,
            activator: Arc::new(HarnessActivation::from_current_exe()),
            qualifier: Arc::new(CleanRoomQualifier::from_current_exe()),
            events: None,
            cancel,
            resume: None,
        }
    }

    pub fn with_activator(mut self, activator: Arc<dyn Activator>) -> Self {
        self.activator = activator;
        self
    }

    pub fn with_qualifier(mut self, qualifier: Arc<dyn Qualifier>) -> Self {
        self.qualifier = qualifier;
        self
    }

    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// When the receiver turns `true`, the running phase's process group is killed, the best
    /// checkpoint restored and the summary written with `final_status: "interrupted"`.
    pub fn with_cancel(mut self, cancel: watch::Receiver<bool>) -> Self {
        self.cancel = cancel;
        self
    }

    /// Continues `resumable` instead of starting a new run (`run --resume`): build the run from
    /// [`Resumable::config`] and a runner for it. Completed phases are not repeated; the
    /// unfinished iteration goes on from its last completed stage, in the sessions it recorded.
    pub fn with_resume(mut self, resumable: Resumable) -> Self {
        self.resume = Some(resumable);
        self
    }

    pub async fn execute(self) -> Result<RunOutcome, RunError> {
        let mut state = Loop::setup(self).await?;
        state.run_iterations().await;
        Ok(state.finish().await)
    }
}

pub(crate) fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn generate_run_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", compact_utc_now(), &hex[..8])
}

enum Next {
    Continue,
    Stop,
}

/// One phase to run (see [`Loop::phase`]).
struct PhaseCall {
    phase: Phase,
    phase_dir: Utf8PathBuf,
    prompt: String,
    session_id: Option<String>,
    timeout_seconds: u64,
    result_path: Utf8PathBuf,
}

/// The working state of one iteration between its stages (see [`Loop::iteration`]).
struct IterationWork {
    iteration: u32,
    /// The last completed stage.
    stage: Stage,
    dir: Utf8PathBuf,
    result: ResultFile,
    doc: Map<String, Value>,
    /// The activation the attempt ran with.
    activation: ActivationReport,
    attempt: RunnerResult,
    reflection: Option<RunnerResult>,
    build: Option<RunnerResult>,
    telemetry: TelemetrySummary,
    post: Option<PostRecord>,
    usage: Value,
    solved_first: bool,
}

impl IterationWork {
    fn in_flight(&self) -> InFlight {
        InFlight {
            iteration: self.iteration,
            stage: self.stage,
            attempt: self.attempt.clone(),
            reflection: self.reflection.clone(),
            build: self.build.clone(),
            telemetry: self.telemetry.clone(),
            post: self.post.clone(),
            solved_first: self.solved_first,
        }
    }
}

struct Loop {
    run: Run,
    ws: Utf8PathBuf,
    run_id: String,
    run_dir: Utf8PathBuf,
    copy_policy: CopyPolicy,
    task_state_policy: Option<CopyPolicy>,
    errors: Vec<RecordedError>,
    baseline: Option<PostRecord>,
    /// The baseline score, counted only when the baseline post command passed (bug B3).
    baseline_score: Option<f64>,
    best_verified: Option<f64>,
    best_unverified: Option<f64>,
    checkpoint: BestCheckpointReport,
    qualification: QualificationSummary,
    facts: Vec<IterationFacts>,
    last_result: Option<ResultFile>,
    interrupted: bool,
    /// Digest of the task-state snapshot, recorded for `--resume`.
    task_state_digest: Option<String>,
    /// A resumed run's unfinished iteration.
    in_flight: Option<InFlight>,
    /// The loop is over; only the end of the run is left.
    loop_finished: bool,
    /// This is a resumed run.
    resumed: bool,
    /// The baseline has been scored (set-up is complete).
    setup_finished: bool,
    /// The best checkpoint's browsable view, built on its own thread after each capture (the
    /// loop needs only the manifest); joined before the next capture and when the run ends.
    checkpoint_view: Option<std::thread::JoinHandle<()>>,
    /// The last progress saved has an iteration in flight (`--resume` goes on with its
    /// reflection or build).
    saved_in_flight: bool,
}

impl Loop {
    async fn setup(mut run: Run) -> Result<Self, RunError> {
        if let Some(resumable) = run.resume.take() {
            return Self::setup_resumed(run, resumable).await;
        }
        let ws = run.config.workspace.clone();
        let run_id = run.config.run_id.clone().unwrap_or_else(generate_run_id);
        if !valid_run_id(&run_id) {
            return Err(RunError::BadRunId(run_id));
        }
        let run_dir = reg::harness_dir(&ws).join("runs").join(&run_id);
        // Bug B15: a reused id would mix stale iterations and a stale checkpoint into this run.
        if run_dir.exists() {
            return Err(RunError::RunIdExists(run_id));
        }
        let (copy_policy, task_state_policy) = Self::policies(&run)?;
        reg::ensure_artifact_dirs(&ws).map_err(|e| RunError::Setup(e.to_string()))?;
        // The snapshot is taken before the run directory exists: the only fatal errors are the
        // ones that happen before there is a run to summarise.
        let mut task_state_digest = None;
        if let Some(policy) = &task_state_policy {
            let snapshot = reg::harness_dir(&ws).join("task_state/initial");
            // Internal: restores read the manifest and the store, nobody browses it.
            let tree = harnessgym_snapshot::Store::for_workspace(&ws)
                .and_then(|store| store.capture_as(&ws, &snapshot, policy, SnapshotView::ManifestOnly))
                .map_err(|e| {
                    RunError::Setup(format!("could not snapshot the workspace for --task-state reset: {e}"))
                })?;
            task_state_digest = tree.digest;
        }
        std::fs::create_dir_all(&run_dir).map_err(|e| RunError::Setup(format!("{run_dir}: {e}")))?;

        let mut state = Self::new(run, ws, run_id, run_dir, copy_policy, task_state_policy);
        state.task_state_digest = task_state_digest;
        state.emit(RunEvent::Started { run_id: state.run_id.clone(), run_dir: state.run_dir.clone() });

        let mut registry = state.load_registry(None);
        state.save_registry(None, &mut registry);

        if state.run.config.options.qualification.enabled {
            // The task-state snapshot was taken a moment ago: the template is derived from it.
            let start = state.task_state_policy.is_some().then(|| state.task_state_dir());
            match state.run.qualifier.prepare(&state.ws, &state.run_dir, start.as_deref()).await {
                Ok(template) => state.qualification.template = template,
                Err(message) => state.record(None, "qualification", None, message),
            }
        }
        let config_file = state.run.config.to_file(&state.run_id);
        if let Err(e) = hjson::write_json(&state.run_dir.join("run_config.json"), &config_file) {
            state.record(None, "setup", Some(state.run_dir.join("run_config.json")), e.to_string());
        }
        let cfg = &state.run.config.options;
        state.checkpoint.enabled = cfg.optimization_mode && cfg.restore_best;
        if cfg.optimization_mode && !cfg.restore_best {
            state.checkpoint.reason = Some("disabled_by_config".into());
        }
        // Recorded before the baseline, so a run interrupted there can be resumed (and scores it).
        state.save_progress(None);
        state.finish_setup().await;
        Ok(state)
    }

    /// The baseline score (optimisation mode with a post command), then set-up is complete.
    async fn finish_setup(&mut self) {
        let cfg = self.opts();
        if cfg.optimization_mode && cfg.post_attempt.command.is_some() {
            self.run_baseline().await;
        }
        self.setup_finished = true;
        self.save_progress(None);
    }

    /// Set-up of a resumed run: the recorded state instead of a new snapshot, template and
    /// baseline; the run directory, run_config.json and the qualification template are reused.
    async fn setup_resumed(run: Run, resumable: Resumable) -> Result<Self, RunError> {
        let position = resumable.position();
        let progress = resumable.progress;
        let ws = run.config.workspace.clone();
        let run_dir = reg::harness_dir(&ws).join("runs").join(&progress.run_id);
        let (copy_policy, task_state_policy) = Self::policies(&run)?;
        if task_state_policy.is_some() {
            // Another run in this workspace replaces the task-state snapshot; resetting to a
            // different one would silently change the task.
            let snapshot = reg::harness_dir(&ws).join("task_state/initial");
            let found = harnessgym_snapshot::snapshot_digest(&snapshot).ok().flatten();
            if found.is_none() || found != progress.task_state_digest {
                return Err(RunError::Setup(format!(
                    "the task-state snapshot {snapshot} is not the one run {} took (another run in this workspace \
                     replaced it, or it is gone); this run cannot be resumed with --task-state reset",
                    progress.run_id
                )));
            }
        }
        let mut state = Self::new(run, ws, progress.run_id.clone(), run_dir, copy_policy, task_state_policy);
        state.task_state_digest = progress.task_state_digest;
        state.baseline = progress.baseline;
        state.baseline_score = progress.baseline_score;
        state.best_verified = progress.best_verified;
        state.best_unverified = progress.best_unverified;
        state.checkpoint = progress.checkpoint;
        state.qualification = progress.qualification;
        state.errors = progress.errors;
        state.facts = progress.iterations;
        state.last_result = progress.last_result_path.map(ResultFile::reopen);
        state.saved_in_flight = progress.in_flight.is_some();
        state.in_flight = progress.in_flight;
        state.loop_finished = progress.loop_finished;
        state.setup_finished = progress.setup_finished;
        state.emit(RunEvent::Started { run_id: state.run_id.clone(), run_dir: state.run_dir.clone() });
        state.resumed = true;
        state.emit(RunEvent::Resumed { position });
        if !progress.setup_finished {
            state.finish_setup().await;
        }
        Ok(state)
    }

    fn policies(run: &Run) -> Result<(CopyPolicy, Option<CopyPolicy>), RunError> {
        let ws = &run.config.workspace;
        let copy_policy = CopyPolicy::load(ws, Purpose::Copy).map_err(|e| RunError::Setup(e.to_string()))?;
        let task_state_policy = match run.config.options.task_state {
            TaskState::Reset => {
                Some(CopyPolicy::load(ws, Purpose::TaskState).map_err(|e| RunError::Setup(e.to_string()))?)
            }
            TaskState::Continue => None,
        };
        Ok((copy_policy, task_state_policy))
    }

    fn new(
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
    fn save_progress(&mut self, in_flight: Option<&IterationWork>) {
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

    fn cfg(&self) -> &RunConfig {
        &self.run.config
    }

    fn opts(&self) -> &RunOptions {
        &self.run.config.options
    }

    fn task_state_dir(&self) -> Utf8PathBuf {
        reg::harness_dir(&self.ws).join("task_state/initial")
    }

    fn cancelled(&self) -> bool {
        *self.run.cancel.borrow()
    }

    fn emit(&self, event: RunEvent) {
        if let Some(sink) = &self.run.events {
            sink(&event);
        }
    }

    /// Records a tolerated fault once per run (the same problem met again is not repeated).
    fn record(&mut self, iteration: Option<u32>, phase: &str, path: Option<Utf8PathBuf>, message: String) {
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
    fn record_in_result(
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

    fn flush_errors(&mut self, result: &mut ResultFile, iteration: u32) {
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

    fn update_result(&mut self, result: &mut ResultFile, iteration: u32, update: Value) -> Map<String, Value> {
        let (doc, problems) = result.update(obj(update));
        for p in problems {
            let path = Some(result.path.clone());
            self.record_in_result(result, iteration, "result", path, p);
        }
        doc
    }

    fn load_registry(&mut self, iteration: Option<u32>) -> Registry {
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

    fn save_registry(&mut self, iteration: Option<u32>, registry: &mut Registry) {
        if let Err(e) = reg::save(&self.ws, registry) {
            self.record(iteration, "registry", Some(reg::registry_path(&self.ws)), e.to_string());
        }
    }

    fn sync_registry(&mut self, iteration: u32, tag: Option<i64>) -> Registry {
        let mut registry = self.load_registry(Some(iteration));
        if let Err(e) = reg::sync_from_files(&self.ws, &mut registry, tag) {
            self.record(Some(iteration), "registry", Some(reg::registry_path(&self.ws)), e.to_string());
        }
        registry
    }

    async fn post(&self, log_dir: &Utf8Path, prefix: &str, cancel: watch::Receiver<bool>) -> Option<PostRecord> {
        let cfg = self.cfg();
        let command = cfg.options.post_attempt.command.as_deref()?;
        Some(
            run_post_command(
                &PostCommand {
                    command,
                    cwd: &self.ws,
                    log_dir,
                    prefix,
                    timeout: cfg.options.post_attempt.timeout.duration(),
                    score_key: cfg.post_attempt_score_key(),
                    remote: cfg.post_attempt_remote.as_ref(),
                },
                cancel,
            )
            .await,
        )
    }

    async fn run_baseline(&mut self) {
        let dir = self.run_dir.join("baseline");
        let Some(record) = self.post(&dir, "baseline", self.run.cancel.clone()).await else {
            return;
        };
        if let Some(message) = &record.message {
            self.record(None, "baseline", record.stdout_path.clone(), message.clone());
        }
        let passed = post_command_passed(&record);
        if passed {
            self.baseline_score = record.score;
            self.best_verified = record.score;
        } else if let Some(score) = record.score {
            self.note_unverified(score);
        }
        let score = self.baseline_score;
        self.baseline = Some(record);
        if passed && score.is_some() && self.checkpoint.enabled {
            self.capture_checkpoint(0, score, "baseline_post_attempt_passed", None);
        }
    }

    /// Waits for the best checkpoint's view, if one is being built.
    fn join_checkpoint_view(&mut self) {
        if let Some(handle) = self.checkpoint_view.take()
            && handle.join().is_err()
        {
            tracing::warn!("building the checkpoint's browsable view panicked");
        }
    }

    /// The best checkpoint ends every run browsable, also when the thread that was adding its
    /// view died with a killed process (a resumed run then adds it here). Nothing to do when it
    /// has its view already.
    fn ensure_checkpoint_view(&mut self) {
        let Some(latest) = &self.checkpoint.latest else { return };
        let dir = Utf8PathBuf::from(&latest.checkpoint_path);
        if !harnessgym_snapshot::Store::is_snapshot(dir.as_std_path()) {
            return;
        }
        let added = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| store.add_view(&dir));
        if let Err(e) = added {
            tracing::warn!(checkpoint = %dir, error = %e, "the checkpoint has its manifest but no browsable view");
        }
    }

    fn note_unverified(&mut self, score: f64) {
        if is_better(score, self.best_unverified, self.opts().higher_is_better) {
            self.best_unverified = Some(score);
        }
    }

    fn capture_checkpoint(
        &mut self,
        iteration: u32,
        score: Option<f64>,
        reason: &str,
        result: Option<&mut ResultFile>,
    ) {
        let dir = self.run_dir.join("checkpoints/best");
        let manifest_path = self.run_dir.join("checkpoints/best_manifest.json");
        self.join_checkpoint_view();
        // The loop waits only for the manifest; the view people browse (a hard link per file,
        // a directory per directory) is added on another thread meanwhile.
        let captured = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| {
            let tree = store.capture_as(&self.ws, &dir, &self.copy_policy, SnapshotView::ManifestOnly)?;
            Ok((store, tree))
        });
        match captured {
            Ok((store, tree)) => {
                let view_dir = dir.clone();
                self.checkpoint_view = Some(std::thread::spawn(move || {
                    if let Err(e) = store.add_view(&view_dir) {
                        tracing::warn!(checkpoint = %view_dir, error = %e, "the checkpoint has its manifest but no browsable view");
                    }
                }));
                // Long file lists go to a side file beside the manifest (small manifests).
                let (listing, list_error) = tree.listing_or_cut(&self.run_dir.join("checkpoints"), "best");
                if let Some(e) = list_error {
                    self.record(Some(iteration), "checkpoint", Some(manifest_path.clone()), e.to_string());
                }
                let manifest = CheckpointManifest {
                    created_at: utc_now(),
                    iteration,
                    score,
                    reason: reason.to_owned(),
                    checkpoint_path: dir.to_string(),
                    manifest_path: manifest_path.to_string(),
                    file_count: tree.file_count,
                    files: listing.files,
                    bytes: Some(tree.bytes),
                    digest: tree.digest,
                    files_truncated: listing.truncated.then_some(true),
                    files_list_path: listing.list_path.map(|p| p.to_string()),
                    extra: Default::default(),
                };
                if let Err(e) = hjson::write_json(&manifest_path, &manifest) {
                    self.record(Some(iteration), "checkpoint", Some(manifest_path), e.to_string());
                }
                if let Some(result) = result {
                    let value = serde_json::to_value(&manifest).unwrap_or(Value::Null);
                    self.update_result(result, iteration, json!({"optimization": {"best_checkpoint": value}}));
                }
                self.checkpoint.latest = Some(manifest.clone());
                self.checkpoint.captures.push(manifest);
            }
            Err(e) => self.record(Some(iteration), "checkpoint", Some(dir), e.to_string()),
        }
    }

    async fn run_iterations(&mut self) {
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

    fn activation_view(&self) -> ActivationView {
        match hjson::read_value(&reg::harness_dir(&self.ws).join("activation.json")) {
            Ok(None) => ActivationView::Missing,
            Ok(Some(v @ Value::Object(_))) => ActivationView::Report(v),
            _ => ActivationView::Unreadable,
        }
    }

    async fn activate(&mut self, iteration: u32, registry: &Registry, copy_name: &str) -> ActivationReport {
        let report = self.run.activator.activate(&self.ws, registry).await;
        let iteration_dir = self.iteration_dir(iteration);
        for path in [reg::harness_dir(&self.ws).join("activation.json"), iteration_dir.join(copy_name)] {
            if let Err(e) = hjson::write_json(&path, &report) {
                self.record(Some(iteration), "activation", Some(path), e.to_string());
            }
        }
        report
    }

    fn iteration_dir(&self, iteration: u32) -> Utf8PathBuf {
        self.run_dir.join("iterations").join(iteration.to_string())
    }

    fn agent(&self) -> prompts::AgentFlavor {
        prompts::AgentFlavor::from_runner(self.run.runner.kind())
    }

    async fn phase(&mut self, iteration: u32, call: PhaseCall) -> RunnerResult {
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

    fn telemetry_path(&self) -> Utf8PathBuf {
        reg::harness_dir(&self.ws).join("mcp_calls.jsonl")
    }

    /// Telemetry lines appended since `offset` (bug B12: per attempt, not workspace-cumulative).
    fn telemetry_since(&self, offset: u64) -> TelemetrySummary {
        let path = self.telemetry_path();
        let text = std::fs::read(&path)
            .map(|bytes| String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned())
            .unwrap_or_default();
        summarize(path.as_str(), &text, 20)
    }

    /// The attempt's output for usage inference. The transcript's `command:` line is left out:
    /// it lists the configured tools (e.g. `enabled_tools=[…]` overrides), which would count every
    /// active tool as used (bug B13's false positives).
    fn attempt_sources(attempt: &RunnerResult) -> Vec<(String, String)> {
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

    fn usage_value(
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

    /// One iteration, or the rest of one a resumed run left in flight. Faults are recorded; the
    /// loop goes on. Progress is saved after each stage that completes without a cancel.
    async fn iteration(&mut self, iteration: u32, in_flight: Option<InFlight>, restore_task_state: bool) -> Next {
        let mut work = match in_flight {
            Some(f) => self.reload_iteration(f),
            None => match self.attempt_stage(iteration, restore_task_state).await {
                Ok(work) => work,
                Err(next) => return next,
            },
        };
        if work.stage < Stage::Reflected
            && let Some(next) = self.reflect_stage(&mut work).await
        {
            return next;
        }
        if work.stage < Stage::Built
            && let Some(next) = self.build_stage(&mut work).await
        {
            return next;
        }
        self.finalize_stage(work).await
    }

    /// Task-state reset, activation, the attempt, the post command, scores and checkpoint.
    /// `Err` when the iteration ended there (stop rules, `--attempt-only`, a cancel).
    async fn attempt_stage(&mut self, iteration: u32, restore_task_state: bool) -> Result<IterationWork, Next> {
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
            return Err(if solved { Next::Stop } else { Next::Continue });
        }
        if reached {
            self.finish_iteration(iteration, result, &doc, phases, true, Some(&usage), None);
            return Err(Next::Stop);
        }
        let solved_first = solved_verified && stop.is_none();
        if solved_first && !self.opts().build_after_solve {
            self.finish_iteration(iteration, result, &doc, phases, true, Some(&usage), None);
            return Err(Next::Stop);
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
        Ok(work)
    }

    /// Picks up an iteration a resumed run left in flight: its result.json and activation report
    /// from disk, the rest from the progress file.
    fn reload_iteration(&mut self, f: InFlight) -> IterationWork {
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

    /// Reflection in the attempt's session. `Some` when the iteration ended (a cancel).
    async fn reflect_stage(&mut self, w: &mut IterationWork) -> Option<Next> {
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
        w.doc = self.update_result(&mut w.result, iteration, json!({"phases": {"reflection": reflection}}));
        w.reflection = Some(reflection);
        if self.cancelled() {
            self.end_cancelled(w);
            return Some(Next::Stop);
        }
        w.stage = Stage::Reflected;
        self.save_progress(Some(w));
        None
    }

    /// Build in the reflection's session (else the attempt's). `Some` when the iteration ended.
    async fn build_stage(&mut self, w: &mut IterationWork) -> Option<Next> {
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
        w.doc = self.update_result(&mut w.result, iteration, json!({"phases": {"build": build}}));
        w.build = Some(build);
        if self.cancelled() {
            self.end_cancelled(w);
            return Some(Next::Stop);
        }
        w.stage = Stage::Built;
        self.save_progress(Some(w));
        None
    }

    /// A cancel during reflection or build: the iteration is reported as far as it got (not
    /// saved as progress, so a resumed run repeats the interrupted phase).
    fn end_cancelled(&mut self, w: &mut IterationWork) {
        let phases = (Some(w.attempt.clone()), w.reflection.clone(), w.build.clone());
        let placeholder = ResultFile::detached(w.result.path.clone(), Map::new());
        let result = std::mem::replace(&mut w.result, placeholder);
        self.finish_iteration(w.iteration, result, &w.doc, phases, false, Some(&w.usage), None);
    }

    /// Register, qualify and activate the built artifacts for the next session; final status.
    async fn finalize_stage(&mut self, w: IterationWork) -> Next {
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

    fn post_configured(&self) -> bool {
        self.opts().post_attempt.command.is_some()
    }

    /// Solved by the agent's result and, when a post command is configured, verified by it.
    fn solved_verified(&self, doc: &Map<String, Value>, post: Option<&PostRecord>) -> bool {
        is_solved_and_verified(doc) && (!self.post_configured() || post.is_some_and(post_command_passed))
    }

    /// The update merged into result.json after the post-attempt command.
    fn post_update(&self, record: &PostRecord, passed: bool, agent_status: Option<&str>) -> Value {
        let cfg = self.opts();
        let mut verification = json!({
            "status": if passed { "passed" } else { record.status.as_str() },
            "command": record.command,
            "return_code": record.return_code,
            "timed_out": record.timed_out,
            "stdout_path": record.stdout_path,
            "stderr_path": record.stderr_path,
        });
        let mut update = json!({ "post_attempt": record });
        if let (Some(score), Some(v)) = (record.score, verification.as_object_mut()) {
            v.insert(cfg.score_key.clone(), json!(score));
            v.insert("score".into(), json!(score));
            if passed {
                // Only a passing check's score becomes the iteration's metric (bug B2).
                update["metrics"] = json!({ cfg.score_key.clone(): score, cfg.post_attempt_score_key().to_owned(): score, "score": score });
            }
        }
        update["verification"] = verification;
        let verified_score = if passed { record.score } else { None };
        if cfg.optimization_mode {
            let block = optimization_block(&OptimizationInput {
                score_key: &cfg.score_key,
                higher_is_better: cfg.higher_is_better,
                baseline_score: self.baseline_score,
                previous_best_score: self.best_verified,
                current_score: verified_score,
                stop_score: cfg.stop_score,
            });
            update["optimization"] = Value::Object(block);
            if passed {
                let reached = reached_stop_score(verified_score, cfg.stop_score, cfg.higher_is_better);
                let improved = verified_score
                    .zip(self.baseline_score)
                    .is_some_and(|(s, b)| is_better(s, Some(b), cfg.higher_is_better));
                let status = if reached {
                    "solved"
                } else if improved {
                    "improved"
                } else {
                    "verified"
                };
                update["status"] = json!(status);
            }
        } else if passed {
            update["status"] = json!("solved");
        }
        // A configured check is authoritative: a failed one overrides the agent's claim (bug B4).
        update["verified"] = json!(passed);
        if !passed && agent_status == Some("solved") {
            update["status"] = json!("incomplete");
            update["agent_claimed_status"] = json!("solved");
        }
        update
    }

    fn track_scores(
        &mut self,
        iteration: u32,
        doc: &Map<String, Value>,
        post: Option<&PostRecord>,
        verified: Option<f64>,
        result: &mut ResultFile,
    ) {
        let hib = self.opts().higher_is_better;
        let claimed = match post {
            Some(record) => record.score,
            None if self.opts().post_attempt.command.is_some() => None,
            None => extract_score(&Value::Object(doc.clone()), &self.opts().score_key),
        };
        if let (Some(score), None) = (claimed, verified) {
            self.note_unverified(score);
        }
        let Some(score) = verified else { return };
        if !is_better(score, self.best_verified, hib) {
            return;
        }
        self.best_verified = Some(score);
        if self.opts().optimization_mode && self.checkpoint.enabled {
            self.capture_checkpoint(iteration, Some(score), "post_attempt_best_score", Some(result));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_iteration(
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

    async fn qualify(&mut self, iteration: u32, result: &mut ResultFile, session: Option<String>) {
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
        let mut hook = SessionRepair { state: self, result, session, iteration };
        let outcome = qualifier.qualify(&request, &mut hook).await;
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

    async fn finish(mut self) -> RunOutcome {
        self.run.runner.close().await;
        // The room is kept until the run ends so a repair could inspect it (also after Ctrl-C).
        // Removing it (a whole workspace of files) and restoring the best checkpoint touch
        // different trees: they run side by side.
        let qualifier = Arc::clone(&self.run.qualifier);
        let run_dir = self.run_dir.clone();
        let (qualify, keep) = (self.opts().qualification.enabled, self.opts().qualification.keep_rooms);
        let restore = self.opts().optimization_mode && self.opts().restore_best;
        let remove_room = async { if qualify { qualifier.finish(&run_dir, keep).await } else { Ok(()) } };
        if restore && self.cancelled() && self.saved_in_flight && self.checkpoint.latest.is_some() {
            self.keep_in_flight_tree();
        }
        let restore_best = async {
            if restore {
                self.restore_best().await;
            }
        };
        let (removed, ()) = tokio::join!(remove_room, restore_best);
        self.join_checkpoint_view();
        self.ensure_checkpoint_view();
        if let Err(e) = removed {
            self.record(None, "qualification", Some(harnessgym_qualify::room_dir(&self.run_dir)), e);
        }
        if self.cancelled() {
            self.interrupted = true;
        }
        let summary = self.summary();
        let summary_path = self.run_dir.join("summary.json");
        if let Err(e) = hjson::write_json(&summary_path, &summary) {
            tracing::error!("could not write {summary_path}: {e}");
        }
        self.emit(RunEvent::Finished { summary_path: summary_path.clone() });
        RunOutcome {
            run_id: self.run_id.clone(),
            run_dir: self.run_dir.clone(),
            summary,
            summary_path,
            last_result_path: self.last_result.as_ref().map(|r| r.path.clone()),
            interrupted: self.interrupted,
        }
    }

    /// `<run dir>/interrupted/workspace`: the workspace as an interrupted reflection or build
    /// left it, before the best checkpoint replaced it.
    fn in_flight_tree_dir(&self) -> Utf8PathBuf {
        self.run_dir.join("interrupted/workspace")
    }

    /// Before an interrupted run restores its best checkpoint: keeps the workspace the stage in
    /// flight was working on (under the checkpoint's copy policy, the paths that restore
    /// changes), so `--resume` can put it back before repeating that stage.
    fn keep_in_flight_tree(&mut self) {
        let dir = self.in_flight_tree_dir();
        let kept = harnessgym_snapshot::Store::for_workspace(&self.ws)
            .and_then(|store| store.capture_as(&self.ws, &dir, &self.copy_policy, SnapshotView::ManifestOnly));
        if let Err(e) = kept {
            self.record(
                None,
                "interrupt",
                Some(dir),
                format!("could not keep the workspace of the stage in flight: {e}"),
            );
        }
    }

    /// On resume, before the reflection or build in flight is repeated: puts back the workspace
    /// that stage was working on (kept when the run was interrupted, see
    /// [`Loop::keep_in_flight_tree`]). What is there now is kept first, as a browsable snapshot at
    /// `<run dir>/interrupted/before_resume`, unless it is just the best checkpoint the interrupt
    /// restored — so edits made between the interrupt and the resume are never lost.
    fn put_back_in_flight_tree(&mut self, iteration: u32) {
        let dir = self.in_flight_tree_dir();
        if !harnessgym_snapshot::Store::is_snapshot(dir.as_std_path()) {
            return;
        }
        let backup = self.run_dir.join("interrupted/before_resume");
        let restored = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| {
            let now = store.capture(&self.ws, &backup, &self.copy_policy)?;
            let untouched =
                self.checkpoint.latest.as_ref().is_some_and(|c| c.digest.is_some() && c.digest == now.digest);
            if untouched {
                let _ = std::fs::remove_dir_all(&backup);
            } else {
                tracing::warn!(%backup, "the workspace changed since the interrupt; its state is kept there");
            }
            store.restore(&dir, &self.ws, &self.copy_policy)
        });
        match restored {
            Ok(_) => {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    self.record(Some(iteration), "resume", Some(dir), e.to_string());
                }
            }
            Err(e) => self.record(
                Some(iteration),
                "resume",
                Some(dir),
                format!("could not put back the workspace of the stage in flight: {e}"),
            ),
        }
    }

    async fn restore_best(&mut self) {
        let Some(latest) = self.checkpoint.latest.clone() else {
            self.checkpoint.reason = Some("no_checkpoint_captured".into());
            return;
        };
        let dir = Utf8PathBuf::from(&latest.checkpoint_path);
        let tree = match harnessgym_snapshot::restore(&dir, &self.ws, &self.copy_policy) {
            Ok(tree) => tree,
            Err(e) => {
                self.record(None, "restore_best", Some(dir), e.to_string());
                return;
            }
        };
        let (listing, list_error) = tree.listing_or_cut(&self.run_dir.join("checkpoints"), "best");
        if let Some(e) = list_error {
            self.record(None, "restore_best", Some(dir.clone()), e.to_string());
        }
        let mut report = RestoreReport {
            restored: true,
            restored_at: utc_now(),
            checkpoint_path: latest.checkpoint_path.clone(),
            manifest_path: latest.manifest_path.clone(),
            restored_file_count: tree.file_count,
            restored_files: listing.files,
            bytes: Some(tree.bytes),
            digest: tree.digest.clone(),
            files_truncated: listing.truncated.then_some(true),
            files_list_path: listing.list_path.map(|p| p.to_string()),
            iteration: Some(latest.iteration),
            score: latest.score,
            reason: Some(latest.reason.clone()),
            post_restore: None,
            post_restore_passed: None,
            extra: Default::default(),
        };
        if !self.cancelled() {
            // Re-verify the restored workspace with the independent check.
            let log_dir = self.run_dir.join("checkpoints");
            if let Some(record) = self.post(&log_dir, "restored_best", self.run.cancel.clone()).await {
                report.post_restore_passed = Some(post_command_passed(&record));
                report.post_restore = Some(record);
            }
        }
        self.checkpoint.restored = true;
        if let Some(last) = self.last_result.take() {
            let iteration = self.facts.last().map_or(0, |f| f.row.iteration);
            let mut file = last;
            let value = serde_json::to_value(&report).unwrap_or(Value::Null);
            self.update_result(&mut file, iteration, json!({"optimization": {"restored_best_checkpoint": value}}));
            self.last_result = Some(file);
        }
        self.checkpoint.restore = Some(report);
    }

    fn summary(&self) -> Summary {
        let mut summary = self.full_summary();
        list_each_snapshot_once(&mut summary);
        summary
    }

    fn full_summary(&self) -> Summary {
        let cfg = self.opts();
        let hib = cfg.higher_is_better;
        let best = self.best_verified;
        let improved = best.zip(self.baseline_score).is_some_and(|(b, base)| is_better(b, Some(base), hib));
        let (delta, ratio) = match best.zip(self.baseline_score) {
            Some((b, base)) => {
                (Some(b - base), (base != 0.0).then(|| if hib { b / base - 1.0 } else { 1.0 - b / base }))
            }
            None => (None, None),
        };
        let last = self.facts.last();
        let final_status = if self.interrupted {
            "interrupted".to_owned()
        } else {
            last.map_or_else(|| "not_started".to_owned(), |f| f.row.status.clone())
        };
        let best_unverified = self.best_unverified.filter(|u| is_better(*u, best, hib));
        Summary {
            run_id: self.run_id.clone(),
            iterations: self.facts.iter().map(|f| f.row.clone()).collect(),
            final_status,
            solved: last.is_some_and(|f| f.row.solved),
            best_score: best,
            best_unverified_score: best_unverified,
            baseline_post_attempt: self.baseline.clone(),
            optimization: OptimizationSummary {
                enabled: cfg.optimization_mode,
                score_key: cfg.score_key.clone(),
                higher_is_better: hib,
                baseline_score: self.baseline_score,
                best_score: best,
                improved,
                restore_best: cfg.restore_best,
                best_checkpoint: self.checkpoint.latest.as_ref().and_then(|m| serde_json::to_value(m).ok()),
                absolute_delta_from_baseline: delta,
                relative_improvement: ratio.filter(|_| hib),
                relative_reduction: ratio.filter(|_| !hib),
            },
            best_checkpoint: self.checkpoint.clone(),
            artifact_qualification: self.qualification.clone(),
            harness_usage: self.facts.iter().filter_map(|f| f.usage.clone()).collect(),
            harness_quality_gates: self.facts.iter().filter_map(|f| f.gate.clone()).collect(),
            errors: self.errors.clone(),
            extra: Default::default(),
        }
    }
}

/// summary.json carries the file list of a snapshot once. The template, the captures, the latest
/// capture, the restore report and `optimization.best_checkpoint` often describe the same tree
/// (same digest); a list longer than the inline limit is already cut to its first 1,000 entries
/// with a side file, and repeating those 1,000 entries in every place made summaries of big
/// workspaces ~5× larger than one list. So a cut list (`files_truncated: true`) keeps its entries
/// only the first time its digest appears, in the order of the file (sorted keys:
/// `artifact_qualification`, `best_checkpoint.captures`, `.latest`, `.restore`,
/// `optimization.best_checkpoint`); later places keep `files` (empty), `file_count`, `digest`,
/// `files_truncated` and `files_list_path`. Whole lists (≤ 1,000 entries) are never touched.
fn list_each_snapshot_once(summary: &mut Summary) {
    let mut seen = std::collections::HashSet::new();
    // Whether a list of `digest` was already written (and this one should be emptied).
    let mut repeated = |digest: Option<&str>, truncated: Option<bool>| match (truncated, digest) {
        (Some(true), Some(digest)) => !seen.insert(digest.to_owned()),
        _ => false,
    };
    let fields = |digest: Option<&Value>, truncated: Option<&Value>| {
        (digest.and_then(Value::as_str).map(str::to_owned), truncated.and_then(Value::as_bool))
    };
    if let Some(t) = &mut summary.artifact_qualification.template {
        let (digest, truncated) = fields(t.extra.get("digest"), t.extra.get("files_truncated"));
        if repeated(digest.as_deref(), truncated) {
            t.files.clear();
        }
    }
    let checkpoint = &mut summary.best_checkpoint;
    for m in checkpoint.captures.iter_mut().chain(checkpoint.latest.as_mut()) {
        if repeated(m.digest.as_deref(), m.files_truncated) {
            m.files.clear();
        }
    }
    if let Some(r) = &mut checkpoint.restore
        && repeated(r.digest.as_deref(), r.files_truncated)
    {
        r.restored_files.clear();
    }
    if let Some(Value::Object(m)) = &mut summary.optimization.best_checkpoint {
        let (digest, truncated) = fields(m.get("digest"), m.get("files_truncated"));
        if repeated(digest.as_deref(), truncated) {
            m.insert("files".into(), Value::Array(Vec::new()));
        }
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

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
