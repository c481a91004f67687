//! Error type of this crate and the record of a tolerated fault.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum TypesError {
    #[error("{path}: {source}")]
    Io {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({source}); fix or delete the file")]
    Json {
        path: Utf8PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: Utf8PathBuf, message: String },
    #[error("could not serialise {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// A fault the run loop tolerated: recorded in result.json and summary.json, never fatal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedError {
    pub iteration: Option<u32>,
    pub phase: String,
    pub path: Option<String>,
    pub message: String,
}
