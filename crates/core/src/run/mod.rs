//! `Run`: the iteration loop — attempt → post-attempt score → reflect → build → qualify →
//! activate — with task state, best checkpoint and summary.

use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_runners::{Phase, Runner, RunnerResult};
use harnessgym_snapshot::CopyPolicy;
use harnessgym_types::RecordedError;
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::checkpoint::BestCheckpointReport;
use harnessgym_types::post::PostRecord;
use harnessgym_types::qualification::QualificationSummary;
use harnessgym_types::summary::Summary;
use harnessgym_types::telemetry::TelemetrySummary;
use harnessgym_types::timefmt::compact_utc_now;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::config::RunConfig;
use crate::events::{EventSink, RunEvent};
use crate::hooks::{Activator, CleanRoomQualifier, HarnessActivation, Qualifier, ScoreGate};
use crate::lock::{LockError, LockMode, WorkspaceLock};
use crate::progress::{InFlight, IterationFacts, Resumable, Stage};
use crate::result_file::ResultFile;

/// Why a run could not start. Once its run directory exists a run never fails: faults are
/// recorded in result.json and summary.json instead.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The requested run id is taken.
    #[error("run id {0} already exists; pass another --run-id (an interrupted run goes on with --resume {0})")]
    RunIdExists(String),
    /// The requested run id is not a plain directory name.
    #[error("run id {0:?} is not a plain directory name; use letters, digits, '-', '_' or '.'")]
    BadRunId(String),
    /// Another command is using the workspace.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Set-up failed before the run directory existed (copy policy, task-state snapshot, …).
    #[error("{0}")]
    Setup(String),
}

/// What a finished run reports to its caller (the CLI prints it).
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// `<workspace>/.harnessgym/runs/<run_id>`.
    pub run_dir: Utf8PathBuf,
    /// What summary.json holds.
    pub summary: Summary,
    /// Where summary.json is.
    pub summary_path: Utf8PathBuf,
    /// The last iteration's result.json.
    pub last_result_path: Option<Utf8PathBuf>,
    /// The run was cancelled (it can be resumed).
    pub interrupted: bool,
    /// summary.json could not be written (a full disk, a read-only run directory): the summary
    /// exists only in [`RunOutcome::summary`]; the run's other files are as far as they got.
    pub summary_error: Option<harnessgym_types::TypesError>,
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
    score_gate: Option<Arc<dyn ScoreGate>>,
    task_state_snapshot: Option<Utf8PathBuf>,
}

impl Run {
    /// A run of `config` driving `runner`, with the real activation and clean-room
    /// qualification. Both launch the MCP servers an agent builds through `<exe> mcp-proxy`,
    /// where `<exe>` is the running executable: right for the `harnessgym` binary, not for a
    /// program that embeds core. An embedder whose agents build MCP servers passes the path of
    /// an installed `harnessgym` with [`Run::with_activator`] (`HarnessActivation`) and
    /// [`Run::with_qualifier`] (`CleanRoomQualifier::new`).
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
            score_gate: None,
            task_state_snapshot: None,
        }
    }

    /// Replaces the activation seam (e.g. [`crate::hooks::NoActivation`]).
    pub fn with_activator(mut self, activator: Arc<dyn Activator>) -> Self {
        self.activator = activator;
        self
    }

    /// Replaces the qualification seam (e.g. [`crate::hooks::NotRunQualifier`]).
    pub fn with_qualifier(mut self, qualifier: Arc<dyn Qualifier>) -> Self {
        self.qualifier = qualifier;
        self
    }

    /// Runs every post command while holding a slot of `gate` (compare's `--score-jobs`).
    pub fn with_score_gate(mut self, gate: Arc<dyn ScoreGate>) -> Self {
        self.score_gate = Some(gate);
        self
    }

    /// With `--task-state reset`, restores every iteration from `snapshot` (a snapshot of any
    /// store, e.g. compare's captured template, which a trial's workspace is a fresh copy of)
    /// instead of capturing the workspace when the run starts: the capture would read every
    /// file again.
    pub fn with_task_state_snapshot(mut self, snapshot: Utf8PathBuf) -> Self {
        self.task_state_snapshot = Some(snapshot);
        self
    }

    /// Sends every [`crate::events::RunEvent`] to `sink`.
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

    /// Runs the loop to its end: set-up (or the resumed state), the iterations, then the best
    /// checkpoint restored and summary.json written. Errors only before the run directory exists.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use harnessgym_core::hooks::{NoActivation, NotRunQualifier};
    /// use harnessgym_core::{Run, RunConfig, RunRequest};
    /// use harnessgym_runners::fake::FakeRunner;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let ws = camino::Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
    /// let mut request = RunRequest::for_task_text("Write done into work.txt.", ws.as_str());
    /// request.options.iterations = 1;
    /// let config = RunConfig::from_request(request, &ws).unwrap();
    /// let outcome = Run::new(config, Arc::new(FakeRunner))
    ///     .with_activator(Arc::new(NoActivation))
    ///     .with_qualifier(Arc::new(NotRunQualifier))
    ///     .execute()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(outcome.summary.iterations.len(), 1);
    /// assert!(outcome.summary_path.is_file());
    /// # });
    /// ```
    pub async fn execute(self) -> Result<RunOutcome, RunError> {
        if let (None, Some(id)) = (&self.resume, &self.config.run_id)
            && !valid_run_id(id)
        {
            return Err(RunError::BadRunId(id.clone()));
        }
        // Held until the run has ended: one command at a time changes a workspace's harness state.
        let lock = WorkspaceLock::acquire(&self.config.workspace, LockMode::Exclusive)?;
        // A resumed run is going on with what the interrupted command left: nothing to say.
        if let (Some(holder), Some(sink), None) = (lock.interrupted_holder(), &self.events, &self.resume) {
            sink(&RunEvent::EarlierCommandInterrupted(holder.clone()));
        }
        if let (false, Some(sink)) = (lock.killed_survivors().is_empty(), &self.events) {
            sink(&RunEvent::SurvivorsKilled(lock.killed_survivors().to_vec()));
        }
        let mut state = Loop::setup(self).await?;
        state.run_iterations().await;
        let outcome = state.finish().await;
        drop(lock);
        Ok(outcome)
    }
}

pub(crate) fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A new run id: `<UTC time>-<8 hex>` (sorts by start time).
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

mod checkpoints;
mod scores;
mod setup;
mod stages;
mod state;
mod summary;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
