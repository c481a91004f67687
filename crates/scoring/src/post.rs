//! Post commands: an independent benchmark run through the shell after an attempt (and for the
//! baseline and the restored checkpoint). Its stdout must be exactly one JSON object.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::{CommandSpec, ProcError};
use harnessgym_types::post::PostRecord;
use serde_json::Value;
use tokio::sync::watch;

use crate::extract_score;

/// Largest stdout we parse as the score JSON; a benchmark printing more is not a score report.
const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

/// Statuses in the post JSON that count as passing (case-insensitive); a missing status passes.
const PASSING_STATUSES: [&str; 5] = ["passed", "pass", "ok", "success", "solved"];

pub struct PostCommand<'a> {
    pub command: &'a str,
    pub cwd: &'a Utf8Path,
    /// `<log_dir>/<prefix>.stdout.txt` and `.stderr.txt` are written.
    pub log_dir: &'a Utf8Path,
    pub prefix: &'a str,
    pub timeout: Duration,
    pub score_key: &'a str,
}

/// Runs the command with `/bin/sh -c` in its own process group (bug B7: a timeout kills the
/// whole group, so a grandchild holding the pipe cannot hang the run). Never fails: problems
/// are reported in the record (`status`, `message`).
pub async fn run_post_command(cmd: &PostCommand<'_>, cancel: watch::Receiver<bool>) -> PostRecord {
    let stdout_path = cmd.log_dir.join(format!("{}.stdout.txt", cmd.prefix));
    let stderr_path = cmd.log_dir.join(format!("{}.stderr.txt", cmd.prefix));
    let spec = CommandSpec::shell(cmd.command, cmd.cwd.to_owned(), stdout_path.clone(), stderr_path.clone())
        .timeout(cmd.timeout);
    let mut record = PostRecord {
        command: cmd.command.to_owned(),
        status: "failed".into(),
        return_code: None,
        timed_out: false,
        duration_seconds: 0.0,
        stdout_path: Some(stdout_path.clone()),
        stderr_path: Some(stderr_path.clone()),
        json: None,
        score: None,
        score_key: cmd.score_key.to_owned(),
        message: None,
        extra: Default::default(),
    };
    let outcome = match harnessgym_proc::run_with_cancel(spec, cancel).await {
        Ok(o) => o,
        Err(e) => {
            record.message = Some(spawn_message(&e, cmd.command));
            return record;
        }
    };
    record.return_code = outcome.return_code;
    record.timed_out = outcome.timed_out;
    record.duration_seconds = outcome.duration.as_secs_f64();
    record.status = if outcome.timed_out {
        let _ = harnessgym_proc::append_note(
            &stderr_path,
            &format!("\nTimed out after {} seconds.\n", cmd.timeout.as_secs()),
        );
        "timeout".into()
    } else if outcome.cancelled {
        "interrupted".into()
    } else if outcome.return_code == Some(0) {
        "completed".into()
    } else {
        "failed".into()
    };
    if outcome.cancelled {
        record.message = Some(format!("post command `{}` was stopped: the run was interrupted", cmd.command));
        return record;
    }
    match parse_stdout(&stdout_path).await {
        Ok(json) => {
            record.score = extract_score(&json, cmd.score_key);
            record.json = Some(json);
        }
        Err(problem) => record.message = Some(problem),
    }
    record
}

fn spawn_message(e: &ProcError, command: &str) -> String {
    format!("post command `{command}` could not be started: {e}")
}

/// The whole stdout must be one JSON object (surrounding whitespace allowed).
async fn parse_stdout(path: &Utf8PathBuf) -> Result<Value, String> {
    let (bytes, truncated) = harnessgym_proc::read_capped(path, MAX_JSON_BYTES)
        .await
        .map_err(|e| format!("could not read the post command's stdout: {e}"))?;
    if truncated {
        return Err(format!(
            "{path}: stdout is larger than {MAX_JSON_BYTES} bytes; print only one JSON object with the score to stdout"
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!(
            "{path}: the post command printed nothing on stdout; it must print one JSON object such as {{\"status\": \"passed\", \"score\": 1.0}}"
        ));
    }
    match harnessgym_types::json::parse_lenient(trimmed) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        Ok(other) => Err(format!(
            "{path}: stdout is {}, not a JSON object; print one JSON object such as {{\"score\": 1.0}}",
            harnessgym_types::json::kind_name(&other)
        )),
        Err(_) => {
            let hint = if trimmed.lines().count() > 1
                && trimmed.lines().last().is_some_and(|l| l.trim_start().starts_with('{'))
            {
                " (it looks like log lines come before the JSON: print logs to stderr)"
            } else {
                ""
            };
            Err(format!(
                "{path}: stdout is not one JSON object{hint}; the whole of stdout must be a single JSON object"
            ))
        }
    }
}

/// Passing = exit 0, stdout a JSON object, and its `status` missing or one of the passing words.
pub fn post_command_passed(record: &PostRecord) -> bool {
    if record.status != "completed" {
        return false;
    }
    let Some(Value::Object(json)) = &record.json else {
        return false;
    };
    match json.get("status") {
        None | Some(Value::Null) => true,
        Some(status) => {
            let text = match status {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string().to_lowercase(),
            };
            PASSING_STATUSES.contains(&text.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(status: &str, json: Option<Value>) -> PostRecord {
        PostRecord {
            command: "c".into(),
            status: status.into(),
            return_code: Some(0),
            timed_out: false,
            duration_seconds: 0.0,
            stdout_path: None,
            stderr_path: None,
            json,
            score: None,
            score_key: "score".into(),
            message: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn statement_21_pass_rule() {
        assert!(post_command_passed(&record("completed", Some(json!({"score": 1})))));
        assert!(post_command_passed(&record("completed", Some(json!({"status": "OK"})))));
        assert!(!post_command_passed(&record("completed", Some(json!({"status": "failed"})))));
        assert!(!post_command_passed(&record("failed", Some(json!({"score": 1})))));
        assert!(!post_command_passed(&record("timeout", Some(json!({"score": 1})))));
    }

    #[test]
    fn statement_22_null_or_array_output_never_passes() {
        assert!(!post_command_passed(&record("completed", None)));
        assert!(!post_command_passed(&record("completed", Some(json!([1])))));
    }
}
