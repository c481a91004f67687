//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use camino::Utf8PathBuf;

/// Everything that can go wrong while copying, capturing or restoring a tree.
///
/// Every message names the path involved and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A filesystem operation failed.
    #[error(
        "failed to {op} {}: {source}; check that the path exists, is accessible, and that the disk is not full",
        path.display()
    )]
    Io {
        /// What was being done, e.g. "read directory".
        op: &'static str,
        /// The path the operation was applied to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `restore` was asked to restore from a snapshot directory that is not there.
    #[error(
        "snapshot {path} does not exist; capture it first (snapshots are taken at run start and when a checkpoint is recorded) and check that the run directory was not removed"
    )]
    SnapshotMissing {
        /// The missing snapshot directory.
        path: Utf8PathBuf,
    },

    /// The tree to copy from does not exist or is not a directory.
    #[error("source tree {path} does not exist or is not a directory; pass an existing directory")]
    SourceMissing {
        /// The missing source directory.
        path: Utf8PathBuf,
    },

    /// The restore target exists but is not a directory.
    #[error("workspace {path} exists but is not a directory; remove it or pass a directory")]
    NotADirectory {
        /// The offending path.
        path: Utf8PathBuf,
    },

    /// Source and destination overlap in a way that would destroy data.
    #[error("refusing to copy {src} to {dest}: {reason}; choose paths that do not contain each other")]
    Overlap {
        /// Source tree.
        src: Utf8PathBuf,
        /// Destination tree.
        dest: Utf8PathBuf,
        /// Why the combination is refused.
        reason: &'static str,
    },

    /// `.harnessgymignore` could not be read.
    #[error("cannot read ignore file {}: {source}; fix its permissions or encoding (UTF-8), or delete it", path.display())]
    IgnoreFileUnreadable {
        /// The ignore file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `.harnessgymignore` contains a pattern that is not valid gitignore syntax.
    #[error(
        "malformed ignore file {}, line {line} `{text}`: {message}; fix the pattern (gitignore syntax) or delete the line",
        path.display()
    )]
    BadIgnoreFile {
        /// The ignore file.
        path: PathBuf,
        /// 1-based line number (0 when the error is not tied to a line).
        line: usize,
        /// The offending line.
        text: String,
        /// What is wrong with it.
        message: String,
    },

    /// A snapshot manifest (`<snapshot>/.harnessgym/snapshot`) cannot be read.
    #[error(
        "snapshot manifest {} is damaged (line {line}: {message}); the snapshot cannot be used: capture it again (for a checkpoint or template, start a new run)",
        path.display()
    )]
    CorruptManifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line (0 when not tied to a line).
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// The store a snapshot's objects live in cannot be found.
    #[error(
        "the snapshot store of {} is missing (expected at {}); the snapshot's contents are gone: capture it again",
        snapshot.display(),
        store.display()
    )]
    StoreMissing {
        /// The snapshot directory.
        snapshot: PathBuf,
        /// Where its manifest says the store is.
        store: PathBuf,
    },

    /// A snapshot references an object its store no longer holds.
    #[error(
        "object {object} is missing from the snapshot store {}; the store was damaged or cleaned by hand: capture the snapshot again",
        store.display()
    )]
    ObjectMissing {
        /// Hex hash of the object.
        object: String,
        /// The store.
        store: PathBuf,
    },

    /// Garbage collection needs the store to itself.
    #[error(
        "the snapshot store {} is in use by another harnessgym process; run gc again when it has finished",
        store.display()
    )]
    StoreBusy {
        /// The store.
        store: PathBuf,
    },

    /// A store opened read-only was asked to change.
    #[error(
        "the snapshot store {} was opened read-only; only a dry run is possible (run gc without --dry-run on a writable workspace)",
        store.display()
    )]
    ReadOnly {
        /// The store.
        store: PathBuf,
    },

    /// The operation ran in a [`crate::cancellable`] scope whose token was set.
    #[error("the copy was cancelled (the run is ending); what it was writing is abandoned")]
    Cancelled,

    /// A workspace entry cannot be made to match the snapshot without touching excluded paths.
    #[error("cannot restore {}: {reason}", path.display())]
    Conflict {
        /// The workspace path.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
}

/// Shorthand used throughout the crate: `.map_err(io_err("read directory", &path))`.
pub(crate) fn io_err(op: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { op, path, source }
}
