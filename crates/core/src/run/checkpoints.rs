//! The best checkpoint: capture, its browsable view, the restore at the end, and the tree an interrupted stage was working on.

use camino::Utf8PathBuf;
use harnessgym_scoring::post_command_passed;
use harnessgym_snapshot::SnapshotView;
use harnessgym_types::checkpoint::{CheckpointManifest, RestoreReport};
use harnessgym_types::json as hjson;
use harnessgym_types::timefmt::utc_now;
use serde_json::{Value, json};

use crate::result_file::ResultFile;

use super::Loop;

impl Loop {
    /// Waits for the best checkpoint's view, if one is being built.
    pub(super) fn join_checkpoint_view(&mut self) {
        if let Some(handle) = self.checkpoint_view.take()
            && handle.join().is_err()
        {
            tracing::warn!("building the checkpoint's browsable view panicked");
        }
    }

    /// The best checkpoint ends every run browsable, also when the thread that was adding its
    /// view died with a killed process (a resumed run then adds it here). Nothing to do when it
    /// has its view already.
    pub(super) fn ensure_checkpoint_view(&mut self) {
        let Some(latest) = &self.checkpoint.latest else { return };
        let dir = Utf8PathBuf::from(&latest.checkpoint_path);
        if !harnessgym_snapshot::Store::is_snapshot(dir.as_std_path()) {
            return;
        }
        let added = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| store.add_view(&dir));
        if let Err(e) = added {
            tracing::warn!(checkpoint = %dir, error = %e, "the checkpoint has its manifest but no browsable view");
        }
    }

    pub(super) fn capture_checkpoint(
        &mut self,
        iteration: u32,
        score: Option<f64>,
        reason: &str,
        result: Option<&mut ResultFile>,
    ) {
        let dir = self.run_dir.join("checkpoints/best");
        let manifest_path = self.run_dir.join("checkpoints/best_manifest.json");
        self.join_checkpoint_view();
        // The loop waits only for the manifest; the view people browse (a hard link per file,
        // a directory per directory) is added on another thread meanwhile.
        let captured = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| {
            let tree = store.capture_as(&self.ws, &dir, &self.copy_policy, SnapshotView::ManifestOnly)?;
            Ok((store, tree))
        });
        match captured {
            Ok((store, tree)) => {
                let view_dir = dir.clone();
                self.checkpoint_view = Some(std::thread::spawn(move || {
                    if let Err(e) = store.add_view(&view_dir) {
                        tracing::warn!(checkpoint = %view_dir, error = %e, "the checkpoint has its manifest but no browsable view");
                    }
                }));
                // Long file lists go to a side file beside the manifest (small manifests).
                let (listing, list_error) = tree.listing_or_cut(&self.run_dir.join("checkpoints"), "best");
                if let Some(e) = list_error {
                    self.record(Some(iteration), "checkpoint", Some(manifest_path.clone()), e.to_string());
                }
                let manifest = CheckpointManifest {
                    created_at: utc_now(),
                    iteration,
                    score,
                    reason: reason.to_owned(),
                    checkpoint_path: dir.to_string(),
                    manifest_path: manifest_path.to_string(),
                    file_count: tree.file_count,
                    files: listing.files,
                    bytes: Some(tree.bytes),
                    digest: tree.digest,
                    files_truncated: listing.truncated.then_some(true),
                    files_list_path: listing.list_path.map(|p| p.to_string()),
                    extra: Default::default(),
                };
                if let Err(e) = hjson::write_json(&manifest_path, &manifest) {
                    self.record(Some(iteration), "checkpoint", Some(manifest_path), e.to_string());
                }
                if let Some(result) = result {
                    let value = serde_json::to_value(&manifest).unwrap_or(Value::Null);
                    self.update_result(result, iteration, json!({"optimization": {"best_checkpoint": value}}));
                }
                self.checkpoint.latest = Some(manifest.clone());
                self.checkpoint.captures.push(manifest);
            }
            Err(e) => self.record(Some(iteration), "checkpoint", Some(dir), e.to_string()),
        }
    }

    /// `<run dir>/interrupted/workspace`: the workspace as an interrupted reflection or build
    /// left it, before the best checkpoint replaced it.
    pub(super) fn in_flight_tree_dir(&self) -> Utf8PathBuf {
        self.run_dir.join("interrupted/workspace")
    }

    /// Before an interrupted run restores its best checkpoint: keeps the workspace the stage in
    /// flight was working on (under the checkpoint's copy policy, the paths that restore
    /// changes), so `--resume` can put it back before repeating that stage.
    pub(super) fn keep_in_flight_tree(&mut self) {
        let dir = self.in_flight_tree_dir();
        let kept = harnessgym_snapshot::Store::for_workspace(&self.ws)
            .and_then(|store| store.capture_as(&self.ws, &dir, &self.copy_policy, SnapshotView::ManifestOnly));
        if let Err(e) = kept {
            self.record(
                None,
                "interrupt",
                Some(dir),
                format!("could not keep the workspace of the stage in flight: {e}"),
            );
        }
    }

    /// On resume, before the reflection or build in flight is repeated: puts back the workspace
    /// that stage was working on (kept when the run was interrupted, see
    /// [`Loop::keep_in_flight_tree`]). What is there now is kept first, as a browsable snapshot at
    /// `<run dir>/interrupted/before_resume`, unless it is just the best checkpoint the interrupt
    /// restored — so edits made between the interrupt and the resume are never lost.
    pub(super) fn put_back_in_flight_tree(&mut self, iteration: u32) {
        let dir = self.in_flight_tree_dir();
        if !harnessgym_snapshot::Store::is_snapshot(dir.as_std_path()) {
            return;
        }
        let backup = self.run_dir.join("interrupted/before_resume");
        let restored = harnessgym_snapshot::Store::for_workspace(&self.ws).and_then(|store| {
            let now = store.capture(&self.ws, &backup, &self.copy_policy)?;
            let untouched =
                self.checkpoint.latest.as_ref().is_some_and(|c| c.digest.is_some() && c.digest == now.digest);
            if untouched {
                let _ = std::fs::remove_dir_all(&backup);
            } else {
                tracing::warn!(%backup, "the workspace changed since the interrupt; its state is kept there");
            }
            store.restore(&dir, &self.ws, &self.copy_policy)
        });
        match restored {
            Ok(_) => {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    self.record(Some(iteration), "resume", Some(dir), e.to_string());
                }
            }
            Err(e) => self.record(
                Some(iteration),
                "resume",
                Some(dir),
                format!("could not put back the workspace of the stage in flight: {e}"),
            ),
        }
    }

    pub(super) async fn restore_best(&mut self) {
        let Some(latest) = self.checkpoint.latest.clone() else {
            self.checkpoint.reason = Some("no_checkpoint_captured".into());
            return;
        };
        let dir = Utf8PathBuf::from(&latest.checkpoint_path);
        let tree = match harnessgym_snapshot::restore(&dir, &self.ws, &self.copy_policy) {
            Ok(tree) => tree,
            Err(e) => {
                self.record(None, "restore_best", Some(dir), e.to_string());
                return;
            }
        };
        let (listing, list_error) = tree.listing_or_cut(&self.run_dir.join("checkpoints"), "best");
        if let Some(e) = list_error {
            self.record(None, "restore_best", Some(dir.clone()), e.to_string());
        }
        let mut report = RestoreReport {
            restored: true,
            restored_at: utc_now(),
            checkpoint_path: latest.checkpoint_path.clone(),
            manifest_path: latest.manifest_path.clone(),
            restored_file_count: tree.file_count,
            restored_files: listing.files,
            bytes: Some(tree.bytes),
            digest: tree.digest.clone(),
            files_truncated: listing.truncated.then_some(true),
            files_list_path: listing.list_path.map(|p| p.to_string()),
            iteration: Some(latest.iteration),
            score: latest.score,
            reason: Some(latest.reason.clone()),
            post_restore: None,
            post_restore_passed: None,
            extra: Default::default(),
        };
        if !self.cancelled() {
            // Re-verify the restored workspace with the independent check.
            let log_dir = self.run_dir.join("checkpoints");
            if let Some(record) = self.post(&log_dir, "restored_best", self.run.cancel.clone()).await {
                report.post_restore_passed = Some(post_command_passed(&record));
                report.post_restore = Some(record);
            }
        }
        self.checkpoint.restored = true;
        if let Some(last) = self.last_result.take() {
            let iteration = self.facts.last().map_or(0, |f| f.row.iteration);
            let mut file = last;
            let value = serde_json::to_value(&report).unwrap_or(Value::Null);
            self.update_result(&mut file, iteration, json!({"optimization": {"restored_best_checkpoint": value}}));
            self.last_result = Some(file);
        }
        self.checkpoint.restore = Some(report);
    }
}
