//! A trial's spec (`trial-spec.json`, written by the compare, every path absolute): everything
//! `harnessgym trial run --spec FILE` needs, so a trial runs wherever its paths are visible (a
//! cluster node included). Its record is `trial.json` ([`harnessgym_types::compare::TrialRecord`]),
//! written atomically by the trial as its last act.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::RunRequest;
use crate::compare::prices::Prices;

/// The spec file's format; a trial refuses any other.
pub const TRIAL_SPEC_FORMAT: u32 = 1;
/// A trial's spec inside its directory.
pub const TRIAL_SPEC_FILE: &str = "trial-spec.json";
/// A trial's record inside its directory.
pub const TRIAL_FILE: &str = "trial.json";
/// A trial's progress events (NDJSON) inside its directory.
pub const EVENTS_FILE: &str = "events.ndjson";

/// Everything one trial needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialSpec {
    /// [`TRIAL_SPEC_FORMAT`].
    pub format: u32,
    /// The arm (`plain`, `harnessed`, or a `--arm` name).
    pub arm: String,
    /// The trial's number within its arm (1-based); trial `i` of every arm forms a pair.
    pub trial: u32,
    /// Its block (block `i` holds trial `i` of every arm).
    pub block: u32,
    /// `<out>/<arm>/trial_<i>`.
    pub trial_dir: Utf8PathBuf,
    /// The snapshot store the template was captured into.
    pub store: Utf8PathBuf,
    /// The template's snapshot in that store.
    pub template_snapshot: Utf8PathBuf,
    /// The arm's bundle (a `.harnessgym` directory); `None` for a plain arm.
    pub bundle: Option<Utf8PathBuf>,
    /// The run the trial performs (attempt-only, workspace `<trial_dir>/workspace`; with
    /// post-every-iteration its post-attempt command is the compare's post command).
    pub request: RunRequest,
    /// The post command.
    pub post_command: Option<String>,
    /// The key read from the post command's JSON (never another).
    pub post_score_key: String,
    /// The post command's timeout in seconds.
    pub post_timeout_seconds: u64,
    /// Score after every attempt: the trial's score is its best verified one.
    pub post_every_iteration: bool,
    /// Higher scores are better.
    pub higher_is_better: bool,
    /// A bundle that activates no MCP tool makes the trial invalid.
    pub require_active_harness: bool,
    /// A bundle whose tools are never called makes the trial invalid.
    pub require_harness_tool_use: bool,
    /// Post commands across the compare hold one of the slots (lock files) in this directory.
    pub score_slots_dir: Utf8PathBuf,
    /// How many slots (`--score-jobs`).
    pub score_jobs: u32,
    /// Prices for runners that report tokens but no cost.
    pub prices: Option<Prices>,
    /// The model the prices are looked up for (`--codex-model` / `--claude-model`).
    pub model: Option<String>,
    /// Rehearse with the real CLI against this model script (`--model-script`).
    pub model_script: Option<Utf8PathBuf>,
}

impl TrialSpec {
    /// The trial's workspace.
    pub fn workspace(&self) -> Utf8PathBuf {
        self.trial_dir.join("workspace")
    }

    /// Its `trial.json`.
    pub fn record_path(&self) -> Utf8PathBuf {
        self.trial_dir.join(TRIAL_FILE)
    }

    /// Its progress events.
    pub fn events_path(&self) -> Utf8PathBuf {
        self.trial_dir.join(EVENTS_FILE)
    }
}
