//! The `exec` runner (alias `codex`): `codex exec --json`, the prompt on stdin, `resume <thread>`
//! for reflect/build/repair, the session id from `thread.started` (never a regex over prose).

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::options::CodexOptions;
use harnessgym_types::runner::{RunnerResult, Usage};
use serde_json::Value;

use crate::agent_cli::{Invocation, Parsed, finish, missing_session, read_stdout};
use crate::codex_env;
use crate::launcher::AgentLauncher;
use crate::{PhaseFiles, PhaseRequest, Runner};

const AGENT: &str = "Codex";
const INSTALL_HINT: &str = "install it with `npm install -g @openai/codex@0.169.0` or pass --codex-bin PATH";

/// How [`ExecRunner`] calls Codex: the `--codex-*` options, plus what a run adds to them.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The `--codex-*` options (executable, sandbox, approval policy, model, extra arguments).
    pub cli: CodexOptions,
    /// Extra `-c key=value` overrides (e.g. a scripted model provider).
    pub config_overrides: Vec<String>,
    /// Variables set for the CLI (the only ones exported on a remote host).
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment (local runs).
    pub env_remove: Vec<String>,
    /// The harnessgym binary the MCP servers are launched through (`mcp-proxy`).
    pub harnessgym_bin: Utf8PathBuf,
}

impl ExecOptions {
    /// The defaults: `--sandbox workspace-write`, `approval_policy=never`, no model, no extras.
    pub fn new(codex_bin: impl Into<String>, harnessgym_bin: Utf8PathBuf) -> Self {
        Self::from_cli(CodexOptions { bin: codex_bin.into(), ..CodexOptions::default() }, harnessgym_bin)
    }

    /// Calls Codex as `cli` says.
    pub fn from_cli(cli: CodexOptions, harnessgym_bin: Utf8PathBuf) -> Self {
        Self { cli, config_overrides: Vec::new(), env: Vec::new(), env_remove: Vec::new(), harnessgym_bin }
    }
}

/// The `exec` runner: Codex CLI (`codex exec --json`), see the module docs.
#[derive(Debug)]
pub struct ExecRunner {
    /// How Codex is called.
    pub options: ExecOptions,
    launcher: AgentLauncher,
    /// Codex reports usage totals per thread, growing across resumes: the last total seen per
    /// thread, so each phase records only its own share.
    totals: std::sync::Mutex<std::collections::HashMap<String, Usage>>,
}

fn minus(now: Option<u64>, before: Option<u64>) -> Option<u64> {
    now.map(|n| n.saturating_sub(before.unwrap_or(0)))
}

impl ExecRunner {
    /// A runner that starts Codex on this machine ([`AgentLauncher::Local`]).
    pub fn new(options: ExecOptions) -> Self {
        Self { options, launcher: AgentLauncher::Local, totals: Default::default() }
    }

    /// The same runner, starting its CLI through `launcher` (default [`AgentLauncher::Local`]).
    pub fn with_launcher(mut self, launcher: AgentLauncher) -> Self {
        self.launcher = launcher;
        self
    }

    /// Where this runner starts its CLI.
    pub fn launcher(&self) -> &AgentLauncher {
        &self.launcher
    }

    fn phase_usage(&self, thread: Option<&str>, total: Option<Usage>) -> Option<Usage> {
        let (Some(thread), Some(total)) = (thread, total.clone()) else { return total };
        let Ok(mut totals) = self.totals.lock() else { return Some(total) };
        let before = totals.insert(thread.to_owned(), total.clone()).unwrap_or_default();
        Some(Usage {
            input_tokens: minus(total.input_tokens, before.input_tokens),
            cached_input_tokens: minus(total.cached_input_tokens, before.cached_input_tokens),
            output_tokens: minus(total.output_tokens, before.output_tokens),
        })
    }

    /// `Some(message)` when every shell command of the phase failed the same way (see
    /// [`codex_env::diagnose`]): from the `command_execution` events, or — when Codex said it
    /// could not create its helpers and reported no command (codex 0.169 emits no event for a
    /// command whose sandbox could not start) — from the thread's rollout file on this machine.
    fn broken_environment(&self, stdout: &str, stderr_path: &Utf8Path, thread: Option<&str>) -> Option<String> {
        let stderr = read_stdout(stderr_path);
        let mut outcomes = codex_env::outcomes_from_events(stdout);
        if outcomes.is_empty()
            && matches!(self.launcher, AgentLauncher::Local)
            && let (Some(named), Some(thread)) = (codex_env::alias_warning_home(&stderr), thread)
        {
            let home = named.map(Utf8PathBuf::from).or_else(|| self.codex_home());
            if let Some(rollout) = home.and_then(|h| codex_env::find_rollout(&h, thread)) {
                outcomes = codex_env::outcomes_from_rollout(&read_stdout(&rollout));
            }
        }
        codex_env::diagnose(&outcomes, &stderr)
    }

    /// The `CODEX_HOME` the CLI sees: this runner's setting, else the inherited one, else `~/.codex`.
    fn codex_home(&self) -> Option<Utf8PathBuf> {
        let o = &self.options;
        if let Some((_, home)) = o.env.iter().rev().find(|(k, _)| k == "CODEX_HOME") {
            return Some(home.into());
        }
        let inherited = std::env::var("CODEX_HOME")
            .ok()
            .filter(|h| !h.is_empty() && !o.env_remove.iter().any(|k| k == "CODEX_HOME"));
        inherited
            .map(Utf8PathBuf::from)
            .or_else(|| std::env::var("HOME").ok().map(|h| Utf8PathBuf::from(h).join(".codex")))
    }

    /// argv after the program: exec-level options first (valid for `resume` too), then
    /// `resume <id>` when resuming, then `-` (prompt from stdin).
    pub fn args(&self, request: &PhaseRequest, activation: &ActivationReport) -> Vec<String> {
        let o = &self.options;
        let mut args: Vec<String> = ["exec", "--json", "--skip-git-repo-check", "--sandbox", o.cli.sandbox.as_str()]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push("-c".into());
        args.push(format!("approval_policy={}", Value::from(o.cli.approval.as_str())));
        if let Some(model) = &o.cli.model {
            args.push("--model".into());
            args.push(model.clone());
        }
        for c in &o.config_overrides {
            args.push("-c".into());
            args.push(c.clone());
        }
        let launches = harnessgym_activation::launch::launches(&o.harnessgym_bin, &request.workspace, activation);
        args.extend(harnessgym_activation::launch::codex_overrides(&launches));
        args.extend(o.cli.extra_args.iter().cloned());
        if let Some(session) = request.session_id.as_deref().filter(|_| request.phase != crate::Phase::Attempt) {
            args.push("resume".into());
            args.push(session.to_owned());
        }
        args.push("-".into());
        args
    }
}

/// Parses `codex exec --json` JSONL events.
pub fn parse_events(stdout: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut commands = 0;
    let mut mcp_calls = Vec::new();
    let mut stream_error = None;
    for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        match event.get("type").and_then(Value::as_str) {
            Some("thread.started") => {
                parsed.session_id = event.get("thread_id").and_then(Value::as_str).map(str::to_owned);
            }
            Some("item.completed") => {
                let item = event.get("item").cloned().unwrap_or(Value::Null);
                match item.get("type").and_then(Value::as_str) {
                    Some("agent_message") => {
                        parsed.final_message = item.get("text").and_then(Value::as_str).map(str::to_owned);
                    }
                    Some("command_execution") => commands += 1,
                    Some("mcp_tool_call") => {
                        let server = item.get("server").and_then(Value::as_str).unwrap_or("");
                        let tool = item.get("tool").and_then(Value::as_str).unwrap_or("");
                        let status = item.get("status").and_then(Value::as_str).unwrap_or("");
                        mcp_calls.push(format!("mcp__{server}__{tool} ({status})"));
                    }
                    _ => {}
                }
            }
            Some("turn.completed") => {
                let usage = event.get("usage");
                let n = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
                parsed.usage = Some(Usage {
                    input_tokens: n("input_tokens"),
                    cached_input_tokens: n("cached_input_tokens"),
                    output_tokens: n("output_tokens"),
                });
            }
            Some("turn.failed") => {
                let message = event.pointer("/error/message").and_then(Value::as_str).unwrap_or("turn failed");
                parsed.error = Some(format!("Codex turn failed: {message}"));
            }
            Some("error") => {
                let message = event.get("message").and_then(Value::as_str).unwrap_or("error");
                stream_error = Some(format!("Codex error: {message}"));
            }
            _ => {}
        }
    }
    // An `error` event alone (no turn completed) also fails the phase; after a completed turn it
    // was a recovered hiccup.
    if parsed.error.is_none() && parsed.usage.is_none() {
        parsed.error = stream_error;
    }
    parsed.transcript_lines.push(format!("shell_commands: {commands}"));
    if !mcp_calls.is_empty() {
        parsed.transcript_lines.push(format!("mcp_tool_calls: {}", mcp_calls.join(", ")));
    }
    parsed
}

#[async_trait]
impl Runner for ExecRunner {
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        if let Some(short) = missing_session(&request, AGENT) {
            return short;
        }
        let activation: ActivationReport =
            harnessgym_types::json::read_typed(&request.workspace.join(".harnessgym/activation.json"))
                .ok()
                .flatten()
                .unwrap_or_default();
        let invocation = Invocation {
            program: self.options.cli.bin.clone(),
            args: self.args(&request, &activation),
            env: self.options.env.clone(),
            env_remove: self.options.env_remove.clone(),
            prompt_on_stdin: true,
        };
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        let raw = self.launcher.run_cli(&request, &files, &invocation).await;
        let stdout = read_stdout(&files.stdout);
        let mut parsed = parse_events(&stdout);
        parsed.usage = self.phase_usage(parsed.session_id.as_deref(), parsed.usage.take());
        if !raw.cancelled
            && !raw.timed_out
            && let Some(broken) = self.broken_environment(&stdout, &files.stderr, parsed.session_id.as_deref())
        {
            parsed.transcript_lines.push(format!("environment: {broken}"));
            parsed.error.get_or_insert(broken);
        }
        finish(&request, &files, &invocation, raw, parsed, AGENT, INSTALL_HINT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str = r#"{"type":"thread.started","thread_id":"01a20a17-47c4-7553-9843-b51ff426c33e"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'echo hi'","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"mcp_tool_call","server":"probe","tool":"echo","status":"completed"}}
{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"ATTEMPT DONE"}}
{"type":"turn.completed","usage":{"input_tokens":400,"cached_input_tokens":7,"cache_write_input_tokens":0,"output_tokens":40,"reasoning_output_tokens":0}}
"#;

    #[test]
    fn session_message_and_usage_come_from_events() {
        let p = parse_events(EVENTS);
        assert_eq!(p.session_id.as_deref(), Some("01a20a17-47c4-7553-9843-b51ff426c33e"));
        assert_eq!(p.final_message.as_deref(), Some("ATTEMPT DONE"));
        assert_eq!(
            p.usage,
            Some(Usage { input_tokens: Some(400), cached_input_tokens: Some(7), output_tokens: Some(40) })
        );
        assert!(p.error.is_none());
        assert!(p.transcript_lines.iter().any(|l| l.contains("mcp__probe__echo (completed)")));
    }

    #[test]
    fn prose_never_sets_the_session() {
        let p = parse_events("Session ID: abc-123\nsession: the\n");
        assert_eq!(p.session_id, None);
    }

    #[test]
    fn turn_failed_is_an_error() {
        let p = parse_events(
            "{\"type\":\"error\",\"message\":\"boom\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"stream closed\"}}\n",
        );
        assert_eq!(p.error.as_deref(), Some("Codex turn failed: stream closed"));
    }
}
