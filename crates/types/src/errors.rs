//! Error type of this crate and the record of a tolerated fault.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

/// Why reading or writing a file of this crate failed.
#[derive(Debug, thiserror::Error)]
pub enum TypesError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not JSON of the expected shape.
    #[error("{path} is not valid JSON ({source}); fix or delete the file")]
    Json {
        /// The file.
        path: Utf8PathBuf,
        /// The parse or shape error.
        #[source]
        source: serde_json::Error,
    },
    /// The file is larger than such a file may be (it is not read on).
    #[error("{path} is larger than {limit} bytes, the most it may hold; write less into it")]
    TooLarge {
        /// The file.
        path: Utf8PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is JSON but holds the wrong kind of value (e.g. not an object).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: Utf8PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A value could not be turned into JSON.
    #[error("could not serialise {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
}

/// A fault the run loop tolerated: recorded in result.json and summary.json, never fatal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedError {
    /// The iteration it happened in; null for run-level faults.
    pub iteration: Option<u32>,
    /// The step it happened in (e.g. `setup`, `registry`, `result`, `checkpoint`, `restore_best`).
    pub phase: String,
    /// The file it concerns, if any.
    pub path: Option<String>,
    /// What happened.
    pub message: String,
}
