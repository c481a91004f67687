//! Best-checkpoint manifests and restore reports (`runs/<id>/checkpoints/`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::post::PostRecord;

/// One capture: written as `best_manifest.json` and listed in summary `captures`.
///
/// `files` holds the whole list up to 1,000 entries; a longer list keeps its first 1,000, sets
/// `files_truncated: true` and names the side file with every path in `files_list_path`. The
/// reference's keys are all kept; `bytes`, `digest`, `files_truncated` and `files_list_path` are
/// ours and absent from files the reference wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub created_at: String,
    pub iteration: u32,
    pub score: Option<f64>,
    pub reason: String,
    pub checkpoint_path: String,
    pub manifest_path: String,
    pub file_count: usize,
    pub files: Vec<String>,
    /// Total bytes of the files captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `blake3:<hex>` of the captured tree (paths, types, modes, contents): equal trees, equal
    /// digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_truncated: Option<bool>,
    /// The side file listing every path, one per line (non-UTF-8 bytes escaped `\xHH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_list_path: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub restored: bool,
    pub restored_at: String,
    pub checkpoint_path: String,
    pub manifest_path: String,
    pub restored_file_count: usize,
    /// Whole up to 1,000 entries, else the first 1,000 with `files_truncated` and
    /// `files_list_path` (as in [`CheckpointManifest`]).
    pub restored_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_truncated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_list_path: Option<String>,
    pub iteration: Option<u32>,
    pub score: Option<f64>,
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_restore: Option<PostRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_restore_passed: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `summary.best_checkpoint`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BestCheckpointReport {
    pub enabled: bool,
    pub restored: bool,
    pub captures: Vec<CheckpointManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<CheckpointManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreReport>,
    /// Why a restore that was due did not happen (e.g. the copy failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}
