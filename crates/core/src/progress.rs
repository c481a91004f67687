//! `runs/<id>/progress.json`: how far a run got, rewritten atomically after every completed
//! phase, so `harnessgym run --resume <run_id>` can continue a run that was interrupted (Ctrl-C,
//! SIGTERM) or killed outright.
//!
//! A phase counts as completed only when it finished without the run being cancelled: an
//! interrupted phase is run again on resume. The points recorded are: the run directory set up
//! (before the baseline), set-up done (baseline scored), attempt stage done (attempt, post command, scores, checkpoint), reflection done,
//! build done, iteration finished, and the loop finished (only the end of the run is left).
//! The file is ours; the reference has no such file.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::RecordedError;
use harnessgym_types::checkpoint::BestCheckpointReport;
use harnessgym_types::post::PostRecord;
use harnessgym_types::qualification::QualificationSummary;
use harnessgym_types::runner::RunnerResult;
use harnessgym_types::summary::{HarnessUsageRow, IterationRow, QualityGateRow};
use harnessgym_types::telemetry::TelemetrySummary;
use serde::{Deserialize, Serialize};

use crate::config::RecordedRequest;

/// File name inside the run directory.
pub const PROGRESS_FILE: &str = "progress.json";
/// 2: the recorded request holds the typed run options (format 1 held the flags' raw strings).
pub(crate) const FORMAT: u32 = 2;

/// A finished iteration, as the summary needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct IterationFacts {
    pub row: IterationRow,
    pub usage: Option<HarnessUsageRow>,
    pub gate: Option<QualityGateRow>,
}

/// The last completed stage of an unfinished iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stage {
    /// Attempt, post command, scores and checkpoint done; reflection next.
    Attempted,
    /// Reflection done; build next.
    Reflected,
    /// Build done; qualification and activation next.
    Built,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Attempted => "after its attempt",
            Self::Reflected => "after its reflection",
            Self::Built => "after its build",
        }
    }
}

/// What an unfinished iteration carries from one stage to the next that is not in its
/// result.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct InFlight {
    pub iteration: u32,
    pub stage: Stage,
    pub attempt: RunnerResult,
    pub reflection: Option<RunnerResult>,
    pub build: Option<RunnerResult>,
    /// The attempt's MCP telemetry (lines appended during the attempt).
    pub telemetry: TelemetrySummary,
    pub post: Option<PostRecord>,
    /// Solved before building (`--build-after-solve`).
    pub solved_first: bool,
}

/// Everything a resumed run needs to go on as if it had not stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunProgress {
    pub format: u32,
    pub run_id: String,
    pub updated_at: String,
    pub started_with: RecordedRequest,
    /// Digest of the `--task-state reset` snapshot the run took (checked on resume: another run
    /// in the same workspace replaces it).
    pub task_state_digest: Option<String>,
    pub baseline: Option<PostRecord>,
    pub baseline_score: Option<f64>,
    pub best_verified: Option<f64>,
    pub best_unverified: Option<f64>,
    pub checkpoint: BestCheckpointReport,
    pub qualification: QualificationSummary,
    pub errors: Vec<RecordedError>,
    pub iterations: Vec<IterationFacts>,
    pub last_result_path: Option<Utf8PathBuf>,
    pub in_flight: Option<InFlight>,
    /// Set-up is complete (the baseline was scored); a run interrupted before that scores it on
    /// resume.
    pub setup_finished: bool,
    /// The loop is over (iterations used up or a stop rule met): only the end of the run is left.
    pub loop_finished: bool,
}

/// Why a run cannot be resumed; each message says what to do instead.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum ResumeError {
    /// No such run in this workspace.
    #[error("there is no run {run_id} in {runs_dir}; the runs of this workspace are the directories there")]
    NoRun { run_id: String, runs_dir: Utf8PathBuf },
    #[error(
        "{path} is missing: run {run_id} was not started by a harnessgym that records progress, so it cannot be \
         resumed; start a new run"
    )]
    /// The run has no progress.json.
    NoProgress { run_id: String, path: Utf8PathBuf },
    /// progress.json cannot be read, or was written in another format.
    #[error("{path} cannot be read ({message}); run {run_id} cannot be resumed; start a new run")]
    Unreadable { run_id: String, path: Utf8PathBuf, message: String },
    /// The run ended on its own.
    #[error("run {run_id} already finished (final_status {status:?} in {summary}); start a new run instead")]
    Finished { run_id: String, status: String, summary: Utf8PathBuf },
    #[error(
        "run {run_id} was started in {recorded}, not {given}; resume it with --workspace {recorded} (a moved \
         workspace cannot be resumed)"
    )]
    /// The run belongs to another workspace (or its workspace moved).
    OtherWorkspace { run_id: String, recorded: Utf8PathBuf, given: Utf8PathBuf },
    /// The recorded request no longer makes a valid configuration.
    #[error("the recorded configuration of run {run_id} ({path}) is no longer valid: {message}")]
    Config { run_id: String, path: Utf8PathBuf, message: String },
}

/// The workspace a recorded request names, resolved against its directory and canonicalized.
fn recorded_workspace(recorded: &RecordedRequest) -> Utf8PathBuf {
    let raw = Utf8Path::new(&recorded.request.workspace);
    let joined = if raw.is_absolute() { raw.to_owned() } else { recorded.cwd.join(raw) };
    std::fs::canonicalize(&joined).ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok()).unwrap_or(joined)
}

/// A run that can be resumed: found, unfinished, with its recorded progress.
#[derive(Clone, Debug)]
pub struct Resumable {
    pub(crate) progress: RunProgress,
    pub(crate) path: Utf8PathBuf,
}

impl Resumable {
    /// Finds run `run_id` of `workspace` and checks it can be resumed.
    pub fn load(workspace: &Utf8Path, run_id: &str) -> Result<Self, ResumeError> {
        let runs_dir = harnessgym_artifacts::registry::harness_dir(workspace).join("runs");
        let run_dir = runs_dir.join(run_id);
        if !crate::run::valid_run_id(run_id) || !run_dir.is_dir() {
            return Err(ResumeError::NoRun { run_id: run_id.to_owned(), runs_dir });
        }
        let path = run_dir.join(PROGRESS_FILE);
        let unreadable =
            |message: String| ResumeError::Unreadable { run_id: run_id.to_owned(), path: path.clone(), message };
        let value = match harnessgym_types::json::read_value(&path) {
            Ok(Some(v)) => v,
            Ok(None) => return Err(ResumeError::NoProgress { run_id: run_id.to_owned(), path }),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        // The format is checked before the rest is read: an older file's keys would otherwise
        // take defaults silently.
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(FORMAT) => {}
            Some(1) => {
                return Err(unreadable(
                    "it was written by an earlier harnessgym (progress format 1), whose recorded flags this version \
                     no longer reads; start the run again (its files stay where they are)"
                        .into(),
                ));
            }
            found => {
                let found = found.map_or_else(|| "missing".to_owned(), |f| f.to_string());
                return Err(unreadable(format!("format {found} is not the {FORMAT} this harnessgym writes")));
            }
        }
        let progress: RunProgress = serde_json::from_value(value).map_err(|e| unreadable(e.to_string()))?;
        if progress.run_id != run_id {
            return Err(unreadable(format!("it belongs to run {:?}", progress.run_id)));
        }
        // A run that ended on its own is done; one that ended interrupted (or has no summary:
        // killed) can go on.
        let summary = run_dir.join("summary.json");
        if let Ok(Some(doc)) = harnessgym_types::json::read_value(&summary) {
            let status = doc.get("final_status").and_then(serde_json::Value::as_str).unwrap_or("unknown");
            if status != "interrupted" {
                return Err(ResumeError::Finished { run_id: run_id.to_owned(), status: status.to_owned(), summary });
            }
        }
        let resumable = Self { progress, path };
        let recorded = recorded_workspace(&resumable.progress.started_with);
        let given = std::fs::canonicalize(workspace)
            .ok()
            .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
            .unwrap_or_else(|| workspace.to_owned());
        if recorded != given {
            return Err(ResumeError::OtherWorkspace { run_id: run_id.to_owned(), recorded, given });
        }
        Ok(resumable)
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.progress.run_id
    }

    /// Replaces the recorded `--remote-ssh-arg` values (they are recorded redacted when they
    /// set remote environment variables).
    pub fn set_remote_ssh_args(&mut self, args: Vec<String>) {
        self.progress.started_with.request.options.remote.ssh_args = args;
    }

    /// The configuration the run started with (its task text as read then), with its run id.
    pub fn config(&self) -> Result<crate::RunConfig, ResumeError> {
        if self.progress.started_with.has_redactions() {
            return Err(ResumeError::Config {
                run_id: self.progress.run_id.clone(),
                path: self.path.clone(),
                message: "its --remote-ssh-arg values set remote environment variables, which are not recorded; pass \
                          every --remote-ssh-arg again with --resume"
                    .into(),
            });
        }
        let mut config = self.progress.started_with.to_config().map_err(|e| ResumeError::Config {
            run_id: self.progress.run_id.clone(),
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        config.run_id = Some(self.progress.run_id.clone());
        Ok(config)
    }

    /// Where the run goes on, for people: "iteration 2, after its attempt".
    pub fn position(&self) -> String {
        let p = &self.progress;
        if p.loop_finished {
            return "the end of the run (all iterations done)".into();
        }
        if !p.setup_finished {
            return "its baseline score, before iteration 1".into();
        }
        match &p.in_flight {
            Some(f) => format!("iteration {}, {}", f.iteration, f.stage.describe()),
            None => format!("iteration {}, from its start", p.iterations.len() + 1),
        }
    }
}
