//! The record of one agent phase (`result.json` → `phases.<name>`, `summary.json` rows).

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::Extra;

/// An agent phase of an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The fresh session that works on the task.
    Attempt,
    /// The same session naming the artifact that would have helped most.
    Reflection,
    /// The same session building it (and repairing it after a failed qualification).
    Build,
}

impl Phase {
    /// Its name in files: `attempt`, `reflection`, `build`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Attempt => "attempt",
            Phase::Reflection => "reflection",
            Phase::Build => "build",
        }
    }
}

/// How an agent phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    /// The CLI exited 0.
    Completed,
    /// The CLI failed (non-zero exit, did not start, or reported an error).
    Failed,
    /// The phase hit its timeout.
    Timeout,
    /// The fake runner's "the attempt stopped on purpose".
    Blocked,
    /// Ctrl-C / SIGTERM stopped the phase.
    Interrupted,
}

impl PhaseStatus {
    /// Its name in files: `completed`, `failed`, `timeout`, `blocked`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Completed => "completed",
            PhaseStatus::Failed => "failed",
            PhaseStatus::Timeout => "timeout",
            PhaseStatus::Blocked => "blocked",
            PhaseStatus::Interrupted => "interrupted",
        }
    }

    /// The result status written when the agent left result.json at `running`.
    pub fn fallback_result_status(self) -> &'static str {
        match self {
            PhaseStatus::Timeout | PhaseStatus::Completed => "incomplete",
            other => other.as_str(),
        }
    }
}

/// Token usage as reported by the agent CLI; each count null when unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    pub input_tokens: Option<u64>,
    /// Input tokens served from the provider's prompt cache.
    pub cached_input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
}

/// The record of one agent phase: how it ended and where its files are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunnerResult {
    /// Which phase.
    pub phase: Phase,
    /// How it ended.
    pub status: PhaseStatus,
    /// The CLI's session id (from its structured events); null when it reported none.
    pub session_id: Option<String>,
    /// The CLI's exit code; null when killed or not started.
    pub return_code: Option<i32>,
    /// Whether it hit its timeout.
    pub timed_out: bool,
    /// Wall-clock time.
    pub duration_seconds: f64,
    /// The CLI's stdout.
    pub stdout_path: Option<Utf8PathBuf>,
    /// The CLI's stderr.
    pub stderr_path: Option<Utf8PathBuf>,
    /// The readable transcript of the session.
    pub transcript_path: Option<Utf8PathBuf>,
    /// The prompt sent on stdin.
    pub prompt_path: Option<Utf8PathBuf>,
    /// What went wrong, or a note; empty when nothing to say.
    #[serde(default)]
    pub message: String,
    /// Token usage; null when the CLI reported none.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Cost in US dollars as the CLI reported it; null when unknown.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl RunnerResult {
    /// A record of `phase` ending with `status`: no session, no files, no usage. Runners fill
    /// in what they have.
    pub fn new(phase: Phase, status: PhaseStatus) -> Self {
        Self {
            phase,
            status,
            session_id: None,
            return_code: None,
            timed_out: status == PhaseStatus::Timeout,
            duration_seconds: 0.0,
            stdout_path: None,
            stderr_path: None,
            transcript_path: None,
            prompt_path: None,
            message: String::new(),
            usage: None,
            cost_usd: None,
            extra: Extra::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_python_phase_record_without_usage() {
        let v = json!({"phase": "attempt", "status": "timeout", "session_id": null, "return_code": null,
            "timed_out": true, "duration_seconds": 1.5, "stdout_path": "/r/a.stdout.txt", "stderr_path": null,
            "transcript_path": null, "prompt_path": null, "message": ""});
        let r: RunnerResult = serde_json::from_value(v).unwrap();
        assert_eq!(r.status, PhaseStatus::Timeout);
        assert_eq!(r.status.fallback_result_status(), "incomplete");
        assert_eq!(r.usage, None);
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["usage"], Value::Null);
        assert_eq!(back["cost_usd"], Value::Null);
    }

    use serde_json::Value;
}
