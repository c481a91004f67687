//! In-place restore of a workspace from a snapshot.

use std::collections::BTreeSet;
use std::fs::{self, File, FileTimes, Metadata};
use std::path::{Path, PathBuf};

use camino::Utf8Path;

use crate::error::io_err;
use crate::fsutil::{copy_file_atomic, list_dir, lstat, make_dir_writable, same_content, symlink_atomic};
use crate::tree::Collector;
use crate::{CopyPolicy, SnapshotError, TreeReport};

/// Make `workspace` equal to the snapshot at `snapshot` for every NON-excluded path:
/// non-excluded files/symlinks/dirs in the workspace that are not in the snapshot are removed;
/// files whose content or type differ are replaced; missing ones are created; file modes/mtimes
/// copied. A path excluded by `policy` is never deleted or modified, at any depth: a directory
/// that is absent from the snapshot but holds excluded entries is emptied of everything else and
/// kept.
///
/// Symlinks in the workspace are never followed: they are removed or replaced as links, and
/// nothing is ever written through a symlinked directory. Files are written to a temporary name
/// and renamed into place.
///
/// The report lists every file and symlink of the (policy-filtered) snapshot now present in the
/// workspace, whether it had to be rewritten or was already identical.
pub fn restore(snapshot: &Utf8Path, workspace: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let snap_meta = fs::metadata(snapshot).ok().filter(|m| m.is_dir());
    let (Some(snap_meta), Ok(snap_c)) = (snap_meta, fs::canonicalize(snapshot)) else {
        return Err(SnapshotError::SnapshotMissing { path: snapshot.to_owned() });
    };
    match fs::metadata(workspace) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(SnapshotError::NotADirectory { path: workspace.to_owned() });
        }
        Err(_) => fs::create_dir_all(workspace).map_err(io_err("create directory", workspace.as_std_path()))?,
    }
    let ws_c = fs::canonicalize(workspace).map_err(io_err("resolve", workspace.as_std_path()))?;
    if ws_c.starts_with(&snap_c) {
        return Err(SnapshotError::Overlap {
            src: snapshot.to_owned(),
            dest: workspace.to_owned(),
            reason: "the workspace is inside (or is) the snapshot",
        });
    }

    let mut r = Restorer {
        policy,
        // A snapshot stored inside the workspace must never be deleted by its own restore.
        skip: vec![snap_c.clone()],
        report: Collector::default(),
        stats: Stats::default(),
    };
    r.sync_dir(&snap_c, &snap_meta, &ws_c, Path::new(""))?;
    let stats = r.stats;
    let report = r.report.finish();
    tracing::info!(
        snapshot = %snapshot,
        workspace = %workspace,
        purpose = ?policy.purpose(),
        files = report.file_count,
        written = stats.written,
        removed = stats.removed,
        kept_excluded = stats.kept_excluded,
        "restored workspace"
    );
    Ok(report)
}

#[derive(Default, Clone, Copy)]
struct Stats {
    written: usize,
    removed: usize,
    kept_excluded: usize,
}

struct Restorer<'a> {
    policy: &'a CopyPolicy,
    skip: Vec<PathBuf>,
    report: Collector,
    stats: Stats,
}

impl Restorer<'_> {
    /// `w_dir` is a real directory (never a symlink) inside the workspace.
    fn sync_dir(&mut self, s_dir: &Path, s_meta: &Metadata, w_dir: &Path, rel: &Path) -> Result<(), SnapshotError> {
        if let Some(w_meta) = lstat(w_dir)? {
            make_dir_writable(w_dir, &w_meta)?;
        }
        let mut names = BTreeSet::new();
        list_dir(s_dir, &mut names)?;
        list_dir(w_dir, &mut names)?;
        for name in names {
            let s = s_dir.join(&name);
            let w = w_dir.join(&name);
            if self.skip.contains(&w) {
                continue;
            }
            let child_rel = rel.join(&name);
            let w_meta = lstat(&w)?;
            if let Some(wm) = &w_meta
                && self.policy.is_excluded(&child_rel, wm.is_dir())
            {
                self.stats.kept_excluded += 1;
                if lstat(&s)?.is_some_and(|sm| !self.policy.is_excluded(&child_rel, sm.is_dir())) {
                    tracing::warn!(
                        path = %w.display(),
                        "snapshot entry not restored: an excluded workspace entry of another type is in the way"
                    );
                }
                continue;
            }
            let s_meta = lstat(&s)?.filter(|sm| !self.policy.is_excluded(&child_rel, sm.is_dir()));
            match (s_meta, w_meta) {
                (None, None) => {}
                (None, Some(wm)) => {
                    self.prune(&w, &wm, &child_rel)?;
                }
                (Some(sm), wm) => self.apply(&s, &sm, &w, wm.as_ref(), &child_rel)?,
            }
        }
        fs::set_permissions(w_dir, s_meta.permissions()).map_err(io_err("set permissions of", w_dir))
    }

    /// Makes the workspace entry `w` (absent, or not excluded) equal to snapshot entry `s`.
    fn apply(
        &mut self,
        s: &Path,
        sm: &Metadata,
        w: &Path,
        wm: Option<&Metadata>,
        rel: &Path,
    ) -> Result<(), SnapshotError> {
        let sft = sm.file_type();
        if sft.is_dir() {
            match wm {
                Some(wm) if wm.is_dir() => {}
                other => {
                    if let Some(wm) = other {
                        self.prune(w, wm, rel)?; // a file or symlink: always fully removed
                    }
                    fs::create_dir(w).map_err(io_err("create directory", w))?;
                    self.stats.written += 1;
                }
            }
            self.sync_dir(s, sm, w, rel)
        } else if sft.is_symlink() {
            let target = fs::read_link(s).map_err(io_err("read symlink", s))?;
            if let Some(wm) = wm {
                if wm.file_type().is_symlink() && fs::read_link(w).map_err(io_err("read symlink", w))? == target {
                    self.report.add(rel, 0);
                    return Ok(());
                }
                if wm.is_dir() {
                    self.clear_dir_for(w, wm, rel)?;
                }
            }
            symlink_atomic(&target, w)?;
            self.stats.written += 1;
            self.report.add(rel, 0);
            Ok(())
        } else if sft.is_file() {
            if let Some(wm) = wm {
                if wm.file_type().is_file() && same_content(s, sm, w, wm)? {
                    sync_file_metadata(sm, w, wm)?;
                    self.report.add(rel, sm.len());
                    return Ok(());
                }
                if wm.is_dir() {
                    self.clear_dir_for(w, wm, rel)?;
                }
            }
            let n = copy_file_atomic(s, sm, w)?;
            self.stats.written += 1;
            self.report.add(rel, n);
            Ok(())
        } else {
            tracing::warn!(path = %s.display(), "skipping special file in snapshot (socket, fifo or device)");
            Ok(())
        }
    }

    /// Removes the workspace directory `w` so a file or symlink can take its place.
    fn clear_dir_for(&mut self, w: &Path, wm: &Metadata, rel: &Path) -> Result<(), SnapshotError> {
        if self.prune(w, wm, rel)? {
            Ok(())
        } else {
            Err(SnapshotError::Conflict {
                path: w.to_path_buf(),
                reason: "the snapshot has a file here but the workspace has a directory holding excluded entries \
                         (which restore never deletes); move those entries away and restore again"
                    .to_owned(),
            })
        }
    }

    /// Removes the non-excluded workspace entry `w` and, for a real directory, every non-excluded
    /// entry under it. Returns false when a directory had to be kept because excluded entries
    /// remain inside it. Symlinks are removed as links, never followed.
    fn prune(&mut self, w: &Path, wm: &Metadata, rel: &Path) -> Result<bool, SnapshotError> {
        if !wm.is_dir() {
            fs::remove_file(w).map_err(io_err("remove", w))?;
            self.stats.removed += 1;
            return Ok(true);
        }
        let restore_perms = make_dir_writable(w, wm)?;
        let mut names = BTreeSet::new();
        list_dir(w, &mut names)?;
        let mut keep = false;
        for name in names {
            let child = w.join(&name);
            let child_rel = rel.join(&name);
            let Some(cm) = lstat(&child)? else { continue };
            if self.skip.contains(&child) || self.policy.is_excluded(&child_rel, cm.is_dir()) {
                self.stats.kept_excluded += 1;
                keep = true;
            } else if !self.prune(&child, &cm, &child_rel)? {
                keep = true;
            }
        }
        if keep {
            if let Some(perms) = restore_perms {
                fs::set_permissions(w, perms).map_err(io_err("set permissions of", w))?;
            }
            tracing::debug!(path = %w.display(), "kept directory: it holds excluded entries");
            return Ok(false);
        }
        fs::remove_dir(w).map_err(io_err("remove directory", w))?;
        self.stats.removed += 1;
        Ok(true)
    }
}

/// Content already matches: bring permissions and mtime in line without rewriting.
fn sync_file_metadata(sm: &Metadata, w: &Path, wm: &Metadata) -> Result<(), SnapshotError> {
    if let Ok(mtime) = sm.modified()
        && wm.modified().ok() != Some(mtime)
    {
        let f = File::open(w).map_err(io_err("open", w))?;
        f.set_times(FileTimes::new().set_modified(mtime)).map_err(io_err("set modification time of", w))?;
    }
    if sm.permissions() != wm.permissions() {
        fs::set_permissions(w, sm.permissions()).map_err(io_err("set permissions of", w))?;
    }
    Ok(())
}
