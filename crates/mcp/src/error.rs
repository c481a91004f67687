//! Errors of the client and the framing probe.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use harnessgym_proc::ProcError;
use serde_json::Value;

/// How much of a server's stderr is quoted in an error message (the error
/// value itself keeps the whole tail).
const STDERR_IN_MESSAGE: usize = 2000;

/// Why talking to an MCP server failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The server process could not be started.
    #[error("could not start MCP server {program:?}: {source}")]
    Start {
        /// The program from the server command.
        program: String,
        /// What the process layer reported.
        #[source]
        source: ProcError,
    },
    /// No reply with the request's id arrived in time.
    #[error("MCP server did not answer {method} within {seconds}s")]
    Timeout {
        /// The JSON-RPC method of the request.
        method: String,
        /// The limit that elapsed.
        seconds: f64,
    },
    /// The server answered with a JSON-RPC error.
    #[error("MCP server returned an error for {method}: {message} (code {code})")]
    Rpc {
        /// The JSON-RPC method of the request.
        method: String,
        /// `error.code` (-32603 if the server sent none).
        code: i64,
        /// `error.message`, as the server wrote it.
        message: String,
        /// `error.data`, if any.
        data: Option<Value>,
    },
    /// The server closed its stdout (usually: it exited) or its stdin before
    /// answering.
    #[error("{}", closed_message(method, status.as_ref(), stderr_tail))]
    Closed {
        /// The request that was waiting.
        method: String,
        /// The server's exit status, if it had exited.
        status: Option<ExitStatus>,
        /// The last bytes the server wrote to stderr.
        stderr_tail: String,
    },
    /// The reply arrived but does not have the shape the method requires.
    #[error("invalid MCP reply to {method}: {reason}")]
    Protocol {
        /// The JSON-RPC method of the request.
        method: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`crate::detect_server_framing`]: neither framing produced an
    /// `initialize` reply.
    #[error(
        "MCP server answered initialize in neither framing (ndjson: {ndjson}; content-length: {content_length}){}",
        stderr_suffix(stderr_tail)
    )]
    NoFraming {
        /// Why the newline-JSON attempt failed.
        ndjson: Box<McpError>,
        /// Why the Content-Length attempt failed.
        content_length: Box<McpError>,
        /// The last stderr bytes of the newline-JSON attempt.
        stderr_tail: String,
    },
}

fn closed_message(method: &str, status: Option<&ExitStatus>, stderr_tail: &str) -> String {
    let mut text = format!("MCP server closed the connection before answering {method}");
    match status.map(|s| (s.code(), s.signal())) {
        Some((Some(code), _)) => {
            let _ = write!(text, " (exit code {code})");
        }
        Some((None, Some(signal))) => {
            let _ = write!(text, " (killed by signal {signal})");
        }
        _ => {}
    }
    text.push_str(&stderr_suffix(stderr_tail));
    text
}

fn stderr_suffix(stderr_tail: &str) -> String {
    let trimmed = stderr_tail.trim_end();
    if trimmed.is_empty() {
        return String::new();
    }
    let start = trimmed.len().saturating_sub(STDERR_IN_MESSAGE);
    let start = (start..=trimmed.len()).find(|i| trimmed.is_char_boundary(*i)).unwrap_or(trimmed.len());
    let ellipsis = if start > 0 { "…" } else { "" };
    format!("; server stderr: {ellipsis}{}", &trimmed[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_message_names_the_exit_and_quotes_stderr() {
        let err = McpError::Closed {
            method: "initialize".into(),
            status: Some(ExitStatus::from_raw(3 << 8)),
            stderr_tail: "Traceback\nValueError: boom\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "MCP server closed the connection before answering initialize (exit code 3); \
             server stderr: Traceback\nValueError: boom"
        );
    }

    #[test]
    fn long_stderr_is_cut_from_the_front_on_a_char_boundary() {
        let tail = format!("{}é{}", "a".repeat(10), "b".repeat(STDERR_IN_MESSAGE - 1));
        let text = stderr_suffix(&tail);
        assert!(text.starts_with("; server stderr: …"), "{text}");
        assert!(text.ends_with('b'));
    }

    #[test]
    fn timeout_and_rpc_messages() {
        let err = McpError::Timeout { method: "tools/call".into(), seconds: 2.5 };
        assert_eq!(err.to_string(), "MCP server did not answer tools/call within 2.5s");
        let err = McpError::Rpc { method: "initialize".into(), code: -32000, message: "nope".into(), data: None };
        assert_eq!(err.to_string(), "MCP server returned an error for initialize: nope (code -32000)");
    }
}
