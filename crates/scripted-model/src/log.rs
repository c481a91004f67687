//! The request log: every request the server saw and what it answered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::script::Step;

/// Which model API a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/responses` (codex).
    OpenaiResponses,
    /// `POST /v1/messages` (claude).
    AnthropicMessages,
}

/// What the server made of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A scripted step was played.
    Scripted {
        /// The phase's name.
        phase: String,
        /// The step index (tool results seen after the prompt).
        step: usize,
        /// The step played.
        action: Step,
    },
    /// The phase matched but has no step at this index: a final text was sent.
    PastEnd {
        /// The phase's name.
        phase: String,
        /// The step index asked for.
        step: usize,
    },
    /// No user message matches any phase (a side request): a short text was sent.
    Unmatched,
    /// A fixed answer: `HEAD`, `GET /v1/models`, `POST /v1/messages/count_tokens`.
    Utility,
    /// The script could not be played, or the request was malformed: the
    /// server answered 4xx. Tests must see none of these.
    Failure {
        /// The phase, when one matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        /// The step index, when a phase matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// What went wrong (also in the error body the client got).
        message: String,
    },
    /// An unknown method or path: answered 404. Tests must see none of these.
    NotFound,
}

/// One logged request (one line of the JSONL log file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// Headers (lowercase names); credentials are replaced by `[redacted]`.
    pub headers: BTreeMap<String, String>,
    /// The parsed JSON body (a string if it was not JSON, null if empty).
    pub body: Value,
    /// The model API, for `/v1/responses` and `/v1/messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// The HTTP status answered.
    pub status: u16,
    /// What the server made of it.
    pub outcome: Outcome,
    /// What was answered: for SSE a list of `{"event", "data"}`, otherwise
    /// the JSON body.
    pub reply: Value,
}

impl LoggedRequest {
    /// A failure or a 404: something a rehearsal or test must not contain.
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, Outcome::Failure { .. } | Outcome::NotFound)
    }

    /// A short description for error messages.
    pub fn summary(&self) -> String {
        match &self.outcome {
            Outcome::Failure { message, .. } => format!("{} {} → {}: {message}", self.method, self.path, self.status),
            other => format!("{} {} → {} ({other:?})", self.method, self.path, self.status),
        }
    }
}

const REDACTED_HEADERS: &[&str] = &["authorization", "proxy-authorization", "x-api-key", "cookie", "api-key"];

/// Headers for the log, credentials redacted (secrets never reach logs).
pub(crate) fn redact_headers(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (name, value) in headers {
        let value = if REDACTED_HEADERS.contains(&name.as_str()) { "[redacted]".to_owned() } else { value.clone() };
        map.entry(name.clone())
            .and_modify(|existing: &mut String| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    map
}
