//! The record of one agent phase (`result.json` → `phases.<name>`, `summary.json` rows).

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::Extra;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Attempt,
    Reflection,
    Build,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Attempt => "attempt",
            Phase::Reflection => "reflection",
            Phase::Build => "build",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    Completed,
    Failed,
    Timeout,
    /// The fake runner's "the attempt stopped on purpose".
    Blocked,
    /// Ctrl-C / SIGTERM stopped the phase.
    Interrupted,
}

impl PhaseStatus {
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
    pub input_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunnerResult {
    pub phase: Phase,
    pub status: PhaseStatus,
    pub session_id: Option<String>,
    pub return_code: Option<i32>,
    pub timed_out: bool,
    pub duration_seconds: f64,
    pub stdout_path: Option<Utf8PathBuf>,
    pub stderr_path: Option<Utf8PathBuf>,
    pub transcript_path: Option<Utf8PathBuf>,
    pub prompt_path: Option<Utf8PathBuf>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
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
