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
    /// When it was captured.
    pub created_at: String,
    /// The iteration it was captured after; 0 for the baseline.
    pub iteration: u32,
    /// The verified score it was captured for.
    pub score: Option<f64>,
    /// Why it was captured: `baseline_post_attempt_passed` or `post_attempt_best_score`.
    pub reason: String,
    /// The checkpoint (`checkpoints/best`).
    pub checkpoint_path: String,
    /// This manifest's file (`checkpoints/best_manifest.json`).
    pub manifest_path: String,
    /// How many files it holds.
    pub file_count: usize,
    /// Its relative paths, sorted (see above for lists over 1,000).
    pub files: Vec<String>,
    /// Total bytes of the files captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `blake3:<hex>` of the captured tree (paths, types, modes, contents): equal trees, equal
    /// digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `true` when `files` is cut to its first 1,000 entries; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_truncated: Option<bool>,
    /// The side file listing every path, one per line (non-UTF-8 bytes escaped `\xHH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_list_path: Option<String>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The restore of the best checkpoint at the end of a run: `best_checkpoint.restore` in
/// summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Whether the workspace was restored.
    pub restored: bool,
    /// When.
    pub restored_at: String,
    /// The checkpoint restored.
    pub checkpoint_path: String,
    /// Its manifest.
    pub manifest_path: String,
    /// How many files were restored.
    pub restored_file_count: usize,
    /// Whole up to 1,000 entries, else the first 1,000 with `files_truncated` and
    /// `files_list_path` (as in [`CheckpointManifest`]).
    pub restored_files: Vec<String>,
    /// Total bytes of the files restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `blake3:<hex>` of the restored tree (equal to the checkpoint's when complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `true` when `restored_files` is cut to its first 1,000 entries; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_truncated: Option<bool>,
    /// The side file listing every restored path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_list_path: Option<String>,
    /// The checkpoint's iteration.
    pub iteration: Option<u32>,
    /// The checkpoint's score.
    pub score: Option<f64>,
    /// The checkpoint's `reason`.
    pub reason: Option<String>,
    /// The post command re-run on the restored workspace, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_restore: Option<PostRecord>,
    /// Whether that re-run passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_restore_passed: Option<bool>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `summary.best_checkpoint`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BestCheckpointReport {
    /// `true` in optimisation mode with `--restore-best`.
    pub enabled: bool,
    /// Whether the best checkpoint was restored at the end.
    pub restored: bool,
    /// Every capture, in order.
    pub captures: Vec<CheckpointManifest>,
    /// The last capture: the one a restore uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<CheckpointManifest>,
    /// Why nothing was restored: `disabled_by_config` or `no_checkpoint_captured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The restore, when one happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreReport>,
    /// Why a restore that was due did not happen (e.g. the copy failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
