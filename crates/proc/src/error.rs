//! Errors reported by this crate.

use std::io;

use camino::Utf8PathBuf;

/// Why a child could not be run or its output could not be stored.
///
/// A child that starts and then fails (non-zero exit, signal, timeout,
/// cancellation) is *not* an error: that is reported in [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The program does not exist (not on `PATH`, or the given path is missing).
    /// Callers usually report this like a shell would: return code 127.
    #[error("executable not found: {program}")]
    NotFound {
        /// The program as given in [`crate::CommandSpec::program`].
        program: String,
        /// The underlying error from `execvp`.
        #[source]
        source: io::Error,
    },
    /// The program exists but could not be started (permission denied, bad
    /// executable format, out of resources, ...), or waiting for it failed.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program as given in [`crate::CommandSpec::program`].
        program: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file or directory this crate had to use failed: the working
    /// directory is missing or not a directory, an output file could not be
    /// created/written/synced, or a file could not be read or appended to.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: Utf8PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl ProcError {
    pub(crate) fn io(path: impl Into<Utf8PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
