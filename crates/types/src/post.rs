//! The record of a post command (post-attempt, baseline, restored-best, compare post).

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostRecord {
    pub command: String,
    /// `completed` (exit 0), `failed` (non-zero exit or spawn failure) or `timeout`.
    pub status: String,
    pub return_code: Option<i32>,
    pub timed_out: bool,
    pub duration_seconds: f64,
    pub stdout_path: Option<Utf8PathBuf>,
    pub stderr_path: Option<Utf8PathBuf>,
    /// stdout parsed as one JSON object, else null.
    pub json: Option<Value>,
    pub score: Option<f64>,
    pub score_key: String,
    /// Why `json` is null (or the command could not run), naming the file and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}
