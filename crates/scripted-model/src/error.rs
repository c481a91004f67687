//! Errors of script loading and server start.

use camino::Utf8PathBuf;

/// Why a script could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The script file could not be read.
    #[error("could not read model script {path}: {source}")]
    Read {
        /// The script file.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The script is not valid JSON of the script format.
    #[error("model script is not valid: {0}")]
    Parse(#[source] serde_json::Error),
    /// The script parses but makes no sense (empty phases, steps, names…).
    #[error("model script is not valid: {0}")]
    Invalid(String),
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScriptedModelError {
    /// The script failed validation.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// Binding 127.0.0.1:0 failed.
    #[error("scripted model server could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// The request log file could not be created.
    #[error("could not create the scripted model request log {path}: {source}")]
    LogFile {
        /// The log file.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
