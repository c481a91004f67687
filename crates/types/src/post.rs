//! The record of a post command (post-attempt, baseline, restored-best, compare post).

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

/// One run of a post command: how it ended, where its output went, the score it reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostRecord {
    /// The shell command as given.
    pub command: String,
    /// `completed` (exit 0), `failed` (non-zero exit or spawn failure) or `timeout`.
    pub status: String,
    /// Exit code; null when it timed out, was killed by a signal or did not start.
    pub return_code: Option<i32>,
    /// Whether it was killed at its timeout.
    pub timed_out: bool,
    /// Wall-clock time it ran.
    pub duration_seconds: f64,
    /// The file its stdout went to.
    pub stdout_path: Option<Utf8PathBuf>,
    /// The file its stderr went to.
    pub stderr_path: Option<Utf8PathBuf>,
    /// stdout parsed as one JSON object, else null.
    pub json: Option<Value>,
    /// The score found in `json` under `score_key` (or the usual fallbacks); null when none.
    pub score: Option<f64>,
    /// The key the score was looked up under (`--score-key`).
    pub score_key: String,
    /// Why `json` is null (or the command could not run), naming the file and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
