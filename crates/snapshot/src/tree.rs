//! Full-tree copies: [`capture`] and [`copy_tree`].

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use camino::Utf8Path;

use crate::error::io_err;
use crate::fsutil::{copy_file_atomic, list_dir, lstat, posix, remove_tree, symlink_atomic, tmp_path};
use crate::{CopyPolicy, SnapshotError, TreeReport};

/// Replace `dest` with a copy of `workspace` under `policy` (dest deleted first; parents created).
/// Used for task-state snapshot, checkpoint capture, template capture, room creation.
///
/// The copy is assembled in a staging directory next to `dest` and renamed into place, so an
/// interrupted capture leaves the previous `dest` (or nothing) rather than a partial tree.
pub fn capture(workspace: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let report = copy_into_place(workspace, dest, policy)?;
    tracing::info!(
        workspace = %workspace,
        dest = %dest,
        purpose = ?policy.purpose(),
        files = report.file_count,
        bytes = report.bytes,
        "captured workspace"
    );
    Ok(report)
}

/// Copy `src` tree into `dest` (dest must not exist or is replaced) with the policy; returns the
/// report. (Room/compare copy-out.)
pub fn copy_tree(src: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let report = copy_into_place(src, dest, policy)?;
    tracing::debug!(
        src = %src,
        dest = %dest,
        purpose = ?policy.purpose(),
        files = report.file_count,
        bytes = report.bytes,
        "copied tree"
    );
    Ok(report)
}

fn copy_into_place(src: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let src_meta = fs::metadata(src).ok().filter(|m| m.is_dir());
    let (Some(src_meta), Ok(src_c)) = (src_meta, fs::canonicalize(src)) else {
        return Err(SnapshotError::SourceMissing { path: src.to_owned() });
    };
    let overlap = |reason| SnapshotError::Overlap { src: src.to_owned(), dest: dest.to_owned(), reason };
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(overlap("the destination has no parent directory"));
    };
    let parent = if parent.as_str().is_empty() { Utf8Path::new(".") } else { parent };
    fs::create_dir_all(parent).map_err(io_err("create directory", parent.as_std_path()))?;
    let parent_c = fs::canonicalize(parent).map_err(io_err("resolve", parent.as_std_path()))?;
    let dest_c = parent_c.join(name);
    if src_c.starts_with(&dest_c) {
        return Err(overlap("the destination is or contains the source, which would be deleted"));
    }

    let staging = tmp_path(&parent_c, "partial");
    fs::create_dir(&staging).map_err(io_err("create directory", &staging))?;
    let mut copier = Copier {
        policy,
        // When the destination lives inside the source, never copy the copy into itself.
        skip: vec![staging.clone(), dest_c.clone()],
        report: Collector::default(),
    };
    let result = copier
        .copy_dir(&src_c, &staging, Path::new(""))
        .and_then(|()| {
            fs::set_permissions(&staging, src_meta.permissions()).map_err(io_err("set permissions of", &staging))
        })
        .and_then(|()| replace_with(&staging, &dest_c));
    if let Err(e) = result {
        if let Err(cleanup) = remove_tree(&staging) {
            tracing::warn!(staging = %staging.display(), error = %cleanup, "could not remove partial copy");
        }
        return Err(e);
    }
    Ok(copier.report.finish())
}

/// Deletes whatever is at `dest` and renames `staging` onto it.
fn replace_with(staging: &Path, dest: &Path) -> Result<(), SnapshotError> {
    if lstat(dest)?.is_some() {
        remove_tree(dest)?;
    }
    fs::rename(staging, dest).map_err(io_err("rename staging copy onto", dest))
}

/// Accumulates a [`TreeReport`].
#[derive(Default)]
pub(crate) struct Collector {
    files: Vec<String>,
    bytes: u64,
}

impl Collector {
    pub(crate) fn add(&mut self, rel: &Path, bytes: u64) {
        self.files.push(posix(rel));
        self.bytes += bytes;
    }

    pub(crate) fn finish(mut self) -> TreeReport {
        self.files.sort();
        TreeReport { file_count: self.files.len(), files: self.files, bytes: self.bytes }
    }
}

struct Copier<'a> {
    policy: &'a CopyPolicy,
    skip: Vec<PathBuf>,
    report: Collector,
}

impl Copier<'_> {
    fn copy_dir(&mut self, src_dir: &Path, dest_dir: &Path, rel: &Path) -> Result<(), SnapshotError> {
        let mut names = BTreeSet::new();
        list_dir(src_dir, &mut names)?;
        for name in names {
            let src = src_dir.join(&name);
            if self.skip.contains(&src) {
                continue;
            }
            let child_rel = rel.join(&name);
            let Some(meta) = lstat(&src)? else {
                continue; // vanished meanwhile
            };
            let ft = meta.file_type();
            if self.policy.is_excluded(&child_rel, ft.is_dir()) {
                tracing::trace!(path = %child_rel.display(), "excluded");
                continue;
            }
            let dest = dest_dir.join(&name);
            if ft.is_dir() {
                fs::create_dir(&dest).map_err(io_err("create directory", &dest))?;
                self.copy_dir(&src, &dest, &child_rel)?;
                fs::set_permissions(&dest, meta.permissions()).map_err(io_err("set permissions of", &dest))?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&src).map_err(io_err("read symlink", &src))?;
                symlink_atomic(&target, &dest)?;
                self.report.add(&child_rel, 0);
            } else if ft.is_file() {
                let n = copy_file_atomic(&src, &meta, &dest)?;
                self.report.add(&child_rel, n);
            } else {
                tracing::warn!(path = %src.display(), "skipping special file (socket, fifo or device)");
            }
        }
        Ok(())
    }
}
