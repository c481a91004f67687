//! Every copy of a workspace that HarnessGym makes goes through this crate: the task-state
//! snapshot taken at run start and restored before later iterations (`--task-state reset`), the
//! best checkpoint (captured, then restored at the end of a run), and the clean qualification
//! template and its rooms. Keeping them in one place lets a later content-addressed store speed
//! all of them up without touching callers. Today every copy is a plain, full copy.
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
//! # Operations
//!
//! - [`capture`] / [`copy_tree`] replace a destination with a filtered copy. The copy is built in
//!   a staging directory next to the destination and renamed into place.
//! - [`restore`] makes a workspace equal to a snapshot for every non-excluded path, in place.
//!   Paths excluded by the policy are never deleted or modified at any depth: a directory that
//!   is gone from the snapshot but still holds excluded entries (say `build/x.o` or an ignored
//!   `data/cache.bin`) is emptied of everything else and kept. (This fixes two bugs of the
//!   Python reference: restore deleted whole directories and the excluded files inside them, and
//!   template and checkpoint copies used different exclusion lists.) Restore never follows a
//!   workspace symlink: links are removed or replaced as links.
//!
//! File contents are always written to a temporary name in the same directory and renamed, so
//! an interrupted operation never leaves a half-written file under its final name. File modes
//! and modification times are copied; directory modes are copied too.

mod error;
mod fsutil;
mod policy;
mod restore;
mod tree;

pub use error::SnapshotError;
pub use policy::{
    COPY_EXCLUDED_NAMES, COPY_EXCLUDED_SUFFIXES, CopyPolicy, IGNORE_FILE, Purpose, TASK_STATE_EXCLUDED_TOP_LEVEL,
};
pub use restore::restore;
pub use tree::{capture, copy_tree};

/// What a copy produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeReport {
    /// Number of entries in `files`.
    pub file_count: usize,
    /// Sorted posix relative paths of the regular files and symlinks copied (lossy for non-UTF-8
    /// names).
    pub files: Vec<String>,
    /// Total size of the regular files copied.
    pub bytes: u64,
}
