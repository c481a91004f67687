//! Set-up of a new run (task-state snapshot, qualification template, run_config.json, baseline) and of a resumed one.

use harnessgym_artifacts::registry as reg;
use harnessgym_scoring::post_command_passed;
use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotView};
use harnessgym_types::json as hjson;

use harnessgym_types::options::TaskState;

use crate::events::RunEvent;
use crate::progress::Resumable;
use crate::result_file::ResultFile;

use super::{Loop, Run, RunError, generate_run_id, valid_run_id};

impl Loop {
    pub(super) async fn setup(mut run: Run) -> Result<Self, RunError> {
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
        if let (Some(_), Some(given)) = (&task_state_policy, &run.task_state_snapshot) {
            task_state_digest = harnessgym_snapshot::snapshot_digest(given).map_err(|e| {
                RunError::Setup(format!("the task-state snapshot {given} cannot be used for --task-state reset: {e}"))
            })?;
        } else if let Some(policy) = &task_state_policy {
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
                Err(e) => state.record(None, "qualification", None, e.to_string()),
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
    pub(super) async fn finish_setup(&mut self) {
        let cfg = self.opts();
        if cfg.optimization_mode && cfg.post_attempt.command.is_some() {
            self.run_baseline().await;
        }
        self.setup_finished = true;
        self.save_progress(None);
    }

    /// Set-up of a resumed run: the recorded state instead of a new snapshot, template and
    /// baseline; the run directory, run_config.json and the qualification template are reused.
    pub(super) async fn setup_resumed(run: Run, resumable: Resumable) -> Result<Self, RunError> {
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

    pub(super) fn policies(run: &Run) -> Result<(CopyPolicy, Option<CopyPolicy>), RunError> {
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

    pub(super) async fn run_baseline(&mut self) {
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
        if let Some(measured) = record.score {
            self.emit(RunEvent::Scored { iteration: 0, score: measured, verified: passed, best: self.best_verified });
        }
        self.baseline = Some(record);
        if passed && score.is_some() && self.checkpoint.enabled {
            self.capture_checkpoint(0, score, "baseline_post_attempt_passed", None);
        }
    }
}
