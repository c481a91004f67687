//! What the real agent adapters share: running the CLI through harnessgym-proc with the prompt on
//! stdin, the missing-session short circuit, and the transcript.

use std::time::{Duration, Instant};

use camino::Utf8Path;
use harnessgym_proc::{CommandSpec, ProcError};
use harnessgym_types::runner::{Phase, PhaseStatus, RunnerResult, Usage};

use crate::{PhaseFiles, PhaseRequest};

/// The command line of one phase.
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    /// Deliver the prompt on stdin (else stdin is empty: the prompt is in the argv).
    pub prompt_on_stdin: bool,
}

/// What an adapter parsed out of its CLI's output ([`crate::exec::parse_events`],
/// [`crate::claude::parse_stream`], [`crate::command::Profile::parse_output`]).
#[derive(Debug, Default)]
pub struct Parsed {
    /// The agent's session, from its structured events (never from prose).
    pub session_id: Option<String>,
    /// The agent's last message.
    pub final_message: Option<String>,
    /// Token usage of the phase.
    pub usage: Option<Usage>,
    /// Cost in USD, when the CLI reports it.
    pub cost_usd: Option<f64>,
    /// An error the CLI reported (turn failed, error result): the phase failed.
    pub error: Option<String>,
    /// Extra `key: value` lines for the transcript.
    pub transcript_lines: Vec<String>,
}

/// The raw outcome before parsing.
pub struct RawRun {
    pub return_code: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration: Duration,
    pub spawn_error: Option<ProcError>,
}

/// Largest stdout read back for parsing (the file itself keeps everything).
pub const PARSE_LIMIT: usize = 64 * 1024 * 1024;
const MESSAGE_LIMIT: usize = 1000;
const TRANSCRIPT_MESSAGE_LIMIT: usize = 8000;

pub fn truncate_chars(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

/// `Cannot run <phase>: no <agent> session id is available to resume.` — no process starts.
pub fn missing_session(request: &PhaseRequest, agent: &str) -> Option<RunnerResult> {
    if request.phase == Phase::Attempt || request.session_id.as_deref().is_some_and(|s| !s.is_empty()) {
        return None;
    }
    let files = PhaseFiles::new(&request.phase_dir, request.phase);
    let message = format!("Cannot run {}: no {agent} session id is available to resume.", request.phase.as_str());
    let _ = PhaseFiles::write(&files.prompt, &request.prompt);
    let _ = PhaseFiles::write(&files.stdout, "");
    let _ = PhaseFiles::write(&files.stderr, &format!("{message}\n"));
    let transcript = format!(
        "command: <not run: missing session id>\nprompt_path: {}\nstatus: failed\nreturn_code: None\nsession_id: \n",
        files.prompt
    );
    let _ = PhaseFiles::write(&files.transcript, &transcript);
    Some(result_record(request, &files, PhaseStatus::Failed, None, false, 0.0, None, message, None, None))
}

#[allow(clippy::too_many_arguments)]
pub fn result_record(
    request: &PhaseRequest,
    files: &PhaseFiles,
    status: PhaseStatus,
    return_code: Option<i32>,
    timed_out: bool,
    duration_seconds: f64,
    session_id: Option<String>,
    message: String,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
) -> RunnerResult {
    RunnerResult {
        phase: request.phase,
        status,
        session_id,
        return_code,
        timed_out,
        duration_seconds,
        stdout_path: Some(files.stdout.clone()),
        stderr_path: Some(files.stderr.clone()),
        transcript_path: Some(files.transcript.clone()),
        prompt_path: Some(files.prompt.clone()),
        message,
        usage,
        cost_usd,
        extra: Default::default(),
    }
}

/// Runs the CLI locally with the prompt on stdin (never argv: bug B8), in its own process group,
/// output streamed to the phase files; a timeout or cancel kills the whole group. (The remote
/// counterpart is `RemoteLauncher::run_cli`; adapters go through `AgentLauncher::run_cli`.)
pub async fn run_local(request: &PhaseRequest, files: &PhaseFiles, invocation: &Invocation) -> RawRun {
    let started = Instant::now();
    let _ = PhaseFiles::write(&files.prompt, &request.prompt);
    let mut spec = CommandSpec::new(
        invocation.program.clone(),
        request.workspace.clone(),
        files.stdout.clone(),
        files.stderr.clone(),
    )
    .args(invocation.args.iter().cloned())
    .timeout(request.timeout);
    if invocation.prompt_on_stdin {
        spec = spec.stdin_bytes(request.prompt.clone().into_bytes());
    }
    for (k, v) in &invocation.env {
        spec = spec.env(k.clone(), v.clone());
    }
    for k in &invocation.env_remove {
        spec = spec.env_remove(k.clone());
    }
    match harnessgym_proc::run_with_cancel(spec, request.cancel.clone()).await {
        Ok(o) => RawRun {
            return_code: o.return_code,
            timed_out: o.timed_out,
            cancelled: o.cancelled,
            duration: o.duration,
            spawn_error: None,
        },
        Err(e) => RawRun {
            return_code: None,
            timed_out: false,
            cancelled: false,
            duration: started.elapsed(),
            spawn_error: Some(e),
        },
    }
}

/// Shell-quotes argv for the transcript.
pub fn shell_join(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.to_owned()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns the raw run + parsed output into the phase record and writes the transcript.
pub fn finish(
    request: &PhaseRequest,
    files: &PhaseFiles,
    invocation: &Invocation,
    raw: RawRun,
    parsed: Parsed,
    agent: &str,
    install_hint: &str,
) -> RunnerResult {
    let timeout_secs = request.timeout.as_secs();
    let (status, mut message, return_code) = match &raw.spawn_error {
        Some(ProcError::NotFound { program, .. }) => {
            let _ = harnessgym_proc::append_note(&files.stderr, &format!("{agent} executable not found: {program}"));
            (PhaseStatus::Failed, format!("{agent} executable not found: {program}; {install_hint}"), Some(127))
        }
        Some(e) => {
            let _ = harnessgym_proc::append_note(&files.stderr, &e.to_string());
            (PhaseStatus::Failed, format!("could not run {agent}: {e}"), None)
        }
        None if raw.cancelled => {
            (PhaseStatus::Interrupted, format!("{agent} was stopped: the run was interrupted"), None)
        }
        None if raw.timed_out => {
            let _ = harnessgym_proc::append_note(
                &files.stderr,
                &format!("Timed out after {timeout_secs} seconds; terminated {agent} process."),
            );
            (PhaseStatus::Timeout, format!("Timed out after {timeout_secs} seconds"), None)
        }
        None if raw.return_code != Some(0) => {
            let detail = parsed.error.clone().unwrap_or_else(|| stderr_tail(&files.stderr));
            (
                PhaseStatus::Failed,
                format!("{agent} exited {}: {detail}", raw.return_code.map_or("by a signal".into(), |c| c.to_string())),
                raw.return_code,
            )
        }
        None => match &parsed.error {
            Some(e) => (PhaseStatus::Failed, e.clone(), raw.return_code),
            None => (PhaseStatus::Completed, String::new(), raw.return_code),
        },
    };
    if message.is_empty() {
        message = parsed.final_message.as_deref().map(|m| truncate_chars(m, MESSAGE_LIMIT)).unwrap_or_default();
    }
    let session_id = parsed.session_id.clone().or_else(|| request.session_id.clone());
    let mut transcript = format!(
        "command: {}\nprompt_path: {}\nstdout_path: {}\nstderr_path: {}\nstatus: {}\nreturn_code: {}\ntimed_out: {}\nduration_seconds: {:.3}\nsession_id: {}\n",
        shell_join(&invocation.program, &invocation.args),
        files.prompt,
        files.stdout,
        files.stderr,
        status.as_str(),
        return_code.map_or("None".to_owned(), |c| c.to_string()),
        if raw.timed_out { "True" } else { "False" },
        raw.duration.as_secs_f64(),
        session_id.as_deref().unwrap_or(""),
    );
    for line in &parsed.transcript_lines {
        transcript.push_str(line);
        transcript.push('\n');
    }
    if let Some(m) = parsed.final_message.as_deref().filter(|m| !m.trim().is_empty()) {
        transcript.push_str("\nfinal_message:\n");
        transcript.push_str(&truncate_chars(m, TRANSCRIPT_MESSAGE_LIMIT));
        transcript.push('\n');
    }
    let _ = PhaseFiles::write(&files.transcript, &transcript);
    result_record(
        request,
        files,
        status,
        return_code,
        raw.timed_out,
        raw.duration.as_secs_f64(),
        session_id,
        message,
        parsed.usage,
        parsed.cost_usd,
    )
}

/// The end of the phase's stderr, for a failure message.
fn stderr_tail(path: &Utf8Path) -> String {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return format!("no error output (see {path})");
    }
    let start = text.char_indices().rev().nth(500).map_or(0, |(i, _)| i);
    format!("{} (see {path})", &text[start..])
}

/// Reads the phase's stdout back for parsing (lossy).
pub fn read_stdout(path: &Utf8Path) -> String {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return String::new() };
    let mut buf = Vec::new();
    let _ = file.take(PARSE_LIMIT as u64).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
