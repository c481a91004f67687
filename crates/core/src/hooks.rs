//! Seams where activation and qualification plug into the loop. The defaults are the real ones:
//! [`HarnessActivation`] (`harnessgym-activation`) and [`CleanRoomQualifier`]
//! (`harnessgym-qualify`). The placeholders [`NoActivation`] and [`NotRunQualifier`] stay for
//! embedders and tests that want a loop without processes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use camino::Utf8PathBuf;
use harnessgym_activation::sandbox::SandboxSetting;
use harnessgym_qualify::{QualifyOptions, Scope};
use harnessgym_snapshot::{CopyPolicy, Purpose};
use harnessgym_types::activation::{ActivationReport, ArtifactRef, OverallGate};
use harnessgym_types::qualification::{QualificationReport, TemplateReport};
use harnessgym_types::registry::Registry;
use harnessgym_types::timefmt::utc_now;

/// Bounds how many post commands (scoring benchmarks) run at once across processes: compare's
/// `--score-jobs`, because timing benchmarks must not share cores. The loop holds a slot for the
/// length of each post command.
#[async_trait]
pub trait ScoreGate: Send + Sync {
    /// Waits for a free slot; it is held until the returned guard is dropped.
    async fn acquire(&self) -> Box<dyn Send>;
}

/// Projects the registry's artifacts into the agent's native places and reports what is active.
#[async_trait]
pub trait Activator: Send + Sync {
    /// Activates `registry`'s artifacts in `workspace`; faults are reported in the report.
    async fn activate(&self, workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport;
}

/// The real activation: skills linked, MCP servers smoke-tested, self-tested and configured for
/// both agents behind `harnessgym mcp-proxy` (run by `harnessgym_bin`).
#[derive(Debug, Clone)]
pub struct HarnessActivation {
    /// The `harnessgym` binary MCP servers are launched through (`harnessgym mcp-proxy`).
    pub harnessgym_bin: Utf8PathBuf,
    /// The bundle sandbox of the servers' probes, self-tests and launches (none by default; the
    /// CLI resolves `--bundle-sandbox`).
    pub sandbox: SandboxSetting,
}

impl HarnessActivation {
    /// Uses the running executable as the `harnessgym` binary, without a bundle sandbox.
    pub fn from_current_exe() -> Self {
        let bin = std::env::current_exe().ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok());
        Self { harnessgym_bin: bin.unwrap_or_else(|| Utf8PathBuf::from("harnessgym")), sandbox: SandboxSetting::off() }
    }
}

#[async_trait]
impl Activator for HarnessActivation {
    async fn activate(&self, workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport {
        let options = harnessgym_activation::ActivationOptions::new(workspace.to_owned(), self.harnessgym_bin.clone())
            .with_sandbox(self.sandbox.clone());
        harnessgym_activation::activate(&options, registry).await
    }
}

/// Lists quarantined artifacts and activates nothing (no skills linked, no MCP servers).
#[derive(Debug, Default)]
pub struct NoActivation;

#[async_trait]
impl Activator for NoActivation {
    async fn activate(&self, _workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport {
        let quarantined_artifacts =
            registry.quarantined().map(|a| ArtifactRef { kind: a.kind.clone(), path: a.path.clone() }).collect();
        ActivationReport { quarantined_artifacts, quality_gate: OverallGate::default(), ..Default::default() }
    }
}

pub use harnessgym_qualify::RepairHook;

/// Why a qualifier could not set up or clean up. The loop records it as a run error and goes
/// on (artifacts are then not qualified).
#[derive(Debug, thiserror::Error)]
pub enum QualifierError {
    /// The workspace's copy policy (`.harnessgymignore`) cannot be read.
    #[error(transparent)]
    Policy(#[from] harnessgym_snapshot::SnapshotError),
    /// The clean template cannot be captured.
    #[error("could not capture the clean qualification template {template}: {source}")]
    Template {
        /// Where the template was to be.
        template: Utf8PathBuf,
        /// What went wrong.
        source: harnessgym_qualify::QualifyError,
    },
    /// The room cannot be removed.
    #[error(transparent)]
    RemoveRoom(harnessgym_qualify::QualifyError),
    /// The background removal of the room died.
    #[error("removing the qualification room: {0}")]
    Background(tokio::task::JoinError),
    /// An embedder's qualifier failed in its own way.
    #[error("{0}")]
    Other(String),
}

/// One iteration's qualification, as the loop asks for it.
pub struct QualifyRequest {
    /// The iteration whose artifacts are qualified.
    pub iteration: u32,
    /// The run's workspace (its `.harnessgym/` is the bundle).
    pub workspace: Utf8PathBuf,
    /// The run directory (the template and the room live under it).
    pub run_dir: Utf8PathBuf,
    /// The iteration's directory (reports go to `qualification/` in it).
    pub iteration_dir: Utf8PathBuf,
    /// Same-session repair builds allowed after a failed qualification.
    pub repair_attempts: u32,
    /// `--keep-qualification-rooms`: the room is left as its last use left it.
    pub keep_rooms: bool,
    /// Another iteration may qualify after this one (false in the last iteration).
    pub more_iterations: bool,
}

/// Every qualification attempt's report (last one final), with `report_path` set.
pub struct QualificationOutcome {
    /// The reports, in order.
    pub reports: Vec<QualificationReport>,
}

/// The clean-room check of the artifacts built in an iteration. The loop only needs these three
/// calls, so the seam stays: the loop is testable without processes ([`NotRunQualifier`]) and an
/// embedder can qualify elsewhere (a container, a remote sandbox).
#[async_trait]
pub trait Qualifier: Send + Sync {
    /// Called once at run start (e.g. to capture the clean template). `start_snapshot` is a
    /// store snapshot of the workspace taken just before under the task-state policy (with
    /// `--task-state reset`), which a template can be derived from instead of reading the
    /// workspace again.
    async fn prepare(
        &self,
        workspace: &camino::Utf8Path,
        run_dir: &camino::Utf8Path,
        start_snapshot: Option<&camino::Utf8Path>,
    ) -> Result<Option<TemplateReport>, QualifierError>;

    /// Qualifies the iteration's artifacts, asking `repair` for repair builds as needed.
    async fn qualify(&self, request: &QualifyRequest, repair: &mut dyn RepairHook) -> QualificationOutcome;

    /// Called once when the run ends, also after an interrupt: release what qualification holds
    /// (the room), unless `keep_rooms`.
    async fn finish(&self, _run_dir: &camino::Utf8Path, _keep_rooms: bool) -> Result<(), QualifierError> {
        Ok(())
    }
}

/// The clean-room qualifier (`harnessgym-qualify`): the template captured at run start, one room
/// per run at `<run dir>/qualification/room/`, a verdict per artifact, the repair loop through
/// the [`RepairHook`], precise quarantine in the workspace's registry.
///
/// A room that will hold the task's files (the bundle has an MCP server or an artifact outside
/// `.harnessgym/`, see [`harnessgym_qualify::needs_task_files`]) is copied out of the template in
/// the background as soon as the template exists, and cleaned in the background after each use,
/// so the copy (a full copy of the workspace where the filesystem has no reflinks) overlaps the
/// agent's attempt, reflection and build instead of delaying qualification. A bundle of skills
/// and tools is qualified in a room holding only the bundle: no copy at all.
#[derive(Debug, Clone)]
pub struct CleanRoomQualifier {
    /// The `harnessgym` binary activation in the room points agent configs at.
    pub harnessgym_bin: Utf8PathBuf,
    /// The bundle sandbox of everything qualification starts (none by default; see
    /// [`CleanRoomQualifier::with_sandbox`]).
    pub sandbox: SandboxSetting,
    /// The background copy (or clean-up) of the room, awaited before the room is used or
    /// removed; it yields whether the room now equals the template.
    warming: Arc<Mutex<Option<tokio::task::JoinHandle<bool>>>>,
    /// Stops that background work when the room is about to be removed anyway (the run ends,
    /// maybe on Ctrl-C, while a big workspace is still being copied). A new token per run.
    cancel: Arc<Mutex<harnessgym_snapshot::Cancel>>,
}

impl CleanRoomQualifier {
    /// A qualifier launching MCP servers through `harnessgym_bin`.
    pub fn new(harnessgym_bin: Utf8PathBuf) -> Self {
        Self { harnessgym_bin, sandbox: SandboxSetting::off(), warming: Arc::default(), cancel: Arc::default() }
    }

    /// The same qualifier, starting the bundle's processes in `sandbox` (the room writable).
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: SandboxSetting) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Uses the running executable as the `harnessgym` binary.
    pub fn from_current_exe() -> Self {
        Self::new(HarnessActivation::from_current_exe().harnessgym_bin)
    }

    /// Waits for the background room work, if any; true when it left the room equal to the
    /// template (nothing else touches the room between uses). A failure is not reported here:
    /// qualification then prepares the room itself and reports what goes wrong.
    async fn room_ready(&self) -> bool {
        let handle = self.warming.lock().ok().and_then(|mut h| h.take());
        match handle {
            Some(handle) => handle.await.unwrap_or(false),
            None => false,
        }
    }

    /// Removes the room on a blocking thread.
    fn drop_room(&self, room: Utf8PathBuf) {
        self.in_background(move || {
            if let Err(e) = harnessgym_qualify::remove_room(&room) {
                tracing::debug!(error = %e, %room, "background room removal failed; the end of the run retries");
            }
            false
        });
    }

    /// Makes the room equal to the template on a blocking thread, so the copy or clean-up
    /// overlaps the agent's next phases.
    fn warm_room(&self, template: Utf8PathBuf, room: Utf8PathBuf, policy: CopyPolicy) {
        let cancel = self.cancel_token();
        self.in_background(move || {
            match harnessgym_snapshot::cancellable(&cancel, || harnessgym_qualify::prepare_room(&template, &room, &policy))
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!(error = %e, %room, "background room preparation stopped; qualification will redo it");
                    false
                }
            }
        });
    }

    /// This run's token for background room work.
    fn cancel_token(&self) -> harnessgym_snapshot::Cancel {
        self.cancel.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Runs room work on a blocking thread; [`CleanRoomQualifier::room_ready`] waits for it.
    fn in_background(&self, work: impl FnOnce() -> bool + Send + 'static) {
        let handle = tokio::task::spawn_blocking(work);
        if let Ok(mut slot) = self.warming.lock() {
            *slot = Some(handle);
        }
    }
}

#[async_trait]
impl Qualifier for CleanRoomQualifier {
    async fn prepare(
        &self,
        workspace: &camino::Utf8Path,
        run_dir: &camino::Utf8Path,
        start_snapshot: Option<&camino::Utf8Path>,
    ) -> Result<Option<TemplateReport>, QualifierError> {
        let policy = CopyPolicy::load(workspace, Purpose::Copy)?;
        if let Ok(mut token) = self.cancel.lock() {
            *token = harnessgym_snapshot::Cancel::new(); // a qualifier may serve several runs
        }
        let template = harnessgym_qualify::template_dir(run_dir);
        let report = match start_snapshot {
            Some(start) => harnessgym_qualify::derive_template(start, workspace, &template, &policy),
            None => harnessgym_qualify::capture_template(workspace, &template, &policy),
        }
        .map_err(|source| QualifierError::Template { template: template.clone(), source })?;
        // Predicted from the registry the run starts with (a resumed or continued workspace).
        if harnessgym_qualify::needs_task_files(workspace) {
            self.warm_room(template, harnessgym_qualify::room_dir(run_dir), policy);
        }
        Ok(Some(report))
    }

    async fn qualify(&self, request: &QualifyRequest, repair: &mut dyn RepairHook) -> QualificationOutcome {
        let room_prepared = self.room_ready().await;
        let template = harnessgym_qualify::template_dir(&request.run_dir);
        // The template holds the workspace's .harnessgymignore as it was at run start.
        let policy = CopyPolicy::load_from_snapshot(&template, Purpose::Copy).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "qualification template policy; using the built-in copy policy");
            CopyPolicy::builtin(Purpose::Copy)
        });
        let options = QualifyOptions {
            bundle: request.workspace.join(".harnessgym"),
            source_workspace: request.workspace.clone(),
            template,
            room: harnessgym_qualify::room_dir(&request.run_dir),
            policy,
            reports_dir: request.iteration_dir.join("qualification"),
            iteration: request.iteration,
            scope: Scope::Iteration(request.iteration),
            repair_attempts: request.repair_attempts,
            harnessgym_bin: self.harnessgym_bin.clone(),
            sandbox: self.sandbox.clone(),
            mark_registry: true,
            room_prepared,
        };
        let reports = harnessgym_qualify::qualify(&options, repair).await;
        match (request.keep_rooms, request.more_iterations) {
            (true, _) => {}
            // Cleaned for the next use while the agent works on the next iteration (a room
            // holding only a bundle is emptied when next used: there is little in it).
            (false, true) if harnessgym_qualify::holds_task_files(&options.room) => {
                self.warm_room(options.template, options.room, options.policy)
            }
            (false, true) => {}
            // Not used again: removed while the run finishes (`finish` waits for it).
            (false, false) => self.drop_room(options.room),
        }
        QualificationOutcome { reports }
    }

    async fn finish(&self, run_dir: &camino::Utf8Path, keep_rooms: bool) -> Result<(), QualifierError> {
        if !keep_rooms {
            // The room goes: a copy or clean-up still running stops instead of finishing first.
            self.cancel_token().cancel();
        }
        self.room_ready().await;
        if keep_rooms {
            return Ok(());
        }
        // On a blocking thread: the loop restores the best checkpoint meanwhile.
        let room = harnessgym_qualify::room_dir(run_dir);
        tokio::task::spawn_blocking(move || harnessgym_qualify::remove_room(&room))
            .await
            .map_err(QualifierError::Background)?
            .map_err(QualifierError::RemoveRoom)
    }
}

/// Records `status: "not_run"` with the reason (never `passed`): for loops run without
/// processes. Nothing is qualified or quarantined.
#[derive(Debug, Default)]
pub struct NotRunQualifier;

/// The reason [`NotRunQualifier`] records.
pub const NOT_RUN_REASON: &str =
    "clean-room qualification was not run (NotRunQualifier); artifacts were neither qualified nor quarantined";

#[async_trait]
impl Qualifier for NotRunQualifier {
    async fn prepare(
        &self,
        _: &camino::Utf8Path,
        _: &camino::Utf8Path,
        _: Option<&camino::Utf8Path>,
    ) -> Result<Option<TemplateReport>, QualifierError> {
        Ok(None)
    }

    async fn qualify(&self, request: &QualifyRequest, _repair: &mut dyn RepairHook) -> QualificationOutcome {
        let report_path = request.iteration_dir.join("qualification/attempt_1/qualification.json");
        let report = QualificationReport {
            created_at: utc_now(),
            status: "not_run".into(),
            iteration: request.iteration,
            source_workspace: Some(request.workspace.to_string()),
            fresh_workspace: None,
            copied_artifacts: Vec::new(),
            quality_gate: None,
            activation: None,
            failed_artifacts: Vec::new(),
            registry_artifact_count: 0,
            reason: Some(NOT_RUN_REASON.into()),
            report_path: Some(report_path.to_string()),
            qualified_artifacts: None,
            quarantined_artifacts: None,
            extra: Default::default(),
        };
        QualificationOutcome { reports: vec![report] }
    }
}
