//! `.harnessgym/mcp_calls.jsonl`: one line per MCP `tools/call`, and its pure summary.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line of mcp_calls.jsonl: a `tools/call` the proxy relayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpCallEvent {
    /// When the call was received (UTC, microseconds).
    pub created_at: String,
    /// The MCP server's name.
    pub server: String,
    /// The JSON-RPC id of the request.
    pub request_id: Value,
    /// The JSON-RPC method (`tools/call`).
    pub method: String,
    /// The tool called.
    pub tool_name: String,
    /// Time from request to reply, milliseconds.
    pub duration_ms: u64,
    /// `completed`, `error` or `timeout`.
    pub status: String,
    /// The error, when `status` is not `completed`; else empty.
    pub error_message: String,
    /// Top-level argument names, sorted.
    pub argument_keys: Vec<String>,
    /// Bytes of the arguments as compact JSON.
    pub argument_json_bytes: u64,
    /// Bytes of the result (or error) as compact JSON.
    pub result_json_bytes: u64,
    /// Microseconds (ours; the reference logs only `duration_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// The tool result had `isError: true` (the call itself still `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// A summary of a telemetry log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySummary {
    /// The log.
    pub path: String,
    /// Calls (valid lines).
    pub count: u64,
    /// Calls `completed`.
    pub successful_count: u64,
    /// Calls that errored or timed out.
    pub failed_count: u64,
    /// Calls counted by `status` (`unknown` when missing).
    pub status_counts: BTreeMap<String, u64>,
    /// Distinct tools called, sorted.
    pub called_tools: Vec<String>,
    /// Distinct servers called, sorted.
    pub servers: Vec<String>,
    /// The first calls, as logged.
    pub samples: Vec<Value>,
}

/// Summarises the lines of a telemetry log; blank, invalid and non-object lines are skipped.
pub fn summarize(path: &str, text: &str, sample_limit: usize) -> TelemetrySummary {
    let mut s = TelemetrySummary { path: path.to_owned(), ..Default::default() };
    let mut tools = BTreeSet::new();
    let mut servers = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        s.count += 1;
        let status = event.get("status").and_then(Value::as_str).unwrap_or("unknown").to_owned();
        match status.as_str() {
            "completed" => s.successful_count += 1,
            "error" | "failed" | "timeout" => s.failed_count += 1,
            _ => {}
        }
        *s.status_counts.entry(status).or_default() += 1;
        if let Some(t) = event.get("tool_name").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            tools.insert(t.to_owned());
        }
        if let Some(sv) = event.get("server").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            servers.insert(sv.to_owned());
        }
        if s.samples.len() < sample_limit {
            s.samples.push(Value::Object(event));
        }
    }
    s.called_tools = tools.into_iter().collect();
    s.servers = servers.into_iter().collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_and_skips_garbage() {
        let text = concat!(
            "{\"status\":\"completed\",\"tool_name\":\"b\",\"server\":\"s\"}\n",
            "not json\n\n[1]\n",
            "{\"status\":\"timeout\",\"tool_name\":\"a\",\"server\":\"s\"}\n",
            "{\"tool_name\":\"\"}\n",
        );
        let s = summarize("/p", text, 2);
        assert_eq!((s.count, s.successful_count, s.failed_count), (3, 1, 1));
        assert_eq!(s.called_tools, ["a", "b"]);
        assert_eq!(s.status_counts.get("unknown"), Some(&1));
        assert_eq!(s.samples.len(), 2);
    }
}
