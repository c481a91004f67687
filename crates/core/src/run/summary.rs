//! The end of a run: runner closed, room removed, best restored, summary.json written.

use std::sync::Arc;

use harnessgym_scoring::is_better;
use harnessgym_types::json as hjson;
use harnessgym_types::summary::{OptimizationSummary, Summary};
use serde_json::Value;

use crate::events::RunEvent;

use super::{Loop, RunOutcome};

impl Loop {
    pub(super) async fn finish(mut self) -> RunOutcome {
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
            self.record(None, "qualification", Some(harnessgym_qualify::room_dir(&self.run_dir)), e.to_string());
        }
        if self.cancelled() {
            self.interrupted = true;
        }
        let summary = self.summary();
        let summary_path = self.run_dir.join("summary.json");
        let summary_error = hjson::write_json(&summary_path, &summary).err();
        if let Some(e) = &summary_error {
            tracing::error!("could not write {summary_path}: {e}");
        }
        // report.md and report.html from the run's files, interrupted runs too; never fatal.
        if let Err(e) = harnessgym_report::write_run_report(&self.run_dir) {
            tracing::warn!("could not write the run report: {e}");
        }
        self.emit(RunEvent::Finished { summary_path: summary_path.clone() });
        RunOutcome {
            run_id: self.run_id.clone(),
            run_dir: self.run_dir.clone(),
            summary,
            summary_path,
            last_result_path: self.last_result.as_ref().map(|r| r.path.clone()),
            interrupted: self.interrupted,
            summary_error,
        }
    }

    pub(super) fn summary(&self) -> Summary {
        let mut summary = self.full_summary();
        list_each_snapshot_once(&mut summary);
        summary
    }

    pub(super) fn full_summary(&self) -> Summary {
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
