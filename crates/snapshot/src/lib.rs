//! Every copy of a workspace that HarnessGym makes goes through this crate: the task-state
//! snapshot taken at run start and restored before later iterations (`--task-state reset`), the
//! best checkpoint (captured, then restored at the end of a run), and the clean qualification
//! template and its room — all through one content-addressed [`Store`].
//!
//! # Exclusion policies
//!
//! A [`CopyPolicy`] is a [`Purpose`] plus the workspace's optional `.harnessgymignore`
//! (gitignore syntax; a malformed pattern is an error naming the file and line). There is exactly
//! one policy per purpose, so the qualification template and checkpoints can never disagree on
//! what is copied.
//!
//! - [`Purpose::Copy`] (checkpoints, qualification template and rooms, compare copies) leaves out
//!   any entry, at any depth, named `.agents`, `.claude`, `.codex`, `.git`, `.harnessgym`,
//!   `.harnessgym_build`, `.pytest_cache` or `__pycache__`, and files whose name ends with `.o`,
//!   `.pyc` or `.pyo`. Built libraries (`.so`, `.dylib`) are kept.
//! - [`Purpose::TaskState`] (reset snapshot) leaves out only the top-level `.harnessgym`,
//!   `.agents`, `.claude` and `.codex` (activation rebuilds the last three). `.git` and nested
//!   caches are included.
//! - Both also leave out whatever `.harnessgymignore` matches. The ignore file itself is copied
//!   like any other file.
//!
//! Excluded directories are not descended into. Symlinks are never followed: they are copied as
//! symlinks with the identical target text, even when dangling or pointing outside the tree.
//! Sockets, fifos and devices are skipped.
//!
//! # The store
//!
//! [`Store`] (for the loop: `<workspace>/.harnessgym/store`) keeps file contents as objects named
//! by their BLAKE3 hash. A snapshot is a directory whose files are hard links to objects (so it
//! can be browsed, and `du` counts its bytes once) plus a manifest, `.harnessgym/snapshot`, that
//! records every entry with its mode, mtime and hash.
//!
//! - [`Store::capture`] reads only files whose `lstat` (inode, size, mtime, ctime) differs from
//!   what the store last saw at that path, stores new contents, and swaps the new snapshot in
//!   atomically.
//! - [`Store::restore`] (and [`restore`], which hands a store snapshot to its store) rewrites
//!   only files whose content differs, is journaled, and is finished by the next
//!   [`Store::open`] if its process is killed.
//! - [`Store::copy_out`] (and [`copy_tree`]) writes a fresh copy: rooms, compare trials.
//! - [`Store::gc`] removes objects no snapshot references.
//!
//! Copies out of the store — restores, rooms — always create new inodes (reflinks where the
//! filesystem supports them, else real copies), never hard links: nothing done in place to a
//! workspace or a room can change a snapshot.
//!
//! Restore never deletes or modifies a path its policy excludes, at any depth: a directory that
//! is gone from the snapshot but still holds excluded entries (say `build/x.o` or an ignored
//! `data/cache.bin`) is emptied of everything else and kept. Restore never follows a workspace
//! symlink: links are removed or replaced as links, and nothing is written through a symlinked
//! directory.
//!
//! Paths in reports and file lists are `/`-separated; names that are not UTF-8 (and `\`, tabs,
//! newlines) are escaped as described in [`escape`].

#[cfg(not(unix))]
compile_error!("harnessgym-snapshot supports Unix only");

mod cancel;
mod error;
pub mod escape;
mod fsutil;
mod journal;
mod manifest;
mod objects;
mod policy;
mod restore;
mod rsync;
mod statcache;
mod store;
mod tree;

use camino::{Utf8Path, Utf8PathBuf};

pub use cancel::{Cancel, cancellable};
pub use error::SnapshotError;
pub use policy::{
    AGENT_MIRROR_EXCLUDED_NAMES, COPY_EXCLUDED_NAMES, COPY_EXCLUDED_SUFFIXES, CopyPolicy, IGNORE_FILE, Purpose,
    TASK_STATE_EXCLUDED_TOP_LEVEL,
};
pub use restore::restore;
pub use rsync::{gitignore_rules, rsync_rules};
pub use store::{GcReport, RecoveryReport, SnapshotView, Store};
pub use tree::{capture, copy_tree};

/// The contents of the regular file `rel` (a `/`-free relative path is fine, as is `a/b`) of the
/// store snapshot at `snapshot`, read from the store (snapshots without a view have no files of
/// their own); `None` when it has no such file or is not a store snapshot.
pub fn snapshot_file(snapshot: &Utf8Path, rel: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
    store::snapshot_file(snapshot.as_std_path(), rel)
}

/// The digest of the store snapshot at `snapshot` (`None` when it is not a store snapshot),
/// read from its manifest: how a resumed run checks that a snapshot is still the one it took.
pub fn snapshot_digest(snapshot: &Utf8Path) -> Result<Option<String>, SnapshotError> {
    if !Store::is_snapshot(snapshot.as_std_path()) {
        return Ok(None);
    }
    Ok(store::read_manifest(snapshot.as_std_path())?.report.digest.clone())
}

/// What a copy produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeReport {
    /// Number of entries in `files`.
    pub file_count: usize,
    /// Sorted `/`-separated relative paths of the regular files and symlinks, escaped
    /// ([`escape`]).
    pub files: Vec<String>,
    /// Total size of the regular files.
    pub bytes: u64,
    /// `blake3:<hex>` over every entry's path, type, mode, size and content hash (or link
    /// target); equal trees have equal digests. `None` for plain copies, which hash nothing.
    pub digest: Option<String>,
}

/// File lists of at most this many entries are written whole into JSON reports; longer ones
/// keep their first `INLINE_FILES_MAX` entries and point at a side file holding all of them.
pub const INLINE_FILES_MAX: usize = 1000;

/// A file list as the JSON reports carry it (see [`TreeReport::listing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileListing {
    /// The whole list, or its first [`INLINE_FILES_MAX`] entries.
    pub files: Vec<String>,
    /// True when `files` was cut.
    pub truncated: bool,
    /// The side file with the whole list (one escaped path per line), when cut.
    pub list_path: Option<Utf8PathBuf>,
}

impl TreeReport {
    /// The file list for a JSON report: whole when it has at most [`INLINE_FILES_MAX`] entries;
    /// otherwise the first ones, and the whole list written to
    /// `<dir>/<stem>.files-<digest prefix>.txt` (kept when already there: same digest, same list).
    pub fn listing(&self, dir: &Utf8Path, stem: &str) -> Result<FileListing, SnapshotError> {
        if self.files.len() <= INLINE_FILES_MAX {
            return Ok(FileListing { files: self.files.clone(), truncated: false, list_path: None });
        }
        let name = match self.digest.as_deref().and_then(|d| d.strip_prefix("blake3:")).and_then(|h| h.get(..16)) {
            Some(short) => format!("{stem}.files-{short}.txt"),
            None => format!("{stem}.files.txt"),
        };
        let path = dir.join(name);
        if self.digest.is_none() || !path.is_file() {
            std::fs::create_dir_all(dir).map_err(error::io_err("create directory", dir.as_std_path()))?;
            let mut text = String::with_capacity(self.files.iter().map(|f| f.len() + 1).sum());
            for f in &self.files {
                text.push_str(f);
                text.push('\n');
            }
            statcache::write_replace(path.as_std_path(), text.as_bytes())
                .map_err(error::io_err("write", path.as_std_path()))?;
        }
        Ok(FileListing { files: self.files[..INLINE_FILES_MAX].to_vec(), truncated: true, list_path: Some(path) })
    }

    /// [`TreeReport::listing`] that always gives a list: when the side file cannot be written,
    /// the list is cut without one and the error comes back beside it (for callers that record
    /// faults and go on).
    pub fn listing_or_cut(&self, dir: &Utf8Path, stem: &str) -> (FileListing, Option<SnapshotError>) {
        match self.listing(dir, stem) {
            Ok(listing) => (listing, None),
            Err(e) => {
                let files = self.files.iter().take(INLINE_FILES_MAX).cloned().collect();
                (FileListing { files, truncated: true, list_path: None }, Some(e))
            }
        }
    }
}
